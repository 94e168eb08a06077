/* cmd_report.c — `bhivae report`: the tables, figures, summary.json and index.md of a bench-all
 * profile from its results/<run>.json (the work is in reports/report.c). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "reports/report.h"

#define CMD "report"

static const char usage_text[] =
    "Usage: bhivae report --results DIR --out DIR [--runs DIR] [--profile P] [--no-gnuplot]\n"
    "\n"
    "Reads every DIR/<run>.json result of bench-all (schema bhivae-result/1; a file that is\n"
    "not valid, complete and consistent is skipped with a warning) and writes into --out:\n"
    "  table1.md, table1.tex   Table 1 (dSprites: Z-diff, SAP, MIG), ours as mean ± std over\n"
    "                          seeds beside the paper's, each metric's variant in a note;\n"
    "                          Table 1b: our other metrics\n"
    "  table2.md, table2.tex   Table 2 (probe accuracy %, d = 10, 16, 32), ours beside the\n"
    "                          paper's\n"
    "  fig8.md                 Fig. 8: block (k=2) vs single (k=1) probe accuracy per d\n"
    "  figures/                gnuplot data and scripts (.dat, .gp): table1-bars, table2-bars,\n"
    "                          fig8, training-t1/t2/f8 (loss and recon per step from\n"
    "                          RUNS/<run>/log.jsonl); PNGs of them when gnuplot is on PATH;\n"
    "                          fig3-scatter.* (the t1 bhivae run's scatter), traverse-<run>.png\n"
    "                          (the lowest seed of each model, d and variant)\n"
    "  summary.json            per-run scores and per-cell mean/std/n (the input of compare)\n"
    "  index.md                the profile, budget, date, versions, tables and figures\n"
    "Every file is written through FILE.tmp and a rename.\n"
    "\n"
    "Options:\n"
    "  --runs DIR      the run folders (default: RESULTS/../runs)\n"
    "  --profile P     only results of profile P (needed when DIR holds several)\n"
    "  --no-gnuplot    do not run gnuplot even when it is installed\n";

int bh_cmd_report(int argc, char **argv) {
  const char *results = NULL, *out = NULL, *runs = NULL, *profile = NULL;
  int help = 0, no_gnuplot = 0;
  const bh_cli_opt opts[] = {{"results", &results, NULL}, {"out", &out, NULL},
                             {"runs", &runs, NULL},       {"profile", &profile, NULL},
                             {"no-gnuplot", NULL, &no_gnuplot},
                             {"help", NULL, &help},       {NULL, NULL, NULL}};
  int st = bh_cli_parse(CMD, argc, argv, 1, opts);
  if (st) return st;
  if (help) {
    fputs(usage_text, stdout);
    return BH_EXIT_OK;
  }
  if (!results) return bh_cli_usage(CMD, "--results: missing (the folder of <run>.json)");
  if (!out) return bh_cli_usage(CMD, "--out: missing (the report's folder)");
  if (profile && !*profile) return bh_cli_usage(CMD, "--profile: empty");
  bh_report_opts o = {results, runs, out, profile, !no_gnuplot, NULL};
  bh_error_clear();
  if (bh_report_make(&o) != BH_OK) return bh_cli_fail_lib();
  printf("report: %s/index.md\n", out);
  return BH_EXIT_OK;
}
