/* cpu_presets.c — the built-in CPU models and the whole-configuration check.
 *
 * Every figure comes from /work/shared/design/cpu-data.md or the source named in the preset's
 * `source` string; where sources disagree, or nothing is published, the comment next to the
 * number says which figure was chosen and why ("our choice" marks a number we picked). The
 * documentation of every preset, key and modelling decision is docs/cpus.md.
 *
 * Conventions shared by all presets:
 *  - Array names are the configuration keys that define them ("dtlb.4k", "stlb.4k2m",
 *    "pwc.pde"), so every message and report names an array the way a user configures it.
 *  - L1 hit latency is 1 cycle everywhere. The timing model charges only what lies beyond an L1
 *    hit (timing.h), so the figure is descriptive (ChampSim and Virtuoso also use 1).
 *  - Replacement is true LRU everywhere except the i486 (pseudo-LRU): real replacement policies
 *    of TLBs are unpublished; ChampSim defaults to LRU. Our choice.
 *  - The page-walk caches of the out-of-order cores take ChampSim's geometry (PML5 1x2, PML4 1x4,
 *    PDPT 2x4, PD 4x8 as sets x ways) with Virtuoso's 1-cycle hit. Intel has not published the
 *    sizes of its paging-structure caches; AMD keeps PDEs in the L2 TLB (WikiChip Zen 2). None of
 *    these cores has 5-level paging: the PML5E cache only matters if one runs LA57 on them.
 *  - Page-table reads use the fixed-latency model by default; the cache-model parameters are
 *    filled in too, so `pt.model = cache` works on every preset without further keys. The cache
 *    model holds only page-table lines, so its levels are deliberately small (the share of each
 *    real cache that page-table lines would get): L1 64 lines 8-way, L2 512 lines 8-way,
 *    LLC 8192 lines 16-way, with each core's published load-to-use latencies. Our choice.
 *  - The Dirty assist (a write through a TLB entry whose D is clear) costs 30 cycles on the
 *    out-of-order cores: unpublished, our choice (a locked read-modify-write of the PTE).
 *  - Base CPI 1.0 on the out-of-order cores and 2.0 on the i486: our choice (the i486 issues at
 *    most one instruction per clock and most take 1–2).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mmu_config.h"

/* Limits of mmu_config_valid (far beyond any real CPU; they keep a typo from allocating GiBs). */
#define MAX_TLB_ENTRIES   (1u << 20)
#define MAX_TLB_LATENCY   1000u
#define MAX_PT_LATENCY    100000u
#define MAX_PT_CACHE_LINES (1u << 22)
#define MAX_DIRTY_ASSIST  100000u
#define MAX_FETCH_BYTES   4096u
#define MAX_CPI           1000.0

#define S4K   TLB_SIZE_BIT(TLB_4K)
#define S2M   TLB_SIZE_BIT(TLB_2M)
#define S1G   TLB_SIZE_BIT(TLB_1G)
#define SALL  (S4K | S2M | S1G)

/* One array: name, entries, ways, sizes, latency, policy. */
#define ARR(nm, e, w, sz, lat, pol) \
	{ .name = nm, .entries = (e), .ways = (w), .sizes = (sz), .policy = (pol), .latency = (lat) }
#define LRU  TLB_POLICY_LRU
#define PLRU TLB_POLICY_PLRU

/* ChampSim's page-walk caches (cpu-data.md): sets x ways 1x2, 1x4, 2x4, 4x8; 1-cycle hit. */
#define CHAMPSIM_PWC {                                          \
		[1] = ARR("pwc.pde", 32, 8, S4K, 1, LRU),       \
		[2] = ARR("pwc.pdpte", 8, 4, S4K, 1, LRU),      \
		[3] = ARR("pwc.pml4e", 4, 4, S4K, 1, LRU),      \
		[4] = ARR("pwc.pml5e", 2, 2, S4K, 1, LRU),      \
	}

