/* test_walk.c — hand-built page tables in every mode: translations (4K/4M/2M/1G, PSE-36),
 * not-present and reserved-bit faults at every level, access rights, error codes, #GP, PAE
 * PDPTE registers and CR3 handling. */
#include "mmu_test.h"

#include <string.h>

/* Level of the first entry read from memory (PAE PDPTEs are registers). */
static unsigned top_read_level(const struct ptb *b)
{
	return b->fmt.mode == PAGING_PAE ? 1 : b->fmt.levels - 1;
}

/* A 4K target frame: above 4 GiB where the mode can address it. */
static uint64_t target_4k(enum paging_mode mode)
{
	return mode == PAGING_2LEVEL ? 0x00ABC000u : 0x123456000ull;
}

#define ASSERT_PF(ok, f, ec, lvl)                                                           \
	do {                                                                                \
		char buf_[64], want_[64];                                                   \
		cr_assert_not((ok), "expected a page fault");                               \
		cr_assert_not((f).gp, "expected #PF, got #GP");                             \
		cr_assert_eq((f).error_code, (uint32_t)(ec), "error code %s, want %s",      \
			     mmu_pf_error_str((f).error_code, buf_, sizeof buf_),           \
			     mmu_pf_error_str((ec), want_, sizeof want_));                  \
		cr_assert_eq((f).level, (unsigned)(lvl), "fault level %u, want %u",         \
			     (f).level, (unsigned)(lvl));                                   \
	} while (0)

/* ---- translations ------------------------------------------------------------------------ */

MODE_TEST(walk, translates_4k_page_in_every_mode)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode), pa = target_4k(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, pa, 0, PTE_P | PTE_RW | PTE_US);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), "%s", b.fmt.name);
	cr_assert_eq(r.pa, pa | (va & 0xFFF));
	cr_assert_eq(r.page_base, pa);
	cr_assert_eq(r.page_shift, 12);
	cr_assert_eq(r.leaf_level, 0);
	cr_assert_eq(r.first_level, top_read_level(&b));
	cr_assert_eq(r.nreads, top_read_level(&b) + 1);
	for (unsigned i = 0; i < r.nreads; i++) {
		unsigned level = r.first_level - i;
		cr_assert_eq(r.entry_pa[i], ptb_entry_pa(&b, va, level), "entry %u", i);
		cr_assert_eq(r.entry[i], ptb_get(&b, va, level));
	}
	cr_assert_eq(r.leaf_pa, ptb_entry_pa(&b, va, 0));
	cr_assert(r.writable && r.user && !r.nx && !r.global && !r.dirty);
	cr_assert_eq(r.perms, MMU_PERM_READ | MMU_PERM_WRITE | MMU_PERM_EXEC);
	cr_assert_eq(r.nwrites, 0);

	/* A neighbouring page that was never mapped is not present in the leaf table. */
	cr_assert_not(ptb_walk_simple(&b, va + 0x1000, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(f.error_code, 0);
	cr_assert_eq(f.level, 0);
	cr_assert_eq(f.cr2, (va + 0x1000) & (mode >= PAGING_4LEVEL ? ~0ull : 0xFFFFFFFFull));
	ptb_fini(&b);
}

MODE_TEST(walk, translates_large_pages_at_every_large_level)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	unsigned tested = 0;

	ptb_init_mode(&b, mode);
	for (unsigned level = 1; level < b.fmt.levels; level++) {
		if (!paging_large_ok(&b.fmt, level))
			continue;
		uint64_t size = paging_level_size(&b.fmt, level);
		uint64_t va = test_va(mode);
		/* 4 MiB page above 4 GiB through PSE-36; others at 5 GiB-ish, aligned. */
		uint64_t pa = mode == PAGING_2LEVEL ? 0x12C00000ull | (0x5Aull << 32)
						    : (0x140000000ull + 7 * size) & ~(size - 1);
		ptb_fini(&b);
		ptb_init_mode(&b, mode);
		ptb_map(&b, va, pa, level, PTE_P | PTE_RW);
		ptb_load_ok(&b);
		cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f),
			  "%s level %u: ec %#x", b.fmt.name, level, f.error_code);
		cr_assert_eq(r.page_base, pa, "%s level %u", b.fmt.name, level);
		cr_assert_eq(r.pa, pa | (va & (size - 1)));
		cr_assert_eq(r.leaf_level, level);
		cr_assert_eq(r.page_shift, b.fmt.shift[level]);
		cr_assert_eq(r.nreads, top_read_level(&b) - level + 1);
		cr_assert_not(r.user, "leaf U/S=0");
		tested++;
	}
	cr_assert_eq(tested, mode == PAGING_2LEVEL || mode == PAGING_PAE ? 1 : 2);
	ptb_fini(&b);
}

