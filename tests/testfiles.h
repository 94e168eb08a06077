/* testfiles.h — a private temporary folder and whole-file byte I/O for the tests that read and
 * write files (npy/npz, checkpoints).  Failures are CMocka assertion failures. */
#ifndef BH_TEST_TESTFILES_H
#define BH_TEST_TESTFILES_H

#include <jansson.h>
#include <stddef.h>

/* mkdtemp("/tmp/bh_test_<tag>_XXXXXX"); 0 on success (a CMocka group setup can return it). */
int tf_tmpdir_make(const char *tag);
/* Remove the folder and everything below it (run folders included); 0 on success. */
int tf_tmpdir_remove(void);
/* "<folder>/<name>" into out (256 bytes); returns out. */
const char *tf_path(char *out, const char *name);

#define TF_PATH_MAX 512
/* A path from a format into out (TF_PATH_MAX bytes); too long is a failure.  Returns out. */
const char *tf_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

/* The exit status is `want` (else a failure showing stderr and stdout). */
void tf_expect_status(const tf_run_result *r, int want);
/* A failure: exit 1 and stderr exactly one line "bhivae: ..." naming `has` (unless NULL). */
void tf_expect_fail(const tf_run_result *r, const char *has);
/* A usage error: exit 2, the first stderr line "bhivae: ..." naming `has`. */
void tf_expect_usage(const tf_run_result *r, const char *has);

/* ---- JSON files (the run folders' config.json, train.json, eval.json ...) ---- */

/* The file parsed; a failure when it is not JSON.  The caller decrefs. */
json_t *tf_load_json(const char *path);
/* The number under key of object o; a failure when there is none. */
double tf_json_num(const json_t *o, const char *key);
/* A run's log.jsonl without its timings (time_s, images_per_s), as one canonical JSON text
 * (sorted keys, 17 digits): two runs' logs compare with strcmp.  The caller frees it. */
char *tf_log_without_times(const char *path);

#endif
