/* test_ops_grid.c — not written yet: reports SKIP. */
int main(void) { return 77; }
