/*
 * page_alloc.c — zones and the buddy page allocator. Models Linux 6.12 (6.12.117 stable tree:
 * mm/page_alloc.c, mm/mm_init.c, mm/memblock.c, mm/internal.h). Function names are the
 * kernel's; the code is written from the rules, not copied.
 *
 * THE BUDDY SYSTEM
 * Free memory of a zone is kept as naturally aligned blocks of 2^order pages, order 0..10
 * (MAX_PAGE_ORDER; 4 MiB). The first page of a free block is PageBuddy with the order in
 * page->private, and sits on zone->free_area[order].free_list[migratetype]; the other pages of the
 * block are plain zeroed struct pages. The buddy of the block at pfn is the block at
 * pfn ^ (1 << order): the two halves of the aligned block of the next order.
 *
 * Allocation (__rmqueue_smallest): take the first block on the list of the wanted migratetype at
 * the smallest order >= the request. If it is bigger, expand() halves it repeatedly: each time the
 * UPPER half goes to the HEAD of the list one order down, and the caller keeps the lowest-addressed
 * part. So a fresh 4 MiB block at pfn P serving an order-0 request returns P and leaves one free
 * block at each order k = 0..9, at P + 2^k.
 *
 * Free (__free_one_page): while the buddy is a free block of the same order in the same zone,
 * take it off its list and merge (combined pfn = pfn & buddy_pfn, order + 1). The result goes to
 * the head of its list, or to the tail when buddy_merge_likely() sees that the next-higher buddy
 * is free too (so it is less likely to be split again before it can merge), or when the caller
 * asks (FPI_TO_TAIL, used by the boot-time frees).
 *
 * MIGRATETYPES AND PAGEBLOCKS
 * Memory is grouped by mobility in pageblocks of 2^pageblock_order pages (9: 2 MiB on x86-64 and
 * PAE; 10: 4 MiB on i386 without PAE). Each pageblock has a migratetype; a free block sits on the
 * list of its pageblock's type. Boot marks every pageblock MOVABLE. An allocation whose type has
 * no free block falls back to other types in the order of fallbacks[]:
 *   - __rmqueue_claim scans from the largest order down; if can_steal_fallback() allows, it tries
 *     to claim the whole pageblock (try_to_steal_block): a block of >= pageblock_order changes
 *     type outright; a smaller one converts its pageblock, moving all the pageblock's free pages to
 *     the new type's lists, if at least half the pageblock is free or compatible;
 *   - __rmqueue_steal then scans from the requested order up and takes the smallest fallback
 *     block without converting the pageblock.
 * On x86-64, when the preferred zone is Normal, a first pass over the zonelist sets
 * ALLOC_NOFRAGMENT: claims only of whole pageblocks and no stealing; if every zone fails, a second
 * pass allows both (alloc_flags_nofragment, get_page_from_freelist).
 *
 * INVARIANTS (checked by buddy_check()):
 *   - a page is PageBuddy iff it heads a free block, and then it is on exactly one list: that of
 *     its order and of its pageblock's migratetype; blocks are aligned, inside one zone and
 *     disjoint;
 *   - two buddies of the same order are never both free where they could merge (same zone, and
 *     below pageblock_order or with mergeable types);
 *   - free_area[o].nr_free = number of blocks on the order-o lists; NR_FREE_PAGES = pages on all
 *     lists; nr_free_highatomic = pages on the HIGHATOMIC lists;
 *   - an allocated block's first page has _refcount >= 1, its other pages 0; free pages 0.
 *
 * PER-CPU LISTS (one CPU)
 * Orders 0..PAGE_ALLOC_COSTLY_ORDER and pageblock_order (THP) are served from zone->pcp, one list
 * per (order, migratetype). An empty list is refilled with rmqueue_bulk(): nr_pcp_alloc() blocks
 * taken from the buddy lists one at a time with __rmqueue() and added to the list's tail; the
 * allocation takes the head. A free of such an order puts the block at the head of its list;
 * when pcp->count reaches the (auto-tuned) high mark, free_pcppages_bulk() gives nr_pcp_free()
 * pages back to the buddy lists, taking the lists round-robin from the freed block's list, the
 * oldest (tail) block first. Pages on pcp lists are allocated as far as the buddy is concerned:
 * they are not PageBuddy and not in NR_FREE_PAGES.
 *
 * WATERMARKS
 * get_page_from_freelist() skips a zone that fails zone_watermark_fast() at the mark the
 * allocation's flags select: LOW in the fast path, MIN in the slow path. lowmem_reserve keeps
 * lower zones for the allocations that can only use them (see alloc_pages() in page_alloc.h).
 *
 * SIMPLIFICATIONS AGAINST LINUX 6.12 (each also noted where it applies):
 *   - one CPU; the vmstat worker's decay_pcp_high() and drain_local_pages are not run
 *     periodically; there is no pcp spin lock, so trylock never fails;
 *   - no reclaim, kswapd or compaction: the slow path is one retry at the min watermark with the
 *     reserves gfp_to_alloc_flags grants, a drain of the pcp lists for callers that could enter
 *     direct reclaim (as __alloc_pages_direct_reclaim does when reclaim finds nothing), and then
 *     failure; no watermark boosting (boost_watermark()), no highatomic reserve/unreserve;
 *   - no CMA, no memory isolation, no page reporting, no debug_pagealloc guard pages, no
 *     page shuffling, no deferred struct-page init;
 *   - "movable pages" counted by try_to_steal_block are PG_lru pages (Linux also counts
 *     __PageMovable pages, which this model does not have);
 *   - compound pages record only the head (PG_head + order); tail pages are not linked;
 *   - bad_page() aborts instead of reporting and leaking the page.
 */
#include "page_alloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const zone_names[MAX_NR_ZONES] = {
	[ZONE_DMA] = "DMA", [ZONE_DMA32] = "DMA32", [ZONE_NORMAL] = "Normal",
	[ZONE_HIGHMEM] = "HighMem", [ZONE_MOVABLE] = "Movable",
};

const char *const migratetype_names[MIGRATE_TYPES] = {
	[MIGRATE_UNMOVABLE] = "Unmovable", [MIGRATE_MOVABLE] = "Movable",
	[MIGRATE_RECLAIMABLE] = "Reclaimable", [MIGRATE_HIGHATOMIC] = "HighAtomic",
};

/* alloc_flags (mm/internal.h); only some are reachable until the slow path exists */
#define ALLOC_WMARK_MIN		WMARK_MIN
#define ALLOC_WMARK_LOW		WMARK_LOW
#define ALLOC_WMARK_HIGH	WMARK_HIGH
#define ALLOC_NO_WATERMARKS	0x04	/* don't check watermarks at all */
#define ALLOC_WMARK_MASK	(ALLOC_NO_WATERMARKS - 1)
#define ALLOC_OOM		0x08	/* OOM victim: may use reserves */
#define ALLOC_NON_BLOCK		0x10	/* caller cannot block (GFP_ATOMIC in the slow path) */
#define ALLOC_MIN_RESERVE	0x20	/* __GFP_HIGH */
#define ALLOC_NOFRAGMENT	0x100	/* avoid mixing pageblock types */
#define ALLOC_HIGHATOMIC	0x200	/* may use MIGRATE_HIGHATOMIC */
#define ALLOC_KSWAPD		0x800	/* may wake kswapd; same bit as __GFP_KSWAPD_RECLAIM */
/* flags that give access to reserves below the min watermark */
#define ALLOC_RESERVES	(ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM)

#define SWAP_CLUSTER_MAX	32UL
#define MIN_PERCPU_PAGELIST_HIGH_FRACTION 8
#define BOOT_PAGESET_HIGH	0
#define BOOT_PAGESET_BATCH	1

/* free-page-internal flags (mm/page_alloc.c fpi_t) */
typedef unsigned fpi_t;
#define FPI_NONE	0U
#define FPI_TO_TAIL	(1U << 1)	/* put the merged block at the tail of its list */

/* What one allocation asks for (mm/internal.h struct alloc_context). */
struct alloc_context {
	struct zonelist *zonelist;
	struct zoneref *preferred_zoneref;	/* first usable zone: start of the walk */
	int migratetype;
	enum zone_type highest_zoneidx;
};

/* The order in which other migratetypes are tried when a type's lists are empty. */
static const int fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1] = {
	[MIGRATE_UNMOVABLE]   = { MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE   },
	[MIGRATE_MOVABLE]     = { MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE },
	[MIGRATE_RECLAIMABLE] = { MIGRATE_UNMOVABLE,   MIGRATE_MOVABLE   },
};

/* ---- small helpers -------------------------------------------------------------------------- */

static inline struct pglist_data *zone_pgdat_(const struct zone *zone) { return zone->zone_pgdat; }

static inline unsigned pb_order(const struct zone *zone) { return zone->zone_pgdat->pageblock_order; }

static inline uint64_t zpfn(const struct zone *zone, const struct page *page)
{
	return page_to_pfn(zone->zone_pgdat, page);
}

static inline bool migratetype_is_mergeable(int mt) { return mt < MIGRATE_PCPTYPES; }

/*
 * A broken page invariant: a kernel-model bug. Print what Linux's bad_page() would name and
 * abort (Linux reports, taints and leaks the page instead).
 */
static void bad_page(const struct pglist_data *pgdat, const struct page *page, const char *reason)
{
	fprintf(stderr,
		"BUG: Bad page state: pfn:%#" PRIx64 " flags:%#x refcount:%d mapcount/type:%#x "
		"private:%#x: %s\n",
		page_to_pfn(pgdat, page), page->flags, page->_refcount, page->page_type, page->private,
		reason);
	abort();
}

enum zone_type pfn_zonenum(const struct pglist_data *pgdat, uint64_t pfn)
{
	for (int i = 0; i < MAX_NR_ZONES; i++)
		if (zone_spans_pfn(&pgdat->node_zones[i], pfn))
			return (enum zone_type)i;
	assert(!"pfn_zonenum: pfn outside every zone");
	return ZONE_DMA;
}

struct zone *page_zone(struct pglist_data *pgdat, const struct page *page)
{
	return &pgdat->node_zones[page_zonenum(pgdat, page)];
}

/* ---- pageblock migratetypes ------------------------------------------------------------------ */

static inline size_t pageblock_index(const struct zone *zone, uint64_t pfn)
{
	unsigned pb = pb_order(zone);
	return (size_t)((pfn >> pb) - (zone->zone_start_pfn >> pb));
}

enum migratetype get_pfnblock_migratetype(const struct zone *zone, uint64_t pfn)
{
	assert(zone_spans_pfn(zone, pfn));
	return (enum migratetype)zone->pageblock_flags[pageblock_index(zone, pfn)];
}

static void set_pageblock_migratetype(struct zone *zone, uint64_t pfn, int mt)
{
	assert(zone_spans_pfn(zone, pfn) && mt >= 0 && mt < MIGRATE_TYPES);
	zone->pageblock_flags[pageblock_index(zone, pfn)] = (uint8_t)mt;
}

