/*
 * test_pcp.c — Criterion tests of the watermarks, lowmem_reserve and per-CPU page lists of
 * kernel-model/page_alloc.c, with expected values worked out by hand from Linux 6.12
 * (mm/page_alloc.c calculate_min_free_kbytes, __setup_per_zone_wmarks,
 * setup_per_zone_lowmem_reserve, __zone_watermark_ok, zone_batchsize, zone_highsize,
 * nr_pcp_alloc, nr_pcp_high, nr_pcp_free, free_unref_page_commit; linux-mm-facts.md §1.4, §2.4).
 *
 * Every test builds its node in the global `node`, ends with buddy_ok() (buddy_check() also
 * checks the pcp lists), and the suites' .fini checks again and releases the node.
 *
 * Layouts used (reserved = frames the "firmware" keeps, never managed):
 *   x86-64 64 MiB, reserved 16 MiB: DMA [0, 4096) all reserved (managed 0);
 *                                   DMA32 [4096, 16384): managed 12288.
 *   x86-64 4 GiB, reserved 16 MiB:  DMA32 managed 1048576 - 4096 = 1044480; Normal empty.
 *   x86-64 6 GiB, reserved 16 MiB:  DMA32 1044480, Normal [1 Mi, 1.5 Mi) pfns: 524288.
 *   i386 2 GiB, lowmem 0x377fe000, reserved 16 MiB: Normal [4096, 227326): 223230,
 *                                   HighMem [227326, 524288): 296962.
 *   i386 64 MiB, reserved 1 MiB:    DMA [0, 4096): 3840 managed, Normal [4096, 16384): 12288.
 */
#include "page_alloc.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct pglist_data node;

static void node_fini(void)
{
	if (node.mem_map) {
		const char *why = buddy_check(&node);
		if (why) {
			fprintf(stderr, "buddy_check after the test: %s\n", why);
			abort();
		}
	}
	pgdat_destroy(&node);
}

TestSuite(wmark, .fini = node_fini);
TestSuite(pcp, .fini = node_fini);

/* ---- helpers ---------------------------------------------------------------------------- */

static void boot(struct page_alloc_config cfg, bool late_init)
{
	char err[256] = "";
	int rc = pgdat_init(&node, &cfg, err, sizeof(err));
	cr_assert_eq(rc, 0, "pgdat_init failed: %s", err);
	if (late_init)
		init_per_zone_wmark_min(&node);
	const char *why = buddy_check(&node);
	cr_assert_null(why, "buddy_check after boot: %s", why);
}

static void buddy_ok(void)
{
	const char *why = buddy_check(&node);
	cr_assert_null(why, "buddy_check: %s", why);
}

static struct page_alloc_config x86_64_cfg(uint64_t mem, uint64_t reserved)
{
	return (struct page_alloc_config){ .mem_bytes = mem, .x86_64 = true, .reserved_bytes = reserved };
}

static struct page_alloc_config i386_cfg(uint64_t mem, uint64_t reserved)
{
	return (struct page_alloc_config){ .mem_bytes = mem, .lowmem_bytes = LOWMEM_DEFAULT_BYTES,
					   .reserved_bytes = reserved };
}

static struct zone *Z(enum zone_type zt) { return &node.node_zones[zt]; }
static long zfree(enum zone_type zt) { return (long)zone_page_state(Z(zt), NR_FREE_PAGES); }

static void expect_marks(enum zone_type zt, unsigned long min, unsigned long low, unsigned long high,
			 unsigned long promo)
{
	const struct zone *z = Z(zt);
	cr_expect_eq(z->_watermark[WMARK_MIN], min, "%s min %lu, expected %lu", z->name,
		     z->_watermark[WMARK_MIN], min);
	cr_expect_eq(z->_watermark[WMARK_LOW], low, "%s low %lu, expected %lu", z->name,
		     z->_watermark[WMARK_LOW], low);
	cr_expect_eq(z->_watermark[WMARK_HIGH], high, "%s high %lu, expected %lu", z->name,
		     z->_watermark[WMARK_HIGH], high);
	cr_expect_eq(z->_watermark[WMARK_PROMO], promo, "%s promo %lu, expected %lu", z->name,
		     z->_watermark[WMARK_PROMO], promo);
}

