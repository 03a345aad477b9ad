/*
 * slub.h — the guest kernel's slab allocator (SLUB), modelled on Linux 6.12 (6.12.117):
 * mm/slub.c, mm/slab_common.c, include/linux/slab.h. linux-mm-facts.md §3 lists the rules.
 *
 * A slab system holds every cache of one machine. It sits on the buddy allocator of one node
 * (page_alloc.h): slabs are buddy blocks (alloc_pages with the cache's order, __GFP_COMP), typed
 * PGTY_slab on their first page, and objects live in modelled physical memory (pgdat->phys). An
 * object is named by its physical address; slab_kva() gives the kernel virtual address Linux
 * would print (PAGE_OFFSET + physical address: all slab memory is lowmem).
 *
 * The free list of a slab is kept inside the free objects, in modelled memory, as Linux keeps it:
 * each free object holds the kernel virtual address of the next free object (0 ends the list) in
 * a guest pointer (4 bytes for i386, 8 for x86-64) at the cache's free-pointer offset. Reading
 * the guest's memory shows what a real kernel's memory would show (without
 * CONFIG_SLAB_FREELIST_HARDENED's obfuscation; see slub.c for every simplification).
 *
 * Boot (slab_system_new) creates, in Linux's order, the kmalloc caches of four types (kmalloc-N,
 * kmalloc-rcl-N, dma-kmalloc-N, kmalloc-cg-N; N = 96, 192, 8 ... 8k) and the memory manager's
 * caches: mm_struct, maple_node, anon_vma, anon_vma_chain, vm_area_struct and, on x86-64,
 * vma_lock, with the object sizes of a Debian 6.12 kernel for the guest architecture.
 *
 * Errors: bad arguments to kmem_cache_create give NULL and a message on stderr (SLAB_PANIC
 * aborts, as Linux panics). An allocation the page allocator cannot back returns 0. Freeing
 * something that is not a live object of the cache (double free, wrong cache, not an object
 * start, not a slab address) is a guest-kernel bug: it prints "BUG <cache>: ..." and aborts, as
 * Linux's slab checks BUG() under CONFIG_SLAB_FREELIST_HARDENED.
 *
 * Not thread-safe: one slab system is driven by one thread, and only CPU 0 of the modelled
 * machine allocates and frees.
 */
#ifndef MMUEMU_KERNEL_MODEL_SLUB_H
#define MMUEMU_KERNEL_MODEL_SLUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gfp.h"
#include "page_alloc.h"

/* ---- cache flags (include/linux/slab.h enum _slab_flag_bits) ------------------------------- */

/*
 * Linux numbers these bits from an enum whose members depend on the configuration. The values
 * below are those of Debian's 6.12 amd64 kernel (no DEBUG_OBJECTS, no FAILSLAB, MEMCG, no
 * KASAN_GENERIC, KFENCE, not SLUB_TINY, SLAB_OBJ_EXT).
 */
#define SLAB_CONSISTENCY_CHECKS	(1U << 0)	/* debug: not modelled, ignored */
#define SLAB_RED_ZONE		(1U << 1)	/* debug: not modelled, ignored */
#define SLAB_POISON		(1U << 2)	/* debug: not modelled, ignored */
#define SLAB_KMALLOC		(1U << 3)	/* a kmalloc cache (set by boot) */
#define SLAB_HWCACHE_ALIGN	(1U << 4)	/* align objects on cache lines */
#define SLAB_CACHE_DMA		(1U << 5)	/* slabs from ZONE_DMA */
#define SLAB_CACHE_DMA32	(1U << 6)	/* slabs from ZONE_DMA32 */
#define SLAB_STORE_USER		(1U << 7)	/* debug: not modelled, ignored */
#define SLAB_PANIC		(1U << 8)	/* abort if the cache cannot be created */
#define SLAB_TYPESAFE_BY_RCU	(1U << 9)	/* slabs freed after an RCU grace period */
#define SLAB_TRACE		(1U << 10)	/* debug: not modelled, ignored */
#define SLAB_NOLEAKTRACE	(1U << 11)	/* kmemleak: no effect here */
#define SLAB_NO_MERGE		(1U << 12)	/* never merged (no cache is merged here anyway) */
#define SLAB_ACCOUNT		(1U << 13)	/* memcg accounting: recorded, not modelled */
#define SLAB_NO_USER_FLAGS	(1U << 14)	/* ignore slub_debug= */
#define SLAB_SKIP_KFENCE	(1U << 15)	/* KFENCE: no effect here */
#define SLAB_RECLAIM_ACCOUNT	(1U << 16)	/* reclaimable: __GFP_RECLAIMABLE, SReclaimable */
#define SLAB_NO_OBJ_EXT		(1U << 19)	/* no object extensions: no effect here */

