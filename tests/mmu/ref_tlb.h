/* ref_tlb.h — a tiny, deliberately naive second TLB array used only by the differential tests
 * in test_tlb.c. It shares no code with mmu/tlb.c (only the public types of tlb.h) and favours
 * the obvious formulation over speed:
 *  - LRU and FIFO keep each set as a list ordered oldest → newest (a hit moves an entry to the end
 *    for LRU; eviction takes the head), so it knows nothing of ways, stamps or clocks;
 *  - tree-PLRU keeps one bool per tree node and walks the tree top-down by leaf ranges;
 *  - RANDOM draws from its own copy of the same generator (splitmix64-seeded xorshift64).
 * The rules it implements are tlb.h's: a lookup hits an entry with the same vpn and size whose
 * pcid matches or which is global; an insert replaces the entries that conflict with it (one
 * lookup could hit both) and counts as new; a free way is used before a victim is chosen.
 * Also a small deterministic RNG for the tests.
 */
#ifndef MMUEMU_TESTS_REF_TLB_H
#define MMUEMU_TESTS_REF_TLB_H

#include <stdbool.h>
#include <stdint.h>

#include "tlb.h"

struct ref_tlb {
	unsigned sets, ways, sizes;
	enum tlb_policy policy;
	unsigned shift[TLB_NSIZES];
	/* LRU/FIFO: list[set][0 .. count[set]-1], oldest first.
	 * PLRU/RANDOM: slot[set][way], free when !valid. Both use the same storage `e`. */
	struct tlb_entry *e;
	unsigned *count;
	bool *node;            /* PLRU: [sets][2 * leaves], node n of a set's tree */
	unsigned leaves;       /* PLRU: smallest power of two >= ways */
	uint64_t rng;          /* RANDOM */
};

void ref_tlb_init(struct ref_tlb *r, const struct tlb_array_config *cfg);
void ref_tlb_fini(struct ref_tlb *r);
/* As tlb_array_lookup; on a hit *out gets the entry (if out != NULL), and a pointer to the stored
 * entry is returned so the caller can update it in place. */
struct tlb_entry *ref_tlb_lookup(struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid);
const struct tlb_entry *ref_tlb_probe(const struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid);
bool ref_tlb_insert(struct ref_tlb *r, const struct tlb_entry *e, struct tlb_entry *victim);
unsigned ref_tlb_invlpg(struct ref_tlb *r, uint64_t va, unsigned pcid);
unsigned ref_tlb_flush_pcid(struct ref_tlb *r, unsigned pcid, bool include_global);
unsigned ref_tlb_flush_all(struct ref_tlb *r, bool include_global);
unsigned ref_tlb_drop(struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid);
unsigned ref_tlb_valid_entries(const struct ref_tlb *r);
/* Copies every valid entry to out (room for sets * ways); returns how many. */
unsigned ref_tlb_entries(const struct ref_tlb *r, struct tlb_entry *out);

/* ---- test RNG (splitmix64) ----------------------------------------------------------------- */

struct trng { uint64_t s; };
uint64_t trng_next(struct trng *g);
static inline unsigned trng_below(struct trng *g, unsigned n) { return (unsigned)(trng_next(g) % n); }
static inline bool trng_chance(struct trng *g, unsigned percent) { return trng_below(g, 100) < percent; }

#endif