/* Set the type of the 2^(start_order - pageblock_order) pageblocks starting at pfn. */
static void change_pageblock_range(struct zone *zone, uint64_t pfn, unsigned start_order, int mt)
{
	unsigned long nr_pageblocks = 1UL << (start_order - pb_order(zone));

	while (nr_pageblocks--) {
		set_pageblock_migratetype(zone, pfn, mt);
		pfn += pageblock_nr_pages(zone->zone_pgdat);
	}
}

/* ---- free lists ------------------------------------------------------------------------------ */

static inline void set_buddy_order(struct page *page, unsigned order)
{
	set_page_private(page, order);
	__SetPageBuddy(page);
}

/* Free-page accounting of a zone (account_freepages). */
static inline void account_freepages(struct zone *zone, long nr_pages, int mt)
{
	zone->vm_stat[NR_FREE_PAGES] += nr_pages;
	if (mt == MIGRATE_HIGHATOMIC)
		zone->nr_free_highatomic += (unsigned long)nr_pages;
}

/* Put a page that is on no list onto free_list[order][mt], at the head or the tail. */
static inline void __add_to_free_list(struct page *page, struct zone *zone, unsigned order, int mt,
				      bool tail)
{
	struct free_area *area = &zone->free_area[order];

	assert((int)get_pfnblock_migratetype(zone, zpfn(zone, page)) == mt &&
	       "free block added to a list other than its pageblock's type");
	if (tail)
		list_add_tail(&page->buddy_list, &area->free_list[mt]);
	else
		list_add(&page->buddy_list, &area->free_list[mt]);
	area->nr_free++;
}

/* Move a free block to the tail of another type's list (before its pageblock changes type). */
static inline void move_to_free_list(struct page *page, struct zone *zone, unsigned order,
				     int old_mt, int new_mt)
{
	struct free_area *area = &zone->free_area[order];

	assert((int)get_pfnblock_migratetype(zone, zpfn(zone, page)) == old_mt);
	list_move_tail(&page->buddy_list, &area->free_list[new_mt]);
	account_freepages(zone, -(1L << order), old_mt);
	account_freepages(zone, 1L << order, new_mt);
}

/* Take a free block off its list and make its first page an ordinary page again. */
static inline void __del_page_from_free_list(struct page *page, struct zone *zone, unsigned order,
					     int mt)
{
	assert((int)get_pfnblock_migratetype(zone, zpfn(zone, page)) == mt);
	list_del(&page->buddy_list);
	__ClearPageBuddy(page);
	set_page_private(page, 0);
	zone->free_area[order].nr_free--;
}

static inline void del_page_from_free_list(struct page *page, struct zone *zone, unsigned order,
					   int mt)
{
	__del_page_from_free_list(page, zone, order, mt);
	account_freepages(zone, -(1L << order), mt);
}

static inline struct page *get_page_from_free_area(struct free_area *area, int mt)
{
	return list_first_entry_or_null(&area->free_list[mt], struct page, buddy_list);
}

static inline bool free_area_empty(const struct free_area *area, int mt)
{
	return list_empty(&area->free_list[mt]);
}

/* ---- merging (__free_one_page) --------------------------------------------------------------- */

/*
 * Is the block of `order` at buddy_pfn a free buddy of the block at pfn? It must be a PageBuddy
 * of the same order in the same zone (page_is_buddy). Frames beyond RAM have no struct page and
 * are never buddies.
 */
static struct page *find_buddy_page_pfn(struct pglist_data *pgdat, uint64_t pfn, unsigned order,
					uint64_t *buddy_pfn_out)
{
	uint64_t buddy_pfn = pfn ^ (1ULL << order);	/* __find_buddy_pfn */

	if (buddy_pfn_out)
		*buddy_pfn_out = buddy_pfn;
	if (!pfn_valid(pgdat, buddy_pfn) || !pfn_valid(pgdat, pfn))
		return NULL;

	struct page *buddy = pfn_to_page(pgdat, buddy_pfn);
	if (!PageBuddy(buddy) || buddy_order(buddy) != order)
		return NULL;
	if (pfn_zonenum(pgdat, pfn) != pfn_zonenum(pgdat, buddy_pfn))	/* page_zone_id check */
		return NULL;
	if (page_count(buddy) != 0)
		bad_page(pgdat, buddy, "free buddy with nonzero _refcount");
	return buddy;
}

/*
 * If the block just freed is not at the top orders, and the buddy of the block one order up is
 * free, the pair will likely merge soon: put the block at the tail of its list so it is not split
 * again first.
 */
static bool buddy_merge_likely(struct pglist_data *pgdat, uint64_t pfn, uint64_t buddy_pfn,
			       unsigned order)
{
	if (order >= MAX_PAGE_ORDER - 1)
		return false;
	uint64_t higher_page_pfn = buddy_pfn & pfn;
	return find_buddy_page_pfn(pgdat, higher_page_pfn, order + 1, NULL) != NULL;
}

/*
 * Give the block of 2^order pages at pfn (of pageblock type mt) to the free lists, merging it with
 * its free buddies as far as possible. The block must be inside one pageblock when
 * order < pageblock_order (split_large_buddy sees to that).
 */
