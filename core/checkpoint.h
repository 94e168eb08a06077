/* checkpoint.h — not written yet. */
