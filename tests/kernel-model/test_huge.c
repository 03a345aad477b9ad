/* Unit tests of huge pages in the kernel model (km_config.hugepages): huge-aligned placement,
 * large leaves (PS=1) installed by faults and walked by the MMU, freeing on munmap, the
 * hugetlb rule that no munmap/mprotect/mremap/madvise boundary may split a huge page, mprotect
 * and mremap of whole huge pages, mixed page sizes in one VMA, MAP_HUGETLB, the 1 GiB pool and
 * OOM while allocating a huge block; in every paging mode that has the size. km_check (buddy
 * lists, VMAs, page tables with their large leaves, reference counts, huge-page counters) runs
 * after every case and at the checkpoints inside cases. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kmodel.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define HUGE_FLAG(shift) ((int)((unsigned)(shift) << MAP_HUGE_SHIFT))

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PG  (4 * KiB)

struct hmode {
	enum km_arch arch;
	enum paging_mode paging;
	unsigned shift;        /* PMD-level huge page: 22 (2-level PSE) or 21 */
};

/* Every paging mode with its PMD-level huge page size. */
static const struct hmode hmodes[] = {
	{ KM_ARCH_I386, PAGING_2LEVEL, PAGE_SHIFT_4M },
	{ KM_ARCH_I386, PAGING_PAE, PAGE_SHIFT_2M },
	{ KM_ARCH_X86_64, PAGING_4LEVEL, PAGE_SHIFT_2M },
	{ KM_ARCH_X86_64, PAGING_5LEVEL, PAGE_SHIFT_2M },
};
#define NR_HMODES (sizeof(hmodes) / sizeof(hmodes[0]))

/* The modes with 1 GiB pages. */
static const struct hmode gmodes[] = {
	{ KM_ARCH_X86_64, PAGING_4LEVEL, PAGE_SHIFT_1G },
	{ KM_ARCH_X86_64, PAGING_5LEVEL, PAGE_SHIFT_1G },
};
#define NR_GMODES (sizeof(gmodes) / sizeof(gmodes[0]))

static struct km *km;
static struct mm_struct *mm;
static int flushes;

static void count_flush(void *ctx, struct mm_struct *m, uint64_t s, uint64_t e)
{
	(void)ctx; (void)m; (void)s; (void)e;
	flushes++;
}

static void check(const char *where)
{
	const char *why = km_check(km, mm);
	cr_assert_null(why, "km_check (%s): %s", where, why);
}

static void setup(enum km_arch arch, enum paging_mode paging, enum km_hugepages huge,
		  unsigned pool, uint64_t mem)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, arch);
	cfg.paging = paging;
	cfg.hugepages = huge;
	cfg.hugepages_1g_pool = pool;
	if (mem)
		cfg.mem_bytes = mem;
	km = km_new(&cfg, err, sizeof(err));
	cr_assert_not_null(km, "km_new: %s", err);
	struct km_ops ops = { .flush_tlb = count_flush };
	km_set_ops(km, &ops);
	mm = km_mm_new(km);
	cr_assert_not_null(mm);
	flushes = 0;
}

static void setup_h(const struct hmode *m, uint64_t mem)
{
	setup(m->arch, m->paging, KM_HUGE_2M, 0, mem);
	cr_assert_eq(km_huge_shift_pmd(km), m->shift);
	cr_assert_eq(km_huge_shift_pud(km), 0);
}

/* Criterion 2.4 ignores failed assertions in a .fini, so the final self-checks abort instead
 * (the test then counts as crashed, which fails the run). */
static void fini_check(bool ok, const char *what, const char *why)
{
	if (!ok) {
		fprintf(stderr, "self-check failed after the test: %s: %s\n", what, why ? why : "");
		abort();
	}
}

static void teardown(void)
{
	if (km) {
		const char *why = km_check(km, mm);
		fini_check(why == NULL, "km_check", why);
		km_mm_free(km, mm);
		mm = NULL;
		why = km_check(km, NULL);
		fini_check(why == NULL, "km_check after free", why);
		fini_check(km_frames_in_use(km) == 0, "frames leaked", NULL);
		fini_check(km_stats(km)->huge_pmd_in_use == 0, "PMD-level huge pages leaked", NULL);
		fini_check(km_stats(km)->huge_pud_in_use == 0, "1 GiB pages leaked", NULL);
		km_free(km);
	}
	km = NULL;
	mm = NULL;
}

/* Walks va as a user access of the given kind (no A/D update); false on a fault. */
static bool xlate(uint64_t va, enum mmu_access acc, struct walk_result *r)
{
	struct mmu_regs regs;
	km_mm_regs(km, mm, &regs);
	struct mmu_phys pm = { km_phys_base(km), km_phys_size(km) };
	struct walk_req req = { .va = va, .access = acc, .user = true };
	struct mmu_fault f;
	return mmu_walk(&regs, &pm, &req, 0, r, &f);
}