static void __free_one_page(struct page *page, uint64_t pfn, struct zone *zone, unsigned order,
			    int mt, fpi_t fpi_flags)
{
	struct pglist_data *pgdat = zone_pgdat_(zone);
	uint64_t buddy_pfn = 0;

	assert((pfn & ((1ULL << order) - 1)) == 0 && "__free_one_page: block not aligned");
	assert(zone_spans_pfn(zone, pfn) && zone_spans_pfn(zone, pfn + (1ULL << order) - 1));

	account_freepages(zone, 1L << order, mt);

	while (order < MAX_PAGE_ORDER) {
		int buddy_mt = mt;
		struct page *buddy = find_buddy_page_pfn(pgdat, pfn, order, &buddy_pfn);

		if (!buddy)
			break;
		if (order >= pb_order(zone)) {
			/* pageblocks of types without fallbacks (HIGHATOMIC) keep to themselves */
			buddy_mt = get_pfnblock_migratetype(zone, buddy_pfn);
			if (mt != buddy_mt &&
			    (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
				break;
		}
		__del_page_from_free_list(buddy, zone, order, buddy_mt);
		if (buddy_mt != mt)
			change_pageblock_range(zone, buddy_pfn, order, mt);	/* match the buddy */
		zone->stats.merges++;

		uint64_t combined_pfn = buddy_pfn & pfn;
		page += (ptrdiff_t)(combined_pfn - pfn);
		pfn = combined_pfn;
		order++;
	}

	set_buddy_order(page, order);

	bool to_tail;
	if (fpi_flags & FPI_TO_TAIL)
		to_tail = true;
	else
		to_tail = buddy_merge_likely(pgdat, pfn, buddy_pfn, order);
	__add_to_free_list(page, zone, order, mt, to_tail);
}

/* Free a block that may span several pageblocks one pageblock at a time (split_large_buddy). */
static void split_large_buddy(struct zone *zone, struct page *page, uint64_t pfn, unsigned order,
			      fpi_t fpi)
{
	uint64_t end = pfn + (1ULL << order);

	assert(!PageBuddy(page));
	if (order > pb_order(zone))
		order = pb_order(zone);
	for (;;) {
		int mt = get_pfnblock_migratetype(zone, pfn);

		__free_one_page(page, pfn, zone, order, mt, fpi);
		pfn += 1ULL << order;
		if (pfn == end)
			break;
		page = pfn_to_page(zone_pgdat_(zone), pfn);
	}
}

static void free_one_page(struct zone *zone, struct page *page, uint64_t pfn, unsigned order,
			  fpi_t fpi_flags)
{
	split_large_buddy(zone, page, pfn, order, fpi_flags);
}

/* ---- splitting and taking blocks ------------------------------------------------------------- */

/*
 * The block at `page` of order `high` has been taken off its list; keep its first 2^low pages
 * and give back the rest: each halving puts the upper half at the head of the list one order
 * down. Returns the number of pages given back.
 */
static unsigned long expand(struct zone *zone, struct page *page, unsigned low, unsigned high,
			    int mt)
{
	unsigned long size = 1UL << high;
	unsigned long nr_added = 0;

	while (high > low) {
		high--;
		size >>= 1;
		__add_to_free_list(&page[size], zone, high, mt, false);
		set_buddy_order(&page[size], high);
		nr_added += size;
		zone->stats.splits++;
		zone->zone_pgdat->stats.splits++;
	}
	return nr_added;
}

static void page_del_and_expand(struct zone *zone, struct page *page, unsigned low, unsigned high,
				int mt)
{
	long nr_pages = 1L << high;

	__del_page_from_free_list(page, zone, high, mt);
	nr_pages -= (long)expand(zone, page, low, high, mt);
	account_freepages(zone, -nr_pages, mt);
}

/* The smallest free block of migratetype mt that fits order, split down to order; or NULL. */
static struct page *__rmqueue_smallest(struct zone *zone, unsigned order, int mt)
{
	for (unsigned current_order = order; current_order < NR_PAGE_ORDERS; current_order++) {
		struct free_area *area = &zone->free_area[current_order];
		struct page *page = get_page_from_free_area(area, mt);

		if (!page)
			continue;
		page_del_and_expand(zone, page, order, current_order, mt);
		return page;
	}
	return NULL;
}

/*
 * Change the type of the pageblock at start_pfn to new_mt and move its free blocks to new_mt's
 * lists (at the tail). Returns the number of free pages moved.
 */
static unsigned long __move_freepages_block(struct zone *zone, uint64_t start_pfn, int old_mt,
					    int new_mt)
{
	struct pglist_data *pgdat = zone_pgdat_(zone);
	uint64_t end_pfn = start_pfn + pageblock_nr_pages(pgdat);
	unsigned long pages_moved = 0;

	assert((start_pfn & (pageblock_nr_pages(pgdat) - 1)) == 0);
	for (uint64_t pfn = start_pfn; pfn < end_pfn;) {
		struct page *page = pfn_to_page(pgdat, pfn);

		if (!PageBuddy(page)) {
			pfn++;
			continue;
		}
		unsigned order = buddy_order(page);
		move_to_free_list(page, zone, order, old_mt, new_mt);
		pfn += 1ULL << order;
		pages_moved += 1UL << order;
	}
	set_pageblock_migratetype(zone, start_pfn, new_mt);
	return pages_moved;
}

/*
 * Find the pageblock holding pfn. Refuse (false) if it is not wholly inside the zone. With
 * num_free, count its free pages and its movable (here: PG_lru) allocated pages.
 */
static bool prep_move_freepages_block(struct zone *zone, uint64_t pfn, uint64_t *start_pfn,
				      unsigned long *num_free, unsigned long *num_movable)
{
	struct pglist_data *pgdat = zone_pgdat_(zone);
	uint64_t start = pfn & ~(uint64_t)(pageblock_nr_pages(pgdat) - 1);
	uint64_t end = start + pageblock_nr_pages(pgdat);

	if (!zone_spans_pfn(zone, start) || !zone_spans_pfn(zone, end - 1))
		return false;
	*start_pfn = start;
	if (num_free) {
		*num_free = 0;
		*num_movable = 0;
		for (pfn = start; pfn < end;) {
			const struct page *page = pfn_to_page(pgdat, pfn);

			if (PageBuddy(page)) {
				unsigned long nr = 1UL << buddy_order(page);
				*num_free += nr;
				pfn += nr;
				continue;
			}
			if (PageLRU(page))	/* Linux also counts __PageMovable() pages */
				(*num_movable)++;
			pfn++;
		}
	}
	return true;
}

/*
 * May a fallback take a whole pageblock for start_mt? Always for big blocks; for unmovable and
 * reclaimable requests at any size (they would pollute the block anyway).
 */
static bool can_steal_fallback(const struct zone *zone, unsigned order, int start_mt)
{
	if (order >= pb_order(zone))
		return true;
	return order >= pb_order(zone) / 2 || start_mt == MIGRATE_RECLAIMABLE ||
	       start_mt == MIGRATE_UNMOVABLE;
	/* page_group_by_mobility_disabled is never set in this model */
}

/*
 * Claim the pageblock of the fallback block `page` (order current_order, on its pageblock's list)
 * for start_type and allocate `order` from it. A block of >= pageblock_order changes type whole.
 * A smaller one converts its pageblock only if free plus compatible pages make at least half of
 * it. Returns the allocated page, or NULL (nothing changed).
 */
static struct page *try_to_steal_block(struct zone *zone, struct page *page, unsigned current_order,
				       unsigned order, int start_type, unsigned alloc_flags)
{
	uint64_t pfn = zpfn(zone, page);
	int block_type = get_pfnblock_migratetype(zone, pfn);
	unsigned long free_pages, movable_pages, alike_pages;
	uint64_t start_pfn;

	(void)alloc_flags;
	if (block_type == MIGRATE_HIGHATOMIC)
		return NULL;

	if (current_order >= pb_order(zone)) {
		del_page_from_free_list(page, zone, current_order, block_type);
		change_pageblock_range(zone, pfn, current_order, start_type);
		unsigned long nr_added = expand(zone, page, order, current_order, start_type);
		account_freepages(zone, (long)nr_added, start_type);
		return page;
	}

	/* not modelled: boost_watermark(zone) and waking kswapd under ALLOC_KSWAPD (no reclaim) */

	if (!prep_move_freepages_block(zone, pfn, &start_pfn, &free_pages, &movable_pages))
		return NULL;

	if (start_type == MIGRATE_MOVABLE)
		alike_pages = movable_pages;
	else if (block_type == MIGRATE_MOVABLE)
		/* unmovable/reclaimable into a movable block: all non-movable pages are alike */
		alike_pages = pageblock_nr_pages(zone->zone_pgdat) - (free_pages + movable_pages);
	else
		alike_pages = 0;

	if (free_pages + alike_pages >= (1UL << (pb_order(zone) - 1))) {
		__move_freepages_block(zone, start_pfn, block_type, start_type);
		return __rmqueue_smallest(zone, order, start_type);
	}
	return NULL;
}

/*
 * The first fallback type of `migratetype` with a block in `area`, or -1. *can_steal says whether
 * the pageblock may be claimed.
 */
static int find_suitable_fallback(const struct zone *zone, const struct free_area *area,
				  unsigned order, int migratetype, bool only_stealable,
				  bool *can_steal)
{
	if (area->nr_free == 0)
		return -1;
	*can_steal = false;
	for (int i = 0; i < MIGRATE_PCPTYPES - 1; i++) {
		int fallback_mt = fallbacks[migratetype][i];

		if (free_area_empty(area, fallback_mt))
			continue;
		if (can_steal_fallback(zone, order, migratetype))
			*can_steal = true;
		if (!only_stealable)
			return fallback_mt;
		if (*can_steal)
			return fallback_mt;
	}
	return -1;
}

/*
 * Allocate by claiming a whole fallback pageblock for start_mt, trying the largest free blocks
 * first (they roughly mark the emptiest pageblocks). Under ALLOC_NOFRAGMENT only blocks of at
 * least pageblock_order are considered.
 */
static struct page *__rmqueue_claim(struct zone *zone, int order, int start_mt, unsigned alloc_flags)
{
	int min_order = order;
	bool can_steal;

	if (order < (int)pb_order(zone) && (alloc_flags & ALLOC_NOFRAGMENT))
		min_order = (int)pb_order(zone);

	for (int current_order = MAX_PAGE_ORDER; current_order >= min_order; current_order--) {
		struct free_area *area = &zone->free_area[current_order];
		int fallback_mt = find_suitable_fallback(zone, area, (unsigned)current_order, start_mt,
							 false, &can_steal);
		if (fallback_mt == -1)
			continue;
		if (!can_steal)
			break;

		struct page *page = get_page_from_free_area(area, fallback_mt);
		page = try_to_steal_block(zone, page, (unsigned)current_order, (unsigned)order,
					  start_mt, alloc_flags);
		if (page) {
			zone->stats.fallback_claims++;
			return page;
		}
	}
	return NULL;
}

/* Allocate the smallest fallback block that fits, leaving its pageblock's type alone. */
static struct page *__rmqueue_steal(struct zone *zone, int order, int start_mt)
{
	bool can_steal;

	for (int current_order = order; current_order < NR_PAGE_ORDERS; current_order++) {
		struct free_area *area = &zone->free_area[current_order];
		int fallback_mt = find_suitable_fallback(zone, area, (unsigned)current_order, start_mt,
							 false, &can_steal);
		if (fallback_mt == -1)
			continue;

		struct page *page = get_page_from_free_area(area, fallback_mt);
		page_del_and_expand(zone, page, (unsigned)order, (unsigned)current_order, fallback_mt);
		zone->stats.fallback_steals++;
		return page;
	}
	return NULL;
}

/*
 * Take a block from the zone's buddy lists: own type first, then claim, then steal (CMA is not
 * configured). *mode remembers which step worked, so that rmqueue_bulk's next round starts there:
 * after a steal, the own lists are known to be empty; a claim refilled them.
 */
enum rmqueue_mode { RMQUEUE_NORMAL, RMQUEUE_CLAIM, RMQUEUE_STEAL };

static struct page *__rmqueue(struct zone *zone, unsigned order, int migratetype,
			      unsigned alloc_flags, enum rmqueue_mode *mode)
{
	struct page *page;

	switch (*mode) {
	case RMQUEUE_NORMAL:
		page = __rmqueue_smallest(zone, order, migratetype);
		if (page)
			return page;
		/* fall through */
	case RMQUEUE_CLAIM:
		page = __rmqueue_claim(zone, (int)order, migratetype, alloc_flags);
		if (page) {
			*mode = RMQUEUE_NORMAL;
			return page;
		}
		/* fall through */
	case RMQUEUE_STEAL:
		if (!(alloc_flags & ALLOC_NOFRAGMENT)) {
			page = __rmqueue_steal(zone, (int)order, migratetype);
			if (page) {
				*mode = RMQUEUE_STEAL;
				return page;
			}
		}
	}
	return NULL;
}

static struct page *rmqueue_buddy(struct zone *zone, unsigned order, unsigned alloc_flags,
				  int migratetype)
{
	struct page *page = NULL;
	enum rmqueue_mode rmqm = RMQUEUE_NORMAL;

	if (alloc_flags & ALLOC_HIGHATOMIC)
		page = __rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC);
	if (!page) {
		page = __rmqueue(zone, order, migratetype, alloc_flags, &rmqm);
		/* OOM victims and atomic requests may dip into the HIGHATOMIC reserve */
		if (!page && (alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK)))
			page = __rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC);
	}
	return page;
}

/* ---- per-CPU page lists ---------------------------------------------------------------------- */

/* Orders that go through the pcp lists: the cheap ones, and the PMD (THP) order. */
static inline bool pcp_allowed_order(const struct pglist_data *pgdat, unsigned order)
{
	return order <= PAGE_ALLOC_COSTLY_ORDER || order == pgdat->pageblock_order;
}

static inline int order_to_pindex(int migratetype, unsigned order)
{
	if (order > PAGE_ALLOC_COSTLY_ORDER)	/* THP: one list for movable, one for the rest */
		return NR_LOWORDER_PCP_LISTS + (migratetype == MIGRATE_MOVABLE);
	return MIGRATE_PCPTYPES * (int)order + migratetype;
}