/* Set a zone's marks by hand (for boundary tests). */
static void set_marks(enum zone_type zt, unsigned long min, unsigned long low)
{
	Z(zt)->_watermark[WMARK_MIN] = min;
	Z(zt)->_watermark[WMARK_LOW] = low;
	Z(zt)->_watermark[WMARK_HIGH] = low;
}

/* ---- watermarks ----------------------------------------------------------------------------- */

Test(wmark, x86_64_4g_marks_from_min_free_kbytes)
{
	boot(x86_64_cfg(4 * GiB, 16 * MiB), true);
	/*
	 * lowmem_kbytes = 1044480 pages * 4 = 4177920; int_sqrt(4177920 * 16 = 66846720) = 8175
	 * (8176^2 = 66846976 is too big). pages_min = 8175 / 4 = 2043, all of it DMA32's (DMA has no
	 * managed pages). delta = max(2043/4 = 510, 1044480 * 10 / 10000 = 1044) = 1044.
	 */
	cr_expect_eq(node.min_free_kbytes, 8175);
	expect_marks(ZONE_DMA32, 2043, 3087, 4131, 5175);
	expect_marks(ZONE_DMA, 0, 0, 0, 0);
	expect_marks(ZONE_NORMAL, 0, 0, 0, 0);
	/* empty Movable: min clamp(0/1024, 32, 128) = 32, delta 0 (Linux prints the same) */
	expect_marks(ZONE_MOVABLE, 32, 32, 32, 32);
	for (int j = 0; j < MAX_NR_ZONES; j++) {
		cr_expect_eq(Z(ZONE_DMA)->lowmem_reserve[j], 0);
		cr_expect_eq(Z(ZONE_DMA32)->lowmem_reserve[j], 0, "no managed pages above DMA32");
	}
	buddy_ok();
}

Test(wmark, x86_64_6g_shares_min_by_zone_size_and_reserves_dma32)
{
	boot(x86_64_cfg(6 * GiB, 16 * MiB), true);
	/*
	 * lowmem = 1044480 + 524288 = 1568768 pages = 6275072 kB; int_sqrt(100401152) = 10020
	 * (10021^2 = 100420441). pages_min = 2505.
	 * DMA32: 2505 * 1044480 / 1568768 = 1667; delta max(416, 1044) = 1044 -> 2711, 3755, 4799.
	 * Normal: 2505 * 524288 / 1568768 = 837; delta max(209, 524) = 524 -> 1361, 1885, 2409.
	 * lowmem_reserve of DMA32 (ratio 256) for Normal and Movable: 524288 / 256 = 2048
	 * (a host with this layout prints "protection: (0, 0, 2048, 2048, 2048)"); Normal's for
	 * Movable: 0 / 32 = 0; DMA has no managed pages: 0.
	 */
	cr_expect_eq(node.min_free_kbytes, 10020);
	expect_marks(ZONE_DMA32, 1667, 2711, 3755, 4799);
	expect_marks(ZONE_NORMAL, 837, 1361, 1885, 2409);
	cr_expect_eq(Z(ZONE_DMA32)->lowmem_reserve[ZONE_NORMAL], 2048);
	cr_expect_eq(Z(ZONE_DMA32)->lowmem_reserve[ZONE_MOVABLE], 2048);
	cr_expect_eq(Z(ZONE_DMA32)->lowmem_reserve[ZONE_DMA32], 0);
	cr_expect_eq(Z(ZONE_NORMAL)->lowmem_reserve[ZONE_MOVABLE], 0);
	cr_expect_eq(Z(ZONE_DMA)->lowmem_reserve[ZONE_NORMAL], 0);
	/* totalreserve = sum of (largest reserve + high), capped by managed: 2048 + 3755 + 1885 */
	cr_expect_eq(node.totalreserve_pages, 2048 + 3755 + 1885, "totalreserve %lu",
		     node.totalreserve_pages);
	buddy_ok();
}