static struct walk_result walk_ok(uint64_t va)
{
	struct walk_result r;
	cr_assert(xlate(va, MMU_READ, &r), "no translation for %#llx", (unsigned long long)va);
	return r;
}

static enum km_fault_result fault(uint64_t va, uint32_t ec, struct km_fault_info *info)
{
	return km_handle_mm_fault(km, mm, va, ec | PF_ERR_U, info);
}

static void fault_ok(uint64_t va, uint32_t ec, enum km_fault_kind kind)
{
	struct km_fault_info info;
	cr_assert_eq(fault(va, ec, &info), KM_FAULT_OK, "fault at %#llx", (unsigned long long)va);
	cr_assert_eq(info.kind, kind, "fault at %#llx: kind %s, expected %s", (unsigned long long)va,
		     km_fault_kind_name(info.kind), km_fault_kind_name(kind));
}

static int64_t anon(uint64_t addr, uint64_t len, int prot, int extra)
{
	return km_mmap(km, mm, addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, NULL, 0);
}

#define RW (PROT_READ | PROT_WRITE)

/* The translation of every 4 KiB page of [base, base+size) (sampled for 1 GiB pages) uses one
 * large leaf of the given shift mapping one physical block. */
static uint64_t assert_one_block(uint64_t base, unsigned shift)
{
	uint64_t size = UINT64_C(1) << shift;
	struct walk_result r0 = walk_ok(base);
	cr_assert_eq(r0.page_shift, shift, "page_shift %u at %#llx, expected %u", r0.page_shift,
		     (unsigned long long)base, shift);
	cr_assert_eq(r0.leaf_level, shift == PAGE_SHIFT_1G ? PAGING_LEVEL_PDPTE : PAGING_LEVEL_PDE);
	cr_assert_eq(r0.page_base & (size - 1), 0, "block aligned to its size");
	cr_assert(r0.entry[r0.nreads - 1] & PTE_PS, "leaf has PS=1");
	uint64_t step = shift == PAGE_SHIFT_1G ? 4093 * PG : PG;   /* 1 GiB: every 4093rd page */
	for (uint64_t off = 0; off < size; off += step) {
		struct walk_result r = walk_ok(base + off + 123);
		cr_assert_eq(r.page_shift, shift);
		cr_assert_eq(r.page_base, r0.page_base, "same block at +%#llx", (unsigned long long)off);
		cr_assert_eq(r.pa, r0.page_base + off + 123);
	}
	struct walk_result rl = walk_ok(base + size - 1);
	cr_assert_eq(rl.page_base, r0.page_base);
	return r0.page_base;
}

/* ---- placement ---------------------------------------------------------------------------- */

ParameterizedTestParameters(huge, anonymous_mmap_of_a_huge_page_or_more_is_huge_aligned)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, anonymous_mmap_of_a_huge_page_or_more_is_huge_aligned,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	int64_t a = anon(0, 16 * MiB, RW, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(a & (size - 1), 0, "paging %d: 16 MiB mapping at %#llx not aligned to %llu KiB", (int)m->paging,
		     (unsigned long long)a, (unsigned long long)(size >> 10));
	/* Top-down: the highest aligned place below mmap_base. */
	uint64_t top = km_mm_mmap_base(mm);
	cr_assert_eq((uint64_t)a, (top - 16 * MiB) & ~(size - 1));
	/* An odd length is aligned too, and the next one goes below it, aligned. */
	int64_t b = anon(0, size + 5 * PG, RW, 0);
	cr_assert_eq(b & (size - 1), 0);
	cr_assert_lt(b, a);
	/* Smaller than a huge page, or PROT_NONE: plain top-down placement, 4 KiB pages only. The
	 * gap between b and a is less than a huge page; the one above a (up to the unaligned
	 * mmap_base) may hold c. */
	int64_t c = anon(0, size - PG, RW, 0);
	uint64_t c_exp = top - ((uint64_t)a + 16 * MiB) >= size - PG ? top - (size - PG) : (uint64_t)b - (size - PG);
	cr_assert_eq((uint64_t)c, c_exp, "paging %d: small mapping at %#llx, expected %#llx", (int)m->paging,
		     (unsigned long long)c, (unsigned long long)c_exp);
	uint64_t lowest = (uint64_t)c < (uint64_t)b ? (uint64_t)c : (uint64_t)b;
	int64_t n = anon(0, 16 * MiB, PROT_NONE, 0);
	cr_assert_eq((uint64_t)n + 16 * MiB, lowest, "PROT_NONE mapping placed right below");
	/* A PROT_NONE reservation can be made accessible page by page (glibc's arenas). */
	cr_assert_eq(km_mprotect(km, mm, n, 3 * PG, RW), 0);
	fault_ok(n, PF_ERR_W, KM_FK_ANON_NEW);
	cr_assert_eq(walk_ok(n).page_shift, PAGE_SHIFT_4K);
	check("placement");
}