Test(walk, pse_bit_is_ignored_without_cr4_pse)
{
	struct mode_cfg c = mode_default(PAGING_2LEVEL);
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x00C03123;

	c.cr4 = 0;
	ptb_init(&b, &c, PTB_DEFAULT_MEM);
	ptb_map(&b, va, 0x7000, 0, PTE_P);
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) | PTE_PS);   /* PS=1 in a PDE pointing to a PT */
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, 0x7123);
	cr_assert_eq(r.leaf_level, 0);
	cr_assert_eq(r.nreads, 2);

	/* With CR4.PSE the same PDE maps a 4 MiB page at the page table's address & ~4M. */
	b.cfg.cr4 = CR4_PSE;
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.page_shift, 22);
	cr_assert_eq(r.nreads, 1);
	ptb_fini(&b);
}

Test(walk, pse36_supplies_physical_bits_39_32)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x80123456u;
	uint64_t pa = (0xABull << 32) | 0x3FC00000u;

	ptb_init_mode(&b, PAGING_2LEVEL);   /* M = 40 */
	ptb_map(&b, va, pa, 1, PTE_P);
	ptb_load_ok(&b);
	cr_assert_eq(ptb_get(&b, va, 1) & PDE32_PSE36_MASK, 0xABull << 13);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, pa | 0x123456, "pa %#llx", (unsigned long long)r.pa);
	cr_assert_eq(r.page_shift, 22);
	ptb_fini(&b);
}

Test(walk, pse36_bits_at_or_above_maxphyaddr_are_reserved)
{
	struct mode_cfg c = mode_default(PAGING_2LEVEL);
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x80123456u;

	c.maxphyaddr = 36;
	ptb_init(&b, &c, PTB_DEFAULT_MEM);
	ptb_map(&b, va, 0xF00000000ull, 1, PTE_P);   /* physical bits 35:32 = 0xF: allowed */
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.page_base, 0xF00000000ull);
	/* PDE bit 17 would be physical bit 36 = MAXPHYADDR: reserved. */
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) | PAGING_BIT(17));
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f, PF_ERR_P | PF_ERR_RSVD, 1);
	ptb_fini(&b);
}

Test(walk, four_mb_pde_bit_21_is_reserved_but_4k_entries_have_no_reserved_bits)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x80123456u;

	ptb_init_mode(&b, PAGING_2LEVEL);
	ptb_map(&b, va, 0x00400000, 1, PTE_P);
	ptb_load_ok(&b);
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) | PAGING_BIT(21));
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f), f,
		  PF_ERR_P | PF_ERR_RSVD | PF_ERR_W | PF_ERR_U, 1);
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) & ~PAGING_BIT(21));
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) | PTE_PAT_LARGE);   /* bit 12 = PAT: fine */
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));

	/* 4K path: every bit of the PDE and PTE is defined or ignored. */
	uint64_t va2 = 0x00801000;
	ptb_map(&b, va2, 0x9000, 0, PTE_P);
	ptb_set(&b, va2, 0, 0xFFFFFFFFu);
	ptb_set(&b, va2, 1, ptb_get(&b, va2, 1) | 0xE00u);     /* ignored bits 11:9 */
	cr_assert(ptb_walk_simple(&b, va2, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.page_base, 0xFFFFF000u);
	ptb_fini(&b);
}

/* ---- not-present ------------------------------------------------------------------------- */

MODE_TEST(walk, not_present_at_every_level_faults_with_p_clear)
{
	unsigned levels;
	{
		struct paging_format fm;
		struct mode_cfg c = mode_default(mode);
		cr_assert(paging_format_init(&fm, c.cr0, c.cr4, c.efer, c.maxphyaddr, c.pdpe1gb));
		levels = fm.levels;
	}
	for (unsigned level = 0; level < levels; level++) {
		struct ptb b;
		struct walk_result r;
		struct mmu_fault f;
		uint64_t va = test_va(mode);

		ptb_init_mode(&b, mode);
		ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
		ptb_set(&b, va, level, ptb_get(&b, va, level) & ~PTE_P);
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f, 0, level);
		cr_assert_eq(f.cr2, va);
		cr_assert_not(f.phys_oob);
		unsigned expect_reads = mode == PAGING_PAE && level == 2 ? 0
									 : top_read_level(&b) - level + 1;
		cr_assert_eq(r.nreads, expect_reads, "%s level %u", b.fmt.name, level);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f), f,
			  PF_ERR_W | PF_ERR_U, level);
		ptb_fini(&b);
	}
}

/* ---- access rights ------------------------------------------------------------------------ */

