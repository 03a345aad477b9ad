/* plot.h — `mmuemu run --mrc` (one-pass miss-rate curves, mmu/mrc.h) and `--plot DIR` (gnuplot
 * drawings of a run): the command-line options, attaching the curve collector and the fault
 * time series to the engine, and what is written when the guest ends (docs/mrc.md).
 *
 * --plot DIR writes, for each drawing, its data (NAME.dat), a gnuplot script (NAME.gp) and the
 * pictures NAME.svg and NAME.png, all in DIR, so that `cd DIR && gnuplot NAME.gp` redraws them:
 *   mrc           DTLB miss rate against TLB entries (log x), one curve per page size, the
 *                 configured size marked (timing model; --plot implies --mrc);
 *   walk_latency  page walks per log2 bucket of walk cycles (timing model);
 *   faults        cumulative page faults and frames in use against instructions.
 */
#ifndef MMUEMU_PLOT_H
#define MMUEMU_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "gnuplot.h"
#include "mrc.h"

enum { RUNPLOT_OPT_MRC, RUNPLOT_OPT_MRC_MAX, RUNPLOT_OPT_MRC_CSV, RUNPLOT_OPT_PLOT, RUNPLOT_OPT_N };
#define RUNPLOT_OPT_BASE 0x7100   /* getopt_long codes RUNPLOT_OPT_BASE + RUNPLOT_OPT_* */
/* Entries of a struct option array (needs <getopt.h>). */
#define RUNPLOT_LONG_OPTIONS                                                                   \
	{ "mrc", no_argument, NULL, RUNPLOT_OPT_BASE + RUNPLOT_OPT_MRC },                      \
	{ "mrc-max", required_argument, NULL, RUNPLOT_OPT_BASE + RUNPLOT_OPT_MRC_MAX },        \
	{ "mrc-csv", required_argument, NULL, RUNPLOT_OPT_BASE + RUNPLOT_OPT_MRC_CSV },        \
	{ "plot", required_argument, NULL, RUNPLOT_OPT_BASE + RUNPLOT_OPT_PLOT }
#define RUNPLOT_RUN_HELP                                                                       \
"Miss-rate curves and plots (docs/mrc.md):\n"                                                  \
"  --mrc                 also report, per page size, the misses a fully associative LRU L1 DTLB\n" \
"                        of every size from 1 to --mrc-max entries would have had on this run's\n" \
"                        DTLB lookups (one pass, Mattson's stack algorithm; invalidations\n"    \
"                        applied as the TLB applies them): equal to separate runs with\n"      \
"                        --set dtlb.4k=N,full --set dtlb.4k.policy=lru (and 2m, 1g alike)\n"   \
"  --mrc-max N           largest TLB size of the curve (default 4096; 1..1048576)\n"           \
"  --mrc-csv FILE        write the whole curve: page_size,entries,misses,miss_rate (implies\n" \
"                        --mrc)\n"                                                              \
"  --plot DIR            draw with gnuplot into DIR (created if needed): the miss-rate curve\n" \
"                        (implies --mrc), the walk-latency histogram and faults over time, as\n" \
"                        SVG and PNG, with their .dat data and .gp scripts\n"                    \
"\n"

struct runplot_cli {
	bool mrc;
	unsigned mrc_max;
	const char *csv;
	const char *plot_dir;
};
#define RUNPLOT_CLI_INIT { false, MRC_DEFAULT_MAX, NULL, NULL }

struct runplot;

/* One option (opt = the getopt_long code). false with a message on a bad value. */
bool runplot_cli_option(struct runplot_cli *c, int opt, const char *arg, char *err, size_t errlen);
/* After parsing: the options make sense together (functional: no timing model; count_insns:
 * instructions are counted), DIR exists or was created and is writable, gnuplot is on PATH.
 * false with a message (a usage error). */
bool runplot_cli_check(struct runplot_cli *c, bool functional, bool count_insns, char *err, size_t errlen);

/* Before engine_init (e zeroed, e->g.km set): starts collecting what the options ask for (the
 * curve observer, so that it sees every lookup from the first; the fault time series). cpu: the
 * timing model's CPU, NULL for the functional model. NULL with nothing to do (*err empty) or on
 * an error (message in err). */
struct runplot *runplot_start(struct engine *e, const struct runplot_cli *c, const struct mmu_config *cpu, char *err,
			      size_t errlen);
/* The curves for the report (NULL when not collected). */
const struct mrc *runplot_mrc(const struct runplot *rp);
/* After the run: the CSV file and the plots. title: shown on the drawings (the program). 0, or
 * -1 with a message. */
int runplot_finish(struct runplot *rp, const struct engine *e, const char *title, char *err, size_t errlen);
void runplot_free(struct runplot *rp);

#endif
