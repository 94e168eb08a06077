/* error.c — thread-local last-error message (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char error_message[512];
static _Thread_local int error_code;

int bh_error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error_message, sizeof error_message, fmt, ap);
  va_end(ap);
  error_code = code;
  return code;
}

const char *bh_error_message(void) { return error_message; }
int bh_error_code(void) { return error_code; }

void bh_error_clear(void) {
  error_message[0] = '\0';
  error_code = BH_OK;
}
