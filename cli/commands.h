/* commands.h — the commands of `bhivae <command> [options]` and the helpers they share.
 *
 * Adding a command: write `int bh_cmd_NAME(int argc, char **argv)` in cli/cmd_NAME.c (argv[0] is
 * the command's name, as for main) and add one X(...) line to BH_COMMAND_LIST; bhivae.c builds
 * its dispatch table and its --help listing from that list.
 *
 * Exit statuses: 0 success, 1 failure (one line "bhivae: <file or argument>: <problem>" on
 * stderr), 2 usage error (the same one line, then a pointer to --help).
 */
#ifndef BH_CLI_COMMANDS_H
#define BH_CLI_COMMANDS_H

#include <stddef.h>

/* X(name, function, one-line summary) */
#define BH_COMMAND_LIST(X) \
  X("data", bh_cmd_data, "look at a dataset: info (sizes, factors, checksum), grid (PNG)") \
  X("train", bh_cmd_train, "train a model: --model M --data D --seed S --out DIR [--set k=v ...]") \
  X("encode", bh_cmd_encode, "codes (encoder means) and factors/labels of a dataset as .npy") \
  X("eval", bh_cmd_eval, "every metric of a trained model into DIR/eval.json") \
  X("traverse", bh_cmd_traverse, "a PNG grid: each latent (or block) from -3 to 3, others fixed") \
  X("scatter", bh_cmd_scatter, "per-block scatter of codes with the prior's contours (paper Fig. 3): PNG, data, gnuplot") \
  X("attr-traverse", bh_cmd_attr_traverse, "per block, its label's classifier along the re-encoded diagonal traversal (paper Fig. 7)") \
  X("bench", bh_cmd_bench, "one run of a bench-all profile: list, run, check (used by bench-all)") \
  X("report", bh_cmd_report, "Tables 1-2, figures and summary.json from bench-all results") \
  X("compare", bh_cmd_compare, "check a summary.json against a baseline, per-metric tolerances") \
  X("metric", bh_cmd_metric, "a disentanglement metric: zdiff, sap, mig, mig-chen, factorvae, dci, probe")

#define BH_DECLARE_COMMAND(name, fn, summary) int fn(int argc, char **argv);
BH_COMMAND_LIST(BH_DECLARE_COMMAND)
#undef BH_DECLARE_COMMAND

enum { BH_EXIT_OK = 0, BH_EXIT_FAIL = 1, BH_EXIT_USAGE = 2 };

/* ---- options: "--name value", "--name=value" and flags "--name" ---- */

typedef struct bh_cli_opt {
  const char *name;   /* without the dashes */
  const char **value; /* set to the argument (options taking one), else NULL */
  int *flag;          /* set to 1 (flags), else NULL */
} bh_cli_opt;

/* Parse argv[first..argc-1] against opts (terminated by a {NULL} entry).  Positional arguments,
 * unknown options, a missing value or a repeated option are usage errors: the message is printed
 * (naming `cmd`) and BH_EXIT_USAGE returned; BH_EXIT_OK otherwise. */
int bh_cli_parse(const char *cmd, int argc, char **argv, int first, const bh_cli_opt *opts);

/* Print "bhivae: <fmt...>" as one line on stderr and return BH_EXIT_FAIL. */
int bh_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line followed by "Try 'bhivae <cmd> --help'." and BH_EXIT_USAGE. */
int bh_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's last error message (core/error.h) as the one line; BH_EXIT_FAIL. */
int bh_cli_fail_lib(void);

/* Take every "--name value" / "--name=value" of a repeatable option out of argv[first..]
 * (bh_cli_parse refuses repeats): the values, in order, into vals (at most max), everything
 * else, in order and argv[0..first-1] included, into rest (room for argc entries). */
int bh_cli_take_repeated(const char *cmd, const char *name, int argc, char **argv, int first,
                         char **rest, int *nrest, const char **vals, int *nvals, int max);

/* Integer option values: BH_EXIT_OK, or a usage error naming the option. */
int bh_cli_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);
int bh_cli_u64(const char *cmd, const char *opt, const char *text, unsigned long long *out);
/* A number in (0, max]: BH_EXIT_OK, or a usage error naming the option. */
int bh_cli_positive(const char *cmd, const char *opt, const char *text, double max,
                    double *out);

/* Progress of long work on stderr, only when stderr is a terminal: "<what> done/total (p%)",
 * redrawn at most ~10 times a second; bh_cli_progress_end clears the line. */
typedef struct bh_cli_progress {
  const char *what;
  int tty;
  double last;
} bh_cli_progress;
void bh_cli_progress_start(bh_cli_progress *p, const char *what);
void bh_cli_progress_update(size_t done, size_t total, void *p); /* a bh_progress_fn */
void bh_cli_progress_end(bh_cli_progress *p);

#endif
