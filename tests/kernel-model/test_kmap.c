/* Unit tests of the kernel model's highmem mappings (kmap_local fixmap slots, the permanent
 * pkmap pool with its wrap flush, HIGHPTE) and of fault-around, with expectations worked out
 * from Linux 6.12 mm/highmem.c and mm/memory.c do_fault_around (see kernel-model/highmem.c and
 * fault.c). km_check runs at the end of every case. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "km_internal.h"

static struct km *km;
static struct mm_struct *mm;

/* What the machine saw through km_ops. */
#define MAX_LOG 64
static struct { uint64_t va; int kind; } touches[MAX_LOG];
static unsigned ntouch;
static struct { uint64_t start, end; } kflush[MAX_LOG];
static unsigned nkflush;
static unsigned nev[KM_EV_NKINDS];

static void on_touch(void *ctx, uint64_t va, int kind)
{
	(void)ctx;
	if (ntouch < MAX_LOG) {
		touches[ntouch].va = va;
		touches[ntouch].kind = kind;
	}
	ntouch++;
}

static void on_kflush(void *ctx, uint64_t start, uint64_t end)
{
	(void)ctx;
	if (nkflush < MAX_LOG) {
		kflush[nkflush].start = start;
		kflush[nkflush].end = end;
	}
	nkflush++;
}

static void on_event(void *ctx, const struct km_event *e)
{
	(void)ctx;
	if (e->kind < KM_EV_NKINDS)
		nev[e->kind]++;
}

static void setup(enum km_arch arch, enum paging_mode paging, uint64_t mem, bool highpte)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, arch);
	cfg.paging = paging;
	if (mem)
		cfg.mem_bytes = mem;
	cfg.highpte = highpte;
	km = km_new(&cfg, err, sizeof(err));
	cr_assert_not_null(km, "km_new: %s", err);
	struct km_ops ops = { .kernel_access = on_touch, .flush_kernel = on_kflush, .event = on_event };
	km_set_ops(km, &ops);
	mm = km_mm_new(km);
	cr_assert_not_null(mm);
	ntouch = nkflush = 0;
	memset(nev, 0, sizeof(nev));
}

static void check_and_free(void)
{
	const char *why = km_check(km, mm);
	cr_assert_null(why, "km_check: %s", why);
	km_mm_free(km, mm);
	km_free(km);
	km = NULL;
	mm = NULL;
}

static uint64_t leaf_of(uint64_t va)
{
	void *slot = km_pte_slot(km, mm, va, false, NULL);
	return slot ? pte_read(km, slot) : 0;
}

/* ---- kmap_local ------------------------------------------------------------------------------ */

Test(kmap_local, anonymous_write_fault_zeroes_a_highmem_page_through_one_slot)
{
	setup(KM_ARCH_I386, PAGING_2LEVEL, 2ULL << 30, false);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(a, 0);
	struct km_fault_info info;
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a, PF_ERR_W | PF_ERR_U, &info), KM_FAULT_OK);
	uint64_t pfn = km_pte_pfn(km, leaf_of((uint64_t)a));
	cr_assert(km_pfn_is_highmem(km, pfn), "GFP_HIGHUSER_MOVABLE takes HighMem first on a 2 GiB i386");
	struct km_stats *st = km_stats(km);
	cr_assert_eq(st->highmem_zeroed, 1);
	cr_assert_eq(st->kmap_local, 1);
	cr_assert_eq(st->kunmap_local_invlpg, 1);
	/* Slot 0 of the fixmap kmap area: FIXADDR_TOP - (FIX_KMAP_BEGIN + 0) pages. */
	uint64_t va0 = 0xfffff000ULL - 68ULL * 4096;
	cr_assert_eq(km_kmap_local_addr(0), va0);
	cr_assert_eq(ntouch, 1);
	cr_assert_eq(touches[0].va, va0);
	cr_assert_eq(touches[0].kind, MMU_WRITE);
	cr_assert_eq(nkflush, 1, "one INVLPG per kunmap_local");
	cr_assert_eq(kflush[0].start, va0);
	cr_assert_eq(kflush[0].end, va0 + 4096);
	cr_assert_eq(leaf_of(va0), 0, "the slot's PTE is cleared on unmap");
	cr_assert_eq(nev[KM_EV_KMAP], 1);
	cr_assert_eq(nev[KM_EV_KUNMAP], 1);
	check_and_free();
}