ParameterizedTestParameters(huge, hugepages_none_keeps_4k_pages_everywhere)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, hugepages_none_keeps_4k_pages_everywhere, .fini = teardown)
{
	setup(m->arch, m->paging, KM_HUGE_NONE, 0, 0);
	cr_assert_eq(km_huge_shift_pmd(km), 0);
	int64_t a = anon(0, 16 * MiB, RW, 0);
	cr_assert_eq((uint64_t)a, km_mm_mmap_base(mm) - 16 * MiB, "plain top-down placement");
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t mid = ((uint64_t)a + size) & ~(size - 1);   /* a whole huge block inside */
	fault_ok(mid, PF_ERR_W, KM_FK_ANON_NEW);
	fault_ok(mid + PG, 0, KM_FK_ANON_ZERO);
	struct walk_result r = walk_ok(mid);
	cr_assert_eq(r.page_shift, PAGE_SHIFT_4K);
	cr_assert_eq(r.leaf_level, PAGING_LEVEL_PTE);
	cr_assert_eq(km_munmap(km, mm, mid + PG, PG), 0, "unaligned munmap is fine without huge pages");
	cr_assert_eq(anon(0, size, RW, MAP_HUGETLB), -EINVAL, "MAP_HUGETLB refused when off");
	cr_assert_eq(km_fault_kind_count(km, KM_FK_ANON_HUGE), 0);
	cr_assert_eq(km_stats(km)->huge_pmd_alloc, 0);
	cr_assert_eq(km_stats(km)->huge_fallback, 0);
}

/* ---- faults -------------------------------------------------------------------------------- */

ParameterizedTestParameters(huge, write_fault_installs_one_large_leaf_over_one_block)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, write_fault_installs_one_large_leaf_over_one_block,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t npages = size / PG;
	int64_t a = anon(0, 16 * MiB, RW, 0);
	uint64_t frames0 = km_frames_in_use(km), pgalloc0 = km_stats(km)->pgalloc;
	uint64_t zeroed0 = km_stats(km)->pages_zeroed;
	struct walk_result r;
	cr_assert_not(xlate(a + size, MMU_READ, &r), "nothing mapped before the fault");
	struct km_fault_info info;
	cr_assert_eq(fault(a + size + 5 * PG + 7, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_ANON_HUGE);
	cr_assert_geq(info.cycles, npages * km_get_config(km)->costs.zero_page, "zeroing charged per 4 KiB");
	uint64_t block = assert_one_block(a + size, m->shift);
	cr_assert_eq(block >> 12 & (npages - 1), 0);
	cr_assert(xlate(a + size + 9 * PG, MMU_WRITE, &r), "writable at once");
	cr_assert(r.writable);
	cr_assert(r.dirty, "a write fault installs a dirty leaf");
	uint64_t e = r.entry[r.nreads - 1];
	cr_assert(e & PTE_A);
	cr_assert(e & PTE_US);
	if (m->paging != PAGING_2LEVEL)
		cr_assert(e & PTE_NX, "non-executable VMA maps NX");
	cr_assert_not(xlate(a, MMU_READ, &r), "the neighbouring huge pages stay unmapped");
	cr_assert_not(xlate(a + 2 * size, MMU_READ, &r));
	cr_assert_eq(km_stats(km)->huge_pmd_alloc, 1);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 1);
	cr_assert_eq(km_fault_kind_count(km, KM_FK_ANON_HUGE), 1);
	cr_assert_geq(km_frames_in_use(km), frames0 + npages);
	cr_assert_geq(km_stats(km)->pgalloc, pgalloc0 + npages);
	cr_assert_eq(km_stats(km)->pages_zeroed - zeroed0 >= npages, true);
	/* A second access inside the same huge page is spurious; a read fault elsewhere also gets
	 * a real zeroed huge page (no zero page for hugetlb), writable at once. */
	cr_assert_eq(fault(a + size + 100 * PG, PF_ERR_W | PF_ERR_P, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_SPURIOUS);
	fault_ok(a + 3 * size, 0, KM_FK_ANON_HUGE);
	cr_assert(xlate(a + 3 * size, MMU_WRITE, &r));
	cr_assert_not(r.dirty, "a read fault does not set Dirty");
	cr_assert_neq(r.page_base >> 12, km_zero_pfn(km));
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 2);
	check("after faults");
}

ParameterizedTestParameters(huge, data_written_through_a_4k_offset_is_in_the_block)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, data_written_through_a_4k_offset_is_in_the_block,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	int64_t a = anon(0, 4 * size, RW, 0);
	uint64_t off = size - 2 * PG - 5;   /* crosses a 4 KiB boundary inside the huge page */
	char msg[] = "through the huge page";
	/* The kernel's uaccess faults the page in through the walker, as copy_to_user does. */
	cr_assert_eq(km_copy_to_user(km, mm, a + off, msg, sizeof(msg)), 0);
	cr_assert_eq(km_fault_kind_count(km, KM_FK_ANON_HUGE), 1);
	uint64_t block = assert_one_block(a, m->shift);
	uint8_t *host = km_phys_base(km) + block;
	cr_assert_eq(memcmp(host + off, msg, sizeof(msg)), 0, "visible at the block's host address");
	cr_assert_eq(host[0], 0, "the rest of the block is zeroed");
	cr_assert_eq(host[size - 1], 0);
	memcpy(host + 3 * PG, "host", 5);
	char back[5];
	cr_assert_eq(km_copy_from_user(km, mm, back, a + 3 * PG, 5), 0);
	cr_assert_str_eq(back, "host");
}

