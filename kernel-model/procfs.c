/* procfs.c — the /proc files of the kernel model: buddyinfo, pagetypeinfo, zoneinfo, slabinfo,
 * meminfo, printed in the formats of Linux 6.12 (mm/vmstat.c frag_show, pagetypeinfo_show,
 * zoneinfo_show; mm/slab_common.c slab_show; fs/proc/meminfo.c meminfo_proc_show with
 * mm/hugetlb.c hugetlb_report_meminfo and arch/x86/mm/pat/set_memory.c arch_report_meminfo), so
 * that scripts which parse the host's /proc files parse these.
 *
 * Every value comes from the model's state: free pages, watermarks, protection and pagesets from
 * the zones (page_alloc.h), slab pages from SLUB, page-table pages from the pgtable counters,
 * anonymous and page-cache pages from the page flags (per zone) and from the task's rss. What the
 * model has no notion of prints 0 (swap, dirty/writeback, shmem, kernel stacks, vmalloc use,
 * per-CPU allocator, NUMA, workingset, committed address space).
 *
 * The kernel configuration the line set follows is Debian's 6.12 one where it matters for which
 * lines exist: CONFIG_HIGHMEM on i386, CONFIG_ZONE_DEVICE on x86-64 (an empty "Device" zone in
 * zoneinfo and in every protection array), CONFIG_SWAP, CONFIG_ZSWAP (zero "Zswap"/"Zswapped",
 * "nr_zspages"), CONFIG_TRANSPARENT_HUGEPAGE, CONFIG_IOMMU_SUPPORT, CONFIG_NUMA_BALANCING node
 * items; no CONFIG_CMA (the model has no CMA: no "cma" migratetype, no CmaTotal/CmaFree), no
 * CONFIG_MEMORY_FAILURE line, no CONFIG_NUMA per-zone numa_* counters (one node).
 *
 * Accounting choices (the model has no LRU lists): anonymous pages count as inactive anon,
 * page-cache pages as inactive file (where new pages start in Linux). Huge pages count like THP
 * (AnonHugePages, nr_anon_transparent_hugepages); the 1 GiB pool is reported as the default
 * hugetlb size (as with default_hugepagesz=1G). The direct map is reported as mapped with 2 MiB
 * pages (4 MiB under 2-level paging) over lowmem, the unaligned rest with 4 KiB pages.
 */
#include <string.h>

#include "km_internal.h"

const char *const km_proc_names[] = { "buddyinfo", "pagetypeinfo", "zoneinfo", "slabinfo", "meminfo",
				      NULL };

bool km_proc_known(const char *name)
{
	for (int i = 0; km_proc_names[i]; i++)
		if (!strcmp(name, km_proc_names[i]))
			return true;
	return false;
}

/* ---- what the zones hold ------------------------------------------------------------------- */

/* Zones as the kernel's enum has them, in order (configured only). ZONE_DEVICE is not a zone of
 * the model: -1 stands for the empty Device zone of an x86-64 kernel. */
static int proc_zones(const struct pglist_data *pgdat, int out[MAX_NR_ZONES + 1])
{
	int n = 0;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		if (zone_configured(pgdat, (enum zone_type)zt))
			out[n++] = zt;
	if (pgdat->x86_64)
		out[n++] = -1;
	return n;
}

struct zone_pages {
	unsigned long anon, file;	/* pages flagged anonymous / page cache in the zone */
};

static void count_zone_pages(struct km *km, struct zone_pages zp[MAX_NR_ZONES])
{
	struct pglist_data *pgdat = &km->pgdat;
	memset(zp, 0, sizeof(struct zone_pages) * MAX_NR_ZONES);
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];
		for (uint64_t pfn = zone->zone_start_pfn; pfn < zone_end_pfn(zone); pfn++) {
			uint32_t f = pgdat->mem_map[pfn].flags;
			if (f & PG_KM_ANON)
				zp[zt].anon++;
			else if (f & PG_KM_PAGECACHE)
				zp[zt].file++;
		}
	}
}

struct node_pages {
	unsigned long anon, file, anon_mapped, file_mapped, slab_recl, slab_unrecl, pgtable, thp;
	unsigned long free, managed, high_managed, high_free;
};

