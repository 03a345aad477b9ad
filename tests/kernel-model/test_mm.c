/* Unit tests of the kernel model's address-space code: the fault handler (zero page, COW,
 * reuse, page cache, stack growth, SIGSEGV kinds, OOM), the mmap family and uaccess, in every
 * paging mode. km_check (buddy lists, VMA order and merging, page-table reachability and
 * reference counts) runs after every case. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kmodel.h"

struct mode {
	enum km_arch arch;
	enum paging_mode paging;
	const char *name;
};

static const struct mode modes[] = {
	{ KM_ARCH_I386, PAGING_2LEVEL, "2level" },
	{ KM_ARCH_I386, PAGING_PAE, "pae" },
	{ KM_ARCH_X86_64, PAGING_4LEVEL, "4level" },
	{ KM_ARCH_X86_64, PAGING_5LEVEL, "5level" },
};

static struct km *km;
static struct mm_struct *mm;
static int flushes;

static void count_flush(void *ctx, struct mm_struct *m, uint64_t s, uint64_t e)
{
	(void)ctx; (void)m; (void)s; (void)e;
	flushes++;
}

static void setup_mode(const struct mode *m, uint64_t mem)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, m->arch);
	cfg.paging = m->paging;
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

/* Criterion 2.4 ignores failed assertions in a .fini, so the self-checks abort instead: the
 * test then counts as crashed, which fails the run. */
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
		why = km_check(km, NULL);
		fini_check(why == NULL, "km_check after km_mm_free", why);
		/* Only page-cache pages stay (no reclaim is modelled yet). */
		fini_check(km_frames_in_use(km) == km_stats(km)->pagecache_pages, "frames leaked", NULL);
		km_free(km);
	}
	km = NULL;
	mm = NULL;
}

/* Translates va as a user access of the given kind; returns false on a fault. */
static bool xlate(uint64_t va, enum mmu_access acc, struct walk_result *r)
{
	struct mmu_regs regs;
	km_mm_regs(km, mm, &regs);
	struct mmu_phys pm = { km_phys_base(km), km_phys_size(km) };
	struct walk_req req = { .va = va, .access = acc, .user = true };
	struct mmu_fault f;
	return mmu_walk(&regs, &pm, &req, 0, r, &f);
}

static uint64_t leaf(uint64_t va)
{
	struct walk_result r;
	struct mmu_regs regs;
	km_mm_regs(km, mm, &regs);
	struct mmu_phys pm = { km_phys_base(km), km_phys_size(km) };
	struct walk_req req = { .va = va, .access = MMU_READ, .user = true };
	struct mmu_fault f;
	if (!mmu_walk(&regs, &pm, &req, 0, &r, &f))
		return 0;
	return r.entry[r.nreads - 1];
}

static uint64_t km_pte_pfn_of(uint64_t e)
{
	return (e & 0x000ffffffffff000ULL & ~PTE_NX) >> 12;
}

static enum km_fault_result fault(uint64_t va, uint32_t ec, struct km_fault_info *info)
{
	return km_handle_mm_fault(km, mm, va, ec | PF_ERR_U, info);
}

static uint8_t *host(uint64_t va)
{
	struct walk_result r;
	cr_assert(xlate(va, MMU_READ, &r));
	return km_phys_base(km) + r.pa;
}

ParameterizedTestParameters(fault, anon_read_maps_zero_page_then_write_copies)
{
	return cr_make_param_array(struct mode, (void *)modes, sizeof(modes) / sizeof(modes[0]));
}

