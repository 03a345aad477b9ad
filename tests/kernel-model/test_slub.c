/*
 * test_slub.c — Criterion tests of kernel-model/slub.c: cache geometry (calculate_sizes,
 * calculate_order), kmalloc size classes, the allocation and free paths with their counters,
 * the cpu and node partial lists, free pointers in modelled memory, error detection, OOM,
 * /proc/slabinfo, and giving every page back. Expected values are worked out by hand from the
 * Linux 6.12 rules (linux-mm-facts.md §3; mm/slub.c, mm/slab_common.c).
 *
 * Each test boots its own node and slab system (Criterion runs every test in its own process)
 * and ends with ok(): slab_check() and buddy_check() must both pass. The suite's .fini only
 * releases memory (Criterion 2.4 ignores assertions there).
 */
#include "slub.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MiB (1ULL << 20)
#define X64_PAGE_OFFSET 0xffff888000000000ULL
#define I386_PAGE_OFFSET 0xC0000000ULL

static struct pglist_data node;
static uint8_t *ram;
static uint64_t ram_bytes;
static struct slab_system *sys;

static void fini(void)
{
	slab_system_free(sys);
	sys = NULL;
	pgdat_destroy(&node);
	if (ram)
		munmap(ram, ram_bytes);
	ram = NULL;
}

TestSuite(geometry, .fini = fini);
TestSuite(kmalloc, .fini = fini);
TestSuite(paths, .fini = fini);
TestSuite(freeptr, .fini = fini);
TestSuite(errors, .fini = fini);
TestSuite(oom, .fini = fini);
TestSuite(slabinfo, .fini = fini);
TestSuite(lifecycle, .fini = fini);

/* ---- helpers ---------------------------------------------------------------------------- */

/* A node of mem bytes with the first MiB reserved, its RAM, and a slab system on it. */
static void boot_node(bool x64, bool pae, uint64_t mem)
{
	struct page_alloc_config cfg = {
		.mem_bytes = mem,
		.x86_64 = x64,
		.pae = pae,
		.lowmem_bytes = x64 ? 0 : LOWMEM_DEFAULT_BYTES,
		.reserved_bytes = 1 * MiB,
	};
	char err[256] = "";

	cr_assert_eq(pgdat_init(&node, &cfg, err, sizeof(err)), 0, "pgdat_init: %s", err);
	ram_bytes = mem;
	ram = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	cr_assert_neq(ram, MAP_FAILED);
	node.phys = ram;
}

static void boot_slabs(unsigned cpus)
{
	bool x64 = node.x86_64;

	sys = slab_system_new(&node, cpus, x64 ? 8 : 4, x64 ? X64_PAGE_OFFSET : I386_PAGE_OFFSET);
	cr_assert_not_null(sys, "slab_system_new failed");
}

static void boot_x64(unsigned cpus)
{
	boot_node(true, false, 64 * MiB);
	boot_slabs(cpus);
}

static void boot_i386(unsigned cpus, bool pae)
{
	boot_node(false, pae, 64 * MiB);
	boot_slabs(cpus);
}

static void ok(void)
{
	const char *why = slab_check(sys);
	cr_assert_null(why, "slab_check: %s", why);
	why = buddy_check(&node);
	cr_assert_null(why, "buddy_check: %s", why);
}

static struct kmem_cache *K(const char *name)
{
	struct kmem_cache *c = slab_find_cache(sys, name);
	cr_assert_not_null(c, "no cache %s", name);
	return c;
}

static unsigned long st(const struct kmem_cache *c, enum slub_stat_item item)
{
	return kmem_cache_stat(c, item);
}

static struct kmem_cache_info info(const struct kmem_cache *c)
{
	struct kmem_cache_info i;
	kmem_cache_get_info(c, &i);
	return i;
}

/* A guest pointer read from modelled memory. */
static uint64_t rd_ptr(uint64_t phys)
{
	if (!node.x86_64) {
		uint32_t v;
		memcpy(&v, ram + phys, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, ram + phys, 8);
	return v;
}

static unsigned long free_pages(void)
{
	unsigned long n = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		n += zone_page_state(&node.node_zones[z], NR_FREE_PAGES);
	return n;
}

static uint64_t must_kmalloc(size_t size)
{
	uint64_t p = kmalloc(sys, size, GFP_KERNEL);
	cr_assert(p > SLAB_ZERO_SIZE_PTR, "kmalloc(%zu) failed", size);
	return p;
}

/* ---- geometry: objects and pages per slab ------------------------------------------------ */

struct geo {
	const char *name;
	unsigned objs, pages;
};

static void expect_geometry(const struct geo *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct kmem_cache *c = K(g[i].name);
		cr_expect_eq(kmem_cache_objs_per_slab(c), g[i].objs, "%s: %u objects per slab, "
			     "expected %u", g[i].name, kmem_cache_objs_per_slab(c), g[i].objs);
		cr_expect_eq(1U << kmem_cache_order(c), g[i].pages, "%s: %u pages per slab, "
			     "expected %u", g[i].name, 1U << kmem_cache_order(c), g[i].pages);
	}
}

/*
 * 8 CPUs: min_objects = 4 * (fls(8) + 1) = 20.
 *   kmalloc-8: get_order(160) = 0, 4096 % 8 = 0 -> order 0, 512 objects.
 *   kmalloc-96: get_order(1920) = 0, 4096 % 96 = 64 <= 4096/16 -> 42/1.
 *   kmalloc-192: get_order(3840) = 0, 4096 % 192 = 64 <= 256 -> 21/1.
 *   kmalloc-256: get_order(5120) = 1, 8192 % 256 = 0 -> 32/2.
 *   kmalloc-512: get_order(10240) = 2 -> 32/4. kmalloc-1k: get_order(20480) = 3 -> 32/8.
 *   kmalloc-2k: an order-3 slab holds 16, so min_objects = 16: order 3 -> 16/8.
 *   kmalloc-4k: min_objects 8 -> 8/8. kmalloc-8k: min_objects 4 -> 4/8.
 */
Test(geometry, kmalloc_caches_at_8_cpus)
{
	boot_x64(8);
	static const struct geo g[] = {
		{ "kmalloc-8", 512, 1 }, { "kmalloc-16", 256, 1 }, { "kmalloc-32", 128, 1 },
		{ "kmalloc-64", 64, 1 }, { "kmalloc-96", 42, 1 }, { "kmalloc-128", 32, 1 },
		{ "kmalloc-192", 21, 1 }, { "kmalloc-256", 32, 2 }, { "kmalloc-512", 32, 4 },
		{ "kmalloc-1k", 32, 8 }, { "kmalloc-2k", 16, 8 }, { "kmalloc-4k", 8, 8 },
		{ "kmalloc-8k", 4, 8 },
	};
	expect_geometry(g, sizeof(g) / sizeof(g[0]));
	ok();
}

/*
 * 16 CPUs: min_objects = 4 * (fls(16) + 1) = 24. kmalloc-192: get_order(4608) = 1,
 * 8192 % 192 = 128 <= 512 -> 42/2. The rest as at 8 CPUs (kmalloc-256: get_order(6144) = 1).
 */
Test(geometry, kmalloc_caches_at_16_cpus)
{
	boot_x64(16);
	static const struct geo g[] = {
		{ "kmalloc-8", 512, 1 }, { "kmalloc-64", 64, 1 }, { "kmalloc-96", 42, 1 },
		{ "kmalloc-128", 32, 1 }, { "kmalloc-192", 42, 2 }, { "kmalloc-256", 32, 2 },
		{ "kmalloc-512", 32, 4 }, { "kmalloc-1k", 32, 8 }, { "kmalloc-2k", 16, 8 },
		{ "kmalloc-4k", 8, 8 }, { "kmalloc-8k", 4, 8 },
		/* the other kmalloc families have the same geometry */
		{ "kmalloc-cg-192", 42, 2 }, { "kmalloc-rcl-1k", 32, 8 },
		{ "dma-kmalloc-256", 32, 2 },
	};
	expect_geometry(g, sizeof(g) / sizeof(g[0]));
	ok();
}