static bool zone_is_highmem(const struct pglist_data *pgdat, int zt)
{
	if (pgdat->x86_64)
		return false;
	if (zt == ZONE_HIGHMEM)
		return true;
	/* ZONE_MOVABLE counts as highmem when it was carved out of HighMem */
	return zt == ZONE_MOVABLE && pgdat->zone_movable_pfn && pgdat->zone_movable_pfn >= pgdat->max_low_pfn;
}

static void count_node_pages(struct km *km, struct mm_struct *mm, const struct zone_pages zp[MAX_NR_ZONES],
			     struct node_pages *np)
{
	struct pglist_data *pgdat = &km->pgdat;
	memset(np, 0, sizeof(*np));
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];
		np->anon += zp[zt].anon;
		np->file += zp[zt].file;
		np->free += zone_page_state(zone, NR_FREE_PAGES);
		np->managed += zone->managed_pages;
		if (zone_is_highmem(pgdat, zt)) {
			np->high_managed += zone->managed_pages;
			np->high_free += zone_page_state(zone, NR_FREE_PAGES);
		}
	}
	if (mm) {
		np->anon_mapped = mm->rss_anon;
		np->file_mapped = mm->rss_file;
	}
	slab_system_pages(km->slab, &np->slab_recl, &np->slab_unrecl);
	for (int l = 0; l < 5; l++)
		np->pgtable += km->stats.pgtable_pages[l];
	np->thp = km->stats.huge_pmd_in_use;
}

/* ---- /proc/zoneinfo ------------------------------------------------------------------------ */

static unsigned fls_ul(unsigned long x)
{
	unsigned r = 0;
	while (x) {
		r++;
		x >>= 1;
	}
	return r;
}

/* calculate_normal_threshold for one online CPU: 2 * fls(1) * (1 + fls(managed in 128 MiB)). */
static int stat_threshold(const struct zone *zone)
{
	int t = 2 * 1 * (1 + (int)fls_ul(zone->managed_pages >> (27 - PAGE_SHIFT)));
	return t > 125 ? 125 : t;
}

