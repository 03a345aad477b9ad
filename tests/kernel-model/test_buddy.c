/*
 * test_buddy.c — Criterion tests of kernel-model/page_alloc.c: zones, zonelists, GFP
 * interpretation and the buddy allocator, with expected values worked out by hand from the Linux
 * 6.12 rules (linux-mm-facts.md §1, §2; mm/page_alloc.c, mm/mm_init.c, mm/memblock.c).
 *
 * Every test builds its node in the global `node` (Criterion runs each test in its own process),
 * ends with buddy_ok() — buddy_check() must pass — and the suite's .fini runs buddy_check() again
 * and releases the node (an assertion in .fini is not reported by Criterion 2.4, so a failure
 * there aborts, which makes the run exit non-zero).
 */
#include "page_alloc.h"

#include <criterion/criterion.h>
#include <signal.h>
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

TestSuite(zones, .fini = node_fini);
TestSuite(gfp);
TestSuite(zonelist, .fini = node_fini);
TestSuite(buddy, .fini = node_fini);

/* ---- helpers ---------------------------------------------------------------------------- */

static void boot(struct page_alloc_config cfg)
{
	char err[256] = "";
	int rc = pgdat_init(&node, &cfg, err, sizeof(err));
	cr_assert_eq(rc, 0, "pgdat_init failed: %s", err);
	const char *why = buddy_check(&node);
	cr_assert_null(why, "buddy_check after boot: %s", why);
}

static void buddy_ok(void)
{
	const char *why = buddy_check(&node);
	cr_assert_null(why, "buddy_check: %s", why);
}

static struct page_alloc_config i386_cfg(uint64_t mem)
{
	return (struct page_alloc_config){ .mem_bytes = mem, .lowmem_bytes = LOWMEM_DEFAULT_BYTES };
}

static struct page_alloc_config x86_64_cfg(uint64_t mem)
{
	return (struct page_alloc_config){ .mem_bytes = mem, .x86_64 = true };
}

static struct zone *Z(enum zone_type zt) { return &node.node_zones[zt]; }

static uint64_t pfn_of(const struct page *page) { return page_to_pfn(&node, page); }

static void expect_zone(enum zone_type zt, uint64_t start, unsigned long spanned)
{
	const struct zone *z = Z(zt);
	cr_expect_eq(z->zone_start_pfn, start, "%s start_pfn %#lx, expected %#lx", z->name,
		     (unsigned long)z->zone_start_pfn, (unsigned long)start);
	cr_expect_eq(z->spanned_pages, spanned, "%s spanned %lu, expected %lu", z->name,
		     z->spanned_pages, spanned);
	cr_expect_eq(z->present_pages, spanned, "%s present", z->name);
}

static unsigned long zone_free(enum zone_type zt) { return zone_page_state(Z(zt), NR_FREE_PAGES); }

/* Zone indices of the zonelist walk for gfp, terminated by -1. */
static int zonelist_walk(gfp_t gfp, int out[MAX_NR_ZONES + 1])
{
	struct zoneref *z;
	struct zone *zone;
	int n = 0;
	for_each_zone_zonelist(zone, z, node_zonelist(&node, gfp), gfp_zone(gfp, node.x86_64))
		out[n++] = (int)zone_idx(zone);
	out[n] = -1;
	return n;
}

static void expect_zonelist(gfp_t gfp, const char *what, const int *expected)
{
	int got[MAX_NR_ZONES + 1];
	zonelist_walk(gfp, got);
	for (int i = 0;; i++) {
		cr_expect_eq(got[i], expected[i], "%s: zonelist entry %d is %s, expected %s", what, i,
			     got[i] < 0 ? "(end)" : zone_names[got[i]],
			     expected[i] < 0 ? "(end)" : zone_names[expected[i]]);
		if (got[i] < 0 || expected[i] < 0)
			break;
	}
}

static uint64_t head_pfn(enum zone_type zt, unsigned order, int mt)
{
	struct list_head *l = &Z(zt)->free_area[order].free_list[mt];
	cr_assert(!list_empty(l), "%s order %u %s list is empty", zone_names[zt], order,
		  migratetype_names[mt]);
	return pfn_of(list_first_entry(l, struct page, buddy_list));
}

static uint64_t tail_pfn(enum zone_type zt, unsigned order, int mt)
{
	struct list_head *l = &Z(zt)->free_area[order].free_list[mt];
	cr_assert(!list_empty(l));
	return pfn_of(list_last_entry(l, struct page, buddy_list));
}

static int block_mt(uint64_t pfn)
{
	return get_pfnblock_migratetype(Z(pfn_zonenum(&node, pfn)), pfn);
}

static struct page *must_alloc(gfp_t gfp, unsigned order)
{
	struct page *p = alloc_pages(&node, gfp, order);
	cr_assert_not_null(p, "alloc_pages(gfp %#x, order %u) failed", gfp, order);
	return p;
}

static void snapshot_nr_free(unsigned long out[MAX_NR_ZONES][NR_PAGE_ORDERS])
{
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		for (int o = 0; o < NR_PAGE_ORDERS; o++)
			out[zt][o] = Z(zt)->free_area[o].nr_free;
}

static char *buddyinfo_string(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	buddyinfo_show(&node, f);
	fclose(f);
	return buf;
}

/* ---- zones ------------------------------------------------------------------------------ */

