/* test_random.c — differential test: random page tables, control registers and requests in
 * every mode, mmu_walk against the naive reference walker (ref_walk.c). Both walk their own
 * copy of physical memory; after every case the two copies must be byte-identical (A/D updates
 * included), and every outcome field must agree. Coverage counters at the end make sure the
 * random tables really reached every kind of outcome.
 *
 * The tables are random bytes shaped to be interesting: a small pool of frames whose entries
 * point back into the pool (so walks go deep), with biased P/R/W/U/S/XD/PS bits, occasional
 * reserved bits, misaligned large pages, PSE-36 bits, and pointers past the end of memory.
 */
#include "mmu_test.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define POOL_FRAMES     16      /* modelled memory: 64 KiB, all of it page tables */
#define CASES_PER_MODE  40000
#define CASES_PER_TABLE 64      /* fresh random tables after this many cases */
#define NGOOD_PDPT      4       /* PAE: PDPT slots cleaned of reserved bits per table set */

static uint64_t random_entry(struct rng *g, enum paging_mode mode, unsigned maxphy)
{
	uint64_t e = 0;
	if (rng_chance(g, 92)) e |= PTE_P;
	if (rng_chance(g, 80)) e |= PTE_RW;
	if (rng_chance(g, 80)) e |= PTE_US;
	if (rng_chance(g, 50)) e |= PTE_A;
	if (rng_chance(g, 50)) e |= PTE_D;
	if (rng_chance(g, 15)) e |= PTE_PS;
	if (rng_chance(g, 30)) e |= PTE_G;
	e |= rng_next(g) & (PTE_PWT | PTE_PCD | PTE_SOFTW1 | PTE_SOFTW2 | PTE_SOFTW3 | PTE_PAT_LARGE);
	e |= (uint64_t)rng_below(g, POOL_FRAMES) << PAGE_SHIFT_4K;

	if (mode == PAGING_2LEVEL) {
		if ((e & PTE_PS) && rng_chance(g, 60)) {
			/* a 4 MiB leaf: clear 21:13, then maybe PSE-36 high bits, rarely bit 21 */
			e &= ~PAGING_BITS(21, 13);
			if (rng_chance(g, 50))
				e |= rng_next(g) & PDE32_PSE36_MASK;
			if (rng_chance(g, 4))
				e |= PDE32_4M_RSVD;
		}
		if (rng_chance(g, 6))
			e |= rng_next(g) & PAGING_BITS(31, 16);   /* points outside memory */
		return e & 0xFFFFFFFFu;
	}
	if ((e & PTE_PS) && rng_chance(g, 60))
		e &= ~PAGING_BITS(29, 13);   /* aligned large page (bit 12 = PAT kept) */
	if (rng_chance(g, 5))
		e |= rng_next(g) & PAGING_BITS(29, 13);   /* misaligned / outside memory */
	if (rng_chance(g, 5))
		e |= (rng_next(g) & PAGING_BITS(maxphy - 1, 16)) & ~PAGING_BITS(29, 16); /* high page */
	if (rng_chance(g, 2))
		e |= PAGING_BIT(maxphy + rng_below(g, 64 - maxphy));   /* >= MAXPHYADDR */
	if (rng_chance(g, 3))
		e |= PAGING_BIT(52 + rng_below(g, 11));                /* 62:52 */
	if (rng_chance(g, 15))
		e |= PTE_NX;
	return e;
}

static void fill_tables(struct rng *g, uint8_t *mem, enum paging_mode mode, unsigned maxphy)
{
	unsigned esz = mode == PAGING_2LEVEL ? 4 : 8;
	for (uint64_t off = 0; off < POOL_FRAMES * PAGE_SIZE_4K; off += esz) {
		uint64_t e = random_entry(g, mode, maxphy);
		memcpy(mem + off, &e, esz);
	}
}

struct coverage {
	unsigned ok, not_present, rsvd, prot, gp, oob, bad_regs;
	unsigned leaf[PAGING_MAX_LEVELS];
	unsigned fault_level[PAGING_MAX_LEVELS + 1];
	unsigned ad_writes;
};

