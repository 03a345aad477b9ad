/* Unit tests of the timed translation path (mmu/timing.c) on hand-built page tables: the cycles
 * of a walk (walk-cache latency + one read per remaining level), what the page-walk caches skip,
 * STLB hit latency, the Dirty assist, Accessed bits set by the walk, invalidation, 4 MiB pages
 * under 2-level paging, and the per-size statistics. Every expected number is worked out from
 * the configuration in the test. */
#include <criterion/criterion.h>
#include <string.h>

#include "mmu_test.h"
#include "timing.h"

#define PT_LAT 10       /* fixed page-table read latency */
#define PWC_LAT 1
#define STLB_LAT 9
#define ASSIST 30

static struct tlb_array_config arr(const char *name, unsigned entries, unsigned ways, unsigned sizes,
				   unsigned latency)
{
	struct tlb_array_config a;
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", name);
	a.entries = entries;
	a.ways = ways;
	a.sizes = sizes;
	a.policy = TLB_POLICY_LRU;
	a.latency = latency;
	return a;
}

/* A small CPU: L1 DTLB 4 × 4-way 4K and 4 × 4-way large; ITLB 4K 4×4; an optional STLB;
 * PDE/PDPTE/PML4E/PML5E caches of 4 entries. */
static struct mmu_config small_cpu(bool stlb, unsigned l1_4k_entries)
{
	struct mmu_config c;
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "test");
	c.dtlb.narrays = 2;
	c.dtlb.arrays[0] = arr("dtlb.4k", l1_4k_entries, l1_4k_entries < 4 ? l1_4k_entries : 4, TLB_SIZE_BIT(TLB_4K), 1);
	c.dtlb.arrays[1] = arr("dtlb.2m", 4, 4, TLB_SIZE_BIT(TLB_2M), 1);
	c.itlb.narrays = 1;
	c.itlb.arrays[0] = arr("itlb.4k", 4, 4, TLB_SIZE_BIT(TLB_4K), 1);
	if (stlb) {
		c.stlb.narrays = 1;
		c.stlb.arrays[0] = arr("stlb.4k2m", 16, 4, TLB_SIZE_BIT(TLB_4K) | TLB_SIZE_BIT(TLB_2M), STLB_LAT);
	}
	static const char *pn[MMU_PWC_LEVELS] = { "", "pwc.pde", "pwc.pdpte", "pwc.pml4e", "pwc.pml5e" };
	for (int p = 1; p < MMU_PWC_LEVELS; p++)
		c.pwc[p] = arr(pn[p], 4, 4, TLB_SIZE_BIT(TLB_4K), PWC_LAT);
	c.pt_model = PT_LATENCY_FIXED;
	c.pt_read_latency = PT_LAT;
	c.base_cpi = 1.0;
	c.dirty_assist = ASSIST;
	c.itlb_fetch_bytes = 16;
	return c;
}

static struct mmu_timing *new_timing(const struct mmu_config *c, const struct ptb *b)
{
	char err[256];
	struct mmu_timing *t = mmu_timing_new(c, &b->regs.fmt, err, sizeof(err));
	cr_assert_not_null(t, "mmu_timing_new: %s", err);
	return t;
}

#define FLAGS_RW (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D)