Test(zones, i386_2g_lowmem_887m_has_dma_normal_highmem)
{
	struct page_alloc_config cfg = i386_cfg(2 * GiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);

	/* max_low_pfn = 0x377fe000 >> 12 = 0x377fe = 227326 */
	cr_expect_eq(node.max_low_pfn, 0x377fe);
	cr_expect_eq(node.pageblock_order, 10, "i386 without PAE: 4 MiB pageblocks");
	expect_zone(ZONE_DMA, 0, 4096);
	expect_zone(ZONE_DMA32, 4096, 0);
	expect_zone(ZONE_NORMAL, 4096, 0x377fe - 4096);
	expect_zone(ZONE_HIGHMEM, 0x377fe, 0x80000 - 0x377fe);
	expect_zone(ZONE_MOVABLE, 0x80000, 0);
	cr_expect(!populated_zone(Z(ZONE_DMA32)) && !zone_configured(&node, ZONE_DMA32));
	cr_expect(zone_configured(&node, ZONE_HIGHMEM) && zone_configured(&node, ZONE_MOVABLE));

	/* 1 MiB = 256 reserved frames, all in DMA */
	cr_expect_eq(Z(ZONE_DMA)->managed_pages, 4096 - 256);
	cr_expect_eq(zone_free(ZONE_DMA), 4096 - 256);
	cr_expect_eq(Z(ZONE_NORMAL)->managed_pages, 0x377fe - 4096);
	cr_expect_eq(zone_free(ZONE_HIGHMEM), 0x80000 - 0x377fe);
	cr_expect(PageReserved(pfn_to_page(&node, 255)) && page_count(pfn_to_page(&node, 255)) == 1);
	cr_expect(!PageReserved(pfn_to_page(&node, 256)));

	/* DMA [0x100, 0x1000): order 8 at 0x100, order 9 at 0x200, three order-10 blocks */
	cr_expect_eq(Z(ZONE_DMA)->free_area[8].nr_free, 1);
	cr_expect_eq(Z(ZONE_DMA)->free_area[9].nr_free, 1);
	cr_expect_eq(Z(ZONE_DMA)->free_area[10].nr_free, 3);
	cr_expect_eq(head_pfn(ZONE_DMA, 8, MIGRATE_MOVABLE), 0x100);
	cr_expect_eq(head_pfn(ZONE_DMA, 9, MIGRATE_MOVABLE), 0x200);
	/* boot frees go to the tail in address order: the lowest block is first */
	cr_expect_eq(head_pfn(ZONE_DMA, 10, MIGRATE_MOVABLE), 0x400);
	cr_expect_eq(tail_pfn(ZONE_DMA, 10, MIGRATE_MOVABLE), 0xc00);

	/* Normal [0x1000, 0x377fe): 217 order-10 blocks up to 0x37400, then 512+256+...+2 */
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 217);
	for (unsigned o = 1; o <= 9; o++)
		cr_expect_eq(Z(ZONE_NORMAL)->free_area[o].nr_free, 1, "Normal order %u", o);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[0].nr_free, 0);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 9, MIGRATE_MOVABLE), 0x37400);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 1, MIGRATE_MOVABLE), 0x377fc);

	/*
	 * HighMem [0x377fe, 0x80000): an order-1 block, then 290 order-10 blocks from 0x37800.
	 * The order-1 block lies in the pageblock [0x37400, 0x37800) whose aligned start belongs to
	 * Normal, so HighMem never marked it MOVABLE: it stays UNMOVABLE (Linux, FLATMEM).
	 */
	cr_expect_eq(Z(ZONE_HIGHMEM)->free_area[1].nr_free, 1);
	cr_expect_eq(Z(ZONE_HIGHMEM)->free_area[10].nr_free, 290);
	cr_expect_eq(head_pfn(ZONE_HIGHMEM, 1, MIGRATE_UNMOVABLE), 0x377fe);
	cr_expect_eq(get_pfnblock_migratetype(Z(ZONE_HIGHMEM), 0x377fe), MIGRATE_UNMOVABLE);
	cr_expect_eq(get_pfnblock_migratetype(Z(ZONE_NORMAL), 0x377fd), MIGRATE_MOVABLE);
	cr_expect_eq(get_pfnblock_migratetype(Z(ZONE_HIGHMEM), 0x37800), MIGRATE_MOVABLE);
	buddy_ok();
}

Test(zones, i386_pae_uses_2m_pageblocks_and_small_ram_is_all_lowmem)
{
	struct page_alloc_config cfg = i386_cfg(512 * MiB);
	cfg.pae = true;
	boot(cfg);
	cr_expect_eq(node.pageblock_order, 9);
	expect_zone(ZONE_DMA, 0, 4096);
	expect_zone(ZONE_NORMAL, 4096, 0x20000 - 4096);
	expect_zone(ZONE_HIGHMEM, 0x20000, 0);
	cr_expect(!populated_zone(Z(ZONE_HIGHMEM)));
	buddy_ok();
}

Test(zones, x86_64_4g_has_dma_and_dma32_but_empty_normal)
{
	boot(x86_64_cfg(4 * GiB));
	cr_expect_eq(node.pageblock_order, 9);
	expect_zone(ZONE_DMA, 0, 4096);
	expect_zone(ZONE_DMA32, 4096, 0x100000 - 4096);
	expect_zone(ZONE_NORMAL, 0x100000, 0);
	cr_expect(!populated_zone(Z(ZONE_NORMAL)) && zone_configured(&node, ZONE_NORMAL));
	cr_expect(!zone_configured(&node, ZONE_HIGHMEM));
	expect_zone(ZONE_MOVABLE, 0x100000, 0);
	cr_expect_eq(Z(ZONE_DMA32)->free_area[10].nr_free, (0x100000 - 4096) / 1024);
	buddy_ok();
}

Test(zones, x86_64_6g_dma32_ends_at_4g_and_normal_holds_the_rest)
{
	boot(x86_64_cfg(6 * GiB));
	expect_zone(ZONE_DMA, 0, 4096);
	expect_zone(ZONE_DMA32, 4096, 0x100000 - 4096);
	expect_zone(ZONE_NORMAL, 0x100000, 0x80000);
	expect_zone(ZONE_MOVABLE, 0x180000, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 512);
	cr_expect_eq(zone_free(ZONE_NORMAL), 0x80000);
	buddy_ok();
}

Test(zones, movablecore_carves_top_of_x86_64_dma32)
{
	/* 4 GiB, movablecore=1G: kernelcore = 786432 pages, usable start = DMA32 start (4096) */
	struct page_alloc_config cfg = x86_64_cfg(4 * GiB);
	cfg.movablecore_bytes = 1 * GiB;
	boot(cfg);
	expect_zone(ZONE_DMA32, 4096, 0xc0000 - 4096);
	expect_zone(ZONE_MOVABLE, 0xc0000, 0x40000);
	cr_expect_eq(node.zone_movable_pfn, 0xc0000);
	buddy_ok();
}

Test(zones, movablecore_rounds_up_to_4m_and_cuts_x86_64_normal)
{
	/* 6 GiB, movablecore=1G+4K: rounded to 263168 pages; kernelcore 1309696 = start of Movable */
	struct page_alloc_config cfg = x86_64_cfg(6 * GiB);
	cfg.movablecore_bytes = 1 * GiB + 4096;
	boot(cfg);
	expect_zone(ZONE_DMA32, 4096, 0x100000 - 4096);
	expect_zone(ZONE_NORMAL, 0x100000, 1309696 - 0x100000);
	expect_zone(ZONE_MOVABLE, 1309696, 0x180000 - 1309696);
	buddy_ok();
}

Test(zones, movablecore_on_i386_comes_out_of_highmem)
{
	/* 2 GiB, movablecore=512M: kernelcore 393216 pages; usable start = HighMem start 0x377fe */
	struct page_alloc_config cfg = i386_cfg(2 * GiB);
	cfg.movablecore_bytes = 512 * MiB;
	boot(cfg);
	expect_zone(ZONE_NORMAL, 4096, 0x377fe - 4096);
	expect_zone(ZONE_HIGHMEM, 0x377fe, 393216 - 0x377fe);
	expect_zone(ZONE_MOVABLE, 393216, 0x80000 - 393216);
	buddy_ok();
}

