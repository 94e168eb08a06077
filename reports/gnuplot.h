/* gnuplot.h — whether gnuplot can draw the figures here.  The report and the picture commands
 * (scatter, attr-traverse) always write the .dat data and .gp scripts; they run gnuplot on them
 * only when it is installed (tools/install-deps.sh installs gnuplot-nox). */
#ifndef BH_REPORTS_GNUPLOT_H
#define BH_REPORTS_GNUPLOT_H

/* 1 when an executable "gnuplot" is on PATH, else 0. */
int bh_gnuplot_available(void);

#endif