Test(wmark, i386_2g_highmem_min_is_clamped_but_delta_is_not)
{
	boot(i386_cfg(2 * GiB, 16 * MiB), true);
	/*
	 * GFP_USER zones: DMA (0 managed) + Normal 223230 -> 892920 kB; int_sqrt(14286720) = 3779.
	 * pages_min = 944, all Normal's: delta max(236, 223) = 236 -> 944, 1180, 1416, 1652.
	 * HighMem: share 944 * 296962 / 223230 = 1255; min = clamp(296962/1024 = 290, 32, 128) = 128;
	 * delta = max(1255/4 = 313, 296) = 313 -> 128, 441, 754, 1067.
	 * lowmem_reserve of Normal (ratio 32): HighMem 296962/32 = 9280, Movable the same.
	 */
	cr_expect_eq(node.min_free_kbytes, 3779);
	expect_marks(ZONE_NORMAL, 944, 1180, 1416, 1652);
	expect_marks(ZONE_HIGHMEM, 128, 441, 754, 1067);
	cr_expect_eq(Z(ZONE_NORMAL)->lowmem_reserve[ZONE_HIGHMEM], 9280);
	cr_expect_eq(Z(ZONE_NORMAL)->lowmem_reserve[ZONE_MOVABLE], 9280);
	cr_expect_eq(Z(ZONE_HIGHMEM)->lowmem_reserve[ZONE_MOVABLE], 0, "HighMem ratio is 0");
	buddy_ok();
}

Test(wmark, small_i386_shares_min_between_dma_and_normal)
{
	/* i386 64 MiB, 1 MiB reserved: lowmem 3840 + 12288 pages = 64512 kB; int_sqrt(1032192) =
	 * 1015 -> pages_min 253: DMA 253*3840/16128 = 60, Normal 253*12288/16128 = 192. */
	boot(i386_cfg(64 * MiB, 1 * MiB), true);
	cr_expect_eq(node.min_free_kbytes, 1015);
	cr_expect_eq(Z(ZONE_DMA)->_watermark[WMARK_MIN], 60);
	cr_expect_eq(Z(ZONE_NORMAL)->_watermark[WMARK_MIN], 192);
	/* DMA ratio 256: reserve for Normal 12288/256 = 48 */
	cr_expect_eq(Z(ZONE_DMA)->lowmem_reserve[ZONE_NORMAL], 48);
	/* the sysctl path clamps nothing but recomputes: 0 kB gives min 0 everywhere */
	setup_per_zone_wmarks(&node, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->_watermark[WMARK_MIN], 0);
	/* delta floor: max(0, 12288 * 10 / 10000 = 12) */
	cr_expect_eq(Z(ZONE_NORMAL)->_watermark[WMARK_LOW], 12);
	buddy_ok();
}

Test(wmark, order0_fast_path_needs_free_above_low_exactly)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	drain_all_pages(&node);
	long f = zfree(ZONE_DMA32);

	/* free F > low F-1: fast path */
	set_marks(ZONE_DMA32, 0, (unsigned long)f - 1);
	struct page *a = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(a);
	cr_expect_eq(Z(ZONE_DMA32)->stats.wmark_refusals, 0);
	cr_expect_eq(node.stats.slowpath, 0);

	/* free F' == low: refused by the fast path, taken by the slow path at min F'-1 */
	drain_all_pages(&node);
	f = zfree(ZONE_DMA32);
	set_marks(ZONE_DMA32, (unsigned long)f - 1, (unsigned long)f);
	struct page *b = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(b);
	cr_expect_eq(Z(ZONE_DMA32)->stats.wmark_refusals, 1);
	cr_expect_eq(node.stats.slowpath, 1);

	/* free == min too: refused by both; nothing on the pcp lists to drain: NULL */
	drain_all_pages(&node);
	f = zfree(ZONE_DMA32);
	set_marks(ZONE_DMA32, (unsigned long)f, (unsigned long)f);
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 0));
	cr_expect_eq(node.stats.alloc_fail[0], 1);
	cr_expect_eq(Z(ZONE_DMA32)->stats.wmark_refusals, 3, "fast and slow path both refused");
	cr_expect_eq(zfree(ZONE_DMA32), f, "a refused allocation takes nothing");

	__free_pages(&node, a, 0);
	__free_pages(&node, b, 0);
	buddy_ok();
}