Test(zones, movablecore_as_big_as_ram_gives_no_movable_zone)
{
	struct page_alloc_config cfg = x86_64_cfg(256 * MiB);
	cfg.movablecore_bytes = 256 * MiB;
	boot(cfg);
	cr_expect(!populated_zone(Z(ZONE_MOVABLE)));
	cr_expect_eq(node.zone_movable_pfn, 0);
	buddy_ok();
}

Test(zones, bad_configurations_are_refused_with_a_reason)
{
	struct {
		struct page_alloc_config cfg;
		const char *needle;
	} cases[] = {
		{ { .mem_bytes = 64 * MiB + 100, .x86_64 = true }, "multiple of 4 KiB" },
		{ { .mem_bytes = 512 * 1024, .x86_64 = true }, "too small" },
		{ { .mem_bytes = 8 * GiB }, "too big" },
		{ { .mem_bytes = 128 * GiB, .pae = true }, "too big" },
		{ { .mem_bytes = 64 * MiB, .x86_64 = true, .reserved_bytes = 64 * MiB }, "reserved" },
		{ { .mem_bytes = 64 * MiB, .x86_64 = true, .reserved_bytes = 4097 }, "reserved" },
		{ { .mem_bytes = 64 * MiB, .lowmem_bytes = 0x377fe001 }, "lowmem" },
		{ { .mem_bytes = 64 * MiB, .lowmem_bytes = 8 * MiB }, "lowmem" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct pglist_data p;
		cr_expect_eq(pgdat_init(&p, &cases[i].cfg, err, sizeof(err)), -1, "case %zu accepted", i);
		cr_expect_not_null(strstr(err, cases[i].needle), "case %zu: message \"%s\" lacks \"%s\"",
				   i, err, cases[i].needle);
	}
	cr_expect_eq(pgdat_init(NULL, NULL, NULL, 0), -1);
}

Test(zones, pfn_and_page_convert_both_ways_and_name_the_zone)
{
	boot(x86_64_cfg(6 * GiB));
	struct page *p = pfn_to_page(&node, 0x123456);
	cr_expect_eq(page_to_pfn(&node, p), 0x123456);
	cr_expect_eq(page_zone(&node, p), Z(ZONE_NORMAL));
	cr_expect_eq(page_zonenum(&node, pfn_to_page(&node, 4095)), ZONE_DMA);
	cr_expect_eq(page_zonenum(&node, pfn_to_page(&node, 4096)), ZONE_DMA32);
	cr_expect_eq(page_zonenum(&node, pfn_to_page(&node, 0xfffff)), ZONE_DMA32);
	cr_expect(pfn_valid(&node, 0x17ffff) && !pfn_valid(&node, 0x180000));
	cr_expect_eq(sizeof(struct page), sizeof(void *) == 8 ? 32 : 24);
	buddy_ok();
}

Test(zones, buddyinfo_prints_linux_format)
{
	struct page_alloc_config cfg = i386_cfg(2 * GiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);
	char *s = buddyinfo_string();
	const char *expected =
		"Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
		"Node 0, zone   Normal      0      1      1      1      1      1      1      1      1      1    217 \n"
		"Node 0, zone  HighMem      0      1      0      0      0      0      0      0      0      0    290 \n";
	cr_expect_str_eq(s, expected);
	free(s);
	buddy_ok();
}

/*
 * /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_show): i386 2 GiB, 1 MiB reserved, 4 MiB
 * pageblocks. Boot marks every pageblock-aligned pfn MOVABLE; HighMem starts at pfn 0x377fe,
 * inside pageblock 221, whose HighMem part (2 pages: the order-1 block) stays UNMOVABLE. The
 * block table steps through each zone from its start: Normal 223230 pages -> 218 steps,
 * HighMem 296962 -> 291 (the first in the partial pageblock).
 */
Test(zones, pagetypeinfo_prints_linux_format)
{
	struct page_alloc_config cfg = i386_cfg(2 * GiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	pagetypeinfo_show(&node, f);
	fclose(f);
	const char *expected =
		"Page block order: 10\n"
		"Pages per block:  1024\n"
		"\n"
		"Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n"
		"Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      1      1      3 \n"
		"Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone      DMA, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone   Normal, type      Movable      0      1      1      1      1      1      1      1      1      1    217 \n"
		"Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone  HighMem, type    Unmovable      0      1      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone  HighMem, type      Movable      0      0      0      0      0      0      0      0      0      0    290 \n"
		"Node    0, zone  HighMem, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
		"Node    0, zone  HighMem, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
		"\n"
		"Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic \n"
		"Node 0, zone      DMA            0            4            0            0 \n"
		"Node 0, zone   Normal            0          218            0            0 \n"
		"Node 0, zone  HighMem            1          290            0            0 \n";
	cr_expect_str_eq(buf, expected);
	free(buf);
	buddy_ok();
}

Test(zones, buddyinfo_x86_64_skips_unpopulated_zones)
{
	struct page_alloc_config cfg = x86_64_cfg(4 * GiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);
	char *s = buddyinfo_string();
	const char *expected =
		"Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
		"Node 0, zone    DMA32      0      0      0      0      0      0      0      0      0      0   1020 \n";
	cr_expect_str_eq(s, expected);
	free(s);
	buddy_ok();
}

/* ---- GFP -------------------------------------------------------------------------------- */

Test(gfp, flag_values_match_linux)
{
	cr_expect_eq(GFP_KERNEL, 0xcc0);
	cr_expect_eq(GFP_ATOMIC, 0x820);
	cr_expect_eq(GFP_USER, 0x100cc0);
	cr_expect_eq(GFP_HIGHUSER, 0x100cc2);
	cr_expect_eq(GFP_HIGHUSER_MOVABLE, 0x100cca);
	cr_expect_eq(GFP_DMA, 0x1);
	cr_expect_eq(GFP_DMA32, 0x4);
	cr_expect_eq(__GFP_ZERO, 0x100);
	cr_expect_eq(__GFP_NOWARN, 0x2000);
	cr_expect_eq(__GFP_COMP, 0x40000);
	cr_expect_eq(__GFP_ACCOUNT, 0x400000);
	cr_expect_eq(GFP_PGTABLE_USER, GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT);
	cr_expect_eq(__GFP_BITS_SHIFT, 24);
}

Test(gfp, gfp_zone_follows_gfp_zone_table_per_arch)
{
	/* i386: no DMA32 (collapses to Normal) */
	cr_expect_eq(gfp_zone(GFP_KERNEL, false), ZONE_NORMAL);
	cr_expect_eq(gfp_zone(GFP_DMA, false), ZONE_DMA);
	cr_expect_eq(gfp_zone(GFP_DMA32, false), ZONE_NORMAL);
	cr_expect_eq(gfp_zone(GFP_HIGHUSER, false), ZONE_HIGHMEM);
	cr_expect_eq(gfp_zone(GFP_HIGHUSER_MOVABLE, false), ZONE_MOVABLE);
	cr_expect_eq(gfp_zone(GFP_KERNEL | __GFP_MOVABLE, false), ZONE_NORMAL);
	cr_expect_eq(gfp_zone(__GFP_MOVABLE | __GFP_DMA, false), ZONE_DMA);
	/* x86-64: no HighMem (collapses to Normal) */
	cr_expect_eq(gfp_zone(GFP_KERNEL, true), ZONE_NORMAL);
	cr_expect_eq(gfp_zone(GFP_DMA32, true), ZONE_DMA32);
	cr_expect_eq(gfp_zone(GFP_HIGHUSER, true), ZONE_NORMAL);
	cr_expect_eq(gfp_zone(GFP_HIGHUSER_MOVABLE, true), ZONE_MOVABLE);
	cr_expect_eq(gfp_zone(__GFP_MOVABLE | __GFP_DMA32, true), ZONE_DMA32);
}

Test(gfp, gfp_migratetype_groups_by_mobility)
{
	cr_expect_eq(gfp_migratetype(GFP_KERNEL), MIGRATE_UNMOVABLE);
	cr_expect_eq(gfp_migratetype(GFP_HIGHUSER_MOVABLE), MIGRATE_MOVABLE);
	cr_expect_eq(gfp_migratetype(GFP_KERNEL | __GFP_RECLAIMABLE), MIGRATE_RECLAIMABLE);
	cr_expect_eq(gfp_migratetype(GFP_PGTABLE_USER), MIGRATE_UNMOVABLE);
}

Test(gfp, bad_zone_combination_asserts, .signal = SIGABRT)
{
	(void)gfp_zone(__GFP_DMA | __GFP_HIGHMEM, false);
}

/* ---- zonelists -------------------------------------------------------------------------- */

Test(zonelist, i386_fallback_orders)
{
	struct page_alloc_config cfg = i386_cfg(2 * GiB);
	cfg.movablecore_bytes = 512 * MiB;
	boot(cfg);
	expect_zonelist(GFP_KERNEL, "GFP_KERNEL", (int[]){ ZONE_NORMAL, ZONE_DMA, -1 });
	expect_zonelist(GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE",
			(int[]){ ZONE_MOVABLE, ZONE_HIGHMEM, ZONE_NORMAL, ZONE_DMA, -1 });
	expect_zonelist(GFP_HIGHUSER, "GFP_HIGHUSER",
			(int[]){ ZONE_HIGHMEM, ZONE_NORMAL, ZONE_DMA, -1 });
	expect_zonelist(GFP_DMA, "GFP_DMA", (int[]){ ZONE_DMA, -1 });
	expect_zonelist(GFP_DMA32, "GFP_DMA32 (no DMA32 on i386)", (int[]){ ZONE_NORMAL, ZONE_DMA, -1 });
	buddy_ok();
}

Test(zonelist, x86_64_fallback_orders)
{
	struct page_alloc_config cfg = x86_64_cfg(6 * GiB);
	cfg.movablecore_bytes = 1 * GiB;
	boot(cfg);
	expect_zonelist(GFP_KERNEL, "GFP_KERNEL", (int[]){ ZONE_NORMAL, ZONE_DMA32, ZONE_DMA, -1 });
	expect_zonelist(GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE",
			(int[]){ ZONE_MOVABLE, ZONE_NORMAL, ZONE_DMA32, ZONE_DMA, -1 });
	expect_zonelist(GFP_HIGHUSER, "GFP_HIGHUSER", (int[]){ ZONE_NORMAL, ZONE_DMA32, ZONE_DMA, -1 });
	expect_zonelist(GFP_DMA32, "GFP_DMA32", (int[]){ ZONE_DMA32, ZONE_DMA, -1 });
	expect_zonelist(GFP_DMA, "GFP_DMA", (int[]){ ZONE_DMA, -1 });
	buddy_ok();
}

Test(zonelist, x86_64_small_ram_starts_in_dma32)
{
	boot(x86_64_cfg(4 * GiB));
	expect_zonelist(GFP_KERNEL, "GFP_KERNEL", (int[]){ ZONE_DMA32, ZONE_DMA, -1 });
	expect_zonelist(GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE", (int[]){ ZONE_DMA32, ZONE_DMA, -1 });
	buddy_ok();
}

/* ---- buddy: split and merge --------------------------------------------------------------- */

/* i386, 64 MiB: DMA [0, 4096), Normal [4096, 16384) = 12 order-10 blocks, 4 MiB pageblocks. */
static void boot_i386_64m(void) { boot(i386_cfg(64 * MiB)); }

Test(buddy, order0_from_fresh_zone_splits_lowest_4m_block)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_HIGHUSER_MOVABLE, 0);

	cr_expect_eq(pfn_of(p), 4096, "lowest pfn of the first order-10 block of Normal");
	cr_expect_eq(page_count(p), 1);
	cr_expect(!PageBuddy(p));
	for (unsigned o = 0; o <= 9; o++) {
		cr_expect_eq(Z(ZONE_NORMAL)->free_area[o].nr_free, 1, "one free block at order %u", o);
		cr_expect_eq(head_pfn(ZONE_NORMAL, o, MIGRATE_MOVABLE), 4096 + (1u << o),
			     "order-%u block is the upper half at 4096 + 2^%u", o, o);
	}
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 11);
	cr_expect_eq(zone_free(ZONE_NORMAL), 12 * 1024 - 1);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.splits, 10);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.alloc[0], 1);
	buddy_ok();

	__free_pages(&node, p, 0);
	for (unsigned o = 0; o <= 9; o++)
		cr_expect_eq(Z(ZONE_NORMAL)->free_area[o].nr_free, 0, "order %u merged away", o);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 10, MIGRATE_MOVABLE), 4096, "merged block at the head");
	cr_expect_eq(Z(ZONE_NORMAL)->stats.merges, 10);
	cr_expect_eq(zone_free(ZONE_NORMAL), 12 * 1024);
	buddy_ok();
}