ParameterizedTest(const struct mode *m, fault, anon_read_maps_zero_page_then_write_copies, .fini = teardown)
{
	setup_mode(m, 0);
	int64_t a = km_mmap(km, mm, 0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(a & 0xfff, 0);
	struct walk_result r;
	cr_assert_not(xlate(a, MMU_READ, &r), "nothing mapped before the first fault");
	struct km_fault_info info;
	cr_assert_eq(fault(a + 100, 0, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_ANON_ZERO);
	cr_assert(xlate(a, MMU_READ, &r));
	cr_assert_eq(r.page_base >> 12, km_zero_pfn(km), "read fault maps the zero page");
	cr_assert_not(r.writable, "zero page mapped read-only");
	cr_assert_not(xlate(a, MMU_WRITE, &r), "a write must fault");
	cr_assert_eq(fault(a, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_COW_ZERO);
	cr_assert(xlate(a, MMU_WRITE, &r));
	cr_assert_neq(r.page_base >> 12, km_zero_pfn(km));
	uint64_t e = leaf(a);
	cr_assert(e & PTE_D, "COW installs a dirty PTE");
	cr_assert(e & PTE_A, "new PTEs are young");
	cr_assert_eq(*host(a), 0, "new anonymous page is zeroed");
	if (m->paging != PAGING_2LEVEL)
		cr_assert(e & PTE_NX, "non-exec VMA maps NX");
	/* A direct write fault on a fresh page gives a zeroed dirty page. */
	cr_assert_eq(fault(a + 8192, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_ANON_NEW);
	cr_assert(leaf(a + 8192) & PTE_RW);
	cr_assert_gt(info.cycles, 0);
}

ParameterizedTestParameters(fault, munmap_frees_frames_and_page_tables)
{
	return cr_make_param_array(struct mode, (void *)modes, sizeof(modes) / sizeof(modes[0]));
}

ParameterizedTest(const struct mode *m, fault, munmap_frees_frames_and_page_tables, .fini = teardown)
{
	setup_mode(m, 0);
	uint64_t base_frames = km_frames_in_use(km);
	uint64_t base_pt = 0;
	for (int l = 0; l < 5; l++)
		base_pt += km_stats(km)->pgtable_pages[l];
	/* 8 MiB spans several page tables in every format. */
	uint64_t len = 8ULL << 20;
	int64_t a = km_mmap(km, mm, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(a, 0);
	struct km_fault_info info;
	for (uint64_t off = 0; off < len; off += 4096)
		cr_assert_eq(fault(a + off, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_geq(km_frames_in_use(km), base_frames + len / 4096 + 2);
	cr_assert_eq(km_munmap(km, mm, a, len), 0);
	uint64_t pt = 0;
	for (int l = 0; l < 5; l++)
		pt += km_stats(km)->pgtable_pages[l];
	cr_assert_eq(km_frames_in_use(km), base_frames, "all frames back after munmap");
	cr_assert_eq(pt, base_pt, "emptied page tables are freed");
	cr_assert_gt(flushes, 0, "munmap of present pages flushes");
	cr_assert_eq(fault(a, 0, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_MAPERR);
}

Test(fault, unmapped_address_is_maperr_and_readonly_write_is_accerr, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	struct km_fault_info info;
	cr_assert_eq(fault(0x1234, 0, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_MAPERR);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_eq(fault(a, PF_ERR_W, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_ACCERR);
	cr_assert_eq(fault(a, 0, &info), KM_FAULT_OK);
	int64_t n = km_mmap(km, mm, 0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_eq(fault(n, 0, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_ACCERR);
	cr_assert_eq(fault(0xffff800000000000ULL, 0, &info), KM_FAULT_SIGSEGV, "kernel address from user");
}

Test(fault, fetch_from_nonexec_vma_takes_two_faults_under_nx, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	cr_assert_eq(fault(a, PF_ERR_I, &info), KM_FAULT_OK, "first fault: read, not present");
	struct walk_result r;
	cr_assert_not(xlate(a, MMU_FETCH, &r), "page mapped NX");
	cr_assert_eq(fault(a, PF_ERR_I | PF_ERR_P, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_ACCERR);
}

Test(fault, exclusive_page_reused_after_mprotect_readonly_then_writable, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	int64_t a = km_mmap(km, mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct km_fault_info info;
	cr_assert_eq(fault(a, PF_ERR_W, &info), KM_FAULT_OK);
	*host(a) = 42;
	uint64_t pfn = km_pte_pfn_of(leaf(a));
	cr_assert_eq(km_mprotect(km, mm, a, 4096, PROT_READ), 0);
	cr_assert_not(leaf(a) & PTE_RW, "mprotect read-only clears RW");
	cr_assert_eq(fault(a, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(km_mprotect(km, mm, a, 4096, PROT_READ | PROT_WRITE), 0);
	/* can_change_pte_writable: dirty exclusive anonymous page is writable again at once. */
	cr_assert(leaf(a) & PTE_RW);
	cr_assert_eq(km_pte_pfn_of(leaf(a)), pfn);
	cr_assert_eq(*host(a), 42);
}

Test(fault, private_file_mapping_shares_page_cache_and_cows_on_write, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	char path[] = "/tmp/mmuemu-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	char buf[8192];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	struct km_file *f = km_file_get(km, fd);
	cr_assert_not_null(f);
	int64_t a = km_mmap(km, mm, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, f, 0);
	int64_t b = km_mmap(km, mm, 0, 8192, PROT_READ, MAP_PRIVATE, f, 0);
	cr_assert_gt(a, 0);
	cr_assert_gt(b, 0);
	struct km_fault_info info;
	cr_assert_eq(fault(a + 4096, 0, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_FILE_READ);
	cr_assert_eq(fault(b + 4096, 0, &info), KM_FAULT_OK);
	cr_assert_eq(km_pte_pfn_of(leaf(a + 4096)), km_pte_pfn_of(leaf(b + 4096)), "one page-cache page");
	cr_assert_eq(memcmp(host(a + 4096), buf + 4096, 4096), 0);
	cr_assert_eq(fault(a + 4096, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_COW_COPY);
	cr_assert_neq(km_pte_pfn_of(leaf(a + 4096)), km_pte_pfn_of(leaf(b + 4096)));
	host(a + 4096)[0] = 1;
	cr_assert_eq(host(b + 4096)[0], buf[4096], "the page cache is not written by a private mapping");
	/* Fault-around mapped the VMA's other page with the first read fault, so a write there is a
	 * write-protect fault on the page-cache page: a COW copy. */
	cr_assert(leaf(a) & PTE_P, "fault-around mapped page 0 with the fault on page 1");
	cr_assert_eq(fault(a, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_COW_COPY);
	/* A write fault where nothing is mapped yet: do_cow_fault, a private copy at once. */
	int64_t c = km_mmap(km, mm, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, f, 0);
	cr_assert_gt(c, 0);
	cr_assert_eq(fault(c, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_FILE_COW);
	cr_assert_eq(memcmp(host(c), buf, 4096), 0);
	km_file_put(km, f);
	close(fd);
}

Test(fault, stack_grows_within_rlimit_and_keeps_guard_gap, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	cr_assert_eq(km_setup_stack(km, mm, 128 << 10, false), 0);
	uint64_t top = km_mm_stack_top(mm);
	struct km_fault_info info;
	cr_assert_eq(fault(top - (1 << 20), PF_ERR_W, &info), KM_FAULT_OK, "1 MiB below top: grows");
	cr_assert_eq(km_stats(km)->stack_expansions, 1);
	cr_assert_eq(fault(top - (9 << 20), PF_ERR_W, &info), KM_FAULT_SIGSEGV, "beyond 8 MiB RLIMIT_STACK");
	cr_assert_eq(info.si_code, SEGV_MAPERR);
	/* A mapping right below the stack blocks growth into the guard gap. */
	uint64_t lo = (top - (1 << 20)) & ~0xfffULL;
	int64_t m = km_mmap(km, mm, lo - (3 << 20), 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	cr_assert_gt(m, 0);
	cr_assert_eq(fault(lo - (2 << 20) + 4096, PF_ERR_W, &info), KM_FAULT_SIGSEGV, "guard gap");
}

Test(mmap, mremap_moves_data_and_grows_in_place, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	int64_t a = km_mmap(km, mm, 0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(km_copy_to_user(km, mm, a + i * 4096, &i, sizeof(i)), 0);
	/* Block growth in place with a mapping right after. */
	int64_t blk = km_mmap(km, mm, a + 3 * 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	cr_assert_eq(blk, a + 3 * 4096);
	cr_assert_eq(km_mremap(km, mm, a, 3 * 4096, 8 * 4096, 0, 0), -ENOMEM, "cannot grow in place, may not move");
	int64_t n = km_mremap(km, mm, a, 3 * 4096, 8 * 4096, MREMAP_MAYMOVE, 0);
	cr_assert_gt(n, 0);
	cr_assert_neq(n, a);
	for (int i = 0; i < 3; i++) {
		int v = -1;
		cr_assert_eq(km_copy_from_user(km, mm, &v, n + i * 4096, sizeof(v)), 0);
		cr_assert_eq(v, i);
	}
	int v;
	cr_assert_eq(km_copy_from_user(km, mm, &v, a, sizeof(v)), -EFAULT, "old range unmapped");
	cr_assert_eq(km_munmap(km, mm, blk, 4096), 0);
	int64_t g = km_mremap(km, mm, n, 8 * 4096, 16 * 4096, 0, 0);
	cr_assert(g == n || g == -ENOMEM);
}

Test(mmap, brk_grows_and_shrinks, .fini = teardown)
{
	setup_mode(&modes[0], 0);
	km_mm_set_brk(mm, 0x0a000000);
	cr_assert_eq(km_brk(km, mm, 0), 0x0a000000);
	cr_assert_eq(km_brk(km, mm, 0x0a100010), 0x0a100010);
	char c = 'x';
	cr_assert_eq(km_copy_to_user(km, mm, 0x0a100000, &c, 1), 0);
	cr_assert_eq(km_brk(km, mm, 0x0a001000), 0x0a001000);
	cr_assert_eq(km_copy_to_user(km, mm, 0x0a100000, &c, 1), -EFAULT, "shrunk brk is unmapped");
	cr_assert_eq(km_brk(km, mm, 0x09000000), 0x0a001000, "below start_brk fails, returns the old brk");
}

Test(mmap, adjacent_anonymous_mappings_merge_and_split_on_mprotect, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	int64_t a = km_mmap(km, mm, 0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	int64_t b = km_mmap(km, mm, 0x10001000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	cr_assert_eq(a, 0x10000000);
	cr_assert_eq(b, 0x10001000);
	cr_assert_geq(km_stats(km)->vma_merges, 1);
	cr_assert_eq(km_mprotect(km, mm, 0x10001000, 4096, PROT_READ), 0);
	cr_assert_geq(km_stats(km)->vma_splits, 1);
	cr_assert_eq(km_mprotect(km, mm, 0x10001000, 4096, PROT_READ | PROT_WRITE), 0);
	cr_assert_eq(km_mprotect(km, mm, 0x10003000, 4096, PROT_READ), -ENOMEM, "hole");
	cr_assert_eq(km_mmap(km, mm, 0x10000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, NULL, 0), -EEXIST);
}

Test(uaccess, bad_pointers_give_efault_and_strings_are_bounded, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	char buf[64];
	cr_assert_eq(km_copy_from_user(km, mm, buf, 0xdead0000, 16), -EFAULT);
	cr_assert_eq(km_copy_to_user(km, mm, 0xffffffffffff0000ULL, buf, 16), -EFAULT);
	int64_t ro = km_mmap(km, mm, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_eq(km_copy_to_user(km, mm, ro, buf, 16), -EFAULT, "kernel write to a read-only VMA");
	cr_assert_eq(km_copy_from_user(km, mm, buf, ro, 16), 0);
	int64_t rw = km_mmap(km, mm, 0x20000000, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	cr_assert_eq(rw, 0x20000000);
	cr_assert_eq(km_copy_to_user(km, mm, rw + 4090, "hello world", 12), 0, "crosses a page");
	cr_assert_eq(km_strncpy_from_user(km, mm, buf, rw + 4090, sizeof(buf)), 11);
	cr_assert_str_eq(buf, "hello world");
	cr_assert_eq(km_strncpy_from_user(km, mm, buf, rw + 4090, 5), -ENAMETOOLONG);
	/* A string running into an unmapped page. */
	memset(buf, 'a', sizeof(buf));
	cr_assert_eq(km_copy_to_user(km, mm, rw + 8192 - 10, buf, 10), 0);
	cr_assert_eq(km_strncpy_from_user(km, mm, buf, rw + 8192 - 10, sizeof(buf)), -EFAULT);
}

Test(oom, exhausting_modelled_memory_is_an_oom_result_not_an_abort, .fini = teardown)
{
	setup_mode(&modes[2], 64ULL << 20);
	uint64_t len = 128ULL << 20;
	int64_t a = km_mmap(km, mm, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(a, 0);
	struct km_fault_info info;
	enum km_fault_result r = KM_FAULT_OK;
	uint64_t off;
	for (off = 0; off < len && r == KM_FAULT_OK; off += 4096)
		r = fault(a + off, PF_ERR_W, &info);
	cr_assert_eq(r, KM_FAULT_OOM);
	cr_assert_lt(off, 64ULL << 20);
	cr_assert_eq(km_stats(km)->oom_kills, 1);
}

/* [vvar] and [vdso] (vdso.c): placed top-down right below mmap_base, the image a valid ELF
 * shared object with Linux's soname, pages installed by their own fault handler (a SPECIAL
 * fault), read-only for good (write → SEGV_ACCERR, mprotect(PROT_WRITE) → -EACCES), and
 * munmap drops the mapping without freeing the kernel's frames (km_check and the frame count in
 * teardown would catch a freed or leaked frame). */
ParameterizedTestParameters(vdso, mapped_below_mmap_base_and_faulted_in)
{
	return cr_make_param_array(struct mode, (void *)modes, sizeof(modes) / sizeof(modes[0]));
}

ParameterizedTest(const struct mode *m, vdso, mapped_below_mmap_base_and_faulted_in, .fini = teardown)
{
	setup_mode(m, 0);
	bool is64 = m->arch == KM_ARCH_X86_64;
	uint64_t probe = km_get_unmapped_area(mm, 4096);   /* the highest free page below mmap_base */
	uint64_t sysinfo = 1;
	int64_t vdso = km_map_vdso(km, mm, &sysinfo);
	cr_assert_gt(vdso, 0);
	/* 4 vvar pages, then the 2-page image ending where the first mapping would have gone. */
	cr_assert_eq((uint64_t)vdso + 2 * 4096, probe + 4096, "vdso at %#llx, probe %#llx",
		     (unsigned long long)vdso, (unsigned long long)probe);
	cr_assert_eq(sysinfo, is64 ? 0 : (uint64_t)vdso + 0x200);
	uint8_t hdr[0x200];
	cr_assert_eq(km_copy_from_user(km, mm, hdr, (uint64_t)vdso, sizeof(hdr)), 0);
	cr_assert_eq(memcmp(hdr, "\177ELF", 4), 0);
	cr_assert_eq(hdr[4], is64 ? 2 : 1);
	uint16_t type, machine;
	memcpy(&type, hdr + 16, 2);
	memcpy(&machine, hdr + 18, 2);
	cr_assert_eq(type, 3);                       /* ET_DYN */
	cr_assert_eq(machine, is64 ? 62 : 3);
	const char *soname = is64 ? "linux-vdso.so.1" : "linux-gate.so.1";
	cr_assert_eq(memcmp(hdr + 0x1c1, soname, strlen(soname) + 1), 0);
	/* That read was a kernel access: one SPECIAL fault. A user fetch of the second page is
	 * another; the vvar page a third. */
	cr_assert_eq(km_fault_kind_count(km, KM_FK_SPECIAL), 1);
	struct km_fault_info info;
	cr_assert_eq(fault((uint64_t)vdso + 4096, PF_ERR_I, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_SPECIAL);
	cr_assert_eq(fault((uint64_t)vdso - 4096, 0, &info), KM_FAULT_OK);
	cr_assert_eq(info.kind, KM_FK_SPECIAL);
	cr_assert_eq(km_fault_kind_count(km, KM_FK_SPECIAL), 3);
	cr_assert_eq(fault((uint64_t)vdso, PF_ERR_P | PF_ERR_W, &info), KM_FAULT_SIGSEGV);
	cr_assert_eq(info.si_code, SEGV_ACCERR);
	cr_assert_eq(km_mprotect(km, mm, (uint64_t)vdso, 8192, PROT_READ | PROT_WRITE), -EACCES);
	cr_assert_null(km_check(km, mm));
	uint64_t frames = km_frames_in_use(km);
	cr_assert_eq(km_munmap(km, mm, (uint64_t)vdso - 4 * 4096, 6 * 4096), 0);
	/* Page-table pages may go, kernel frames must not be handed to the allocator. */
	cr_assert_leq(km_frames_in_use(km), frames);
	cr_assert_null(km_check(km, mm));
}

static int count_vmas(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	km_dump_vmas(km, mm, f);
	fclose(f);
	int n = 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

/* is_mergeable_anon_vma: neighbours with different anon_vmas stay apart, a VMA without one
 * merges (and the merged VMA keeps the neighbour's). anon_vma objects: one per isolated
 * faulted VMA, shared by an adjacent compatible VMA (find_mergeable_anon_vma), freed with the
 * last VMA using it. Anonymous VMAs here have contiguous page offsets (pgoff = vpn), so only
 * the anon_vma rule keeps them apart. */
Test(mmap, anon_vma_rules_for_merging_and_lifetime, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	const int rw = PROT_READ | PROT_WRITE, fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	struct km_fault_info info;
	int base = count_vmas();
	/* A and C, one page apart, each written: two anon_vmas. */
	cr_assert_eq(km_mmap(km, mm, 0x20000000, 4096, rw, fl, NULL, 0), 0x20000000);
	cr_assert_eq(km_mmap(km, mm, 0x20002000, 4096, rw, fl, NULL, 0), 0x20002000);
	uint64_t av0 = km_stats(km)->anon_vma_alloc;
	cr_assert_eq(fault(0x20000000, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(fault(0x20002000, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->anon_vma_alloc - av0, 2);
	cr_assert_eq(count_vmas(), base + 2);
	/* B fills the hole: it merges with A (B has no anon_vma) but not with C (A's and C's
	 * anon_vmas differ). */
	cr_assert_eq(km_mmap(km, mm, 0x20001000, 4096, rw, fl, NULL, 0), 0x20001000);
	cr_assert_eq(count_vmas(), base + 2);
	cr_assert_null(km_check(km, mm));
	/* A write in B's range needs no new anon_vma (the merged VMA has A's). */
	cr_assert_eq(fault(0x20001000, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->anon_vma_alloc - av0, 2);
	/* An adjacent never-faulted VMA with other rights (so a VMA of its own) gets C's anon_vma
	 * on its first write fault (anon_vma_compatible ignores the access bits). */
	cr_assert_eq(km_mmap(km, mm, 0x20003000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, fl, NULL, 0),
		     0x20003000);
	cr_assert_eq(count_vmas(), base + 3);
	cr_assert_eq(fault(0x20003000, PF_ERR_W, &info), KM_FAULT_OK);
	cr_assert_eq(km_stats(km)->anon_vma_alloc - av0, 2);
	/* A moved VMA keeps its page offset: moved next to A's end, it does not merge although
	 * flags and anon_vma would allow it. */
	cr_assert_eq(km_mmap(km, mm, 0x20100000, 4096, rw, fl, NULL, 0), 0x20100000);
	cr_assert_eq(km_mremap(km, mm, 0x20100000, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, 0x20004000),
		     0x20004000);
	cr_assert_eq(count_vmas(), base + 4);
	/* Unmapping everything frees both anon_vmas. */
	uint64_t freed0 = km_stats(km)->anon_vma_free;
	cr_assert_eq(km_munmap(km, mm, 0x20000000, 0x5000), 0);
	cr_assert_eq(km_stats(km)->anon_vma_free - freed0, 2);
	cr_assert_eq(count_vmas(), base);
}

/* accountable_mapping: a private writable file mapping carries VM_ACCOUNT, which it keeps when
 * mprotect makes it read-only, so it does not merge with the read-only mapping of the same file
 * before it (the RELRO range of a static binary). Without VM_ACCOUNT on either side they would
 * merge (contiguous file offsets, same flags). */
Test(mmap, relro_range_stays_apart_after_mprotect, .fini = teardown)
{
	setup_mode(&modes[2], 0);
	char path[] = "/tmp/mmuemu-test-relro-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	char buf[4 * 4096];
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	struct km_file *f = km_file_get(km, fd);
	cr_assert_not_null(f);
	int base = count_vmas();
	cr_assert_eq(km_mmap(km, mm, 0x30000000, 8192, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0), 0x30000000);
	cr_assert_eq(km_mmap(km, mm, 0x30002000, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, f, 8192),
		     0x30002000);
	cr_assert_eq(count_vmas(), base + 2);
	cr_assert_eq(km_mprotect(km, mm, 0x30002000, 8192, PROT_READ), 0);
	cr_assert_eq(count_vmas(), base + 2, "the RELRO range merged back into the read-only one");
	/* Two read-only mappings of consecutive file pages do merge. */
	cr_assert_eq(km_mmap(km, mm, 0x30004000, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0), 0x30004000);
	cr_assert_eq(km_mmap(km, mm, 0x30005000, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 4096), 0x30005000);
	cr_assert_eq(count_vmas(), base + 3);
	km_file_put(km, f);
	close(fd);
	unlink(path);
}
