/* mmu_event.h — events of the timed translation path, for observers (traces, miss-rate curves).
 *
 * An observer attached with mmu_timing_set_observer() sees, in program order:
 *   - one lookup event per modelled TLB lookup (mmu_timing_access, and the fetch blocks of
 *     mmu_timing_fetch, where the blocks after the first in a page that hit the same entry are
 *     folded into one event with count > 1);
 *   - one walk event per page walk (STLB miss), including walks that fault, emitted before the
 *     lookup event of the access that caused it;
 *   - one invalidation event per INVLPG, flush, MOV CR3, #PF invalidation or stale-entry drop.
 * With no observer attached the hot path pays one predictable branch per access.
 *
 * The events carry what the MMU knows; the caller (the engine) adds instruction count, cycle and
 * guest PC from its own state when it records them.
 */
#ifndef MMUEMU_MMU_EVENT_H
#define MMUEMU_MMU_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* Where a lookup was answered. */
enum mmu_lookup_outcome {
	MMU_OUT_L1_HIT = 0,   /* the L1 level (ITLB or DTLB) hit */
	MMU_OUT_STLB_HIT,     /* L1 missed, the STLB hit (L1 refilled from it) */
	MMU_OUT_WALK,         /* both missed (or no STLB): walked, translation installed */
	MMU_OUT_FAULT,        /* walked and the walk faulted: no translation (the #PF follows) */
	MMU_OUT_NKINDS
};

struct mmu_lookup_event {
	uint64_t va;          /* virtual address of the access (first fetch block for count > 1) */
	uint64_t pa;          /* physical address; 0 for MMU_OUT_FAULT */
	uint32_t cycles;      /* translation cycles of this access beyond an L1 hit (STLB latency,
	                         walk, Dirty assist) */
	uint32_t count;       /* lookups this event stands for (> 1 only for folded fetch blocks) */
	uint16_t pcid;
	uint8_t acc;          /* enum mmu_access: MMU_READ, MMU_WRITE, MMU_FETCH */
	uint8_t level;        /* enum mmu_level_id of the L1 level looked up (ITLB or DTLB) */
	uint8_t outcome;      /* enum mmu_lookup_outcome */
	uint8_t size;         /* enum tlb_size of the translation (not meaningful for a fault) */
	uint8_t array;        /* index of the array that hit in the answering level */
	bool global;          /* the translation is global (G=1) */
	bool user;            /* user-mode access */
	bool dirty_assist;    /* this access took a Dirty assist */
};

#define MMU_EVENT_MAX_READS 5

struct mmu_walk_event {
	uint64_t va;
	uint64_t entry_pa[MMU_EVENT_MAX_READS];   /* physical address of each entry the walk read
	                                             (top level first), including those the
	                                             page-walk cache let the walk skip */
	uint64_t entry[MMU_EVENT_MAX_READS];      /* the entries' values as read */
	uint64_t page_base;     /* physical base of the page (0 on a fault) */
	uint32_t cycles;        /* walk cycles (page-walk-cache latency + timed reads) */
	uint16_t pcid;
	uint8_t acc;
	uint8_t nreads;         /* entries in entry_pa[] */
	uint8_t first_level;    /* paging level of entry_pa[0] (4 = PML5E … 0 = PTE) */
	uint8_t timed_reads;    /* reads actually performed (nreads minus those skipped) */
	int8_t pwc_hit_level;   /* level whose page-walk cache hit (reads at and above it were
	                           skipped), -1 when none hit */
	uint8_t ad_writes;      /* Accessed/Dirty bits the walk set */
	uint8_t size;           /* enum tlb_size of the translation */
	bool fault;             /* the walk faulted */
};

/* Invalidations. MMU_INV_FAULT is the architectural invalidation of a #PF (the faulting
 * address's TLB entries and its page-walk-cache entries); MMU_INV_DROP is the timing model
 * dropping one stale entry (all levels) before re-walking. */
enum mmu_inv_kind {
	MMU_INV_INVLPG = 0,
	MMU_INV_PCID,         /* non-global entries of one PCID */
	MMU_INV_ALL,          /* all non-global entries */
	MMU_INV_ALL_GLOBAL,   /* everything */
	MMU_INV_FAULT,
	MMU_INV_DROP,
	MMU_INV_NKINDS
};

struct mmu_inv_event {
	uint64_t va;          /* INVLPG, FAULT, DROP */
	uint32_t entries;     /* TLB entries dropped (all levels) */
	uint16_t pcid;
	uint8_t kind;         /* enum mmu_inv_kind */
};

struct mmu_observer {
	void (*lookup)(void *ctx, const struct mmu_lookup_event *e);
	void (*walk)(void *ctx, const struct mmu_walk_event *e);
	void (*inv)(void *ctx, const struct mmu_inv_event *e);
	void *ctx;
};

#endif