Test(kmap_local, no_highmem_zone_means_no_kmap)
{
	setup(KM_ARCH_I386, PAGING_2LEVEL, 512ULL << 20, false);
	cr_assert(!populated_zone(&km_pgdat(km)->node_zones[ZONE_HIGHMEM]));
	int64_t a = km_mmap(km, mm, 0, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	for (int i = 0; i < 16; i++)
		cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a + i * 4096, PF_ERR_W | PF_ERR_U, &info),
			     KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->kmap_local, 0);
	cr_assert_eq(ntouch, 0);
	cr_assert_eq(nkflush, 0);
	/* kmap of a lowmem frame is page_address(): PAGE_OFFSET + pa. */
	uint64_t pfn = km_pte_pfn(km, leaf_of((uint64_t)a));
	cr_assert_eq(km_kmap_local(km, mm, pfn), 0xc0000000ULL + (pfn << 12));
	check_and_free();
}

Test(kmap_local, x86_64_never_kmaps)
{
	setup(KM_ARCH_X86_64, PAGING_4LEVEL, 0, false);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a, PF_ERR_W | PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->kmap_local, 0);
	uint64_t pfn = km_pte_pfn(km, leaf_of((uint64_t)a));
	cr_assert_eq(km_kmap_local(km, mm, pfn), 0xffff888000000000ULL + (pfn << 12));
	cr_assert_eq(ntouch, 0);
	check_and_free();
}

Test(kmap_local, cow_copy_takes_two_slots_and_unmaps_in_reverse)
{
	setup(KM_ARCH_I386, PAGING_PAE, 2ULL << 30, false);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a, PF_ERR_W | PF_ERR_U, &info), KM_FAULT_OK);
	uint64_t src = km_pte_pfn(km, leaf_of((uint64_t)a));
	struct page *dst = km_alloc_page(km, GFP_HIGHUSER_MOVABLE);
	cr_assert_not_null(dst);
	uint64_t dpfn = km_page_pfn(km, dst);
	ntouch = nkflush = 0;
	km_copy_highpage(km, dpfn, src);
	uint64_t s0 = km_kmap_local_addr(0), s1 = km_kmap_local_addr(1);
	cr_assert_eq(s1, s0 - 4096, "fixmap slots grow downwards");
	cr_assert_eq(ntouch, 2);
	cr_assert_eq(touches[0].va, s0);
	cr_assert_eq(touches[0].kind, MMU_READ, "source read through slot 0");
	cr_assert_eq(touches[1].va, s1);
	cr_assert_eq(touches[1].kind, MMU_WRITE, "destination written through slot 1");
	cr_assert_eq(nkflush, 2);
	cr_assert_eq(kflush[0].start, s1, "kunmap_local(vto) first");
	cr_assert_eq(kflush[1].start, s0);
	cr_assert_eq(km->kmap_local_depth, 0);
	km_free_page(km, dst);
	check_and_free();
}

/* ---- the permanent pool ---------------------------------------------------------------------- */

static void pkmap_wrap(enum paging_mode paging, unsigned last)
{
	setup(KM_ARCH_I386, paging, 2ULL << 30, false);
	cr_assert_eq(km_last_pkmap(km), last);
	struct page **pages = calloc(last + 1, sizeof(*pages));
	for (unsigned i = 0; i <= last; i++) {
		pages[i] = km_alloc_page(km, GFP_HIGHUSER_MOVABLE);
		cr_assert(km_pfn_is_highmem(km, km_page_pfn(km, pages[i])));
	}
	/* kmap + kunmap of last-1 pages: the cursor goes 1, 2, ... last-1 without a flush (kunmap
	 * never flushes). */
	for (unsigned i = 0; i < last - 1; i++) {
		uint64_t pfn = km_page_pfn(km, pages[i]);
		uint64_t va = km_kmap(km, mm, pfn);
		cr_assert_eq(va, km_pkmap_addr(km, i + 1));
		cr_assert_eq(km_kmap(km, mm, pfn), va, "a mapped page is found, not mapped again");
		km_kunmap(km, pfn);
		km_kunmap(km, pfn);
	}
	cr_assert_eq(km_stats(km)->pkmap_maps, last - 1);
	cr_assert_eq(km_stats(km)->pkmap_flushes, 0);
	cr_assert_eq(nkflush, 0);
	cr_assert_neq(leaf_of(km_pkmap_addr(km, 1)), 0, "an unused slot stays mapped until the wrap");
	/* The next map wraps to slot 0: every slot with count 1 is cleared, one range flush. */
	uint64_t va = km_kmap(km, mm, km_page_pfn(km, pages[last - 1]));
	cr_assert_eq(va, km_pkmap_addr(km, 0));
	cr_assert_eq(km_stats(km)->pkmap_flushes, 1);
	cr_assert_eq(nkflush, 1);
	cr_assert_eq(kflush[0].start, km_pkmap_addr(km, 0));
	cr_assert_eq(kflush[0].end, km_pkmap_addr(km, last));
	cr_assert_eq(leaf_of(km_pkmap_addr(km, 1)), 0, "the wrap cleared the unused slots");
	/* Keep everything mapped: slots 1..last-1 are free again, then the pool is full. */
	for (unsigned i = 0; i < last - 1; i++)
		cr_assert_neq(km_kmap(km, mm, km_page_pfn(km, pages[i])), 0);
	cr_assert_eq(km_kmap(km, mm, km_page_pfn(km, pages[last])), 0, "pool exhausted: would sleep");
	cr_assert_eq(km_stats(km)->pkmap_flushes, 1, "a wrap with no count-1 slot flushes nothing");
	for (unsigned i = 0; i <= last; i++)
		km_free_page(km, pages[i]);
	free(pages);
	check_and_free();
}

