/* report.c — what a run did: instructions and speed, page faults by kind, memory used, page-table
 * pages per level, syscalls (unknown ones named), kernel-model counters. Text for people, JSON
 * (json-c) for tools; the JSON layout is versioned (REPORT_SCHEMA_VERSION, docs/report-schema.md).
 */
#include <signal.h>
#include <string.h>

#include <json-c/json.h>

#include "report.h"

#define REPORT_SCHEMA_VERSION 1

static const char *level_names[5] = { "pte", "pmd", "pud", "p4d", "pgd" };

/* Page-table level names as Linux calls the tables at each level of this format. */
static const char *level_name(const struct paging_format *f, unsigned level)
{
	if (level == f->levels - 1)
		return "pgd";
	return level_names[level];
}

static double wall(const struct engine *e) { return e->end_time - e->start_time; }

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGABRT: return "SIGABRT";
	case SIGTRAP: return "SIGTRAP";
	default: return "signal";
	}
}

struct stat_ctx {
	FILE *out;
	json_object *obj;
};

static void text_stat(void *ctx, const char *name, const char *desc, uint64_t v)
{
	struct stat_ctx *c = ctx;
	fprintf(c->out, "  %-22s %14llu  %s\n", name, (unsigned long long)v, desc);
}

static void json_stat(void *ctx, const char *name, const char *desc, uint64_t v)
{
	struct stat_ctx *c = ctx;
	(void)desc;
	json_object_object_add(c->obj, name, json_object_new_uint64(v));
}

static int write_text(FILE *out, const struct engine *e, const struct run_info *ri)
{
	const struct guest *g = &e->g;
	struct km *km = g->km;
	const struct paging_format *f = km_format(km);
	double w = wall(e);
	fprintf(out, "==== mmuemu report ====\n");
	fprintf(out, "program        %s (%s)\n", ri->program, g->is64 ? "x86-64" : "i386");
	fprintf(out, "paging         %s, %llu MiB RAM\n", ri->paging, ri->mem_bytes >> 20);
	if (g->fatal_signal)
		fprintf(out, "ended          killed by %s (exit status %d)%s%s\n", sig_name(g->fatal_signal),
			ri->exit_status, g->fatal_reason[0] ? ": " : "", g->fatal_reason);
	else if (e->stopped_at_limit)
		fprintf(out, "ended          stopped at the instruction limit\n");
	else
		fprintf(out, "ended          exit(%d)\n", g->exit_code);
	fprintf(out, "instructions   %llu%s\n", (unsigned long long)e->insns,
		e->opts.count_insns ? "" : " (not counted: --no-icount)");
	fprintf(out, "wall time      %.3f s\n", w);
	fprintf(out, "speed          %.1f MIPS\n", w > 0 ? e->insns / w / 1e6 : 0.0);
	const struct km_stats *st = km_stats(km);
	fprintf(out, "page faults    %llu (user %llu, kernel uaccess %llu, major %llu)\n",
		(unsigned long long)st->pgfault, (unsigned long long)st->pgfault_user,
		(unsigned long long)st->pgfault_kernel, (unsigned long long)st->pgmajfault);
	for (int k = 0; k < KM_FK_COUNT; k++) {
		uint64_t n = km_fault_kind_count(km, k);
		if (n)
			fprintf(out, "  %-12s %12llu\n", km_fault_kind_name(k), (unsigned long long)n);
	}
	fprintf(out, "frames         peak %llu (%.1f MiB), at exit %llu\n",
		(unsigned long long)km_frames_peak(km), km_frames_peak(km) * 4096.0 / (1 << 20),
		(unsigned long long)km_frames_in_use(km));
	fprintf(out, "page tables    peak");
	for (int l = f->levels - 1; l >= 0; l--)
		fprintf(out, " %s %llu", level_name(f, l), (unsigned long long)st->pgtable_pages_peak[l]);
	fprintf(out, "; at exit");
	for (int l = f->levels - 1; l >= 0; l--)
		fprintf(out, " %s %llu", level_name(f, l), (unsigned long long)st->pgtable_pages[l]);
	fprintf(out, "\n");
	fprintf(out, "kernel cycles  %llu (exceptions and memory-manager work)\n",
		(unsigned long long)km_cycles(km));
	fprintf(out, "syscalls       %llu\n", (unsigned long long)g->syscalls_total);
	for (unsigned nr = 0; nr < GUEST_MAX_SYSCALL; nr++) {
		if (!g->syscall_count[nr])
			continue;
		const char *name = guest_syscall_name(g->is64, nr);
		fprintf(out, "  %-18s %10llu%s\n", name ? name : "?", (unsigned long long)g->syscall_count[nr],
			g->unknown_count[nr] ? "  (not implemented: -ENOSYS)" : "");
	}
	bool any_unknown = false;
	for (unsigned nr = 0; nr < GUEST_MAX_SYSCALL; nr++) {
		if (!g->unknown_count[nr])
			continue;
		if (!any_unknown)
			fprintf(out, "unknown syscalls (returned -ENOSYS):");
		any_unknown = true;
		const char *name = guest_syscall_name(g->is64, nr);
		fprintf(out, " %s(%u)x%llu", name ? name : "?", nr, (unsigned long long)g->unknown_count[nr]);
	}
	if (any_unknown)
		fprintf(out, "\n");
	fprintf(out, "kernel model counters:\n");
	struct stat_ctx c = { out, NULL };
	km_stats_foreach(st, text_stat, &c);
	return ferror(out) ? -1 : 0;
}