/* Levels whose entries carry R/W, U/S and XD on the path to a 4K page. */
static unsigned first_perm_level(const struct ptb *b)
{
	return top_read_level(b);
}

MODE_TEST(walk, rw_is_anded_over_all_levels)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
	for (unsigned level = 0; level <= first_perm_level(&b); level++) {
		uint64_t saved = ptb_get(&b, va, level);
		ptb_set(&b, va, level, saved & ~PTE_RW);
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_W | PF_ERR_U, 0);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_W, 0);   /* CR0.WP = 1 */
		cr_assert(ptb_walk_simple(&b, va, MMU_READ, true, 0, &r, &f));
		cr_assert_not(r.writable, "level %u R/W=0 must make the page read-only", level);
		cr_assert_eq(r.perms, MMU_PERM_READ | MMU_PERM_EXEC);
		ptb_set(&b, va, level, saved);
	}
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f));
	ptb_fini(&b);
}

MODE_TEST(walk, us_is_anded_over_all_levels)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
	for (unsigned level = 0; level <= first_perm_level(&b); level++) {
		uint64_t saved = ptb_get(&b, va, level);
		ptb_set(&b, va, level, saved & ~PTE_US);
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, true, 0, &r, &f), f, PF_ERR_P | PF_ERR_U, 0);
		cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f));
		cr_assert_not(r.user, "level %u U/S=0 must make a supervisor page", level);
		ptb_set(&b, va, level, saved);
	}
	ptb_fini(&b);
}

MODE_TEST(walk, nx_at_any_level_blocks_fetch)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	if (mode == PAGING_2LEVEL)
		return;   /* no XD bit in 4-byte entries: see two_level_fetch_is_never_blocked_by_nx */
	ptb_init_mode(&b, mode);
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
	for (unsigned level = 0; level <= first_perm_level(&b); level++) {
		uint64_t saved = ptb_get(&b, va, level);
		ptb_set(&b, va, level, saved | PTE_NX);
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f, PF_ERR_P | PF_ERR_I, 0);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, true, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_I | PF_ERR_U, 0);
		cr_assert(ptb_walk_simple(&b, va, MMU_READ, true, 0, &r, &f));
		cr_assert(r.nx, "level %u", level);
		cr_assert_eq(r.perms, MMU_PERM_READ | MMU_PERM_WRITE);
		ptb_set(&b, va, level, saved);
	}
	ptb_fini(&b);
}

Test(walk, two_level_fetch_is_never_blocked_by_nx)
{
	struct mode_cfg c = mode_default(PAGING_2LEVEL);
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_2LEVEL);

	c.efer = EFER_NXE;   /* NXE has no effect without PAE */
	ptb_init(&b, &c, PTB_DEFAULT_MEM);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_US);
	ptb_load_ok(&b);
	cr_assert_not(b.regs.fmt.nx);
	cr_assert(ptb_walk_simple(&b, va, MMU_FETCH, true, 0, &r, &f));
	cr_assert_not(r.nx);
	/* A fetch fault reports no I without NX in effect and without SMEP ... */
	ASSERT_PF(ptb_walk_simple(&b, va + 0x1000, MMU_FETCH, true, 0, &r, &f), f, PF_ERR_U, 0);
	/* ... and I with SMEP. */
	b.cfg.cr4 |= CR4_SMEP;
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va + 0x1000, MMU_FETCH, true, 0, &r, &f), f,
		  PF_ERR_U | PF_ERR_I, 0);
	ptb_fini(&b);
}

Test(walk, pae_fetch_fault_reports_i_only_with_nxe_or_smep)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_PAE);

	ptb_init_mode(&b, PAGING_PAE);
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f, PF_ERR_I, 2);
	b.cfg.efer = 0;
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f, 0, 2);
	b.cfg.cr4 |= CR4_SMEP;
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f, PF_ERR_I, 2);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f, 0, 2);
	ptb_fini(&b);
}

MODE_TEST(walk, nx_bit_is_reserved_without_nxe)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	if (mode == PAGING_2LEVEL)
		return;
	ptb_init_mode(&b, mode);
	b.cfg.efer &= ~EFER_NXE;
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
	for (unsigned level = 0; level <= first_perm_level(&b); level++) {
		uint64_t saved = ptb_get(&b, va, level);
		ptb_set(&b, va, level, saved | PTE_NX);
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_RSVD, level);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_RSVD, level);   /* no I: NX not in effect, no SMEP */
		ptb_set(&b, va, level, saved);
	}
	ptb_fini(&b);
}