ParameterizedTestParameters(huge, munmap_of_whole_huge_pages_frees_the_blocks)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, munmap_of_whole_huge_pages_frees_the_blocks,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t base_frames = km_frames_in_use(km);
	uint64_t len = 16 * MiB, n = len / size;
	int64_t a = anon(0, len, RW, 0);
	for (uint64_t i = 0; i < n; i++)
		fault_ok(a + i * size + PG, i & 1 ? 0 : PF_ERR_W, KM_FK_ANON_HUGE);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, n);
	cr_assert_geq(km_frames_in_use(km), base_frames + len / PG);
	check("mapped");
	/* One aligned huge page from the middle. */
	cr_assert_eq(km_munmap(km, mm, a + size, size), 0);
	cr_assert_eq(km_stats(km)->huge_pmd_free, 1);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, n - 1);
	struct walk_result r;
	cr_assert_not(xlate(a + size, MMU_READ, &r));
	cr_assert(xlate(a, MMU_READ, &r), "the neighbours stay");
	cr_assert(xlate(a + 2 * size, MMU_READ, &r));
	cr_assert_gt(flushes, 0, "unmapping a huge page flushes");
	check("one unmapped");
	cr_assert_eq(km_munmap(km, mm, a, len), 0);
	cr_assert_eq(km_stats(km)->huge_pmd_free, n);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 0);
	cr_assert_eq(km_frames_in_use(km), base_frames, "frames back to the baseline");
	struct km_fault_info info;
	cr_assert_eq(fault(a, 0, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_MAPERR);
}

ParameterizedTestParameters(huge, boundaries_that_split_a_huge_page_are_einval)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, boundaries_that_split_a_huge_page_are_einval,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	int64_t a = anon(0, 4 * size, RW, 0);
	fault_ok(a + size, PF_ERR_W, KM_FK_ANON_HUGE);
	uint64_t block = walk_ok(a + size).page_base;
	uint64_t vmas0 = km_stats(km)->vma_splits;
	cr_assert_eq(km_munmap(km, mm, a + size + PG, PG), -EINVAL);
	cr_assert_eq(km_munmap(km, mm, a + size / 2, size), -EINVAL);
	cr_assert_eq(km_munmap(km, mm, a, size + PG), -EINVAL, "end inside a huge page");
	cr_assert_eq(km_munmap(km, mm, a + PG, PG), -EINVAL, "an unmapped huge block counts too");
	cr_assert_eq(km_mprotect(km, mm, a + size, PG, PROT_READ), -EINVAL);
	cr_assert_eq(km_madvise(km, mm, a + size + PG, PG, MADV_DONTNEED), -EINVAL);
	cr_assert_eq(km_mremap(km, mm, a + size + PG, PG, PG, MREMAP_MAYMOVE, 0), -EINVAL);
	cr_assert_eq(km_mremap(km, mm, a, 2 * size, size + PG, 0, 0), -EINVAL, "shrink to a split");
	int64_t fixed = anon(a + size + 8 * PG, PG, RW, MAP_FIXED);
	cr_assert_eq(fixed, -EINVAL, "MAP_FIXED over part of a huge page");
	cr_assert_eq(km_stats(km)->vma_splits, vmas0, "nothing split");
	cr_assert_eq(walk_ok(a + size + PG).page_base, block, "the huge page is intact");
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 1);
	/* MADV_DONTNEED rounds its end down: the huge page it only touches stays. */
	cr_assert_eq(km_madvise(km, mm, a + size, size + PG, MADV_DONTNEED), 0);
	struct walk_result r;
	cr_assert_not(xlate(a + size, MMU_READ, &r), "the whole huge page was dropped");
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 0);
	check("after madvise");
}

