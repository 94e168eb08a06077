/* test_ops_unary.c — not written yet: reports SKIP. */
int main(void) { return 77; }
