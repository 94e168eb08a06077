/* bhivae.c — `bhivae <command> [options]`: dispatch to the commands of commands.h, plus the
 * option parser, error lines and progress display they share. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/error.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

#define BH_COMMAND_ENTRY(name, fn, summary) {name, fn, summary},
static const command commands[] = {BH_COMMAND_LIST(BH_COMMAND_ENTRY)};
#undef BH_COMMAND_ENTRY
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *f) {
  fprintf(f,
          "Usage: bhivae <command> [options]\n"
          "       bhivae <command> --help\n"
          "       bhivae --help | --version\n"
          "\n"
          "Blocked and hierarchical VAEs (BHiVAE) and their baselines.\n"
          "\n"
          "Commands:\n");
  int width = 0; /* the names in one column, as wide as the longest */
  for (size_t i = 0; i < NCOMMANDS; i++)
    if ((int)strlen(commands[i].name) > width) width = (int)strlen(commands[i].name);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-*s %s\n", width, commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return BH_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    print_help(stdout);
    return BH_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("bhivae %s\n", PACKAGE_VERSION);
    return BH_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "bhivae: %s: unknown command\nTry 'bhivae --help'.\n", cmd);
  return BH_EXIT_USAGE;
}

/* ---------------------------------------------------------------- messages */

static void vline(const char *fmt, va_list ap) {
  fputs("bhivae: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int bh_cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(fmt, ap);
  va_end(ap);
  return BH_EXIT_FAIL;
}

int bh_cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try 'bhivae %s --help'.\n", cmd);
  return BH_EXIT_USAGE;
}

int bh_cli_fail_lib(void) {
  const char *m = bh_error_message();
  return bh_cli_fail("%s", *m ? m : "failed (no message)");
}

/* ---------------------------------------------------------------- options */

static const bh_cli_opt *find_opt(const bh_cli_opt *opts, const char *name, size_t len) {
  for (const bh_cli_opt *o = opts; o->name; o++)
    if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
  return NULL;
}

int bh_cli_parse(const char *cmd, int argc, char **argv, int first, const bh_cli_opt *opts) {
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
      return bh_cli_usage(cmd, "%s: unexpected argument", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const bh_cli_opt *o = find_opt(opts, name, len);
    if (!o) return bh_cli_usage(cmd, "%.*s: unknown option", (int)(len + 2), a);
    if (o->flag) {
      if (eq) return bh_cli_usage(cmd, "--%s: takes no value", o->name);
      *o->flag = 1;
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return bh_cli_usage(cmd, "--%s: missing value", o->name);
    if (*o->value) return bh_cli_usage(cmd, "--%s: given twice", o->name);
    *o->value = v;
  }
  return BH_EXIT_OK;
}

/* Take every "--name value" / "--name=value" of a repeatable option out of argv[first..]
 * (bh_cli_parse refuses repeats): the values, in order, into vals (at most max), everything
 * else, in order and argv[0..first-1] included, into rest (room for argc entries). */
int bh_cli_take_repeated(const char *cmd, const char *name, int argc, char **argv, int first,
                         char **rest, int *nrest, const char **vals, int *nvals, int max) {
  size_t len = strlen(name);
  int n = 0;
  *nvals = 0;
  for (int i = 0; i < argc; i++) {
    const char *s = argv[i];
    if (i < first || strncmp(s, "--", 2) != 0 || strncmp(s + 2, name, len) != 0 ||
        (s[2 + len] != '\0' && s[2 + len] != '=')) {
      rest[n++] = argv[i];
      continue;
    }
    const char *v = s[2 + len] == '=' ? s + 3 + len : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return bh_cli_usage(cmd, "--%s: missing value", name);
    if (*nvals == max) return bh_cli_usage(cmd, "--%s: given more than %d times", name, max);
    vals[(*nvals)++] = v;
  }
  *nrest = n;
  return BH_EXIT_OK;
}

int bh_cli_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi)
    return bh_cli_usage(cmd, "--%s: expected an integer in %ld..%ld, got '%s'", opt, lo, hi,
                        text);
  *out = v;
  return BH_EXIT_OK;
}

int bh_cli_u64(const char *cmd, const char *opt, const char *text, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-')
    return bh_cli_usage(cmd, "--%s: expected a non-negative integer, got '%s'", opt, text);
  *out = v;
  return BH_EXIT_OK;
}

int bh_cli_positive(const char *cmd, const char *opt, const char *text, double max,
                    double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !isfinite(v) || v <= 0 || v > max)
    return bh_cli_usage(cmd, "--%s: expected a number in (0, %g], got '%s'", opt, max, text);
  *out = v;
  return BH_EXIT_OK;
}

/* ---------------------------------------------------------------- progress */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bh_cli_progress_start(bh_cli_progress *p, const char *what) {
  p->what = what;
  p->tty = isatty(STDERR_FILENO);
  p->last = 0.0;
}

void bh_cli_progress_update(size_t done, size_t total, void *user) {
  bh_cli_progress *p = user;
  if (!p->tty) return;
  double t = now();
  if (done < total && t - p->last < 0.1) return;
  p->last = t;
  fprintf(stderr, "\r%s %zu/%zu (%d%%)", p->what, done, total,
          total ? (int)(100.0 * (double)done / (double)total) : 100);
  fflush(stderr);
}

void bh_cli_progress_end(bh_cli_progress *p) {
  if (p->tty && p->last > 0.0) fputs("\r\033[K", stderr);
}