Test(wmark, high_order_subtracts_unusable_pages_and_needs_a_block)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	long f = zfree(ZONE_DMA32);

	/* order 2: free - 3 must exceed the mark. mark F-4: F-3 > F-4 passes. (Order 2 goes
	 * through the pcp lists: a refill of max(3 >> 2, 2) = 2 blocks.) */
	set_marks(ZONE_DMA32, 0, (unsigned long)f - 4);
	struct page *a = alloc_pages(&node, GFP_NOWAIT, 2);
	cr_assert_not_null(a);
	cr_expect_eq(Z(ZONE_DMA32)->stats.pcp_refill_pages, 8);
	/* mark F'-3: F'-3 > F'-3 fails; GFP_NOWAIT has no reserves and no direct reclaim */
	f = zfree(ZONE_DMA32);
	set_marks(ZONE_DMA32, (unsigned long)f - 3, (unsigned long)f - 3);
	cr_expect_null(alloc_pages(&node, GFP_NOWAIT, 2));
	/* order 0 at the same marks passes: only 0 pages are unusable */
	struct page *b = alloc_pages(&node, GFP_NOWAIT, 0);
	cr_expect_not_null(b);

	__free_pages(&node, a, 2);
	__free_pages(&node, b, 0);

	/* Plenty of free pages but no block of order >= 1: refused. Take every page (min 0), give
	 * back the even pfns: their buddies stay allocated, so nothing merges. */
	static struct page *all[16384];
	int n = 0;
	setup_per_zone_wmarks(&node, 0);
	while (n < 16384 && (all[n] = alloc_pages(&node, GFP_KERNEL, 0)))
		n++;
	cr_assert_gt(n, 12000);
	for (int i = 0; i < n; i++)
		if (!(page_to_pfn(&node, all[i]) & 1)) {
			__free_pages(&node, all[i], 0);
			all[i] = NULL;
		}
	drain_all_pages(&node);
	cr_assert_gt(zfree(ZONE_DMA32), 6000);
	cr_assert_eq(Z(ZONE_DMA32)->free_area[0].nr_free, (unsigned long)zfree(ZONE_DMA32));
	unsigned long refused = Z(ZONE_DMA32)->stats.wmark_refusals;
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 1), "no order >= 1 block");
	cr_expect_eq(Z(ZONE_DMA32)->stats.wmark_refusals, refused + 2, "fast and slow path");
	struct page *c = alloc_pages(&node, GFP_KERNEL, 0);
	cr_expect_not_null(c, "order 0 is fine");
	if (c)
		__free_pages(&node, c, 0);
	for (int i = 0; i < n; i++)
		if (all[i])
			__free_pages(&node, all[i], 0);
	drain_all_pages(&node);
	buddy_ok();
}

Test(wmark, gfp_high_and_atomic_dip_into_the_min_reserve)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	drain_all_pages(&node);
	long f = zfree(ZONE_DMA32);

	/* min = 2F: GFP_KERNEL needs F > 2F: no. __GFP_HIGH halves it: F > F: no.
	 * GFP_ATOMIC (high + cannot block) takes another quarter: F > F - F/4: yes. */
	set_marks(ZONE_DMA32, 2 * (unsigned long)f, 2 * (unsigned long)f);
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 0));
	cr_expect_null(alloc_pages(&node, GFP_KERNEL | __GFP_HIGH, 0));
	struct page *a = alloc_pages(&node, GFP_ATOMIC, 0);
	cr_assert_not_null(a, "GFP_ATOMIC uses 3/8 of the min reserve");
	__free_pages(&node, a, 0);

	/* min = 2F - 2: __GFP_HIGH: F > F - 1 passes */
	drain_all_pages(&node);
	f = zfree(ZONE_DMA32);
	set_marks(ZONE_DMA32, 2 * (unsigned long)f - 2, 2 * (unsigned long)f - 2);
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 0));
	a = alloc_pages(&node, GFP_KERNEL | __GFP_HIGH, 0);
	cr_expect_not_null(a);
	/* __GFP_MEMALLOC ignores watermarks altogether */
	set_marks(ZONE_DMA32, 1UL << 30, 1UL << 30);
	struct page *b = alloc_pages(&node, GFP_KERNEL | __GFP_MEMALLOC, 0);
	cr_expect_not_null(b);
	if (a)
		__free_pages(&node, a, 0);
	if (b)
		__free_pages(&node, b, 0);
	buddy_ok();
}

