/* timing.h — the timed translation path: L1 ITLB/DTLB → STLB → page-walk caches → page walk,
 * with cycle costs and statistics. One `struct mmu_timing` per modelled CPU.
 *
 * mmu_timing_access() is called for every modelled memory access (data accesses from the memory
 * hooks, instruction fetches from the block hook). It returns the translation cycles beyond an
 * L1 TLB hit: the STLB hit latency on an L1 miss, the walk (page-walk-cache hit latency plus one
 * page-table read per remaining level, each read costed by the fixed or cache model) on an STLB
 * miss, and the Dirty assist on a first write through a TLB entry whose D bit is clear. The walk
 * is the real one (mmu_walk with WALK_SET_AD): Accessed and Dirty are set in the guest's PTEs.
 *
 * The functional path (Unicorn's own TLB and the fill hook) decides faults; this path only
 * times translations that succeeded. Whenever the kernel model changes a present translation it
 * must call mmu_timing_invlpg or mmu_timing_flush, exactly as Linux flushes the hardware TLB.
 */
#ifndef MMUEMU_TIMING_H
#define MMUEMU_TIMING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mmu_config.h"
#include "walk.h"
#include "mmu_event.h"

enum mmu_level_id { MMU_ITLB, MMU_DTLB, MMU_STLB, MMU_NLEVELS };

/* Statistics of one TLB array: [page size][access kind]. */
struct tlb_array_stats {
	uint64_t hits[TLB_NSIZES][3];
	uint64_t fills[TLB_NSIZES];
	uint64_t evictions;
};

/* Statistics of one TLB level. accesses/misses by access kind (READ/WRITE/FETCH) and by the
 * page size of the translation (known after the walk for misses). */
struct tlb_level_stats {
	uint64_t accesses[3];
	uint64_t misses[3];
	uint64_t misses_by_size[TLB_NSIZES];
	uint64_t hits_by_size[TLB_NSIZES];
	struct tlb_array_stats arrays[MMU_MAX_ARRAYS];
};

enum mmu_flush_kind { FLUSH_INVLPG, FLUSH_PCID, FLUSH_ALL, FLUSH_ALL_GLOBAL, FLUSH_NKINDS };

struct mmu_timing_stats {
	struct tlb_level_stats level[MMU_NLEVELS];
	uint64_t pwc_lookups[MMU_PWC_LEVELS], pwc_hits[MMU_PWC_LEVELS];
	uint64_t walks, walk_reads, walk_cycles, walk_faults;
	uint64_t walks_by_size[TLB_NSIZES];
	uint64_t walk_hist[16];            /* walk cycles, log2 buckets: [0] < 2, [i] in [2^i, 2^(i+1)) */
	uint64_t accessed_set, dirty_set;  /* A bits and D bits the timing walks and assists set */
	uint64_t dirty_assists;
	uint64_t flushes[FLUSH_NKINDS], flushed_entries[FLUSH_NKINDS];
	uint64_t pt_cache_hits[4];         /* PT_LATENCY_CACHE: reads served by L1, L2, LLC, DRAM */
	uint64_t stlb_cycles;              /* cycles spent on STLB hits after L1 misses */
	uint64_t assist_cycles;
	uint64_t translation_cycles;       /* everything above */
};

struct mmu_timing;

/* A new timing model for cfg under the paging format fmt (which gives the large-page size class:
 * 4 MiB under 2-level paging, else 2 MiB, and the page-walk-cache tags). NULL with a message on a
 * bad configuration. */
struct mmu_timing *mmu_timing_new(const struct mmu_config *cfg, const struct paging_format *fmt, char *err,
				  size_t errlen);
void mmu_timing_free(struct mmu_timing *t);
const struct mmu_config *mmu_timing_config(const struct mmu_timing *t);
/* The statistics, with the derived totals brought up to date. */
const struct mmu_timing_stats *mmu_timing_stats(struct mmu_timing *t);

/* Times one access to va of the given kind in user mode (or supervisor when !user), under the
 * address space given by regs. Returns translation cycles beyond an L1 TLB hit. */
uint64_t mmu_timing_access(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
			   uint64_t va, enum mmu_access acc, bool user);

/* Times the instruction fetches of one executed basic block [addr, addr+size): one ITLB access
 * per aligned fetch_bytes block it touches (the modelled fetch granularity). Equivalent to
 * calling mmu_timing_access(MMU_FETCH) for each, but the blocks after the first in a page are
 * counted as the hits they are without a lookup. */
uint64_t mmu_timing_fetch(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
			  uint64_t addr, uint32_t size, unsigned fetch_bytes);

/* Invalidation (SDM §4.10.4.1): INVLPG drops va's entries in all TLB levels (this PCID and global
 * ones) and every page-walk-cache entry of the PCID; FLUSH_PCID drops the PCID's non-global
 * entries; FLUSH_ALL all non-global entries; FLUSH_ALL_GLOBAL everything. A #PF invalidates
 * the faulting address's TLB entries and only the page-walk-cache entries that would be used
 * for it (fault = true: not counted as a flush). */
void mmu_timing_invlpg(struct mmu_timing *t, uint64_t va, unsigned pcid, bool fault);
void mmu_timing_flush(struct mmu_timing *t, enum mmu_flush_kind kind, unsigned pcid);

/* MOV to CR3 (SDM §4.10.4.1): with CR4.PCIDE clear, all non-global TLB entries and all
 * page-walk-cache entries go; with PCIDE set and bit 63 (CR3_NOFLUSH) clear, the non-global
 * entries of the new PCID go; with NOFLUSH set nothing is invalidated. Global entries survive
 * every CR3 write. Returns the PCID now current. */
unsigned mmu_timing_cr3_write(struct mmu_timing *t, uint64_t new_cr3, bool pcide);

/* Attaches an observer (mmu_event.h) that sees every lookup, walk and invalidation from now on;
 * NULL detaches. The observer is copied. */
void mmu_timing_set_observer(struct mmu_timing *t, const struct mmu_observer *obs);

/* Self-check of every array. NULL if consistent. */
const char *mmu_timing_check(const struct mmu_timing *t);

const char *mmu_level_name(enum mmu_level_id l);
const char *mmu_flush_kind_name(enum mmu_flush_kind k);

#endif