/*
 * 2 CPUs: min_objects = 4 * (fls(2) + 1) = 12. kmalloc-256: get_order(3072) = 0 -> 16/1.
 * kmalloc-512: get_order(6144) = 1 -> 16/2. kmalloc-1k: get_order(12288) = 2 -> 16/4.
 * kmalloc-2k: get_order(24576) = 3 -> 16/8. kmalloc-192: get_order(2304) = 0 -> 21/1.
 */
Test(geometry, kmalloc_caches_at_2_cpus)
{
	boot_x64(2);
	static const struct geo g[] = {
		{ "kmalloc-8", 512, 1 }, { "kmalloc-96", 42, 1 }, { "kmalloc-192", 21, 1 },
		{ "kmalloc-256", 16, 1 }, { "kmalloc-512", 16, 2 }, { "kmalloc-1k", 16, 4 },
		{ "kmalloc-2k", 16, 8 }, { "kmalloc-4k", 8, 8 }, { "kmalloc-8k", 4, 8 },
	};
	expect_geometry(g, sizeof(g) / sizeof(g[0]));
	ok();
}

/*
 * 1 CPU: min_objects = 4 * (fls(1) + 1) = 8. kmalloc-256: get_order(2048) = 0 -> 16/1.
 * kmalloc-512: get_order(4096) = 0 -> 8/1. kmalloc-1k: get_order(8192) = 1 -> 8/2.
 * kmalloc-2k: get_order(16384) = 2 -> 8/4. kmalloc-4k: get_order(32768) = 3 -> 8/8.
 */
Test(geometry, kmalloc_caches_at_1_cpu)
{
	boot_i386(1, false);
	static const struct geo g[] = {
		{ "kmalloc-8", 512, 1 }, { "kmalloc-192", 21, 1 }, { "kmalloc-256", 16, 1 },
		{ "kmalloc-512", 8, 1 }, { "kmalloc-1k", 8, 2 }, { "kmalloc-2k", 8, 4 },
		{ "kmalloc-4k", 8, 8 }, { "kmalloc-8k", 4, 8 },
	};
	expect_geometry(g, sizeof(g) / sizeof(g[0]));
	ok();
}

/*
 * kmalloc alignment is the largest power of two dividing the size (create_boot_cache):
 * kmalloc-96 -> 32, kmalloc-192 -> 64. The free pointer is at ALIGN_DOWN(size / 2, ptr).
 * min_partial = clamp(ilog2(size) / 2, 5, 10): 64 -> 3 -> 5; 8k -> 6. cpu_partial budget:
 * 64 B -> 120 objects -> DIV_ROUND_UP(240, 64) = 4 slabs; 1k at 8 CPUs -> 24 -> DIV_ROUND_UP(48,
 * 32) = 2; 8k -> 6 -> DIV_ROUND_UP(12, 4) = 3.
 */
Test(geometry, kmalloc_alignment_offsets_and_partial_limits)
{
	boot_x64(8);
	struct kmem_cache_info i96 = info(K("kmalloc-96")), i192 = info(K("kmalloc-192"));
	cr_expect_eq(i96.align, 32);
	cr_expect_eq(i96.size, 96);
	cr_expect_eq(i96.offset, 48);
	cr_expect_eq(i192.align, 64);
	cr_expect_eq(i192.offset, 96);
	cr_expect_eq(info(K("kmalloc-8")).offset, 0, "8 / 2 = 4 rounds down to 0 with 8-byte ptrs");

	struct kmem_cache_info i64 = info(K("kmalloc-64")), i1k = info(K("kmalloc-1k")),
			       i8k = info(K("kmalloc-8k"));
	cr_expect_eq(i64.min_partial, 5);
	cr_expect_eq(i8k.min_partial, 6);
	cr_expect_eq(i64.cpu_partial, 120);
	cr_expect_eq(i64.cpu_partial_slabs, 4);
	cr_expect_eq(i1k.cpu_partial, 24);
	cr_expect_eq(i1k.cpu_partial_slabs, 2);
	cr_expect_eq(i8k.cpu_partial, 6);
	cr_expect_eq(i8k.cpu_partial_slabs, 3);
	cr_expect_eq(i8k.min_order, 1, "fallback order get_order(8192)");
	ok();
}

Test(geometry, i386_kmalloc_8_has_free_pointer_at_4)
{
	boot_i386(2, false);
	struct kmem_cache_info i = info(K("kmalloc-8"));
	cr_expect_eq(i.offset, 4, "ALIGN_DOWN(8 / 2, 4) = 4");
	cr_expect_eq(i.size, 8);
	ok();
}

struct mmgeo {
	enum slab_mm_id id;
	const char *name;
	unsigned object_size, size, offset, objs, pages;
};

static void expect_mm(const struct mmgeo *g, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct kmem_cache *c = slab_mm_cache(sys, g[k].id);
		cr_assert_not_null(c, "no cache for %s", g[k].name);
		struct kmem_cache_info i = info(c);
		cr_expect_str_eq(i.name, g[k].name);
		cr_expect_eq(i.object_size, g[k].object_size, "%s object_size %u", g[k].name,
			     i.object_size);
		cr_expect_eq(i.size, g[k].size, "%s size %u", g[k].name, i.size);
		cr_expect_eq(i.offset, g[k].offset, "%s offset %u", g[k].name, i.offset);
		cr_expect_eq(i.objects_per_slab, g[k].objs, "%s objects %u", g[k].name,
			     i.objects_per_slab);
		cr_expect_eq(1U << i.order, g[k].pages, "%s pages %u", g[k].name, 1U << i.order);
	}
}

/*
 * x86-64 at 2 CPUs (min_objects 12):
 *   mm_struct 1344 + 8 + 8 = 1360, HWCACHE_ALIGN 64 -> 1408; get_order(12 * 1408) = 3,
 *     32768 % 1408 = 384 <= 2048 -> 23 objects in 8 pages.
 *   maple_node 256 aligned 256: 12 * 256 = 3072 -> 16/1.
 *   anon_vma 96 with a constructor: free pointer at 96, size 104: 4096 % 104 = 40 -> 39/1.
 *   anon_vma_chain 64: 64/1. vm_area_struct 176: 4096 % 176 = 48 <= 256 -> 23/1.
 *   vma_lock 40: 102/1.
 */
Test(geometry, x86_64_mm_caches)
{
	boot_x64(2);
	static const struct mmgeo g[] = {
		{ SLAB_MM, "mm_struct", 1360, 1408, 680, 23, 8 },
		{ SLAB_MAPLE_NODE, "maple_node", 256, 256, 128, 16, 1 },
		{ SLAB_ANON_VMA, "anon_vma", 96, 104, 96, 39, 1 },
		{ SLAB_ANON_VMA_CHAIN, "anon_vma_chain", 64, 64, 32, 64, 1 },
		{ SLAB_VMA, "vm_area_struct", 176, 176, 88, 23, 1 },
		{ SLAB_VMA_LOCK, "vma_lock", 40, 40, 16, 102, 1 },
	};
	expect_mm(g, sizeof(g) / sizeof(g[0]));
	cr_expect_eq(info(slab_mm_cache(sys, SLAB_MAPLE_NODE)).align, 256);
	cr_expect_null(slab_mm_cache(sys, SLAB_PGD));
	cr_expect_null(slab_create_pgd_cache(sys), "no pgd_cache on x86-64");
	ok();
}

/* mm_struct grows by two cpumasks of BITS_TO_LONGS(nr_cpus) longs: 300 CPUs -> 1344 + 2 * 40. */
Test(geometry, x86_64_mm_struct_grows_with_cpus)
{
	boot_x64(300);
	struct kmem_cache_info i = info(slab_mm_cache(sys, SLAB_MM));
	cr_expect_eq(i.object_size, 1424);
	cr_expect_eq(i.size, 1472, "ALIGN(1424, 64)");
	/* min_objects 4 * (fls(300) + 1) = 40, capped at 32768 / 1472 = 22: order 3, 22 objects */
	cr_expect_eq(i.objects_per_slab, 22);
	ok();
}

/*
 * i386 without PAE at 2 CPUs: mm_struct 776 -> 832 (HWCACHE_ALIGN): get_order(12 * 832) = 2,
 * 16384 % 832 = 576 <= 1024 -> 19/4. anon_vma 52 -> free pointer at 52, 56 -> 73/1.
 * anon_vma_chain 32 -> 128/1. vm_area_struct 72 -> 56/1 (4096 % 72 = 64). No vma_lock.
 */