/* kmalloc(0) returns this, as Linux's ZERO_SIZE_PTR ((void *)16); kfree() ignores it. */
#define SLAB_ZERO_SIZE_PTR	16ULL
#define SLAB_ZERO_OR_NULL_PTR(x)	((uint64_t)(x) <= SLAB_ZERO_SIZE_PTR)

/* kmalloc size classes (include/linux/slab.h). */
#define KMALLOC_SHIFT_LOW	3			/* smallest class: 8 bytes */
#define KMALLOC_SHIFT_HIGH	(PAGE_SHIFT + 1)	/* largest slab class: 8 KiB */
#define KMALLOC_MAX_CACHE_SIZE	(1UL << KMALLOC_SHIFT_HIGH)
#define KMALLOC_MAX_SIZE	(1UL << (MAX_PAGE_ORDER + PAGE_SHIFT))	/* 4 MiB */

/* kmalloc cache families (enum kmalloc_cache_type without RANDOM_KMALLOC_CACHES). */
enum kmalloc_cache_type {
	KMALLOC_NORMAL,		/* "kmalloc-N" */
	KMALLOC_RECLAIM,	/* "kmalloc-rcl-N": __GFP_RECLAIMABLE */
	KMALLOC_DMA,		/* "dma-kmalloc-N": __GFP_DMA */
	KMALLOC_CGROUP,		/* "kmalloc-cg-N": __GFP_ACCOUNT */
	NR_KMALLOC_TYPES
};

/* The caches of the memory manager (slab_mm_cache). */
enum slab_mm_id {
	SLAB_MM,		/* "mm_struct" (kernel/fork.c mm_cache_init) */
	SLAB_MAPLE_NODE,	/* "maple_node" (lib/maple_tree.c) */
	SLAB_ANON_VMA,		/* "anon_vma" (mm/rmap.c), RCU-typesafe with a constructor */
	SLAB_ANON_VMA_CHAIN,	/* "anon_vma_chain" (mm/rmap.c) */
	SLAB_VMA,		/* "vm_area_struct" (kernel/fork.c proc_caches_init) */
	SLAB_VMA_LOCK,		/* "vma_lock": x86-64 only (CONFIG_PER_VMA_LOCK); NULL on i386 */
	SLAB_PGD,		/* "pgd_cache": i386 PAE only, after slab_create_pgd_cache() */
	NR_SLAB_MM_IDS
};

/*
 * Per-cache event counters: Linux's CONFIG_SLUB_STATS items (enum stat_item, the sysfs file
 * names), then two of the model's own. X(name, sysfs name, description).
 */
