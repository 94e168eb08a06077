/* dsprites.h — not written yet. */
