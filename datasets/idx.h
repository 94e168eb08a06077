/* idx.h — not written yet. */