Test(timing, walk_costs_one_read_per_level_and_the_pde_cache_skips_the_upper_ones)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	uint64_t va = 0x7f1234500000ULL;
	ptb_map(&b, va, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_map(&b, va + 0x1000, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	/* Cold: every walk cache misses (latency of one probe charged), 4 reads. */
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), PWC_LAT + 4 * PT_LAT);
	/* Same page: L1 hit, nothing beyond. */
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va + 8, MMU_READ, true), 0);
	/* Next page under the same PDE: the PDE cache hits, only the PTE is read. */
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va + 0x1000, MMU_READ, true), PWC_LAT + PT_LAT);
	const struct mmu_timing_stats *st = mmu_timing_stats(t);
	cr_assert_eq(st->walks, 2);
	cr_assert_eq(st->walk_reads, 5);
	cr_assert_eq(st->pwc_hits[1], 1);
	cr_assert_eq(st->level[MMU_DTLB].accesses[MMU_READ], 3);
	cr_assert_eq(st->level[MMU_DTLB].misses[MMU_READ], 2);
	cr_assert_null(mmu_timing_check(t));
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, stlb_hit_costs_its_latency_and_refills_l1)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	uint64_t va = 0x400000;
	for (int i = 0; i < 3; i++)
		ptb_map(&b, va + i * 0x1000, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(true, 1);   /* a one-entry L1: every other page misses it */
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true);
	mmu_timing_access(t, &b.regs, &b.pm, va + 0x1000, MMU_READ, true);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), STLB_LAT, "L1 miss, STLB hit");
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), 0, "refilled into L1");
	const struct mmu_timing_stats *st = mmu_timing_stats(t);
	cr_assert_eq(st->walks, 2);
	cr_assert_eq(st->stlb_cycles, STLB_LAT);
	cr_assert_eq(st->level[MMU_STLB].accesses[MMU_READ], 3);
	cr_assert_eq(st->level[MMU_STLB].misses[MMU_READ], 2);
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, first_write_through_a_clean_entry_takes_one_dirty_assist_and_sets_d)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_PAE);
	uint64_t va = 0x08048000;
	ptb_map(&b, va, ptb_alloc_frame(&b), 0, PTE_P | PTE_RW | PTE_US | PTE_A);   /* D clear */
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true);
	cr_assert_eq(ptb_get(&b, va, 0) & PTE_D, 0, "a read does not set D");
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_WRITE, true), ASSIST);
	cr_assert_neq(ptb_get(&b, va, 0) & PTE_D, 0, "the assist set D in the real PTE");
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_WRITE, true), 0, "entry now dirty");
	const struct mmu_timing_stats *st = mmu_timing_stats(t);
	cr_assert_eq(st->dirty_assists, 1);
	cr_assert_eq(st->dirty_set, 1);
	mmu_timing_free(t);
	ptb_fini(&b);
}

