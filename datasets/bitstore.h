/* bitstore.h — not written yet. */
