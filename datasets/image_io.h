/* image_io.h — not written yet. */
