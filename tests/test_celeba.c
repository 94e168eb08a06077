/* test_celeba.c — not written yet: reports SKIP. */
int main(void) { return 77; }