ParameterizedTestParameters(huge, mprotect_of_a_whole_huge_page_rewrites_the_leaf)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, mprotect_of_a_whole_huge_page_rewrites_the_leaf,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	int64_t a = anon(0, 4 * size, RW, 0);
	fault_ok(a + size, PF_ERR_W, KM_FK_ANON_HUGE);
	fault_ok(a + 2 * size, PF_ERR_W, KM_FK_ANON_HUGE);
	cr_assert_eq(km_copy_to_user(km, mm, a + size + 77, "x", 1), 0);
	uint64_t block = walk_ok(a + size).page_base;
	cr_assert_eq(km_mprotect(km, mm, a + size, size, PROT_READ), 0);
	struct walk_result r;
	cr_assert(xlate(a + size + 5 * PG, MMU_READ, &r));
	cr_assert_eq(r.page_shift, m->shift, "still one large leaf");
	cr_assert_eq(r.page_base, block);
	cr_assert_not(r.writable, "read-only after mprotect");
	cr_assert_not(xlate(a + size, MMU_WRITE, &r));
	cr_assert(xlate(a + 2 * size, MMU_WRITE, &r), "the next huge page keeps its rights");
	struct km_fault_info info;
	cr_assert_eq(fault(a + size, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_ACCERR);
	check("read-only");
	/* PROT_NONE keeps the block behind a not-present leaf. */
	cr_assert_eq(km_mprotect(km, mm, a + size, size, PROT_NONE), 0);
	cr_assert_not(xlate(a + size, MMU_READ, &r));
	cr_assert_eq(fault(a + size, 0, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 2);
	check("PROT_NONE");
	/* Back to read/write: writable at once, same block, data kept. */
	cr_assert_eq(km_mprotect(km, mm, a + size, size, RW), 0);
	cr_assert(xlate(a + size, MMU_WRITE, &r));
	cr_assert_eq(r.page_base, block);
	cr_assert_eq(r.page_shift, m->shift);
	char c = 0;
	cr_assert_eq(km_copy_from_user(km, mm, &c, a + size + 77, 1), 0);
	cr_assert_eq(c, 'x');
	cr_assert_eq(km_copy_to_user(km, mm, a + size + 78, "y", 1), 0, "no write-protect fault");
	cr_assert_eq(km_fault_kind_count(km, KM_FK_COW_REUSE), 0);
	check("read/write again");
}

ParameterizedTestParameters(huge, unaligned_vma_mixes_huge_middle_and_4k_edges)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, unaligned_vma_mixes_huge_middle_and_4k_edges,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t frames0 = km_frames_in_use(km);
	uint64_t base = 0x10000000;   /* 256 MiB: aligned for every size */
	uint64_t start = base + 3 * PG, end = base + 3 * size + 5 * PG;
	int64_t a = anon(start, end - start, RW, MAP_FIXED);
	cr_assert_eq((uint64_t)a, start);
	/* Head edge [start, base+size): no whole block inside the VMA → 4 KiB pages. */
	fault_ok(start, PF_ERR_W, KM_FK_ANON_NEW);
	fault_ok(base + size - PG, 0, KM_FK_ANON_ZERO);
	fault_ok(base + size + 11 * PG, PF_ERR_W, KM_FK_ANON_HUGE);
	fault_ok(base + 2 * size, 0, KM_FK_ANON_HUGE);
	fault_ok(base + 3 * size + 4 * PG, PF_ERR_W, KM_FK_ANON_NEW);
	cr_assert_eq(walk_ok(start).page_shift, PAGE_SHIFT_4K);
	cr_assert_eq(walk_ok(base + size - PG).page_shift, PAGE_SHIFT_4K);
	cr_assert_eq(walk_ok(base + size - PG).page_base >> 12, km_zero_pfn(km), "edge reads use the zero page");
	assert_one_block(base + size, m->shift);
	assert_one_block(base + 2 * size, m->shift);
	cr_assert_eq(walk_ok(base + 3 * size + 4 * PG).page_shift, PAGE_SHIFT_4K);
	cr_assert_eq(km_stats(km)->huge_fallback, 3);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 2);
	check("mixed");
	/* Boundaries in the 4 KiB edges may split the VMA; one in the middle may not. */
	cr_assert_eq(km_munmap(km, mm, start + PG, PG), 0);
	cr_assert_eq(km_mprotect(km, mm, base + 3 * size + PG, PG, PROT_READ), 0);
	cr_assert_eq(km_munmap(km, mm, base + size + PG, PG), -EINVAL);
	check("edges split");
	/* The whole range, unaligned ends and all. */
	cr_assert_eq(km_munmap(km, mm, start, end - start), 0);
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 0);
	cr_assert_eq(km_frames_in_use(km), frames0);
}

ParameterizedTestParameters(huge, translations_already_under_a_block_keep_it_4k)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, translations_already_under_a_block_keep_it_4k,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t base = 0x20000000;
	/* [base, base+size+2 pages): the tail edge takes a 4 KiB page. */
	int64_t a = anon(base, size + 2 * PG, RW, MAP_FIXED);
	cr_assert_eq((uint64_t)a, base);
	fault_ok(base + size, PF_ERR_W, KM_FK_ANON_NEW);
	/* Growing in place makes [base+size, base+2*size) a whole block of the VMA, but a 4 KiB
	 * page is already under it: its faults stay 4 KiB (no collapse). */
	cr_assert_eq(km_mremap(km, mm, base, size + 2 * PG, 3 * size, 0, 0), (int64_t)base);
	fault_ok(base + size + 9 * PG, PF_ERR_W, KM_FK_ANON_NEW);
	cr_assert_eq(walk_ok(base + size + 9 * PG).page_shift, PAGE_SHIFT_4K);
	fault_ok(base + 2 * size, PF_ERR_W, KM_FK_ANON_HUGE);
	/* Once those pages are gone (their page table is freed), the block can be huge. */
	cr_assert_eq(km_madvise(km, mm, base + size, size, MADV_DONTNEED), 0);
	fault_ok(base + size + 3 * PG, 0, KM_FK_ANON_HUGE);
	assert_one_block(base + size, m->shift);
	check("after collapse by refault");
}

