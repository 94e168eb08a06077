/* gnuplot.c — finding gnuplot on PATH (see gnuplot.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reports/gnuplot.h"

int bh_gnuplot_available(void) {
  const char *p = getenv("PATH");
  char b[4096];
  while (p && *p) {
    size_t len = strcspn(p, ":");
    if (len && snprintf(b, sizeof b, "%.*s/gnuplot", (int)len, p) < (int)sizeof b &&
        access(b, X_OK) == 0)
      return 1;
    p += len + (p[len] == ':');
  }
  return 0;
}
