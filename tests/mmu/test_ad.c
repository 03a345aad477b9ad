/* test_ad.c — Accessed/Dirty updates (SDM §4.8) under WALK_SET_AD: A in every entry used, D
 * only in the leaf and only on a write, nothing without the flag or when the walk faults. */
#include "mmu_test.h"

#include <stdlib.h>
#include <string.h>

static unsigned top_read_level(const struct ptb *b)
{
	return b->fmt.mode == PAGING_PAE ? 1 : b->fmt.levels - 1;
}

static uint8_t *snapshot(const struct ptb *b)
{
	uint8_t *copy = malloc(b->pm.size);
	cr_assert_not_null(copy);
	memcpy(copy, b->pm.base, b->pm.size);
	return copy;
}

MODE_TEST(ad, accessed_set_in_every_level_on_success)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_RW | PTE_US);
	ptb_load_ok(&b);
	uint64_t pdpt_before = b.fmt.mode == PAGING_PAE ? ptb_get(&b, va, 2) : 0;
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, true, WALK_SET_AD, &r, &f));
	for (unsigned level = 0; level <= top_read_level(&b); level++) {
		uint64_t e = ptb_get(&b, va, level);
		cr_assert(e & PTE_A, "%s: A not set at level %u", b.fmt.name, level);
		cr_assert_not(e & PTE_D, "%s: D set at level %u by a read", b.fmt.name, level);
		cr_assert_not(r.entry[r.first_level - level] & PTE_A, "entry[] holds the value read");
	}
	cr_assert_eq(r.nwrites, r.nreads);
	cr_assert_not(r.dirty);
	if (b.fmt.mode == PAGING_PAE)
		cr_assert_eq(ptb_get(&b, va, 2), pdpt_before, "PDPTEs have no A bit");
	ptb_fini(&b);
}

MODE_TEST(ad, dirty_set_only_in_leaf_and_only_on_write)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_RW | PTE_US);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, true, WALK_SET_AD, &r, &f));
	cr_assert_not(ptb_get(&b, va, 0) & PTE_D);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, true, WALK_SET_AD, &r, &f));
	cr_assert(ptb_get(&b, va, 0) & PTE_D);
	cr_assert(r.dirty);
	cr_assert_eq(r.nwrites, 1, "only the leaf changed (A was already set everywhere)");
	for (unsigned level = 1; level <= top_read_level(&b); level++)
		cr_assert_not(ptb_get(&b, va, level) & PTE_D, "D is never set in a non-leaf entry");
	/* Once A and D are set, walks write nothing. */
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, true, WALK_SET_AD, &r, &f));
	cr_assert_eq(r.nwrites, 0);
	cr_assert(r.dirty);
	ptb_fini(&b);
}

MODE_TEST(ad, large_page_leaf_gets_dirty)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, mode == PAGING_2LEVEL ? 0x00C00000u : 0x00E00000u, 1, PTE_P | PTE_RW);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, WALK_SET_AD, &r, &f));
	cr_assert_eq(r.leaf_level, 1);
	uint64_t pde = ptb_get(&b, va, 1);
	cr_assert((pde & (PTE_A | PTE_D)) == (PTE_A | PTE_D));
	cr_assert(pde & PTE_PS, "the update keeps the other bits");
	ptb_fini(&b);
}

MODE_TEST(ad, nothing_changes_without_set_ad)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_RW | PTE_US);
	ptb_load_ok(&b);
	uint8_t *before = snapshot(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f));
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(memcmp(before, b.pm.base, b.pm.size), 0);
	cr_assert_eq(r.nwrites, 0);
	cr_assert_not(r.dirty);
	free(before);
	ptb_fini(&b);
}