ParameterizedTestParameters(huge, mremap_moves_large_leaves_to_congruent_addresses)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, mremap_moves_large_leaves_to_congruent_addresses,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	uint64_t base = 0x30000000;
	int64_t a = anon(base, 2 * size, RW, MAP_FIXED);
	cr_assert_eq((uint64_t)a, base);
	int64_t blk = anon(base + 2 * size, PG, PROT_READ, MAP_FIXED);   /* no growth in place */
	cr_assert_eq((uint64_t)blk, base + 2 * size);
	cr_assert_eq(km_copy_to_user(km, mm, base + 5, "first", 6), 0);
	cr_assert_eq(km_copy_to_user(km, mm, base + size + 5, "second", 7), 0);
	uint64_t b0 = walk_ok(base).page_base, b1 = walk_ok(base + size).page_base;
	/* A fixed destination that is not congruent modulo the huge size is refused. */
	cr_assert_eq(km_mremap(km, mm, base, 2 * size, 2 * size, MREMAP_MAYMOVE | MREMAP_FIXED,
			       0x40000000 + PG), -EINVAL);
	cr_assert_eq(walk_ok(base).page_base, b0, "nothing moved");
	/* Growing with MREMAP_MAYMOVE moves to a congruent address: the leaves move whole. */
	int64_t n = km_mremap(km, mm, base, 2 * size, 3 * size, MREMAP_MAYMOVE, 0);
	cr_assert_gt(n, 0);
	cr_assert_neq(n, a);
	cr_assert_eq(n & (size - 1), 0);
	cr_assert_eq(walk_ok(n).page_base, b0, "same block, new address");
	cr_assert_eq(walk_ok(n).page_shift, m->shift);
	cr_assert_eq(walk_ok(n + size).page_base, b1);
	char buf[8];
	cr_assert_eq(km_copy_from_user(km, mm, buf, n + size + 5, 7), 0);
	cr_assert_str_eq(buf, "second");
	struct walk_result r;
	cr_assert_not(xlate(base, MMU_READ, &r), "old range unmapped");
	cr_assert_eq(km_stats(km)->huge_pmd_in_use, 2, "moved, not freed");
	/* The grown tail takes a huge page of its own. */
	fault_ok(n + 2 * size, PF_ERR_W, KM_FK_ANON_HUGE);
	check("moved");
	/* A congruent fixed destination works too. */
	int64_t f = km_mremap(km, mm, n, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, 0x50000000);
	cr_assert_eq(f, 0x50000000);
	cr_assert_eq(walk_ok(0x50000000).page_base, b0);
	cr_assert_eq(km_copy_from_user(km, mm, buf, 0x50000000 + 5, 6), 0);
	cr_assert_str_eq(buf, "first");
	check("fixed move");
}

ParameterizedTestParameters(huge, map_hugetlb_rounds_up_and_maps_huge_pages_on_read)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, map_hugetlb_rounds_up_and_maps_huge_pages_on_read,
		  .fini = teardown)
{
	setup_h(m, 0);
	uint64_t size = UINT64_C(1) << m->shift;
	int64_t a = anon(0, 100, PROT_READ, MAP_HUGETLB);
	cr_assert_gt(a, 0);
	cr_assert_eq(a & (size - 1), 0);
	fault_ok(a + size - PG, 0, KM_FK_ANON_HUGE);
	struct walk_result r = walk_ok(a);
	cr_assert_eq(r.page_shift, m->shift, "the length was rounded up to one huge page");
	cr_assert_not(r.writable, "read-only VMA");
	cr_assert_eq(km_phys_base(km)[r.page_base + 17], 0);
	cr_assert_eq(anon(0, size, RW, MAP_HUGETLB | HUGE_FLAG(m->shift)), (int64_t)(a - size),
		     "MAP_HUGE_<size> naming the configured size");
	cr_assert_eq(anon(0, size, RW, MAP_HUGETLB | HUGE_FLAG(PAGE_SHIFT_1G)), -EINVAL,
		     "1 GiB pages are not configured");
	cr_assert_eq(anon(0x10000000 + PG, size, RW, MAP_HUGETLB | MAP_FIXED), -EINVAL);
	cr_assert_eq(anon(0x10000000, size, RW, MAP_HUGETLB | MAP_FIXED), 0x10000000);
	cr_assert_eq(anon(0x20000000 + PG, size, RW, MAP_HUGETLB), 0x20000000 + (int64_t)size,
		     "a hint is aligned up");
	cr_assert_eq(km_munmap(km, mm, a, PG), -EINVAL);
	cr_assert_eq(km_munmap(km, mm, a, size), 0);
	/* Not for files. */
	cr_assert_eq(km_mmap(km, mm, 0, size, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, NULL, 0), -EBADF);
}