MODE_TEST(walk, supervisor_write_to_readonly_page_faults_only_with_wp)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, target_4k(mode), 0, PTE_P);   /* supervisor, read-only */
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f), f, PF_ERR_P | PF_ERR_W, 0);
	b.cfg.cr0 &= ~CR0_WP;
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f));
	cr_assert_not(r.writable);

	/* Read-only user page: a supervisor write passes with WP=0, a user write never. */
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_US);
	cr_assert(ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f));
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_WRITE, true, 0, &r, &f), f,
		  PF_ERR_P | PF_ERR_W | PF_ERR_U, 0);
	ptb_fini(&b);
}

MODE_TEST(walk, smep_blocks_supervisor_fetch_from_user_page)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode), kva = va ^ (UINT64_C(1) << 22);

	ptb_init_mode(&b, mode);
	b.cfg.cr4 |= CR4_SMEP;
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_US);
	ptb_map(&b, kva, 0x9000, 0, PTE_P);
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f), f, PF_ERR_P | PF_ERR_I, 0);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), "SMEP does not block data");
	cr_assert(ptb_walk_simple(&b, va, MMU_FETCH, true, 0, &r, &f), "user fetch is fine");
	cr_assert(ptb_walk_simple(&b, kva, MMU_FETCH, false, 0, &r, &f), "supervisor page is fine");
	/* U/S=0 at one upper level makes it a supervisor page again. */
	ptb_set(&b, va, 1, ptb_get(&b, va, 1) & ~PTE_US);
	cr_assert(ptb_walk_simple(&b, va, MMU_FETCH, false, 0, &r, &f));
	ptb_fini(&b);
}

MODE_TEST(walk, smap_blocks_supervisor_data_access_unless_ac_on_explicit_access)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);
	struct walk_req req = { .va = va, .access = MMU_READ };

	ptb_init_mode(&b, mode);
	b.cfg.cr4 |= CR4_SMAP;
	ptb_map(&b, va, target_4k(mode), 0, PTE_P | PTE_RW | PTE_US);
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk(&b, &req, 0, &r, &f), f, PF_ERR_P, 0);
	req.access = MMU_WRITE;
	ASSERT_PF(ptb_walk(&b, &req, 0, &r, &f), f, PF_ERR_P | PF_ERR_W, 0);
	req.ac = true;
	cr_assert(ptb_walk(&b, &req, 0, &r, &f), "EFLAGS.AC lifts SMAP for explicit accesses");
	req.access = MMU_READ;
	cr_assert(ptb_walk(&b, &req, 0, &r, &f));
	req.implicit = true;
	ASSERT_PF(ptb_walk(&b, &req, 0, &r, &f), f, PF_ERR_P, 0);   /* implicit: AC ignored */
	req.implicit = false;
	req.ac = false;
	req.access = MMU_FETCH;
	cr_assert(ptb_walk(&b, &req, 0, &r, &f), "SMAP does not apply to fetches");
	req.access = MMU_READ;
	req.user = true;
	cr_assert(ptb_walk(&b, &req, 0, &r, &f), "SMAP does not apply to user mode");
	ptb_fini(&b);
}

Test(walk, implicit_access_from_cpl3_is_a_supervisor_access)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_4LEVEL);
	struct walk_req req = { .va = va, .access = MMU_READ, .user = true, .implicit = true };

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, va, 0x5000, 0, PTE_P);   /* supervisor page (a GDT, say) */
	ptb_load_ok(&b);
	cr_assert(ptb_walk(&b, &req, 0, &r, &f));
	req.implicit = false;
	ASSERT_PF(ptb_walk(&b, &req, 0, &r, &f), f, PF_ERR_P | PF_ERR_U, 0);
	/* An implicit write to a read-only supervisor page with WP=1: U is clear. */
	req.implicit = true;
	req.access = MMU_WRITE;
	ASSERT_PF(ptb_walk(&b, &req, 0, &r, &f), f, PF_ERR_P | PF_ERR_W, 0);
	ptb_fini(&b);
}

Test(walk, global_needs_cr4_pge)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_PAE);

	ptb_init_mode(&b, PAGING_PAE);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_G);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_not(r.global);
	b.cfg.cr4 |= CR4_PGE;
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert(r.global);
	ptb_fini(&b);
}

/* ---- reserved bits ------------------------------------------------------------------------ */

