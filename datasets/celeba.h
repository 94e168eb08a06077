/* celeba.h — not written yet. */
