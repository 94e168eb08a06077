/* error.h — the one error convention of bhivae.
 *
 * Functions that can fail return an int status (BH_OK == 0) or a NULL pointer, and leave a
 * one-line message in a thread-local buffer.  Tensor ops propagate failure: an op given a NULL
 * input returns NULL without touching the message, so a whole forward pass can be checked once
 * at the end.  Libraries never call exit(); the CLI prints bh_error_message() and exits non-zero.
 */
#ifndef BH_ERROR_H
#define BH_ERROR_H

enum {
  BH_OK = 0,
  BH_EINVAL = 1,  /* bad argument (shape mismatch, out-of-range value) */
  BH_ENOMEM = 2,  /* allocation failed */
  BH_EIO = 3,     /* read/write/open failed */
  BH_EFORMAT = 4, /* a file is malformed, truncated or corrupted */
  BH_ENUM = 5     /* NaN or Inf where a finite number was required */
};

/* Record an error (printf-style) and return `code`, so callers can `return bh_error(...)`. */
int bh_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Last message of this thread ("" when none). */
const char *bh_error_message(void);
/* Last code of this thread (BH_OK when none). */
int bh_error_code(void);
void bh_error_clear(void);

#endif