#define SLUB_STAT_ITEMS(X)									\
	X(ALLOC_FASTPATH, "alloc_fastpath", "allocation from the cpu freelist")			\
	X(ALLOC_SLOWPATH, "alloc_slowpath", "allocation through ___slab_alloc")			\
	X(FREE_FASTPATH, "free_fastpath", "free to the cpu slab's freelist")			\
	X(FREE_SLOWPATH, "free_slowpath", "free through __slab_free")				\
	X(FREE_FROZEN, "free_frozen", "slow free to a frozen slab")				\
	X(FREE_ADD_PARTIAL, "free_add_partial", "slab put on the node partial list")		\
	X(FREE_REMOVE_PARTIAL, "free_remove_partial", "empty slab taken off the partial list")	\
	X(ALLOC_FROM_PARTIAL, "alloc_from_partial", "cpu slab from the node partial list")	\
	X(ALLOC_SLAB, "alloc_slab", "cpu slab newly allocated")					\
	X(ALLOC_REFILL, "alloc_refill", "cpu freelist refilled from the cpu slab")		\
	X(ALLOC_NODE_MISMATCH, "alloc_node_mismatch", "cpu slab on another node (never: UMA)")	\
	X(FREE_SLAB, "free_slab", "slab returned to the page allocator")			\
	X(CPUSLAB_FLUSH, "cpuslab_flush", "cpu slab flushed")					\
	X(DEACTIVATE_FULL, "deactivate_full", "deactivated slab was full")			\
	X(DEACTIVATE_EMPTY, "deactivate_empty", "an empty slab was discarded")			\
	X(DEACTIVATE_TO_HEAD, "deactivate_to_head", "deactivated to the partial list head")	\
	X(DEACTIVATE_TO_TAIL, "deactivate_to_tail", "deactivated to the partial list tail")	\
	X(DEACTIVATE_REMOTE_FREES, "deactivate_remote_frees", "deactivated slab had remote frees") \
	X(DEACTIVATE_BYPASS, "deactivate_bypass", "full cpu slab dropped by the slow path")	\
	X(ORDER_FALLBACK, "order_fallback", "slab allocated at the minimum order")		\
	X(CMPXCHG_DOUBLE_CPU_FAIL, "cmpxchg_double_cpu_fail", "never: no cmpxchg modelled")	\
	X(CMPXCHG_DOUBLE_FAIL, "cmpxchg_double_fail", "never: no cmpxchg modelled")		\
	X(CPU_PARTIAL_ALLOC, "cpu_partial_alloc", "cpu slab taken from the cpu partial list")	\
	X(CPU_PARTIAL_FREE, "cpu_partial_free", "slab put on the cpu partial list by a free")	\
	X(CPU_PARTIAL_NODE, "cpu_partial_node", "slab moved node partial -> cpu partial")	\
	X(CPU_PARTIAL_DRAIN, "cpu_partial_drain", "cpu partial list drained to the node")	\
	X(SLAB_PAGES_ALLOC, "pages_alloc", "model: pages from the page allocator")		\
	X(SLAB_PAGES_FREE, "pages_free", "model: pages given back to the page allocator")

enum slub_stat_item {
#define SLUB_STAT_ENUM_(name, file, desc) SLUB_##name,
	SLUB_STAT_ITEMS(SLUB_STAT_ENUM_)
#undef SLUB_STAT_ENUM_
	NR_SLUB_STAT_ITEMS
};

/* Sysfs-style name of a counter ("alloc_fastpath"). */
const char *slub_stat_name(enum slub_stat_item item);

struct slab_system;
struct kmem_cache;

/* ---- events ------------------------------------------------------------------------------- */

enum slab_event_kind {
	SLAB_EV_ALLOC,	/* an object was allocated (obj: its physical address) */
	SLAB_EV_FREE,	/* an object was freed */
};

/*
 * Optional observer of every allocation and free (for cycle charging and traces). c is NULL for
 * kmalloc_large/kfree of a large allocation (straight to the page allocator; slowpath true).
 * slowpath: the allocation went through ___slab_alloc, or the free through __slab_free.
 * pages: for an allocation, pages taken from the page allocator by this call; for a free, pages
 * given back by it (an emptied slab discarded, or a large kmalloc block). A failed allocation
 * (0 returned) reports nothing.
 */