static inline unsigned pindex_to_order(const struct pglist_data *pgdat, int pindex)
{
	if (pindex >= NR_LOWORDER_PCP_LISTS)
		return pgdat->pageblock_order;
	return (unsigned)(pindex / MIGRATE_PCPTYPES);
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline int min_int(int a, int b) { return a < b ? a : b; }

/*
 * Take `count` blocks of `order` from the buddy lists, one __rmqueue() at a time, onto the tail
 * of a pcp list (so it is in pfn order when expand() split one big block). Returns how many.
 */
static int rmqueue_bulk(struct zone *zone, unsigned order, int count, struct list_head *list,
			int migratetype, unsigned alloc_flags)
{
	enum rmqueue_mode rmqm = RMQUEUE_NORMAL;
	int i;

	for (i = 0; i < count; i++) {
		struct page *page = __rmqueue(zone, order, migratetype, alloc_flags, &rmqm);

		if (!page)
			break;
		list_add_tail(&page->pcp_list, list);
	}
	zone->stats.pcp_refills++;
	zone->stats.pcp_refill_pages += (unsigned long)i << order;
	return i;
}

/*
 * How many blocks a refill takes (nr_pcp_alloc): batch, doubled for each order-0 refill since the
 * last free (alloc_factor, up to 2^PCP_BATCH_SCALE_MAX), capped by the room below high; for
 * order > 0, batch >> order but at least 2. A boot pageset (high < batch) takes one.
 */
static int nr_pcp_alloc(struct per_cpu_pages *pcp, struct zone *zone, unsigned order)
{
	int base_batch = pcp->batch, batch, max_nr_alloc;
	int high_min = pcp->high_min, high_max = pcp->high_max;
	int high = pcp->high = clamp_int(pcp->high, high_min, high_max);

	if (high < base_batch)
		return 1;
	batch = order ? base_batch : base_batch << pcp->alloc_factor;

	/* a larger high would have avoided this refill: grow it, unless memory is short */
	if (high_min != high_max && !(zone->flags & ZONE_BELOW_HIGH))
		high = pcp->high = min_int(high + base_batch, high_max);

	if (!order) {
		max_nr_alloc = max_int(high - pcp->count - base_batch, base_batch);
		if (batch <= max_nr_alloc && pcp->alloc_factor < PCP_BATCH_SCALE_MAX)
			pcp->alloc_factor++;
		batch = min_int(batch, max_nr_alloc);
	}
	if (batch > 1)
		batch = max_int(batch >> order, 2);
	return batch;
}

static struct page *rmqueue_pcplist(struct zone *zone, unsigned order, int migratetype,
				    unsigned alloc_flags)
{
	struct per_cpu_pages *pcp = &zone->pcp;
	struct list_head *list = &pcp->lists[order_to_pindex(migratetype, order)];

	pcp->free_count >>= 1;	/* allocating: later frees drain in smaller chunks */
	if (list_empty(list)) {
		int alloced = rmqueue_bulk(zone, order, nr_pcp_alloc(pcp, zone, order), list,
					   migratetype, alloc_flags);

		pcp->count += alloced << order;
		if (list_empty(list))
			return NULL;
	}
	struct page *page = list_first_entry(list, struct page, pcp_list);
	list_del(&page->pcp_list);
	pcp->count -= 1 << order;
	zone->stats.pcp_alloc++;
	return page;
}

/*
 * Give `count` pages from the pcp lists back to the buddy lists (free_pcppages_bulk): lists are
 * taken round-robin starting with pindex, each from its tail (the coldest block).
 */
static void free_pcppages_bulk(struct zone *zone, int count, struct per_cpu_pages *pcp, int pindex)
{
	struct pglist_data *pgdat = zone_pgdat_(zone);

	count = min_int(pcp->count, count);
	pindex = pindex - 1;
	if (count > 0)
		zone->stats.pcp_drains++;
	while (count > 0) {
		struct list_head *list;

		do {
			if (++pindex > NR_PCP_LISTS - 1)
				pindex = 0;
			list = &pcp->lists[pindex];
		} while (list_empty(list));

		unsigned order = pindex_to_order(pgdat, pindex);
		int nr_pages = 1 << order;
		do {
			struct page *page = list_last_entry(list, struct page, pcp_list);
			uint64_t pfn = page_to_pfn(pgdat, page);
			int mt = get_pfnblock_migratetype(zone, pfn);

			list_del(&page->pcp_list);
			count -= nr_pages;
			pcp->count -= nr_pages;
			zone->stats.pcp_drain_pages += (unsigned long)nr_pages;
			__free_one_page(page, pfn, zone, order, mt, FPI_NONE);
		} while (count > 0 && !list_empty(list));
	}
}

/* Pages a drain frees (nr_pcp_free): at least batch, leaving batch; more after many frees. */
static int nr_pcp_free(struct per_cpu_pages *pcp, int batch, int high, bool free_high)
{
	if (free_high)
		return min_int(pcp->count, batch << PCP_BATCH_SCALE_MAX);
	if (high < batch)	/* boot pageset */
		return 1;
	return clamp_int(pcp->free_count, batch, high - batch);
}

/* The high mark a free is checked against, auto-tuning pcp->high (nr_pcp_high). */
static int nr_pcp_high(struct per_cpu_pages *pcp, struct zone *zone, int batch, bool free_high)
{
	int high_min = pcp->high_min, high_max = pcp->high_max;
	int high = pcp->high = clamp_int(pcp->high, high_min, high_max);

	if (!high)
		return 0;
	if (free_high) {
		pcp->high = max_int(high - (batch << PCP_BATCH_SCALE_MAX), high_min);
		return 0;
	}
	/* ZONE_RECLAIM_ACTIVE is never set: no reclaim */
	if (high_min == high_max)
		return high;
	if (zone->flags & ZONE_BELOW_HIGH) {
		int free_count = max_int(pcp->free_count, batch);

		pcp->high = max_int(high - free_count, high_min);
		high = max_int(pcp->count, high_min);
	} else if (pcp->count >= high) {
		int need_high = pcp->free_count + batch;

		if (pcp->high < need_high)
			pcp->high = clamp_int(need_high, high_min, high_max);
	}
	return high;
}

static bool zone_watermark_ok(struct zone *z, unsigned order, unsigned long mark,
			      int highest_zoneidx, unsigned alloc_flags);

static void free_unref_page_commit(struct zone *zone, struct per_cpu_pages *pcp, struct page *page,
				   int migratetype, unsigned order)
{
	int pindex = order_to_pindex(migratetype, order);
	int batch = pcp->batch;
	bool free_high = false;

	pcp->alloc_factor >>= 1;	/* freeing: later refills take smaller batches */
	list_add(&page->pcp_list, &pcp->lists[pindex]);
	pcp->count += 1 << order;

	/* many high-order (non-THP) frees in a row: drain them rather than hoard them */
	if (order && order <= PAGE_ALLOC_COSTLY_ORDER) {
		free_high = pcp->free_count >= batch && (pcp->flags & PCPF_PREV_FREE_HIGH_ORDER) &&
			    (!(pcp->flags & PCPF_FREE_HIGH_BATCH) || pcp->count >= batch);
		pcp->flags |= PCPF_PREV_FREE_HIGH_ORDER;
	} else if (pcp->flags & PCPF_PREV_FREE_HIGH_ORDER) {
		pcp->flags &= (uint8_t)~PCPF_PREV_FREE_HIGH_ORDER;
	}
	if (pcp->free_count < (batch << PCP_BATCH_SCALE_MAX))
		pcp->free_count = (short)(pcp->free_count + (1 << order));
	int high = nr_pcp_high(pcp, zone, batch, free_high);
	if (pcp->count >= high) {
		free_pcppages_bulk(zone, nr_pcp_free(pcp, batch, high, free_high), pcp, pindex);
		if ((zone->flags & ZONE_BELOW_HIGH) &&
		    zone_watermark_ok(zone, 0, zone->_watermark[WMARK_HIGH], ZONE_MOVABLE, 0))
			zone->flags &= ~(unsigned long)ZONE_BELOW_HIGH;
	}
}

static void drain_zone_pages(struct zone *zone)
{
	struct per_cpu_pages *pcp = &zone->pcp;

	if (pcp->count)
		free_pcppages_bulk(zone, pcp->count, pcp, 0);
}

void drain_all_pages(struct pglist_data *pgdat)
{
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		drain_zone_pages(&pgdat->node_zones[zt]);
}

unsigned long pcp_pages(const struct pglist_data *pgdat)
{
	unsigned long n = 0;

	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		n += (unsigned long)pgdat->node_zones[zt].pcp.count;
	return n;
}

/* ---- taking a block: pcp or buddy, watermarks ------------------------------------------------ */

static struct page *rmqueue(struct zone *zone, unsigned order, unsigned alloc_flags, int migratetype)
{
	struct page *page = NULL;

	if (pcp_allowed_order(zone_pgdat_(zone), order))
		page = rmqueue_pcplist(zone, order, migratetype, alloc_flags);
	if (!page)
		page = rmqueue_buddy(zone, order, alloc_flags, migratetype);
	if (page)
		zone->stats.alloc[order]++;
	else
		zone->stats.alloc_fail++;
	return page;
}

/* Free pages the allocation may not count: the part of a block it cannot use, others' reserves. */
static inline long __zone_watermark_unusable_free(const struct zone *z, unsigned order,
						  unsigned alloc_flags)
{
	long unusable_free = (1L << order) - 1;

	if (!(alloc_flags & ALLOC_RESERVES))
		unusable_free += (long)z->nr_free_highatomic;
	return unusable_free;	/* no CMA */
}

/*
 * __zone_watermark_ok: free pages, less the unusable ones, must be above mark (lowered for
 * reserve users) plus the lowmem_reserve for the highest zone the allocation may use; for
 * order > 0 a free block of at least that order must be on a list the allocation may take.
 */
static bool __zone_watermark_ok(const struct zone *z, unsigned order, unsigned long mark,
				int highest_zoneidx, unsigned alloc_flags, long free_pages)
{
	long min = (long)mark;

	free_pages -= __zone_watermark_unusable_free(z, order, alloc_flags);
	if (alloc_flags & ALLOC_RESERVES) {
		if (alloc_flags & ALLOC_MIN_RESERVE) {
			min -= min / 2;			/* __GFP_HIGH */
			if (alloc_flags & ALLOC_NON_BLOCK)
				min -= min / 4;		/* GFP_ATOMIC */
		}
		if (alloc_flags & ALLOC_OOM)
			min -= min / 2;
	}
	if (free_pages <= min + z->lowmem_reserve[highest_zoneidx])
		return false;
	if (!order)
		return true;
	for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
		const struct free_area *area = &z->free_area[o];

		if (!area->nr_free)
			continue;
		for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
			if (!free_area_empty(area, mt))
				return true;
		if ((alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) &&
		    !free_area_empty(area, MIGRATE_HIGHATOMIC))
			return true;
	}
	return false;
}

static bool zone_watermark_ok(struct zone *z, unsigned order, unsigned long mark,
			      int highest_zoneidx, unsigned alloc_flags)
{
	return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags,
				   (long)zone_page_state(z, NR_FREE_PAGES));
}

/* The order-0 shortcut of the check, then the full one (watermark boosts are always 0 here). */
static bool zone_watermark_fast(const struct zone *z, unsigned order, unsigned long mark,
				int highest_zoneidx, unsigned alloc_flags)
{
	long free_pages = (long)zone_page_state(z, NR_FREE_PAGES);

	if (!order) {
		long reserved = __zone_watermark_unusable_free(z, 0, alloc_flags);
		long usable_free = free_pages - (reserved < free_pages ? reserved : free_pages);

		if (usable_free > (long)mark + z->lowmem_reserve[highest_zoneidx])
			return true;
	}
	return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages);
}

/* Check a block leaving the allocator; any page not in its pristine state is a bug. */
static void check_new_pages(const struct pglist_data *pgdat, struct page *page, unsigned order)
{
	for (unsigned long i = 0; i < (1UL << order); i++) {
		const struct page *p = page + i;

		if (p->page_type != 0)
			bad_page(pgdat, p, "nonzero mapcount (or page type) on allocation");
		if (p->_refcount != 0)
			bad_page(pgdat, p, "nonzero _refcount on allocation");
		if (p->flags & PAGE_FLAGS_CHECK_AT_PREP)
			bad_page(pgdat, p, "PAGE_FLAGS_CHECK_AT_PREP flag(s) set");
	}
}

static void prep_new_page(struct pglist_data *pgdat, struct page *page, unsigned order, gfp_t gfp)
{
	check_new_pages(pgdat, page, order);
	set_page_count(page, 1);			/* set_page_refcounted */
	if ((gfp & __GFP_ZERO) && pgdat->phys)		/* kernel_init_pages */
		memset(pgdat->phys + (page_to_pfn(pgdat, page) << PAGE_SHIFT), 0, PAGE_SIZE << order);
	if (order && (gfp & __GFP_COMP)) {		/* prep_compound_page, head only */
		SetPageHead(page);
		page->flags |= (uint32_t)order << PAGE_COMPOUND_ORDER_SHIFT;
	}
}

