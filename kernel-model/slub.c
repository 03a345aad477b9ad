/*
 * slub.c — SLUB, the slab allocator of Linux 6.12 (6.12.117): mm/slub.c, mm/slab_common.c,
 * mm/slab.h, include/linux/slab.h. The rules and their sources are in linux-mm-facts.md §3.
 *
 * Layout of a cache (do_kmem_cache_create, calculate_sizes, calculate_order):
 *   - align = calculate_alignment(): SLAB_HWCACHE_ALIGN asks for the 64-byte cache line, halved
 *     while the object fits in half of it; never below ARCH_SLAB_MINALIGN (8, the alignment of
 *     unsigned long long on both i386 and x86-64), rounded up to the pointer size. kmalloc
 *     caches ask for the largest power of two dividing their size (create_boot_cache).
 *   - the free pointer sits at ALIGN_DOWN(object_size / 2, sizeof(void *)), inside the object;
 *     for caches with a constructor or SLAB_TYPESAFE_BY_RCU it goes after the object (offset =
 *     object_size rounded up to a word, and the object grows by a word). size = ALIGN(that, align).
 *   - order (calculate_order, calc_slab_order): min_objects = 4 * (fls(nr_cpus) + 1), capped by
 *     the objects an order-3 slab holds; start at get_order(min_objects * size); for fraction 16,
 *     8, 4, 2 take the first order <= slub_max_order (3) wasting at most 1/fraction of the slab;
 *     else get_order(size). Objects per slab = (PAGE_SIZE << order) / size. The fallback s->min
 *     is get_order(size).
 *   - min_partial = clamp(ilog2(size) / 2, 5, 10); the cpu partial budget (set_cpu_partial) is
 *     6, 24, 52 or 120 objects for size >= 4096, >= 1024, >= 256, smaller, turned into slabs as
 *     DIV_ROUND_UP(objects * 2, objects per slab) (slub_set_cpu_partial).
 *
 * Where objects and free lists are. A slab is a buddy block; its objects lie at stride `size`
 * from the block's start. A free object holds, at `offset`, the kernel virtual address of the
 * next free object of the same list, or 0: set_freepointer/get_freepointer read and write
 * modelled memory through pgdat->phys. There are two kinds of list, as in Linux:
 *   - the cpu freelist (kmem_cache_cpu.freelist): objects of the cpu slab that only this CPU
 *     takes and returns (the lockless fast paths);
 *   - slab->freelist: free objects of a slab that no CPU owns, or that were freed to a cpu slab
 *     by another CPU (never here: one CPU runs).
 * slab->inuse counts objects not on slab->freelist. A frozen slab is a cpu slab: taking its
 * freelist (get_freelist, freeze_slab) sets inuse = objects, so its free objects are only on the
 * cpu freelist.
 *
 * Where slabs are (a slab is in exactly one place):
 *   - the cpu slab of a CPU (frozen);
 *   - the cpu partial list (kmem_cache_cpu.partial, linked by slab->next, the first slab holding
 *     the count in slab->slabs): unfrozen slabs with free objects, put there by a free to a full
 *     slab (put_cpu_partial with drain) or by get_partial_node's extra slabs;
 *   - the node partial list (kmem_cache_node.partial, PG_workingset set on the head page as
 *     Linux's slab_set_node_partial does): unfrozen slabs with free objects;
 *   - nowhere: full slabs (SLUB keeps no full list without debugging).
 *
 * Allocation (slab_alloc_node, ___slab_alloc): the cpu freelist (ALLOC_FASTPATH); else the cpu
 * slab's own freelist (ALLOC_REFILL; a full cpu slab is dropped: DEACTIVATE_BYPASS); else the
 * first cpu partial slab (CPU_PARTIAL_ALLOC); else get_partial_node, which takes the first node
 * partial slab as cpu slab (ALLOC_FROM_PARTIAL) and moves more to the cpu partial list
 * (CPU_PARTIAL_NODE) until more than cpu_partial_slabs / 2 moved; else new_slab (ALLOC_SLAB):
 * allocate_slab tries order oo with __GFP_NOWARN | __GFP_NORETRY (and without direct reclaim
 * when oo is above the minimum), then the minimum order (ORDER_FALLBACK).
 *
 * Free (do_slab_free, __slab_free): to the cpu freelist if the object is in the cpu slab
 * (FREE_FASTPATH); else onto slab->freelist (FREE_SLOWPATH), and then
 *   - a slab that was full goes to the cpu partial list (put_cpu_partial, CPU_PARTIAL_FREE); if
 *     that list already holds cpu_partial_slabs slabs it is first emptied to the node
 *     (__put_partials, CPU_PARTIAL_DRAIN): each slab goes to the tail of the node partial list
 *     (FREE_ADD_PARTIAL), except empty ones while the node already has min_partial slabs, which
 *     are discarded (DEACTIVATE_EMPTY, FREE_SLAB);
 *   - a slab on the node partial list that became empty is discarded if the node has at least
 *     min_partial partial slabs (FREE_REMOVE_PARTIAL, FREE_SLAB), else it stays;
 *   - a slab on the cpu partial list stays there even when empty.
 * Discarded slabs lose PGTY_slab and go back to the buddy allocator with __free_pages.
 *
 * Deliberate simplifications (none changes which slab or object an operation picks):
 *   - One CPU executes; the per-CPU state exists for nr_cpus CPUs but only CPU 0 is used, so
 *     there are no remote frees, no cmpxchg_double/tid retries and no locks.
 *   - One node (UMA): node_match and get_any_partial never matter. No pfmemalloc reserves.
 *   - No CONFIG_SLAB_FREELIST_RANDOM (the free list of a new slab is in address order; Debian
 *     shuffles it) and no CONFIG_SLAB_FREELIST_HARDENED obfuscation (free pointers are plain
 *     kernel virtual addresses); the hardened "object == next free pointer" check is kept.
 *   - No debugging caches (slub_debug, red zones, poisoning, tracking): those flags are ignored.
 *     Instead the model keeps a host-side bitmap of free objects per slab to catch double frees
 *     (a guest-kernel bug aborts, with a message in the style of Linux's slab checks).
 *   - Constructors are guest code and are not run; has_ctor only moves the free pointer.
 *   - SLAB_TYPESAFE_BY_RCU slabs are freed at once (the RCU grace period elapses immediately).
 *   - No memcg charging (SLAB_ACCOUNT, kmalloc-cg), no KASAN/KFENCE/kmemleak hooks.
 *   - No cache merging (__kmem_cache_alias): kmem_cache_create always makes a new cache. Among
 *     the caches boot creates none would merge (kmalloc caches have a usersize, anon_vma a
 *     constructor, and no two others have compatible size, flags and alignment).
 *   - The bootstrap caches "kmem_cache" and "kmem_cache_node" are not modelled: cache metadata
 *     lives in host memory. The rest of Linux's boot caches (task_struct, dentry, ...) do not
 *     exist; only the kmalloc caches and the memory manager's are created.
 *   - Slab metadata (struct slab) lives on the host; the head page's page->private holds the
 *     slab's index in the system's slab table (Linux overlays struct slab on struct page).
 */
#include "slub.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SLUB_MAX_ORDER		PAGE_ALLOC_COSTLY_ORDER	/* slub_max_order */
#define MIN_PARTIAL		5
#define MAX_PARTIAL		10
#define MAX_OBJS_PER_PAGE	32767			/* slab->objects is 15 bits */
#define MAX_PARTIAL_TO_SCAN	10000			/* count_partial_free_approx */
#define SHRINK_PROMOTE_MAX	32
#define CACHE_LINE_SIZE		64			/* cache_line_size() on x86 */
#define ARCH_SLAB_MINALIGN	8			/* __alignof__(unsigned long long) */
#define ARCH_KMALLOC_MINALIGN	8
#define MAX_NR_CPUS		8192			/* Debian's CONFIG_NR_CPUS (x86-64) */

/* Flags that only slub_debug uses (SLAB_DEBUG_FLAGS): accepted and dropped. */
#define SLAB_DEBUG_FLAGS	(SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON |	\
				 SLAB_STORE_USER | SLAB_TRACE)
#define SLAB_KNOWN_FLAGS	(SLAB_DEBUG_FLAGS | SLAB_KMALLOC | SLAB_HWCACHE_ALIGN |	\
				 SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_PANIC |		\
				 SLAB_TYPESAFE_BY_RCU | SLAB_NOLEAKTRACE | SLAB_NO_MERGE |	\
				 SLAB_ACCOUNT | SLAB_NO_USER_FLAGS | SLAB_SKIP_KFENCE |	\
				 SLAB_RECLAIM_ACCOUNT | SLAB_NO_OBJ_EXT)

/* mm/internal.h */
#define GFP_RECLAIM_MASK	(__GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | \
				 __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY |	\
				 __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_NOLOCKDEP)
#define GFP_CONSTRAINT_MASK	(__GFP_HARDWALL | __GFP_THISNODE)
#define GFP_SLAB_BUG_MASK	(__GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK)

enum { DEACTIVATE_TO_HEAD, DEACTIVATE_TO_TAIL };	/* add_partial position */

/* Where slab_check found a slab. */
enum slab_place { PLACE_NONE, PLACE_CPU, PLACE_CPU_PARTIAL, PLACE_NODE_PARTIAL };

/* A slab: the metadata Linux keeps in struct slab (overlaid on the head struct page). */
struct slab {
	struct kmem_cache *cache;	/* slab->slab_cache */
	uint64_t pfn;			/* first frame of the block */
	uint64_t freelist;		/* first object of slab->freelist (physical), 0 = none */
	unsigned order;			/* block order (oo or the minimum order) */
	unsigned objects;		/* objects in the slab */
	unsigned inuse;			/* objects not on slab->freelist */
	bool frozen;			/* a cpu slab */
	unsigned slabs;			/* cpu partial list: slabs from this one to the end */
	struct slab *next;		/* cpu partial list link */
	struct list_head slab_list;	/* node partial list link */
	struct list_head all;		/* the cache's list of every slab (model bookkeeping) */
	uint32_t id;			/* index in the slab table; page->private of the head */
	unsigned place;			/* slab_check scratch: enum slab_place */
	uint64_t free_map[];		/* bit per object, 1 = free (model's double-free check) */
};

/* struct kmem_cache_cpu (no tid, no lock: see the top). */
struct kmem_cache_cpu {
	uint64_t freelist;		/* next object to hand out (physical), 0 = none */
	struct slab *slab;		/* the cpu slab */
	struct slab *partial;		/* cpu partial list */
};

/* struct kmem_cache_node (nr_slabs and total_objects are CONFIG_SLUB_DEBUG's, always kept). */
struct kmem_cache_node {
	unsigned long nr_partial;
	struct list_head partial;
	unsigned long nr_slabs;
	unsigned long total_objects;
};

struct kmem_cache_order_objects {
	unsigned order;
	unsigned objects;
};