/* ---- out of memory ------------------------------------------------------------------------- */

ParameterizedTestParameters(huge, no_free_huge_block_is_an_oom_result)
{
	return cr_make_param_array(struct hmode, (void *)hmodes, NR_HMODES);
}

ParameterizedTest(const struct hmode *m, huge, no_free_huge_block_is_an_oom_result, .fini = teardown)
{
	setup_h(m, 64 * MiB);
	uint64_t size = UINT64_C(1) << m->shift;
	/* 48 MiB of the 64 are free after the reserved low 16 MiB. */
	uint64_t len = 128 * MiB;
	int64_t a = anon(0, len, RW, 0);
	cr_assert_gt(a, 0);
	struct km_fault_info info;
	enum km_fault_result res = KM_FAULT_OK;
	uint64_t i;
	for (i = 0; i < len / size && res == KM_FAULT_OK; i++)
		res = fault(a + i * size, PF_ERR_W, &info);
	cr_assert_eq(res, KM_FAULT_OOM);
	cr_assert_eq(info.kind, KM_FK_OOM);
	cr_assert_eq(km_stats(km)->oom_kills, 1);
	uint64_t got = km_stats(km)->huge_pmd_in_use;
	cr_assert_eq(got, i - 1);
	cr_assert_lt(got * size, 48 * MiB);
	cr_assert_geq(got * size, 48 * MiB - 2 * size, "only the page tables' block is short");
	/* No block of the huge order is left, but 4 KiB frames are. */
	int64_t s = anon(0, PG, RW, 0);
	cr_assert_gt(s, 0);
	fault_ok(s, PF_ERR_W, KM_FK_ANON_NEW);
	check("after OOM");
}

/* ---- 1 GiB pages --------------------------------------------------------------------------- */