Test(geometry, i386_mm_caches)
{
	boot_i386(2, false);
	static const struct mmgeo g[] = {
		{ SLAB_MM, "mm_struct", 776, 832, 388, 19, 4 },
		{ SLAB_MAPLE_NODE, "maple_node", 256, 256, 128, 16, 1 },
		{ SLAB_ANON_VMA, "anon_vma", 52, 56, 52, 73, 1 },
		{ SLAB_ANON_VMA_CHAIN, "anon_vma_chain", 32, 32, 16, 128, 1 },
		{ SLAB_VMA, "vm_area_struct", 72, 72, 36, 56, 1 },
	};
	expect_mm(g, sizeof(g) / sizeof(g[0]));
	cr_expect_null(slab_mm_cache(sys, SLAB_VMA_LOCK));
	cr_expect_null(slab_create_pgd_cache(sys), "pgd_cache is PAE only");
	ok();
}

/* PAE: vm_area_struct has a 64-bit pgprot_t: 76 -> 80 (8-byte aligned) -> 51/1; pgd_cache. */
Test(geometry, i386_pae_vma_and_pgd_cache)
{
	boot_i386(2, true);
	cr_expect_null(slab_mm_cache(sys, SLAB_PGD), "only after slab_create_pgd_cache");
	struct kmem_cache *pgd = slab_create_pgd_cache(sys);
	cr_assert_not_null(pgd);
	cr_expect_eq(slab_create_pgd_cache(sys), pgd, "created once");
	static const struct mmgeo g[] = {
		{ SLAB_VMA, "vm_area_struct", 76, 80, 36, 51, 1 },
		{ SLAB_PGD, "pgd_cache", 32, 32, 16, 128, 1 },
	};
	expect_mm(g, sizeof(g) / sizeof(g[0]));
	cr_expect_eq(info(pgd).align, 32);
	uint64_t p = kmem_cache_alloc(pgd, GFP_KERNEL);
	cr_expect_eq(p % 32, 0);
	kmem_cache_free(pgd, p);
	ok();
}

/*
 * kmem_cache_create layouts: HWCACHE_ALIGN halves the 64-byte line while the object fits in
 * half of it (20 -> 32, 40 -> 64); a constructor or SLAB_TYPESAFE_BY_RCU puts the free pointer
 * after the object; a user alignment wins when larger.
 */
Test(geometry, created_cache_layouts)
{
	boot_x64(4);
	struct kmem_cache *a = kmem_cache_create(sys, "hw20", 20, 0, SLAB_HWCACHE_ALIGN, false);
	struct kmem_cache *b = kmem_cache_create(sys, "hw40", 40, 0, SLAB_HWCACHE_ALIGN, false);
	struct kmem_cache *c = kmem_cache_create(sys, "ctor24", 24, 0, 0, true);
	struct kmem_cache *d = kmem_cache_create(sys, "rcu100", 100, 0, SLAB_TYPESAFE_BY_RCU,
						 false);
	struct kmem_cache *e = kmem_cache_create(sys, "al128", 100, 128, 0, false);
	struct kmem_cache *f = kmem_cache_create(sys, "tiny", 2, 0, 0, false);
	cr_assert(a && b && c && d && e && f);
	cr_expect_eq(info(a).align, 32);
	cr_expect_eq(info(a).size, 32);
	cr_expect_eq(info(b).align, 64);
	cr_expect_eq(info(b).size, 64);
	cr_expect_eq(info(c).offset, 24);
	cr_expect_eq(info(c).size, 32, "24 + 8-byte free pointer");
	cr_expect_eq(info(d).offset, 104, "after ALIGN(100, 8)");
	cr_expect_eq(info(d).size, 112);
	cr_expect_eq(info(e).size, 128);
	cr_expect_eq(info(e).offset, 48, "ALIGN_DOWN(50, 8)");
	cr_expect_eq(info(f).size, 8, "at least a pointer, at least ARCH_SLAB_MINALIGN");
	cr_expect_eq(info(f).offset, 0);
	ok();
}

/*
 * The 1/16 waste rule raises the order. 1 CPU (min_objects 8), 344-byte objects: order 0
 * (get_order(2752)) wastes 4096 % 344 = 312 > 4096 / 16 = 256; order 1 wastes 8192 % 344 = 280
 * <= 512 -> 23 objects in 2 pages. Objects larger than an order-3 slab fall back to
 * get_order(size): 40000 bytes -> order 4, one object.
 */
Test(geometry, waste_above_a_sixteenth_raises_the_order)
{
	boot_i386(1, false);
	struct kmem_cache *a = kmem_cache_create(sys, "w344", 344, 0, 0, false);
	struct kmem_cache *b = kmem_cache_create(sys, "w40000", 40000, 0, 0, false);
	cr_assert(a && b);
	cr_expect_eq(kmem_cache_order(a), 1);
	cr_expect_eq(kmem_cache_objs_per_slab(a), 23);
	cr_expect_eq(kmem_cache_order(b), 4);
	cr_expect_eq(kmem_cache_objs_per_slab(b), 1);
	uint64_t p = kmem_cache_alloc(b, GFP_KERNEL);
	cr_assert(p);
	cr_expect_eq(compound_order(pfn_to_page(&node, p >> PAGE_SHIFT)), 4);
	kmem_cache_free(b, p);
	ok();
}

Test(geometry, bad_create_arguments_return_null)
{
	boot_x64(4);
	cr_expect_null(kmem_cache_create(sys, "zero", 0, 0, 0, false));
	cr_expect_null(kmem_cache_create(sys, "align3", 64, 3, 0, false));
	cr_expect_null(kmem_cache_create(sys, "flags", 64, 0, 1U << 30, false));
	cr_expect_null(kmem_cache_create(sys, "huge", (unsigned)KMALLOC_MAX_SIZE + 1, 0, 0, false));
	cr_expect_null(slab_find_cache(sys, "zero"));
	ok();
}

Test(geometry, bad_create_with_slab_panic_aborts, .signal = SIGABRT)
{
	boot_x64(4);
	kmem_cache_create(sys, "zero", 0, 0, SLAB_PANIC, false);
}

Test(geometry, slab_system_new_refuses_bad_arguments)
{
	boot_node(true, false, 64 * MiB);
	cr_expect_null(slab_system_new(&node, 2, 4, X64_PAGE_OFFSET), "ptr size vs x86_64");
	cr_expect_null(slab_system_new(&node, 0, 8, X64_PAGE_OFFSET));
	cr_expect_null(slab_system_new(&node, 2, 8, 0));
	node.phys = NULL;
	cr_expect_null(slab_system_new(&node, 2, 8, X64_PAGE_OFFSET), "needs modelled RAM");
	node.phys = ram;
	boot_slabs(2);
	ok();
}

/* ---- kmalloc size classes ------------------------------------------------------------------ */

Test(kmalloc, size_to_cache_at_boundaries)
{
	boot_x64(8);
	static const struct {
		size_t size;
		const char *cache;
	} m[] = {
		{ 1, "kmalloc-8" }, { 8, "kmalloc-8" }, { 9, "kmalloc-16" }, { 64, "kmalloc-64" },
		{ 65, "kmalloc-96" }, { 96, "kmalloc-96" }, { 97, "kmalloc-128" },
		{ 128, "kmalloc-128" }, { 129, "kmalloc-192" }, { 192, "kmalloc-192" },
		{ 193, "kmalloc-256" }, { 256, "kmalloc-256" }, { 257, "kmalloc-512" },
		{ 4096, "kmalloc-4k" }, { 4097, "kmalloc-8k" }, { 8192, "kmalloc-8k" },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct kmem_cache *c = kmalloc_slab(sys, m[i].size, GFP_KERNEL);
		cr_assert_not_null(c, "size %zu", m[i].size);
		cr_expect_str_eq(kmem_cache_name(c), m[i].cache, "size %zu -> %s, expected %s",
				 m[i].size, kmem_cache_name(c), m[i].cache);
		uint64_t p = must_kmalloc(m[i].size);
		cr_expect_eq(slab_obj_cache(sys, p), c, "kmalloc(%zu) from %s", m[i].size,
			     m[i].cache);
		kfree(sys, p);
	}
	cr_expect_null(kmalloc_slab(sys, 8193, GFP_KERNEL), "above 8k: no cache");
	cr_expect_null(kmalloc_slab(sys, 0, GFP_KERNEL));
	ok();
}

