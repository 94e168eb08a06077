/* test_ops_binary.c — not written yet: reports SKIP. */
int main(void) { return 77; }