Test(buddy, higher_order_allocation_returns_aligned_lowest_part)
{
	boot_i386_64m();
	struct page *a = must_alloc(GFP_HIGHUSER_MOVABLE, 3);
	cr_expect_eq(pfn_of(a), 4096);
	struct page *b = must_alloc(GFP_HIGHUSER_MOVABLE, 3);
	cr_expect_eq(pfn_of(b), 4104, "the order-3 upper half left by the first split");
	struct page *c = must_alloc(GFP_HIGHUSER_MOVABLE, 2);
	cr_expect_eq(pfn_of(c), 4112, "split of the order-4 block at 4112");
	cr_expect_eq(head_pfn(ZONE_NORMAL, 2, MIGRATE_MOVABLE), 4116);
	buddy_ok();
	__free_pages(&node, b, 3);
	__free_pages(&node, a, 3);
	__free_pages(&node, c, 2);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	buddy_ok();
}

Test(buddy, free_next_to_allocated_buddy_does_not_merge)
{
	boot_i386_64m();
	struct page *a = must_alloc(GFP_HIGHUSER_MOVABLE, 0);	/* 4096 */
	struct page *b = must_alloc(GFP_HIGHUSER_MOVABLE, 0);	/* 4097, from the order-0 list */
	cr_expect_eq(pfn_of(b), 4097);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[0].nr_free, 0);

	__free_pages(&node, a, 0);		/* buddy 4097 is allocated: stays order 0 */
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[0].nr_free, 1);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 4096);
	cr_expect(PageBuddy(a) && buddy_order(a) == 0);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.merges, 0);
	buddy_ok();

	__free_pages(&node, b, 0);		/* now everything merges back */
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[0].nr_free, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.merges, 10);
	buddy_ok();
}