static void zoneinfo_show(struct km *km, struct mm_struct *mm, FILE *out)
{
	struct pglist_data *pgdat = &km->pgdat;
	struct zone_pages zp[MAX_NR_ZONES];
	struct node_pages np;
	int zl[MAX_NR_ZONES + 1];
	int nz = proc_zones(pgdat, zl);
	bool node_stats_done = false;

	count_zone_pages(km, zp);
	count_node_pages(km, mm, zp, &np);
	/* enum node_stat_item (6.12, Debian x86 config), values in pages; THP items in huge pages */
	const struct { const char *name; unsigned long v; } node_items[] = {
		{ "nr_inactive_anon", np.anon }, { "nr_active_anon", 0 }, { "nr_inactive_file", np.file },
		{ "nr_active_file", 0 }, { "nr_unevictable", 0 },
		{ "nr_slab_reclaimable", np.slab_recl }, { "nr_slab_unreclaimable", np.slab_unrecl },
		{ "nr_isolated_anon", 0 }, { "nr_isolated_file", 0 }, { "workingset_nodes", 0 },
		{ "workingset_refault_anon", 0 }, { "workingset_refault_file", 0 },
		{ "workingset_activate_anon", 0 }, { "workingset_activate_file", 0 },
		{ "workingset_restore_anon", 0 }, { "workingset_restore_file", 0 },
		{ "workingset_nodereclaim", 0 }, { "nr_anon_pages", np.anon_mapped },
		{ "nr_mapped", np.file_mapped }, { "nr_file_pages", np.file }, { "nr_dirty", 0 },
		{ "nr_writeback", 0 }, { "nr_writeback_temp", 0 }, { "nr_shmem", 0 },
		{ "nr_shmem_hugepages", 0 }, { "nr_shmem_pmdmapped", 0 }, { "nr_file_hugepages", 0 },
		{ "nr_file_pmdmapped", 0 }, { "nr_anon_transparent_hugepages", np.thp },
		{ "nr_vmscan_write", 0 }, { "nr_vmscan_immediate_reclaim", 0 }, { "nr_dirtied", 0 },
		{ "nr_written", 0 }, { "nr_throttled_written", 0 }, { "nr_kernel_misc_reclaimable", 0 },
		{ "nr_foll_pin_acquired", 0 }, { "nr_foll_pin_released", 0 }, { "nr_kernel_stack", 0 },
		{ "nr_page_table_pages", np.pgtable }, { "nr_sec_page_table_pages", 0 },
		{ "nr_iommu_pages", 0 }, { "nr_swapcached", 0 }, { "pgpromote_success", 0 },
		{ "pgpromote_candidate", 0 }, { "pgdemote_kswapd", 0 }, { "pgdemote_direct", 0 },
		{ "pgdemote_khugepaged", 0 },
	};

	for (int i = 0; i < nz; i++) {
		static const struct zone device_zone = { .name = "Device" };
		const struct zone *zone = zl[i] < 0 ? &device_zone : &pgdat->node_zones[zl[i]];

		fprintf(out, "Node %d, zone %8s", pgdat->node_id, zone->name);
		if (populated_zone(zone) && !node_stats_done) {	/* is_zone_first_populated */
			node_stats_done = true;
			fprintf(out, "\n  per-node stats");
			for (size_t k = 0; k < sizeof(node_items) / sizeof(node_items[0]); k++)
				fprintf(out, "\n      %-12s %lu", node_items[k].name, node_items[k].v);
		}
		fprintf(out,
			"\n  pages free     %lu"
			"\n        boost    %lu"
			"\n        min      %lu"
			"\n        low      %lu"
			"\n        high     %lu"
			"\n        promo    %lu"
			"\n        spanned  %lu"
			"\n        present  %lu"
			"\n        managed  %lu"
			"\n        cma      %lu",
			zone_page_state(zone, NR_FREE_PAGES), zone->watermark_boost,
			zone->_watermark[WMARK_MIN], zone->_watermark[WMARK_LOW],
			zone->_watermark[WMARK_HIGH], zone->_watermark[WMARK_PROMO],
			zone->spanned_pages, zone->present_pages, zone->managed_pages, 0UL);
		/* protection: lowmem_reserve[] over the kernel's zones (Device repeats Movable's) */
		for (int j = 0; j < nz; j++) {
			long v = zl[j] >= 0 ? zone->lowmem_reserve[zl[j]] : zone->lowmem_reserve[ZONE_MOVABLE];
			fprintf(out, j ? ", %ld" : "\n        protection: (%ld", v);
		}
		fputc(')', out);
		if (!populated_zone(zone)) {
			fputc('\n', out);
			continue;
		}
		const struct zone_pages *z = &zp[zl[i]];
		const struct { const char *name; unsigned long v; } zone_items[] = {
			{ "nr_free_pages", zone_page_state(zone, NR_FREE_PAGES) },
			{ "nr_zone_inactive_anon", z->anon }, { "nr_zone_active_anon", 0 },
			{ "nr_zone_inactive_file", z->file }, { "nr_zone_active_file", 0 },
			{ "nr_zone_unevictable", 0 }, { "nr_zone_write_pending", 0 }, { "nr_mlock", 0 },
			{ "nr_bounce", 0 }, { "nr_zspages", 0 },
		};
		for (size_t k = 0; k < sizeof(zone_items) / sizeof(zone_items[0]); k++)
			fprintf(out, "\n      %-12s %lu", zone_items[k].name, zone_items[k].v);
		fprintf(out, "\n  pagesets");
		fprintf(out,
			"\n    cpu: %i"
			"\n              count: %i"
			"\n              high:  %i"
			"\n              batch: %i",
			0, zone->pcp.count, zone->pcp.high, zone->pcp.batch);
		fprintf(out, "\n  vm stats threshold: %d", stat_threshold(zone));
		fprintf(out,
			"\n  node_unreclaimable:  %u"
			"\n  start_pfn:           %lu",
			0U, (unsigned long)zone->zone_start_pfn);
		fputc('\n', out);
	}
}

/* ---- /proc/meminfo ------------------------------------------------------------------------- */

