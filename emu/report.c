/* report.c — what a run did: instructions and speed, page faults by kind, memory used, page-table
 * pages per level, syscalls (unknown ones named), kernel-model counters. Text for people, JSON
 * (json-c) for tools; the JSON layout is versioned (REPORT_SCHEMA_VERSION, docs/report-schema.md).
 */
#include <signal.h>
#include <string.h>

#include <json-c/json.h>

#include "report.h"

/* Pages handed out by the buddy allocator from a zone (Linux's pgalloc_<zone> vmstat). */
static uint64_t zone_pages_allocated(const struct zone *zn)
{
	uint64_t n = 0;
	for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
		n += (uint64_t)zn->stats.alloc[o] << o;
	return n;
}

static void add_cost(void *ctx, const char *name, uint64_t v)
{
	json_object_object_add((json_object *)ctx, name, json_object_new_uint64(v));
}

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

static const char *const size_names[TLB_NSIZES] = { "4K", "2M", "1G" };
static const char *const acc_names[3] = { "read", "write", "fetch" };

/* Total modelled cycles: instructions × base CPI + translation (TLB beyond L1, walks, Dirty
 * assists) + kernel (#PF entry/exit and memory-manager work). */
struct cycle_totals {
	double base, translation, kernel, total;
};

static struct cycle_totals cycles_of(const struct engine *e)
{
	struct cycle_totals c = { 0, 0, 0, 0 };
	if (!e->timing)
		return c;
	const struct mmu_config *cfg = mmu_timing_config(e->timing);
	c.base = (double)e->insns * cfg->base_cpi;
	c.translation = (double)mmu_timing_stats(e->timing)->translation_cycles;
	c.kernel = (double)km_cycles(e->g.km);
	c.total = c.base + c.translation + c.kernel;
	return c;
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static void text_timing(FILE *out, const struct engine *e)
{
	const struct mmu_timing_stats *st = mmu_timing_stats(e->timing);
	const struct mmu_config *cfg = mmu_timing_config(e->timing);
	struct cycle_totals c = cycles_of(e);
	fprintf(out, "cpu            %s (%s)\n", cfg->name, cfg->source);
	fprintf(out, "cycles         %.0f total = %.0f base (CPI %.2f) + %.0f translation + %.0f kernel\n",
		c.total, c.base, cfg->base_cpi, c.translation, c.kernel);
	fprintf(out, "translation    %.2f%% of all cycles (TLB beyond L1, walks, Dirty assists); with page faults %.2f%%\n",
		c.total > 0 ? 100.0 * c.translation / c.total : 0.0,
		c.total > 0 ? 100.0 * (c.translation + c.kernel) / c.total : 0.0);
	for (int l = 0; l < MMU_NLEVELS; l++) {
		const struct tlb_level_stats *ls = &st->level[l];
		uint64_t acc = ls->accesses[0] + ls->accesses[1] + ls->accesses[2];
		uint64_t miss = ls->misses[0] + ls->misses[1] + ls->misses[2];
		if (!acc)
			continue;
		fprintf(out, "%-5s          %llu accesses, %llu misses (%.3f%%)", mmu_level_name(l),
			(unsigned long long)acc, (unsigned long long)miss, 100.0 * ratio(miss, acc));
		for (int a = 0; a < 3; a++)
			if (ls->accesses[a])
				fprintf(out, "; %s %.3f%%", acc_names[a], 100.0 * ratio(ls->misses[a], ls->accesses[a]));
		fprintf(out, "\n");
		fprintf(out, "               hits by size:");
		for (int s = 0; s < TLB_NSIZES; s++)
			fprintf(out, " %s %llu", size_names[s], (unsigned long long)ls->hits_by_size[s]);
		fprintf(out, "; misses by size:");
		for (int s = 0; s < TLB_NSIZES; s++)
			fprintf(out, " %s %llu", size_names[s], (unsigned long long)ls->misses_by_size[s]);
		fprintf(out, "\n");
	}
	fprintf(out, "page walks     %llu, mean %.1f cycles, %.2f memory references per walk, %llu faulted\n",
		(unsigned long long)st->walks, ratio(st->walk_cycles, st->walks), ratio(st->walk_reads, st->walks),
		(unsigned long long)st->walk_faults);
	fprintf(out, "walk caches   ");
	static const char *pwc_names[MMU_PWC_LEVELS] = { "", "PDE", "PDPTE", "PML4E", "PML5E" };
	for (int p = 1; p < MMU_PWC_LEVELS; p++)
		if (st->pwc_lookups[p])
			fprintf(out, " %s %.2f%% of %llu", pwc_names[p], 100.0 * ratio(st->pwc_hits[p], st->pwc_lookups[p]),
				(unsigned long long)st->pwc_lookups[p]);
	fprintf(out, "\n");
	fprintf(out, "A/D updates    accessed %llu, dirty %llu, dirty assists %llu\n",
		(unsigned long long)st->accessed_set, (unsigned long long)st->dirty_set,
		(unsigned long long)st->dirty_assists);
	fprintf(out, "TLB flushes   ");
	for (int k = 0; k < FLUSH_NKINDS; k++)
		fprintf(out, " %s %llu (%llu entries)", mmu_flush_kind_name(k), (unsigned long long)st->flushes[k],
			(unsigned long long)st->flushed_entries[k]);
	fprintf(out, "\n");
	if (e->zero_aliases)
		fprintf(out, "zero-page aliases beyond the window: %llu\n", (unsigned long long)e->zero_aliases);
}

static json_object *json_timing(const struct engine *e)
{
	const struct mmu_timing_stats *st = mmu_timing_stats(e->timing);
	const struct mmu_config *cfg = mmu_timing_config(e->timing);
	struct cycle_totals c = cycles_of(e);
	json_object *t = json_object_new_object();
	json_object_object_add(t, "cpu", json_object_new_string(cfg->name));
	json_object *cy = json_object_new_object();
	json_object_object_add(cy, "total", json_object_new_double(c.total));
	json_object_object_add(cy, "base", json_object_new_double(c.base));
	json_object_object_add(cy, "base_cpi", json_object_new_double(cfg->base_cpi));
	json_object_object_add(cy, "translation", json_object_new_double(c.translation));
	json_object_object_add(cy, "kernel", json_object_new_double(c.kernel));
	json_object_object_add(cy, "translation_share", json_object_new_double(c.total > 0 ? c.translation / c.total : 0));
	json_object_object_add(cy, "translation_and_fault_share",
			       json_object_new_double(c.total > 0 ? (c.translation + c.kernel) / c.total : 0));
	json_object_object_add(cy, "stlb_hit", json_object_new_uint64(st->stlb_cycles));
	json_object_object_add(cy, "walks", json_object_new_uint64(st->walk_cycles));
	json_object_object_add(cy, "dirty_assists", json_object_new_uint64(st->assist_cycles));
	json_object_object_add(t, "cycles", cy);
	json_object *tl = json_object_new_object();
	for (int l = 0; l < MMU_NLEVELS; l++) {
		const struct tlb_level_stats *ls = &st->level[l];
		json_object *lo = json_object_new_object();
		uint64_t acc = ls->accesses[0] + ls->accesses[1] + ls->accesses[2];
		uint64_t miss = ls->misses[0] + ls->misses[1] + ls->misses[2];
		json_object_object_add(lo, "accesses", json_object_new_uint64(acc));
		json_object_object_add(lo, "hits", json_object_new_uint64(acc - miss));
		json_object_object_add(lo, "misses", json_object_new_uint64(miss));
		json_object_object_add(lo, "miss_rate", json_object_new_double(ratio(miss, acc)));
		json_object *bya = json_object_new_object();
		for (int a = 0; a < 3; a++) {
			json_object *ao = json_object_new_object();
			json_object_object_add(ao, "accesses", json_object_new_uint64(ls->accesses[a]));
			json_object_object_add(ao, "misses", json_object_new_uint64(ls->misses[a]));
			json_object_object_add(ao, "miss_rate", json_object_new_double(ratio(ls->misses[a], ls->accesses[a])));
			json_object_object_add(bya, acc_names[a], ao);
		}
		json_object_object_add(lo, "by_access", bya);
		json_object *bys = json_object_new_object();
		for (int s = 0; s < TLB_NSIZES; s++) {
			json_object *so = json_object_new_object();
			json_object_object_add(so, "hits", json_object_new_uint64(ls->hits_by_size[s]));
			json_object_object_add(so, "misses", json_object_new_uint64(ls->misses_by_size[s]));
			json_object_object_add(bys, size_names[s], so);
		}
		json_object_object_add(lo, "by_page_size", bys);
		json_object_object_add(tl, mmu_level_name(l), lo);
	}
	json_object_object_add(t, "tlb", tl);
	json_object *w = json_object_new_object();
	json_object_object_add(w, "count", json_object_new_uint64(st->walks));
	json_object_object_add(w, "cycles", json_object_new_uint64(st->walk_cycles));
	json_object_object_add(w, "mean_cycles", json_object_new_double(ratio(st->walk_cycles, st->walks)));
	json_object_object_add(w, "memory_refs", json_object_new_uint64(st->walk_reads));
	json_object_object_add(w, "refs_per_walk", json_object_new_double(ratio(st->walk_reads, st->walks)));
	json_object_object_add(w, "faulted", json_object_new_uint64(st->walk_faults));
	json_object *hist = json_object_new_array();
	for (int i = 0; i < 16; i++)
		json_object_array_add(hist, json_object_new_uint64(st->walk_hist[i]));
	json_object_object_add(w, "cycles_log2_histogram", hist);
	json_object *pc = json_object_new_array();
	for (int i = 0; i < 4; i++)
		json_object_array_add(pc, json_object_new_uint64(st->pt_cache_hits[i]));
	json_object_object_add(w, "pt_reads_served_by_l1_l2_llc_dram", pc);
	json_object_object_add(t, "walks", w);
	json_object *pw = json_object_new_object();
	static const char *pwc_names[MMU_PWC_LEVELS] = { "", "pde", "pdpte", "pml4e", "pml5e" };
	for (int p = 1; p < MMU_PWC_LEVELS; p++) {
		json_object *po = json_object_new_object();
		json_object_object_add(po, "lookups", json_object_new_uint64(st->pwc_lookups[p]));
		json_object_object_add(po, "hits", json_object_new_uint64(st->pwc_hits[p]));
		json_object_object_add(po, "hit_rate", json_object_new_double(ratio(st->pwc_hits[p], st->pwc_lookups[p])));
		json_object_object_add(pw, pwc_names[p], po);
	}
	json_object_object_add(t, "walk_caches", pw);
	json_object *ad = json_object_new_object();
	json_object_object_add(ad, "accessed_set", json_object_new_uint64(st->accessed_set));
	json_object_object_add(ad, "dirty_set", json_object_new_uint64(st->dirty_set));
	json_object_object_add(ad, "dirty_assists", json_object_new_uint64(st->dirty_assists));
	json_object_object_add(t, "ad_updates", ad);
	json_object *fl = json_object_new_object();
	for (int k = 0; k < FLUSH_NKINDS; k++) {
		json_object *fo = json_object_new_object();
		json_object_object_add(fo, "count", json_object_new_uint64(st->flushes[k]));
		json_object_object_add(fo, "entries", json_object_new_uint64(st->flushed_entries[k]));
		json_object_object_add(fl, mmu_flush_kind_name(k), fo);
	}
	json_object_object_add(t, "flushes", fl);
	json_object_object_add(t, "zero_page_aliases", json_object_new_uint64(e->zero_aliases));
	return t;
}

#define MRC_REPORT_POINTS 48

/* The miss-rate curves (--mrc, docs/mrc.md) at powers of two, the configured size and the max. */
static void text_mrc(FILE *out, const struct mrc *m)
{
	fprintf(out, "miss-rate curve %s lookups, fully associative LRU of 1..%u entries per page size (docs/mrc.md)\n",
		mmu_level_name((enum mmu_level_id)mrc_level(m)), mrc_max(m));
	for (int s = 0; s < TLB_NSIZES; s++) {
		uint64_t refs = mrc_refs(m, (enum tlb_size)s);
		if (!refs)
			continue;
		unsigned pts[MRC_REPORT_POINTS], conf = mrc_configured(m, (enum tlb_size)s);
		unsigned n = mrc_report_sizes(m, (enum tlb_size)s, pts, MRC_REPORT_POINTS);
		fprintf(out, "  %s pages: %llu lookups, %llu cold (miss at every size)\n", size_names[s],
			(unsigned long long)refs, (unsigned long long)mrc_cold(m, (enum tlb_size)s));
		for (unsigned i = 0; i < n; i++) {
			uint64_t miss = mrc_misses(m, (enum tlb_size)s, pts[i]);
			fprintf(out, "    %7u entries %14llu misses %9.4f%%%s\n", pts[i], (unsigned long long)miss,
				100.0 * ratio(miss, refs), pts[i] == conf ? "  (configured size)" : "");
		}
	}
}

static json_object *json_mrc(const struct mrc *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "level", json_object_new_string(mmu_level_name((enum mmu_level_id)mrc_level(m))));
	json_object_object_add(o, "max_entries", json_object_new_uint64(mrc_max(m)));
	json_object *bys = json_object_new_object();
	for (int s = 0; s < TLB_NSIZES; s++) {
		uint64_t refs = mrc_refs(m, (enum tlb_size)s);
		if (!refs)
			continue;
		json_object *so = json_object_new_object();
		json_object_object_add(so, "lookups", json_object_new_uint64(refs));
		json_object_object_add(so, "cold_misses", json_object_new_uint64(mrc_cold(m, (enum tlb_size)s)));
		json_object_object_add(so, "configured_entries",
				       json_object_new_uint64(mrc_configured(m, (enum tlb_size)s)));
		unsigned pts[MRC_REPORT_POINTS];
		unsigned n = mrc_report_sizes(m, (enum tlb_size)s, pts, MRC_REPORT_POINTS);
		json_object *arr = json_object_new_array();
		for (unsigned i = 0; i < n; i++) {
			uint64_t miss = mrc_misses(m, (enum tlb_size)s, pts[i]);
			json_object *po = json_object_new_object();
			json_object_object_add(po, "entries", json_object_new_uint64(pts[i]));
			json_object_object_add(po, "misses", json_object_new_uint64(miss));
			json_object_object_add(po, "miss_rate", json_object_new_double(ratio(miss, refs)));
			json_object_array_add(arr, po);
		}
		json_object_object_add(so, "points", arr);
		json_object_object_add(bys, size_names[s], so);
	}
	json_object_object_add(o, "by_page_size", bys);
	return o;
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
	struct pglist_data *pgdat = km_pgdat(km);
	fprintf(out, "zones         ");
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zn = &pgdat->node_zones[z];
		if (!populated_zone(zn))
			continue;
		fprintf(out, " %s %llu MiB (allocated %llu pages, free %lu, pcp %d, watermark refusals %lu)",
			zn->name, (unsigned long long)(zn->present_pages >> 8),
			(unsigned long long)zone_pages_allocated(zn), zone_page_state(zn, NR_FREE_PAGES),
			zn->pcp.count, zn->stats.wmark_refusals);
	}
	fprintf(out, "\n");
	fprintf(out, "kernel cycles  %llu (exceptions and memory-manager work)\n",
		(unsigned long long)km_cycles(km));
	if (e->timing)
		text_timing(out, e);
	if (e->timing && ri->mrc)
		text_mrc(out, ri->mrc);
	if (!e->timing)
		fprintf(out, "timing model   off (--model functional)\n");
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
	json_object_object_add(run, "rmw_read_faults", json_object_new_uint64(e->rmw_faults));
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
	json_object *zones = json_object_new_array();
	struct pglist_data *pgdat = km_pgdat(km);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zn = &pgdat->node_zones[z];
		if (!zone_configured(pgdat, (enum zone_type)z))
			continue;
		json_object *zo = json_object_new_object();
		json_object_object_add(zo, "name", json_object_new_string(zn->name));
		json_object_object_add(zo, "start_pfn", json_object_new_uint64(zn->zone_start_pfn));
		json_object_object_add(zo, "present_pages", json_object_new_uint64(zn->present_pages));
		json_object_object_add(zo, "managed_pages", json_object_new_uint64(zn->managed_pages));
		json_object_object_add(zo, "free_pages", json_object_new_uint64(zone_page_state(zn, NR_FREE_PAGES)));
		json_object_object_add(zo, "allocated_pages", json_object_new_uint64(zone_pages_allocated(zn)));
		json_object_object_add(zo, "watermark_min", json_object_new_uint64(zn->_watermark[WMARK_MIN]));
		json_object_object_add(zo, "watermark_low", json_object_new_uint64(zn->_watermark[WMARK_LOW]));
		json_object_object_add(zo, "watermark_high", json_object_new_uint64(zn->_watermark[WMARK_HIGH]));
		json_object_object_add(zo, "watermark_refusals", json_object_new_uint64(zn->stats.wmark_refusals));
		json_object_object_add(zo, "pcp_pages", json_object_new_uint64((uint64_t)zn->pcp.count));
		json_object_object_add(zo, "pcp_batch", json_object_new_uint64((uint64_t)zn->pcp.batch));
		json_object_object_add(zo, "pcp_high", json_object_new_uint64((uint64_t)zn->pcp.high));
		json_object_object_add(zo, "pcp_refills", json_object_new_uint64(zn->stats.pcp_refills));
		json_object_object_add(zo, "pcp_drains", json_object_new_uint64(zn->stats.pcp_drains));
		json_object_array_add(zones, zo);
	}
	json_object_object_add(mem, "zones", zones);
	json_object_object_add(root, "memory", mem);
	json_object *costs = json_object_new_object();
	km_costs_foreach(&km_get_config(km)->costs, add_cost, costs);
	json_object_object_add(root, "kernel_costs", costs);

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

	json_object_object_add(root, "timing", e->timing ? json_timing(e) : NULL);
	json_object_object_add(root, "mrc", ri->mrc ? json_mrc(ri->mrc) : NULL);

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