/* 8193 bytes: get_order = 2, a compound block of 4 pages straight from the buddy allocator. */
Test(kmalloc, large_sizes_go_to_the_page_allocator)
{
	boot_x64(8);
	unsigned long before = free_pages();
	uint64_t p = must_kmalloc(8193);

	cr_expect_null(slab_obj_cache(sys, p), "not a slab object");
	cr_expect_eq(p % (4 * PAGE_SIZE), 0, "an order-2 block is 16 KiB aligned");
	struct page *pg = pfn_to_page(&node, p >> PAGE_SHIFT);
	cr_expect(PageHead(pg));
	cr_expect_eq(compound_order(pg), 2);
	cr_expect(!PageSlab(pg));
	cr_expect_eq(slab_kmalloc_large_pages(sys), 4);
	cr_expect_eq(before - free_pages(), 4);
	uint64_t q = must_kmalloc(KMALLOC_MAX_SIZE);
	cr_expect_eq(compound_order(pfn_to_page(&node, q >> PAGE_SHIFT)), MAX_PAGE_ORDER);
	cr_expect_eq(kmalloc(sys, KMALLOC_MAX_SIZE + 1, GFP_KERNEL), 0, "beyond MAX_PAGE_ORDER");
	ok();
	kfree(sys, p);
	kfree(sys, q);
	cr_expect_eq(free_pages(), before);
	cr_expect_eq(slab_kmalloc_large_pages(sys), 0);
	ok();
}

Test(kmalloc, zero_size_returns_zero_size_ptr)
{
	boot_x64(8);
	cr_expect_eq(kmalloc(sys, 0, GFP_KERNEL), SLAB_ZERO_SIZE_PTR);
	kfree(sys, SLAB_ZERO_SIZE_PTR);	/* ignored, as kfree(ZERO_SIZE_PTR) */
	kfree(sys, 0);
	cr_expect_eq(kmem_cache_total_slabs(K("kmalloc-8")), 0, "no slab was touched");
	ok();
}

/* kmalloc_type: __GFP_DMA before __GFP_RECLAIMABLE before __GFP_ACCOUNT. */
Test(kmalloc, gfp_selects_the_cache_family)
{
	boot_x64(8);
	cr_expect_str_eq(kmem_cache_name(kmalloc_slab(sys, 100, GFP_KERNEL | __GFP_RECLAIMABLE)),
			 "kmalloc-rcl-128");
	cr_expect_str_eq(kmem_cache_name(kmalloc_slab(sys, 100, GFP_KERNEL_ACCOUNT)),
			 "kmalloc-cg-128");
	cr_expect_str_eq(kmem_cache_name(kmalloc_slab(sys, 100, GFP_KERNEL | __GFP_DMA |
							     __GFP_ACCOUNT)),
			 "dma-kmalloc-128");
	cr_expect_str_eq(kmem_cache_name(kmalloc_slab(sys, 100, GFP_KERNEL | __GFP_RECLAIMABLE |
							     __GFP_ACCOUNT)),
			 "kmalloc-rcl-128");

	/* dma-kmalloc slabs come from ZONE_DMA (below 16 MiB): the cache's GFP_DMA allocflags */
	uint64_t d = kmalloc(sys, 100, GFP_KERNEL | __GFP_DMA);
	cr_assert(d);
	cr_expect_lt(d >> PAGE_SHIFT, MAX_DMA_PFN);
	cr_expect_eq(pfn_zonenum(&node, d >> PAGE_SHIFT), ZONE_DMA);
	/* an ordinary GFP_KERNEL slab on x86-64 with 64 MiB comes from DMA32 */
	uint64_t n = must_kmalloc(100);
	cr_expect_eq(pfn_zonenum(&node, n >> PAGE_SHIFT), ZONE_DMA32);
	kfree(sys, d);
	kfree(sys, n);
	ok();
}

/* ---- allocation and free paths -------------------------------------------------------------- */

/*
 * kmalloc-64 at 8 CPUs: 64 objects per one-page slab. The first allocation finds no cpu slab
 * (slow path, new slab); the next 63 come from the cpu freelist; the 65th finds the cpu slab
 * full (DEACTIVATE_BYPASS) and allocates a second slab.
 */
Test(paths, fast_and_slow_allocation_counts)
{
	boot_x64(8);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t obj[65];

	obj[0] = must_kmalloc(64);
	cr_expect_eq(st(c, SLUB_ALLOC_SLOWPATH), 1);
	cr_expect_eq(st(c, SLUB_ALLOC_SLAB), 1);
	cr_expect_eq(st(c, SLUB_ALLOC_FASTPATH), 0);
	cr_expect_eq(st(c, SLUB_SLAB_PAGES_ALLOC), 1);
	cr_expect_eq(obj[0] % PAGE_SIZE, 0, "a new slab hands out its first object first");
	for (int i = 1; i < 64; i++) {
		obj[i] = must_kmalloc(64);
		cr_expect_eq(obj[i], obj[0] + 64 * (uint64_t)i, "address order (no shuffle)");
	}
	cr_expect_eq(st(c, SLUB_ALLOC_FASTPATH), 63);
	cr_expect_eq(st(c, SLUB_ALLOC_SLOWPATH), 1);
	ok();

	obj[64] = must_kmalloc(64);
	cr_expect_eq(st(c, SLUB_ALLOC_SLOWPATH), 2);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_BYPASS), 1);
	cr_expect_eq(st(c, SLUB_ALLOC_SLAB), 2);
	cr_expect_neq(obj[64] >> PAGE_SHIFT, obj[0] >> PAGE_SHIFT);
	cr_expect_eq(kmem_cache_total_slabs(c), 2);
	cr_expect_eq(kmem_cache_total_objs(c), 128);
	ok();

	/* obj[64] is in the cpu slab: fast free; obj[0] is in the full first slab: slow free. */
	kfree(sys, obj[64]);
	cr_expect_eq(st(c, SLUB_FREE_FASTPATH), 1);
	kfree(sys, obj[0]);
	cr_expect_eq(st(c, SLUB_FREE_SLOWPATH), 1);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_FREE), 1, "the full slab goes to the cpu partial list");
	cr_expect_eq(info(c).nr_cpu_partial, 1);
	cr_expect_eq(info(c).nr_partial, 0);
	ok();

	/* LIFO: the next allocation returns the object just freed to the cpu freelist. */
	cr_expect_eq(must_kmalloc(64), obj[64]);
	cr_expect_eq(st(c, SLUB_ALLOC_FASTPATH), 64);
	ok();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Objects of several caches: distinct, aligned, wholly inside a typed slab of their cache. */
Test(paths, objects_are_distinct_aligned_and_inside_their_slab)
{
	boot_x64(8);
	static const char *const names[] = { "kmalloc-8", "kmalloc-96", "kmalloc-192",
					      "kmalloc-1k", "kmalloc-8k", "mm_struct",
					      "anon_vma", "maple_node" };
	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		struct kmem_cache *c = K(names[n]);
		struct kmem_cache_info ci = info(c);
		unsigned count = 3 * ci.objects_per_slab + 1;
		uint64_t *v = calloc(count, sizeof(*v));
		uint64_t slab_bytes = PAGE_SIZE << ci.order;

		for (unsigned i = 0; i < count; i++) {
			v[i] = kmem_cache_alloc(c, GFP_KERNEL);
			cr_assert(v[i], "%s alloc %u", names[n], i);
			cr_expect_eq(v[i] % ci.align, 0, "%s object %#lx not %u-aligned", names[n],
				     (unsigned long)v[i], ci.align);
			uint64_t head = v[i] & ~(slab_bytes - 1);
			struct page *hp = pfn_to_page(&node, head >> PAGE_SHIFT);
			cr_expect(PageSlab(hp), "%s: head page of the slab typed", names[n]);
			cr_expect_eq(compound_order(hp), ci.order);
			cr_expect_leq(v[i] + ci.object_size, head + slab_bytes, "%s: object spills",
				      names[n]);
			cr_expect_eq((v[i] - head) % ci.size, 0);
			cr_expect_eq(slab_obj_cache(sys, v[i]), c);
			cr_expect_eq(slab_obj_cache(sys, v[i] + ci.object_size - 1), c,
				     "the last byte maps to the same cache");
		}
		uint64_t *sorted = malloc(count * sizeof(*sorted));
		memcpy(sorted, v, count * sizeof(*sorted));
		qsort(sorted, count, sizeof(*sorted), cmp_u64);
		for (unsigned i = 1; i < count; i++)
			cr_expect_geq(sorted[i], sorted[i - 1] + ci.object_size,
				      "%s: objects %#lx and %#lx overlap", names[n],
				      (unsigned long)sorted[i - 1], (unsigned long)sorted[i]);
		free(sorted);
		cr_expect_eq(kmem_cache_total_slabs(c), 4);
		cr_expect_eq(info(c).inuse_objs, count);
		ok();
		for (unsigned i = 0; i < count; i++)
			kmem_cache_free(c, v[i]);
		cr_expect_eq(info(c).inuse_objs, 0);
		free(v);
		ok();
	}
}