Test(buddy, free_goes_to_tail_when_buddy_merge_likely)
{
	boot_i386_64m();
	const gfp_t g = GFP_HIGHUSER_MOVABLE;
	struct page *a = must_alloc(g, 0), *b = must_alloc(g, 0);	/* 4096, 4097 */
	struct page *c = must_alloc(g, 0), *d = must_alloc(g, 0);	/* 4098, 4099 */
	struct page *e = must_alloc(g, 0);				/* 4100 (splits 4100/2) */
	cr_expect_eq(pfn_of(c), 4098);
	cr_expect_eq(pfn_of(d), 4099);
	cr_expect_eq(pfn_of(e), 4100);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 4101);

	__free_pages(&node, d, 0);	/* no merge, higher buddy 4096 not free: head */
	__free_pages(&node, c, 0);	/* merges with 4099 into order 1 at 4098 */
	cr_expect_eq(head_pfn(ZONE_NORMAL, 1, MIGRATE_MOVABLE), 4098);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 4101);

	/* a = 4096: its buddy 4097 is allocated, but the order-1 buddy of the pair (4098) is free */
	__free_pages(&node, a, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[0].nr_free, 2);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 4101);
	cr_expect_eq(tail_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 4096, "merge likely: tail");
	buddy_ok();

	__free_pages(&node, b, 0);
	__free_pages(&node, e, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	buddy_ok();
}

Test(buddy, compound_page_keeps_its_order_and_frees_on_last_reference)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_KERNEL | __GFP_COMP, 2);
	cr_expect(PageHead(p));
	cr_expect_eq(compound_order(p), 2);
	get_page(p);
	__free_pages(&node, p, 2);		/* drops one of two references */
	cr_expect_eq(page_count(p), 1);
	cr_expect(PageHead(p) && !PageBuddy(p));
	buddy_ok();
	__free_pages(&node, p, 2);
	cr_expect(PageBuddy(p) && !PageHead(p));
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	buddy_ok();
}

Test(buddy, non_compound_page_with_extra_reference_frees_its_tail_now)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_HIGHUSER_MOVABLE, 2);	/* 4096..4099 */
	get_page(p);
	__free_pages(&node, p, 2);	/* 4098 (order 1) and 4097 (order 0) go back, 4096 stays */
	cr_expect_eq(page_count(p), 1);
	cr_expect(!PageBuddy(p));
	cr_expect(PageBuddy(p + 1) && buddy_order(p + 1) == 0);
	cr_expect(PageBuddy(p + 2) && buddy_order(p + 2) == 1);
	buddy_ok();
	__free_pages(&node, p, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	buddy_ok();
}

Test(buddy, gfp_zero_clears_the_frames_through_phys)
{
	boot_i386_64m();
	uint8_t *ram = malloc(64 * MiB);
	cr_assert_not_null(ram);
	memset(ram, 0xaa, 64 * MiB);
	node.phys = ram;

	struct page *p = must_alloc(GFP_KERNEL | __GFP_ZERO, 1);
	uint64_t off = pfn_of(p) << PAGE_SHIFT;
	for (uint64_t i = 0; i < 2 * PAGE_SIZE; i++)
		if (ram[off + i] != 0)
			cr_assert_fail("byte %#lx of the block is %#x", (unsigned long)i, ram[off + i]);
	cr_expect_eq(ram[off + 2 * PAGE_SIZE], 0xaa, "the next frame is untouched");
	struct page *q = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(ram[pfn_of(q) << PAGE_SHIFT], 0xaa, "no __GFP_ZERO: not cleared");
	__free_pages(&node, p, 1);
	__free_pages(&node, q, 0);
	node.phys = NULL;
	free(ram);
	buddy_ok();
}

/* ---- buddy: migratetype fallback ------------------------------------------------------------ */

Test(buddy, unmovable_request_claims_a_movable_pageblock)
{
	boot_i386_64m();
	cr_expect_eq(block_mt(4096), MIGRATE_MOVABLE);
	struct page *p = must_alloc(GFP_KERNEL, 0);

	cr_expect_eq(pfn_of(p), 4096);
	cr_expect_eq(block_mt(4096), MIGRATE_UNMOVABLE, "the whole 4 MiB pageblock was claimed");
	cr_expect_eq(block_mt(5120), MIGRATE_MOVABLE, "the next pageblock is untouched");
	for (unsigned o = 0; o <= 9; o++)
		cr_expect_eq(head_pfn(ZONE_NORMAL, o, MIGRATE_UNMOVABLE), 4096 + (1u << o),
			     "the split remainder is on the UNMOVABLE lists (order %u)", o);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_claims, 1);

	/* the next unmovable page comes from the claimed block without a fallback */
	struct page *q = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(q), 4097);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_claims, 1);
	__free_pages(&node, p, 0);
	__free_pages(&node, q, 0);
	cr_expect_eq(block_mt(4096), MIGRATE_UNMOVABLE, "a claimed pageblock keeps its new type");
	cr_expect_eq(head_pfn(ZONE_NORMAL, 10, MIGRATE_UNMOVABLE), 4096);
	buddy_ok();
}