struct slab_ops {
	void (*slab_event)(void *ctx, const struct kmem_cache *c, int kind, uint64_t obj,
			   bool slowpath, unsigned pages);
	void *ctx;
};

/* ---- the slab system ---------------------------------------------------------------------- */

/*
 * slab_system_new — boot the slab allocator of one machine (kmem_cache_init,
 * create_kmalloc_caches, then the memory manager's caches in start_kernel's order).
 *
 * pgdat: the node slabs come from; pgdat->phys must be set and pfn 0 reserved
 * (nr_reserved_pages >= 1), as on every x86 machine, so that no object sits at physical 0.
 * nr_cpus (1..8192): the CPUs the kernel sees; it sets slab orders (calculate_order) and the
 * size of mm_struct; only CPU 0 runs. ptr_bytes: 4 (i386) or 8 (x86-64); it must match
 * pgdat->x86_64. kernel_va_offset: PAGE_OFFSET (0xC0000000 i386, 0xffff888000000000 x86-64),
 * nonzero; free pointers in modelled memory are kernel virtual addresses.
 *
 * Returns NULL with a message on stderr for bad arguments or when the host is out of memory.
 * Boot allocates no slab pages (slabs come with the first allocations).
 */
struct slab_system *slab_system_new(struct pglist_data *pgdat, unsigned nr_cpus,
				    unsigned ptr_bytes, uint64_t kernel_va_offset);

/* Give every slab page and large kmalloc block back to the buddy allocator and free s. */
void slab_system_free(struct slab_system *s);

/* Observe allocations and frees (ops NULL: none). The struct is copied. */
void slab_system_set_ops(struct slab_system *s, const struct slab_ops *ops);

/*
 * init_on_alloc (CONFIG_INIT_ON_ALLOC_DEFAULT_ON, on in Debian's kernel, and so on by default
 * here): every allocation is zeroed as if __GFP_ZERO were given, except in caches with a
 * constructor or SLAB_TYPESAFE_BY_RCU (slab_want_init_on_alloc). Off: only __GFP_ZERO zeroes.
 */
void slab_system_set_init_on_alloc(struct slab_system *s, bool on);

/*
 * slab_create_pgd_cache — create "pgd_cache" (32-byte PAE page directory pointer tables,
 * 32-byte aligned), as arch/x86/mm/pgtable.c pgtable_cache_init does on i386 PAE when
 * SHARED_KERNEL_PMD holds (no PTI). It is placed in the cache list where boot creates it (after
 * the kmalloc caches, before mm_struct). Returns the cache (the existing one on a second call);
 * NULL on x86-64 or without PAE.
 */
struct kmem_cache *slab_create_pgd_cache(struct slab_system *s);

/* A memory-manager cache; NULL if the guest architecture has none (SLAB_VMA_LOCK on i386,
 * SLAB_PGD before slab_create_pgd_cache). */
struct kmem_cache *slab_mm_cache(struct slab_system *s, enum slab_mm_id id);

/* The cache named name (first in list order), or NULL. */
struct kmem_cache *slab_find_cache(const struct slab_system *s, const char *name);

/* The cache of a slab object (virt_to_cache), NULL if obj is not in a slab page. */
struct kmem_cache *slab_obj_cache(const struct slab_system *s, uint64_t obj);

/* Kernel virtual address of a physical address (PAGE_OFFSET + phys), for reports. */
uint64_t slab_kva(const struct slab_system *s, uint64_t phys);

/* Guest pointer width in bytes (4 or 8). */
unsigned slab_ptr_bytes(const struct slab_system *s);

/*
 * slab_system_pages — slab memory for /proc/meminfo, in pages: returns Slab (all slab pages plus
 * large kmalloc blocks) and stores SReclaimable (slabs of SLAB_RECLAIM_ACCOUNT caches) and
 * SUnreclaim (the rest, including large kmalloc blocks, which Linux counts in
 * NR_SLAB_UNRECLAIMABLE_B) where the pointers are not NULL.
 */
