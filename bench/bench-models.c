int main(void) { return 0; } /* bench-models: being written */
