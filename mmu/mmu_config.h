/* mmu_config.h — everything that describes a modelled CPU's address-translation hardware and
 * its costs: TLB levels built from arrays (tlb.h), page-walk caches, how long a page-table read
 * takes, and the cycle model. Presets (cpu_presets.c) fill it from published figures; an INI
 * file and command-line overrides change it (emu/config.c). Every number is configuration.
 */
#ifndef MMUEMU_MMU_CONFIG_H
#define MMUEMU_MMU_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "tlb.h"

#define MMU_MAX_ARRAYS 4      /* arrays per TLB level (e.g. 4K, 2M/4M, 1G) */
#define MMU_PWC_LEVELS 5      /* index = paging level of the cached entries: 1 PDE … 4 PML5E; 0 unused */
#define MMU_CPU_NAME_LEN 32
#define MMU_CPU_SOURCE_LEN 320

/* One TLB level: its arrays are looked up together (in parallel); an entry of page size s can
 * only live in an array whose `sizes` contains s. narrays == 0: the level does not exist. */
struct tlb_level_config {
	unsigned narrays;
	struct tlb_array_config arrays[MMU_MAX_ARRAYS];
};

enum pt_latency_model {
	PT_LATENCY_FIXED,     /* every page-table entry read costs pt_read_latency cycles */
	PT_LATENCY_CACHE,     /* a small model of cache lines holding page-table entries */
};

/* The cache model for page-table reads: an L1 / L2 / LLC hierarchy of 64-byte lines that only
 * page-table entries fill (an approximation: program data does not compete for the lines), and
 * DRAM behind it. lines == 0 removes a level. */
struct pt_cache_level_config {
	unsigned lines;
	unsigned ways;
	unsigned latency;
};

struct pt_cache_config {
	struct pt_cache_level_config l1, l2, llc;
	unsigned dram_latency;
};

struct mmu_config {
	char name[MMU_CPU_NAME_LEN];
	char source[MMU_CPU_SOURCE_LEN];    /* where the figures come from (citation) */

	struct tlb_level_config itlb;       /* L1 instruction TLB */
	struct tlb_level_config dtlb;       /* L1 data TLB */
	struct tlb_level_config stlb;       /* second-level TLB, shared by instructions and data */

	/* Page-walk (paging-structure) caches, SDM §4.10.3: pwc[l] caches entries of paging level l
	 * (1 = PDE cache, 2 = PDPTE cache, 3 = PML4E cache, 4 = PML5E cache); entries 0 = none.
	 * `sizes` is ignored; latency is the lookup cost on a hit. */
	struct tlb_array_config pwc[MMU_PWC_LEVELS];

	enum pt_latency_model pt_model;
	unsigned pt_read_latency;            /* PT_LATENCY_FIXED */
	struct pt_cache_config pt_cache;     /* PT_LATENCY_CACHE */

	double base_cpi;                     /* cycles per instruction outside translation */
	unsigned dirty_assist;               /* cycles of the microcode assist that sets D on a first write */
	unsigned itlb_fetch_bytes;           /* instruction-fetch granularity: one ITLB access per this many bytes of a block (and per page crossed) */
	bool pcid;                           /* the CPU supports PCID (CR4.PCIDE usable) */
	bool pdpe1gb;                        /* 1 GiB pages supported */

	/* Structural quirks of real TLB hierarchies (all false on a plain Intel-style hierarchy): */
	bool l1_unified;      /* one L1 TLB for fetches and data (i486): fetches look up the dtlb
	                       * arrays and the itlb arrays are unused */
	bool stlb_data_only;  /* the second level serves only data accesses (Core 2's DTLB1): an ITLB
	                       * miss walks without looking up or filling the STLB */
	bool stlb_1g_as_2m;   /* a 1 GiB translation is held in the STLB as the 2 MiB entry that
	                       * covers the address ("smashed", AMD Zen); the L1 keeps it as 1 GiB */
};

/* A preset by name ("skylake", …); NULL if unknown. */
const struct mmu_config *mmu_preset(const char *name);
/* All presets, in listing order; *n gets their number. */
const struct mmu_config *mmu_presets(unsigned *n);
/* The preset used when none is chosen. */
const char *mmu_default_preset(void);
/* Checks the whole configuration (cpu_presets.c): every array with tlb_array_config_valid and
 * within the limits below; no page size held by two arrays of one level; the L1 DTLB and ITLB
 * (the ITLB unless l1_unified) each hold 4 KiB pages; pwc[0] unused; latencies, page-table cache
 * geometry, CPI and fetch size sane; the quirk flags consistent with the arrays. The paging mode
 * is not known here: a level without an array for a large page size the mode produces is the
 * hierarchy's business (it may hold the translation as smaller pages or not at all). false with
 * a message naming the parameter by its configuration key ("dtlb.4k: …", "pt.latency …"). */
bool mmu_config_valid(const struct mmu_config *c, char *err, size_t errlen);

#endif