MODE_TEST(walk, bits_at_or_above_maxphyaddr_are_reserved_at_every_level)
{
	struct mode_cfg c = mode_default(mode);
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	if (mode == PAGING_2LEVEL)
		return;   /* 4-byte entries: covered by the PSE-36 tests */
	c.maxphyaddr = 40;
	ptb_init(&b, &c, PTB_DEFAULT_MEM);
	ptb_map(&b, va, 0x5000, 0, PTE_P | PTE_RW);
	ptb_load_ok(&b);
	for (unsigned level = 0; level <= top_read_level(&b); level++) {
		uint64_t saved = ptb_get(&b, va, level);
		for (unsigned bitno = 40; bitno < 63; bitno++) {
			bool reserved = mode == PAGING_PAE || bitno <= 51;
			ptb_set(&b, va, level, saved | PAGING_BIT(bitno));
			bool ok = ptb_walk_simple(&b, va, MMU_WRITE, false, 0, &r, &f);
			if (reserved) {
				ASSERT_PF(ok, f, PF_ERR_P | PF_ERR_RSVD | PF_ERR_W, level);
			} else {
				cr_assert(ok, "%s: bit %u of level %u is ignored", b.fmt.name, bitno,
					  level);
				cr_assert_eq(r.pa, 0x5000 | (va & 0xFFF));
			}
		}
		ptb_set(&b, va, level, saved);
	}
	ptb_fini(&b);
}

Test(walk, ps_in_pml4e_and_pml5e_is_reserved)
{
	for (enum paging_mode mode = PAGING_4LEVEL; mode <= PAGING_5LEVEL; mode++) {
		struct ptb b;
		struct walk_result r;
		struct mmu_fault f;
		uint64_t va = test_va(mode);

		ptb_init_mode(&b, mode);
		ptb_map(&b, va, 0x5000, 0, PTE_P);
		ptb_load_ok(&b);
		for (unsigned level = 3; level < b.fmt.levels; level++) {
			uint64_t saved = ptb_get(&b, va, level);
			ptb_set(&b, va, level, saved | PTE_PS);
			ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f,
				  PF_ERR_P | PF_ERR_RSVD, level);
			ptb_set(&b, va, level, saved);
		}
		ptb_fini(&b);
	}
}

Test(walk, pdpte_ps_is_reserved_without_1g_pages)
{
	struct mode_cfg c = mode_default(PAGING_4LEVEL);
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_4LEVEL);

	ptb_init(&b, &c, PTB_DEFAULT_MEM);
	ptb_map(&b, va, 0x40000000, 2, PTE_P);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.page_shift, 30);
	b.cfg.pdpe1gb = false;
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f, PF_ERR_P | PF_ERR_RSVD, 2);
	ptb_fini(&b);
}

MODE_TEST(walk, misaligned_large_page_address_bits_are_reserved)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	if (mode == PAGING_2LEVEL)
		return;   /* 4 MiB: bits 20:13 are PSE-36 address bits, tested above */
	ptb_init_mode(&b, mode);
	for (unsigned level = 1; level <= 2; level++) {
		if (!paging_large_ok(&b.fmt, level))
			continue;
		ptb_map(&b, va, 0x80000000ull, level, PTE_P);
		ptb_load_ok(&b);
		uint64_t saved = ptb_get(&b, va, level);
		unsigned top = level == 1 ? 20 : 29;
		for (unsigned bitno = 13; bitno <= top; bitno++) {
			ptb_set(&b, va, level, saved | PAGING_BIT(bitno));
			ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f,
				  PF_ERR_P | PF_ERR_RSVD, level);
		}
		ptb_set(&b, va, level, saved | PTE_PAT_LARGE);   /* bit 12 is PAT, not address */
		cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
		cr_assert_eq(r.page_base, 0x80000000ull);
		ptb_set(&b, va, level, saved);
		/* back to a table for the next level's turn */
		ptb_fini(&b);
		ptb_init_mode(&b, mode);
	}
	ptb_fini(&b);
}

Test(walk, reserved_upper_entry_hides_missing_lower_levels)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_4LEVEL);

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, va, 0x5000, 0, PTE_P);
	ptb_set(&b, va, 0, 0);                                 /* PTE not present */
	ptb_set(&b, va, 3, ptb_get(&b, va, 3) | PAGING_BIT(50)); /* PML4E reserved bit */
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, true, 0, &r, &f), f,
		  PF_ERR_P | PF_ERR_RSVD | PF_ERR_U, 3);
	cr_assert_eq(r.nreads, 1);
	ptb_fini(&b);
}

MODE_TEST(walk, entry_outside_physical_memory_is_a_reserved_fault)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P);
	ptb_load_ok(&b);
	/* Point the PDE at a page table just past the end of modelled memory. */
	uint64_t pde = ptb_get(&b, va, 1);
	ptb_set(&b, va, 1, (pde & 0xFFF) | b.pm.size);
	ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, WALK_SET_AD, &r, &f), f,
		  PF_ERR_P | PF_ERR_RSVD, 0);
	cr_assert(f.phys_oob);
	/* Top table itself outside memory (not PAE: that fails at CR3 load). */
	if (mode != PAGING_PAE) {
		b.root = b.pm.size;
		ptb_load_ok(&b);
		ASSERT_PF(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f), f,
			  PF_ERR_P | PF_ERR_RSVD, b.fmt.levels - 1);
		cr_assert(f.phys_oob);
		cr_assert_eq(r.nreads, 0);
	}
	ptb_fini(&b);
}

