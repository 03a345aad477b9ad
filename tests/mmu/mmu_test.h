/* mmu_test.h — shared helpers of the mmu unit tests: default control registers per paging
 * mode, a page-table builder over a byte array (independent of walk.c: it computes entry
 * addresses from its own constants), a deterministic RNG, and the naive reference walker
 * (ref_walk.c) the random differential tests compare against.
 */
#ifndef MMUEMU_TESTS_MMU_TEST_H
#define MMUEMU_TESTS_MMU_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "paging.h"
#include "walk.h"

/* ---- modes --------------------------------------------------------------------------------- */

struct mode_cfg {
	enum paging_mode mode;
	uint64_t cr0, cr4, efer;
	unsigned maxphyaddr;
	bool pdpe1gb;
};

/* Defaults: PE|PG|WP; 2-level with PSE (M = 40), PAE with NXE (M = 40), 4-level with NXE and
 * 1 GiB pages (M = 46), 5-level (M = 52). */
struct mode_cfg mode_default(enum paging_mode mode);

extern enum paging_mode all_modes[4];

/* A Criterion test run once per paging mode; the body sees `enum paging_mode mode`. */
#define MODE_TEST(suite, name)                                                              \
	ParameterizedTestParameters(suite, name)                                            \
	{                                                                                   \
		return cr_make_param_array(enum paging_mode, all_modes, 4);                 \
	}                                                                                   \
	static void suite##_##name##_body(enum paging_mode mode);                           \
	ParameterizedTest(enum paging_mode *mode_p, suite, name)                            \
	{                                                                                   \
		suite##_##name##_body(*mode_p);                                             \
	}                                                                                   \
	static void suite##_##name##_body(enum paging_mode mode)

/* ---- page-table builder --------------------------------------------------------------------- */

#define PTB_DEFAULT_MEM (UINT64_C(4) << 20)   /* 4 MiB of modelled RAM */

struct ptb {
	struct mode_cfg cfg;       /* registers used by ptb_load; tests may change them */
	struct paging_format fmt;  /* derived from cfg (geometry for building) */
	struct mmu_phys pm;
	struct mmu_regs regs;      /* valid after ptb_load */
	uint64_t root;             /* top table (PAE: the frame holding the PDPT at offset 0) */
	uint64_t next_frame;       /* bump allocator */
	uint64_t cr3_low;          /* extra CR3 bits ORed in by ptb_load (PCID, PWT/PCD, ...) */
};

void ptb_init(struct ptb *b, const struct mode_cfg *cfg, uint64_t mem_bytes);
void ptb_init_mode(struct ptb *b, enum paging_mode mode);   /* defaults, PTB_DEFAULT_MEM */
void ptb_fini(struct ptb *b);
uint64_t ptb_alloc_frame(struct ptb *b);                    /* a zeroed 4 KiB frame */

/* Upper-level flags used by ptb_map: P|RW|US (a PAE PDPTE: P only). */
uint64_t ptb_table_flags(const struct ptb *b, unsigned level);

/* Maps va to pa with the leaf at leaf_level (0 = 4K, 1 = 2M/4M, 2 = 1G). flags[l] are the
 * flags of the entry at level l on the path (the leaf's at flags[leaf_level]); missing tables
 * are allocated; existing table entries on the path get their flags replaced. */
void ptb_map_flags(struct ptb *b, uint64_t va, uint64_t pa, unsigned leaf_level,
		   const uint64_t flags[PAGING_MAX_LEVELS]);
/* Same with ptb_table_flags() above the leaf. */
void ptb_map(struct ptb *b, uint64_t va, uint64_t pa, unsigned leaf_level, uint64_t leaf_flags);

/* Physical address of va's entry at `level` (every level above must be present). */
uint64_t ptb_entry_pa(const struct ptb *b, uint64_t va, unsigned level);
uint64_t ptb_get(const struct ptb *b, uint64_t va, unsigned level);
void ptb_set(struct ptb *b, uint64_t va, unsigned level, uint64_t value);

/* mmu_regs_init from cfg and root; returns its result (err may be NULL). */
bool ptb_load(struct ptb *b, const char **err);
/* ptb_load, asserting success. */
void ptb_load_ok(struct ptb *b);

/* mmu_walk of va with b->regs; checks mmu_walk_check on success. */
bool ptb_walk(struct ptb *b, const struct walk_req *req, unsigned flags, struct walk_result *r,
	      struct mmu_fault *f);
/* Shorthand: explicit access, AC = 0. */
bool ptb_walk_simple(struct ptb *b, uint64_t va, enum mmu_access access, bool user,
		     unsigned flags, struct walk_result *r, struct mmu_fault *f);

/* A VA whose index at every level is distinct and non-zero (exercises index arithmetic). */
uint64_t test_va(enum paging_mode mode);

/* ---- RNG ------------------------------------------------------------------------------------ */

struct rng { uint64_t s; };
uint64_t rng_next(struct rng *g);
static inline unsigned rng_below(struct rng *g, unsigned n) { return (unsigned)(rng_next(g) % n); }
static inline bool rng_chance(struct rng *g, unsigned percent) { return rng_below(g, 100) < percent; }

/* ---- the reference walker (ref_walk.c) ------------------------------------------------------ */

/* Everything the reference needs, as plain values; it shares no code with mmu/ except the
 * enum mmu_access values. */
struct ref_machine {
	uint64_t cr0, cr3, cr4, efer;
	unsigned maxphyaddr;
	bool pdpe1gb;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t pdpte[4];      /* PAE: registers loaded by ref_load_pdptes */
};

struct ref_result {
	bool ok;
	bool gp;
	/* success */
	uint64_t pa;
	unsigned page_shift;
	unsigned leaf_level;
	bool writable, user, nx, global, dirty;
	unsigned perms;         /* bit per access kind allowed for this request's mode */
	unsigned nwrites;
	/* fault */
	uint32_t error_code;
	unsigned fault_level;
	bool oob;
	/* both */
	unsigned nreads;
	uint64_t entry_pa[5];
};

/* The mode the registers select: 2, 3 (PAE), 4, 5 levels; 0 if paging is off or invalid. */
int ref_levels(const struct ref_machine *m);
/* Loads the PAE PDPTE registers; false if the PDPT is outside memory or a present PDPTE has a
 * reserved bit. Also checks IA-32e CR3 reserved bits. true for other modes. */
bool ref_load(struct ref_machine *m);
void ref_walk(struct ref_machine *m, uint64_t va, enum mmu_access access, bool user,
	      bool implicit, bool ac, bool set_ad, struct ref_result *out);

#endif