/*
 * Walk the zonelist from the preferred zone, skipping zones above highest_zoneidx, and take the
 * first block a zone that passes its watermark check can give. A zone found below its high
 * watermark is flagged ZONE_BELOW_HIGH (which shrinks its pcp high). A first pass under
 * ALLOC_NOFRAGMENT is followed by one without.
 */
static struct page *get_page_from_freelist(struct pglist_data *pgdat, gfp_t gfp, unsigned order,
					   unsigned alloc_flags, const struct alloc_context *ac)
{
	for (;;) {
		bool no_fallback = alloc_flags & ALLOC_NOFRAGMENT;

		for (struct zoneref *z = ac->preferred_zoneref; z->zone;
		     z = next_zones_zonelist(z + 1, ac->highest_zoneidx)) {
			struct zone *zone = z->zone;
			int hz = (int)ac->highest_zoneidx;

			if (!(zone->flags & ZONE_BELOW_HIGH)) {
				if (zone_watermark_fast(zone, order, zone->_watermark[WMARK_HIGH], hz,
							alloc_flags))
					goto try_this_zone;
				zone->flags |= ZONE_BELOW_HIGH;
			}
			if (!zone_watermark_fast(zone, order,
						 zone->_watermark[alloc_flags & ALLOC_WMARK_MASK], hz,
						 alloc_flags)) {
				if (!(alloc_flags & ALLOC_NO_WATERMARKS)) {
					zone->stats.wmark_refusals++;
					continue;	/* node_reclaim_mode 0: next zone */
				}
			}
try_this_zone:;
			struct page *page = rmqueue(zone, order, alloc_flags, ac->migratetype);
			if (page) {
				prep_new_page(pgdat, page, order, gfp);
				return page;
			}
		}
		if (!no_fallback)
			return NULL;
		alloc_flags &= ~ALLOC_NOFRAGMENT;	/* all zones fragmented: allow mixing */
	}
}

/*
 * ALLOC_KSWAPD from __GFP_KSWAPD_RECLAIM, and ALLOC_NOFRAGMENT when the preferred zone is
 * Normal on an architecture with DMA32 (only spreading between Normal and DMA32 is worth it).
 */
static unsigned alloc_flags_nofragment(const struct pglist_data *pgdat, const struct zone *zone,
				       gfp_t gfp)
{
	unsigned alloc_flags = gfp & __GFP_KSWAPD_RECLAIM ? ALLOC_KSWAPD : 0;

	if (!pgdat->x86_64 || !zone)	/* CONFIG_ZONE_DMA32 */
		return alloc_flags;
	if (zone_idx(zone) != ZONE_NORMAL)
		return alloc_flags;
	return alloc_flags | ALLOC_NOFRAGMENT;	/* UMA: no populated-DMA32 check needed */
}

/* The slow path's flags (gfp_to_alloc_flags): the min mark, and reserves by gfp. */
static unsigned gfp_to_alloc_flags(gfp_t gfp, unsigned order)
{
	unsigned alloc_flags = ALLOC_WMARK_MIN;

	if (gfp & __GFP_HIGH)
		alloc_flags |= ALLOC_MIN_RESERVE;
	if (gfp & __GFP_KSWAPD_RECLAIM)
		alloc_flags |= ALLOC_KSWAPD;
	if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC)) {
		alloc_flags |= ALLOC_NON_BLOCK;
		if (order > 0 && (alloc_flags & ALLOC_MIN_RESERVE))
			alloc_flags |= ALLOC_HIGHATOMIC;
	}
	return alloc_flags;
}

/*
 * __alloc_pages_slowpath without reclaim, compaction or OOM kill (the caller's OOM path does
 * that): wake-kswapd is a no-op; try at the min watermark with the reserves gfp grants
 * (__GFP_MEMALLOC: no watermarks); a caller that may reclaim finds nothing to reclaim, drains the
 * pcp lists and tries once more (__alloc_pages_direct_reclaim); then the allocation fails.
 */
static struct page *__alloc_pages_slowpath(struct pglist_data *pgdat, gfp_t gfp, unsigned order,
					   struct alloc_context *ac)
{
	unsigned alloc_flags = gfp_to_alloc_flags(gfp, order);

	pgdat->stats.slowpath++;
	if ((gfp & __GFP_MEMALLOC) && !(gfp & __GFP_NOMEMALLOC))
		alloc_flags = ALLOC_NO_WATERMARKS;	/* __gfp_pfmemalloc_flags */
	ac->preferred_zoneref = first_zones_zonelist(ac->zonelist, ac->highest_zoneidx);
	struct page *page = get_page_from_freelist(pgdat, gfp, order, alloc_flags, ac);
	if (page || !(gfp & __GFP_DIRECT_RECLAIM) || !pcp_pages(pgdat))
		return page;
	drain_all_pages(pgdat);
	return get_page_from_freelist(pgdat, gfp, order, alloc_flags, ac);
}

struct page *alloc_pages(struct pglist_data *pgdat, gfp_t gfp, unsigned order)
{
	if (order > MAX_PAGE_ORDER)
		return NULL;
	gfp &= __GFP_BITS_MASK;

	struct alloc_context ac = {
		.highest_zoneidx = gfp_zone(gfp, pgdat->x86_64),
		.zonelist = node_zonelist(pgdat, gfp),
		.migratetype = gfp_migratetype(gfp),
	};
	ac.preferred_zoneref = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx);

	unsigned long splits = pgdat->stats.splits;
	unsigned alloc_flags = ALLOC_WMARK_LOW |
			       alloc_flags_nofragment(pgdat, ac.preferred_zoneref->zone, gfp);
	struct page *page = get_page_from_freelist(pgdat, gfp, order, alloc_flags, &ac);

	if (!page)
		page = __alloc_pages_slowpath(pgdat, gfp, order, &ac);
	if (!page) {
		pgdat->stats.alloc_fail[order]++;
		return NULL;
	}
	if (pgdat->ops.event) {
		uint64_t pfn = page_to_pfn(pgdat, page);
		pgdat->ops.event(pgdat->ops.ctx, true, pfn, order, pfn_zonenum(pgdat, pfn),
				 ac.migratetype, pgdat->stats.splits - splits);
	}
	return page;
}

/* ---- freeing -------------------------------------------------------------------------------- */