Test(buddy, x86_64_claims_two_2m_pageblocks_of_a_4m_block)
{
	boot(x86_64_cfg(64 * MiB));	/* DMA32 [4096, 16384), 2 MiB pageblocks */
	struct page *p = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(p), 4096);
	cr_expect_eq(block_mt(4096), MIGRATE_UNMOVABLE);
	cr_expect_eq(block_mt(4096 + 512), MIGRATE_UNMOVABLE);
	cr_expect_eq(block_mt(4096 + 1024), MIGRATE_MOVABLE);
	__free_pages(&node, p, 0);
	buddy_ok();
}

Test(buddy, claim_prefers_largest_fallback_block_then_fallback_order)
{
	boot_i386_64m();
	/* a reclaimable request claims the first pageblock for RECLAIMABLE */
	struct page *r = must_alloc(GFP_KERNEL | __GFP_RECLAIMABLE, 0);
	cr_expect_eq(pfn_of(r), 4096);
	cr_expect_eq(block_mt(4096), MIGRATE_RECLAIMABLE);

	/* unmovable: the scan starts at order 10, where only MOVABLE blocks are: claims 5120 */
	struct page *u = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(u), 5120);
	cr_expect_eq(block_mt(5120), MIGRATE_UNMOVABLE);
	__free_pages(&node, u, 0);	/* 5120 merges back into one UNMOVABLE order-10 block */

	/* take every order-10 block, and split one MOVABLE block down to a free order-9 half */
	struct page *big[16];
	int nbig = 0;
	struct page *m9 = must_alloc(GFP_HIGHUSER_MOVABLE, 9);	/* 6144, leaves 6656 order 9 */
	cr_expect_eq(pfn_of(m9), 6144);
	while (Z(ZONE_NORMAL)->free_area[10].nr_free)
		big[nbig++] = must_alloc(GFP_KERNEL, 10);
	cr_expect_eq(nbig, 10);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 9, MIGRATE_RECLAIMABLE), 4608);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 9, MIGRATE_MOVABLE), 6656);

	/*
	 * Now order 9 holds a RECLAIMABLE block (4608) and a MOVABLE one (6656): fallbacks[] tries
	 * RECLAIMABLE first. The block is smaller than a pageblock; 1023 of its 1024 pages are free,
	 * so the pageblock converts to UNMOVABLE and the request gets 4097.
	 */
	struct page *u2 = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(u2), 4097);
	cr_expect_eq(block_mt(4096), MIGRATE_UNMOVABLE);
	cr_expect_eq(block_mt(6144), MIGRATE_MOVABLE);
	buddy_ok();

	__free_pages(&node, u2, 0);
	__free_pages(&node, r, 0);
	__free_pages(&node, m9, 9);
	for (int i = 0; i < nbig; i++)
		__free_pages(&node, big[i], 10);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 12);
	buddy_ok();
}

Test(buddy, movable_request_steals_small_fallback_block_without_claiming)
{
	boot(i386_cfg(24 * MiB));	/* Normal = two pageblocks: P0 [4096, 5120), P1 [5120, 6144) */
	struct page *u = must_alloc(GFP_KERNEL, 0);		/* claims P0: UNMOVABLE */
	struct page *m = must_alloc(GFP_HIGHUSER_MOVABLE, 10);	/* all of P1 */
	cr_expect_eq(pfn_of(u), 4096);
	cr_expect_eq(pfn_of(m), 5120);
	struct page *us[5];
	for (unsigned o = 9, i = 0; o >= 5; o--, i++)		/* leave orders 0..4 free in P0 */
		us[i] = must_alloc(GFP_KERNEL, o);

	/*
	 * A movable order-0 request: no MOVABLE block in Normal; the largest fallback block is
	 * order 4 < pageblock_order / 2 = 5, so can_steal_fallback refuses a claim and
	 * __rmqueue_steal takes the smallest fallback block (order 0 at 4097).
	 */
	struct page *s = must_alloc(GFP_HIGHUSER_MOVABLE, 0);
	cr_expect_eq(pfn_of(s), 4097);
	cr_expect_eq(block_mt(4096), MIGRATE_UNMOVABLE, "the pageblock keeps its type");
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_steals, 1);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_claims, 1, "only the first GFP_KERNEL claimed");
	buddy_ok();

	__free_pages(&node, s, 0);
	for (unsigned o = 9, i = 0; o >= 5; o--, i++)
		__free_pages(&node, us[i], o);
	__free_pages(&node, u, 0);
	__free_pages(&node, m, 10);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 2);
	buddy_ok();
}

Test(buddy, unmovable_claim_refused_when_pageblock_is_mostly_lru_pages)
{
	boot(i386_cfg(24 * MiB));
	struct page *m = must_alloc(GFP_HIGHUSER_MOVABLE, 10);	/* P0 */
	cr_expect_eq(pfn_of(m), 4096);
	static struct page *lru[1000];
	for (int i = 0; i < 1000; i++) {			/* 1000 LRU pages of P1 */
		lru[i] = must_alloc(GFP_HIGHUSER_MOVABLE, 0);
		SetPageLRU(lru[i]);
	}
	cr_expect_eq(pfn_of(lru[999]), 6119);

	/*
	 * Unmovable order 0: P1 has 24 free pages (order 3 at 6120, order 4 at 6128) and 1000
	 * movable ones, so free + alike = 24 < 512: no claim at order 4 or 3; steal the order-3
	 * block instead and split it, leaving P1 MOVABLE.
	 */
	struct page *u = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(u), 6120);
	cr_expect_eq(block_mt(5120), MIGRATE_MOVABLE);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_claims, 0);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_steals, 1);
	cr_expect_eq(head_pfn(ZONE_NORMAL, 0, MIGRATE_MOVABLE), 6121);
	buddy_ok();

	__free_pages(&node, u, 0);
	for (int i = 0; i < 1000; i++) {
		ClearPageLRU(lru[i]);
		__free_pages(&node, lru[i], 0);
	}
	__free_pages(&node, m, 10);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 2);
	buddy_ok();
}

