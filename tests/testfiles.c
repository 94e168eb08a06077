/* testfiles.c — see testfiles.h. */
#include "tests/testfiles.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];

int tf_tmpdir_make(const char *tag) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/bh_test_%s_XXXXXX", tag);
  return mkdtemp(tmpdir) ? 0 : -1;
}

int tf_tmpdir_remove(void) {
  DIR *d = opendir(tmpdir);
  if (!d) return -1;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  closedir(d);
  return rmdir(tmpdir);
}

const char *tf_path(char *out, const char *name) {
  snprintf(out, 256, "%s/%s", tmpdir, name);
  return out;
}

void tf_write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

unsigned char *tf_read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

int tf_file_exists(const char *path) { return access(path, F_OK) == 0; }

const char *tf_bhivae_path(void) {
  const char *e = getenv("BHIVAE");
  if (e && *e) return e;
  if (access("./bhivae", X_OK) == 0) return "./bhivae";
  return "../bhivae";
}

static void slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

void tf_run_bhivae(tf_run_result *r, const char *fmt, ...) {
  char args[2048], cmd[3072], o[256], e[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  tf_path(o, "stdout.txt");
  tf_path(e, "stderr.txt");
  snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s' </dev/null", tf_bhivae_path(), args, o, e);
  int st = system(cmd);
  assert_true(st != -1 && WIFEXITED(st));
  r->status = WEXITSTATUS(st);
  slurp(o, r->out, sizeof r->out);
  slurp(e, r->err, sizeof r->err);
}