Test(wmark, lowmem_reserve_keeps_dma_from_gfp_kernel_but_not_from_gfp_dma)
{
	boot(i386_cfg(64 * MiB, 1 * MiB), true);
	/* Normal refuses everything (marks above its size): GFP_KERNEL falls back to DMA, where
	 * it must leave min + lowmem_reserve[Normal] = min + 48 pages. */
	set_marks(ZONE_NORMAL, 1UL << 30, 1UL << 30);
	drain_all_pages(&node);
	long f = zfree(ZONE_DMA);
	cr_assert_eq(Z(ZONE_DMA)->lowmem_reserve[ZONE_NORMAL], 48);

	/* F - 10 + 48 >= F: GFP_KERNEL refused; GFP_DMA (highest zone DMA, reserve 0) served */
	set_marks(ZONE_DMA, (unsigned long)f - 10, (unsigned long)f - 10);
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 0), "DMA is protected from Normal-capable requests");
	struct page *d = alloc_pages(&node, GFP_DMA, 0);
	cr_assert_not_null(d);
	cr_expect_eq(page_zonenum(&node, d), ZONE_DMA);

	/* F' - 49 + 48 < F': the reserve is satisfied, GFP_KERNEL gets a DMA page */
	drain_all_pages(&node);
	f = zfree(ZONE_DMA);
	set_marks(ZONE_DMA, (unsigned long)f - 49, (unsigned long)f - 49);
	struct page *k = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(k);
	cr_expect_eq(page_zonenum(&node, k), ZONE_DMA);
	__free_pages(&node, d, 0);
	__free_pages(&node, k, 0);
	buddy_ok();
}

Test(wmark, slow_path_drains_pcp_only_for_callers_that_may_reclaim)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	struct page *a = alloc_pages(&node, GFP_KERNEL, 0);	/* refill of 3: 2 stay on pcp */
	cr_assert_not_null(a);
	cr_assert_eq(Z(ZONE_DMA32)->pcp.count, 2);
	long f = zfree(ZONE_DMA32);
	set_marks(ZONE_DMA32, (unsigned long)f, (unsigned long)f);

	/* GFP_NOWAIT: no direct reclaim, so no drain: refused with 2 pages sitting on the pcp */
	cr_expect_null(alloc_pages(&node, GFP_NOWAIT, 0));
	cr_expect_eq(Z(ZONE_DMA32)->pcp.count, 2);
	/* GFP_KERNEL: reclaim finds nothing, drain_all_pages frees 2, free F+2 > min F */
	struct page *b = alloc_pages(&node, GFP_KERNEL, 0);
	cr_expect_not_null(b);
	cr_expect_eq(Z(ZONE_DMA32)->stats.pcp_drain_pages, 2);
	__free_pages(&node, a, 0);
	if (b)
		__free_pages(&node, b, 0);
	buddy_ok();
}

/* ---- per-CPU lists --------------------------------------------------------------------------- */

Test(pcp, batch_sizes_follow_zone_batchsize)
{
	/* min(managed >> 10, 256) / 4 (at least 1), then rounddown_pow_of_two(b + b/2) - 1 */
	cr_expect_eq(zone_batchsize_pages(1044480), 63);	/* 256/4=64, 96 -> 64 -> 63 */
	cr_expect_eq(zone_batchsize_pages(262144), 63);		/* 1 GiB: 256 -> 63 */
	cr_expect_eq(zone_batchsize_pages(65536), 15);		/* 64/4=16, 24 -> 16 -> 15 */
	cr_expect_eq(zone_batchsize_pages(20480), 3);		/* 20/4=5, 7 -> 4 -> 3 */
	cr_expect_eq(zone_batchsize_pages(12288), 3);		/* 12/4=3, 4 -> 4 -> 3 */
	cr_expect_eq(zone_batchsize_pages(8192), 1);		/* 8/4=2, 3 -> 2 -> 1 */
	cr_expect_eq(zone_batchsize_pages(3840), 0);		/* 3/4=0 -> 1, 1 -> 1 -> 0 */
}

