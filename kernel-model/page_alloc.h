/*
 * page_alloc.h — struct page, nodes and zones, and the buddy page allocator of the guest kernel
 * model. Models Linux 6.12 (6.12.117 stable tree): include/linux/mm_types.h, mmzone.h,
 * page-flags.h, mm/mm_init.c, mm/page_alloc.c, mm/internal.h.
 *
 * One node (UMA) covers modelled RAM [0, mem_bytes) without holes. It is split into zones by
 * physical address (linux-mm-facts.md §1.1, §1.2):
 *   i386:   DMA [0, 16 MiB)  Normal [16 MiB, max_low_pfn)  HighMem [max_low_pfn, end)
 *   x86-64: DMA [0, 16 MiB)  DMA32 [16 MiB, 4 GiB)          Normal [4 GiB, end)
 * and, with movablecore=, the top of the highest of them becomes ZONE_MOVABLE. Every frame has a
 * struct page in pgdat->mem_map; the allocator hands out struct page pointers, and
 * page_to_pfn()/pfn_to_page() convert. How free memory is organised (free lists per order and
 * migratetype, pageblocks, splitting and merging) is explained at the top of page_alloc.c.
 *
 * What is modelled:
 *   zones, zonelists, free_area[] lists, __rmqueue_smallest/claim/steal fallback,
 *   __free_one_page merging, ALLOC_NOFRAGMENT, refcounts, __GFP_ZERO/__GFP_COMP, buddy_check(),
 *   /proc/buddyinfo; watermarks (min/low/high/promo from min_free_kbytes) and lowmem_reserve,
 *   checked as __zone_watermark_ok does; one CPU's per-CPU page lists (struct per_cpu_pages) with
 *   6.12's batch/high formulas and high auto-tuning between high_min and high_max.
 *   Watermarks and the real pagesets exist only after init_per_zone_wmark_min() (Linux: a
 *   postcore initcall); before it the zones have zero watermarks and boot pagesets (high 0,
 *   batch 1: every pcp page goes straight back to the buddy lists), as during Linux's boot.
 *   Not modelled: reclaim, kswapd, compaction, watermark boosting, highatomic reserving; the slow
 *   path retries at the min watermark (with __GFP_HIGH / non-blocking reserves) and then fails.
 *
 * Error handling: configuration errors come back from pgdat_init() as -1 and a message. An
 * allocation that cannot be satisfied returns NULL. A broken invariant (freeing a free page,
 * freeing a page that is still mapped or on a list, corrupt free lists) is a kernel-model bug:
 * bad_page() prints "BUG: Bad page state" with the pfn and reason and aborts.
 *
 * Not thread-safe: one pglist_data is driven by one thread (Linux's zone->lock is not needed).
 */
#ifndef MMUEMU_KERNEL_MODEL_PAGE_ALLOC_H
#define MMUEMU_KERNEL_MODEL_PAGE_ALLOC_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gfp.h"
#include "list.h"

/* ---- sizes ------------------------------------------------------------------------------- */

#define PAGE_SHIFT		12			/* 4 KiB base pages */
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define MAX_PAGE_ORDER		10			/* largest buddy block: 2^10 pages = 4 MiB */
#define NR_PAGE_ORDERS		(MAX_PAGE_ORDER + 1)	/* orders 0..10 */
#define MAX_ORDER_NR_PAGES	(1UL << MAX_PAGE_ORDER)
#define PAGE_ALLOC_COSTLY_ORDER	3			/* orders above this are "costly" */
#define MAX_DMA_PFN		((16UL << 20) >> PAGE_SHIFT)	/* end of ZONE_DMA: 16 MiB */
#define MAX_DMA32_PFN		(1UL << (32 - PAGE_SHIFT))	/* end of ZONE_DMA32: 4 GiB */
/* i386 default end of lowmem (max_low_pfn << PAGE_SHIFT): 887 MiB, see linux-mm-facts §1.2 */
#define LOWMEM_DEFAULT_BYTES	0x377fe000ULL

/* ---- struct page -------------------------------------------------------------------------- */

/*
 * Page flags, in Linux's bit order (include/linux/page-flags.h enum pageflags). Only PG_reserved
 * and PG_head are used by the allocator; the others are reserved for their future owners
 * (LRU, page cache, reclaim) so that the allocator's free-time checks already cover them.
 */