MODE_TEST(walk, entry_at_or_straddling_the_end_of_memory_is_never_read)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va_first = 0x00400000u;               /* PTE index 0 */
	uint64_t va_last = 0x00400000u | 0x001FF000u;  /* PTE index 511 (1023 in 2-level: 0x3FF000) */

	if (mode == PAGING_2LEVEL)
		va_last = 0x007FF000u;
	ptb_init_mode(&b, mode);
	ptb_map(&b, va_first, 0x5000, 0, PTE_P);
	ptb_load_ok(&b);
	uint64_t pde = ptb_get(&b, va_first, 1);
	/* A page table exactly at the end: entry 0 is at pm.size. */
	ptb_set(&b, va_first, 1, (pde & 0xFFF) | b.pm.size);
	ASSERT_PF(ptb_walk_simple(&b, va_first, MMU_READ, false, 0, &r, &f), f,
		  PF_ERR_P | PF_ERR_RSVD, 0);
	cr_assert(f.phys_oob);
	/* The last frame as page table, memory shrunk by 4 bytes: the last entry straddles
	 * the end (8-byte entries) or just fits out (4-byte entries). */
	uint64_t last = b.pm.size - PAGE_SIZE_4K;
	ptb_set(&b, va_first, 1, (pde & 0xFFF) | last);
	b.pm.size -= 4;
	ASSERT_PF(ptb_walk_simple(&b, va_last, MMU_READ, false, 0, &r, &f), f,
		  PF_ERR_P | PF_ERR_RSVD, 0);
	cr_assert(f.phys_oob);
	b.pm.size += 4;
	ptb_fini(&b);
}

Test(walk, leaf_page_outside_memory_still_translates)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, 0x400000, 0x3FFFFFFFF000ull, 0, PTE_P);   /* highest 4K page below 2^46 */
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, 0x400FFF, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, 0x3FFFFFFFFFFFull);
	ptb_fini(&b);
}

/* ---- addresses ---------------------------------------------------------------------------- */

Test(walk, noncanonical_address_raises_gp_in_4_and_5_level)
{
	for (enum paging_mode mode = PAGING_4LEVEL; mode <= PAGING_5LEVEL; mode++) {
		struct ptb b;
		struct walk_result r;
		struct mmu_fault f;
		uint64_t bad = mode == PAGING_4LEVEL ? 0x0000800000000000ull : 0x0100000000000000ull;

		ptb_init_mode(&b, mode);
		ptb_map(&b, bad & ((UINT64_C(1) << b.fmt.va_bits) - 1), 0x5000, 0, PTE_P | PTE_US);
		ptb_load_ok(&b);
		memset(&f, 0, sizeof f);
		cr_assert_not(mmu_walk(&b.regs, &b.pm, &(struct walk_req){ .va = bad, .user = true },
				       WALK_SET_AD, &r, &f));
		cr_assert(f.gp);
		cr_assert_eq(f.error_code, 0);
		cr_assert_eq(f.cr2, bad);
		cr_assert_eq(f.level, b.fmt.levels);
		cr_assert_eq(r.nreads, 0);
		ptb_fini(&b);
	}
}

Test(walk, four_level_upper_half_translates)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0xFFFF888012345678ull;   /* Linux direct map */

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, va, 0x12345000, 0, PTE_P | PTE_RW | PTE_G);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, 0x12345678);
	cr_assert_eq(r.entry_pa[0], b.root + 0x111 * 8, "PML4 index 273");
	ptb_fini(&b);
}

Test(walk, five_level_translates_57_bit_addresses)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = 0x00FE000012345678ull;   /* non-canonical under 4-level */

	ptb_init_mode(&b, PAGING_5LEVEL);
	ptb_map(&b, va, 0xABCDE000ull << 12, 0, PTE_P);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, (0xABCDE000ull << 12) | 0x678);
	cr_assert_eq(r.nreads, 5);
	cr_assert_eq(r.entry_pa[0], b.root + 0xFE * 8);
	ptb_fini(&b);
}

MODE_TEST(walk, va_bits_above_31_are_ignored_in_32bit_modes)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	if (mode >= PAGING_4LEVEL)
		return;
	ptb_init_mode(&b, mode);
	ptb_map(&b, va, 0x5000, 0, PTE_P);
	ptb_load_ok(&b);
	cr_assert(ptb_walk_simple(&b, va | 0xFFFFFFFF00000000ull, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.pa, 0x5000 | (va & 0xFFF));
	cr_assert_not(ptb_walk_simple(&b, (va + 0x1000) | (1ull << 40), MMU_READ, false, 0, &r, &f));
	cr_assert_eq(f.cr2, va + 0x1000, "CR2 holds the 32-bit linear address");
	ptb_fini(&b);
}