MODE_TEST(ad, nothing_changes_when_the_walk_faults)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_US);     /* read-only user page */
	ptb_map(&b, va + 0x1000, 0x6000, 0, 0);          /* not-present PTE */
	ptb_load_ok(&b);
	uint8_t *before = snapshot(&b);
	cr_assert_not(ptb_walk_simple(&b, va, MMU_WRITE, true, WALK_SET_AD, &r, &f));
	cr_assert_eq(f.error_code, PF_ERR_P | PF_ERR_W | PF_ERR_U);
	cr_assert_not(ptb_walk_simple(&b, va + 0x1000, MMU_READ, true, WALK_SET_AD, &r, &f));
	cr_assert_eq(f.error_code, PF_ERR_U);
	cr_assert_eq(memcmp(before, b.pm.base, b.pm.size), 0, "a faulting walk must not set A");
	free(before);
	ptb_fini(&b);
}

Test(ad, two_level_update_touches_only_its_four_bytes)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x00401000;

	ptb_init_mode(&b, PAGING_2LEVEL);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_RW);
	ptb_map(&b, va + 0x1000, 0x6000, 0, 0xFFFFF000u);  /* neighbour: P=0, all else set */
	ptb_map(&b, va - 0x1000, 0x4000, 0, PTE_RW);
	ptb_load_ok(&b);
	uint8_t *before = snapshot(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, WALK_SET_AD, &r, &f));
	uint64_t pte_pa = ptb_entry_pa(&b, va, 0), pde_pa = ptb_entry_pa(&b, va, 1);
	for (uint64_t i = 0; i < b.pm.size; i++) {
		bool in_pte = i >= pte_pa && i < pte_pa + 4, in_pde = i >= pde_pa && i < pde_pa + 4;
		if (!in_pte && !in_pde)
			cr_assert_eq(before[i], b.pm.base[i], "byte %#llx changed",
				     (unsigned long long)i);
	}
	cr_assert_eq(ptb_get(&b, va, 0), 0x5000 | PTE_P | PTE_RW | PTE_A | PTE_D);
	free(before);
	ptb_fini(&b);
}

Test(ad, pae_pdpte_in_memory_never_gets_accessed_bit)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;

	ptb_init_mode(&b, PAGING_PAE);
	ptb_map(&b, 0xC0000000u, 0x5000, 0, PTE_P | PTE_RW);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, 0xC0000000u, MMU_WRITE, false, WALK_SET_AD, &r, &f));
	cr_assert_eq(ptb_get(&b, 0xC0000000u, 2) & PTE_A, 0);
	cr_assert(mmu_load_pdptes(&b.regs, &b.pm), "the PDPT stays loadable (A is reserved there)");
	ptb_fini(&b);
}

Test(ad, aliased_tables_keep_every_bit)
{
	/* A PML4 entry pointing back at the PML4 itself (a recursive mapping): the same entry is
	 * used at two levels and must end up with A set and nothing lost. */
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;

	ptb_init_mode(&b, PAGING_4LEVEL);
	uint64_t self = 0x0FEull;   /* bit 47 clear: canonical without sign extension */
	uint64_t va = (self << 39) | (self << 30) | (0x5ull << 21) | (0x7ull << 12);
	/* PML4[0xFE] -> PML4 (recursive), used as PML4E and as PDPTE; PML4[5] is then used as a
	 * PDE pointing at the page table. */
	uint64_t pml4 = b.root;
	uint64_t pt = ptb_alloc_frame(&b);
	uint64_t rec = pml4 | PTE_P | PTE_RW;
	memcpy(b.pm.base + pml4 + self * 8, &rec, 8);
	uint64_t pde = pt | PTE_P | PTE_RW;
	memcpy(b.pm.base + pml4 + 5 * 8, &pde, 8);
	uint64_t pte = 0x9000 | PTE_P | PTE_RW;
	memcpy(b.pm.base + pt + 7 * 8, &pte, 8);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, WALK_SET_AD, &r, &f));
	cr_assert_eq(r.pa, 0x9000);
	cr_assert_eq(r.entry_pa[0], r.entry_pa[1]);
	cr_assert_eq(r.nwrites, 3, "the recursive entry is written once");
	uint64_t v;
	memcpy(&v, b.pm.base + pml4 + self * 8, 8);
	cr_assert_eq(v, rec | PTE_A);
	ptb_fini(&b);
}