/* Check and clean a block entering the allocator (free_pages_prepare). */
static void free_pages_prepare(struct pglist_data *pgdat, struct page *page, unsigned order)
{
	if (PageHead(page) && compound_order(page) != order)
		bad_page(pgdat, page, "freed with an order other than its compound order");
	for (unsigned long i = 0; i < (1UL << order); i++) {
		struct page *p = page + i;

		if (p->page_type != 0)
			bad_page(pgdat, p, PageBuddy(p) ? "freeing a free page" :
				 "nonzero mapcount (or page type) at free");
		if (p->_refcount != 0)
			bad_page(pgdat, p, "nonzero _refcount at free");
		if (p->flags & PAGE_FLAGS_CHECK_AT_FREE)
			bad_page(pgdat, p, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
		if (p->flags & PAGE_FLAGS_CHECK_AT_PREP)	/* write only if needed: keeps mem_map lazy */
			p->flags &= ~PAGE_FLAGS_CHECK_AT_PREP;
	}
	page->private = 0;
}

/*
 * Free a block whose last reference is gone (free_unref_page): pcp orders go to the head of the
 * per-CPU list of the pageblock's type (HIGHATOMIC as movable), the others to the buddy lists.
 */
static void free_unref_page(struct pglist_data *pgdat, struct page *page, unsigned order)
{
	uint64_t pfn = page_to_pfn(pgdat, page);
	struct zone *zone = &pgdat->node_zones[pfn_zonenum(pgdat, pfn)];

	free_pages_prepare(pgdat, page, order);
	zone->stats.free[order]++;
	int mt = get_pfnblock_migratetype(zone, pfn);
	if (pgdat->ops.event)
		pgdat->ops.event(pgdat->ops.ctx, false, pfn, order, zone_idx(zone), mt, 0);
	if (!pcp_allowed_order(pgdat, order)) {
		free_one_page(zone, page, pfn, order, FPI_NONE);
		return;
	}
	if (mt >= MIGRATE_PCPTYPES)
		mt = MIGRATE_MOVABLE;
	free_unref_page_commit(zone, &zone->pcp, page, mt, order);
}

void __free_pages(struct pglist_data *pgdat, struct page *page, unsigned order)
{
	assert(order <= MAX_PAGE_ORDER);
	assert(page >= pgdat->mem_map && page < pgdat->mem_map + pgdat->node_spanned_pages);
	if (page_ref_count(page) <= 0)
		bad_page(pgdat, page, PageBuddy(page) ? "freeing a free page (double free)" :
			 "freeing a page with _refcount 0");

	bool head = PageHead(page);

	if (put_page_testzero(page)) {
		free_unref_page(pgdat, page, order);
	} else if (!head) {
		/* someone else holds the first page: free the rest, largest part first */
		while (order-- > 0)
			free_unref_page(pgdat, page + (1UL << order), order);
	}
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Where ZONE_MOVABLE starts for movablecore= on one node with one memory range [0, max_pfn)
 * (find_zone_movable_pfns_for_nodes): the request is rounded up to MAX_ORDER_NR_PAGES, the rest
 * is kernelcore, kernelcore is first satisfied below the lowest pfn of the highest zone, the
 * remainder inside it; the start is rounded up to MAX_ORDER_NR_PAGES. 0 = no ZONE_MOVABLE.
 */
static uint64_t find_zone_movable_pfn(uint64_t max_pfn, uint64_t movablecore_pages,
				      uint64_t usable_startpfn)
{
	uint64_t totalpages = max_pfn;
	uint64_t required_movablecore, required_kernelcore, zone_movable_pfn;

	if (!movablecore_pages)
		return 0;
	required_movablecore = (movablecore_pages + MAX_ORDER_NR_PAGES - 1) / MAX_ORDER_NR_PAGES *
			       MAX_ORDER_NR_PAGES;
	if (required_movablecore > totalpages)
		required_movablecore = totalpages;
	required_kernelcore = totalpages - required_movablecore;
	if (!required_kernelcore || required_kernelcore >= totalpages)
		return 0;

	/* pages below usable_startpfn count as kernelcore; the rest comes from the movable zone */
	if (usable_startpfn >= max_pfn) {
		zone_movable_pfn = max_pfn;
	} else {
		uint64_t remaining = required_kernelcore > usable_startpfn ?
				     required_kernelcore - usable_startpfn : 0;
		uint64_t size_pages = max_pfn - usable_startpfn;
		if (size_pages > remaining)
			size_pages = remaining;
		zone_movable_pfn = usable_startpfn + size_pages;
	}
	zone_movable_pfn = (zone_movable_pfn + MAX_ORDER_NR_PAGES - 1) / MAX_ORDER_NR_PAGES *
			   MAX_ORDER_NR_PAGES;
	return zone_movable_pfn >= max_pfn ? 0 : zone_movable_pfn;
}

/* Free [start, end) of one zone in the largest aligned blocks (__free_pages_memory). */
static void __free_pages_memory(struct zone *zone, uint64_t start, uint64_t end)
{
	struct pglist_data *pgdat = zone_pgdat_(zone);

	while (start < end) {
		unsigned order = start ? (unsigned)__builtin_ctzll(start) : MAX_PAGE_ORDER;

		if (order > MAX_PAGE_ORDER)
			order = MAX_PAGE_ORDER;
		while (start + (1ULL << order) > end)
			order--;
		/*
		 * __free_pages_core: the frames are already in the free state (calloc'd struct pages:
		 * refcount 0, not reserved), so only managed_pages changes before the free.
		 */
		zone->managed_pages += 1UL << order;
		free_one_page(zone, pfn_to_page(pgdat, start), start, order, FPI_TO_TAIL);
		start += 1ULL << order;
	}
}

/* An empty pageset with the boot values: high 0, batch 1 (per_cpu_pages_init). */
static void per_cpu_pages_init(struct per_cpu_pages *pcp)
{
	memset(pcp, 0, sizeof(*pcp));
	for (int i = 0; i < NR_PCP_LISTS; i++)
		INIT_LIST_HEAD(&pcp->lists[i]);
	pcp->high_min = pcp->high_max = BOOT_PAGESET_HIGH;
	pcp->batch = BOOT_PAGESET_BATCH;
}

/* Zonelist: populated zones, highest index first (build_zonerefs_node). */
static void build_zonelists(struct pglist_data *pgdat)
{
	struct zoneref *zr = pgdat->node_zonelists[ZONELIST_FALLBACK]._zonerefs;
	int n = 0;

	for (int zt = MAX_NR_ZONES - 1; zt >= 0; zt--) {
		struct zone *zone = &pgdat->node_zones[zt];
		if (populated_zone(zone)) {
			zr[n].zone = zone;
			zr[n].zone_idx = zt;
			n++;
		}
	}
	zr[n].zone = NULL;
	zr[n].zone_idx = 0;
}

int pgdat_init(struct pglist_data *pgdat, const struct page_alloc_config *cfg, char *err,
	       size_t errlen)
{
	if (!pgdat || !cfg)
		return fail(err, errlen, "pgdat_init: pgdat and cfg must not be NULL");
	memset(pgdat, 0, sizeof(*pgdat));

	const uint64_t page_mask = PAGE_SIZE - 1;
	const bool x86_64 = cfg->x86_64;
	const bool pae = !x86_64 && cfg->pae;
	const uint64_t max_bytes = x86_64 ? (1ULL << 40) : pae ? (1ULL << 36) : (1ULL << 32);
	const char *arch = x86_64 ? "x86-64 (model limit)" : pae ? "i386 PAE" : "i386 without PAE";

	if (cfg->mem_bytes & page_mask)
		return fail(err, errlen, "memory size %#" PRIx64 " is not a multiple of 4 KiB",
			    cfg->mem_bytes);
	if (cfg->mem_bytes < (1ULL << 20))
		return fail(err, errlen, "memory size %#" PRIx64 " is too small: at least 1 MiB",
			    cfg->mem_bytes);
	if (cfg->mem_bytes > max_bytes)
		return fail(err, errlen, "memory size %#" PRIx64 " is too big: %s allows at most %" PRIu64
			    " GiB", cfg->mem_bytes, arch, max_bytes >> 30);
	if (cfg->reserved_bytes & page_mask)
		return fail(err, errlen, "reserved size %#" PRIx64 " is not a multiple of 4 KiB",
			    cfg->reserved_bytes);
	if (cfg->reserved_bytes >= cfg->mem_bytes)
		return fail(err, errlen, "reserved size %#" PRIx64 " leaves no free memory of %#" PRIx64,
			    cfg->reserved_bytes, cfg->mem_bytes);

	uint64_t max_pfn = cfg->mem_bytes >> PAGE_SHIFT;
	uint64_t max_low_pfn = max_pfn;
	if (!x86_64) {
		uint64_t lowmem = cfg->lowmem_bytes ? cfg->lowmem_bytes : LOWMEM_DEFAULT_BYTES;
		if (lowmem & page_mask)
			return fail(err, errlen, "lowmem size %#" PRIx64 " is not a multiple of 4 KiB",
				    lowmem);
		if (lowmem <= (MAX_DMA_PFN << PAGE_SHIFT) || lowmem >= (1ULL << 32))
			return fail(err, errlen, "lowmem size %#" PRIx64 " must lie between 16 MiB and "
				    "4 GiB", lowmem);
		if (max_low_pfn > lowmem >> PAGE_SHIFT)	/* find_low_pfn_range */
			max_low_pfn = lowmem >> PAGE_SHIFT;
	}

	/* zone_sizes_init + free_area_init: each zone starts where the previous one ends */
	uint64_t zone_end[MAX_NR_ZONES] = { 0 };
	uint64_t dma_end = max_low_pfn < MAX_DMA_PFN ? max_low_pfn : MAX_DMA_PFN;
	zone_end[ZONE_DMA] = dma_end;
	zone_end[ZONE_DMA32] = x86_64 ? (max_low_pfn < MAX_DMA32_PFN ? max_low_pfn : MAX_DMA32_PFN) :
					dma_end;
	zone_end[ZONE_NORMAL] = max_low_pfn;
	zone_end[ZONE_HIGHMEM] = x86_64 ? max_low_pfn : max_pfn;
	uint64_t zone_start[MAX_NR_ZONES] = { 0 };
	for (int zt = ZONE_DMA32; zt < ZONE_MOVABLE; zt++)
		zone_start[zt] = zone_end[zt - 1];

	/* ZONE_MOVABLE comes out of the highest non-empty zone (find_usable_zone_for_movable) */
	int movable_zone = ZONE_HIGHMEM;
	while (movable_zone > ZONE_DMA && zone_end[movable_zone] <= zone_start[movable_zone])
		movable_zone--;
	uint64_t zone_movable_pfn = find_zone_movable_pfn(max_pfn, cfg->movablecore_bytes >> PAGE_SHIFT,
							  zone_start[movable_zone]);
	zone_start[ZONE_MOVABLE] = zone_end[ZONE_MOVABLE] = max_pfn;
	if (zone_movable_pfn) {		/* adjust_zone_range_for_zone_movable */
		zone_start[ZONE_MOVABLE] = zone_movable_pfn;
		for (int zt = ZONE_DMA; zt < ZONE_MOVABLE; zt++) {
			if (zone_start[zt] < zone_movable_pfn && zone_end[zt] > zone_movable_pfn)
				zone_end[zt] = zone_movable_pfn;
			else if (zone_start[zt] >= zone_movable_pfn)
				zone_start[zt] = zone_end[zt];
		}
	}

	pgdat->x86_64 = x86_64;
	pgdat->pae = pae;
	pgdat->watermark_scale_factor = 10;
	{
		static const int ratios[MAX_NR_ZONES] = LOWMEM_RESERVE_RATIO_DEFAULTS;
		memcpy(pgdat->lowmem_reserve_ratio, ratios, sizeof(ratios));
	}
	pgdat->pageblock_order = (x86_64 || pae) ? 9 : MAX_PAGE_ORDER;
	pgdat->max_low_pfn = max_low_pfn;
	pgdat->zone_movable_pfn = zone_movable_pfn;
	pgdat->node_start_pfn = 0;
	pgdat->node_spanned_pages = pgdat->node_present_pages = (unsigned long)max_pfn;
	pgdat->mem_map = calloc((size_t)max_pfn, sizeof(struct page));
	if (!pgdat->mem_map) {
		memset(pgdat, 0, sizeof(*pgdat));
		return fail(err, errlen, "out of host memory for mem_map (%" PRIu64 " struct pages)",
			    max_pfn);
	}

	/* free_area_init_core + memmap_init: empty lists, every aligned pageblock MOVABLE */
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		struct zone *zone = &pgdat->node_zones[zt];

		zone->zone_pgdat = pgdat;
		zone->name = zone_names[zt];
		zone->zone_start_pfn = zone_start[zt];
		zone->spanned_pages = (unsigned long)(zone_end[zt] - zone_start[zt]);
		zone->present_pages = zone->spanned_pages;
		for (int o = 0; o < NR_PAGE_ORDERS; o++)
			for (int mt = 0; mt < MIGRATE_TYPES; mt++)
				INIT_LIST_HEAD(&zone->free_area[o].free_list[mt]);
		per_cpu_pages_init(&zone->pcp);
		zone->pageset_high_min = zone->pageset_high_max = BOOT_PAGESET_HIGH;
		zone->pageset_batch = BOOT_PAGESET_BATCH;
		if (!zone->spanned_pages)
			continue;

		unsigned pb = pgdat->pageblock_order;
		size_t nblocks = (size_t)(((zone_end[zt] - 1) >> pb) - (zone_start[zt] >> pb) + 1);
		zone->pageblock_flags = calloc(nblocks, 1);	/* 0 = MIGRATE_UNMOVABLE */
		if (!zone->pageblock_flags) {
			pgdat_destroy(pgdat);
			return fail(err, errlen, "out of host memory for pageblock flags");
		}
		/*
		 * Only pageblock-aligned pfns inside the zone are marked: the partial pageblock at the
		 * start of an unaligned zone (i386 HighMem) stays UNMOVABLE, as in Linux with FLATMEM.
		 */
		uint64_t pfn = (zone_start[zt] + pageblock_nr_pages(pgdat) - 1) &
			       ~(uint64_t)(pageblock_nr_pages(pgdat) - 1);
		for (; pfn < zone_end[zt]; pfn += pageblock_nr_pages(pgdat))
			set_pageblock_migratetype(zone, pfn, MIGRATE_MOVABLE);
	}

	/* memblock reserved regions: PG_reserved, refcount 1, never freed */
	uint64_t reserved_pfn = cfg->reserved_bytes >> PAGE_SHIFT;
	pgdat->nr_reserved_pages = (unsigned long)reserved_pfn;
	for (uint64_t pfn = 0; pfn < reserved_pfn; pfn++) {
		struct page *page = &pgdat->mem_map[pfn];
		SetPageReserved(page);
		init_page_count(page);
	}

	/* memblock_free_all: the rest, zone by zone, to the tail of the lists */
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		struct zone *zone = &pgdat->node_zones[zt];
		uint64_t start = zone_start[zt] > reserved_pfn ? zone_start[zt] : reserved_pfn;

		if (start < zone_end[zt])
			__free_pages_memory(zone, start, zone_end[zt]);
		memset(&zone->stats, 0, sizeof(zone->stats));	/* count from the end of boot */
	}

	build_zonelists(pgdat);
	return 0;
}


/* ---- watermarks, lowmem_reserve, pageset sizes ------------------------------------------------ */

