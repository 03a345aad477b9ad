/* mrc.h — one-pass miss-rate curves of a fully associative LRU TLB (Mattson's stack algorithm).
 *
 * One run gives, for every TLB size N from 1 to a maximum, the number of misses a fully
 * associative LRU TLB of N entries would have had on the same lookup stream. One LRU stack is
 * kept per page-size class (4K, 2M/4M, 1G): the curve of a size class is that of an array that
 * holds only that size (like Intel's per-size L1 DTLB arrays).
 *
 * Which stream (mrc_observer): the lookups of one L1 level (the DTLB by default: loads, stores,
 * and under an l1_unified CPU fetches too; kernel accesses included), each keyed by the page of
 * the translation that answered it, in that page's size class. A lookup whose walk faulted
 * installs nothing and is not a reference. A folded fetch event (count > 1) is one reference
 * followed by count - 1 references to the page now on top of the stack (distance 1).
 *
 * Invalidations are applied as the TLB applies them: INVLPG, a #PF invalidation and a stale-entry
 * drop remove the address's entries of every size in the PCID and the global ones; a PCID flush
 * the PCID's non-global entries; a full flush all non-global entries, or everything. In an LRU
 * TLB an invalidated entry leaves a free slot that the next miss fills without evicting anything,
 * so an invalidated entry becomes a *hole* in the stack: it keeps its depth; the next reference
 * from below it (or a cold one) consumes the topmost hole instead of pushing every deeper entry
 * down, and a re-referenced entry's old slot becomes a hole when the shift stopped above it. With
 * holes counted as slots, a reference at depth d hits exactly in the TLBs of d or more entries,
 * for every N at once. Depths never decrease, so a slot pushed below the maximum is forgotten
 * (its next reference counts as a miss at every size, "> max").
 *
 * Cost: O(log W) per reference with W about twice the maximum (a Fenwick tree over slot
 * positions, a hash from page to position, a max-heap of hole positions); O(max) per full flush.
 * Plain C, libc only.
 */
#ifndef MMUEMU_MRC_H
#define MMUEMU_MRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlb.h"
#include "mmu_event.h"

#define MRC_DEFAULT_MAX 4096u
#define MRC_MAX_LIMIT (1u << 20)   /* largest --mrc-max accepted */

struct mrc;

/* A new, empty set of stacks for sizes 1..max_entries (1 <= max_entries <= MRC_MAX_LIMIT).
 * level: the L1 level whose lookups mrc_observer() counts (enum mmu_level_id: 0 ITLB, 1 DTLB).
 * large_shift: the page shift of the TLB_2M class (21, or 22 under 2-level paging), used to
 * turn invalidated addresses into page numbers. NULL with a message on bad arguments or out of
 * memory. */
struct mrc *mrc_new(unsigned max_entries, unsigned level, unsigned large_shift, char *err, size_t errlen);
void mrc_free(struct mrc *m);

/* One reference to page vpn (in units of the size class) filled under pcid; global pages are one
 * entry for every PCID. count >= 1: count - 1 repeats follow at distance 1. */
void mrc_ref(struct mrc *m, enum tlb_size size, uint64_t vpn, unsigned pcid, bool global, uint64_t count);
/* Drops the entry of vpn in pcid and the global one (one size class). */
void mrc_inv_page(struct mrc *m, enum tlb_size size, uint64_t vpn, unsigned pcid);
/* INVLPG of a linear address: mrc_inv_page for every size class. */
void mrc_inv_addr(struct mrc *m, uint64_t va, unsigned pcid);
/* Drops the non-global entries of pcid. */
void mrc_inv_pcid(struct mrc *m, unsigned pcid);
/* Drops every non-global entry; include_global: every entry. */
void mrc_inv_all(struct mrc *m, bool include_global);

/* An observer (mmu_event.h) that feeds the level's lookups and every invalidation to m. */
struct mmu_observer mrc_observer(struct mrc *m);

unsigned mrc_max(const struct mrc *m);
unsigned mrc_level(const struct mrc *m);
/* References (lookups) of a size class. */
uint64_t mrc_refs(const struct mrc *m, enum tlb_size size);
/* References that found no entry at any size up to the maximum (first touch, invalidated, or
 * pushed below the maximum): misses of every TLB size. */
uint64_t mrc_cold(const struct mrc *m, enum tlb_size size);
/* Misses of a fully associative LRU TLB of `entries` entries (1..max) for the size class. */
uint64_t mrc_misses(const struct mrc *m, enum tlb_size size, unsigned entries);
/* The whole curve: out[n] = misses at n entries for n = 1..max (out has max + 1 elements; out[0]
 * = references). */
void mrc_curve(const struct mrc *m, enum tlb_size size, uint64_t *out);

/* The configured size of the modelled level's array for each size class (0: none), shown next
 * to the curve in reports. */
void mrc_set_configured(struct mrc *m, enum tlb_size size, unsigned entries);
unsigned mrc_configured(const struct mrc *m, enum tlb_size size);

/* The sizes at which reports list a curve: powers of two up to the maximum, the configured size
 * and the maximum. Returns how many were written to out (at most cap), ascending. */
unsigned mrc_report_sizes(const struct mrc *m, enum tlb_size size, unsigned *out, unsigned cap);

/* Self-check: every stack's counts, hash and positions agree. NULL if consistent. */
const char *mrc_check(const struct mrc *m);

#endif
