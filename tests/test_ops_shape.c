/* test_ops_shape.c — not written yet: reports SKIP. */
int main(void) { return 77; }
