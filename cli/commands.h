/* commands.h — not written yet. */