Test(pcp, high_follows_low_watermark_and_managed_fraction)
{
	/* high_min = low / cpus, high_max = managed/8 / cpus, both at least 4 * batch */
	cr_expect_eq(zone_highsize_pages(1044480, 3087, 63, 1, 0), 3087);
	cr_expect_eq(zone_highsize_pages(1044480, 3087, 63, 1, 8), 130560);
	cr_expect_eq(zone_highsize_pages(1044480, 3087, 63, 2, 0), 1543);
	cr_expect_eq(zone_highsize_pages(8192, 50, 63, 1, 0), 252, "4 * batch floor");
	cr_expect_eq(zone_highsize_pages(8192, 50, 1, 1, 0), 50);

	boot(x86_64_cfg(4 * GiB, 16 * MiB), true);
	const struct zone *z = Z(ZONE_DMA32);
	cr_expect_eq(z->pcp.batch, 63);
	cr_expect_eq(z->pcp.high_min, 3087, "DMA32 low watermark");
	cr_expect_eq(z->pcp.high_max, 130560, "1044480 / 8");
	cr_expect_eq(z->pageset_batch, 63);
	/* DMA: no managed pages: batch max(1, 0) = 1, high 4 * 1 = 4 */
	cr_expect_eq(Z(ZONE_DMA)->pcp.batch, 1);
	cr_expect_eq(Z(ZONE_DMA)->pcp.high_min, 4);
	buddy_ok();
}

Test(pcp, boot_pagesets_pass_every_page_straight_through)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), false);
	cr_expect_eq(Z(ZONE_DMA32)->pcp.batch, 1);
	cr_expect_eq(Z(ZONE_DMA32)->pcp.high_max, 0);
	long f = zfree(ZONE_DMA32);
	struct page *p = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(p);
	cr_expect_eq(Z(ZONE_DMA32)->pcp.count, 0, "refill of 1, taken at once");
	cr_expect_eq(zfree(ZONE_DMA32), f - 1);
	__free_pages(&node, p, 0);
	cr_expect_eq(Z(ZONE_DMA32)->pcp.count, 0, "count >= high 0: drained at once");
	cr_expect_eq(zfree(ZONE_DMA32), f);
	buddy_ok();
}

Test(pcp, refills_double_with_alloc_factor_and_pcp_pages_are_not_free)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	struct zone *z = Z(ZONE_DMA32);
	/* batch 3, high_min = low = 276, high_max = 12288/8 = 1536 */
	cr_assert_eq(z->pcp.batch, 3);
	cr_assert_eq(z->pcp.high_min, 276);
	cr_assert_eq(z->pcp.high_max, 1536);
	long f = zfree(ZONE_DMA32);

	/* First allocation: refill 3 << 0 = 3 (alloc_factor -> 1); high grows by batch: 279 */
	struct page *p[400];
	p[0] = alloc_pages(&node, GFP_HIGHUSER_MOVABLE, 0);
	cr_assert_not_null(p[0]);
	cr_expect_eq(z->stats.pcp_refills, 1);
	cr_expect_eq(z->stats.pcp_refill_pages, 3);
	cr_expect_eq(z->pcp.count, 2);
	cr_expect_eq(zfree(ZONE_DMA32), f - 3, "pages on the pcp list are not free pages");
	cr_expect_eq(z->pcp.high, 279);
	/* the refill took pfn-ordered pages from one split block, the allocation the first */
	p[1] = alloc_pages(&node, GFP_HIGHUSER_MOVABLE, 0);
	p[2] = alloc_pages(&node, GFP_HIGHUSER_MOVABLE, 0);
	cr_expect_eq(page_to_pfn(&node, p[1]), page_to_pfn(&node, p[0]) + 1);
	cr_expect_eq(page_to_pfn(&node, p[2]), page_to_pfn(&node, p[0]) + 2);
	cr_expect_eq(z->stats.pcp_refills, 1, "served from the list");
	buddy_ok();

	/* Refills of 6, 12, 24, 48, 96, then 96 (alloc_factor stops at 5); total 3+6+12+24+48+96+96+96
	 * = 381 pages after 300 allocations; high 276 + 8 * 3 = 300. */
	for (int i = 3; i < 300; i++) {
		p[i] = alloc_pages(&node, GFP_HIGHUSER_MOVABLE, 0);
		cr_assert_not_null(p[i]);
	}
	cr_expect_eq(z->stats.pcp_refills, 8);
	cr_expect_eq(z->stats.pcp_refill_pages, 381);
	cr_expect_eq(z->pcp.count, 81);
	cr_expect_eq(z->pcp.high, 300);
	cr_expect_eq(z->pcp.alloc_factor, 5);
	cr_expect_eq(zfree(ZONE_DMA32), f - 381);
	cr_expect_eq(z->stats.pcp_drains, 0);
	buddy_ok();

	/* Freeing: count reaches high 300 after 219 frees; free_count has reached 96 (its cap
	 * batch << 5), so the drain frees clamp(96, 3, 300 - 3) = 96 pages, leaving 204. The other
	 * 81 frees bring it to 285 < 300: no second drain. */
	for (int i = 0; i < 300; i++)
		__free_pages(&node, p[i], 0);
	cr_expect_eq(z->stats.pcp_drains, 1);
	cr_expect_eq(z->stats.pcp_drain_pages, 96);
	cr_expect_eq(z->pcp.count, 285);
	cr_expect_eq(zfree(ZONE_DMA32), f - 285);
	buddy_ok();

	drain_all_pages(&node);
	cr_expect_eq(z->pcp.count, 0);
	cr_expect_eq(zfree(ZONE_DMA32), f, "everything back and merged");
	buddy_ok();
}

