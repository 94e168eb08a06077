/* npz.h — not written yet. */