unsigned long slab_system_pages(const struct slab_system *s, unsigned long *reclaimable,
				unsigned long *unreclaimable);

/* Pages held by live large kmalloc allocations (> 8 KiB, straight from the page allocator). */
unsigned long slab_kmalloc_large_pages(const struct slab_system *s);

/* ---- caches ------------------------------------------------------------------------------- */

/*
 * kmem_cache_create — a new cache of objects of `size` bytes (__kmem_cache_create_args,
 * do_kmem_cache_create, calculate_sizes, calculate_order). align: 0 or a power of two. flags:
 * SLAB_* above; debug flags are accepted and ignored, unknown bits refused. has_ctor: the cache
 * has a constructor (it moves the free pointer after the object; the constructor itself is guest
 * code and is not run). The name is copied. The new cache goes to the front of the cache list
 * (/proc/slabinfo order).
 *
 * Returns NULL with a message on stderr for size 0, size > KMALLOC_MAX_SIZE, a bad alignment or
 * unknown flags; with SLAB_PANIC it aborts instead.
 */
struct kmem_cache *kmem_cache_create(struct slab_system *s, const char *name, unsigned size,
				     unsigned align, unsigned flags, bool has_ctor);

/*
 * kmem_cache_destroy — flush the cpu slabs, free the empty slabs and remove the cache
 * (__kmem_cache_shutdown). Returns 0, or -1 with Linux's message on stderr ("Slab cache still
 * has objects") when objects are still allocated; the cache then stays, as in Linux.
 */
int kmem_cache_destroy(struct kmem_cache *c);

/*
 * kmem_cache_shrink — flush the cpu slabs to the node, free every empty node-partial slab and
 * sort the rest with the fullest first (__kmem_cache_do_shrink). Returns 1 if slabs remain.
 */
int kmem_cache_shrink(struct kmem_cache *c);

/*
 * kmem_cache_alloc — one object (slab_alloc_node): from the cpu freelist (fast path), else
 * ___slab_alloc: the cpu slab's own freelist, the cpu partial list, the node partial list, a
 * new slab (order oo with __GFP_NOWARN|__GFP_NORETRY, then the minimum order). Returns the
 * object's physical address, 0 when the page allocator has nothing. __GFP_ZERO (or
 * init_on_alloc) zeroes the object_size bytes.
 */
uint64_t kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp);

/*
 * kmem_cache_free — free obj (slab_free/do_slab_free): onto the cpu freelist when obj is in the
 * cpu slab, else __slab_free. Aborts (see the top) on a double free, an object of another cache,
 * an address that is not an object start or not in a slab page.
 */
void kmem_cache_free(struct kmem_cache *c, uint64_t obj);

/* ---- kmalloc ------------------------------------------------------------------------------ */

/*
 * kmalloc — size bytes. 1..8192 come from the kmalloc cache of the size class (kmalloc_slab:
 * 65-96 -> 96, 129-192 -> 192, else the next power of two, at least 8) of the type the gfp
 * flags select (kmalloc_type: __GFP_DMA -> dma-kmalloc, __GFP_RECLAIMABLE -> kmalloc-rcl,
 * __GFP_ACCOUNT -> kmalloc-cg, else kmalloc). Larger sizes up to KMALLOC_MAX_SIZE are a compound
 * block of get_order(size) from the page allocator (kmalloc_large). size 0 returns
 * SLAB_ZERO_SIZE_PTR. Returns 0 when out of memory or size > KMALLOC_MAX_SIZE.
 */
uint64_t kmalloc(struct slab_system *s, size_t size, gfp_t gfp);

/*
 * kfree — free what kmalloc (or kmem_cache_alloc) returned: the cache is found from the slab
 * page of obj; a non-slab address must be a live large kmalloc block. 0 and SLAB_ZERO_SIZE_PTR
 * are ignored. Aborts on anything else (double free, stray pointer).
 */
void kfree(struct slab_system *s, uint64_t obj);