static bool is_highmem_idx(int zt) { return zt == ZONE_HIGHMEM; }

/* floor(sqrt(x)) (lib/math/int_sqrt.c computes the same) */
static unsigned long int_sqrt(unsigned long x)
{
	unsigned long r = 0, bit = 1UL << (sizeof(long) * 8 - 2);

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

static unsigned long rounddown_pow_of_two(unsigned long n)
{
	unsigned long p = 1;

	while (p <= n / 2)
		p <<= 1;
	return p;
}

int zone_batchsize_pages(unsigned long managed)
{
	/* ~0.1 % of the zone or 1 MiB, whichever is smaller, then /4 and *1.5 rounded to 2^n - 1 */
	long batch = (long)(managed >> 10);

	if (batch > (long)((1UL << 20) / PAGE_SIZE))
		batch = (long)((1UL << 20) / PAGE_SIZE);
	batch /= 4;
	if (batch < 1)
		batch = 1;
	batch = (long)rounddown_pow_of_two((unsigned long)(batch + batch / 2)) - 1;
	return (int)batch;
}

int zone_highsize_pages(unsigned long managed, unsigned long low_wmark, int batch, int nr_cpus,
			int high_fraction)
{
	unsigned long total_pages = high_fraction ? managed / (unsigned long)high_fraction : low_wmark;
	int high = (int)(total_pages / (unsigned long)(nr_cpus > 0 ? nr_cpus : 1));

	return max_int(high, batch << 2);
}

/*
 * zone_set_pageset_high_and_batch with percpu_pagelist_high_fraction 0 on one CPU: the split over
 * CPUs is cpumask_weight(node) + cpu_online = 1 + 0 when called from setup_per_zone_wmarks.
 */
static void zone_pcp_update(struct zone *zone)
{
	int batch = max_int(1, zone_batchsize_pages(zone->managed_pages));
	int high_min = zone_highsize_pages(zone->managed_pages, zone->_watermark[WMARK_LOW], batch, 1, 0);
	int high_max = zone_highsize_pages(zone->managed_pages, zone->_watermark[WMARK_LOW], batch, 1,
					   MIN_PERCPU_PAGELIST_HIGH_FRACTION);

	zone->pageset_high_min = high_min;
	zone->pageset_high_max = high_max;
	zone->pageset_batch = batch;
	zone->pcp.high_min = high_min;
	zone->pcp.high_max = high_max;
	zone->pcp.batch = batch;
}

/* totalreserve_pages: per zone, the largest lowmem_reserve plus the high mark, up to managed. */
static void calculate_totalreserve_pages(struct pglist_data *pgdat)
{
	unsigned long reserve_pages = 0;

	for (int i = 0; i < MAX_NR_ZONES; i++) {
		struct zone *zone = &pgdat->node_zones[i];
		long max = 0;
		unsigned long managed = zone->managed_pages;

		for (int j = i; j < MAX_NR_ZONES; j++)
			if (zone->lowmem_reserve[j] > max)
				max = zone->lowmem_reserve[j];
		max += (long)zone->_watermark[WMARK_HIGH];
		if ((unsigned long)max > managed)
			max = (long)managed;
		reserve_pages += (unsigned long)max;
	}
	pgdat->totalreserve_pages = reserve_pages;
}

/* lowmem_reserve[j] of zone i = managed pages of zones i+1..j / ratio[i] (0 when ratio is 0). */
static void setup_per_zone_lowmem_reserve(struct pglist_data *pgdat)
{
	for (int i = 0; i < MAX_NR_ZONES - 1; i++) {
		struct zone *zone = &pgdat->node_zones[i];
		int ratio = pgdat->lowmem_reserve_ratio[i];
		bool clear = !ratio || !zone->managed_pages;
		unsigned long managed_pages = 0;

		for (int j = i + 1; j < MAX_NR_ZONES; j++) {
			managed_pages += pgdat->node_zones[j].managed_pages;
			zone->lowmem_reserve[j] = clear ? 0 : (long)(managed_pages / (unsigned long)ratio);
		}
	}
	calculate_totalreserve_pages(pgdat);
}

/*
 * __setup_per_zone_wmarks: min_free_kbytes/4 pages shared out over the lowmem zones by managed
 * size; HighMem and Movable get clamp(managed/1024, 32, 128); the gaps min->low->high->promo are
 * max(share/4, managed * watermark_scale_factor / 10000). All zones, populated or not.
 */
static void __setup_per_zone_wmarks(struct pglist_data *pgdat)
{
	unsigned long pages_min = (unsigned long)pgdat->min_free_kbytes >> (PAGE_SHIFT - 10);
	unsigned long lowmem_pages = 0;

	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		if (!is_highmem_idx(zt) && zt != ZONE_MOVABLE)
			lowmem_pages += pgdat->node_zones[zt].managed_pages;

	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		struct zone *zone = &pgdat->node_zones[zt];
		uint64_t tmp = lowmem_pages ? (uint64_t)pages_min * zone->managed_pages / lowmem_pages : 0;

		if (is_highmem_idx(zt) || zt == ZONE_MOVABLE) {
			unsigned long min_pages = zone->managed_pages / 1024;

			if (min_pages < SWAP_CLUSTER_MAX)
				min_pages = SWAP_CLUSTER_MAX;
			if (min_pages > 128)
				min_pages = 128;
			zone->_watermark[WMARK_MIN] = min_pages;
		} else {
			zone->_watermark[WMARK_MIN] = (unsigned long)tmp;
		}
		/* mult_frac(managed, watermark_scale_factor, 10000) */
		uint64_t m = zone->managed_pages, f = (uint64_t)pgdat->watermark_scale_factor;
		uint64_t scaled = m / 10000 * f + m % 10000 * f / 10000;
		tmp = (tmp >> 2) > scaled ? tmp >> 2 : scaled;
		zone->watermark_boost = 0;
		zone->_watermark[WMARK_LOW] = zone->_watermark[WMARK_MIN] + (unsigned long)tmp;
		zone->_watermark[WMARK_HIGH] = zone->_watermark[WMARK_LOW] + (unsigned long)tmp;
		zone->_watermark[WMARK_PROMO] = zone->_watermark[WMARK_HIGH] + (unsigned long)tmp;
	}
	calculate_totalreserve_pages(pgdat);
}

void setup_per_zone_wmarks(struct pglist_data *pgdat, int min_free_kbytes)
{
	pgdat->min_free_kbytes = min_free_kbytes < 0 ? 0 : min_free_kbytes;
	__setup_per_zone_wmarks(pgdat);
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		zone_pcp_update(&pgdat->node_zones[zt]);
}

/*
 * calculate_min_free_kbytes: lowmem_kbytes = nr_free_buffer_pages() * 4, the pages above the high
 * mark in the zones GFP_USER may use (DMA..Normal); then 4 * sqrt(lowmem_kbytes), in 128..262144.
 */
static int calculate_min_free_kbytes(const struct pglist_data *pgdat)
{
	enum zone_type high = gfp_zone(GFP_USER, pgdat->x86_64);
	unsigned long pages = 0;

	for (int zt = 0; zt <= (int)high; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];
		if (zone->managed_pages > zone->_watermark[WMARK_HIGH])
			pages += zone->managed_pages - zone->_watermark[WMARK_HIGH];
	}
	unsigned long kb = int_sqrt(pages * (PAGE_SIZE >> 10) * 16);
	if (kb < 128)
		kb = 128;
	if (kb > 262144)
		kb = 262144;
	return (int)kb;
}

void init_per_zone_wmark_min(struct pglist_data *pgdat)
{
	setup_per_zone_wmarks(pgdat, calculate_min_free_kbytes(pgdat));
	setup_per_zone_lowmem_reserve(pgdat);
}

void pgdat_destroy(struct pglist_data *pgdat)
{
	if (!pgdat)
		return;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		free(pgdat->node_zones[zt].pageblock_flags);
	free(pgdat->mem_map);
	memset(pgdat, 0, sizeof(*pgdat));
}

/* ---- inspection ---------------------------------------------------------------------------- */

unsigned long zone_nr_free_blocks(const struct zone *zone, unsigned order, int mt)
{
	assert(order <= MAX_PAGE_ORDER && mt < MIGRATE_TYPES);
	if (mt < 0)
		return zone->free_area[order].nr_free;
	return (unsigned long)list_count_nodes(&zone->free_area[order].free_list[mt]);
}

void buddyinfo_show(const struct pglist_data *pgdat, FILE *out)
{
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];

		if (!populated_zone(zone))
			continue;
		fprintf(out, "Node %d, zone %8s ", pgdat->node_id, zone->name);
		for (int order = 0; order < NR_PAGE_ORDERS; order++)
			fprintf(out, "%6lu ", zone->free_area[order].nr_free);
		fputc('\n', out);
	}
}

void pagetypeinfo_show(const struct pglist_data *pgdat, FILE *out)
{
	fprintf(out, "Page block order: %u\n", pgdat->pageblock_order);
	fprintf(out, "Pages per block:  %lu\n", pageblock_nr_pages(pgdat));
	fputc('\n', out);

	/* free blocks per zone x migratetype x order; a list of 100000 or more prints ">100000" */
	fprintf(out, "%-43s ", "Free pages count per migrate type at order");
	for (int order = 0; order < NR_PAGE_ORDERS; order++)
		fprintf(out, "%6d ", order);
	fputc('\n', out);
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];

		if (!populated_zone(zone))
			continue;
		for (int mt = 0; mt < MIGRATE_TYPES; mt++) {
			fprintf(out, "Node %4d, zone %8s, type %12s ", pgdat->node_id, zone->name,
				migratetype_names[mt]);
			for (int order = 0; order < NR_PAGE_ORDERS; order++) {
				unsigned long n = 0;
				const struct list_head *head = &zone->free_area[order].free_list[mt];
				bool overflow = false;

				for (const struct list_head *pos = head->next; pos != head; pos = pos->next)
					if (++n >= 100000) {
						overflow = true;
						break;
					}
				fprintf(out, "%s%6lu ", overflow ? ">" : "", n);
			}
			fputc('\n', out);
		}
	}

	/* pageblocks per migratetype, stepping from the zone start as Linux does */
	fprintf(out, "\n%-23s", "Number of blocks type ");
	for (int mt = 0; mt < MIGRATE_TYPES; mt++)
		fprintf(out, "%12s ", migratetype_names[mt]);
	fputc('\n', out);
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];
		unsigned long count[MIGRATE_TYPES] = { 0 };

		if (!populated_zone(zone))
			continue;
		for (uint64_t pfn = zone->zone_start_pfn; pfn < zone_end_pfn(zone);
		     pfn += pageblock_nr_pages(pgdat))
			count[get_pfnblock_migratetype(zone, pfn)]++;
		fprintf(out, "Node %d, zone %8s ", pgdat->node_id, zone->name);
		for (int mt = 0; mt < MIGRATE_TYPES; mt++)
			fprintf(out, "%12lu ", count[mt]);
		fputc('\n', out);
	}
}

