/* testfiles.c — see testfiles.h. */
#include "tests/testfiles.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
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

/* nftw callback: children before their folder (FTW_DEPTH), links not followed (FTW_PHYS). */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int tf_tmpdir_remove(void) {
  return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

const char *tf_path(char *out, const char *name) {
  snprintf(out, 256, "%s/%s", tmpdir, name);
  return out;
}

const char *tf_pathf(char *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, TF_PATH_MAX, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= TF_PATH_MAX) fail_msg("path too long: %s", out);
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

void tf_expect_status(const tf_run_result *r, int want) {
  if (r->status != want) fail_msg("exit %d (want %d): %s%s", r->status, want, r->err, r->out);
}

void tf_expect_fail(const tf_run_result *r, const char *has) {
  size_t len = strlen(r->err);
  tf_expect_status(r, 1);
  if (strncmp(r->err, "bhivae: ", 8) != 0 || len == 0 || strchr(r->err, '\n') != r->err + len - 1)
    fail_msg("stderr is not one line \"bhivae: ...\": \"%s\"", r->err);
  if (has && !strstr(r->err, has)) fail_msg("stderr \"%s\" does not name \"%s\"", r->err, has);
}

void tf_expect_usage(const tf_run_result *r, const char *has) {
  tf_expect_status(r, 2);
  const char *nl = strchr(r->err, '\n');
  if (strncmp(r->err, "bhivae: ", 8) != 0 || !nl || !strstr(r->err, has) ||
      strstr(r->err, has) > nl)
    fail_msg("first stderr line does not name \"%s\": \"%s\"", has, r->err);
}

json_t *tf_load_json(const char *path) {
  json_error_t je;
  json_t *o = json_load_file(path, 0, &je);
  if (!o) fail_msg("%s: bad JSON (%s)", path, je.text);
  return o;
}

double tf_json_num(const json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_number(v)) fail_msg("no number \"%s\"", key);
  return json_number_value(v);
}

char *tf_log_without_times(const char *path) {
  size_t len;
  char *text = (char *)tf_read_bytes(path, &len), *save = NULL;
  text[len] = '\0';
  json_t *all = json_array();
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    json_t *o = json_loads(l, 0, NULL);
    if (!o) fail_msg("%s: bad line \"%s\"", path, l);
    json_object_del(o, "time_s");
    json_object_del(o, "images_per_s");
    json_array_append_new(all, o);
  }
  free(text);
  char *s = json_dumps(all, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(all);
  return s;
}