Test(pkmap, wrap_flushes_once_2level) { pkmap_wrap(PAGING_2LEVEL, 1024); }
Test(pkmap, wrap_flushes_once_pae) { pkmap_wrap(PAGING_PAE, 512); }

Test(pkmap, base_addresses)
{
	setup(KM_ARCH_I386, PAGING_2LEVEL, 2ULL << 30, false);
	cr_assert_eq(km_pkmap_addr(km, 0), 0xff400000ULL);
	cr_assert_eq(km_pkmap_addr(km, 1023), 0xff7ff000ULL, "1024 slots: one 4 MiB page table");
	check_and_free();
	setup(KM_ARCH_I386, PAGING_PAE, 2ULL << 30, false);
	cr_assert_eq(km_pkmap_addr(km, 0), 0xff800000ULL);
	cr_assert_eq(km_pkmap_addr(km, 511), 0xff9ff000ULL, "512 slots: one 2 MiB page table");
	check_and_free();
}

/* ---- HIGHPTE --------------------------------------------------------------------------------- */

Test(highpte, pte_pages_come_from_highmem_and_are_kmapped_per_fault)
{
	setup(KM_ARCH_I386, PAGING_2LEVEL, 2ULL << 30, true);
	int64_t a = km_mmap(km, mm, 0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a, PF_ERR_W | PF_ERR_U, &info), KM_FAULT_OK);
	uint8_t *slot = km_pte_slot(km, mm, (uint64_t)a, false, NULL);
	uint64_t table_pfn = (uint64_t)(slot - km_phys_base(km)) >> 12;
	cr_assert(km_pfn_is_highmem(km, table_pfn), "CONFIG_HIGHPTE: __GFP_HIGHMEM for PTE pages");
	uint64_t maps0 = km_stats(km)->highpte_maps;
	cr_assert_geq(maps0, 1);
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a + 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->highpte_maps, maps0 + 1, "one pte_offset_map per fault");
	check_and_free();
	/* Without HIGHPTE the same fault never maps its page table. */
	setup(KM_ARCH_I386, PAGING_2LEVEL, 2ULL << 30, false);
	a = km_mmap(km, mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_eq(km_handle_mm_fault(km, mm, (uint64_t)a, PF_ERR_U, &info), KM_FAULT_OK);
	slot = km_pte_slot(km, mm, (uint64_t)a, false, NULL);
	cr_assert(!km_pfn_is_highmem(km, (uint64_t)(slot - km_phys_base(km)) >> 12));
	cr_assert_eq(km_stats(km)->highpte_maps, 0);
	check_and_free();
}

/* ---- fault-around ---------------------------------------------------------------------------- */

