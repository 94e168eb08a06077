/* test_idx.c — not written yet: reports SKIP. */
int main(void) { return 77; }
