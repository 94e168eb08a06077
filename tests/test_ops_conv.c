/* test_ops_conv.c — not written yet: reports SKIP. */
int main(void) { return 77; }