MODE_TEST(timing, walk_sets_accessed_in_every_entry_it_uses)
{
	struct ptb b;
	ptb_init_mode(&b, mode);
	uint64_t va = test_va(mode);
	uint64_t flags[PAGING_MAX_LEVELS];
	for (unsigned l = 0; l < PAGING_MAX_LEVELS; l++)
		flags[l] = ptb_table_flags(&b, l) & ~PTE_A;
	flags[0] = PTE_P | PTE_RW | PTE_US;
	ptb_map_flags(&b, va, ptb_alloc_frame(&b), 0, flags);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true);
	unsigned top = b.fmt.levels - 1;
	for (unsigned l = 0; l <= top; l++) {
		if (mode == PAGING_PAE && l == top)
			continue;   /* PDPTEs are registers: no A bit */
		cr_assert_neq(ptb_get(&b, va, l) & PTE_A, 0, "level %u has A set", l);
	}
	cr_assert_eq(ptb_get(&b, va, 0) & PTE_D, 0, "a read walk leaves D clear");
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, invlpg_drops_the_page_and_the_walk_caches)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	uint64_t va = 0x600000;
	ptb_map(&b, va, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(true, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), 0);
	mmu_timing_invlpg(t, va, 0, false);
	/* Gone from L1 and STLB, and INVLPG emptied the walk caches: a full cold walk again. */
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), PWC_LAT + 4 * PT_LAT);
	const struct mmu_timing_stats *st = mmu_timing_stats(t);
	cr_assert_eq(st->flushes[FLUSH_INVLPG], 1);
	cr_assert_eq(st->flushed_entries[FLUSH_INVLPG], 2, "one L1 and one STLB entry");
	mmu_timing_flush(t, FLUSH_ALL, 0);
	cr_assert_gt(mmu_timing_access(t, &b.regs, &b.pm, va, MMU_READ, true), 0, "full flush");
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, four_mib_pages_of_2level_paging_hit_across_the_page_and_invalidate)
{
	struct ptb b;
	struct mode_cfg mc = mode_default(PAGING_2LEVEL);
	ptb_init(&b, &mc, 16ULL << 20);
	uint64_t va = 0x00800000;                  /* 4 MiB aligned */
	ptb_map(&b, va, 0x00400000, 1, PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va + 0x123, MMU_READ, true), PWC_LAT + 1 * PT_LAT,
		     "one read: the PDE maps the page");
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, va + 0x3ff000, MMU_READ, true), 0,
		     "the same 4 MiB entry covers the last 4 KiB of the page");
	const struct mmu_timing_stats *st = mmu_timing_stats(t);
	cr_assert_eq(st->level[MMU_DTLB].hits_by_size[TLB_2M], 1);
	cr_assert_eq(st->walks_by_size[TLB_2M], 1);
	mmu_timing_invlpg(t, va + 0x200000, 0, false);
	cr_assert_eq(st->flushed_entries[FLUSH_INVLPG], 1, "INVLPG anywhere in the 4 MiB page drops it");
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, a_fault_drops_only_the_walk_cache_entries_of_its_address)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	uint64_t a = 0x400000, far = 0x7f0000000000ULL;
	ptb_map(&b, a, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_map(&b, a + 0x1000, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_map(&b, far, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, a, MMU_READ, true);
	mmu_timing_access(t, &b.regs, &b.pm, far, MMU_READ, true);
	mmu_timing_invlpg(t, far, 0, true);   /* a #PF at far */
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, a + 0x1000, MMU_READ, true), PWC_LAT + PT_LAT,
		     "a's PDE-cache entry survived the fault at another address");
	cr_assert_eq(mmu_timing_stats(t)->flushes[FLUSH_INVLPG], 0, "a fault is not counted as a flush");
	mmu_timing_free(t);
	ptb_fini(&b);
}

Test(timing, cr3_writes_flush_as_the_sdm_says_and_globals_survive)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	b.cfg.cr4 |= CR4_PCIDE | CR4_PGE;
	uint64_t user = 0x400000, kern = 0x7fff00000000ULL;
	ptb_map(&b, user, ptb_alloc_frame(&b), 0, FLAGS_RW);
	ptb_map(&b, kern, ptb_alloc_frame(&b), 0, FLAGS_RW | PTE_G);
	b.cr3_low = 5;   /* PCID 5 */
	ptb_load_ok(&b);
	struct mmu_config c = small_cpu(false, 4);
	struct mmu_timing *t = new_timing(&c, &b);
	mmu_timing_access(t, &b.regs, &b.pm, user, MMU_READ, true);
	mmu_timing_access(t, &b.regs, &b.pm, kern, MMU_READ, true);
	/* NOFLUSH: nothing dropped. */
	mmu_timing_cr3_write(t, b.regs.cr3 | CR3_NOFLUSH, true);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, user, MMU_READ, true), 0);
	/* Without NOFLUSH: PCID 5's non-global entry goes, the global one stays. */
	mmu_timing_cr3_write(t, b.regs.cr3, true);
	cr_assert_gt(mmu_timing_access(t, &b.regs, &b.pm, user, MMU_READ, true), 0);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, kern, MMU_READ, true), 0, "global entry survives");
	/* Another PCID flushed: ours untouched. */
	mmu_timing_cr3_write(t, (b.regs.cr3 & ~CR3_PCID_MASK) | 7, true);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, user, MMU_READ, true), 0);
	/* PCIDE off: every non-global entry goes; globals survive. */
	mmu_timing_cr3_write(t, b.regs.cr3, false);
	cr_assert_eq(mmu_timing_access(t, &b.regs, &b.pm, kern, MMU_READ, true), 0);
	cr_assert_gt(mmu_timing_access(t, &b.regs, &b.pm, user, MMU_READ, true), 0);
	mmu_timing_free(t);
	ptb_fini(&b);
}
