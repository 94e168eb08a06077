/* threads.h — not written yet. */
