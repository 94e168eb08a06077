/* layers.h — not written yet. */
