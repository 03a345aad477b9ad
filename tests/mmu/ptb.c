/* ptb.c — page-table builder and small helpers for the mmu tests (see mmu_test.h).
 *
 * The builder deliberately does not call paging_index/paging_entry_addr: it finds entries with
 * its own per-mode table of VA bit ranges, so a mistake in the format geometry shows up as a
 * walk that disagrees with the builder.
 */
#include "mmu_test.h"

#include <stdlib.h>
#include <string.h>

enum paging_mode all_modes[4] = { PAGING_2LEVEL, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

struct mode_cfg mode_default(enum paging_mode mode)
{
	struct mode_cfg c = { .mode = mode, .cr0 = CR0_PE | CR0_PG | CR0_WP };
	switch (mode) {
	case PAGING_2LEVEL:
		c.cr4 = CR4_PSE;
		c.maxphyaddr = 40;
		break;
	case PAGING_PAE:
		c.cr4 = CR4_PAE;
		c.efer = EFER_NXE;
		c.maxphyaddr = 40;
		break;
	case PAGING_4LEVEL:
		c.cr4 = CR4_PAE;
		c.efer = EFER_LME | EFER_LMA | EFER_NXE;
		c.maxphyaddr = 46;
		c.pdpe1gb = true;
		break;
	case PAGING_5LEVEL:
		c.cr4 = CR4_PAE | CR4_LA57;
		c.efer = EFER_LME | EFER_LMA | EFER_NXE;
		c.maxphyaddr = 52;
		c.pdpe1gb = true;
		break;
	}
	return c;
}

uint64_t rng_next(struct rng *g)
{
	/* splitmix64 */
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* VA bit range [lo, lo+width) of each level's index, written out per mode. */
static void level_bits(enum paging_mode mode, unsigned level, unsigned *lo, unsigned *width)
{
	static const unsigned lo32[] = { 12, 22 }, w32[] = { 10, 10 };
	static const unsigned lo64[] = { 12, 21, 30, 39, 48 }, w64[] = { 9, 9, 9, 9, 9 };
	if (mode == PAGING_2LEVEL) {
		*lo = lo32[level];
		*width = w32[level];
	} else {
		*lo = lo64[level];
		*width = (mode == PAGING_PAE && level == 2) ? 2 : w64[level];
	}
}

static unsigned levels_of(enum paging_mode mode)
{
	return mode == PAGING_2LEVEL ? 2 : mode == PAGING_PAE ? 3 : mode == PAGING_4LEVEL ? 4 : 5;
}

static unsigned esize_of(enum paging_mode mode)
{
	return mode == PAGING_2LEVEL ? 4 : 8;
}

uint64_t test_va(enum paging_mode mode)
{
	switch (mode) {
	case PAGING_2LEVEL: return 0x12345678u;                 /* PDE 0x48, PTE 0x345 */
	case PAGING_PAE:    return 0x8A5B6789u;                 /* PDPTE 2, PDE 0x52, PTE 0x1b6 */
	case PAGING_4LEVEL: return 0x00007F3C5A6B7ABCull;       /* indices 0xfe, 0xf1, 0x52, 0xb7 */
	case PAGING_5LEVEL: return 0x00A57F3C5A6B7ABCull;       /* + PML5 0xa5 */
	}
	return 0;
}

void ptb_init(struct ptb *b, const struct mode_cfg *cfg, uint64_t mem_bytes)
{
	memset(b, 0, sizeof *b);
	b->cfg = *cfg;
	cr_assert(paging_format_init(&b->fmt, cfg->cr0, cfg->cr4, cfg->efer, cfg->maxphyaddr,
				     cfg->pdpe1gb), "builder mode config must be valid");
	b->pm.base = calloc(1, mem_bytes);
	cr_assert_not_null(b->pm.base);
	b->pm.size = mem_bytes;
	b->next_frame = 0x1000;     /* frame 0 stays unused */
	b->root = ptb_alloc_frame(b);
}

void ptb_init_mode(struct ptb *b, enum paging_mode mode)
{
	struct mode_cfg c = mode_default(mode);
	ptb_init(b, &c, PTB_DEFAULT_MEM);
}

void ptb_fini(struct ptb *b)
{
	free(b->pm.base);
	b->pm.base = NULL;
}

uint64_t ptb_alloc_frame(struct ptb *b)
{
	uint64_t f = b->next_frame;
	cr_assert_leq(f + 0x1000, b->pm.size, "builder out of memory");
	b->next_frame += 0x1000;
	memset(b->pm.base + f, 0, 0x1000);
	return f;
}

uint64_t ptb_table_flags(const struct ptb *b, unsigned level)
{
	if (b->cfg.mode == PAGING_PAE && level == 2)
		return PTE_P;
	return PTE_P | PTE_RW | PTE_US;
}

static uint64_t rd(const struct ptb *b, uint64_t pa)
{
	uint64_t v = 0;
	memcpy(&v, b->pm.base + pa, esize_of(b->cfg.mode));
	return v;
}

static void wr(struct ptb *b, uint64_t pa, uint64_t v)
{
	memcpy(b->pm.base + pa, &v, esize_of(b->cfg.mode));
}

/* Table address held in a non-leaf entry. */
static uint64_t entry_table(const struct ptb *b, uint64_t e)
{
	if (b->cfg.mode == PAGING_2LEVEL)
		return e & 0xFFFFF000u;
	return e & 0x000FFFFFFFFFF000ull;
}

uint64_t ptb_entry_pa(const struct ptb *b, uint64_t va, unsigned level)
{
	unsigned top = levels_of(b->cfg.mode) - 1;
	uint64_t table = b->root;
	for (unsigned l = top;; l--) {
		unsigned lo, w;
		level_bits(b->cfg.mode, l, &lo, &w);
		uint64_t epa = table + ((va >> lo) & ((1ull << w) - 1)) * esize_of(b->cfg.mode);
		if (l == level)
			return epa;
		uint64_t e = rd(b, epa);
		cr_assert(e & PTE_P, "builder: level %u entry for va %#llx not present", l,
			  (unsigned long long)va);
		table = entry_table(b, e);
	}
}

uint64_t ptb_get(const struct ptb *b, uint64_t va, unsigned level)
{
	return rd(b, ptb_entry_pa(b, va, level));
}

void ptb_set(struct ptb *b, uint64_t va, unsigned level, uint64_t value)
{
	wr(b, ptb_entry_pa(b, va, level), value);
}

void ptb_map_flags(struct ptb *b, uint64_t va, uint64_t pa, unsigned leaf_level,
		   const uint64_t flags[PAGING_MAX_LEVELS])
{
	unsigned top = levels_of(b->cfg.mode) - 1;
	uint64_t table = b->root;
	for (unsigned l = top; l > leaf_level; l--) {
		unsigned lo, w;
		level_bits(b->cfg.mode, l, &lo, &w);
		uint64_t epa = table + ((va >> lo) & ((1ull << w) - 1)) * esize_of(b->cfg.mode);
		uint64_t e = rd(b, epa);
		uint64_t next = (e & PTE_P) ? entry_table(b, e) : ptb_alloc_frame(b);
		wr(b, epa, next | flags[l]);
		table = next;
	}
	unsigned lo, w;
	level_bits(b->cfg.mode, leaf_level, &lo, &w);
	uint64_t epa = table + ((va >> lo) & ((1ull << w) - 1)) * esize_of(b->cfg.mode);
	uint64_t e;
	if (leaf_level == 0) {
		e = pa | flags[0];
	} else if (b->cfg.mode == PAGING_2LEVEL) {
		/* 4 MiB page: bits 31:22, and physical bits 39:32 in PDE bits 20:13 */
		e = (pa & 0xFFC00000u) | (((pa >> 32) & 0xFF) << 13) | flags[leaf_level] | PTE_PS;
	} else {
		e = pa | flags[leaf_level] | PTE_PS;
	}
	wr(b, epa, e);
}

void ptb_map(struct ptb *b, uint64_t va, uint64_t pa, unsigned leaf_level, uint64_t leaf_flags)
{
	uint64_t flags[PAGING_MAX_LEVELS];
	for (unsigned l = 0; l < PAGING_MAX_LEVELS; l++)
		flags[l] = ptb_table_flags(b, l);
	flags[leaf_level] = leaf_flags;
	ptb_map_flags(b, va, pa, leaf_level, flags);
}

bool ptb_load(struct ptb *b, const char **err)
{
	return mmu_regs_init(&b->regs, &b->pm, b->cfg.cr0, b->root | b->cr3_low, b->cfg.cr4,
			     b->cfg.efer, b->cfg.maxphyaddr, b->cfg.pdpe1gb, err);
}

void ptb_load_ok(struct ptb *b)
{
	const char *err = NULL;
	bool ok = ptb_load(b, &err);
	cr_assert(ok, "mmu_regs_init failed: %s", err ? err : "?");
}

bool ptb_walk(struct ptb *b, const struct walk_req *req, unsigned flags, struct walk_result *r,
	      struct mmu_fault *f)
{
	memset(r, 0xA5, sizeof *r);   /* catch fields the walker forgets to fill */
	memset(f, 0xA5, sizeof *f);
	bool ok = mmu_walk(&b->regs, &b->pm, req, flags, r, f);
	if (ok) {
		const char *why = mmu_walk_check(&b->regs, &b->pm, req, r);
		cr_assert_null(why, "mmu_walk_check: %s (va %#llx)", why,
			       (unsigned long long)req->va);
	}
	return ok;
}

bool ptb_walk_simple(struct ptb *b, uint64_t va, enum mmu_access access, bool user,
		     unsigned flags, struct walk_result *r, struct mmu_fault *f)
{
	struct walk_req req = { .va = va, .access = access, .user = user };
	return ptb_walk(b, &req, flags, r, f);
}
