/* fuzz_util.h — helpers shared by the libFuzzer targets of fuzz/ (see fuzz/README.md). */
#ifndef BH_FUZZ_UTIL_H
#define BH_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Write n bytes to <private tmp folder>/name and return its path (valid until the next call
 * with the same name).  The folder is made in $BH_FUZZ_TMP, else in /dev/shm when it can (no
 * disk I/O per input), else /tmp, and removed at exit.  Harness failures (not the code under
 * test) abort. */
const char *fz_file(const char *name, const void *data, size_t n);

/* The private folder itself (created on first use). */
const char *fz_dir(void);

/* Little-endian 32-bit read of up to 4 bytes (missing bytes read as 0). */
uint32_t fz_le32(const uint8_t *p, size_t avail);

#endif