static int make_file(unsigned pages)
{
	char path[] = "/tmp/mmuemu-fa-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	char buf[4096];
	for (unsigned p = 0; p < pages; p++) {
		memset(buf, (int)p, sizeof(buf));
		cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	return fd;
}

static unsigned mapped_bitmap(uint64_t base, unsigned pages, uint64_t *bits)
{
	unsigned n = 0;
	*bits = 0;
	for (unsigned i = 0; i < pages; i++)
		if (leaf_of(base + i * 4096ULL) & PTE_P) {
			*bits |= 1ULL << i;
			n++;
		}
	return n;
}

Test(fault_around, window_is_16_aligned_ptes_clamped_to_vma_table_and_file)
{
	setup(KM_ARCH_X86_64, PAGING_4LEVEL, 0, false);
	int fd = make_file(40);
	struct km_file *f = km_file_get(km, fd);
	cr_assert_not_null(f);
	/* A 48-page VMA over a 40-page file at a 2 MiB-aligned address: PTE index = page index. */
	uint64_t base = 0x10000000ULL;
	cr_assert_eq(km_mmap(km, mm, base, 48 * 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0), (int64_t)base);
	struct km_fault_info info;
	uint64_t bits;
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 20 * 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_FILE_READ);
	cr_assert_eq(mapped_bitmap(base, 48, &bits), 16);
	cr_assert_eq(bits, 0xffffULL << 16, "pages 16..31: the aligned window around 20");
	cr_assert_eq(km_stats(km)->fault_around_pages, 15);
	/* Page 35: window 32..47, clamped to the file's 40 pages. */
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 35 * 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(mapped_bitmap(base, 48, &bits), 24);
	cr_assert_eq(bits, 0xffffffULL << 16);
	cr_assert_eq(km_stats(km)->fault_around_pages, 15 + 7);
	/* Mapped pages hold the file's bytes and are read-only and young. */
	uint64_t e = leaf_of(base + 33 * 4096);
	cr_assert(!(e & PTE_RW));
	cr_assert(e & PTE_A);
	cr_assert_eq(km_phys_base(km)[km_pte_pfn(km, e) << 12], 33);
	/* A write to a prefaulted page is a COW of the page-cache page. */
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 17 * 4096, PF_ERR_P | PF_ERR_W | PF_ERR_U, &info),
		     KM_FAULT_SIGSEGV);
	cr_assert_eq(info.kind, KM_FK_SIGSEGV, "PROT_READ mapping: the write is refused");
	cr_assert_eq(info.si_code, 2 /* SEGV_ACCERR */);
	km_file_put(km, f);
	close(fd);
	check_and_free();
}

Test(fault_around, window_clamped_to_vma_start_with_offset)
{
	setup(KM_ARCH_X86_64, PAGING_4LEVEL, 0, false);
	int fd = make_file(40);
	struct km_file *f = km_file_get(km, fd);
	/* 10 pages of the file from page 4, at PTE index 3 of its table. */
	uint64_t base = 0x20003000ULL;
	cr_assert_eq(km_mmap(km, mm, base, 10 * 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 4 * 4096),
		     (int64_t)base);
	struct km_fault_info info;
	uint64_t bits;
	/* Fault at VMA page 5 (PTE index 8): from = max(ALIGN_DOWN(8, 16) = 0, 8 - min(8, 5) = 3),
	 * to = min(3 + 16, 512, 8 + 10 - 5) = 13: PTEs 3..12 = the whole VMA. */
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 5 * 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(mapped_bitmap(base, 10, &bits), 10);
	cr_assert_eq(km_stats(km)->fault_around_pages, 9);
	cr_assert_eq(leaf_of(base - 4096), 0, "nothing below the VMA");
	cr_assert_eq(km_phys_base(km)[km_pte_pfn(km, leaf_of(base)) << 12], 4, "file page 4 at the start");
	km_file_put(km, f);
	close(fd);
	check_and_free();
}

Test(fault_around, window_stops_at_the_page_table_boundary)
{
	setup(KM_ARCH_X86_64, PAGING_4LEVEL, 0, false);
	int fd = make_file(40);
	struct km_file *f = km_file_get(km, fd);
	/* 32 pages straddling a 2 MiB boundary: VMA pages 0..15 in one PTE table, 16..31 in the next. */
	uint64_t base = 0x10000000ULL - 16 * 4096;
	cr_assert_eq(km_mmap(km, mm, base, 32 * 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0), (int64_t)base);
	struct km_fault_info info;
	uint64_t bits;
	/* Fault at VMA page 17 = PTE index 1 of the second table: window 0..15 of that table. */
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 17 * 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(mapped_bitmap(base, 32, &bits), 16);
	cr_assert_eq(bits, 0xffffULL << 16);
	/* Fault at VMA page 15 = PTE index 511 of the first table: from = max(496, 511 - 15) = 496,
	 * to = min(512, 512, 511 + 32 - 15) = 512: PTEs 496..511 = VMA pages 0..15. */
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 15 * 4096, PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(mapped_bitmap(base, 32, &bits), 32);
	km_file_put(km, f);
	close(fd);
	check_and_free();
}

Test(fault_around, write_faults_do_not_fault_around)
{
	setup(KM_ARCH_I386, PAGING_2LEVEL, 0, false);
	int fd = make_file(16);
	struct km_file *f = km_file_get(km, fd);
	uint64_t base = 0x10000000ULL;
	cr_assert_eq(km_mmap(km, mm, base, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, f, 0),
		     (int64_t)base);
	struct km_fault_info info;
	uint64_t bits;
	cr_assert_eq(km_handle_mm_fault(km, mm, base + 3 * 4096, PF_ERR_W | PF_ERR_U, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_FILE_COW, "do_cow_fault: a private copy, no fault-around");
	cr_assert_eq(mapped_bitmap(base, 16, &bits), 1);
	cr_assert_eq(km_stats(km)->fault_around_pages, 0);
	km_file_put(km, f);
	close(fd);
	check_and_free();
}
