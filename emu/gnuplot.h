/* gnuplot.h — small helpers for drawing with gnuplot, shared by `mmuemu run --plot` (plot.c,
 * where they live) and `mmuemu sweep --plot` (sweep.c). */
#ifndef MMUEMU_GNUPLOT_H
#define MMUEMU_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

int plot_mkdirs(const char *path);            /* mkdir -p; 0, or -1 with errno (ENOTDIR...) */
void plot_gp_quote(FILE *f, const char *s);   /* s as a single-quoted gnuplot string */
/* Runs `gnuplot SCRIPT` in dir. 0, or -1 with a message ("gnuplot not found ..." when it is not
 * installed). */
int plot_run_gnuplot(const char *dir, const char *script, char *err, size_t errlen);

#endif