static const unsigned phys_choices_32[] = { 32, 36, 40, 46 };
static const unsigned phys_choices_64[] = { 36, 40, 46, 52 };

static struct mode_cfg random_cfg(struct rng *g, enum paging_mode mode)
{
	struct mode_cfg c = mode_default(mode);
	c.maxphyaddr = mode == PAGING_2LEVEL ? phys_choices_32[rng_below(g, 4)]
					     : phys_choices_64[rng_below(g, 4)];
	c.pdpe1gb = rng_chance(g, 50);
	if (mode == PAGING_2LEVEL && rng_chance(g, 25))
		c.cr4 &= ~CR4_PSE;
	if (rng_chance(g, 30))
		c.efer &= ~EFER_NXE;
	else if (rng_chance(g, 20))
		c.efer |= EFER_NXE;   /* 2-level: must have no effect */
	return c;
}

static void run_random(enum paging_mode mode, uint64_t seed)
{
	const uint64_t size = POOL_FRAMES * PAGE_SIZE_4K;
	uint8_t *mem_a = malloc(size), *mem_b = malloc(size);
	struct rng g = { seed };
	struct coverage cov = { 0 };
	struct mode_cfg cfg = mode_default(mode);
	uint64_t good_pdpt[NGOOD_PDPT] = { 0 };
	cr_assert(mem_a && mem_b);

	for (unsigned n = 0; n < CASES_PER_MODE; n++) {
		if (n % CASES_PER_TABLE == 0) {
			cfg = random_cfg(&g, mode);
			fill_tables(&g, mem_a, mode, cfg.maxphyaddr);
			if (mode == PAGING_PAE) {
				/* a few loadable PDPTs: reserved bits cleared (each entry 97%) */
				for (unsigned i = 0; i < NGOOD_PDPT; i++) {
					good_pdpt[i] = (uint64_t)rng_below(&g, size / PAE_PDPT_BYTES) *
						       PAE_PDPT_BYTES;
					for (unsigned k = 0; k < PAE_NR_PDPTE; k++) {
						uint64_t e, off = good_pdpt[i] + 8 * k;
						memcpy(&e, mem_a + off, 8);
						e &= ~(PAE_PDPTE_RSVD_LOW |
						       PAGING_BITS(63, cfg.maxphyaddr));
						if (rng_chance(&g, 97))
							memcpy(mem_a + off, &e, 8);
					}
				}
			}
			memcpy(mem_b, mem_a, size);
		}

		/* control bits that do not change the format: per case */
		struct mode_cfg c = cfg;
		c.cr0 = CR0_PE | CR0_PG | (rng_chance(&g, 70) ? CR0_WP : 0);
		c.cr4 |= (rng_chance(&g, 30) ? CR4_SMEP : 0) | (rng_chance(&g, 30) ? CR4_SMAP : 0) |
			 (rng_chance(&g, 50) ? CR4_PGE : 0);
		uint64_t cr3;
		if (mode == PAGING_PAE) {
			cr3 = rng_chance(&g, 90) ? good_pdpt[rng_below(&g, NGOOD_PDPT)]
						 : (uint64_t)rng_below(&g, size / PAE_PDPT_BYTES) *
							   PAE_PDPT_BYTES;
			cr3 |= rng_next(&g) & (CR3_PWT | CR3_PCD);
		} else {
			cr3 = (uint64_t)rng_below(&g, POOL_FRAMES) << PAGE_SHIFT_4K;
			cr3 |= rng_next(&g) & (CR3_PWT | CR3_PCD);
		}
		if (mode <= PAGING_PAE && rng_chance(&g, 10))
			cr3 |= rng_next(&g) << 32;            /* ignored in 32-bit modes */
		if (mode >= PAGING_4LEVEL) {
			if (rng_chance(&g, 30)) {
				c.cr4 |= CR4_PCIDE;
				cr3 |= rng_next(&g) & (CR3_PCID_MASK | CR3_NOFLUSH);
			}
			if (rng_chance(&g, 3))
				cr3 |= PAGING_BIT(c.maxphyaddr + rng_below(&g, 64 - c.maxphyaddr));
		}

		uint64_t va = rng_next(&g);
		if (mode <= PAGING_PAE) {
			if (rng_chance(&g, 90))
				va &= 0xFFFFFFFFu;
		} else if (rng_chance(&g, 92)) {
			unsigned vab = mode == PAGING_4LEVEL ? 48 : 57;
			va = (uint64_t)((int64_t)(va << (64 - vab)) >> (64 - vab));
		}
		enum mmu_access acc = rng_below(&g, 3);
		bool user = rng_chance(&g, 50), implicit = rng_chance(&g, 10), ac = rng_chance(&g, 30);
		bool set_ad = rng_chance(&g, 60);

		struct mmu_phys pm = { mem_a, size };
		struct mmu_regs regs;
		const char *err = NULL;
		bool regs_ok = mmu_regs_init(&regs, &pm, c.cr0, cr3, c.cr4, c.efer, c.maxphyaddr,
					     c.pdpe1gb, &err);
		struct ref_machine m = { .cr0 = c.cr0, .cr3 = cr3, .cr4 = c.cr4, .efer = c.efer,
					 .maxphyaddr = c.maxphyaddr, .pdpe1gb = c.pdpe1gb,
					 .mem = mem_b, .mem_size = size };
		bool ref_ok = ref_load(&m);
		cr_assert_eq(regs_ok, ref_ok, "case %u seed %#" PRIx64 ": regs_init %d (%s), ref %d",
			     n, seed, regs_ok, err ? err : "", ref_ok);
		if (!regs_ok) {
			cov.bad_regs++;
			continue;
		}
		if (mode == PAGING_PAE)
			cr_assert_eq(memcmp(regs.pdpte, m.pdpte, sizeof m.pdpte), 0);

		struct walk_req req = { .va = va, .access = acc, .user = user, .implicit = implicit,
					.ac = ac };
		struct walk_result r;
		struct mmu_fault f;
		struct ref_result want;
		memset(&r, 0x5A, sizeof r);
		memset(&f, 0x5A, sizeof f);
		bool ok = mmu_walk(&regs, &pm, &req, set_ad ? WALK_SET_AD : 0, &r, &f);
		ref_walk(&m, va, acc, user, implicit, ac, set_ad, &want);

#define CTX "%s case %u seed %#" PRIx64 ": va %#" PRIx64 " acc %u user %d impl %d ac %d cr0 %#" \
	PRIx64 " cr3 %#" PRIx64 " cr4 %#" PRIx64 " efer %#" PRIx64 " M %u 1g %d"
#define CTXARGS regs.fmt.name, n, seed, va, (unsigned)acc, user, implicit, ac, c.cr0, cr3, c.cr4, \
	c.efer, c.maxphyaddr, c.pdpe1gb
		cr_assert_eq(ok, want.ok, CTX ": walk %d (ec %#x lvl %u) ref %d (ec %#x lvl %u)",
			     CTXARGS, ok, ok ? 0 : f.error_code, ok ? 0 : f.level, want.ok,
			     want.error_code, want.fault_level);
		if (ok) {
			const char *why = mmu_walk_check(&regs, &pm, &req, &r);
			cr_assert_null(why, CTX ": %s", CTXARGS, why);
			cr_assert_eq(r.pa, want.pa, CTX ": pa %#" PRIx64 " want %#" PRIx64, CTXARGS,
				     r.pa, want.pa);
			cr_assert_eq(r.page_shift, want.page_shift, CTX, CTXARGS);
			cr_assert_eq(r.leaf_level, want.leaf_level, CTX, CTXARGS);
			cr_assert_eq(r.writable, want.writable, CTX, CTXARGS);
			cr_assert_eq(r.user, want.user, CTX, CTXARGS);
			cr_assert_eq(r.nx, want.nx, CTX, CTXARGS);
			cr_assert_eq(r.global, want.global, CTX, CTXARGS);
			cr_assert_eq(r.dirty, want.dirty, CTX, CTXARGS);
			cr_assert_eq(r.perms, want.perms, CTX ": perms %#x want %#x", CTXARGS,
				     r.perms, want.perms);
			cr_assert_eq(r.nwrites, want.nwrites, CTX, CTXARGS);
			cov.ok++;
			cov.leaf[r.leaf_level]++;
			cov.ad_writes += r.nwrites;
		} else {
			cr_assert_eq(f.gp, want.gp, CTX, CTXARGS);
			cr_assert_eq(f.error_code, want.error_code, CTX ": ec %#x want %#x", CTXARGS,
				     f.error_code, want.error_code);
			cr_assert_eq(f.level, want.fault_level, CTX ": level %u want %u", CTXARGS,
				     f.level, want.fault_level);
			cr_assert_eq(f.phys_oob, want.oob, CTX, CTXARGS);
			uint64_t va32 = mode <= PAGING_PAE ? (uint32_t)va : va;
			cr_assert_eq(f.cr2, va32, CTX, CTXARGS);
			if (f.gp)
				cov.gp++;
			else if (f.phys_oob)
				cov.oob++;
			else if (f.error_code & PF_ERR_RSVD)
				cov.rsvd++;
			else if (f.error_code & PF_ERR_P)
				cov.prot++;
			else
				cov.not_present++;
			cov.fault_level[f.level]++;
		}
		cr_assert_eq(r.nreads, want.nreads, CTX ": nreads %u want %u", CTXARGS, r.nreads,
			     want.nreads);
		for (unsigned i = 0; i < r.nreads; i++)
			cr_assert_eq(r.entry_pa[i], want.entry_pa[i], CTX, CTXARGS);
		cr_assert_eq(memcmp(mem_a, mem_b, size), 0, CTX ": memory differs after the walk",
			     CTXARGS);
#undef CTX
#undef CTXARGS
	}

	/* The random tables must have produced every kind of outcome. */
	unsigned levels = mode == PAGING_2LEVEL ? 2 : mode == PAGING_PAE ? 3 : mode == PAGING_4LEVEL ? 4 : 5;
	cr_log_info("%u: ok %u np %u rsvd %u prot %u gp %u oob %u badregs %u leaf %u/%u/%u ad %u",
		    mode, cov.ok, cov.not_present, cov.rsvd, cov.prot, cov.gp, cov.oob,
		    cov.bad_regs, cov.leaf[0], cov.leaf[1], cov.leaf[2], cov.ad_writes);
	cr_assert_gt(cov.ok, CASES_PER_MODE / 20, "too few successful walks: %u", cov.ok);
	cr_assert_gt(cov.not_present, 100);
	cr_assert_gt(cov.prot, 100);
	cr_assert_gt(cov.oob, 20);
	cr_assert_gt(cov.ad_writes, 100);
	cr_assert_gt(cov.leaf[0], 100);
	cr_assert_gt(cov.leaf[1], 100);
	if (mode >= PAGING_4LEVEL) {
		cr_assert_gt(cov.leaf[2], 50, "1 GiB leaves: %u", cov.leaf[2]);
		cr_assert_gt(cov.gp, 100);
	}
	cr_assert_gt(cov.rsvd, 50);
	if (mode == PAGING_PAE || mode >= PAGING_4LEVEL)
		cr_assert_gt(cov.bad_regs, 10);
	for (unsigned l = 0; l < levels; l++)
		cr_assert_gt(cov.fault_level[l], 10, "faults at level %u: %u", l, cov.fault_level[l]);
	free(mem_a);
	free(mem_b);
}

MODE_TEST(random, walker_matches_reference_on_random_tables)
{
	run_random(mode, 0xC0FFEE00u + (uint64_t)mode);
}

MODE_TEST(random, walker_matches_reference_with_a_second_seed)
{
	run_random(mode, 0x5EED0000DEADBEEFull ^ ((uint64_t)mode << 40));
}
