/* fastmath.h — not written yet. */
