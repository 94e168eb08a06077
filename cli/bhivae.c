/* bhivae — not written yet. */
#include <stdio.h>
int main(void) { fprintf(stderr, "bhivae: not built yet\n"); return 1; }