/* Allocate 64 * nslabs objects of kmalloc-64 (8 CPUs): slabs S0.. in obj[64 * i ...]. */
static uint64_t *fill_slabs(unsigned nslabs)
{
	uint64_t *obj = calloc(64 * nslabs, sizeof(*obj));
	for (unsigned i = 0; i < 64 * nslabs; i++)
		obj[i] = must_kmalloc(64);
	return obj;
}

static void free_rest_of_slab(uint64_t *obj, unsigned slab)
{
	for (unsigned i = 1; i < 64; i++)
		kfree(sys, obj[64 * slab + i]);
}

/*
 * The cpu partial list holds cpu_partial_slabs = 4 slabs. With 11 full slabs (S10 the cpu slab),
 * freeing one object in each of S0..S9:
 *   S0..S3 go to the cpu partial list (1..4 slabs);
 *   S4 finds it full: S3, S2, S1, S0 move to the node partial tail (CPU_PARTIAL_DRAIN), S4 alone;
 *   S5..S7 fill it again; S8 drains S7, S6, S5, S4; S9 joins S8.
 * Node partial list: S3 S2 S1 S0 S7 S6 S5 S4 (8); cpu partial: S9 S8.
 * Emptying S0, S1, S2, S3 (node partial, nr_partial 8, 7, 6, 5 >= min_partial 5) discards them;
 * emptying S7..S4 (nr_partial now 4 < 5) keeps them. Emptying S8, S9 (cpu partial) keeps them.
 */
static uint64_t *scenario_partial_lists(struct kmem_cache *c)
{
	uint64_t *obj = fill_slabs(11);

	cr_expect_eq(kmem_cache_total_slabs(c), 11);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_BYPASS), 10);
	for (unsigned s = 0; s < 10; s++)
		kfree(sys, obj[64 * s]);
	cr_expect_eq(st(c, SLUB_FREE_SLOWPATH), 10);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_FREE), 10);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_DRAIN), 2);
	cr_expect_eq(st(c, SLUB_FREE_ADD_PARTIAL), 8);
	cr_expect_eq(info(c).nr_partial, 8);
	cr_expect_eq(info(c).nr_cpu_partial, 2);
	ok();

	for (unsigned s = 0; s < 8; s++)
		free_rest_of_slab(obj, s);
	cr_expect_eq(st(c, SLUB_FREE_REMOVE_PARTIAL), 4);
	cr_expect_eq(st(c, SLUB_FREE_SLAB), 4);
	cr_expect_eq(st(c, SLUB_SLAB_PAGES_FREE), 4);
	cr_expect_eq(kmem_cache_total_slabs(c), 7);
	cr_expect_eq(info(c).nr_partial, 4, "empty slabs kept up to min_partial");
	/* slabinfo counts free objects on the node partial list only: 7 * 64 - 4 * 64 */
	cr_expect_eq(kmem_cache_active_objs(c), 192);
	cr_expect_eq(info(c).inuse_objs, 64 + 63 + 63, "S10 full, S8 and S9 one free each");
	ok();

	free_rest_of_slab(obj, 8);
	free_rest_of_slab(obj, 9);
	cr_expect_eq(st(c, SLUB_FREE_SLAB), 4, "empty cpu partial slabs stay");
	cr_expect_eq(kmem_cache_total_slabs(c), 7);
	cr_expect_eq(info(c).nr_cpu_partial, 2);
	ok();
	return obj;
}

Test(paths, partial_lists_and_empty_slab_discard)
{
	boot_x64(8);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t *obj = scenario_partial_lists(c);

	/*
	 * Allocate again: S10 is full (bypass), S9 then S8 come from the cpu partial list; then
	 * get_partial_node takes S7 as cpu slab and moves S6, S5, S4 to the cpu partial list
	 * (stopping once 3 > cpu_partial_slabs / 2 = 2 moved).
	 */
	uint64_t first = must_kmalloc(64);
	cr_expect_eq(first >> PAGE_SHIFT, obj[64 * 9] >> PAGE_SHIFT, "S9 first");
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_ALLOC), 1);
	for (int i = 1; i < 128; i++)
		must_kmalloc(64);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_ALLOC), 2);
	cr_expect_eq(st(c, SLUB_ALLOC_FROM_PARTIAL), 0);
	uint64_t from_node = must_kmalloc(64);
	cr_expect_eq(from_node >> PAGE_SHIFT, obj[64 * 7] >> PAGE_SHIFT, "S7 heads the node list");
	cr_expect_eq(st(c, SLUB_ALLOC_FROM_PARTIAL), 1);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_NODE), 3);
	cr_expect_eq(info(c).nr_partial, 0);
	cr_expect_eq(info(c).nr_cpu_partial, 3);
	cr_expect_eq(st(c, SLUB_ALLOC_SLAB), 11, "no new slab was needed");
	cr_expect_eq(st(c, SLUB_DEACTIVATE_BYPASS), 13);
	free(obj);
	ok();
}

/*
 * A drain while the node already holds >= min_partial slabs discards the empty cpu partial
 * slabs. 15 full slabs; one free in S0..S8 leaves 8 on the node and S8 on the cpu list; S8..S11
 * are emptied on the cpu list (4 slabs); a free into S12 drains them: all four are empty and
 * nr_partial 8 >= 5, so all four are discarded.
 */
Test(paths, drain_discards_empty_cpu_partial_slabs)
{
	boot_x64(8);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t *obj = fill_slabs(15);

	for (unsigned s = 0; s < 9; s++)
		kfree(sys, obj[64 * s]);
	cr_expect_eq(info(c).nr_partial, 8);
	free_rest_of_slab(obj, 8);
	for (unsigned s = 9; s < 12; s++) {
		kfree(sys, obj[64 * s]);
		free_rest_of_slab(obj, s);
	}
	cr_expect_eq(info(c).nr_cpu_partial, 4);
	cr_expect_eq(st(c, SLUB_FREE_SLAB), 0);
	ok();

	kfree(sys, obj[64 * 12]);
	cr_expect_eq(st(c, SLUB_CPU_PARTIAL_DRAIN), 3);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_EMPTY), 4);
	cr_expect_eq(st(c, SLUB_FREE_SLAB), 4);
	cr_expect_eq(info(c).nr_partial, 8, "non-empty ones would have been added");
	cr_expect_eq(info(c).nr_cpu_partial, 1);
	cr_expect_eq(kmem_cache_total_slabs(c), 11);
	ok();

	/*
	 * Empty the cpu slab S14 (fast frees onto the cpu freelist) and shrink: deactivate_slab
	 * splices the 64 free objects back, finds the slab empty with nr_partial 8 >= 5 and
	 * discards it; S12 (cpu partial, 63 in use) goes to the node.
	 */
	for (unsigned i = 0; i < 64; i++)
		kfree(sys, obj[64 * 14 + i]);
	cr_expect_eq(st(c, SLUB_FREE_FASTPATH), 64);
	cr_expect_eq(kmem_cache_shrink(c), 1);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_EMPTY), 5);
	cr_expect_eq(st(c, SLUB_CPUSLAB_FLUSH), 1);
	cr_expect_eq(kmem_cache_total_slabs(c), 10);
	cr_expect_eq(info(c).nr_partial, 9);
	cr_expect_eq(info(c).nr_cpu_partial, 0);
	free(obj);
	ok();
}

