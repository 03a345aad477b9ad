/* sweep.h — `mmuemu sweep`: a grid of paging configurations over a list of guest command lines.
 *
 * A sweep is described by an INI spec (docs/sweep.md): [sweep] (name, output directory, options
 * for every run), [guests] (name = PROGRAM ARGS) and [grid] (one axis per key: cpu, set.KEY,
 * kcost.NAME, paging, mem, hugepages, model). Every point of the cartesian product × every guest
 * is one job, and every job is one independent `mmuemu run ... --report-format json --report
 * ROW.json -- PROGRAM ARGS` command line. The sweep runs the jobs whose row file is missing or
 * invalid (so an interrupted sweep resumes), in parallel, and collects every row into
 * OUTPUT/results.csv and OUTPUT/results.json; --plot DIR draws them with gnuplot.
 */
#ifndef MMUEMU_SWEEP_H
#define MMUEMU_SWEEP_H

#include "config.h"

/* `mmuemu sweep [OPTIONS] SPEC`; argv[0] is "sweep". reg holds the CPU presets (a spec's
 * cpu_file is loaded into it). Returns the process exit status: 0 when every row exists,
 * 1 on a runtime failure (a job failed, rows missing with --collect, gnuplot failed),
 * 2 for a bad command line or spec, 128+N when interrupted by signal N. */
int sweep_main(int argc, char **argv, struct config_registry *reg);

#endif
