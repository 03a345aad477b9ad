/* report.h — the end-of-run report, as text or JSON (schema: docs/report-schema.md). */
#ifndef MMUEMU_REPORT_H
#define MMUEMU_REPORT_H

#include <stdio.h>

#include "engine.h"
#include "mrc.h"

enum report_format { REPORT_TEXT, REPORT_JSON };

struct run_info {
	const char *program;       /* path as given */
	int argc;
	char **argv;
	const char *paging;        /* paging mode name */
	unsigned long long mem_bytes;
	int exit_status;
	const struct mrc *mrc;     /* one-pass miss-rate curves (--mrc), or NULL */
};

/* Writes the report for a finished run. 0, or -1 if writing failed. */
int report_write(FILE *out, enum report_format fmt, const struct engine *e, const struct run_info *ri);

#endif