struct kmem_cache {
	struct kmem_cache_cpu *cpu_slab;	/* [nr_cpus] */
	unsigned flags;				/* SLAB_* */
	unsigned long min_partial;
	unsigned size;				/* object stride */
	unsigned object_size;			/* requested size */
	unsigned offset;			/* free pointer offset */
	unsigned cpu_partial;			/* objects (set_cpu_partial) */
	unsigned cpu_partial_slabs;		/* slabs (slub_set_cpu_partial) */
	struct kmem_cache_order_objects oo;	/* preferred order and its objects */
	struct kmem_cache_order_objects min;	/* fallback: get_order(size) */
	gfp_t allocflags;			/* __GFP_COMP, GFP_DMA, __GFP_RECLAIMABLE */
	bool has_ctor;
	unsigned inuse;				/* object_size rounded to a word */
	unsigned align;
	char *name;
	struct list_head list;			/* slab_caches */
	struct kmem_cache_node node;		/* the one node */

	struct slab_system *sys;
	struct list_head slabs;			/* every slab (model bookkeeping) */
	unsigned long pages;			/* pages in all slabs */
	unsigned long inuse_objs;		/* objects handed out and not freed */
	unsigned long stat[NR_SLUB_STAT_ITEMS];
};

struct kmalloc_large_block {
	uint64_t pfn;
	unsigned order;
};

struct slab_system {
	struct pglist_data *pgdat;
	unsigned nr_cpus;
	unsigned ptr_bytes;
	uint64_t kva_offset;			/* PAGE_OFFSET */
	uint64_t mem_bytes;			/* modelled RAM */
	bool init_on_alloc;
	struct slab_ops ops;
	struct list_head caches;		/* slab_caches: newest first */
	struct kmem_cache *kmalloc[NR_KMALLOC_TYPES][KMALLOC_SHIFT_HIGH + 1];
	struct kmem_cache *mm[NR_SLAB_MM_IDS];

	struct slab **table;			/* slab by id (page->private of the head) */
	uint32_t table_len, table_cap;
	uint32_t *free_ids;			/* unused ids below table_len */
	uint32_t nr_free_ids;

	struct kmalloc_large_block *large;	/* live kmalloc_large blocks */
	size_t nr_large, cap_large;
	unsigned long large_pages;

	unsigned ev_pages_alloc;		/* pages taken by the current call (events) */
	unsigned ev_pages_free;			/* pages given back by the current call */
};

static const char *const slub_stat_names[NR_SLUB_STAT_ITEMS] = {
#define SLUB_STAT_NAME_(name, file, desc) file,
	SLUB_STAT_ITEMS(SLUB_STAT_NAME_)
#undef SLUB_STAT_NAME_
};

const char *slub_stat_name(enum slub_stat_item item)
{
	return item < NR_SLUB_STAT_ITEMS ? slub_stat_names[item] : "?";
}

/* ---- helpers ------------------------------------------------------------------------------ */

static inline void stat(struct kmem_cache *s, enum slub_stat_item si)
{
	s->stat[si]++;
}

static unsigned fls_u(unsigned long x)
{
	return x ? (unsigned)(8 * sizeof(x)) - (unsigned)__builtin_clzl(x) : 0;
}

static unsigned ilog2_u(unsigned long x)
{
	return fls_u(x) - 1;
}

/* Smallest order whose block holds size bytes (get_order). size > 0. */
static unsigned get_order(uint64_t size)
{
	unsigned order = 0;

	while ((PAGE_SIZE << order) < size)
		order++;
	return order;
}

static unsigned order_objects(unsigned order, unsigned size)
{
	return (unsigned)((PAGE_SIZE << order) / size);
}

static struct kmem_cache_order_objects oo_make(unsigned order, unsigned size)
{
	return (struct kmem_cache_order_objects){ order, order_objects(order, size) };
}

static bool is_power_of_2(unsigned long x)
{
	return x && !(x & (x - 1));
}

#define ALIGN_UP(x, a)		(((x) + (a) - 1) / (a) * (a))
#define ALIGN_DOWN(x, a)	((x) / (a) * (a))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))