#define PAGEFLAGS(X)						\
	X(locked, Locked)	/* page is locked */		\
	X(writeback, Writeback)	/* under writeback */		\
	X(referenced, Referenced) /* recently referenced */	\
	X(uptodate, Uptodate)	/* contents valid */		\
	X(dirty, Dirty)		/* must be written back */	\
	X(lru, LRU)		/* on an LRU list */		\
	X(head, Head)		/* first page of a compound page */ \
	X(waiters, Waiters)	/* has waiters */		\
	X(active, Active)	/* on the active LRU */		\
	X(workingset, Workingset) /* refault detection */	\
	X(owner_priv_1, OwnerPriv1) /* owner use (PG_swapcache) */ \
	X(owner_2, Owner2)	/* owner use */			\
	X(arch_1, Arch1)	/* architecture use */		\
	X(reserved, Reserved)	/* never handed to the buddy allocator */ \
	X(private, Private)	/* page->private in use by the owner */ \
	X(private_2, Private2)	/* owner use */			\
	X(reclaim, Reclaim)	/* to be reclaimed asap */	\
	X(swapbacked, SwapBacked) /* anonymous / shmem */	\
	X(unevictable, Unevictable) /* on the unevictable LRU */ \
	X(mlocked, Mlocked)	/* mlocked */			\
	X(hwpoison, HWPoison)	/* hardware poisoned */		\
	X(young, Young)		/* idle tracking */		\
	X(idle, Idle)		/* idle tracking */

enum pageflags {
#define PAGEFLAG_ENUM_(lname, uname) PG_##lname,
	PAGEFLAGS(PAGEFLAG_ENUM_)
#undef PAGEFLAG_ENUM_
	__NR_PAGEFLAGS
};

/*
 * The top byte of page->flags holds the compound order of a PG_head page (Linux keeps it in the
 * first tail page; there it is the low byte of folio->_flags_1).
 */
#define PAGE_COMPOUND_ORDER_SHIFT	24
#define PAGE_COMPOUND_ORDER_MASK	(0xffU << PAGE_COMPOUND_ORDER_SHIFT)
#define PAGEFLAGS_MASK			((1U << __NR_PAGEFLAGS) - 1)

/* Flags that must be clear when a page is freed (PAGE_FLAGS_CHECK_AT_FREE). */
#define PAGE_FLAGS_CHECK_AT_FREE					\
	(1U << PG_lru | 1U << PG_locked | 1U << PG_private | 1U << PG_private_2 | \
	 1U << PG_writeback | 1U << PG_reserved | 1U << PG_active |	\
	 1U << PG_unevictable | 1U << PG_mlocked)
/* Flags that must be clear when a page leaves the allocator (PAGE_FLAGS_CHECK_AT_PREP). */
#define PAGE_FLAGS_CHECK_AT_PREP	\
	((PAGEFLAGS_MASK & ~(1U << PG_hwpoison)) | PAGE_COMPOUND_ORDER_MASK)

/*
 * Page types (Linux 6.12 enum pagetype): for pages that are never mapped to user space the top
 * byte of page_type says what they are. PageBuddy marks the first page of a free block.
 */
enum pagetype {
	PGTY_buddy	= 0xf0,	/* head of a free buddy block; order in page->private */
	PGTY_offline	= 0xf1,
	PGTY_table	= 0xf2,	/* page-table page */
	PGTY_guard	= 0xf3,
	PGTY_hugetlb	= 0xf4,
	PGTY_slab	= 0xf5,	/* slab page */
	PGTY_zsmalloc	= 0xf6,
	PGTY_unaccepted	= 0xf7,
};

/*
 * One per physical frame, in pgdat->mem_map[pfn]. 32 bytes on a 64-bit host.
 *
 * mem_map is calloc'd and an all-zero struct page is a valid free-or-unused page (flags 0,
 * refcount 0, unmapped, no type, not on a list), so frames nobody touches cost no host memory.
 * That is why two fields differ from Linux in their zero value:
 *   - _mapcount holds the number of mappings (Linux stores that minus one, so -1 = unmapped);
 *     use page_mapcount();
 *   - page_type 0 means "no type" (Linux: 0xffffffff);
 * and why the zone of a page is found from its pfn (page_zone()) instead of flag bits.
 *
 * The list link is one link with Linux's three names: buddy_list while the page heads a free
 * block, pcp_list on a per-CPU list, lru for whoever owns the allocated page (LRU, slab,
 * page cache). The owner of the page owns the link.
 */