static void show_val_kb(FILE *out, const char *s, unsigned long pages)
{
	fprintf(out, "%s%8lu kB\n", s, pages << (PAGE_SHIFT - 10));
}

/* VMALLOC_END - VMALLOC_START in bytes (arch/x86/include/asm/pgtable_{32,64}_types.h). */
static uint64_t vmalloc_total(const struct km *km)
{
	if (km->cfg.arch == KM_ARCH_X86_64)	/* VMALLOC_SIZE_TB: 32 (4-level), 12800 (5-level) */
		return ((km->cfg.paging == PAGING_5LEVEL ? 12800ULL : 32ULL) << 40) - 1;
	/* i386 with HIGHMEM: from high_memory + 8 MiB (aligned) up to PKMAP_BASE - 2 pages */
	uint64_t page_offset = 0xc0000000ULL, offset = 8ULL << 20;
	uint64_t high_memory = page_offset + (km->pgdat.max_low_pfn << PAGE_SHIFT);
	uint64_t start = (high_memory + offset) & ~(offset - 1);
	uint64_t pkmap_base = km->cfg.paging == PAGING_PAE ? 0xff800000ULL : 0xff400000ULL;
	uint64_t end = pkmap_base - 2 * PAGE_SIZE;
	return end > start ? end - start : 0;
}