/* ---- PAE PDPTE registers ------------------------------------------------------------------ */

Test(walk, pae_pdpte_not_present_faults_at_level_2_without_memory_reads)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;

	ptb_init_mode(&b, PAGING_PAE);
	ptb_map(&b, 0x00001000, 0x5000, 0, PTE_P);   /* PDPTE 0 only */
	ptb_load_ok(&b);
	ASSERT_PF(ptb_walk_simple(&b, 0xC0001000u, MMU_WRITE, true, 0, &r, &f), f,
		  PF_ERR_W | PF_ERR_U, 2);
	cr_assert_eq(r.nreads, 0);
	cr_assert(ptb_walk_simple(&b, 0x00001000, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.nreads, 2, "PDPTE register use is not a memory read");
	cr_assert_eq(r.first_level, 1);
	ptb_fini(&b);
}

Test(walk, pae_pdpte_reserved_bits_make_regs_init_fail)
{
	static const unsigned rsvd_bits[] = { 1, 2, 5, 6, 7, 8, 40, 51, 52, 62, 63 };
	struct ptb b;
	const char *err;

	ptb_init_mode(&b, PAGING_PAE);   /* M = 40 */
	ptb_map(&b, 0x40001000, 0x5000, 0, PTE_P);   /* PDPTE 1 */
	ptb_load_ok(&b);
	uint64_t pdpte1 = b.regs.pdpte[1];
	cr_assert(pdpte1 & PTE_P);
	for (unsigned i = 0; i < sizeof rsvd_bits / sizeof rsvd_bits[0]; i++) {
		ptb_set(&b, 0x40001000, 2, pdpte1 | PAGING_BIT(rsvd_bits[i]));
		err = NULL;
		cr_assert_not(ptb_load(&b, &err), "PDPTE bit %u is reserved", rsvd_bits[i]);
		cr_assert_not_null(err);
		/* mmu_load_pdptes keeps the old registers on failure */
		struct mmu_regs good;
		ptb_set(&b, 0x40001000, 2, pdpte1);
		ptb_load_ok(&b);
		good = b.regs;
		ptb_set(&b, 0x40001000, 2, pdpte1 | PAGING_BIT(rsvd_bits[i]));
		cr_assert_not(mmu_load_pdptes(&b.regs, &b.pm));
		cr_assert_eq(memcmp(b.regs.pdpte, good.pdpte, sizeof good.pdpte), 0);
	}
	/* Allowed bits: PWT, PCD, ignored 11:9, address below M. */
	ptb_set(&b, 0x40001000, 2, pdpte1 | PTE_PWT | PTE_PCD | 0xE00u);
	cr_assert(ptb_load(&b, NULL));
	/* A not-present PDPTE's other bits are ignored. */
	ptb_set(&b, 0x40001000, 2, 0xFFFFFFFFFFFFFFFEull);
	cr_assert(ptb_load(&b, NULL));
	ptb_fini(&b);
}

Test(walk, pae_pdpt_outside_memory_makes_regs_init_fail)
{
	struct ptb b;
	const char *err = NULL;

	ptb_init_mode(&b, PAGING_PAE);
	b.root = b.pm.size;   /* PDPT just past the end */
	cr_assert_not(ptb_load(&b, &err));
	cr_assert_not_null(err);
	b.root = b.pm.size - 32;
	cr_assert(ptb_load(&b, NULL));
	ptb_fini(&b);
}

Test(walk, pae_pdptes_are_used_as_loaded_until_reload)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;

	ptb_init_mode(&b, PAGING_PAE);
	ptb_map(&b, 0x80002000u, 0x7000, 0, PTE_P);
	ptb_load_ok(&b);
	uint64_t pdpte = ptb_get(&b, 0x80002000u, 2);
	ptb_set(&b, 0x80002000u, 2, 0);   /* the kernel clears the PDPTE in memory ... */
	cr_assert(ptb_walk_simple(&b, 0x80002000u, MMU_READ, false, 0, &r, &f),
		  "... but the register still holds the old value");
	cr_assert(mmu_load_pdptes(&b.regs, &b.pm));   /* MOV CR3 */
	ASSERT_PF(ptb_walk_simple(&b, 0x80002000u, MMU_READ, false, 0, &r, &f), f, 0, 2);
	ptb_set(&b, 0x80002000u, 2, pdpte);
	cr_assert(mmu_load_pdptes(&b.regs, &b.pm));
	cr_assert(ptb_walk_simple(&b, 0x80002000u, MMU_READ, false, 0, &r, &f));
	ptb_fini(&b);
}

