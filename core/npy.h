/* npy.h — not written yet. */