/*
 * kmem_cache_shrink on the scenario's state: the full cpu slab S10 is deactivated (full: on no
 * list); the cpu partial S9 goes to the node (nr_partial 4 < 5), S8 is discarded (5 >= 5); then
 * every empty node partial slab (S7..S4, S9) is freed. Only S10 remains.
 */
Test(paths, shrink_frees_empty_slabs)
{
	boot_x64(8);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t *obj = scenario_partial_lists(c);

	cr_expect_eq(kmem_cache_shrink(c), 1);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_FULL), 1);
	cr_expect_eq(st(c, SLUB_CPUSLAB_FLUSH), 1);
	cr_expect_eq(st(c, SLUB_DEACTIVATE_EMPTY), 1);
	cr_expect_eq(kmem_cache_total_slabs(c), 1);
	cr_expect_eq(info(c).nr_partial, 0);
	cr_expect_eq(st(c, SLUB_SLAB_PAGES_FREE), 10);
	ok();
	/* The remaining slab is full and on no list: freeing into it makes it cpu partial. */
	kfree(sys, obj[64 * 10]);
	cr_expect_eq(info(c).nr_cpu_partial, 1);
	free(obj);
	ok();
}

/* ---- free pointers in modelled memory ----------------------------------------------------- */

/*
 * kmalloc-64 on x86-64: the free pointer is at 32. After the first allocation from a new slab,
 * object 1 holds the kernel virtual address of object 2, ..., the last object holds 0.
 */
Test(freeptr, chain_in_modelled_memory_x86_64)
{
	boot_x64(8);
	uint64_t o0 = must_kmalloc(64);
	for (unsigned i = 1; i < 63; i++) {
		uint64_t obj = o0 + 64 * i;
		cr_expect_eq(rd_ptr(obj + 32), X64_PAGE_OFFSET + obj + 64,
			     "object %u's free pointer is %#lx", i,
			     (unsigned long)rd_ptr(obj + 32));
	}
	cr_expect_eq(rd_ptr(o0 + 63 * 64 + 32), 0, "end of the freelist");
	cr_expect_eq(rd_ptr(o0 + 32), 0, "init_on_alloc zeroed the allocated object");

	/* Freed to the cpu freelist: o0 now points at the old head, object 1. */
	kfree(sys, o0);
	cr_expect_eq(rd_ptr(o0 + 32), X64_PAGE_OFFSET + o0 + 64);
	uint64_t o1 = must_kmalloc(64);	/* o0 again (LIFO) */
	uint64_t o2 = must_kmalloc(64);	/* object 1 */
	cr_expect_eq(o1, o0);
	cr_expect_eq(o2, o0 + 64);
	kfree(sys, o2);
	kfree(sys, o1);
	cr_expect_eq(rd_ptr(o1 + 32), X64_PAGE_OFFSET + o2, "o1 -> o2 -> object 2");
	cr_expect_eq(rd_ptr(o2 + 32), X64_PAGE_OFFSET + o0 + 128);
	ok();
}

/* i386 kmalloc-8: a 4-byte free pointer at 4 holding 0xC0000000 + the next object. */
Test(freeptr, chain_in_modelled_memory_i386)
{
	boot_i386(2, false);
	uint64_t o0 = must_kmalloc(8);
	uint32_t w;
	memcpy(&w, ram + o0 + 8 + 4, 4);
	cr_expect_eq(w, (uint32_t)(I386_PAGE_OFFSET + o0 + 16));
	memcpy(&w, ram + o0 + 8, 4);
	cr_expect_eq(w, 0, "the first word of a free object is not the free pointer");
	memcpy(&w, ram + o0 + 511 * 8 + 4, 4);
	cr_expect_eq(w, 0, "the 512th object ends the list");
	ok();
}

/* anon_vma (constructor, RCU-typesafe): the free pointer follows the object, which keeps its
 * contents after free. */
Test(freeptr, rcu_cache_keeps_the_object_intact)
{
	boot_x64(2);
	struct kmem_cache *c = slab_mm_cache(sys, SLAB_ANON_VMA);
	uint64_t a = kmem_cache_alloc(c, GFP_KERNEL);
	uint64_t b = kmem_cache_alloc(c, GFP_KERNEL);
	cr_assert(a && b);
	cr_expect_eq(b, a + 104);
	cr_expect_eq(rd_ptr(b + 104 + 96), X64_PAGE_OFFSET + b + 208);
	memset(ram + a, 0xab, 96);
	kmem_cache_free(c, a);
	for (int i = 0; i < 96; i++)
		cr_expect_eq(ram[a + i], 0xab, "byte %d of the freed object changed", i);
	cr_expect_eq(rd_ptr(a + 96), X64_PAGE_OFFSET + b + 104);
	/* init_on_alloc skips caches with a constructor: the contents survive reallocation */
	cr_expect_eq(kmem_cache_alloc(c, GFP_KERNEL), a);
	cr_expect_eq(ram[a], 0xab);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	ok();
}

Test(freeptr, init_on_alloc_and_gfp_zero)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(64);
	memset(ram + p, 0x5a, 64);
	kfree(sys, p);
	cr_expect_eq(must_kmalloc(64), p);
	for (int i = 0; i < 64; i++)
		cr_expect_eq(ram[p + i], 0, "init_on_alloc: byte %d", i);

	slab_system_set_init_on_alloc(sys, false);
	memset(ram + p, 0x5a, 64);
	kfree(sys, p);
	cr_expect_eq(must_kmalloc(64), p);
	cr_expect_eq(ram[p], 0x5a, "not zeroed");
	cr_expect_neq(rd_ptr(p + 32), 0x5a5a5a5a5a5a5a5aULL, "the stale free pointer is visible");
	kfree(sys, p);
	cr_expect_eq(kmalloc(sys, 64, GFP_KERNEL | __GFP_ZERO), p);
	for (int i = 0; i < 64; i++)
		cr_expect_eq(ram[p + i], 0, "__GFP_ZERO: byte %d", i);
	ok();
}

/* ---- errors --------------------------------------------------------------------------------- */

Test(errors, double_free_on_the_fast_path_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(64);
	kfree(sys, p);
	kfree(sys, p);
}

Test(errors, double_free_on_the_slow_path_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t first = kmem_cache_alloc(c, GFP_KERNEL);
	for (int i = 0; i < 64; i++)
		kmem_cache_alloc(c, GFP_KERNEL);	/* moves the cpu slab on */
	kmem_cache_free(c, first);
	kmem_cache_free(c, first);
}

/* A, then B, then A again: A is not the head of the freelist, so only the free-object map
 * (not the hardened "object == next" check) can see it. */
Test(errors, double_free_behind_the_freelist_head_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	struct kmem_cache *c = K("kmalloc-64");
	uint64_t a = kmem_cache_alloc(c, GFP_KERNEL);
	uint64_t b = kmem_cache_alloc(c, GFP_KERNEL);
	for (int i = 0; i < 63; i++)
		kmem_cache_alloc(c, GFP_KERNEL);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	kmem_cache_free(c, a);
}

Test(errors, free_to_the_wrong_cache_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(64);
	kmem_cache_free(K("kmalloc-128"), p);
}

Test(errors, free_of_an_interior_pointer_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(64);
	kfree(sys, p + 8);
}

Test(errors, kfree_of_a_page_that_is_not_kmalloced_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	struct page *pg = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(pg);
	kfree(sys, page_to_pfn(&node, pg) << PAGE_SHIFT);
}

Test(errors, double_kfree_of_a_large_block_aborts, .signal = SIGABRT)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(20000);
	kfree(sys, p);
	kfree(sys, p);
}

Test(errors, slab_check_notices_a_corrupted_free_pointer)
{
	boot_x64(2);
	uint64_t p = must_kmalloc(64);
	uint64_t next = p + 64;
	uint64_t bogus = X64_PAGE_OFFSET + next + 8;	/* not an object start */
	uint64_t saved;
	memcpy(&saved, ram + next + 32, 8);
	memcpy(ram + next + 32, &bogus, 8);
	const char *why = slab_check(sys);
	cr_expect_not_null(why, "slab_check missed a bad free pointer");
	memcpy(ram + next + 32, &saved, 8);
	ok();
}

/* ---- out of memory -------------------------------------------------------------------------- */

