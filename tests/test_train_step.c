/* test_train_step.c — not written yet: reports SKIP. */
int main(void) { return 77; }