Test(buddy, x86_64_nofragment_prefers_dma32_over_mixing_normal_pageblocks)
{
	boot(x86_64_cfg(6 * GiB));
	/* Normal: one UNMOVABLE 4 MiB block whose order-9 half is taken, the rest all allocated */
	struct page *u = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(u), 0x100000);
	struct page *u9 = must_alloc(GFP_KERNEL, 9);
	cr_expect_eq(pfn_of(u9), 0x100200);
	static struct page *big[511];
	for (int i = 0; i < 511; i++) {
		big[i] = must_alloc(GFP_HIGHUSER_MOVABLE, 10);
		cr_assert_geq(pfn_of(big[i]), 0x100000);
	}
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 0);

	/*
	 * Movable order 0, preferred zone Normal: the first pass runs with ALLOC_NOFRAGMENT, which
	 * allows only whole-pageblock claims; Normal's free pages are UNMOVABLE blocks of order <= 8,
	 * so Normal is skipped and DMA32 serves from its own MOVABLE list.
	 */
	struct page *m = must_alloc(GFP_HIGHUSER_MOVABLE, 0);
	cr_expect_eq(pfn_of(m), 4096);
	cr_expect_eq(Z(ZONE_NORMAL)->stats.fallback_steals, 0);

	/* DMA32 has no free UNMOVABLE or RECLAIMABLE: an unmovable request still finds Normal's */
	struct page *u1 = must_alloc(GFP_KERNEL, 0);
	cr_expect_eq(pfn_of(u1), 0x100001);
	buddy_ok();

	__free_pages(&node, m, 0);
	__free_pages(&node, u1, 0);
	__free_pages(&node, u, 0);
	__free_pages(&node, u9, 9);
	for (int i = 0; i < 511; i++)
		__free_pages(&node, big[i], 10);
	cr_expect_eq(Z(ZONE_NORMAL)->free_area[10].nr_free, 512);
	buddy_ok();
}

/* ---- buddy: zones and exhaustion ------------------------------------------------------------ */

Test(buddy, gfp_dma_comes_only_from_dma)
{
	boot_i386_64m();
	unsigned long normal_free = zone_free(ZONE_NORMAL);
	static struct page *pages[4096];
	int n = 0;
	struct page *p;
	while ((p = alloc_pages(&node, GFP_DMA, 0)) != NULL) {
		cr_assert_lt(pfn_of(p), 4096, "GFP_DMA page at pfn %#lx", (unsigned long)pfn_of(p));
		cr_assert_lt(n, 4096);
		pages[n++] = p;
	}
	cr_expect_eq(n, 4096, "every DMA page, then NULL");
	cr_expect_eq(zone_free(ZONE_DMA), 0);
	cr_expect_eq(zone_free(ZONE_NORMAL), normal_free, "Normal untouched");
	cr_expect_eq(node.stats.alloc_fail[0], 1);
	buddy_ok();
	for (int i = 0; i < n; i++)
		__free_pages(&node, pages[i], 0);
	cr_expect_eq(Z(ZONE_DMA)->free_area[10].nr_free, 4);
	buddy_ok();
}

Test(buddy, i386_gfp_kernel_never_returns_highmem)
{
	struct page_alloc_config cfg = i386_cfg(64 * MiB);
	cfg.lowmem_bytes = 32 * MiB;		/* Normal [4096, 8192), HighMem [8192, 16384) */
	boot(cfg);
	unsigned long high_free = zone_free(ZONE_HIGHMEM);

	struct page *h = must_alloc(GFP_HIGHUSER, 0);
	cr_expect_eq(pfn_of(h), 8192, "GFP_HIGHUSER prefers HighMem");

	static struct page *pages[8192];
	int n = 0;
	struct page *p;
	while ((p = alloc_pages(&node, GFP_KERNEL, 0)) != NULL) {
		cr_assert_lt(pfn_of(p), 8192, "GFP_KERNEL page in HighMem at %#lx",
			     (unsigned long)pfn_of(p));
		cr_assert_lt(n, 8192);
		pages[n++] = p;
	}
	cr_expect_eq(n, 8192, "all of DMA and Normal, in zonelist order");
	cr_expect_eq(pfn_of(pages[0]), 4096, "Normal first");
	cr_expect_lt(pfn_of(pages[n - 1]), 4096, "DMA last");
	cr_expect_eq(zone_free(ZONE_HIGHMEM), high_free - 1);
	buddy_ok();
	for (int i = 0; i < n; i++)
		__free_pages(&node, pages[i], 0);
	__free_pages(&node, h, 0);
	buddy_ok();
}

Test(buddy, exhaustion_returns_null_and_freeing_restores_everything)
{
	struct page_alloc_config cfg = x86_64_cfg(64 * MiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);
	unsigned long before[MAX_NR_ZONES][NR_PAGE_ORDERS];
	snapshot_nr_free(before);
	unsigned long managed = Z(ZONE_DMA)->managed_pages + Z(ZONE_DMA32)->managed_pages;

	static struct page *pages[16384];
	static unsigned orders[16384];
	int n = 0;
	unsigned long got = 0;
	/* big blocks first, then smaller ones, until nothing at all is left */
	for (int order = MAX_PAGE_ORDER; order >= 0; order--) {
		struct page *p;
		while ((p = alloc_pages(&node, GFP_HIGHUSER_MOVABLE, (unsigned)order)) != NULL) {
			cr_assert_lt(n, 16384);
			cr_assert_eq(pfn_of(p) & ((1u << order) - 1), 0, "aligned");
			pages[n] = p;
			orders[n++] = (unsigned)order;
			got += 1UL << order;
		}
	}
	cr_expect_eq(got, managed, "every managed page was handed out");
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, 0));
	cr_expect_null(alloc_pages(&node, GFP_DMA, 0));
	cr_expect_eq(zone_free(ZONE_DMA) + zone_free(ZONE_DMA32), 0);
	cr_expect_null(alloc_pages(&node, GFP_KERNEL, MAX_PAGE_ORDER + 1), "order 11 is refused");
	buddy_ok();

	for (int i = n - 1; i >= 0; i -= 2)	/* odd-numbered ones first, then the rest */
		__free_pages(&node, pages[i], orders[i]);
	buddy_ok();
	for (int i = n - 2; i >= 0; i -= 2)
		__free_pages(&node, pages[i], orders[i]);
	unsigned long after[MAX_NR_ZONES][NR_PAGE_ORDERS];
	snapshot_nr_free(after);
	cr_expect(memcmp(after, before, sizeof(before)) == 0, "block counts back to the boot state");
	cr_expect_eq(zone_free(ZONE_DMA) + zone_free(ZONE_DMA32), managed);
	buddy_ok();
}

/* ---- buddy: self-checks and bad frees ------------------------------------------------------- */

