/* test_ops_reduce.c — not written yet: reports SKIP. */
int main(void) { return 77; }