static int write_json(FILE *out, const struct engine *e, const struct run_info *ri)
{
	const struct guest *g = &e->g;
	struct km *km = g->km;
	const struct paging_format *f = km_format(km);
	const struct km_stats *st = km_stats(km);
	double w = wall(e);
	json_object *root = json_object_new_object();
	json_object_object_add(root, "schema", json_object_new_string("mmuemu-report"));
	json_object_object_add(root, "schema_version", json_object_new_int(REPORT_SCHEMA_VERSION));
	json_object *prog = json_object_new_object();
	json_object_object_add(prog, "path", json_object_new_string(ri->program));
	json_object *args = json_object_new_array();
	for (int i = 0; i < ri->argc; i++)
		json_object_array_add(args, json_object_new_string(ri->argv[i]));
	json_object_object_add(prog, "argv", args);
	json_object_object_add(prog, "arch", json_object_new_string(g->is64 ? "x86_64" : "i386"));
	json_object_object_add(root, "program", prog);
	json_object *mach = json_object_new_object();
	json_object_object_add(mach, "paging", json_object_new_string(ri->paging));
	json_object_object_add(mach, "mem_bytes", json_object_new_uint64(ri->mem_bytes));
	json_object_object_add(root, "machine", mach);

	json_object *end = json_object_new_object();
	json_object_object_add(end, "exit_status", json_object_new_int(ri->exit_status));
	json_object_object_add(end, "exited", json_object_new_boolean(g->exited));
	json_object_object_add(end, "exit_code", json_object_new_int(g->exit_code));
	json_object_object_add(end, "signal", g->fatal_signal ? json_object_new_string(sig_name(g->fatal_signal)) : NULL);
	if (g->fatal_signal) {
		json_object_object_add(end, "fault_addr", json_object_new_uint64(g->fatal_addr));
		json_object_object_add(end, "pc", json_object_new_uint64(g->fatal_pc));
		json_object_object_add(end, "reason", json_object_new_string(g->fatal_reason));
	}
	json_object_object_add(end, "instruction_limit", json_object_new_boolean(e->stopped_at_limit));
	json_object_object_add(root, "end", end);

	json_object *run = json_object_new_object();
	json_object_object_add(run, "instructions", json_object_new_uint64(e->insns));
	json_object_object_add(run, "instructions_counted", json_object_new_boolean(e->opts.count_insns));
	json_object_object_add(run, "wall_seconds", json_object_new_double(w));
	json_object_object_add(run, "mips", json_object_new_double(w > 0 ? e->insns / w / 1e6 : 0.0));
	json_object_object_add(run, "tlb_fills", json_object_new_uint64(e->fills));
	json_object_object_add(run, "kernel_cycles", json_object_new_uint64(km_cycles(km)));
	json_object_object_add(root, "run", run);

	json_object *pf = json_object_new_object();
	json_object_object_add(pf, "total", json_object_new_uint64(st->pgfault));
	json_object_object_add(pf, "user", json_object_new_uint64(st->pgfault_user));
	json_object_object_add(pf, "kernel", json_object_new_uint64(st->pgfault_kernel));
	json_object_object_add(pf, "major", json_object_new_uint64(st->pgmajfault));
	json_object *kinds = json_object_new_object();
	for (int k = 0; k < KM_FK_COUNT; k++)
		json_object_object_add(kinds, km_fault_kind_name(k), json_object_new_uint64(km_fault_kind_count(km, k)));
	json_object_object_add(pf, "by_kind", kinds);
	json_object_object_add(root, "page_faults", pf);

	json_object *mem = json_object_new_object();
	json_object_object_add(mem, "frames_peak", json_object_new_uint64(km_frames_peak(km)));
	json_object_object_add(mem, "frames_at_exit", json_object_new_uint64(km_frames_in_use(km)));
	json_object *ptp = json_object_new_object(), *ptl = json_object_new_object();
	for (int l = f->levels - 1; l >= 0; l--) {
		json_object_object_add(ptp, level_name(f, l), json_object_new_uint64(st->pgtable_pages_peak[l]));
		json_object_object_add(ptl, level_name(f, l), json_object_new_uint64(st->pgtable_pages[l]));
	}
	json_object_object_add(mem, "pgtable_pages_peak", ptp);
	json_object_object_add(mem, "pgtable_pages_at_exit", ptl);
	json_object_object_add(root, "memory", mem);

	json_object *sc = json_object_new_object();
	json_object_object_add(sc, "total", json_object_new_uint64(g->syscalls_total));
	json_object *by = json_object_new_object(), *unk = json_object_new_object();
	for (unsigned nr = 0; nr < GUEST_MAX_SYSCALL; nr++) {
		const char *name = guest_syscall_name(g->is64, nr);
		char buf[32];
		if (!name) {
			snprintf(buf, sizeof(buf), "syscall_%u", nr);
			name = buf;
		}
		if (g->syscall_count[nr])
			json_object_object_add(by, name, json_object_new_uint64(g->syscall_count[nr]));
		if (g->unknown_count[nr])
			json_object_object_add(unk, name, json_object_new_uint64(g->unknown_count[nr]));
	}
	json_object_object_add(sc, "by_name", by);
	json_object_object_add(sc, "unknown", unk);
	json_object_object_add(sc, "efault", json_object_new_uint64(g->efaults));
	json_object_object_add(root, "syscalls", sc);

	json_object *kmo = json_object_new_object();
	struct stat_ctx c = { NULL, kmo };
	km_stats_foreach(st, json_stat, &c);
	json_object_object_add(root, "kernel_model", kmo);

	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	fputs(s, out);
	fputc('\n', out);
	json_object_put(root);
	return ferror(out) ? -1 : 0;
}

int report_write(FILE *out, enum report_format fmt, const struct engine *e, const struct run_info *ri)
{
	return fmt == REPORT_JSON ? write_json(out, e, ri) : write_text(out, e, ri);
}
