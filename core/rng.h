/* rng.h — not written yet. */