/* A guest-kernel bug found by a slab check: report it as Linux's slab_bug() does and stop. */
static _Noreturn void slab_bug(const struct kmem_cache *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static _Noreturn void slab_bug(const struct kmem_cache *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "BUG %s: ", s ? s->name : "kmalloc");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

static struct page *slab_page(const struct slab_system *sys, const struct slab *slab)
{
	return pfn_to_page(sys->pgdat, slab->pfn);
}

static uint64_t slab_base(const struct slab *slab)
{
	return slab->pfn << PAGE_SHIFT;
}

uint64_t slab_kva(const struct slab_system *s, uint64_t phys)
{
	return phys + s->kva_offset;
}

unsigned slab_ptr_bytes(const struct slab_system *s)
{
	return s->ptr_bytes;
}

/* ---- free pointers in modelled memory ----------------------------------------------------- */

static uint64_t read_guest_ptr(const struct slab_system *sys, uint64_t phys)
{
	const uint8_t *p = sys->pgdat->phys + phys;

	if (sys->ptr_bytes == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void write_guest_ptr(const struct slab_system *sys, uint64_t phys, uint64_t v)
{
	uint8_t *p = sys->pgdat->phys + phys;

	if (sys->ptr_bytes == 4) {
		assert(v <= UINT32_MAX && "a kernel virtual address beyond 4 GiB on i386");
		uint32_t w = (uint32_t)v;
		memcpy(p, &w, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

/*
 * Decode a stored free pointer to the physical address of an object of `slab`; 0 for the end of
 * the list. Returns false (and *out undefined) if the value is not an object start of the slab.
 */
static bool decode_freepointer(const struct kmem_cache *s, const struct slab *slab, uint64_t v,
			       uint64_t *out)
{
	if (v == 0) {
		*out = 0;
		return true;
	}
	uint64_t phys = v - s->sys->kva_offset;
	uint64_t base = slab_base(slab);

	if (s->sys->ptr_bytes == 4)
		phys &= UINT32_MAX;
	if (phys < base || (phys - base) % s->size != 0 || (phys - base) / s->size >= slab->objects)
		return false;
	*out = phys;
	return true;
}

/* get_freepointer: the free object after `object` (in the same slab), 0 at the end. */
static uint64_t get_freepointer(const struct kmem_cache *s, const struct slab *slab,
				uint64_t object)
{
	uint64_t v = read_guest_ptr(s->sys, object + s->offset);
	uint64_t next;

	if (!decode_freepointer(s, slab, v, &next))
		slab_bug(s, "Freechain corrupt: object %#llx (kva %#llx) holds free pointer %#llx, "
			 "not an object of its slab at pfn %#llx",
			 (unsigned long long)object,
			 (unsigned long long)slab_kva(s->sys, object), (unsigned long long)v,
			 (unsigned long long)slab->pfn);
	return next;
}

/* set_freepointer, with CONFIG_SLAB_FREELIST_HARDENED's naive double-free check. */
static void set_freepointer(const struct kmem_cache *s, uint64_t object, uint64_t fp)
{
	if (object == fp)
		slab_bug(s, "double free or corruption: object %#llx would point to itself",
			 (unsigned long long)object);
	write_guest_ptr(s->sys, object + s->offset, fp ? slab_kva(s->sys, fp) : 0);
}

static unsigned obj_index(const struct kmem_cache *s, const struct slab *slab, uint64_t obj)
{
	return (unsigned)((obj - slab_base(slab)) / s->size);
}

static bool obj_is_free(const struct kmem_cache *s, const struct slab *slab, uint64_t obj)
{
	unsigned i = obj_index(s, slab, obj);

	return (slab->free_map[i / 64] >> (i % 64)) & 1;
}

static void mark_obj(const struct kmem_cache *s, struct slab *slab, uint64_t obj, bool free)
{
	unsigned i = obj_index(s, slab, obj);

	if (free)
		slab->free_map[i / 64] |= 1ULL << (i % 64);
	else
		slab->free_map[i / 64] &= ~(1ULL << (i % 64));
}

/* ---- the slab table: head page -> struct slab --------------------------------------------- */

static bool slab_table_add(struct slab_system *sys, struct slab *slab)
{
	if (sys->nr_free_ids) {
		slab->id = sys->free_ids[--sys->nr_free_ids];
	} else {
		if (sys->table_len == sys->table_cap) {
			uint32_t cap = sys->table_cap ? sys->table_cap * 2 : 256;
			struct slab **t = realloc(sys->table, cap * sizeof(*t));
			uint32_t *f = realloc(sys->free_ids, cap * sizeof(*f));

			if (t)
				sys->table = t;
			if (f)
				sys->free_ids = f;
			if (!t || !f)
				return false;
			sys->table_cap = cap;
		}
		slab->id = sys->table_len++;
	}
	sys->table[slab->id] = slab;
	return true;
}

static void slab_table_del(struct slab_system *sys, struct slab *slab)
{
	assert(sys->table[slab->id] == slab);
	sys->table[slab->id] = NULL;
	sys->free_ids[sys->nr_free_ids++] = slab->id;
}

/*
 * virt_to_slab: the slab holding physical address phys, or NULL. A slab is a naturally aligned
 * block whose first page alone is typed PGTY_slab, so its head is phys's frame aligned down to
 * the slab's order: try every order, smallest first.
 */
static struct slab *phys_to_slab(const struct slab_system *sys, uint64_t phys)
{
	uint64_t pfn = phys >> PAGE_SHIFT;

	if (!pfn_valid(sys->pgdat, pfn))
		return NULL;
	for (unsigned k = 0; k <= MAX_PAGE_ORDER; k++) {
		uint64_t head = pfn & ~((1ULL << k) - 1);
		const struct page *page = &sys->pgdat->mem_map[head - sys->pgdat->node_start_pfn];

		if (!PageSlab(page))
			continue;
		uint32_t id = (uint32_t)page->private;
		struct slab *slab = id < sys->table_len ? sys->table[id] : NULL;

		if (!slab || slab->pfn != head)
			return NULL;	/* typed by someone else */
		return pfn < head + (1ULL << slab->order) ? slab : NULL;
	}
	return NULL;
}

struct kmem_cache *slab_obj_cache(const struct slab_system *s, uint64_t obj)
{
	struct slab *slab = phys_to_slab(s, obj);

	return slab ? slab->cache : NULL;
}

/* ---- slab pages --------------------------------------------------------------------------- */

static void inc_slabs_node(struct kmem_cache *s, unsigned objects)
{
	s->node.nr_slabs++;
	s->node.total_objects += objects;
}

static void dec_slabs_node(struct kmem_cache *s, unsigned objects)
{
	s->node.nr_slabs--;
	s->node.total_objects -= objects;
}

/* alloc_slab_page: a buddy block typed as a slab. */
static struct page *alloc_slab_page(struct kmem_cache *s, gfp_t flags, unsigned order)
{
	struct page *page = alloc_pages(s->sys->pgdat, flags, order);

	if (page)
		__SetPageSlab(page);	/* __folio_set_slab */
	return page;
}

/*
 * allocate_slab: a block of order oo (or, failing that, of the minimum order) with its objects
 * chained in address order (no CONFIG_SLAB_FREELIST_RANDOM shuffle). The slab is not yet counted
 * on the node (___slab_alloc does inc_slabs_node).
 */
static struct slab *allocate_slab(struct kmem_cache *s, gfp_t flags)
{
	struct slab_system *sys = s->sys;
	struct kmem_cache_order_objects oo = s->oo;
	gfp_t alloc_gfp;
	struct page *page;

	flags |= s->allocflags;
	/* Let the higher-order attempt fail under pressure so the minimum order is tried. */
	alloc_gfp = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL;
	if ((alloc_gfp & __GFP_DIRECT_RECLAIM) && oo.order > s->min.order)
		alloc_gfp = (alloc_gfp | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM;

	page = alloc_slab_page(s, alloc_gfp, oo.order);
	if (!page) {
		oo = s->min;
		page = alloc_slab_page(s, flags, oo.order);
		if (!page)
			return NULL;
		stat(s, SLUB_ORDER_FALLBACK);
	}

	size_t words = DIV_ROUND_UP(oo.objects, 64);
	struct slab *slab = calloc(1, sizeof(*slab) + words * sizeof(uint64_t));

	if (!slab || !slab_table_add(sys, slab)) {
		fprintf(stderr, "slub: out of host memory for slab metadata\n");
		abort();
	}
	slab->cache = s;
	slab->pfn = page_to_pfn(sys->pgdat, page);
	slab->order = oo.order;
	slab->objects = oo.objects;
	slab->inuse = 0;
	slab->frozen = false;
	INIT_LIST_HEAD(&slab->slab_list);
	list_add_tail(&slab->all, &s->slabs);
	set_page_private(page, slab->id);

	s->pages += 1UL << oo.order;		/* account_slab */
	s->stat[SLUB_SLAB_PAGES_ALLOC] += 1UL << oo.order;
	sys->ev_pages_alloc += 1U << oo.order;

	/* The constructor (setup_object) would run here on every object: guest code, not run. */
	uint64_t p = slab_base(slab);

	slab->freelist = p;
	for (unsigned idx = 0; idx < slab->objects - 1; idx++, p += s->size)
		set_freepointer(s, p, p + s->size);
	set_freepointer(s, p, 0);
	for (unsigned i = 0; i < slab->objects; i++)
		slab->free_map[i / 64] |= 1ULL << (i % 64);
	return slab;
}

/* kmalloc_fix_flags: zone bits a slab cannot honour are dropped, with Linux's warning. */
static gfp_t kmalloc_fix_flags(gfp_t flags)
{
	gfp_t invalid = flags & GFP_SLAB_BUG_MASK;

	flags &= ~GFP_SLAB_BUG_MASK;
	fprintf(stderr, "Unexpected gfp: %#x. Fixing up to gfp: %#x. Fix your code!\n",
		invalid, flags);
	return flags;
}

static struct slab *new_slab(struct kmem_cache *s, gfp_t flags)
{
	if (flags & GFP_SLAB_BUG_MASK)
		flags = kmalloc_fix_flags(flags);
	/* Placement bits come from s->allocflags alone. */
	return allocate_slab(s, flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK));
}

/* __free_slab: untype the block and give it back to the buddy allocator. */
static void __free_slab(struct kmem_cache *s, struct slab *slab)
{
	struct slab_system *sys = s->sys;
	struct page *page = slab_page(sys, slab);
	unsigned pages = 1U << slab->order;

	assert(!PageWorkingset(page) && "freeing a slab still on the node partial list");
	__ClearPageSlab(page);			/* __folio_clear_slab */
	set_page_private(page, 0);
	s->pages -= pages;			/* unaccount_slab */
	s->stat[SLUB_SLAB_PAGES_FREE] += pages;
	sys->ev_pages_free += pages;
	__free_pages(sys->pgdat, page, slab->order);

	list_del(&slab->all);
	slab_table_del(sys, slab);
	free(slab);
}

/* free_slab: SLAB_TYPESAFE_BY_RCU would wait for a grace period; here it has elapsed already. */
static void free_slab(struct kmem_cache *s, struct slab *slab)
{
	__free_slab(s, slab);
}

static void discard_slab(struct kmem_cache *s, struct slab *slab)
{
	dec_slabs_node(s, slab->objects);
	free_slab(s, slab);
}

/* ---- partial lists ------------------------------------------------------------------------ */

static void add_partial(struct kmem_cache *s, struct slab *slab, int tail)
{
	struct kmem_cache_node *n = &s->node;

	n->nr_partial++;
	if (tail == DEACTIVATE_TO_TAIL)
		list_add_tail(&slab->slab_list, &n->partial);
	else
		list_add(&slab->slab_list, &n->partial);
	slab->next = NULL;
	slab->slabs = 0;
	SetPageWorkingset(slab_page(s->sys, slab));	/* slab_set_node_partial */
}

static void remove_partial(struct kmem_cache *s, struct slab *slab)
{
	list_del_init(&slab->slab_list);
	ClearPageWorkingset(slab_page(s->sys, slab));	/* slab_clear_node_partial */
	s->node.nr_partial--;
}

static bool slab_test_node_partial(const struct kmem_cache *s, const struct slab *slab)
{
	return PageWorkingset(slab_page(s->sys, slab));
}

/*
 * __put_partials: a chain of cpu partial slabs goes to the tail of the node partial list; empty
 * ones are discarded instead while the node already has min_partial partial slabs.
 */
static void __put_partials(struct kmem_cache *s, struct slab *partial_slab)
{
	struct kmem_cache_node *n = &s->node;
	struct slab *slab, *slab_to_discard = NULL;

	while (partial_slab) {
		slab = partial_slab;
		partial_slab = slab->next;

		if (!slab->inuse && n->nr_partial >= s->min_partial) {
			slab->next = slab_to_discard;
			slab_to_discard = slab;
		} else {
			add_partial(s, slab, DEACTIVATE_TO_TAIL);
			stat(s, SLUB_FREE_ADD_PARTIAL);
		}
	}

	while (slab_to_discard) {
		slab = slab_to_discard;
		slab_to_discard = slab_to_discard->next;

		stat(s, SLUB_DEACTIVATE_EMPTY);
		discard_slab(s, slab);
		stat(s, SLUB_FREE_SLAB);
	}
}

/*
 * put_cpu_partial: push slab on the cpu partial list. With drain, a list that already holds
 * cpu_partial_slabs slabs is first moved to the node (__put_partials).
 */
static void put_cpu_partial(struct kmem_cache *s, struct slab *slab, bool drain)
{
	struct kmem_cache_cpu *c = &s->cpu_slab[0];
	struct slab *oldslab = c->partial;
	struct slab *slab_to_put = NULL;
	unsigned slabs = 0;

	if (oldslab) {
		if (drain && oldslab->slabs >= s->cpu_partial_slabs) {
			slab_to_put = oldslab;
			oldslab = NULL;
		} else {
			slabs = oldslab->slabs;
		}
	}
	slabs++;
	slab->slabs = slabs;
	slab->next = oldslab;
	c->partial = slab;

	if (slab_to_put) {
		__put_partials(s, slab_to_put);
		stat(s, SLUB_CPU_PARTIAL_DRAIN);
	}
}

/*
 * get_partial_node: take the first node partial slab for the cpu, and move further ones to the
 * cpu partial list until more than half of cpu_partial_slabs were moved.
 */
static struct slab *get_partial_node(struct kmem_cache *s)
{
	struct kmem_cache_node *n = &s->node;
	struct slab *slab, *slab2, *partial = NULL;
	unsigned partial_slabs = 0;

	if (!n->nr_partial)
		return NULL;

	list_for_each_entry_safe(slab, slab2, &n->partial, slab_list) {
		remove_partial(s, slab);

		if (!partial) {
			partial = slab;
			stat(s, SLUB_ALLOC_FROM_PARTIAL);
			if (s->cpu_partial_slabs == 0)
				break;
		} else {
			put_cpu_partial(s, slab, false);
			stat(s, SLUB_CPU_PARTIAL_NODE);
			if (++partial_slabs > s->cpu_partial_slabs / 2)
				break;
		}
	}
	return partial;
}

/* get_freelist: take a cpu slab's own freelist; the slab stays frozen only if it had one. */
static uint64_t get_freelist(struct kmem_cache *s, struct slab *slab)
{
	uint64_t freelist = slab->freelist;

	(void)s;
	slab->freelist = 0;
	slab->inuse = slab->objects;
	slab->frozen = freelist != 0;
	return freelist;
}

/* freeze_slab: make a partial slab the cpu slab and take its freelist. */
static uint64_t freeze_slab(struct kmem_cache *s, struct slab *slab)
{
	uint64_t freelist = slab->freelist;

	if (slab->frozen)
		slab_bug(s, "freezing a frozen slab at pfn %#llx", (unsigned long long)slab->pfn);
	slab->freelist = 0;
	slab->inuse = slab->objects;
	slab->frozen = true;
	return freelist;
}

/*
 * deactivate_slab: give a cpu slab back: splice the cpu freelist onto the slab's freelist,
 * unfreeze, and then discard it (empty, node has min_partial), put it on the node partial list
 * (head, or tail if it had remote frees) or leave it nowhere (full).
 */
static void deactivate_slab(struct kmem_cache *s, struct slab *slab, uint64_t freelist)
{
	int tail = DEACTIVATE_TO_HEAD;
	unsigned free_delta = 0;
	uint64_t freelist_tail = 0;

	if (slab->freelist) {
		stat(s, SLUB_DEACTIVATE_REMOTE_FREES);
		tail = DEACTIVATE_TO_TAIL;
	}

	/* Stage one: count the cpu freelist and find its tail. */
	for (uint64_t p = freelist; p; p = get_freepointer(s, slab, p)) {
		freelist_tail = p;
		free_delta++;
		if (free_delta > slab->objects)
			slab_bug(s, "Freechain corrupt: cycle in the cpu freelist of slab %#llx",
				 (unsigned long long)slab->pfn);
	}

	/* Stage two: unfreeze, splicing the cpu freelist in front of the slab's. */
	if (!slab->frozen)
		slab_bug(s, "deactivating an unfrozen slab at pfn %#llx",
			 (unsigned long long)slab->pfn);
	slab->frozen = false;
	if (freelist_tail) {
		slab->inuse -= free_delta;
		set_freepointer(s, freelist_tail, slab->freelist);
		slab->freelist = freelist;
	}

	/* Stage three: list placement. */
	if (!slab->inuse && s->node.nr_partial >= s->min_partial) {
		stat(s, SLUB_DEACTIVATE_EMPTY);
		discard_slab(s, slab);
		stat(s, SLUB_FREE_SLAB);
	} else if (slab->freelist) {
		add_partial(s, slab, tail);
		stat(s, tail == DEACTIVATE_TO_HEAD ? SLUB_DEACTIVATE_TO_HEAD :
			SLUB_DEACTIVATE_TO_TAIL);
	} else {
		stat(s, SLUB_DEACTIVATE_FULL);
	}
}

/* flush_slab + put_partials_cpu for every CPU (flush_all). */
static void flush_all(struct kmem_cache *s)
{
	for (unsigned cpu = 0; cpu < s->sys->nr_cpus; cpu++) {
		struct kmem_cache_cpu *c = &s->cpu_slab[cpu];
		struct slab *slab = c->slab;
		uint64_t freelist = c->freelist;

		c->slab = NULL;
		c->freelist = 0;
		if (slab) {
			deactivate_slab(s, slab, freelist);
			stat(s, SLUB_CPUSLAB_FLUSH);
		}
		struct slab *partial = c->partial;

		c->partial = NULL;
		if (partial)
			__put_partials(s, partial);
	}
}

/* ---- allocation --------------------------------------------------------------------------- */

/* ___slab_alloc for CPU 0 (labels and order as in Linux). */
static uint64_t ___slab_alloc(struct kmem_cache *s, gfp_t gfpflags, struct kmem_cache_cpu *c)
{
	uint64_t freelist;
	struct slab *slab;

	stat(s, SLUB_ALLOC_SLOWPATH);

	slab = c->slab;
	if (!slab)
		goto new_slab;
	/* node_match and pfmemalloc_match always hold: one node, no reserves. */
	freelist = c->freelist;
	if (freelist)
		goto load_freelist;

	freelist = get_freelist(s, slab);
	if (!freelist) {
		c->slab = NULL;
		stat(s, SLUB_DEACTIVATE_BYPASS);
		goto new_slab;
	}
	stat(s, SLUB_ALLOC_REFILL);

load_freelist:
	/* c->slab is frozen and freelist is its first free object. */
	c->freelist = get_freepointer(s, c->slab, freelist);
	return freelist;

new_slab:
	while (c->partial) {
		slab = c->partial;
		c->partial = slab->next;	/* slub_set_percpu_partial */
		slab->next = NULL;

		c->slab = slab;
		freelist = get_freelist(s, slab);
		if (!freelist)
			slab_bug(s, "cpu partial slab at pfn %#llx has no free object",
				 (unsigned long long)slab->pfn);
		stat(s, SLUB_CPU_PARTIAL_ALLOC);
		goto load_freelist;
	}

	slab = get_partial_node(s);
	if (slab) {
		freelist = freeze_slab(s, slab);
		goto retry_load_slab;
	}

	slab = new_slab(s, gfpflags);
	if (!slab)
		return 0;			/* slab_out_of_memory */
	stat(s, SLUB_ALLOC_SLAB);

	/* Nobody else sees the new slab yet: take its whole freelist. */
	freelist = slab->freelist;
	slab->freelist = 0;
	slab->inuse = slab->objects;
	slab->frozen = true;
	inc_slabs_node(s, slab->objects);

retry_load_slab:
	if (c->slab) {
		/* Another context installed a cpu slab meanwhile (not possible with one CPU). */
		struct slab *flush_slab = c->slab;
		uint64_t flush_freelist = c->freelist;

		c->slab = NULL;
		c->freelist = 0;
		deactivate_slab(s, flush_slab, flush_freelist);
		stat(s, SLUB_CPUSLAB_FLUSH);
	}
	c->slab = slab;
	goto load_freelist;
}

/* slab_want_init_on_alloc (mm/slab.h). */
static bool slab_want_init_on_alloc(const struct kmem_cache *s, gfp_t flags)
{
	if (s->sys->init_on_alloc) {
		if (s->has_ctor)
			return false;
		if (s->flags & SLAB_TYPESAFE_BY_RCU)
			return flags & __GFP_ZERO;
		return true;
	}
	return flags & __GFP_ZERO;
}

/* slab_alloc_node for CPU 0; *slowpath says whether ___slab_alloc ran. */
static uint64_t slab_alloc(struct kmem_cache *s, gfp_t gfpflags, bool *slowpath)
{
	struct kmem_cache_cpu *c = &s->cpu_slab[0];
	uint64_t object = c->freelist;
	struct slab *slab = c->slab;

	if (!object || !slab) {
		*slowpath = true;
		object = ___slab_alloc(s, gfpflags, c);
		if (!object)
			return 0;
		slab = c->slab;
	} else {
		*slowpath = false;
		c->freelist = get_freepointer(s, slab, object);
		stat(s, SLUB_ALLOC_FASTPATH);
	}

	if (!obj_is_free(s, slab, object))
		slab_bug(s, "Freechain corrupt: object %#llx handed out twice",
			 (unsigned long long)object);
	mark_obj(s, slab, object, false);
	s->inuse_objs++;

	if (slab_want_init_on_alloc(s, gfpflags))	/* slab_post_alloc_hook */
		memset(s->sys->pgdat->phys + object, 0, s->object_size);
	return object;
}

static void emit(struct slab_system *sys, const struct kmem_cache *c, int kind, uint64_t obj,
		 bool slowpath, unsigned pages)
{
	if (sys->ops.slab_event)
		sys->ops.slab_event(sys->ops.ctx, c, kind, obj, slowpath, pages);
}

uint64_t kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
	struct slab_system *sys = c->sys;
	bool slowpath;

	sys->ev_pages_alloc = 0;
	uint64_t obj = slab_alloc(c, gfp, &slowpath);

	if (obj)
		emit(sys, c, SLAB_EV_ALLOC, obj, slowpath, sys->ev_pages_alloc);
	return obj;
}

/* ---- free --------------------------------------------------------------------------------- */

/* __slab_free for one object of a slab that is not this CPU's cpu slab. */
static void __slab_free(struct kmem_cache *s, struct slab *slab, uint64_t object)
{
	uint64_t prior = slab->freelist;
	bool was_frozen = slab->frozen;
	unsigned inuse = slab->inuse - 1;
	bool take_node = false, on_node_partial = false;

	stat(s, SLUB_FREE_SLOWPATH);

	set_freepointer(s, object, prior);
	/* With cpu partial lists the node is only looked at for a slab becoming empty. */
	if ((!inuse || !prior) && !was_frozen && prior) {
		take_node = true;
		on_node_partial = slab_test_node_partial(s, slab);
	}
	slab->freelist = object;
	slab->inuse = inuse;

	if (!take_node) {
		if (was_frozen) {
			stat(s, SLUB_FREE_FROZEN);
		} else if (!prior) {
			/* The slab was full: it goes to the cpu partial list. */
			put_cpu_partial(s, slab, true);
			stat(s, SLUB_CPU_PARTIAL_FREE);
		}
		return;
	}

	/* Partially empty but not on the node list: it is on a cpu partial list; leave it. */
	if (!on_node_partial)
		return;

	if (!inuse && s->node.nr_partial >= s->min_partial) {
		remove_partial(s, slab);
		stat(s, SLUB_FREE_REMOVE_PARTIAL);
		stat(s, SLUB_FREE_SLAB);
		discard_slab(s, slab);
	}
}

/* do_slab_free: the fast path if the object belongs to the cpu slab. */
static bool do_slab_free(struct kmem_cache *s, struct slab *slab, uint64_t object)
{
	struct kmem_cache_cpu *c = &s->cpu_slab[0];

	if (slab != c->slab) {
		__slab_free(s, slab, object);
		return true;
	}
	set_freepointer(s, object, c->freelist);
	c->freelist = object;
	stat(s, SLUB_FREE_FASTPATH);
	return false;
}

/*
 * The checks of a free: obj must be an allocated object start of a slab of s. Linux's
 * cache_from_obj (hardened) warns about a wrong cache; the model stops on all of these.
 */
static struct slab *slab_free_checks(struct kmem_cache *s, struct slab *slab, uint64_t obj,
				     const char *fn)
{
	if (!slab)
		slab_bug(s, "%s: %#llx (kva %#llx) is not a slab object", fn,
			 (unsigned long long)obj, (unsigned long long)slab_kva(s->sys, obj));
	if (slab->cache != s)
		slab_bug(s, "%s: Wrong slab cache. %s but object %#llx is from %s", fn, s->name,
			 (unsigned long long)obj, slab->cache->name);
	if ((obj - slab_base(slab)) % s->size != 0)
		slab_bug(s, "%s: %#llx is not the start of an object (slab at %#llx, size %u)", fn,
			 (unsigned long long)obj, (unsigned long long)slab_base(slab), s->size);
	if (obj_is_free(s, slab, obj))
		slab_bug(s, "%s: Object %#llx (kva %#llx) already free (double free)", fn,
			 (unsigned long long)obj, (unsigned long long)slab_kva(s->sys, obj));
	return slab;
}

static void slab_free(struct kmem_cache *s, struct slab *slab, uint64_t obj)
{
	struct slab_system *sys = s->sys;

	sys->ev_pages_free = 0;
	mark_obj(s, slab, obj, true);
	s->inuse_objs--;
	bool slowpath = do_slab_free(s, slab, obj);

	emit(sys, s, SLAB_EV_FREE, obj, slowpath, sys->ev_pages_free);
}

void kmem_cache_free(struct kmem_cache *c, uint64_t obj)
{
	struct slab *slab = slab_free_checks(c, phys_to_slab(c->sys, obj), obj,
					     "kmem_cache_free");

	slab_free(c, slab, obj);
}

/* ---- caches ------------------------------------------------------------------------------- */

/* calculate_alignment (mm/slab_common.c). */
static unsigned calculate_alignment(const struct slab_system *sys, unsigned flags,
				    unsigned align, unsigned size)
{
	if (flags & SLAB_HWCACHE_ALIGN) {
		unsigned ralign = CACHE_LINE_SIZE;

		while (size <= ralign / 2)
			ralign /= 2;
		if (ralign > align)
			align = ralign;
	}
	if (align < ARCH_SLAB_MINALIGN)
		align = ARCH_SLAB_MINALIGN;
	return ALIGN_UP(align, sys->ptr_bytes);
}

/* calc_slab_order: the first order from min_order with at most 1/fract_leftover waste. */
static unsigned calc_slab_order(unsigned size, unsigned min_order, unsigned max_order,
				unsigned fract_leftover)
{
	unsigned order;

	for (order = min_order; order <= max_order; order++) {
		unsigned long slab_size = PAGE_SIZE << order;
		unsigned long rem = slab_size % size;

		if (rem <= slab_size / fract_leftover)
			break;
	}
	return order;
}

/* calculate_order; -1 if no order can hold one object. */
static int calculate_order(unsigned size, unsigned nr_cpus)
{
	unsigned order, min_objects, max_objects, min_order;

	/* num_present_cpus(), or nr_cpu_ids when that is 1: the same number here. */
	min_objects = 4 * (fls_u(nr_cpus) + 1);
	max_objects = order_objects(SLUB_MAX_ORDER, size);
	if (max_objects < 1)
		max_objects = 1;
	if (min_objects > max_objects)
		min_objects = max_objects;

	/* max(slub_min_order, ...): slub_min_order is 0 */
	min_order = get_order((uint64_t)min_objects * size);
	if (order_objects(min_order, size) > MAX_OBJS_PER_PAGE)
		return (int)get_order((uint64_t)size * MAX_OBJS_PER_PAGE) - 1;

	for (unsigned fraction = 16; fraction > 1; fraction /= 2) {
		order = calc_slab_order(size, min_order, SLUB_MAX_ORDER, fraction);
		if (order <= SLUB_MAX_ORDER)
			return (int)order;
	}
	order = get_order(size);
	return order <= MAX_PAGE_ORDER ? (int)order : -1;
}

/* calculate_sizes without the debug parts (red zones, poisoning, tracking, KASAN). */
static bool calculate_sizes(struct kmem_cache *s)
{
	unsigned ptr = s->sys->ptr_bytes;
	unsigned size = ALIGN_UP(s->object_size, ptr);
	int order;

	s->inuse = size;
	if ((s->flags & SLAB_TYPESAFE_BY_RCU) || s->has_ctor) {
		/* The object may be used after free (RCU) or must keep its constructed state. */
		s->offset = size;
		size += ptr;
	} else {
		/* Mid-object, away from the edges small overflows reach. */
		s->offset = ALIGN_DOWN(s->object_size / 2, ptr);
	}
	size = ALIGN_UP(size, s->align);
	s->size = size;
	order = calculate_order(size, s->sys->nr_cpus);
	if (order < 0)
		return false;

	s->allocflags = __GFP_COMP;
	if (s->flags & SLAB_CACHE_DMA)
		s->allocflags |= GFP_DMA;
	if (s->flags & SLAB_CACHE_DMA32)
		s->allocflags |= GFP_DMA32;
	if (s->flags & SLAB_RECLAIM_ACCOUNT)
		s->allocflags |= __GFP_RECLAIMABLE;

	s->oo = oo_make((unsigned)order, size);
	s->min = oo_make(get_order(size), size);
	return s->oo.objects != 0;
}

/* set_cpu_partial + slub_set_cpu_partial. */
static void set_cpu_partial(struct kmem_cache *s)
{
	unsigned nr_objects;

	if (s->size >= PAGE_SIZE)
		nr_objects = 6;
	else if (s->size >= 1024)
		nr_objects = 24;
	else if (s->size >= 256)
		nr_objects = 52;
	else
		nr_objects = 120;
	s->cpu_partial = nr_objects;
	s->cpu_partial_slabs = DIV_ROUND_UP(nr_objects * 2, s->oo.objects);
}

/*
 * do_kmem_cache_create with the alignment already computed. Returns NULL (and why in *why) if
 * no layout fits. Does not put the cache on the list.
 */
static struct kmem_cache *create_cache(struct slab_system *sys, const char *name, unsigned size,
				       unsigned align, unsigned flags, bool has_ctor,
				       const char **why)
{
	struct kmem_cache *s = calloc(1, sizeof(*s));

	if (!s || !(s->name = strdup(name)) ||
	    !(s->cpu_slab = calloc(sys->nr_cpus, sizeof(*s->cpu_slab)))) {
		if (s) {
			free(s->name);
			free(s);
		}
		*why = "out of host memory";
		return NULL;
	}
	s->sys = sys;
	s->object_size = size;
	s->size = size;
	s->flags = flags & ~SLAB_DEBUG_FLAGS;	/* no slub_debug */
	s->align = align;
	s->has_ctor = has_ctor;
	INIT_LIST_HEAD(&s->list);
	INIT_LIST_HEAD(&s->slabs);
	INIT_LIST_HEAD(&s->node.partial);

	if (!calculate_sizes(s)) {
		free(s->cpu_slab);
		free(s->name);
		free(s);
		*why = "no slab order holds an object";
		return NULL;
	}
	unsigned long mp = ilog2_u(s->size) / 2;

	s->min_partial = mp < MIN_PARTIAL ? MIN_PARTIAL : mp > MAX_PARTIAL ? MAX_PARTIAL : mp;
	set_cpu_partial(s);
	return s;
}

static void destroy_cache_struct(struct kmem_cache *s)
{
	free(s->cpu_slab);
	free(s->name);
	free(s);
}

struct kmem_cache *kmem_cache_create(struct slab_system *sys, const char *name, unsigned size,
				     unsigned align, unsigned flags, bool has_ctor)
{
	const char *why = NULL;
	struct kmem_cache *s = NULL;

	if (!name)
		why = "no name";
	else if (size == 0 || size > KMALLOC_MAX_SIZE)
		why = "bad object size";
	else if (align && !is_power_of_2(align))
		why = "alignment is not a power of two";
	else if (flags & ~SLAB_KNOWN_FLAGS)
		why = "unknown flags";
	else if ((flags & (SLAB_CACHE_DMA | SLAB_CACHE_DMA32)) ==
		 (SLAB_CACHE_DMA | SLAB_CACHE_DMA32))
		why = "both SLAB_CACHE_DMA and SLAB_CACHE_DMA32";
	else
		s = create_cache(sys, name, size, calculate_alignment(sys, flags, align, size),
				 flags, has_ctor, &why);
	if (!s) {
		if (flags & SLAB_PANIC) {
			fprintf(stderr, "kmem_cache_create: Failed to create slab '%s': %s\n",
				name ? name : "(null)", why);
			abort();
		}
		fprintf(stderr, "kmem_cache_create(%s) failed: %s\n", name ? name : "(null)", why);
		return NULL;
	}
	list_add(&s->list, &sys->caches);
	return s;
}

/* __kmem_cache_do_shrink for the one node. Returns 1 if slabs remain. */
static int do_shrink(struct kmem_cache *s)
{
	struct kmem_cache_node *n = &s->node;
	struct slab *slab, *t;
	struct list_head discard, promote[SHRINK_PROMOTE_MAX];

	INIT_LIST_HEAD(&discard);
	for (int i = 0; i < SHRINK_PROMOTE_MAX; i++)
		INIT_LIST_HEAD(&promote[i]);

	list_for_each_entry_safe(slab, t, &n->partial, slab_list) {
		unsigned free = slab->objects - slab->inuse;

		assert(free > 0 && "a full slab on the node partial list");
		if (free == slab->objects) {
			list_move(&slab->slab_list, &discard);
			ClearPageWorkingset(slab_page(s->sys, slab));
			n->nr_partial--;
			dec_slabs_node(s, slab->objects);
		} else if (free <= SHRINK_PROMOTE_MAX) {
			list_move(&slab->slab_list, &promote[free - 1]);
		}
	}
	/* The fullest slabs go to the head of the partial list. */
	for (int i = SHRINK_PROMOTE_MAX - 1; i >= 0; i--)
		list_splice_init(&promote[i], &n->partial);

	list_for_each_entry_safe(slab, t, &discard, slab_list) {
		list_del_init(&slab->slab_list);
		free_slab(s, slab);
	}
	return n->nr_slabs ? 1 : 0;
}

int kmem_cache_shrink(struct kmem_cache *c)
{
	flush_all(c);
	return do_shrink(c);
}

int kmem_cache_destroy(struct kmem_cache *c)
{
	struct slab *slab, *h;

	flush_all(c);
	/* free_partial */
	list_for_each_entry_safe(slab, h, &c->node.partial, slab_list) {
		if (!slab->inuse) {
			remove_partial(c, slab);
			discard_slab(c, slab);
		} else {
			fprintf(stderr, "BUG %s: Objects remaining on __kmem_cache_shutdown() "
				"(slab at pfn %#llx, %u in use)\n", c->name,
				(unsigned long long)slab->pfn, slab->inuse);
		}
	}
	if (c->node.nr_partial || c->node.nr_slabs) {
		fprintf(stderr, "kmem_cache_destroy %s: Slab cache still has objects\n", c->name);
		return -1;
	}
	struct slab_system *sys = c->sys;

	for (int i = 0; i < NR_SLAB_MM_IDS; i++)
		if (sys->mm[i] == c)
			sys->mm[i] = NULL;
	for (int t = 0; t < NR_KMALLOC_TYPES; t++)
		for (int i = 0; i <= KMALLOC_SHIFT_HIGH; i++)
			if (sys->kmalloc[t][i] == c)
				sys->kmalloc[t][i] = NULL;
	list_del(&c->list);
	destroy_cache_struct(c);
	return 0;
}

/* ---- kmalloc ------------------------------------------------------------------------------ */

static const char *const kmalloc_type_prefix[NR_KMALLOC_TYPES] = {
	[KMALLOC_NORMAL] = "kmalloc-",
	[KMALLOC_RECLAIM] = "kmalloc-rcl-",
	[KMALLOC_DMA] = "dma-kmalloc-",
	[KMALLOC_CGROUP] = "kmalloc-cg-",
};

/* kmalloc_info[]: sizes and name suffixes by kmalloc index. */
static const struct {
	unsigned size;
	const char *suffix;
} kmalloc_info[KMALLOC_SHIFT_HIGH + 1] = {
	{ 0, NULL }, { 96, "96" }, { 192, "192" }, { 8, "8" }, { 16, "16" }, { 32, "32" },
	{ 64, "64" }, { 128, "128" }, { 256, "256" }, { 512, "512" }, { 1024, "1k" },
	{ 2048, "2k" }, { 4096, "4k" }, { 8192, "8k" },
};

/* kmalloc_size_index[]: kmalloc index of sizes up to 192, by (size - 1) / 8. */
static const uint8_t kmalloc_size_index[24] = {
	3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* kmalloc_type: __GFP_DMA first, then __GFP_RECLAIMABLE, then __GFP_ACCOUNT. */
static enum kmalloc_cache_type kmalloc_type(gfp_t flags)
{
	if (!(flags & (__GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT)))
		return KMALLOC_NORMAL;
	if (flags & __GFP_DMA)
		return KMALLOC_DMA;
	if (flags & __GFP_RECLAIMABLE)
		return KMALLOC_RECLAIM;
	return KMALLOC_CGROUP;
}

static unsigned kmalloc_index_of(size_t size)
{
	if (size <= 192)
		return kmalloc_size_index[(size - 1) / 8];
	return fls_u(size - 1);
}

struct kmem_cache *kmalloc_slab(struct slab_system *s, size_t size, gfp_t gfp)
{
	if (size == 0 || size > KMALLOC_MAX_CACHE_SIZE)
		return NULL;
	return s->kmalloc[kmalloc_type(gfp)][kmalloc_index_of(size)];
}

struct kmem_cache *kmalloc_cache(struct slab_system *s, enum kmalloc_cache_type type,
				 unsigned index)
{
	if (type >= NR_KMALLOC_TYPES || index < 1 || index > KMALLOC_SHIFT_HIGH)
		return NULL;
	return s->kmalloc[type][index];
}

/* create_kmalloc_cache via create_boot_cache: kmalloc alignment, then the cache list. */
static struct kmem_cache *create_kmalloc_cache(struct slab_system *sys, const char *name,
					       unsigned size, unsigned flags)
{
	unsigned align = ARCH_KMALLOC_MINALIGN;
	const char *why = NULL;

	flags |= SLAB_KMALLOC;
	/* kmalloc caches align to the largest power of two dividing the size */
	if ((1U << (__builtin_ffs((int)size) - 1)) > align)
		align = 1U << (__builtin_ffs((int)size) - 1);
	struct kmem_cache *s = create_cache(sys, name, size,
					    calculate_alignment(sys, flags, align, size), flags,
					    false, &why);
	if (!s)
		return NULL;
	list_add(&s->list, &sys->caches);
	return s;
}

/* create_kmalloc_caches: for every type, 96 and 192, then 8 ... 8k (new_kmalloc_cache). */
static bool create_kmalloc_caches(struct slab_system *sys)
{
	for (int type = 0; type < NR_KMALLOC_TYPES; type++) {
		unsigned flags = 0;

		if (type == KMALLOC_RECLAIM)
			flags |= SLAB_RECLAIM_ACCOUNT;
		else if (type == KMALLOC_CGROUP)
			flags |= SLAB_ACCOUNT;
		else if (type == KMALLOC_DMA)
			flags |= SLAB_CACHE_DMA;
		if (type == KMALLOC_NORMAL)
			flags |= SLAB_NO_MERGE;		/* CONFIG_MEMCG */

		/* index 1 (96) and 2 (192) first, then 3..13 (8 ... 8k) */
		for (unsigned i = 1; i <= KMALLOC_SHIFT_HIGH; i++) {
			char name[32];

			snprintf(name, sizeof(name), "%s%s", kmalloc_type_prefix[type],
				 kmalloc_info[i].suffix);
			sys->kmalloc[type][i] = create_kmalloc_cache(sys, name,
								     kmalloc_info[i].size, flags);
			if (!sys->kmalloc[type][i])
				return false;
		}
	}
	return true;
}

/* ___kmalloc_large_node: a compound block from the page allocator. */
static uint64_t kmalloc_large(struct slab_system *s, size_t size, gfp_t flags)
{
	unsigned order = get_order(size);

	if (order > MAX_PAGE_ORDER)
		return 0;
	if (flags & GFP_SLAB_BUG_MASK)
		flags = kmalloc_fix_flags(flags);
	flags |= __GFP_COMP;
	if (s->init_on_alloc)
		flags |= __GFP_ZERO;		/* want_init_on_alloc in post_alloc_hook */
	if (s->nr_large == s->cap_large) {
		size_t cap = s->cap_large ? s->cap_large * 2 : 16;
		struct kmalloc_large_block *b = realloc(s->large, cap * sizeof(*b));

		if (!b)
			return 0;
		s->large = b;
		s->cap_large = cap;
	}
	struct page *page = alloc_pages(s->pgdat, flags, order);

	if (!page)
		return 0;
	uint64_t pfn = page_to_pfn(s->pgdat, page);

	s->large[s->nr_large++] = (struct kmalloc_large_block){ pfn, order };
	s->large_pages += 1UL << order;
	emit(s, NULL, SLAB_EV_ALLOC, pfn << PAGE_SHIFT, true, 1U << order);
	return pfn << PAGE_SHIFT;
}

uint64_t kmalloc(struct slab_system *s, size_t size, gfp_t gfp)
{
	if (size == 0)
		return SLAB_ZERO_SIZE_PTR;
	if (size > KMALLOC_MAX_CACHE_SIZE)
		return kmalloc_large(s, size, gfp);
	return kmem_cache_alloc(kmalloc_slab(s, size, gfp), gfp);
}

/* free_large_kmalloc */
static void free_large_kmalloc(struct slab_system *s, uint64_t obj)
{
	uint64_t pfn = obj >> PAGE_SHIFT;

	for (size_t i = 0; i < s->nr_large; i++) {
		if (s->large[i].pfn != pfn)
			continue;
		if (obj & (PAGE_SIZE - 1))
			break;
		unsigned order = s->large[i].order;

		s->large[i] = s->large[--s->nr_large];
		s->large_pages -= 1UL << order;
		__free_pages(s->pgdat, pfn_to_page(s->pgdat, pfn), order);
		emit(s, NULL, SLAB_EV_FREE, obj, true, 1U << order);
		return;
	}
	slab_bug(NULL, "kfree: %#llx (kva %#llx) is neither a slab object nor a live large "
		 "kmalloc block (double free or stray pointer)", (unsigned long long)obj,
		 (unsigned long long)slab_kva(s, obj));
}

void kfree(struct slab_system *s, uint64_t obj)
{
	if (SLAB_ZERO_OR_NULL_PTR(obj))
		return;
	struct slab *slab = phys_to_slab(s, obj);

	if (!slab) {
		free_large_kmalloc(s, obj);
		return;
	}
	slab_free(slab->cache, slab_free_checks(slab->cache, slab, obj, "kfree"), obj);
}

unsigned long slab_kmalloc_large_pages(const struct slab_system *s)
{
	return s->large_pages;
}

/* ---- the memory manager's caches ---------------------------------------------------------- */

/*
 * Object sizes, Debian 6.12 configurations. x86-64 from config.amd64_none_amd64 (the values
 * match the layouts in include/linux/mm_types.h, rmap.h, maple_tree.h, computed field by field):
 *   vm_area_struct 176 (PER_VMA_LOCK: vm_lock_seq + vm_lock, NUMA policy, NUMA balancing,
 *     swap readahead, userfaultfd; no ANON_VMA_NAME); KMEM_CACHE alignment 8.
 *   vma_lock 40 (one rw_semaphore: count, owner, osq, wait_lock, wait_list).
 *   mm_struct: sizeof 1344 (the first block is ____cacheline_aligned, the struct is padded to
 *     64) + cpumask_size() + mm_cid_size(), each BITS_TO_LONGS(nr_cpu_ids) longs because
 *     NR_CPUS = 8192 makes cpumasks nr_cpu_ids long; HWCACHE_ALIGN. 1..64 CPUs: 1360 -> 1408.
 *   anon_vma 96 (root, rwsem 40, refcount, num_children, num_active_vmas, parent,
 *     rb_root_cached 16); RCU-typesafe with a constructor, so the free pointer follows: 104.
 *   anon_vma_chain 64; maple_node 256 aligned to 256 (31 slots + parent).
 * i386 (a 686-pae-like configuration: no PER_VMA_LOCK, which only x86-64 selects; no NUMA;
 * NR_CPUS = 32 so cpumasks are one 4-byte word), with 4-byte pointers and longs and i386's
 * 4-byte alignment of 64-bit struct members (atomic64_t alone is aligned to 8):
 *   vm_area_struct 72, or 76 with PAE (pgprot_t is 64-bit); alignment 4, so 8 after
 *     calculate_alignment: size 72 or 80.
 *   mm_struct: sizeof 768 (the fields sum to 712, 728 with PAE's LRU_GEN_WALKS_MMU, padded to
 *     64) + 4 + 4 = 776 -> 832 with HWCACHE_ALIGN.
 *   anon_vma 52 (rwsem 24) -> 56 with the free pointer after it; anon_vma_chain 32;
 *   maple_node 256 (63 slots + parent), aligned to 256.
 */
static bool create_mm_caches(struct slab_system *s)
{
	const bool x64 = s->ptr_bytes == 8;
	const bool pae = s->pgdat->pae;
	unsigned mm_size;

	if (x64) {
		unsigned long cpumask_bytes = DIV_ROUND_UP(s->nr_cpus, 64) * 8;

		mm_size = 1344 + 2 * (unsigned)cpumask_bytes;
	} else {
		mm_size = 768 + 4 + 4;
	}
	/* mm_core_init: mm_cache_init (pgd_cache, made earlier there, is optional) */
	s->mm[SLAB_MM] = kmem_cache_create(s, "mm_struct", mm_size, 0,
					   SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT, false);
	/* start_kernel: maple_tree_init */
	s->mm[SLAB_MAPLE_NODE] = kmem_cache_create(s, "maple_node", 256, 256, SLAB_PANIC, false);
	/* anon_vma_init */
	s->mm[SLAB_ANON_VMA] = kmem_cache_create(s, "anon_vma", x64 ? 96 : 52, 0,
						 SLAB_TYPESAFE_BY_RCU | SLAB_PANIC | SLAB_ACCOUNT,
						 true);
	s->mm[SLAB_ANON_VMA_CHAIN] = kmem_cache_create(s, "anon_vma_chain", x64 ? 64 : 32,
						       x64 ? 8 : 4, SLAB_PANIC | SLAB_ACCOUNT,
						       false);
	/* proc_caches_init */
	s->mm[SLAB_VMA] = kmem_cache_create(s, "vm_area_struct", x64 ? 176 : pae ? 76 : 72,
					    x64 ? 8 : 4, SLAB_PANIC | SLAB_ACCOUNT, false);
	if (x64)
		s->mm[SLAB_VMA_LOCK] = kmem_cache_create(s, "vma_lock", 40, 8,
							 SLAB_PANIC | SLAB_ACCOUNT, false);
	return true;
}

struct kmem_cache *slab_create_pgd_cache(struct slab_system *s)
{
	if (s->ptr_bytes != 4 || !s->pgdat->pae)
		return NULL;
	if (s->mm[SLAB_PGD])
		return s->mm[SLAB_PGD];

	/* PGD_SIZE = PGD_ALIGN = 32: four 8-byte PDPT entries. */
	struct kmem_cache *c = kmem_cache_create(s, "pgd_cache", 32, 32, SLAB_PANIC, false);

	/* Boot creates it in mm_core_init before mm_struct: it goes after mm_struct in the list. */
	if (s->mm[SLAB_MM]) {
		list_del(&c->list);
		list_add(&c->list, &s->mm[SLAB_MM]->list);
	}
	s->mm[SLAB_PGD] = c;
	return c;
}

struct kmem_cache *slab_mm_cache(struct slab_system *s, enum slab_mm_id id)
{
	return id < NR_SLAB_MM_IDS ? s->mm[id] : NULL;
}

struct kmem_cache *slab_find_cache(const struct slab_system *s, const char *name)
{
	struct kmem_cache *c;

	list_for_each_entry(c, &s->caches, list)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* ---- the system --------------------------------------------------------------------------- */

struct slab_system *slab_system_new(struct pglist_data *pgdat, unsigned nr_cpus,
				    unsigned ptr_bytes, uint64_t kernel_va_offset)
{
	const char *why = NULL;

	if (!pgdat || !pgdat->mem_map)
		why = "no node";
	else if (!pgdat->phys)
		why = "pgdat->phys is not set (objects live in modelled memory)";
	else if (pgdat->nr_reserved_pages < 1)
		why = "pfn 0 must be reserved";
	else if (nr_cpus < 1 || nr_cpus > MAX_NR_CPUS)
		why = "nr_cpus must be 1..8192";
	else if (ptr_bytes != 4 && ptr_bytes != 8)
		why = "ptr_bytes must be 4 or 8";
	else if ((ptr_bytes == 8) != pgdat->x86_64)
		why = "ptr_bytes does not match the node's architecture";
	else if (kernel_va_offset == 0)
		why = "kernel_va_offset (PAGE_OFFSET) must be nonzero";
	else if (ptr_bytes == 4 && (kernel_va_offset > UINT32_MAX ||
				    kernel_va_offset + (pgdat->max_low_pfn << PAGE_SHIFT) >
				    (uint64_t)UINT32_MAX + 1))
		why = "i386 PAGE_OFFSET + lowmem does not fit in 32 bits";
	if (why) {
		fprintf(stderr, "slab_system_new: %s\n", why);
		return NULL;
	}

	struct slab_system *s = calloc(1, sizeof(*s));

	if (!s) {
		fprintf(stderr, "slab_system_new: out of host memory\n");
		return NULL;
	}
	s->pgdat = pgdat;
	s->nr_cpus = nr_cpus;
	s->ptr_bytes = ptr_bytes;
	s->kva_offset = kernel_va_offset;
	s->mem_bytes = pgdat->node_spanned_pages << PAGE_SHIFT;
	s->init_on_alloc = true;
	INIT_LIST_HEAD(&s->caches);

	if (!create_kmalloc_caches(s) || !create_mm_caches(s)) {
		fprintf(stderr, "slab_system_new: out of host memory\n");
		slab_system_free(s);
		return NULL;
	}
	return s;
}

void slab_system_free(struct slab_system *s)
{
	struct kmem_cache *c, *tc;

	if (!s)
		return;
	list_for_each_entry_safe(c, tc, &s->caches, list) {
		struct slab *slab, *t;

		list_for_each_entry_safe(slab, t, &c->slabs, all) {
			if (slab_test_node_partial(c, slab))
				remove_partial(c, slab);
			__free_slab(c, slab);
		}
		list_del(&c->list);
		destroy_cache_struct(c);
	}
	for (size_t i = 0; i < s->nr_large; i++)
		__free_pages(s->pgdat, pfn_to_page(s->pgdat, s->large[i].pfn), s->large[i].order);
	free(s->large);
	free(s->table);
	free(s->free_ids);
	free(s);
}

void slab_system_set_ops(struct slab_system *s, const struct slab_ops *ops)
{
	if (ops)
		s->ops = *ops;
	else
		memset(&s->ops, 0, sizeof(s->ops));
}

void slab_system_set_init_on_alloc(struct slab_system *s, bool on)
{
	s->init_on_alloc = on;
}

unsigned long slab_system_pages(const struct slab_system *s, unsigned long *reclaimable,
				unsigned long *unreclaimable)
{
	unsigned long recl = 0, unrecl = s->large_pages;
	const struct kmem_cache *c;

	list_for_each_entry(c, &s->caches, list) {
		if (c->flags & SLAB_RECLAIM_ACCOUNT)
			recl += c->pages;
		else
			unrecl += c->pages;
	}
	if (reclaimable)
		*reclaimable = recl;
	if (unreclaimable)
		*unreclaimable = unrecl;
	return recl + unrecl;
}

/* ---- inspection --------------------------------------------------------------------------- */

/* count_partial_free_approx */
static unsigned long count_partial_free_approx(const struct kmem_cache *s)
{
	const struct kmem_cache_node *n = &s->node;
	const struct slab *slab;
	unsigned long x = 0;

	if (n->nr_partial <= MAX_PARTIAL_TO_SCAN) {
		list_for_each_entry(slab, &n->partial, slab_list)
			x += slab->objects - slab->inuse;
	} else {
		unsigned long scanned = 0;

		list_for_each_entry(slab, &n->partial, slab_list) {
			x += slab->objects - slab->inuse;
			if (++scanned == MAX_PARTIAL_TO_SCAN / 2)
				break;
		}
		for (const struct list_head *p = n->partial.prev; p != &n->partial; p = p->prev) {
			slab = list_entry(p, struct slab, slab_list);
			x += slab->objects - slab->inuse;
			if (++scanned == MAX_PARTIAL_TO_SCAN)
				break;
		}
		x = x * n->nr_partial / scanned;	/* mult_frac */
		if (x > n->total_objects)
			x = n->total_objects;
	}
	return x;
}

void kmem_cache_get_info(const struct kmem_cache *c, struct kmem_cache_info *out)
{
	unsigned long cpu_partial = 0;

	for (const struct slab *p = c->cpu_slab[0].partial; p; p = p->next)
		cpu_partial++;
	*out = (struct kmem_cache_info){
		.name = c->name,
		.object_size = c->object_size,
		.size = c->size,
		.align = c->align,
		.offset = c->offset,
		.flags = c->flags,
		.objects_per_slab = c->oo.objects,
		.order = c->oo.order,
		.min_order = c->min.order,
		.min_partial = (unsigned)c->min_partial,
		.cpu_partial = c->cpu_partial,
		.cpu_partial_slabs = c->cpu_partial_slabs,
		.active_objs = c->node.total_objects - count_partial_free_approx(c),
		.num_objs = c->node.total_objects,
		.active_slabs = c->node.nr_slabs,
		.num_slabs = c->node.nr_slabs,
		.inuse_objs = c->inuse_objs,
		.nr_partial = c->node.nr_partial,
		.nr_cpu_partial = cpu_partial,
		.pages = c->pages,
	};
}

const char *kmem_cache_name(const struct kmem_cache *c) { return c->name; }
unsigned kmem_cache_object_size(const struct kmem_cache *c) { return c->object_size; }
unsigned kmem_cache_size(const struct kmem_cache *c) { return c->size; }
unsigned kmem_cache_objs_per_slab(const struct kmem_cache *c) { return c->oo.objects; }
unsigned kmem_cache_order(const struct kmem_cache *c) { return c->oo.order; }
unsigned long kmem_cache_total_objs(const struct kmem_cache *c) { return c->node.total_objects; }
unsigned long kmem_cache_active_slabs(const struct kmem_cache *c) { return c->node.nr_slabs; }
unsigned long kmem_cache_total_slabs(const struct kmem_cache *c) { return c->node.nr_slabs; }

unsigned long kmem_cache_active_objs(const struct kmem_cache *c)
{
	return c->node.total_objects - count_partial_free_approx(c);
}

unsigned long kmem_cache_stat(const struct kmem_cache *c, enum slub_stat_item item)
{
	return item < NR_SLUB_STAT_ITEMS ? c->stat[item] : 0;
}

void slabinfo_show(const struct slab_system *s, FILE *out)
{
	const struct kmem_cache *c;

	list_for_each_entry(c, &s->caches, list) {
		if (&c->list == s->caches.next) {	/* print_slabinfo_header */
			fputs("slabinfo - version: 2.1\n", out);
			fputs("# name            <active_objs> <num_objs> <objsize> <objperslab> "
			      "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
			      "slabdata <active_slabs> <num_slabs> <sharedavail>\n", out);
		}
		unsigned long nr_objs = c->node.total_objects;

		/* cache_show with get_slabinfo; SLUB has no tunables and no shared arrays */
		fprintf(out, "%-17s %6lu %6lu %6u %4u %4d", c->name,
			nr_objs - count_partial_free_approx(c), nr_objs, c->size, c->oo.objects,
			1 << c->oo.order);
		fprintf(out, " : tunables %4u %4u %4u", 0U, 0U, 0U);
		fprintf(out, " : slabdata %6lu %6lu %6lu\n", c->node.nr_slabs, c->node.nr_slabs,
			0UL);
	}
}

/* ---- self-check --------------------------------------------------------------------------- */

static _Thread_local char check_buf[320];

#define CHECK_FAIL(...)								\
	do {									\
		snprintf(check_buf, sizeof(check_buf), __VA_ARGS__);		\
		return check_buf;						\
	} while (0)

/*
 * Walk the free list starting at `head` in slab, without aborting: every element must be an
 * object start of the slab, marked free, and not seen before (seen[] is a per-slab scratch
 * bitmap). *len gets its length.
 */
static const char *check_chain(const struct kmem_cache *c, const struct slab *slab, uint64_t head,
			       uint64_t *seen, unsigned *len, const char *what)
{
	uint64_t base = slab_base(slab);
	unsigned n = 0;

	for (uint64_t p = head; p;) {
		if (p < base || (p - base) % c->size || (p - base) / c->size >= slab->objects)
			CHECK_FAIL("%s: %s of slab %#llx holds %#llx, not one of its objects",
				   c->name, what, (unsigned long long)slab->pfn,
				   (unsigned long long)p);
		unsigned i = (unsigned)((p - base) / c->size);

		if ((seen[i / 64] >> (i % 64)) & 1)
			CHECK_FAIL("%s: %s of slab %#llx reaches object %u twice (cycle or shared)",
				   c->name, what, (unsigned long long)slab->pfn, i);
		seen[i / 64] |= 1ULL << (i % 64);
		if (!((slab->free_map[i / 64] >> (i % 64)) & 1))
			CHECK_FAIL("%s: %s of slab %#llx holds allocated object %u", c->name, what,
				   (unsigned long long)slab->pfn, i);
		n++;
		uint64_t v = read_guest_ptr(c->sys, p + c->offset);

		if (!decode_freepointer(c, slab, v, &p))
			CHECK_FAIL("%s: %s of slab %#llx: object %u holds bad free pointer %#llx",
				   c->name, what, (unsigned long long)slab->pfn, i,
				   (unsigned long long)v);
	}
	*len = n;
	return NULL;
}

static const char *check_cache(const struct kmem_cache *c)
{
	const struct slab_system *sys = c->sys;
	struct slab *slab;
	unsigned long nr_slabs = 0, nr_objs = 0, pages = 0, inuse = 0;

	if (c->oo.objects != order_objects(c->oo.order, c->size))
		CHECK_FAIL("%s: oo objects %u for order %u, size %u", c->name, c->oo.objects,
			   c->oo.order, c->size);

	/* Every slab: its pages, its table entry. */
	list_for_each_entry(slab, &c->slabs, all) {
		const struct page *page;

		if (slab->cache != c)
			CHECK_FAIL("%s: slab %#llx on its list belongs to %s", c->name,
				   (unsigned long long)slab->pfn, slab->cache->name);
		if (!pfn_valid(sys->pgdat, slab->pfn) || (slab->pfn & ((1ULL << slab->order) - 1)))
			CHECK_FAIL("%s: slab pfn %#llx invalid or unaligned to order %u", c->name,
				   (unsigned long long)slab->pfn, slab->order);
		if (slab->id >= sys->table_len || sys->table[slab->id] != slab)
			CHECK_FAIL("%s: slab %#llx not in the slab table", c->name,
				   (unsigned long long)slab->pfn);
		page = &sys->pgdat->mem_map[slab->pfn - sys->pgdat->node_start_pfn];
		if (!PageSlab(page))
			CHECK_FAIL("%s: slab %#llx head page not typed PGTY_slab (page_type %#x)",
				   c->name, (unsigned long long)slab->pfn, page->page_type);
		if (page->private != slab->id)
			CHECK_FAIL("%s: slab %#llx head page private %u, slab id %u", c->name,
				   (unsigned long long)slab->pfn, page->private, slab->id);
		if (page_ref_count(page) < 1)
			CHECK_FAIL("%s: slab %#llx head page refcount %d", c->name,
				   (unsigned long long)slab->pfn, page_ref_count(page));
		if (slab->order ? (!PageHead(page) || compound_order(page) != slab->order)
				: PageHead(page))
			CHECK_FAIL("%s: slab %#llx of order %u: compound order %u", c->name,
				   (unsigned long long)slab->pfn, slab->order,
				   compound_order(page));
		for (unsigned long i = 1; i < (1UL << slab->order); i++)
			if (PageSlab(page + i))
				CHECK_FAIL("%s: slab %#llx tail page %lu typed", c->name,
					   (unsigned long long)slab->pfn, i);
		if (slab->order != c->oo.order && slab->order != c->min.order)
			CHECK_FAIL("%s: slab %#llx order %u is neither oo %u nor min %u", c->name,
				   (unsigned long long)slab->pfn, slab->order, c->oo.order,
				   c->min.order);
		if (slab->objects != order_objects(slab->order, c->size))
			CHECK_FAIL("%s: slab %#llx has %u objects for order %u", c->name,
				   (unsigned long long)slab->pfn, slab->objects, slab->order);
		if (slab->inuse > slab->objects)
			CHECK_FAIL("%s: slab %#llx inuse %u > objects %u", c->name,
				   (unsigned long long)slab->pfn, slab->inuse, slab->objects);
		slab->place = PLACE_NONE;
		nr_slabs++;
		nr_objs += slab->objects;
		pages += 1UL << slab->order;
		if (nr_slabs > sys->table_len)
			CHECK_FAIL("%s: the slab list loops", c->name);
	}

	/* Per-CPU state. */
	for (unsigned cpu = 0; cpu < sys->nr_cpus; cpu++) {
		const struct kmem_cache_cpu *cc = &c->cpu_slab[cpu];

		if (cc->slab) {
			if (cc->slab->cache != c || sys->table[cc->slab->id] != cc->slab)
				CHECK_FAIL("%s: cpu %u slab is not a slab of the cache", c->name,
					   cpu);
			if (!cc->slab->frozen)
				CHECK_FAIL("%s: cpu %u slab %#llx is not frozen", c->name, cpu,
					   (unsigned long long)cc->slab->pfn);
			if (cc->slab->place != PLACE_NONE)
				CHECK_FAIL("%s: cpu %u slab %#llx is in two places", c->name, cpu,
					   (unsigned long long)cc->slab->pfn);
			cc->slab->place = PLACE_CPU;
		} else if (cc->freelist) {
			CHECK_FAIL("%s: cpu %u has a freelist but no slab", c->name, cpu);
		}
		unsigned count = 0;

		for (struct slab *p = cc->partial; p; p = p->next)
			count++;
		for (struct slab *p = cc->partial; p; p = p->next, count--) {
			if (p->cache != c)
				CHECK_FAIL("%s: cpu %u partial slab of another cache", c->name,
					   cpu);
			if (p->frozen)
				CHECK_FAIL("%s: cpu %u partial slab %#llx is frozen", c->name, cpu,
					   (unsigned long long)p->pfn);
			if (p->place != PLACE_NONE)
				CHECK_FAIL("%s: cpu %u partial slab %#llx is in two places",
					   c->name, cpu, (unsigned long long)p->pfn);
			if (p->slabs != count)
				CHECK_FAIL("%s: cpu %u partial slab %#llx counts %u slabs, %u "
					   "remain", c->name, cpu, (unsigned long long)p->pfn,
					   p->slabs, count);
			if (!p->freelist)
				CHECK_FAIL("%s: cpu %u partial slab %#llx has no free object",
					   c->name, cpu, (unsigned long long)p->pfn);
			p->place = PLACE_CPU_PARTIAL;
		}
	}

	/* The node partial list. */
	unsigned long nr_partial = 0;
	const struct list_head *pos;

	list_for_each(pos, &c->node.partial) {
		slab = list_entry(pos, struct slab, slab_list);
		if (++nr_partial > nr_slabs)
			CHECK_FAIL("%s: node partial list loops or holds foreign slabs", c->name);
		if (slab->cache != c)
			CHECK_FAIL("%s: node partial slab of another cache", c->name);
		if (slab->frozen)
			CHECK_FAIL("%s: node partial slab %#llx is frozen", c->name,
				   (unsigned long long)slab->pfn);
		if (slab->place != PLACE_NONE)
			CHECK_FAIL("%s: node partial slab %#llx is in two places", c->name,
				   (unsigned long long)slab->pfn);
		if (!slab->freelist || slab->inuse >= slab->objects)
			CHECK_FAIL("%s: node partial slab %#llx is full", c->name,
				   (unsigned long long)slab->pfn);
		slab->place = PLACE_NODE_PARTIAL;
	}
	if (nr_partial != c->node.nr_partial)
		CHECK_FAIL("%s: nr_partial %lu, list holds %lu", c->name, c->node.nr_partial,
			   nr_partial);

	/* Free lists against inuse and the free bitmap. */
	list_for_each_entry(slab, &c->slabs, all) {
		uint64_t seen[(MAX_OBJS_PER_PAGE + 64) / 64];
		unsigned words = DIV_ROUND_UP(slab->objects, 64);
		unsigned len = 0, cpu_len = 0, nfree = 0;
		const char *why;
		const struct page *page = slab_page(sys, slab);

		memset(seen, 0, words * sizeof(uint64_t));
		if ((why = check_chain(c, slab, slab->freelist, seen, &len, "slab freelist")))
			return why;
		if (slab->place == PLACE_CPU) {
			for (unsigned cpu = 0; cpu < sys->nr_cpus; cpu++)
				if (c->cpu_slab[cpu].slab == slab &&
				    (why = check_chain(c, slab, c->cpu_slab[cpu].freelist, seen,
						       &cpu_len, "cpu freelist")))
					return why;
		}
		for (unsigned w = 0; w < words; w++)
			nfree += (unsigned)__builtin_popcountll(slab->free_map[w]);
		if (slab->inuse != slab->objects - len)
			CHECK_FAIL("%s: slab %#llx inuse %u but %u of %u objects on its freelist",
				   c->name, (unsigned long long)slab->pfn, slab->inuse, len,
				   slab->objects);
		if (len + cpu_len != nfree)
			CHECK_FAIL("%s: slab %#llx has %u free objects, lists hold %u", c->name,
				   (unsigned long long)slab->pfn, nfree, len + cpu_len);
		if (slab->frozen != (slab->place == PLACE_CPU))
			CHECK_FAIL("%s: slab %#llx frozen %d but %s a cpu slab", c->name,
				   (unsigned long long)slab->pfn, slab->frozen,
				   slab->place == PLACE_CPU ? "is" : "is not");
		if (PageWorkingset(page) != (slab->place == PLACE_NODE_PARTIAL))
			CHECK_FAIL("%s: slab %#llx PG_workingset %d, on node partial list %d",
				   c->name, (unsigned long long)slab->pfn, PageWorkingset(page),
				   slab->place == PLACE_NODE_PARTIAL);
		if (slab->place == PLACE_NONE && slab->inuse != slab->objects)
			CHECK_FAIL("%s: slab %#llx with %u free objects is on no list", c->name,
				   (unsigned long long)slab->pfn, slab->objects - slab->inuse);
		inuse += slab->objects - nfree;
	}

	if (nr_slabs != c->node.nr_slabs || nr_objs != c->node.total_objects)
		CHECK_FAIL("%s: node counts %lu slabs %lu objects, found %lu and %lu", c->name,
			   c->node.nr_slabs, c->node.total_objects, nr_slabs, nr_objs);
	if (pages != c->pages)
		CHECK_FAIL("%s: %lu pages accounted, slabs hold %lu", c->name, c->pages, pages);
	if (c->stat[SLUB_SLAB_PAGES_ALLOC] - c->stat[SLUB_SLAB_PAGES_FREE] != pages)
		CHECK_FAIL("%s: pages allocated %lu - freed %lu != %lu held", c->name,
			   c->stat[SLUB_SLAB_PAGES_ALLOC], c->stat[SLUB_SLAB_PAGES_FREE], pages);
	if (inuse != c->inuse_objs)
		CHECK_FAIL("%s: %lu objects allocated, slabs hold %lu", c->name, c->inuse_objs,
			   inuse);
	return NULL;
}

const char *slab_check(const struct slab_system *s)
{
	const struct kmem_cache *c;
	unsigned long slabs = 0;
	const char *why;

	list_for_each_entry(c, &s->caches, list) {
		if ((why = check_cache(c)))
			return why;
		slabs += c->node.nr_slabs;
	}
	unsigned long in_table = 0;

	for (uint32_t i = 0; i < s->table_len; i++)
		in_table += s->table[i] != NULL;
	if (in_table != slabs)
		CHECK_FAIL("slab table holds %lu slabs, caches %lu", in_table, slabs);
	if (in_table + s->nr_free_ids != s->table_len)
		CHECK_FAIL("slab table: %lu used + %u free ids != %u", in_table, s->nr_free_ids,
			   s->table_len);

	unsigned long large = 0;

	for (size_t i = 0; i < s->nr_large; i++) {
		const struct kmalloc_large_block *b = &s->large[i];
		const struct page *page;

		if (!pfn_valid(s->pgdat, b->pfn))
			CHECK_FAIL("large kmalloc block at invalid pfn %#llx",
				   (unsigned long long)b->pfn);
		page = &s->pgdat->mem_map[b->pfn - s->pgdat->node_start_pfn];
		if (page_ref_count(page) < 1 || PageSlab(page) || !PageHead(page) ||
		    compound_order(page) != b->order)
			CHECK_FAIL("large kmalloc block %#llx: refcount %d, order %u/%u",
				   (unsigned long long)b->pfn, page_ref_count(page),
				   compound_order(page), b->order);
		large += 1UL << b->order;
	}
	if (large != s->large_pages)
		CHECK_FAIL("large kmalloc pages %lu, blocks hold %lu", s->large_pages, large);
	return NULL;
}