static void meminfo_show(struct km *km, struct mm_struct *mm, FILE *out)
{
	struct pglist_data *pgdat = &km->pgdat;
	struct zone_pages zp[MAX_NR_ZONES];
	struct node_pages np;
	bool x64 = km->cfg.arch == KM_ARCH_X86_64;

	count_zone_pages(km, zp);
	count_node_pages(km, mm, zp, &np);

	/* hugetlb: the 1 GiB pool, or none (huge PMD pages are counted like THP) */
	unsigned long huge_kb = km->pud_pool.nr ? 1UL << 20 : (!x64 && km->cfg.paging == PAGING_2LEVEL ? 4096 : 2048);
	unsigned long hugetlb_pages = (unsigned long)km->pud_pool.nr << (30 - PAGE_SHIFT);
	unsigned long totalram = np.managed > hugetlb_pages ? np.managed - hugetlb_pages : 0;
	unsigned long freeram = np.free;

	/* si_mem_available */
	unsigned long wmark_low = 0;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		wmark_low += pgdat->node_zones[zt]._watermark[WMARK_LOW];
	long available = (long)freeram - (long)pgdat->totalreserve_pages;
	unsigned long pagecache = np.file;
	pagecache -= pagecache / 2 < wmark_low ? pagecache / 2 : wmark_low;
	available += (long)pagecache;
	unsigned long reclaimable = np.slab_recl;
	available += (long)(reclaimable - (reclaimable / 2 < wmark_low ? reclaimable / 2 : wmark_low));
	if (available < 0)
		available = 0;

	show_val_kb(out, "MemTotal:       ", totalram);
	show_val_kb(out, "MemFree:        ", freeram);
	show_val_kb(out, "MemAvailable:   ", (unsigned long)available);
	show_val_kb(out, "Buffers:        ", 0);
	show_val_kb(out, "Cached:         ", np.file);
	show_val_kb(out, "SwapCached:     ", 0);
	show_val_kb(out, "Active:         ", 0);
	show_val_kb(out, "Inactive:       ", np.anon + np.file);
	show_val_kb(out, "Active(anon):   ", 0);
	show_val_kb(out, "Inactive(anon): ", np.anon);
	show_val_kb(out, "Active(file):   ", 0);
	show_val_kb(out, "Inactive(file): ", np.file);
	show_val_kb(out, "Unevictable:    ", 0);
	show_val_kb(out, "Mlocked:        ", 0);
	if (!x64) {	/* CONFIG_HIGHMEM */
		show_val_kb(out, "HighTotal:      ", np.high_managed);
		show_val_kb(out, "HighFree:       ", np.high_free);
		show_val_kb(out, "LowTotal:       ", totalram - np.high_managed);
		show_val_kb(out, "LowFree:        ", freeram - np.high_free);
	}
	show_val_kb(out, "SwapTotal:      ", 0);
	show_val_kb(out, "SwapFree:       ", 0);
	show_val_kb(out, "Zswap:          ", 0);
	fprintf(out, "Zswapped:       %8lu kB\n", 0UL);
	show_val_kb(out, "Dirty:          ", 0);
	show_val_kb(out, "Writeback:      ", 0);
	show_val_kb(out, "AnonPages:      ", np.anon_mapped);
	show_val_kb(out, "Mapped:         ", np.file_mapped);
	show_val_kb(out, "Shmem:          ", 0);
	show_val_kb(out, "KReclaimable:   ", np.slab_recl);
	show_val_kb(out, "Slab:           ", np.slab_recl + np.slab_unrecl);
	show_val_kb(out, "SReclaimable:   ", np.slab_recl);
	show_val_kb(out, "SUnreclaim:     ", np.slab_unrecl);
	fprintf(out, "KernelStack:    %8lu kB\n", 0UL);
	show_val_kb(out, "PageTables:     ", np.pgtable);
	show_val_kb(out, "SecPageTables:  ", 0);
	show_val_kb(out, "NFS_Unstable:   ", 0);
	show_val_kb(out, "Bounce:         ", 0);
	show_val_kb(out, "WritebackTmp:   ", 0);
	show_val_kb(out, "CommitLimit:    ", totalram * 50 / 100);	/* overcommit_ratio 50, no swap */
	show_val_kb(out, "Committed_AS:   ", 0);
	fprintf(out, "VmallocTotal:   %8lu kB\n", (unsigned long)(vmalloc_total(km) >> 10));
	show_val_kb(out, "VmallocUsed:    ", 0);
	show_val_kb(out, "VmallocChunk:   ", 0);
	show_val_kb(out, "Percpu:         ", 0);
	unsigned long pmd_pages = 1UL << (km->pmd_order ? km->pmd_order : 9);
	show_val_kb(out, "AnonHugePages:  ", np.thp * pmd_pages);
	show_val_kb(out, "ShmemHugePages: ", 0);
	show_val_kb(out, "ShmemPmdMapped: ", 0);
	show_val_kb(out, "FileHugePages:  ", 0);
	show_val_kb(out, "FilePmdMapped:  ", 0);
	fprintf(out,
		"HugePages_Total:   %5lu\n"
		"HugePages_Free:    %5lu\n"
		"HugePages_Rsvd:    %5lu\n"
		"HugePages_Surp:    %5lu\n"
		"Hugepagesize:   %8lu kB\n",
		(unsigned long)km->pud_pool.nr, (unsigned long)km->pud_pool.nr_free, 0UL, 0UL, huge_kb);
	fprintf(out, "Hugetlb:        %8lu kB\n", hugetlb_pages << (PAGE_SHIFT - 10));
	/* arch_report_meminfo: the direct map of lowmem with large pages, the rest 4 KiB */
	uint64_t lowmem = x64 ? km->phys_size : pgdat->max_low_pfn << PAGE_SHIFT;
	uint64_t large = x64 || km->cfg.paging == PAGING_PAE ? 2ULL << 20 : 4ULL << 20;
	uint64_t in_large = lowmem & ~(large - 1);
	fprintf(out, "DirectMap4k:    %8lu kB\n", (unsigned long)((lowmem - in_large) >> 10));
	fprintf(out, "DirectMap%s:    %8lu kB\n", large == (2ULL << 20) ? "2M" : "4M",
		(unsigned long)(in_large >> 10));
}

int km_proc_show(struct km *km, struct mm_struct *mm, const char *name, FILE *out)
{
	if (!strcmp(name, "buddyinfo"))
		buddyinfo_show(&km->pgdat, out);
	else if (!strcmp(name, "pagetypeinfo"))
		pagetypeinfo_show(&km->pgdat, out);
	else if (!strcmp(name, "zoneinfo"))
		zoneinfo_show(km, mm, out);
	else if (!strcmp(name, "slabinfo"))
		slabinfo_show(km->slab, out);
	else if (!strcmp(name, "meminfo"))
		meminfo_show(km, mm, out);
	else
		return -1;
	return 0;
}
