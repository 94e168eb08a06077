/* test_dataset.c — not written yet: reports SKIP. */
int main(void) { return 77; }