Test(pcp, thp_order_uses_the_pcp_and_costly_orders_do_not)
{
	boot(x86_64_cfg(4 * GiB, 16 * MiB), true);
	struct zone *z = Z(ZONE_DMA32);
	/* order 9 (pageblock order): refill max(63 >> 9, 2) = 2 blocks, one left on the pcp */
	struct page *h = alloc_pages(&node, GFP_HIGHUSER_MOVABLE | __GFP_COMP, 9);
	cr_assert_not_null(h);
	cr_expect_eq(z->stats.pcp_refill_pages, 1024);
	cr_expect_eq(z->pcp.count, 512);
	/* order 4: straight from the buddy lists */
	struct page *c = alloc_pages(&node, GFP_KERNEL, 4);
	cr_assert_not_null(c);
	cr_expect_eq(z->stats.pcp_refills, 1);
	cr_expect_eq(z->pcp.count, 512);
	__free_pages(&node, c, 4);
	cr_expect_eq(z->pcp.count, 512, "order-4 frees bypass the pcp");
	__free_pages(&node, h, 9);
	cr_expect_eq(z->pcp.count, 1024, "order-9 free goes to the THP list");
	buddy_ok();
}

Test(pcp, check_catches_a_wrong_pcp_count)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	struct page *p = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(p);
	Z(ZONE_DMA32)->pcp.count++;
	const char *why = buddy_check(&node);
	cr_assert_not_null(why);
	cr_expect(strstr(why, "pcp->count") != NULL, "%s", why);
	Z(ZONE_DMA32)->pcp.count--;
	/* a pcp page that is also PageBuddy is caught too */
	struct page *onlist = list_first_entry(&Z(ZONE_DMA32)->pcp.lists[MIGRATE_UNMOVABLE],
					       struct page, pcp_list);
	onlist->_refcount = 1;
	why = buddy_check(&node);
	cr_assert_not_null(why);
	cr_expect(strstr(why, "pcp") != NULL, "%s", why);
	onlist->_refcount = 0;
	__free_pages(&node, p, 0);
	buddy_ok();
}

/* ---- events ---------------------------------------------------------------------------------- */

struct ev { bool alloc; uint64_t pfn; unsigned order; int zone, mt; unsigned long splits; };
static struct ev evs[16];
static int nev;

static void record(void *ctx, bool alloc, uint64_t pfn, unsigned order, enum zone_type zone, int mt,
		   unsigned long splits)
{
	(void)ctx;
	if (nev < 16)
		evs[nev++] = (struct ev){ alloc, pfn, order, (int)zone, mt, splits };
}

