/* adam.h — not written yet. */