struct page {
	uint32_t flags;			/* PG_* bits; top byte: compound order of a PG_head page */
	union {
		int32_t  _mapcount;	/* number of PTEs mapping this page (0 = unmapped) */
		uint32_t page_type;	/* PGTY_* << 24 for unmapped typed pages; 0 = none */
	};
	int32_t _refcount;		/* references; 0 = free (or a tail page of a block) */
	uint32_t private;		/* buddy order while PageBuddy; the owner's word otherwise */
	union {
		struct list_head lru;		/* owner's list (LRU, slab, page cache) */
		struct list_head buddy_list;	/* free_area[order].free_list[mt] */
		struct list_head pcp_list;	/* per-CPU list (zone->pcp.lists[]) */
	};
};

/* PageLocked(page), SetPageLocked(page), ClearPageLocked(page), ... for every PG_ flag. */
#define PAGEFLAG_OPS_(lname, uname)						\
	static inline bool Page##uname(const struct page *page)		\
	{ return (page->flags >> PG_##lname) & 1U; }				\
	static inline void SetPage##uname(struct page *page)			\
	{ page->flags |= 1U << PG_##lname; }					\
	static inline void ClearPage##uname(struct page *page)		\
	{ page->flags &= ~(1U << PG_##lname); }
PAGEFLAGS(PAGEFLAG_OPS_)
#undef PAGEFLAG_OPS_

/* PageBuddy(page), __SetPageBuddy(page), __ClearPageBuddy(page), and the same for Table, Slab. */
#define PAGE_TYPE_OPS_(uname, lname)						\
	static inline bool Page##uname(const struct page *page)		\
	{ return (page->page_type >> 24) == PGTY_##lname; }			\
	static inline void __SetPage##uname(struct page *page)		\
	{									\
		assert(page->page_type == 0 && "page already typed or mapped");	\
		page->page_type = (uint32_t)PGTY_##lname << 24;		\
	}									\
	static inline void __ClearPage##uname(struct page *page)		\
	{									\
		assert(Page##uname(page));					\
		page->page_type = 0;						\
	}
PAGE_TYPE_OPS_(Buddy, buddy)
PAGE_TYPE_OPS_(Table, table)
PAGE_TYPE_OPS_(Slab, slab)
#undef PAGE_TYPE_OPS_

static inline unsigned long page_private(const struct page *page) { return page->private; }
static inline void set_page_private(struct page *page, unsigned long v) { page->private = (uint32_t)v; }

/* Order of a free block; only meaningful while PageBuddy(page). */
static inline unsigned buddy_order(const struct page *page) { return (unsigned)page->private; }

/* Order of an allocated compound page (alloc with __GFP_COMP), 0 for any other page. */
static inline unsigned compound_order(const struct page *page)
{
	return PageHead(page) ? page->flags >> PAGE_COMPOUND_ORDER_SHIFT : 0;
}

/* Reference counting (include/linux/page_ref.h, mm.h). */
static inline int page_ref_count(const struct page *page) { return page->_refcount; }
static inline int page_count(const struct page *page) { return page->_refcount; }
static inline void set_page_count(struct page *page, int v) { page->_refcount = v; }
static inline void init_page_count(struct page *page) { page->_refcount = 1; }
static inline void page_ref_inc(struct page *page) { page->_refcount++; }

/* Take a reference on an allocated page. */
static inline void get_page(struct page *page)
{
	assert(page->_refcount > 0 && "get_page on a free page");
	page->_refcount++;
}

/*
 * Drop a reference; true if it was the last one. The caller then frees the page with
 * __free_pages() — or, simpler, calls __free_pages() directly, which drops the reference itself.
 * (Linux's put_page() frees on its own; here freeing needs the node and the order, so this is
 * Linux's put_page_testzero().)
 */
static inline bool put_page_testzero(struct page *page)
{
	assert(page->_refcount > 0 && "put_page_testzero: refcount underflow");
	return --page->_refcount == 0;
}

/* Number of page-table entries mapping this page (Linux: page_mapcount()). */
static inline int page_mapcount(const struct page *page)
{
	return (page->page_type >> 24) >= PGTY_buddy ? 0 : page->_mapcount;
}

/* ---- zones -------------------------------------------------------------------------------- */

/* Per-zone counters kept like Linux's vm_stat (the next issues add the LRU and slab items). */
enum zone_stat_item {
	NR_FREE_PAGES,		/* free pages in the buddy lists (pcp pages excluded) */
	NR_VM_ZONE_STAT_ITEMS
};

/* Watermark indices. */
enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO, NR_WMARK };

/*
 * Per-CPU page lists (mmzone.h struct per_cpu_pages): one CPU. Lists are indexed by
 * order_to_pindex(): MIGRATE_PCPTYPES lists per order 0..PAGE_ALLOC_COSTLY_ORDER, then two THP
 * lists (pageblock order: unmovable-or-reclaimable, movable).
 */
#define NR_LOWORDER_PCP_LISTS	(MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1))
#define NR_PCP_THP		2
#define NR_PCP_LISTS		(NR_LOWORDER_PCP_LISTS + NR_PCP_THP)
#define PCP_BATCH_SCALE_MAX	5	/* CONFIG_PCP_BATCH_SCALE_MAX */
#define PCPF_PREV_FREE_HIGH_ORDER	0x01
#define PCPF_FREE_HIGH_BATCH		0x02

struct per_cpu_pages {
	int count;		/* pages (not blocks) on the lists */
	int high;		/* drain above this; auto-tuned in [high_min, high_max] */
	int high_min;
	int high_max;
	int batch;		/* refill / drain chunk */
	uint8_t flags;		/* PCPF_* */
	uint8_t alloc_factor;	/* refill scale: batch << alloc_factor for order 0 */
	short free_count;	/* consecutive freed pages (decays on allocation) */
	struct list_head lists[NR_PCP_LISTS];
};

/* zone->flags bits (mmzone.h enum zone_flags; only this one is used) */
#define ZONE_BELOW_HIGH		0x1	/* free pages fell below the high watermark */

/* The default lowmem_reserve ratios (sysctl_lowmem_reserve_ratio). */
#define LOWMEM_RESERVE_RATIO_DEFAULTS { 256, 256, 32, 0, 0 }

/* The free blocks of one order in one zone (mmzone.h struct free_area). */
struct free_area {
	struct list_head free_list[MIGRATE_TYPES];	/* heads of free blocks, by pageblock type */
	unsigned long nr_free;				/* blocks (not pages) on all the lists */
};

/* Allocator event counters of one zone (not Linux's names: Linux spreads them over vmstat). */
struct zone_buddy_stats {
	unsigned long alloc[NR_PAGE_ORDERS];	/* blocks handed out from this zone, by order (PGALLOC) */
	unsigned long free[NR_PAGE_ORDERS];	/* blocks freed into this zone, by order (PGFREE) */
	unsigned long splits;			/* halvings done by expand() */
	unsigned long merges;			/* buddy pairs merged by __free_one_page() */
	unsigned long fallback_claims;		/* allocations served by claiming a fallback pageblock */
	unsigned long fallback_steals;		/* allocations served by stealing from a fallback type */
	unsigned long alloc_fail;		/* times the zone was tried and had no suitable block */
	unsigned long wmark_refusals;		/* times the zone was skipped: watermark check failed */
	unsigned long pcp_alloc;		/* allocations served from the per-CPU lists */
	unsigned long pcp_refills;		/* rmqueue_bulk calls (pcp list was empty) */
	unsigned long pcp_refill_pages;		/* pages moved buddy -> pcp by rmqueue_bulk */
	unsigned long pcp_drains;		/* free_pcppages_bulk calls */
	unsigned long pcp_drain_pages;		/* pages moved pcp -> buddy by free_pcppages_bulk */
};

struct pglist_data;

struct zone {
	/* watermarks: zero until init_per_zone_wmark_min() */
	unsigned long _watermark[NR_WMARK];
	unsigned long watermark_boost;		/* always 0: boosting is not modelled */
	unsigned long nr_reserved_highatomic;	/* pages in MIGRATE_HIGHATOMIC pageblocks */
	unsigned long nr_free_highatomic;	/* free pages on the HIGHATOMIC lists */
	/* pages an allocation that may use up to zone index j must leave here (protection) */
	long lowmem_reserve[MAX_NR_ZONES];

	struct pglist_data *zone_pgdat;		/* the node this zone belongs to */
	struct per_cpu_pages pcp;		/* the one CPU's pageset (per_cpu_pageset) */
	int pageset_high_min, pageset_high_max, pageset_batch;
	unsigned long flags;			/* ZONE_BELOW_HIGH */

	/*
	 * Migratetype of every pageblock overlapping the zone, one byte each, indexed by
	 * (pfn >> pageblock_order) - (zone_start_pfn >> pageblock_order). Per zone, as with
	 * !CONFIG_SPARSEMEM: a pageblock that straddles two zones has a type in each.
	 */
	uint8_t *pageblock_flags;

	uint64_t zone_start_pfn;		/* first pfn */
	unsigned long managed_pages;		/* pages handed to the buddy allocator (present - reserved) */
	unsigned long spanned_pages;		/* pfns from start to end */
	unsigned long present_pages;		/* pfns backed by RAM (no holes here: = spanned) */
	const char *name;			/* "DMA", "DMA32", "Normal", "HighMem", "Movable" */

	struct free_area free_area[NR_PAGE_ORDERS];

	long vm_stat[NR_VM_ZONE_STAT_ITEMS];	/* zone_page_state() */
	struct zone_buddy_stats stats;
};

/* An entry of a zonelist (mmzone.h struct zoneref). */
struct zoneref {
	struct zone *zone;	/* NULL terminates the list */
	int zone_idx;		/* zone_idx(zone) */
};

enum { ZONELIST_FALLBACK, MAX_ZONELISTS };	/* NUMA's ZONELIST_NOFALLBACK is not modelled */

/* Zones in the order the allocator tries them: populated zones, highest index first. */
struct zonelist {
	struct zoneref _zonerefs[MAX_NR_ZONES + 1];
};

/* The one node (mmzone.h pg_data_t). */
struct pglist_data {
	struct zone node_zones[MAX_NR_ZONES];
	struct zonelist node_zonelists[MAX_ZONELISTS];
	int node_id;				/* always 0 (UMA) */
	struct page *mem_map;			/* struct page of every pfn in [node_start_pfn, +spanned) */
	uint64_t node_start_pfn;		/* 0 */
	unsigned long node_present_pages;
	unsigned long node_spanned_pages;
	unsigned pageblock_order;		/* 9 on x86-64 and i386 PAE, 10 on i386 without PAE */
	bool x86_64;				/* zone layout and gfp_zone() collapse rules */
	bool pae;				/* i386 only */
	uint64_t max_low_pfn;			/* end of directly mapped memory (i386: start of HighMem) */
	uint64_t zone_movable_pfn;		/* start of ZONE_MOVABLE, 0 if there is none */
	unsigned long nr_reserved_pages;	/* PG_reserved frames [0, nr_reserved_pages) */
	/*
	 * Modelled physical memory (pfn p is at phys + (p << PAGE_SHIFT)), used for __GFP_ZERO.
	 * pgdat_init() sets it to NULL; the owner of the memory sets it. NULL: no zeroing.
	 */
	uint8_t *phys;
	struct {
		unsigned long alloc_fail[NR_PAGE_ORDERS];	/* alloc_pages() calls that returned NULL */
		unsigned long slowpath;		/* alloc_pages() calls that entered the slow path */
		unsigned long splits;		/* expand() halvings in all zones */
	} stats;

	/* watermark set-up (init_per_zone_wmark_min) */
	int min_free_kbytes;			/* 0 until init_per_zone_wmark_min() */
	int watermark_scale_factor;		/* 10: 0.1 % of a zone between marks */
	int lowmem_reserve_ratio[MAX_NR_ZONES];	/* LOWMEM_RESERVE_RATIO_DEFAULTS */
	unsigned long totalreserve_pages;	/* calculate_totalreserve_pages() */

	/* Optional observer of every block handed out or freed by a caller (not pcp moves). */
	struct page_alloc_ops {
		/*
		 * alloc: true for an allocation, false for a free. migratetype: the allocation's
		 * (gfp_migratetype) or, for a free, the pageblock's. splits: expand() halvings done
		 * inside this alloc_pages() call, pcp refills included (0 for frees).
		 */
		void (*event)(void *ctx, bool alloc, uint64_t pfn, unsigned order, enum zone_type zone,
			      int migratetype, unsigned long splits);
		void *ctx;
	} ops;
};

/* Linux's names for zones and migratetypes, as /proc prints them. */
extern const char *const zone_names[MAX_NR_ZONES];
extern const char *const migratetype_names[MIGRATE_TYPES];

static inline enum zone_type zone_idx(const struct zone *zone)
{
	return (enum zone_type)(zone - zone->zone_pgdat->node_zones);
}
static inline uint64_t zone_end_pfn(const struct zone *zone)
{
	return zone->zone_start_pfn + zone->spanned_pages;
}
static inline bool zone_spans_pfn(const struct zone *zone, uint64_t pfn)
{
	return zone->zone_start_pfn <= pfn && pfn < zone_end_pfn(zone);
}
/* Has RAM (Linux: it is on the zonelist and printed by /proc/buddyinfo). */
static inline bool populated_zone(const struct zone *zone) { return zone->present_pages != 0; }
/* Has pages the buddy allocator manages. */
static inline bool managed_zone(const struct zone *zone) { return zone->managed_pages != 0; }
static inline unsigned long zone_managed_pages(const struct zone *zone) { return zone->managed_pages; }
static inline unsigned long zone_page_state(const struct zone *zone, enum zone_stat_item item)
{
	return zone->vm_stat[item] < 0 ? 0 : (unsigned long)zone->vm_stat[item];
}

/*
 * True if a kernel for this architecture has the zone at all (i386: DMA, Normal, HighMem,
 * Movable; x86-64: DMA, DMA32, Normal, Movable), populated or not. /proc/zoneinfo prints the
 * configured zones, /proc/buddyinfo only the populated ones.
 */
static inline bool zone_configured(const struct pglist_data *pgdat, enum zone_type zt)
{
	if (zt == ZONE_DMA32)
		return pgdat->x86_64;
	if (zt == ZONE_HIGHMEM)
		return !pgdat->x86_64;
	return zt < MAX_NR_ZONES;
}

static inline unsigned long pageblock_nr_pages(const struct pglist_data *pgdat)
{
	return 1UL << pgdat->pageblock_order;
}

/* ---- pfn <-> page ------------------------------------------------------------------------- */

/* True if pfn has a struct page (is inside modelled RAM). */
static inline bool pfn_valid(const struct pglist_data *pgdat, uint64_t pfn)
{
	return pfn >= pgdat->node_start_pfn && pfn - pgdat->node_start_pfn < pgdat->node_spanned_pages;
}

/* The frame number of a struct page of this node. */
static inline uint64_t page_to_pfn(const struct pglist_data *pgdat, const struct page *page)
{
	return pgdat->node_start_pfn + (uint64_t)(page - pgdat->mem_map);
}

/* The struct page of a frame; pfn must be pfn_valid() (asserted). */
static inline struct page *pfn_to_page(struct pglist_data *pgdat, uint64_t pfn)
{
	assert(pfn_valid(pgdat, pfn) && "pfn_to_page: pfn outside modelled RAM");
	return pgdat->mem_map + (pfn - pgdat->node_start_pfn);
}

/* The zone index a frame belongs to (zones are contiguous and ordered). pfn must be valid. */
enum zone_type pfn_zonenum(const struct pglist_data *pgdat, uint64_t pfn);

/* The zone a page belongs to. */
struct zone *page_zone(struct pglist_data *pgdat, const struct page *page);
static inline enum zone_type page_zonenum(const struct pglist_data *pgdat, const struct page *page)
{
	return pfn_zonenum(pgdat, page_to_pfn(pgdat, page));
}

/* Migratetype of the pageblock holding pfn, as recorded by the zone (Linux: pageblock flags). */
enum migratetype get_pfnblock_migratetype(const struct zone *zone, uint64_t pfn);

/* ---- zonelist iteration (mmzone.h) -------------------------------------------------------- */

/* First entry at or after z whose zone index is <= highest_zoneidx (its zone is NULL at the end). */
static inline struct zoneref *next_zones_zonelist(struct zoneref *z, enum zone_type highest_zoneidx)
{
	while (z->zone && z->zone_idx > (int)highest_zoneidx)
		z++;
	return z;
}
static inline struct zoneref *first_zones_zonelist(struct zonelist *zonelist,
						   enum zone_type highest_zoneidx)
{
	return next_zones_zonelist(zonelist->_zonerefs, highest_zoneidx);
}
/* Walk the zones an allocation limited to highest_zoneidx may use, in fallback order. */
#define for_each_zone_zonelist(zone, z, zlist, highidx)				\
	for ((z) = first_zones_zonelist(zlist, highidx), (zone) = (z)->zone;	\
	     (zone) != NULL;							\
	     (z) = next_zones_zonelist((z) + 1, highidx), (zone) = (z)->zone)

/* The zonelist an allocation with these flags uses (UMA: always the fallback list). */
static inline struct zonelist *node_zonelist(struct pglist_data *pgdat, gfp_t gfp)
{
	(void)gfp;
	return &pgdat->node_zonelists[ZONELIST_FALLBACK];
}

/* ---- set-up ------------------------------------------------------------------------------- */

struct page_alloc_config {
	uint64_t mem_bytes;		/* modelled RAM, multiple of 4 KiB */
	bool     x86_64;		/* false: i386 zones DMA/Normal/HighMem; true: DMA/DMA32/Normal */
	bool     pae;			/* i386 only: pageblock_order 9 with PAE, 10 without */
	uint64_t lowmem_bytes;		/* i386: max_low_pfn in bytes; 0 = LOWMEM_DEFAULT_BYTES;
					   ignored on x86-64 */
	uint64_t movablecore_bytes;	/* 0 = no ZONE_MOVABLE; else like movablecore= */
	uint64_t reserved_bytes;	/* frames [0, reserved) are PG_reserved and never freed */
};

/*
 * pgdat_init — build the node as Linux's boot does: size the zones (zone_sizes_init,
 * find_zone_movable_pfns_for_nodes), allocate mem_map and the pageblock maps, mark every
 * pageblock MIGRATE_MOVABLE (memmap_init), mark [0, reserved_bytes) PG_reserved with refcount 1,
 * free the rest zone by zone in the largest aligned blocks (memblock_free_all, to the tail of the
 * lists), and build the zonelist. Counters start at zero after boot.
 *
 * Returns 0, or -1 with a one-line reason in err (if err is not NULL): pgdat or cfg NULL,
 * mem_bytes / reserved_bytes / lowmem_bytes not page-aligned, RAM smaller than 1 MiB or larger
 * than the architecture's physical address space (4 GiB i386, 64 GiB PAE; the model caps x86-64
 * at 1 TiB), reserved >= RAM, lowmem not in (16 MiB, 4 GiB), or out of host memory. On failure
 * nothing needs freeing. On success pgdat_destroy() releases it.
 */
int pgdat_init(struct pglist_data *pgdat, const struct page_alloc_config *cfg, char *err,
	       size_t errlen);

/*
 * init_per_zone_wmark_min — what Linux's postcore initcall does once the buddy allocator holds
 * memory: min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144) with lowmem_kbytes
 * the managed pages of the zones GFP_USER may use (calculate_min_free_kbytes); the watermarks
 * (__setup_per_zone_wmarks); the real pagesets of every zone (zone_pcp_update: batch from
 * zone_batchsize, high_min from the low watermark, high_max from managed/8); lowmem_reserve
 * (setup_per_zone_lowmem_reserve) and totalreserve_pages. Call it after boot-time reservations.
 */
void init_per_zone_wmark_min(struct pglist_data *pgdat);

/*
 * The sysctl vm.min_free_kbytes write: set min_free_kbytes (>= 0) and recompute the watermarks
 * and pagesets (setup_per_zone_wmarks). For tests and tuning.
 */
void setup_per_zone_wmarks(struct pglist_data *pgdat, int min_free_kbytes);

/* zone_batchsize() and zone_highsize() for a zone of `managed` pages whose low watermark is
 * `low_wmark` on `nr_cpus` CPUs; high_fraction 0 = default (low-watermark based). */
int zone_batchsize_pages(unsigned long managed);
int zone_highsize_pages(unsigned long managed, unsigned long low_wmark, int batch, int nr_cpus,
			int high_fraction);

/* Return every page on the zones' per-CPU lists to the buddy lists (drain_all_pages). */
void drain_all_pages(struct pglist_data *pgdat);

/* Pages on all per-CPU lists of the node. */
unsigned long pcp_pages(const struct pglist_data *pgdat);

/* Release what pgdat_init() allocated; pgdat is zeroed. Safe on a zeroed pgdat. */
void pgdat_destroy(struct pglist_data *pgdat);

/* ---- allocation --------------------------------------------------------------------------- */

/*
 * alloc_pages — allocate 2^order contiguous frames, aligned to their size (Linux:
 * __alloc_pages, get_page_from_freelist, rmqueue_pcplist / rmqueue_buddy, __rmqueue).
 *
 * Watermarks: the fast path skips a zone whose free pages (NR_FREE_PAGES: pcp pages are not
 * free), less 2^order - 1 and the highatomic reserve, are not above its low watermark plus
 * lowmem_reserve[highest zone of the request] (or, for order > 0, that has no free block of at
 * least that order in a usable list). The slow path (no reclaim, kswapd or compaction in this
 * model) tries again against the min watermark, lowered by half for __GFP_HIGH and by a further
 * quarter for requests that cannot block (no __GFP_DIRECT_RECLAIM); __GFP_MEMALLOC ignores
 * watermarks. If that fails too, NULL: the caller's OOM path takes over. Orders up to
 * PAGE_ALLOC_COSTLY_ORDER and pageblock_order go through the per-CPU lists.
 *
 * Tries the zones of the zonelist from gfp_zone(gfp) down (e.g. i386 GFP_KERNEL: Normal, then
 * DMA; never HighMem). In each zone it takes the smallest free block of the allocation's
 * migratetype, else falls back to other migratetypes (claiming a whole pageblock when
 * can_steal_fallback allows, else stealing one block). On x86-64, when the first zone tried is
 * Normal, a first pass over all zones refuses fallbacks that would mix pageblock types
 * (ALLOC_NOFRAGMENT) and a second pass allows them.
 *
 * Returns the first struct page with _refcount 1 (the other pages of the block keep 0), or
 * NULL if order > MAX_PAGE_ORDER or no allowed zone has a block. __GFP_ZERO zeroes the frames
 * through pgdat->phys when it is set. __GFP_COMP with order > 0 makes a compound page (PG_head,
 * compound_order()).
 */
struct page *alloc_pages(struct pglist_data *pgdat, gfp_t gfp, unsigned order);

static inline struct page *alloc_page(struct pglist_data *pgdat, gfp_t gfp)
{
	return alloc_pages(pgdat, gfp, 0);
}

/*
 * __free_pages — drop the caller's reference on a block from alloc_pages(); when it was the last
 * one, give the 2^order frames back to the buddy allocator, merging with free buddies
 * (__free_one_page). If other references remain and the block is not compound, the pages after
 * the first are freed now and the first page stays with its holders, as in Linux.
 * order must be the allocation's order (checked for compound pages).
 *
 * Aborts through bad_page() if the page is already free (refcount 0), is still mapped, is typed
 * (page table, slab), or carries a flag that must be clear at free (LRU, locked, reserved...).
 */
void __free_pages(struct pglist_data *pgdat, struct page *page, unsigned order);

static inline void __free_page(struct pglist_data *pgdat, struct page *page)
{
	__free_pages(pgdat, page, 0);
}

/* ---- inspection --------------------------------------------------------------------------- */

/*
 * buddy_check — walk every zone's free lists, per-CPU lists and mem_map and check the buddy
 * invariants: pcp pages are whole, aligned, unlisted-in-buddy blocks of the list's order with
 * refcount 0 inside the zone, pcp->count matches the lists, no pcp block overlaps a free block;
 * list links are consistent; every listed block is PageBuddy with the list's order, aligned to
 * it, inside the zone, with refcount 0, its pageblocks of the list's migratetype; no block is
 * listed twice and every PageBuddy page is listed; free blocks do not overlap; no free block has
 * a free buddy of the same order it should have merged with; nr_free matches the lists;
 * NR_FREE_PAGES and nr_free_highatomic match the pages on the lists; reserved pages are never
 * free; managed_pages = present - reserved.
 *
 * Returns NULL if all hold, else a description of the first broken one (zone, pfn, detail) in a
 * thread-local buffer overwritten by the next call. Costs one pass over mem_map.
 */
const char *buddy_check(const struct pglist_data *pgdat);

/*
 * Number of free blocks of `order` in the zone: on the list of migratetype mt, or on all lists
 * when mt < 0 (then it is free_area[order].nr_free).
 */
unsigned long zone_nr_free_blocks(const struct zone *zone, unsigned order, int mt);

/*
 * pagetypeinfo_show — print /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_show): pageblock order
 * and size, free blocks per zone x migratetype x order, pageblocks per migratetype.
 */
void pagetypeinfo_show(const struct pglist_data *pgdat, FILE *out);

/*
 * buddyinfo_show — print /proc/buddyinfo (mm/vmstat.c frag_show): one line per populated zone,
 * "Node %d, zone %8s " and the free block count of each order 0..10 as "%6lu ".
 */
void buddyinfo_show(const struct pglist_data *pgdat, FILE *out);

#endif /* MMUEMU_KERNEL_MODEL_PAGE_ALLOC_H */
