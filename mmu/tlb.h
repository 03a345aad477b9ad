/* tlb.h — one set-associative translation cache array of any geometry.
 *
 * A `struct tlb_array` is what a TLB level is built from: Intel builds an L1 DTLB from one array
 * per page size, AMD one array for all sizes; a second-level STLB holds 4 KiB and 2 MiB entries
 * (optionally a separate 1 GiB array). Page-walk caches (PML4E/PDPTE/PDE caches) reuse the same
 * array with the tag in `vpn` and the cached entry value in `pfn`.
 *
 * Geometry is configuration: any number of entries and ways with entries % ways == 0 (1536 × 12
 * is fine; ways == entries is fully associative). The set index is vpn modulo the number of sets
 * (no power-of-two requirement). Replacement: true LRU, tree pseudo-LRU (ways rounded up to a
 * power of two in the tree, unused leaves never chosen), FIFO, or random with a fixed seed.
 *
 * Entries carry the PCID and the global bit. Invalidation follows the Intel SDM §4.10.4:
 * INVLPG drops the entries for the address in the given PCID and global entries for it in any
 * PCID; a PCID flush (MOV CR3 without NOFLUSH) drops that PCID's non-global entries; a full flush
 * drops all non-global entries, or everything including global ones (CR4.PGE toggle).
 *
 * Plain C, libc only; no allocation after tlb_array_new.
 */
#ifndef MMUEMU_TLB_H
#define MMUEMU_TLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Page-size classes a TLB entry maps. TLB_2M also holds 4 MiB pages of 2-level paging. */
enum tlb_size { TLB_4K = 0, TLB_2M = 1, TLB_1G = 2, TLB_NSIZES };
#define TLB_SIZE_BIT(s) (1u << (s))

enum tlb_policy { TLB_POLICY_LRU, TLB_POLICY_PLRU, TLB_POLICY_FIFO, TLB_POLICY_RANDOM, TLB_NPOLICIES };

#define TLB_NAME_LEN 24

struct tlb_array_config {
	char name[TLB_NAME_LEN]; /* for reports and error messages, e.g. "L1D-4K", "STLB" */
	unsigned entries;        /* total entries; 0 = the array does not exist */
	unsigned ways;           /* associativity; entries % ways == 0; ways == entries: fully associative */
	unsigned sizes;          /* TLB_SIZE_BIT() mask of the page sizes this array holds */
	enum tlb_policy policy;
	unsigned latency;        /* cycles for a hit in this array */
	uint64_t seed;           /* TLB_POLICY_RANDOM: seed of its generator */
};

struct tlb_entry {
	uint64_t vpn;            /* virtual page number in units of the entry's page size (or a PWC tag) */
	uint64_t pfn;            /* physical base >> 12 (or the cached paging-structure entry of a PWC) */
	uint16_t pcid;
	uint8_t size;            /* enum tlb_size */
	uint8_t perms;           /* MMU_PERM_* (walk.h) */
	bool global;
	bool dirty;              /* leaf D was set when the entry was filled or updated */
	bool user;
	bool valid;
};

struct tlb_array;

/* Checks a configuration. false with a message naming the array and the parameter
 * ("STLB: entries (1536) must be divisible by ways (7)", "L1D-4K: ways must be at least 1",
 * "L1D-4K: no page sizes", "L1I: unknown replacement policy", …). entries == 0 (no array) is
 * valid and nothing else is checked. */
bool tlb_array_config_valid(const struct tlb_array_config *cfg, char *err, size_t errlen);
/* Parses "lru", "plru" (also "tree-plru"), "fifo", "random" (any case); false if unknown. */
bool tlb_policy_parse(const char *s, enum tlb_policy *out);
const char *tlb_policy_name(enum tlb_policy p);

/* A new, empty array. NULL with a message (tlb_array_config_valid's, entries == 0, or out of
 * memory). */
struct tlb_array *tlb_array_new(const struct tlb_array_config *cfg, char *err, size_t errlen);
void tlb_array_free(struct tlb_array *t);
const struct tlb_array_config *tlb_array_config_of(const struct tlb_array *t);

/* Looks up vpn of the given size for pcid; a global entry matches any pcid. On a hit returns the
 * entry (the caller may update pfn/perms/dirty/user in place, never vpn/size/pcid/global/valid)
 * and marks it used for the replacement policy (FIFO: no change). NULL on a miss. Never
 * allocates. At most one entry can match (see tlb_array_insert); a vpn >= 2^62 never does. */
struct tlb_entry *tlb_array_lookup(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid);
/* Looks up without touching the replacement state (for tests and traces). */
const struct tlb_entry *tlb_array_probe(const struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid);
/* Inserts e (e->valid is forced true; asserts that e->size is one of the array's sizes and that
 * e->vpn < 2^62, which any va >> 12 is). An existing entry that conflicts with e — same (vpn,
 * size) and same pcid, or either of them global, i.e. one lookup could hit both — is replaced in
 * place and counts as a new insertion (if e is global and several conflict, the others are
 * dropped). Otherwise the lowest free way of the set is used, else the policy's victim: then the
 * victim is copied to *victim (if non-NULL) and true is returned. So no two entries of an array
 * ever match the same lookup. */
bool tlb_array_insert(struct tlb_array *t, const struct tlb_entry *e, struct tlb_entry *victim);

/* Invalidation; each returns the number of valid entries dropped.
 *
 * For each page size the array holds, drops the entry for vpn = va >> (that size's shift, see
 * tlb_array_set_page_shift) in pcid and the global one for it (filled under any pcid). */
unsigned tlb_array_invlpg(struct tlb_array *t, uint64_t va, unsigned pcid);   /* va: a linear address */
/* Drops the non-global entries filled under pcid; include_global: also the global entries filled
 * under pcid (global entries of other PCIDs stay). */
unsigned tlb_array_flush_pcid(struct tlb_array *t, unsigned pcid, bool include_global);
/* Drops all non-global entries; include_global: every entry. */
unsigned tlb_array_flush_all(struct tlb_array *t, bool include_global);
/* Drops the entry for (vpn, size) in pcid and the global one, if present (used by #PF, which
 * invalidates the faulting address). 0 if the array does not hold that size. */
unsigned tlb_array_drop(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid);

/* The page shift invlpg uses for entries of `size`: tlb_size_shift(size) by default; set
 * TLB_2M to 22 while the array caches 2-level paging (4 MiB pages). Change it only when the
 * array holds no entries of that size (a paging-mode change flushes everything anyway). */
void tlb_array_set_page_shift(struct tlb_array *t, enum tlb_size size, unsigned shift);

unsigned tlb_array_valid_entries(const struct tlb_array *t);
/* Number of sets, and the set a vpn maps to (for callers that keep per-set state). */
unsigned tlb_array_sets(const struct tlb_array *t);
size_t tlb_array_set_index(const struct tlb_array *t, uint64_t vpn);
/* Self-check: replacement state consistent, no two entries of a set matching one lookup, every
 * entry in the set its vpn maps to, sizes allowed, valid-entry count right. NULL if consistent,
 * else a reason (a static per-thread buffer, valid until the next call). */
const char *tlb_array_check(const struct tlb_array *t);

/* Shift of a page-size class (12, 21, 30; 22 for TLB_2M under 2-level paging is the caller's). */
static inline unsigned tlb_size_shift(enum tlb_size s)
{
	return s == TLB_4K ? 12 : s == TLB_2M ? 21 : 30;
}

#endif
