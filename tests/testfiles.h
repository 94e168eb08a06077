/* testfiles.h — a private temporary folder and whole-file byte I/O for the tests that read and
 * write files (npy/npz, checkpoints).  Failures are CMocka assertion failures. */
#ifndef BH_TEST_TESTFILES_H
#define BH_TEST_TESTFILES_H

#include <stddef.h>

/* mkdtemp("/tmp/bh_test_<tag>_XXXXXX"); 0 on success (a CMocka group setup can return it). */
int tf_tmpdir_make(const char *tag);
/* Remove the folder and the files in it; 0 on success. */
int tf_tmpdir_remove(void);
/* "<folder>/<name>" into out (256 bytes); returns out. */
const char *tf_path(char *out, const char *name);
void tf_write_bytes(const char *path, const void *p, size_t n);
/* The whole file, malloc'ed (one spare byte), its size in *n. */
unsigned char *tf_read_bytes(const char *path, size_t *n);
int tf_file_exists(const char *path);

/* ---- running the built `bhivae` binary ---- */

/* $BHIVAE, else ./bhivae (make check runs in the build folder), else ../bhivae (from tests/). */
const char *tf_bhivae_path(void);

typedef struct tf_run_result {
  int status; /* exit status */
  char out[16384];
  char err[4096];
} tf_run_result;

/* Run `bhivae <args>` (printf-style; paths in the temporary folder need no quoting), stdin
 * from /dev/null, capturing stdout, stderr (via files in the temporary folder) and the exit
 * status. */
void tf_run_bhivae(tf_run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