Test(pcp, events_report_pfn_order_zone_migratetype_and_splits)
{
	boot(x86_64_cfg(64 * MiB, 16 * MiB), true);
	node.ops.event = record;
	/* The refill of 3 takes an order-10 block (10 halvings: P kept, P+1 left at order 0,
	 * P+2 at order 1, ...), then P+1 (no split), then the order-1 block at P+2 (1 halving). */
	struct page *p = alloc_pages(&node, GFP_KERNEL, 0);
	cr_assert_not_null(p);
	cr_assert_eq(nev, 1);
	cr_expect(evs[0].alloc);
	cr_expect_eq(evs[0].pfn, page_to_pfn(&node, p));
	cr_expect_eq(evs[0].order, 0);
	cr_expect_eq(evs[0].zone, ZONE_DMA32);
	cr_expect_eq(evs[0].mt, MIGRATE_UNMOVABLE);
	cr_expect_eq(evs[0].splits, 11);
	struct page *q = alloc_pages(&node, GFP_KERNEL, 0);	/* from the pcp: no split */
	cr_assert_eq(nev, 2);
	cr_expect_eq(evs[1].splits, 0);
	__free_pages(&node, p, 0);
	cr_assert_eq(nev, 3);
	cr_expect(!evs[2].alloc);
	cr_expect_eq(evs[2].pfn, page_to_pfn(&node, p));
	cr_expect_eq(evs[2].zone, ZONE_DMA32);
	cr_expect_eq(evs[2].mt, MIGRATE_UNMOVABLE, "the pageblock was claimed for unmovable");
	__free_pages(&node, q, 0);
	node.ops.event = NULL;
	buddy_ok();
}

/* ---- through the kernel model ------------------------------------------------------------- */

#include "kmodel.h"

struct km_ev_log { int alloc, free, bad; unsigned long splits_seen; };

static void km_record(void *ctx, const struct km_event *e)
{
	struct km_ev_log *log = ctx;
	if (e->kind == KM_EV_PAGE_ALLOC)
		log->alloc++;
	else if (e->kind == KM_EV_PAGE_FREE)
		log->free++;
	else
		return;
	if (e->zone < 0 || e->zone >= MAX_NR_ZONES || e->migratetype < 0 ||
	    e->migratetype >= MIGRATE_TYPES || e->pfn < (16ULL << 20) >> 12)
		log->bad++;
}

Test(pcp, km_emits_page_events_and_charges_splits)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, KM_ARCH_X86_64);
	cfg.mem_bytes = 256 * MiB;
	struct km *km = km_new(&cfg, err, sizeof(err));
	cr_assert_not_null(km, "%s", err);
	/* km_new sets the watermarks up: DMA32 of 256 MiB - 16 MiB managed = 61440 pages */
	struct pglist_data *pg = km_pgdat(km);
	cr_expect_gt(pg->min_free_kbytes, 0);
	cr_expect_eq(pg->node_zones[ZONE_DMA32].pcp.batch, zone_batchsize_pages(61440));

	struct km_ev_log log = { 0 };
	struct km_ops ops = { .event = km_record, .ctx = &log };
	km_set_ops(km, &ops);
	uint64_t splits0 = km_stats(km)->page_splits, cycles0 = km_cycles(km);
	struct mm_struct *mm = km_mm_new(km);	/* page-table and slab pages */
	cr_assert_not_null(mm);
	cr_expect_gt(log.alloc, 0, "PAGE_ALLOC events");
	cr_expect_eq(log.bad, 0, "events carry a pfn above the reserved frames, a zone, a migratetype");
	uint64_t splits = km_stats(km)->page_splits - splits0;
	cr_expect_gt(splits, 0, "the first allocations split fresh 4 MiB blocks");
	cr_expect_geq(km_cycles(km) - cycles0, splits * cfg.costs.page_split);
	const char *why = km_check(km, mm);
	cr_expect_null(why, "%s", why);
	km_mm_free(km, mm);
	cr_expect_gt(log.free, 0, "PAGE_FREE events");
	why = km_check(km, NULL);
	cr_expect_null(why, "%s", why);
	km_free(km);
}
