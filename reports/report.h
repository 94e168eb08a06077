/* report.h — `bhivae report`: the paper's Tables 1–2 and Fig. 8, the figures' gnuplot data and
 * scripts, the traversal and scatter pictures, summary.json and an index page, from the
 * results/<run>.json files bench-all writes (schema "bhivae-result/1", doc in reports/profiles.h
 * and the issue-8 design).
 *
 * A result file is never trusted: one that does not parse, is incomplete, names another run than
 * its file name, or holds a metric without a finite score is skipped with one warning line
 * "bhivae: warning: FILE: why" on stderr.  Every output goes through FILE.tmp and a rename. */
#ifndef BH_REPORTS_REPORT_H
#define BH_REPORTS_REPORT_H

typedef struct bh_report_opts {
  const char *results; /* folder of <run>.json */
  const char *runs;    /* folder of the run folders (NULL: RESULTS/../runs) */
  const char *out;     /* created when missing */
  const char *profile; /* only results of this profile (NULL: the one profile they hold) */
  int gnuplot;         /* run the .gp scripts when gnuplot is on PATH */
  const char *bench_step; /* `bench-step --json` output (NULL: RESULTS/../bench-step.json, used
                           * when present): its figures go into the summary's throughput */
} bh_report_opts;

/* Make the report.  BH_OK, or an error code with a one-line message (core/error.h): no valid
 * result, results of several profiles without opts->profile, an unwritable output folder. */
int bh_report_make(const bh_report_opts *opts);

/* The paper's published figures (bhivae-spec.md §4), by model name ("vae", "betavae",
 * "factorvae", "btcvae", "guidedvae", "bhivae"): Table 1's metric "zdiff", "sap" or "mig"
 * (as printed, e.g. "0.4320"), Table 2's probe accuracy at d = 10, 16, 32 (as printed,
 * "97.21 ± 0.42").  NULL for anything else. */
const char *bh_report_paper_t1(const char *model, const char *metric);
const char *bh_report_paper_t2(const char *model, int d);

#endif