static const struct mmu_config presets[] = {
	/* ---------------------------------------------------------------- Intel 80486 --------- */
	/* One unified 32-entry 4-way TLB for code and data, no second level, no paging-structure
	 * caches, no large pages (PSE arrived with the Pentium), no PCID, no NX.
	 * Modelled as l1_unified: fetches look up the dtlb arrays. The itlb lists the same array
	 * so that a hierarchy ignoring l1_unified degrades to two separate 32x4 TLBs (twice the
	 * real reach) instead of having no ITLB. Pseudo-LRU as in the i486's on-chip cache
	 * (the manual's TLB replacement description is the same tree scheme; moderate confidence). */
	{
		.name = "i486",
		.source = "Intel i486 manual (32-entry 4-way unified TLB); cpu-data.md. "
			  "Page-table read cost, CPI and Dirty assist are our choices.",
		.itlb = { 1, { ARR("itlb.4k", 32, 4, S4K, 1, PLRU) } },
		.dtlb = { 1, { ARR("dtlb.4k", 32, 4, S4K, 1, PLRU) } },
		/* no STLB, no page-walk caches */
		/* A PDE/PTE read that hits the 8 KiB on-chip cache costs ~1 clock, one from memory a
		 * bus cycle of 2 clocks plus wait states: 4 cycles fixed, our choice. Cache model:
		 * the whole 8 KiB 4-way cache as 128 64-byte lines, no L2/LLC, memory 5 cycles. */
		.pt_model = PT_LATENCY_FIXED,
		.pt_read_latency = 4,
		.pt_cache = { .l1 = { 128, 4, 1 }, .l2 = { 0, 0, 0 }, .llc = { 0, 0, 0 }, .dram_latency = 5 },
		.base_cpi = 2.0,
		.dirty_assist = 10,           /* a re-walk with a locked PTE update: our choice */
		.itlb_fetch_bytes = 16,       /* the prefetcher reads 16-byte cache lines */
		.pcid = false,
		.pdpe1gb = false,
		.l1_unified = true,
	},
	/* ------------------------------------------------------- Intel Core 2 (Merom) --------- */
	/* Optimization Manual §2.1.4: DTLB0 16 entries for 4K + 16 for large pages (loads only),
	 * DTLB1 256 for 4K + 32 for large pages (stores, and loads that miss DTLB0), all 4-way;
	 * "a DTLB0 miss and DTLB1 hit causes a penalty of 2 cycles". There is no unified STLB:
	 * DTLB1 is modelled as the STLB with stlb_data_only (ITLB misses walk). Approximation:
	 * stores look up DTLB0 too (on the CPU they go to DTLB1 directly).
	 * ITLB 128 4K entries 4-way (cpu-data.md); large-page ITLB 8 entries 4-way for 2M
	 * (CPUID leaf 2 descriptor 0xB1; it has only 4 entries for 4M pages — not modelled).
	 * PDE cache: the brief asks for one; its size is unpublished: ChampSim's PD 4x8, our choice. */
	{
		.name = "core2",
		.source = "Intel 64 and IA-32 Optimization Reference Manual sec. 2.1.4 (Core microarchitecture "
			  "DTLB0/DTLB1, 2-cycle DTLB1 hit); CPUID leaf 2 (ITLB large pages); cpu-data.md. "
			  "PDE cache size, walk cost, CPI and Dirty assist are our choices.",
		.itlb = { 2, { ARR("itlb.4k", 128, 4, S4K, 1, LRU), ARR("itlb.2m", 8, 4, S2M, 1, LRU) } },
		.dtlb = { 2, { ARR("dtlb.4k", 16, 4, S4K, 1, LRU), ARR("dtlb.2m", 16, 4, S2M, 1, LRU) } },
		.stlb = { 2, { ARR("stlb.4k", 256, 4, S4K, 2, LRU), ARR("stlb.2m", 32, 4, S2M, 2, LRU) } },
		.pwc = { [1] = ARR("pwc.pde", 32, 8, S4K, 1, LRU) },
		/* 30 cycles per page-table read: Sniper's nehalem.cfg fixed walk cost, the nearest era
		 * with a published simulator figure. Cache model: L1D 3 cycles, shared L2 14 cycles
		 * (no L3), memory 200: our choice from the core's published load-to-use latencies. */
		.pt_model = PT_LATENCY_FIXED,
		.pt_read_latency = 30,
		.pt_cache = { .l1 = { 64, 8, 3 }, .l2 = { 1024, 16, 14 }, .llc = { 0, 0, 0 }, .dram_latency = 200 },
		.base_cpi = 1.0,
		.dirty_assist = 30,
		.itlb_fetch_bytes = 16,       /* the instruction fetch unit reads 16 aligned bytes a cycle */
		.pcid = false,                /* PCID came with Westmere */
		.pdpe1gb = false,             /* 1 GiB pages came with Westmere */
		.stlb_data_only = true,
	},
	/* ------------------------------------------------------------ Intel Haswell ------------ */
	/* cpu-data.md (PC Watch measurements, 2013): DTLB 4K 64 4-way, 2M/4M 32 4-way, 1G 4;
	 * ITLB 4K 128 8-way (cpu-data.md's figure; some secondary sources quote 4-way — we keep
	 * cpu-data.md), 2M/4M 8 fully associative (per thread); STLB 1024 8-way for 4K and 2M, no
	 * 1G entries; STLB hit 12 cycles (PC Watch; Ivy Bridge 11); an STLB miss with the tables in
	 * cache ≈ +20 cycles, which with page-walk-cache hits is one read: pt.latency = 20. */
	{
		.name = "haswell",
		.source = "cpu-data.md: PC Watch Haswell measurements 2013 (STLB 1024x8, hit 12 cycles, "
			  "STLB miss ~20 cycles with tables in cache); ChampSim page-walk caches. "
			  "CPI, Dirty assist and cache-model sizes are our choices.",
		.itlb = { 2, { ARR("itlb.4k", 128, 8, S4K, 1, LRU), ARR("itlb.2m", 8, 8, S2M, 1, LRU) } },
		.dtlb = { 3, { ARR("dtlb.4k", 64, 4, S4K, 1, LRU), ARR("dtlb.2m", 32, 4, S2M, 1, LRU),
			       ARR("dtlb.1g", 4, 4, S1G, 1, LRU) } },
		.stlb = { 1, { ARR("stlb.4k2m", 1024, 8, S4K | S2M, 12, LRU) } },
		.pwc = CHAMPSIM_PWC,
		.pt_model = PT_LATENCY_FIXED,
		.pt_read_latency = 20,
		/* L1D 4, L2 12, L3 ~36–40 cycles: 40 (the brief's default) */
		.pt_cache = { .l1 = { 64, 8, 4 }, .l2 = { 512, 8, 12 }, .llc = { 8192, 16, 40 }, .dram_latency = 200 },
		.base_cpi = 1.0,
		.dirty_assist = 30,
		.itlb_fetch_bytes = 16,       /* legacy decode pipeline: 16 bytes a cycle */
		.pcid = true,
		.pdpe1gb = true,
	},
	/* ----------------------------------------------------------- Intel Skylake (default) --- */
	/* cpu-data.md (Intel Optimization Manual Skylake table; AnandTech): DTLB 4K 64 4-way,
	 * 2M/4M 32 4-way, 1G 4 (fully associative); ITLB 4K 128 8-way, 2M/4M 8 fully associative;
	 * STLB 1536 12-way for 4K+2M (CPUID on Skylake-SP reports 6-way: we keep the manual's
	 * 12-way, client Skylake) plus 16 1G entries 4-way; STLB hit ≈ 9 cycles (ChampSim uses 8:
	 * we keep 9). Walk cost: Haswell's measured +20 (no Skylake figure in cpu-data.md). */
	{
		.name = "skylake",
		.source = "cpu-data.md: Intel Optimization Reference Manual Skylake TLB table, AnandTech "
			  "Skylake-X review (STLB 1536x12 4K+2M, 16x4 1G, hit ~9 cycles); ChampSim page-walk "
			  "caches. Walk cost from Haswell's; CPI, Dirty assist: our choices.",
		.itlb = { 2, { ARR("itlb.4k", 128, 8, S4K, 1, LRU), ARR("itlb.2m", 8, 8, S2M, 1, LRU) } },
		.dtlb = { 3, { ARR("dtlb.4k", 64, 4, S4K, 1, LRU), ARR("dtlb.2m", 32, 4, S2M, 1, LRU),
			       ARR("dtlb.1g", 4, 4, S1G, 1, LRU) } },
		.stlb = { 2, { ARR("stlb.4k2m", 1536, 12, S4K | S2M, 9, LRU), ARR("stlb.1g", 16, 4, S1G, 9, LRU) } },
		.pwc = CHAMPSIM_PWC,
		.pt_model = PT_LATENCY_FIXED,
		.pt_read_latency = 20,
		/* L1D 4–5, L2 12, L3 ~40 cycles */
		.pt_cache = { .l1 = { 64, 8, 4 }, .l2 = { 512, 8, 12 }, .llc = { 8192, 16, 40 }, .dram_latency = 200 },
		.base_cpi = 1.0,
		.dirty_assist = 30,
		.itlb_fetch_bytes = 16,       /* legacy decode pipeline: 16 bytes a cycle */
		.pcid = true,
		.pdpe1gb = true,
	},
	/* -------------------------------------------------------------------- AMD Zen 2 -------- */
	/* WikiChip Zen 2, 7-cpu Zen2: L1 DTLB 64 entries fully associative for all page sizes; L1
	 * ITLB 64 fully associative, all sizes; L2 DTLB 2048 12-way for 4K and 2M (Zen 1: 1536),
	 * 1G pages "smashed" into 2M entries there (stlb_1g_as_2m) and re-installed as 1G in the
	 * L1; L2 ITLB 512 8-way. We have one shared second level: the L2 DTLB. Approximation: ITLB
	 * misses look it up too (the real 512-entry L2 ITLB is not modelled).
	 * 2048 entries 12-way (WikiChip) is not a whole number of sets (2048 / 12 = 170.7), so the
	 * array cannot be built as published: we keep the capacity, 2048, and round the
	 * associativity to 16 (128 sets). (Zen 1's 1536 x 12 = 128 sets was consistent.)
	 * L2 TLB hit latency: no published figure found; 7 cycles, our choice. Page-walk caches:
	 * AMD keeps PDEs in the L2 TLB (WikiChip); we use ChampSim's caches, our choice.
	 * PCID: not on Zen 2 (QEMU's EPYC-Rome model has no PCID; EPYC-Milan, Zen 3, adds PCID and
	 * INVPCID), so pcid = false. Fetch: 32 bytes a cycle from the L1 I-cache (7-cpu). */
	{
		.name = "zen2",
		.source = "cpu-data.md: WikiChip Zen 2, 7-cpu Zen2 (L1 64 fully assoc. all sizes, L2 DTLB "
			  "2048 4K+2M (12-way: modelled 16-way), 1G held as 2M, 32-byte fetch); QEMU EPYC-Rome "
			  "(no PCID). L2 hit latency, page-walk caches, walk cost, CPI, Dirty assist: our choices.",
		.itlb = { 1, { ARR("itlb.all", 64, 64, SALL, 1, LRU) } },
		.dtlb = { 1, { ARR("dtlb.all", 64, 64, SALL, 1, LRU) } },
		.stlb = { 1, { ARR("stlb.4k2m", 2048, 16, S4K | S2M, 7, LRU) } },
		.pwc = CHAMPSIM_PWC,
		.pt_model = PT_LATENCY_FIXED,
		.pt_read_latency = 20,        /* as the Intel cores: our choice */
		/* L1D 4, L2 12, L3 ~39 cycles */
		.pt_cache = { .l1 = { 64, 8, 4 }, .l2 = { 512, 8, 12 }, .llc = { 8192, 16, 40 }, .dram_latency = 200 },
		.base_cpi = 1.0,
		.dirty_assist = 30,
		.itlb_fetch_bytes = 32,
		.pcid = false,
		.pdpe1gb = true,
		.stlb_1g_as_2m = true,
	},
};

