/* test_dsprites.c — not written yet: reports SKIP. */
int main(void) { return 77; }