/* Allocate every free frame as order 0, then free 3 frames whose buddies stay allocated. */
static struct page **fragment(unsigned keep_free, unsigned long *nr)
{
	unsigned long total = free_pages();
	struct page **pages = calloc(total, sizeof(*pages));
	unsigned long n = 0;
	struct page *p;

	while ((p = alloc_pages(&node, GFP_KERNEL, 0)))
		pages[n++] = p;
	cr_assert_eq(n, total);
	for (unsigned k = 0; k < keep_free; k++) {
		__free_pages(&node, pages[4 * k], 0);
		pages[4 * k] = NULL;
	}
	*nr = n;
	return pages;
}

/*
 * i386, 4 MiB, first MiB reserved, 1 CPU: kmalloc-4k wants order 3 (8 objects). With only three
 * isolated free frames, allocate_slab falls back to order 0 (one object per slab,
 * ORDER_FALLBACK), three times; the fourth allocation has nothing and returns 0.
 */
Test(oom, order_fallback_then_null)
{
	boot_node(false, false, 4 * MiB);
	boot_slabs(1);
	struct kmem_cache *c = K("kmalloc-4k");
	cr_expect_eq(kmem_cache_order(c), 3);
	unsigned long nr;
	struct page **pages = fragment(3, &nr);
	uint64_t o[3];

	for (int i = 0; i < 3; i++) {
		o[i] = kmalloc(sys, 4096, GFP_KERNEL);
		cr_assert(o[i], "allocation %d", i);
		cr_expect_eq(st(c, SLUB_ORDER_FALLBACK), (unsigned long)i + 1);
	}
	cr_expect_eq(kmem_cache_total_objs(c), 3, "three one-object slabs");
	cr_expect_eq(kmem_cache_total_slabs(c), 3);
	cr_expect_eq(kmalloc(sys, 4096, GFP_KERNEL), 0, "out of memory");
	cr_expect_eq(kmalloc(sys, 64, GFP_KERNEL), 0, "nothing left for a new kmalloc-64 slab");
	cr_expect_eq(kmalloc(sys, 10000, GFP_KERNEL), 0, "nor for a large kmalloc");
	cr_expect_eq(st(c, SLUB_ALLOC_SLOWPATH), 4);
	ok();

	for (int i = 0; i < 3; i++)
		kfree(sys, o[i]);
	ok();
	for (unsigned long i = 0; i < nr; i++)
		if (pages[i])
			__free_pages(&node, pages[i], 0);
	free(pages);
	ok();
}

/* Exhaust memory with kmalloc-64 (one-page slabs): every page becomes a slab, then 0. */
Test(oom, exhausting_memory_returns_zero)
{
	boot_node(false, false, 4 * MiB);
	boot_slabs(1);
	unsigned long avail = free_pages();
	unsigned long n = 0;
	uint64_t p;

	while ((p = kmalloc(sys, 64, GFP_KERNEL)))
		n++;
	cr_expect_eq(n, avail * 64, "%lu objects from %lu pages", n, avail);
	cr_expect_eq(free_pages(), 0);
	cr_expect_eq(kmem_cache_total_slabs(K("kmalloc-64")), avail);
	ok();
}

/* ---- /proc/slabinfo ------------------------------------------------------------------------- */

static char *slabinfo_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	slabinfo_show(sys, f);
	fclose(f);
	return buf;
}

struct row {
	char name[64];
	unsigned long active, num;
	unsigned objsize, perslab;
	int pages;
	unsigned t1, t2, t3;
	unsigned long aslabs, nslabs, shared;
};

static int parse_rows(char *text, struct row *rows, int max)
{
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	cr_assert_str_eq(line, "slabinfo - version: 2.1");
	line = strtok_r(NULL, "\n", &save);
	cr_assert_str_eq(line, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
			       "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
			       "slabdata <active_slabs> <num_slabs> <sharedavail>");
	int n = 0;
	while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
		struct row *r = &rows[n];
		int got = sscanf(line, "%63s %lu %lu %u %u %d : tunables %u %u %u : slabdata "
				 "%lu %lu %lu", r->name, &r->active, &r->num, &r->objsize,
				 &r->perslab, &r->pages, &r->t1, &r->t2, &r->t3, &r->aslabs,
				 &r->nslabs, &r->shared);
		cr_assert_eq(got, 12, "unparsable row: %s", line);
		/* %-17s then a space: the name column is 17 wide */
		size_t nl = strlen(r->name);
		if (nl < 17) {
			for (size_t k = nl; k < 17; k++)
				cr_assert_eq(line[k], ' ', "name padding in: %s", line);
			/* then " %6lu": the active_objs column ends at 24 */
			cr_assert_eq(line[17], ' ');
			cr_assert(line[23] >= '0' && line[23] <= '9' && line[24] == ' ',
				  "active_objs is not %%6lu: %s", line);
		}
		n++;
	}
	return n;
}

Test(slabinfo, format_order_and_columns)
{
	boot_x64(8);
	struct kmem_cache *c64 = K("kmalloc-64");
	uint64_t p = must_kmalloc(64);
	uint64_t *many = calloc(700, sizeof(*many));
	for (int i = 0; i < 700; i++)
		many[i] = kmem_cache_alloc(slab_mm_cache(sys, SLAB_VMA), GFP_KERNEL);

	char *text = slabinfo_text();
	static struct row rows[128];
	int n = parse_rows(text, rows, 128);
	cr_expect_eq(n, 4 * 13 + 6, "52 kmalloc caches and 6 mm caches");

	/* Most recently created first. */
	static const char *const head[] = { "vma_lock", "vm_area_struct", "anon_vma_chain",
					     "anon_vma", "maple_node", "mm_struct",
					     "kmalloc-cg-8k", "kmalloc-cg-4k" };
	for (int i = 0; i < 8; i++)
		cr_expect_str_eq(rows[i].name, head[i], "row %d", i);
	cr_expect_str_eq(rows[n - 1].name, "kmalloc-96");
	cr_expect_str_eq(rows[n - 2].name, "kmalloc-192");
	cr_expect_str_eq(rows[n - 3].name, "kmalloc-8");
	cr_expect_str_eq(rows[n - 13].name, "kmalloc-8k");
	cr_expect_str_eq(rows[n - 14].name, "kmalloc-rcl-96", "families: cg, dma, rcl, normal");
	cr_expect_str_eq(rows[n - 27].name, "dma-kmalloc-96");

	for (int i = 0; i < n; i++) {
		struct kmem_cache *c = K(rows[i].name);
		cr_expect_eq(rows[i].objsize, kmem_cache_size(c));
		cr_expect_eq(rows[i].perslab, kmem_cache_objs_per_slab(c));
		cr_expect_eq(rows[i].pages, 1 << kmem_cache_order(c));
		cr_expect_eq(rows[i].active, kmem_cache_active_objs(c));
		cr_expect_eq(rows[i].num, kmem_cache_total_objs(c));
		cr_expect_eq(rows[i].aslabs, kmem_cache_active_slabs(c));
		cr_expect_eq(rows[i].nslabs, kmem_cache_total_slabs(c));
		cr_expect_eq(rows[i].t1 + rows[i].t2 + rows[i].t3 + rows[i].shared, 0);
	}
	/* kmalloc-64: one slab, the cpu slab: all 64 count as active. */
	struct row *r64 = &rows[n - 6];	/* ... 64, 32, 16, 8, 192, 96 */
	cr_expect_str_eq(r64->name, "kmalloc-64");
	cr_expect_eq(r64->active, 64);
	cr_expect_eq(r64->num, 64);
	cr_expect_eq(r64->nslabs, 1);
	/* vm_area_struct: 700 objects, 23 per slab -> 31 slabs (713 objects) */
	cr_expect_eq(rows[1].num, 31 * 23);
	cr_expect_eq(rows[1].nslabs, 31);
	cr_expect_eq(rows[1].objsize, 176);
	free(text);
	(void)c64;
	kfree(sys, p);
	for (int i = 0; i < 700; i++)
		kmem_cache_free(slab_mm_cache(sys, SLAB_VMA), many[i]);
	free(many);
	ok();
}