Test(buddy, buddy_check_catches_corruption)
{
	boot_i386_64m();
	struct zone *n = Z(ZONE_NORMAL);
	struct page *p = must_alloc(GFP_HIGHUSER_MOVABLE, 0);	/* 4096; order k free at 4096+2^k */

	n->free_area[3].nr_free++;
	cr_expect_not_null(buddy_check(&node), "nr_free off by one");
	n->free_area[3].nr_free--;

	n->vm_stat[NR_FREE_PAGES] -= 1;
	cr_expect_not_null(buddy_check(&node), "NR_FREE_PAGES off by one");
	n->vm_stat[NR_FREE_PAGES] += 1;

	list_add(&p->buddy_list, &n->free_area[0].free_list[MIGRATE_MOVABLE]);	/* allocated page listed */
	n->free_area[0].nr_free++;
	const char *why = buddy_check(&node);
	cr_expect_not_null(why);
	if (why)
		cr_expect_not_null(strstr(why, "not PageBuddy"), "%s", why);
	list_del(&p->buddy_list);
	n->free_area[0].nr_free--;

	struct page *q = pfn_to_page(&node, 4097);		/* the free order-0 block: retype it */
	n->pageblock_flags[0] = MIGRATE_UNMOVABLE;
	cr_expect_not_null(buddy_check(&node), "block on a list of the wrong type");
	n->pageblock_flags[0] = MIGRATE_MOVABLE;

	q->private = 1;						/* wrong order recorded */
	cr_expect_not_null(buddy_check(&node), "order mismatch");
	q->private = 0;

	struct page *inside = pfn_to_page(&node, 4100 + 1);	/* inside the order-2 block at 4100 */
	inside->page_type = (uint32_t)PGTY_buddy << 24;
	cr_expect_not_null(buddy_check(&node), "PageBuddy inside a free block");
	inside->page_type = 0;

	cr_expect_null(buddy_check(&node), "restored");
	__free_pages(&node, p, 0);
	buddy_ok();
}

Test(buddy, double_free_aborts, .signal = SIGABRT)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_KERNEL, 0);
	__free_pages(&node, p, 0);
	__free_pages(&node, p, 0);
}

Test(buddy, freeing_a_mapped_page_aborts, .signal = SIGABRT)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_HIGHUSER_MOVABLE, 0);
	p->_mapcount = 1;
	__free_pages(&node, p, 0);
}

Test(buddy, freeing_a_reserved_page_aborts, .signal = SIGABRT)
{
	struct page_alloc_config cfg = i386_cfg(64 * MiB);
	cfg.reserved_bytes = 1 * MiB;
	boot(cfg);
	__free_pages(&node, pfn_to_page(&node, 0), 0);
}

Test(buddy, freeing_with_wrong_compound_order_aborts, .signal = SIGABRT)
{
	boot_i386_64m();
	struct page *p = must_alloc(GFP_KERNEL | __GFP_COMP, 3);
	__free_pages(&node, p, 2);
}

/* ---- buddy: randomized stress --------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)	/* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

struct live { struct page *page; unsigned order; };

static void stress(struct page_alloc_config cfg, uint64_t seed, int steps)
{
	static const gfp_t gfps[] = {
		GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_KERNEL | __GFP_RECLAIMABLE, GFP_USER,
		GFP_HIGHUSER, GFP_DMA, GFP_DMA32, GFP_ATOMIC, GFP_KERNEL | __GFP_COMP,
		GFP_HIGHUSER_MOVABLE | __GFP_COMP, GFP_PGTABLE_USER,
	};
	boot(cfg);
	rng_state = seed;
	unsigned long before[MAX_NR_ZONES][NR_PAGE_ORDERS];
	snapshot_nr_free(before);
	unsigned long free_before = 0;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		free_before += zone_free((enum zone_type)zt);

	size_t cap = 1 << 16, n = 0;
	struct live *live = calloc(cap, sizeof(*live));
	uint8_t *owned = calloc(node.node_spanned_pages, 1);
	cr_assert(live && owned);
	unsigned long fails = 0;

	for (int step = 0; step < steps; step++) {
		bool do_alloc = n == 0 || (rnd() % 100) < 55;
		if (do_alloc && n < cap) {
			gfp_t gfp = gfps[rnd() % (sizeof(gfps) / sizeof(gfps[0]))];
			/* mostly small orders, sometimes big ones */
			unsigned order = (rnd() % 4 == 0) ? (unsigned)(rnd() % NR_PAGE_ORDERS)
							   : (unsigned)(rnd() % 3);
			struct page *p = alloc_pages(&node, gfp, order);
			if (!p) {
				fails++;
			} else {
				uint64_t pfn = pfn_of(p);
				cr_assert_eq(pfn & ((1u << order) - 1), 0, "step %d: unaligned block", step);
				cr_assert_leq(pfn_zonenum(&node, pfn), gfp_zone(gfp, node.x86_64),
					      "step %d: pfn %#lx in zone %s above gfp_zone",
					      step, (unsigned long)pfn, zone_names[pfn_zonenum(&node, pfn)]);
				for (uint64_t i = 0; i < (1u << order); i++) {
					cr_assert(!owned[pfn + i], "step %d: pfn %#lx handed out twice", step,
						  (unsigned long)(pfn + i));
					owned[pfn + i] = 1;
				}
				live[n++] = (struct live){ p, order };
			}
		} else if (n) {
			size_t i = rnd() % n;
			uint64_t pfn = pfn_of(live[i].page);
			for (uint64_t k = 0; k < (1u << live[i].order); k++)
				owned[pfn + k] = 0;
			__free_pages(&node, live[i].page, live[i].order);
			live[i] = live[--n];
		}
		const char *why = buddy_check(&node);
		cr_assert_null(why, "step %d: %s", step, why);
	}
	cr_expect_gt(fails, 0, "the run should reach memory exhaustion at least once");

	while (n) {
		size_t i = rnd() % n;
		__free_pages(&node, live[i].page, live[i].order);
		live[i] = live[--n];
	}
	unsigned long after[MAX_NR_ZONES][NR_PAGE_ORDERS];
	snapshot_nr_free(after);
	cr_expect(memcmp(after, before, sizeof(before)) == 0, "all memory merged back to the boot blocks");
	unsigned long free_after = 0;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		free_after += zone_free((enum zone_type)zt);
	cr_expect_eq(free_after, free_before);
	free(live);
	free(owned);
	buddy_ok();
}

Test(buddy, stress_i386_pae_with_highmem)
{
	struct page_alloc_config cfg = i386_cfg(40 * MiB);
	cfg.pae = true;
	cfg.lowmem_bytes = 24 * MiB;	/* DMA, Normal [4096, 6144), HighMem [6144, 10240) */
	cfg.reserved_bytes = 600 * 1024;
	stress(cfg, 0x1234567887654321ULL, 6000);
}

Test(buddy, stress_i386_4m_pageblocks_with_movable)
{
	struct page_alloc_config cfg = i386_cfg(48 * MiB);
	cfg.lowmem_bytes = 0x1ffe000;	/* unaligned lowmem end, as with 0x377fe000 */
	cfg.movablecore_bytes = 8 * MiB;
	stress(cfg, 0xdeadbeefcafef00dULL, 6000);
}

Test(buddy, stress_x86_64_with_movable)
{
	struct page_alloc_config cfg = x86_64_cfg(48 * MiB);
	cfg.movablecore_bytes = 12 * MiB;
	cfg.reserved_bytes = 1 * MiB;
	stress(cfg, 42, 6000);
}