/* The cache kmalloc(size, gfp) would use; NULL for size 0 or size > KMALLOC_MAX_CACHE_SIZE. */
struct kmem_cache *kmalloc_slab(struct slab_system *s, size_t size, gfp_t gfp);

/* A kmalloc cache by type and kmalloc index (1 = 96, 2 = 192, 3..13 = 8..8k); else NULL. */
struct kmem_cache *kmalloc_cache(struct slab_system *s, enum kmalloc_cache_type type,
				 unsigned index);

/* ---- inspection --------------------------------------------------------------------------- */

/* Geometry and occupancy of a cache. Object counts as /proc/slabinfo computes them. */
struct kmem_cache_info {
	const char *name;
	unsigned object_size;		/* requested size */
	unsigned size;			/* per-object stride: with free pointer and alignment */
	unsigned align;
	unsigned offset;		/* free pointer offset in the object */
	unsigned flags;			/* SLAB_* */
	unsigned objects_per_slab;	/* oo_objects(s->oo) */
	unsigned order;			/* oo_order(s->oo) */
	unsigned min_order;		/* order of the fallback (s->min) */
	unsigned min_partial;		/* node partial slabs kept even when empty */
	unsigned cpu_partial;		/* cpu partial budget in objects (set_cpu_partial) */
	unsigned cpu_partial_slabs;	/* the same in slabs (slub_set_cpu_partial) */
	unsigned long active_objs;	/* slabinfo: minus the free objects on node partial slabs */
	unsigned long num_objs;		/* objects in all slabs */
	unsigned long active_slabs;	/* slabinfo: = num_slabs under SLUB */
	unsigned long num_slabs;
	unsigned long inuse_objs;	/* exact: objects allocated and not freed */
	unsigned long nr_partial;	/* slabs on the node partial list */
	unsigned long nr_cpu_partial;	/* slabs on CPU 0's partial list */
	unsigned long pages;		/* pages in all slabs */
};

void kmem_cache_get_info(const struct kmem_cache *c, struct kmem_cache_info *out);
const char *kmem_cache_name(const struct kmem_cache *c);
unsigned kmem_cache_object_size(const struct kmem_cache *c);
unsigned kmem_cache_size(const struct kmem_cache *c);
unsigned kmem_cache_objs_per_slab(const struct kmem_cache *c);
unsigned kmem_cache_order(const struct kmem_cache *c);
unsigned long kmem_cache_active_objs(const struct kmem_cache *c);	/* as slabinfo */
unsigned long kmem_cache_total_objs(const struct kmem_cache *c);
unsigned long kmem_cache_active_slabs(const struct kmem_cache *c);
unsigned long kmem_cache_total_slabs(const struct kmem_cache *c);

/* An event counter of the cache. */
unsigned long kmem_cache_stat(const struct kmem_cache *c, enum slub_stat_item item);

/*
 * slabinfo_show — /proc/slabinfo (mm/slab_common.c slab_show, cache_show; version 2.1): the two
 * header lines, then one row per cache, most recently created first (slab_caches order).
 */
void slabinfo_show(const struct slab_system *s, FILE *out);

/*
 * slab_check — walk every cache and slab and check: each slab page is a typed (PGTY_slab)
 * referenced buddy block of the slab's order that maps back to its slab; every free list in
 * modelled memory (the cpu freelist and each slab's) stays inside its slab, on object
 * boundaries, without cycles, and together they are exactly the free objects; inuse counts;
 * frozen slabs are exactly the cpu slabs; node partial list membership, nr_partial and the
 * PG_workingset mark; the cpu partial chain and its count; slab and object totals; page
 * counters; large kmalloc blocks. Returns NULL when everything holds, else a description of the
 * first broken rule in a thread-local buffer overwritten by the next call.
 */
const char *slab_check(const struct slab_system *s);

#endif /* MMUEMU_KERNEL_MODEL_SLUB_H */