Test(huge1g, configurations_that_cannot_work_are_refused_with_a_reason, .fini = teardown)
{
	struct km_config cfg;
	char err[256];
	struct { enum km_arch arch; enum paging_mode paging; enum km_hugepages h; unsigned pool;
		 const char *says; } bad[] = {
		{ KM_ARCH_I386, PAGING_2LEVEL, KM_HUGE_1G, 1, "4-level or 5-level" },
		{ KM_ARCH_I386, PAGING_PAE, KM_HUGE_1G, 1, "4-level or 5-level" },
		{ KM_ARCH_X86_64, PAGING_4LEVEL, KM_HUGE_1G, 0, "pool" },
		{ KM_ARCH_X86_64, PAGING_4LEVEL, KM_HUGE_1G, 4, "does not fit" },
		{ KM_ARCH_X86_64, PAGING_4LEVEL, KM_HUGE_2M, 1, "--hugepages 1g" },
		{ KM_ARCH_X86_64, PAGING_4LEVEL, KM_HUGE_NONE, 1, "--hugepages 1g" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		km_default_config(&cfg, bad[i].arch);
		cfg.paging = bad[i].paging;
		cfg.hugepages = bad[i].h;
		cfg.hugepages_1g_pool = bad[i].pool;
		err[0] = 0;
		struct km *k = km_new(&cfg, err, sizeof(err));
		cr_assert_null(k, "case %zu accepted", i);
		cr_assert_not_null(strstr(err, bad[i].says), "case %zu: \"%s\"", i, err);
	}
	/* 4 GiB of RAM holds at most three 1 GiB pages above the reserved low memory. */
	setup(KM_ARCH_X86_64, PAGING_4LEVEL, KM_HUGE_1G, 3, 0);
	cr_assert_eq(km_huge_shift_pud(km), PAGE_SHIFT_1G);
	cr_assert_eq(km_huge_shift_pmd(km), PAGE_SHIFT_2M);
	check("pool of 3");
}

ParameterizedTestParameters(huge1g, one_vma_mixes_1g_2m_and_4k_pages)
{
	return cr_make_param_array(struct hmode, (void *)gmodes, NR_GMODES);
}

ParameterizedTest(const struct hmode *m, huge1g, one_vma_mixes_1g_2m_and_4k_pages, .fini = teardown)
{
	setup(m->arch, m->paging, KM_HUGE_1G, 1, 0);
	uint64_t frames0 = km_frames_in_use(km);
	uint64_t len = 2 * GiB + 2 * MiB + 2 * PG;
	int64_t a = anon(0, len, RW, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(a & (GiB - 1), 0, "1 GiB-aligned: %#llx", (unsigned long long)a);
	/* [a, a+1G): the pool's one 1 GiB page. */
	cr_assert_eq(km_copy_to_user(km, mm, a + GiB - 8, "1G!", 4), 0);
	cr_assert_eq(km_fault_kind_count(km, KM_FK_ANON_HUGE), 1);
	uint64_t block = assert_one_block(a, PAGE_SHIFT_1G);
	cr_assert_eq(memcmp(km_phys_base(km) + block + GiB - 8, "1G!", 4), 0);
	cr_assert_eq(km_stats(km)->huge_pud_in_use, 1);
	/* The pool's page is no buddy frame: only the new page tables above the PDPTE count. */
	uint64_t tables = m->paging == PAGING_5LEVEL ? 2 : 1;
	cr_assert_eq(km_frames_in_use(km), frames0 + tables, "frames: +%lld",
		     (long long)(km_frames_in_use(km) - frames0));
	/* [a+1G, a+2G): the pool is empty, so 2 MiB pages. */
	fault_ok(a + GiB + 3 * MiB, PF_ERR_W, KM_FK_ANON_HUGE);
	assert_one_block(a + GiB + 2 * MiB, PAGE_SHIFT_2M);
	cr_assert_eq(km_stats(km)->huge_pud_pool_empty, 1);
	/* [a+2G, a+2G+2M): 2 MiB; the last two pages: 4 KiB. */
	fault_ok(a + 2 * GiB, 0, KM_FK_ANON_HUGE);
	assert_one_block(a + 2 * GiB, PAGE_SHIFT_2M);
	fault_ok(a + 2 * GiB + 2 * MiB + PG, PF_ERR_W, KM_FK_ANON_NEW);
	cr_assert_eq(walk_ok(a + 2 * GiB + 2 * MiB + PG).page_shift, PAGE_SHIFT_4K);
	check("mixed sizes");
	/* A 2 MiB-aligned boundary inside the 1 GiB page still splits it. */
	cr_assert_eq(km_munmap(km, mm, a + 2 * MiB, 2 * MiB), -EINVAL);
	cr_assert_eq(km_mprotect(km, mm, a, 2 * MiB, PROT_READ), -EINVAL);
	/* Inside the second GiB (whole 1 GiB block in the VMA) 2 MiB boundaries are refused too. */
	cr_assert_eq(km_munmap(km, mm, a + GiB + 2 * MiB, 2 * MiB), -EINVAL);
	/* mprotect of the whole 1 GiB page rewrites its PDPTE. */
	cr_assert_eq(km_mprotect(km, mm, a, GiB, PROT_READ), 0);
	struct walk_result r;
	cr_assert(xlate(a + 12345 * PG, MMU_READ, &r));
	cr_assert_eq(r.page_shift, PAGE_SHIFT_1G);
	cr_assert_not(r.writable);
	check("read-only 1G");
	/* munmap returns it to the pool; the next fault takes it again. */
	cr_assert_eq(km_munmap(km, mm, a, GiB), 0);
	cr_assert_eq(km_stats(km)->huge_pud_free, 1);
	cr_assert_eq(km_stats(km)->huge_pud_in_use, 0);
	cr_assert_not(xlate(a, MMU_READ, &r));
	int64_t b = anon(0, GiB, RW, 0);
	cr_assert_eq(b & (GiB - 1), 0);
	fault_ok(b + 5 * PG, 0, KM_FK_ANON_HUGE);
	cr_assert_eq(assert_one_block(b, PAGE_SHIFT_1G), block, "the pool page again");
	cr_assert_eq(km_phys_base(km)[block + GiB - 8], 0, "zeroed when taken again");
	check("retaken");
}

ParameterizedTestParameters(huge1g, mremap_moves_a_1g_leaf_only_to_a_1g_aligned_address)
{
	return cr_make_param_array(struct hmode, (void *)gmodes, NR_GMODES);
}

ParameterizedTest(const struct hmode *m, huge1g, mremap_moves_a_1g_leaf_only_to_a_1g_aligned_address,
		  .fini = teardown)
{
	setup(m->arch, m->paging, KM_HUGE_1G, 2, 0);
	uint64_t base = 0x100000000ULL;   /* 4 GiB */
	int64_t a = anon(base, GiB, RW, MAP_FIXED);
	cr_assert_eq((uint64_t)a, base);
	cr_assert_eq(km_copy_to_user(km, mm, base + 42, "giant", 6), 0);
	uint64_t block = assert_one_block(base, PAGE_SHIFT_1G);
	cr_assert_eq(km_mremap(km, mm, base, GiB, GiB, MREMAP_MAYMOVE | MREMAP_FIXED,
			       0x200000000ULL + 2 * MiB), -EINVAL, "2 MiB-aligned is not enough");
	cr_assert_eq(km_mremap(km, mm, base, GiB, GiB, MREMAP_MAYMOVE | MREMAP_FIXED, 0x200000000ULL),
		     0x200000000LL);
	cr_assert_eq(assert_one_block(0x200000000ULL, PAGE_SHIFT_1G), block);
	char buf[6];
	cr_assert_eq(km_copy_from_user(km, mm, buf, 0x200000000ULL + 42, 6), 0);
	cr_assert_str_eq(buf, "giant");
	cr_assert_eq(km_stats(km)->huge_pud_in_use, 1);
	check("moved 1G");
}