Test(walk, load_pdptes_is_a_noop_outside_pae)
{
	struct ptb b;
	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_load_ok(&b);
	cr_assert(mmu_load_pdptes(&b.regs, &b.pm));
	cr_assert_eq(b.regs.pdpte[0], 0);
	ptb_fini(&b);
}

/* ---- CR3 ---------------------------------------------------------------------------------- */

Test(walk, cr3_pcid_and_noflush_bits_do_not_move_the_root)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_4LEVEL);

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, va, 0x5000, 0, PTE_P);
	b.cfg.cr4 |= CR4_PCIDE;
	b.cr3_low = 0x123 | CR3_NOFLUSH;
	ptb_load_ok(&b);
	cr_assert_eq(b.regs.cr3, b.root | 0x123, "NOFLUSH is not stored");
	cr_assert_eq(mmu_pcid(&b.regs), 0x123);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	cr_assert_eq(r.entry_pa[0] & ~0xFFFull, b.root);

	/* Without PCIDE, bit 63 is a reserved CR3 bit; PWT/PCD are not address bits. */
	b.cfg.cr4 &= ~CR4_PCIDE;
	cr_assert_not(ptb_load(&b, NULL));
	b.cr3_low = CR3_PWT | CR3_PCD;
	ptb_load_ok(&b);
	cr_assert_eq(mmu_pcid(&b.regs), 0);
	cr_assert(ptb_walk_simple(&b, va, MMU_READ, false, 0, &r, &f));
	ptb_fini(&b);
}

Test(walk, cr3_bits_above_maxphyaddr_fail_regs_init_in_ia32e)
{
	struct ptb b;
	const char *err = NULL;

	ptb_init_mode(&b, PAGING_4LEVEL);   /* M = 46 */
	b.cr3_low = PAGING_BIT(46);
	cr_assert_not(ptb_load(&b, &err));
	cr_assert_not_null(err);
	ptb_fini(&b);

	/* 32-bit modes ignore CR3 bits 63:32. */
	ptb_init_mode(&b, PAGING_2LEVEL);
	b.cr3_low = PAGING_BIT(40);
	ptb_load_ok(&b);
	ptb_fini(&b);
}

Test(walk, regs_init_rejects_invalid_registers_with_a_reason)
{
	struct mmu_regs regs;
	struct mmu_phys pm = { 0 };
	const char *err = NULL;
	cr_assert_not(mmu_regs_init(&regs, &pm, CR0_PE, 0, 0, 0, 36, false, &err));
	cr_assert_not_null(err);
	err = NULL;
	cr_assert_not(mmu_regs_init(&regs, &pm, CR0_PE | CR0_PG, 0, 0, EFER_LME, 36, false, &err));
	cr_assert_not_null(err);
	cr_assert(mmu_regs_init(&regs, &pm, CR0_PE | CR0_PG, 0, CR4_PAE, EFER_LME, 36, false, NULL));
	cr_assert(regs.efer & EFER_LMA, "LMA follows LME with paging on");
}

/* ---- helpers ------------------------------------------------------------------------------ */

Test(walk, pf_error_str_names_bits)
{
	char buf[64];
	cr_assert_str_eq(mmu_pf_error_str(0, buf, sizeof buf), "NP|R|S");
	cr_assert_str_eq(mmu_pf_error_str(PF_ERR_P | PF_ERR_W | PF_ERR_U | PF_ERR_RSVD | PF_ERR_I,
					  buf, sizeof buf), "P|W|U|RSVD|I");
	cr_assert_str_eq(mmu_pf_error_str(PF_ERR_P, buf, 3), "P|");
}

Test(walk, walk_check_catches_an_inconsistent_result)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(PAGING_4LEVEL);
	struct walk_req req = { .va = va, .access = MMU_READ };

	ptb_init_mode(&b, PAGING_4LEVEL);
	ptb_map(&b, va, 0x5000, 0, PTE_P);
	ptb_load_ok(&b);
	cr_assert(ptb_walk(&b, &req, 0, &r, &f));
	struct walk_result bad = r;
	bad.pa ^= 0x1000;
	cr_assert_not_null(mmu_walk_check(&b.regs, &b.pm, &req, &bad));
	bad = r;
	bad.nreads = 3;
	cr_assert_not_null(mmu_walk_check(&b.regs, &b.pm, &req, &bad));
	bad = r;
	bad.page_shift = 21;
	cr_assert_not_null(mmu_walk_check(&b.regs, &b.pm, &req, &bad));
	req.access = MMU_WRITE;
	cr_assert_not_null(mmu_walk_check(&b.regs, &b.pm, &req, &r), "write to a read-only page");
	ptb_fini(&b);
}