#define NPRESETS (sizeof presets / sizeof presets[0])

const struct mmu_config *mmu_preset(const char *name)
{
	if (name == NULL)
		return NULL;
	for (unsigned i = 0; i < NPRESETS; i++)
		if (strcasecmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

const struct mmu_config *mmu_presets(unsigned *n)
{
	if (n != NULL)
		*n = NPRESETS;
	return presets;
}

const char *mmu_default_preset(void)
{
	return "skylake";
}

/* ------------------------------------------------------------------ mmu_config_valid ---- */

__attribute__((format(printf, 3, 4)))
static bool invalid(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static const char *const size_names[TLB_NSIZES] = { "4K", "2M", "1G" };

/* Checks one TLB or PWC array that exists in the configuration. `key` names it when its own
 * name is empty. */
static bool array_valid(const struct tlb_array_config *a, const char *key, char *err, size_t errlen)
{
	struct tlb_array_config copy = *a;
	if (memchr(copy.name, '\0', TLB_NAME_LEN) == NULL || copy.name[0] == '\0')
		snprintf(copy.name, TLB_NAME_LEN, "%s", key);
	if (copy.entries == 0)
		return invalid(err, errlen, "%s: entries must be at least 1 (remove the array instead)", copy.name);
	if (copy.entries > MAX_TLB_ENTRIES)
		return invalid(err, errlen, "%s: entries (%u) above the limit (%u)", copy.name, copy.entries,
			       MAX_TLB_ENTRIES);
	if (copy.latency > MAX_TLB_LATENCY)
		return invalid(err, errlen, "%s.latency: %u cycles is above the limit (%u)", copy.name, copy.latency,
			       MAX_TLB_LATENCY);
	return tlb_array_config_valid(&copy, err, errlen);
}

static bool level_valid(const struct tlb_level_config *l, const char *key, unsigned *held, char *err,
			size_t errlen)
{
	*held = 0;
	if (l->narrays > MMU_MAX_ARRAYS)
		return invalid(err, errlen, "%s: %u arrays (at most %d)", key, l->narrays, MMU_MAX_ARRAYS);
	for (unsigned i = 0; i < l->narrays; i++) {
		const struct tlb_array_config *a = &l->arrays[i];
		char fallback[TLB_NAME_LEN];
		snprintf(fallback, sizeof fallback, "%s[%u]", key, i);
		if (!array_valid(a, fallback, err, errlen))
			return false;
		unsigned both = *held & a->sizes;
		if (both != 0) {
			unsigned s = 0;
			while (!(both & TLB_SIZE_BIT(s)))
				s++;
			for (unsigned j = 0; j < i; j++)
				if (l->arrays[j].sizes & TLB_SIZE_BIT(s))
					return invalid(err, errlen,
						       "%s: %s pages are held by two arrays (%s and %s); "
						       "write `%s = none` first to redefine the level",
						       key, size_names[s], l->arrays[j].name[0] ? l->arrays[j].name : "?",
						       a->name[0] ? a->name : fallback, key);
		}
		*held |= a->sizes;
	}
	return true;
}

static bool pt_cache_level_valid(const struct pt_cache_level_config *l, const char *key, char *err,
				 size_t errlen)
{
	if (l->lines == 0)
		return true;
	if (l->lines > MAX_PT_CACHE_LINES)
		return invalid(err, errlen, "%s: %u lines above the limit (%u)", key, l->lines, MAX_PT_CACHE_LINES);
	if (l->ways == 0)
		return invalid(err, errlen, "%s: ways must be at least 1", key);
	if (l->lines % l->ways != 0)
		return invalid(err, errlen, "%s: lines (%u) must be divisible by ways (%u)", key, l->lines, l->ways);
	if (l->latency == 0 || l->latency > MAX_PT_LATENCY)
		return invalid(err, errlen, "%s: latency must be 1..%u cycles (got %u)", key, MAX_PT_LATENCY,
			       l->latency);
	return true;
}

bool mmu_config_valid(const struct mmu_config *c, char *err, size_t errlen)
{
	if (c == NULL)
		return invalid(err, errlen, "no configuration");
	if (memchr(c->name, '\0', MMU_CPU_NAME_LEN) == NULL || c->name[0] == '\0')
		return invalid(err, errlen, "name: empty or longer than %d characters", MMU_CPU_NAME_LEN - 1);
	if (memchr(c->source, '\0', MMU_CPU_SOURCE_LEN) == NULL)
		return invalid(err, errlen, "source: longer than %d characters", MMU_CPU_SOURCE_LEN - 1);

	unsigned held_i, held_d, held_s;
	if (!level_valid(&c->itlb, "itlb", &held_i, err, errlen) ||
	    !level_valid(&c->dtlb, "dtlb", &held_d, err, errlen) ||
	    !level_valid(&c->stlb, "stlb", &held_s, err, errlen))
		return false;
	if (!(held_d & S4K))
		return invalid(err, errlen, "dtlb: no array holds 4K pages (an L1 TLB needs one, e.g. dtlb.4k = 64x4)");
	if (!c->l1_unified && !(held_i & S4K))
		return invalid(err, errlen,
			       "itlb: no array holds 4K pages (an L1 TLB needs one, e.g. itlb.4k = 128x8)");
	if (c->stlb_1g_as_2m) {
		if (!(held_s & S2M))
			return invalid(err, errlen, "stlb.1g_as_2m: the STLB has no array for 2M pages");
		if (held_s & S1G)
			return invalid(err, errlen, "stlb.1g_as_2m: the STLB already has an array for 1G pages");
	}
	if (c->stlb_data_only && c->stlb.narrays == 0)
		return invalid(err, errlen, "stlb.data_only: there is no STLB");

	static const char *const pwc_keys[MMU_PWC_LEVELS] = { "pwc[0]", "pwc.pde", "pwc.pdpte", "pwc.pml4e",
							       "pwc.pml5e" };
	if (c->pwc[0].entries != 0)
		return invalid(err, errlen, "pwc[0]: unused slot (page-walk caches are levels 1 = pde to 4 = pml5e)");
	for (unsigned p = 1; p < MMU_PWC_LEVELS; p++) {
		if (c->pwc[p].entries == 0)
			continue;
		struct tlb_array_config a = c->pwc[p];
		a.sizes = S4K;   /* ignored for page-walk caches */
		if (!array_valid(&a, pwc_keys[p], err, errlen))
			return false;
	}

	switch (c->pt_model) {
	case PT_LATENCY_FIXED:
		if (c->pt_read_latency == 0 || c->pt_read_latency > MAX_PT_LATENCY)
			return invalid(err, errlen, "pt.latency (pt_read_latency) must be 1..%u cycles (got %u)",
				       MAX_PT_LATENCY, c->pt_read_latency);
		break;
	case PT_LATENCY_CACHE:
		if (c->pt_cache.dram_latency == 0 || c->pt_cache.dram_latency > MAX_PT_LATENCY)
			return invalid(err, errlen, "pt.dram must be 1..%u cycles (got %u)", MAX_PT_LATENCY,
				       c->pt_cache.dram_latency);
		break;
	default:
		return invalid(err, errlen, "pt.model: unknown model %d", (int)c->pt_model);
	}
	if (!pt_cache_level_valid(&c->pt_cache.l1, "pt.l1", err, errlen) ||
	    !pt_cache_level_valid(&c->pt_cache.l2, "pt.l2", err, errlen) ||
	    !pt_cache_level_valid(&c->pt_cache.llc, "pt.llc", err, errlen))
		return false;

	if (!isfinite(c->base_cpi) || c->base_cpi <= 0.0 || c->base_cpi > MAX_CPI)
		return invalid(err, errlen, "cpi (base_cpi) must be > 0 and <= %g (got %g)", MAX_CPI, c->base_cpi);
	if (c->dirty_assist > MAX_DIRTY_ASSIST)
		return invalid(err, errlen, "dirty_assist: %u cycles is above the limit (%u)", c->dirty_assist,
			       MAX_DIRTY_ASSIST);
	unsigned fb = c->itlb_fetch_bytes;
	if (fb == 0 || fb > MAX_FETCH_BYTES || (fb & (fb - 1)) != 0)
		return invalid(err, errlen,
			       "fetch_bytes (itlb_fetch_bytes) must be a power of two from 1 to %u (got %u)",
			       MAX_FETCH_BYTES, fb);
	return true;
}