static _Thread_local char check_msg[320];

static const char *check_fail(const struct zone *zone, uint64_t pfn, const char *fmt, ...)
{
	char detail[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(check_msg, sizeof(check_msg), "zone %s, pfn %#" PRIx64 ": %s",
		 zone ? zone->name : "-", pfn, detail);
	return check_msg;
}

/* Check one zone; `listed` is a scratch bitmap of the zone's spanned pages, all zero. */
static const char *check_zone(const struct pglist_data *pgdat, const struct zone *zone,
			      uint8_t *listed)
{
	const uint64_t start = zone->zone_start_pfn, end = zone_end_pfn(zone);
	const unsigned long max_entries = zone->spanned_pages + 1;
	unsigned long total_blocks = 0, free_pages = 0, highatomic_pages = 0;

	for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
		const struct free_area *area = &zone->free_area[order];
		unsigned long blocks = 0;

		for (int mt = 0; mt < MIGRATE_TYPES; mt++) {
			const struct list_head *head = &area->free_list[mt];
			const struct list_head *prev = head;

			for (const struct list_head *pos = head->next; pos != head; pos = pos->next) {
				if (!pos || pos->prev != prev)
					return check_fail(zone, 0, "free_list[order %u][%s] has a broken link",
							  order, migratetype_names[mt]);
				if (blocks > max_entries)
					return check_fail(zone, 0, "free_list[order %u][%s] loops", order,
							  migratetype_names[mt]);
				prev = pos;

				const struct page *page = list_entry(pos, struct page, buddy_list);
				if (page < pgdat->mem_map ||
				    page >= pgdat->mem_map + pgdat->node_spanned_pages)
					return check_fail(zone, 0, "free list entry outside mem_map");
				uint64_t pfn = page_to_pfn(pgdat, page);
				if (pfn < start || pfn + (1ULL << order) > end)
					return check_fail(zone, pfn, "order-%u block not inside the zone",
							  order);
				if (!PageBuddy(page))
					return check_fail(zone, pfn, "page on free list [order %u][%s] is not "
							  "PageBuddy (allocated page on a free list?)",
							  order, migratetype_names[mt]);
				if (buddy_order(page) != order)
					return check_fail(zone, pfn, "PageBuddy of order %u on the order-%u list",
							  buddy_order(page), order);
				if (pfn & ((1ULL << order) - 1))
					return check_fail(zone, pfn, "order-%u block not aligned", order);
				if (page->_refcount != 0)
					return check_fail(zone, pfn, "free block with _refcount %d",
							  page->_refcount);
				uint64_t bit = pfn - start;
				if (listed[bit / 8] & (1U << (bit % 8)))
					return check_fail(zone, pfn, "block listed twice");
				listed[bit / 8] |= (uint8_t)(1U << (bit % 8));
				for (uint64_t p = pfn; p < pfn + (1ULL << order);
				     p += pageblock_nr_pages(pgdat)) {
					int pmt = get_pfnblock_migratetype(zone, p);
					if (pmt != mt)
						return check_fail(zone, pfn, "block on the %s list but pageblock "
								  "at %#" PRIx64 " is %s",
								  migratetype_names[mt], p,
								  migratetype_names[pmt]);
				}
				/* unmerged buddies */
				if (order < MAX_PAGE_ORDER) {
					uint64_t buddy_pfn = pfn ^ (1ULL << order);
					if (zone_spans_pfn(zone, buddy_pfn)) {
						const struct page *b = &pgdat->mem_map[buddy_pfn];
						bool mergeable = order < pgdat->pageblock_order ||
							(int)get_pfnblock_migratetype(zone, buddy_pfn) == mt ||
							(migratetype_is_mergeable(mt) &&
							 migratetype_is_mergeable(
								get_pfnblock_migratetype(zone, buddy_pfn)));
						if (PageBuddy(b) && buddy_order(b) == order && mergeable)
							return check_fail(zone, pfn, "free order-%u buddies %#" PRIx64
									  " and %#" PRIx64 " not merged",
									  order, pfn, buddy_pfn);
					}
				}
				blocks++;
				free_pages += 1UL << order;
				if (mt == MIGRATE_HIGHATOMIC)
					highatomic_pages += 1UL << order;
			}
		}
		if (blocks != area->nr_free)
			return check_fail(zone, 0, "free_area[%u].nr_free is %lu but the lists hold %lu",
					  order, area->nr_free, blocks);
		total_blocks += blocks;
	}
	if (zone->vm_stat[NR_FREE_PAGES] < 0 || (unsigned long)zone->vm_stat[NR_FREE_PAGES] != free_pages)
		return check_fail(zone, 0, "NR_FREE_PAGES is %ld but the lists hold %lu pages",
				  zone->vm_stat[NR_FREE_PAGES], free_pages);
	if (zone->nr_free_highatomic != highatomic_pages)
		return check_fail(zone, 0, "nr_free_highatomic is %lu but the lists hold %lu pages",
				  zone->nr_free_highatomic, highatomic_pages);

	/* per-CPU lists: whole aligned allocated-looking blocks of the list's order */
	const struct per_cpu_pages *pcp = &zone->pcp;
	unsigned long pcp_count = 0, pcp_heads = 0;
	for (int pindex = 0; pindex < NR_PCP_LISTS; pindex++) {
		const struct list_head *head = &pcp->lists[pindex];
		const struct list_head *prev = head;
		unsigned order = pindex_to_order(pgdat, pindex);

		for (const struct list_head *pos = head->next; pos != head; pos = pos->next) {
			if (!pos || pos->prev != prev)
				return check_fail(zone, 0, "pcp list %d has a broken link", pindex);
			if (pcp_count > zone->spanned_pages)
				return check_fail(zone, 0, "pcp list %d loops", pindex);
			prev = pos;
			const struct page *page = list_entry(pos, struct page, pcp_list);
			if (page < pgdat->mem_map || page >= pgdat->mem_map + pgdat->node_spanned_pages)
				return check_fail(zone, 0, "pcp list entry outside mem_map");
			uint64_t pfn = page_to_pfn(pgdat, page);
			if (pfn < start || pfn + (1ULL << order) > end)
				return check_fail(zone, pfn, "pcp order-%u block not inside the zone", order);
			if (pfn & ((1ULL << order) - 1))
				return check_fail(zone, pfn, "pcp order-%u block not aligned", order);
			for (uint64_t p = pfn; p < pfn + (1ULL << order); p++) {
				const struct page *q = &pgdat->mem_map[p];
				if (q->_refcount != 0 || q->page_type != 0 || PageReserved(q))
					return check_fail(zone, p, "page on a pcp list is in use or free in "
							  "the buddy (refcount %d, type %#x)",
							  q->_refcount, q->page_type);
			}
			uint64_t bit = pfn - start;
			if (listed[bit / 8] & (1U << (bit % 8)))
				return check_fail(zone, pfn, "block on two lists");
			listed[bit / 8] |= (uint8_t)(1U << (bit % 8));
			pcp_count += 1UL << order;
			pcp_heads++;
		}
	}
	if (pcp_count != (unsigned long)pcp->count)
		return check_fail(zone, 0, "pcp->count is %d but the pcp lists hold %lu pages", pcp->count,
				  pcp_count);

	/* mem_map pass: PageBuddy pages are exactly the listed heads; blocks are disjoint */
	unsigned long reserved = 0, heads = 0, pcp_seen = 0;
	uint64_t covered_until = start;
	for (uint64_t pfn = start; pfn < end; pfn++) {
		const struct page *page = &pgdat->mem_map[pfn];
		bool in_free_block = pfn < covered_until;

		if (PageReserved(page)) {
			reserved++;
			if (in_free_block || PageBuddy(page))
				return check_fail(zone, pfn, "PG_reserved page is free");
		}
		if (PageBuddy(page)) {
			uint64_t bit = pfn - start;
			if (in_free_block)
				return check_fail(zone, pfn, "free blocks overlap");
			if (!(listed[bit / 8] & (1U << (bit % 8))))
				return check_fail(zone, pfn, "PageBuddy page (order %u) on no free list",
						  buddy_order(page));
			heads++;
			covered_until = pfn + (1ULL << buddy_order(page));
		} else if (listed[(pfn - start) / 8] & (1U << ((pfn - start) % 8))) {
			if (in_free_block)
				return check_fail(zone, pfn, "pcp block inside a free buddy block");
			pcp_seen++;
		} else if (in_free_block && (page->_refcount != 0 || page->page_type != 0 ||
					     (page->flags & PAGE_FLAGS_CHECK_AT_PREP))) {
			return check_fail(zone, pfn, "page inside a free block is in use (refcount %d, "
					  "flags %#x)", page->_refcount, page->flags);
		}
	}
	if (heads != total_blocks)
		return check_fail(zone, 0, "%lu PageBuddy pages but %lu listed blocks", heads,
				  total_blocks);
	if (zone->managed_pages != zone->present_pages - reserved)
		return check_fail(zone, 0, "managed_pages %lu != present %lu - reserved %lu",
				  zone->managed_pages, zone->present_pages, reserved);
	if (pcp_seen != pcp_heads)
		return check_fail(zone, 0, "%lu pcp blocks listed but %lu found", pcp_heads, pcp_seen);
	if (free_pages + pcp_count > zone->managed_pages)
		return check_fail(zone, 0, "%lu free + %lu pcp pages exceed %lu managed", free_pages,
				  pcp_count, zone->managed_pages);
	if (pcp->batch < 1 || pcp->high_min > pcp->high_max || pcp->high < 0)
		return check_fail(zone, 0, "pcp batch %d high %d [%d, %d] out of range", pcp->batch,
				  pcp->high, pcp->high_min, pcp->high_max);
	return NULL;
}

const char *buddy_check(const struct pglist_data *pgdat)
{
	if (!pgdat || !pgdat->mem_map)
		return check_fail(NULL, 0, "node not initialised");

	uint64_t prev_end = pgdat->node_start_pfn;
	for (int zt = 0; zt < MAX_NR_ZONES; zt++) {
		const struct zone *zone = &pgdat->node_zones[zt];

		if (zone->zone_pgdat != pgdat)
			return check_fail(zone, 0, "zone_pgdat does not point at the node");
		if (!zone->spanned_pages)
			continue;
		if (zone->zone_start_pfn < prev_end || zone_end_pfn(zone) > pgdat->node_spanned_pages)
			return check_fail(zone, zone->zone_start_pfn, "zone overlaps another or leaves RAM");
		prev_end = zone_end_pfn(zone);

		uint8_t *listed = calloc(zone->spanned_pages / 8 + 1, 1);
		if (!listed)
			return check_fail(zone, 0, "out of host memory for the check");
		const char *why = check_zone(pgdat, zone, listed);
		free(listed);
		if (why)
			return why;
	}
	return NULL;
}
