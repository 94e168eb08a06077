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

#endif