/* Exact bytes of a row, and a new cache at the top. */
Test(slabinfo, row_bytes_and_new_cache_first)
{
	boot_x64(8);
	struct kmem_cache *c = kmem_cache_create(sys, "my_cache", 100, 0, SLAB_HWCACHE_ALIGN,
						 false);
	cr_assert_not_null(c);
	kmem_cache_alloc(c, GFP_KERNEL);
	char *text = slabinfo_text();
	char *row = strchr(strchr(text, '\n') + 1, '\n') + 1;
	/* 100 -> HWCACHE 64 -> size 128, 32 per page (min_objects 20 -> order 0) */
	const char *want = "my_cache              32     32    128   32    1 : tunables    0    0"
			   "    0 : slabdata      1      1      0\n";
	cr_expect_eq(strncmp(row, want, strlen(want)), 0, "row:\n%.120s\nwant:\n%s", row, want);
	free(text);
	ok();
}

Test(slabinfo, i386_pae_pgd_cache_sits_before_mm_struct_in_creation_order)
{
	boot_i386(2, true);
	slab_create_pgd_cache(sys);
	char *text = slabinfo_text();
	static struct row rows[128];
	int n = parse_rows(text, rows, 128);
	cr_expect_eq(n, 4 * 13 + 6, "no vma_lock on i386, pgd_cache added");
	cr_expect_str_eq(rows[0].name, "vm_area_struct");
	cr_expect_str_eq(rows[4].name, "mm_struct");
	cr_expect_str_eq(rows[5].name, "pgd_cache");
	cr_expect_str_eq(rows[6].name, "kmalloc-cg-8k");
	free(text);
	ok();
}

/* ---- lifecycle, accounting, events ---------------------------------------------------------- */

Test(lifecycle, slab_system_free_returns_every_page)
{
	boot_node(true, false, 64 * MiB);
	unsigned long before = free_pages();
	boot_slabs(4);
	cr_expect_eq(free_pages(), before, "boot allocates no slab pages");

	static const size_t sizes[] = { 1, 8, 50, 96, 150, 200, 300, 700, 1500, 3000, 6000, 8192,
					9000, 70000 };
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint64_t p = must_kmalloc(sizes[i]);
			if ((round + i) % 3 == 0)
				kfree(sys, p);
		}
	for (int id = 0; id < NR_SLAB_MM_IDS; id++)
		if (slab_mm_cache(sys, id))
			for (int k = 0; k < 30; k++)
				cr_assert(kmem_cache_alloc(slab_mm_cache(sys, id), GFP_KERNEL));
	kmalloc(sys, 100, GFP_KERNEL | __GFP_RECLAIMABLE);
	kmalloc(sys, 100, GFP_KERNEL | __GFP_DMA);
	cr_expect_lt(free_pages(), before - 100);
	ok();

	slab_system_free(sys);
	sys = NULL;
	cr_expect_eq(free_pages(), before, "free pages %lu, before %lu", free_pages(), before);
	const char *why = buddy_check(&node);
	cr_expect_null(why, "%s", why);
	for (unsigned long pfn = 0; pfn < node.node_spanned_pages; pfn++)
		if (PageSlab(&node.mem_map[pfn]) || PageWorkingset(&node.mem_map[pfn]))
			cr_assert_fail("pfn %#lx still typed or marked", pfn);
}

Test(lifecycle, meminfo_slab_pages)
{
	boot_x64(8);
	unsigned long r = 99, u = 99;
	cr_expect_eq(slab_system_pages(sys, &r, &u), 0);
	cr_expect_eq(r + u, 0);
	kmalloc(sys, 100, GFP_KERNEL | __GFP_RECLAIMABLE);	/* kmalloc-rcl-128: 1 page */
	must_kmalloc(64);					/* kmalloc-64: 1 page */
	must_kmalloc(300);					/* kmalloc-512: 4 pages */
	must_kmalloc(10000);					/* large: order 2 */
	cr_expect_eq(slab_system_pages(sys, &r, &u), 10);
	cr_expect_eq(r, 1, "SReclaimable");
	cr_expect_eq(u, 9, "SUnreclaim includes large kmalloc");
	ok();
}

Test(lifecycle, destroy_refuses_while_objects_remain)
{
	boot_x64(8);
	unsigned long before = free_pages();
	struct kmem_cache *c = kmem_cache_create(sys, "victim", 200, 0, 0, false);
	cr_assert_not_null(c);
	uint64_t v[50];
	for (int i = 0; i < 50; i++)
		v[i] = kmem_cache_alloc(c, GFP_KERNEL);
	cr_expect_eq(kmem_cache_destroy(c), -1);
	cr_expect_eq(slab_find_cache(sys, "victim"), c, "the cache stays");
	ok();
	for (int i = 0; i < 50; i++)
		kmem_cache_free(c, v[i]);
	cr_expect_eq(kmem_cache_destroy(c), 0);
	cr_expect_null(slab_find_cache(sys, "victim"));
	cr_expect_eq(free_pages(), before);
	ok();
}

struct evlog {
	int n;
	struct {
		const struct kmem_cache *c;
		int kind;
		uint64_t obj;
		bool slow;
		unsigned pages;
	} e[16];
};

static void record(void *ctx, const struct kmem_cache *c, int kind, uint64_t obj, bool slow,
		   unsigned pages)
{
	struct evlog *l = ctx;
	if (l->n < 16)
		l->e[l->n] = (__typeof__(l->e[0])){ c, kind, obj, slow, pages };
	l->n++;
}

Test(lifecycle, events_report_paths_and_pages)
{
	boot_x64(8);
	struct evlog log = { 0 };
	struct slab_ops ops = { .slab_event = record, .ctx = &log };
	slab_system_set_ops(sys, &ops);
	struct kmem_cache *c = K("kmalloc-512");	/* 4-page slabs at 8 CPUs */

	uint64_t a = must_kmalloc(512);
	uint64_t b = must_kmalloc(512);
	kfree(sys, b);
	uint64_t big = must_kmalloc(10000);
	kfree(sys, big);
	cr_assert_eq(log.n, 5);
	cr_expect(log.e[0].c == c && log.e[0].kind == SLAB_EV_ALLOC && log.e[0].obj == a &&
		  log.e[0].slow && log.e[0].pages == 4);
	cr_expect(log.e[1].kind == SLAB_EV_ALLOC && !log.e[1].slow && log.e[1].pages == 0);
	cr_expect(log.e[2].kind == SLAB_EV_FREE && log.e[2].obj == b && !log.e[2].slow);
	cr_expect(log.e[3].c == NULL && log.e[3].pages == 4 && log.e[3].obj == big);
	cr_expect(log.e[4].c == NULL && log.e[4].kind == SLAB_EV_FREE && log.e[4].pages == 4);

	/*
	 * A slow free that discards a slab reports its pages. "ev3000": 3000-byte objects, 10 per
	 * order-3 slab (min_objects 20 capped at 32768 / 3000 = 10; 32768 % 3000 = 2768 is within
	 * 1/8), cpu_partial 24 objects -> DIV_ROUND_UP(48, 10) = 5 slabs, min_partial 5.
	 * 12 full slabs; one free in S0..S4 fills the cpu partial list, one in S5 drains S4..S0 to
	 * the node (nr_partial 5); emptying S0 then discards it (5 >= min_partial): 8 pages.
	 */
	struct kmem_cache *t = kmem_cache_create(sys, "ev3000", 3000, 0, 0, false);
	cr_assert_not_null(t);
	cr_expect_eq(kmem_cache_objs_per_slab(t), 10);
	cr_expect_eq(info(t).cpu_partial_slabs, 5);
	uint64_t x[120];
	for (int i = 0; i < 120; i++)
		x[i] = kmem_cache_alloc(t, GFP_KERNEL);
	for (int s = 0; s < 6; s++)
		kmem_cache_free(t, x[10 * s]);
	cr_expect_eq(info(t).nr_partial, 5);
	log.n = 0;
	for (int i = 1; i < 10; i++)
		kmem_cache_free(t, x[i]);
	cr_assert_eq(log.n, 9);
	cr_expect(log.e[0].c == t && log.e[0].slow && log.e[0].pages == 0);
	cr_expect(log.e[8].slow && log.e[8].pages == 8, "the last free discarded the slab: %u",
		  log.e[8].pages);
	cr_expect_eq(kmem_cache_total_slabs(t), 11);
	slab_system_set_ops(sys, NULL);
	kmem_cache_free(t, x[119]);
	cr_expect_eq(log.n, 9, "no observer");
	ok();
}
