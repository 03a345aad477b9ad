/*
 * gfp.h — GFP ("get free pages") allocation flags and what they select. Models Linux 6.12
 * (include/linux/gfp_types.h, include/linux/gfp.h, include/linux/mmzone.h).
 *
 * A gfp_t says two things about an allocation:
 *   - the highest zone it may come from (gfp_zone(): the zone modifiers __GFP_DMA, __GFP_DMA32,
 *     __GFP_HIGHMEM and __GFP_MOVABLE, looked up in GFP_ZONE_TABLE);
 *   - its mobility, which picks the free lists it is served from (gfp_migratetype():
 *     __GFP_MOVABLE and __GFP_RECLAIMABLE).
 * The other bits say how hard the allocator may try (reclaim, I/O, FS, reserves) and what to do
 * with the pages (__GFP_ZERO, __GFP_COMP, __GFP_ACCOUNT).
 *
 * Bit values are Linux's (___GFP_*_BIT order), so a value printed by this model reads the same as
 * one printed by the kernel. The configuration-dependent debug bits (__GFP_SKIP_ZERO,
 * __GFP_SKIP_KASAN, __GFP_NOLOCKDEP, __GFP_NO_OBJ_EXT) are 0, as in a kernel without KASAN
 * hardware tags, lockdep or memory-allocation profiling.
 *
 * Linux fixes its zone list at compile time (CONFIG_ZONE_DMA32 on x86-64, CONFIG_HIGHMEM on
 * i386). This model chooses the architecture at run time, keeps one enum zone_type holding every
 * zone either architecture has, and passes the architecture to gfp_zone(); a zone the
 * architecture does not have is simply empty. enum zone_type and enum migratetype live here (in
 * Linux: mmzone.h) so that this header stands alone.
 *
 * Header-only, libc only.
 */
#ifndef MMUEMU_KERNEL_MODEL_GFP_H
#define MMUEMU_KERNEL_MODEL_GFP_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint32_t gfp_t;

/* ---- zones (Linux: include/linux/mmzone.h) ------------------------------------------------ */

/*
 * Zones in address order. i386 has DMA, Normal, HighMem (and Movable); x86-64 has DMA, DMA32,
 * Normal (and Movable). The zone names are zone_names[] in page_alloc.c.
 */
enum zone_type {
	ZONE_DMA,	/* [0, 16 MiB): ISA DMA */
	ZONE_DMA32,	/* x86-64 only: [16 MiB, 4 GiB) */
	ZONE_NORMAL,	/* directly mapped memory above the DMA zones */
	ZONE_HIGHMEM,	/* i386 only: memory above max_low_pfn, reached through kmap */
	ZONE_MOVABLE,	/* carved from the top of RAM by movablecore=; movable pages only */
	MAX_NR_ZONES
};

/* ---- migrate types (Linux: include/linux/mmzone.h) ---------------------------------------- */

/*
 * Mobility classes. Every pageblock has one; free blocks sit on the free list of their
 * pageblock's type. CMA and ISOLATE are not configured in this model.
 */
enum migratetype {
	MIGRATE_UNMOVABLE,	/* kernel allocations: slab, page tables */
	MIGRATE_MOVABLE,	/* user pages and page cache: can be migrated or reclaimed */
	MIGRATE_RECLAIMABLE,	/* reclaimable slab (dentries, inodes) */
	MIGRATE_PCPTYPES,	/* number of types on the per-CPU lists */
	MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES, /* reserve for high-order atomic allocations */
	MIGRATE_TYPES
};

/* ---- flag bits (Linux: include/linux/gfp_types.h, same order and values) ------------------ */

enum {
	___GFP_DMA_BIT,			/* zone modifier: ZONE_DMA */
	___GFP_HIGHMEM_BIT,		/* zone modifier: ZONE_HIGHMEM */
	___GFP_DMA32_BIT,		/* zone modifier: ZONE_DMA32 */
	___GFP_MOVABLE_BIT,		/* zone modifier and mobility: movable */
	___GFP_RECLAIMABLE_BIT,		/* mobility: reclaimable */
	___GFP_HIGH_BIT,		/* high priority: may use part of the min-watermark reserve */
	___GFP_IO_BIT,			/* may start physical I/O */
	___GFP_FS_BIT,			/* may call into the filesystem */
	___GFP_ZERO_BIT,		/* return zeroed pages */
	___GFP_UNUSED_BIT,		/* 0x200 unused */
	___GFP_DIRECT_RECLAIM_BIT,	/* may enter direct reclaim */
	___GFP_KSWAPD_RECLAIM_BIT,	/* may wake kswapd */
	___GFP_WRITE_BIT,		/* page will be dirtied (dirty-limit spreading) */
	___GFP_NOWARN_BIT,		/* no failure warning */
	___GFP_RETRY_MAYFAIL_BIT,	/* retry hard, but may fail */
	___GFP_NOFAIL_BIT,		/* must not fail */
	___GFP_NORETRY_BIT,		/* fail fast */
	___GFP_MEMALLOC_BIT,		/* may use all reserves */
	___GFP_COMP_BIT,		/* set up a compound page */
	___GFP_NOMEMALLOC_BIT,		/* never use the emergency reserves */
	___GFP_HARDWALL_BIT,		/* enforce the cpuset memory policy */
	___GFP_THISNODE_BIT,		/* no fallback to other nodes */
	___GFP_ACCOUNT_BIT,		/* charge to the memory cgroup (kmemcg) */
	___GFP_ZEROTAGS_BIT,		/* zero memory tags (arm64 MTE) */
	___GFP_LAST_BIT
};

#define __GFP_DMA		((gfp_t)1 << ___GFP_DMA_BIT)
#define __GFP_HIGHMEM		((gfp_t)1 << ___GFP_HIGHMEM_BIT)
#define __GFP_DMA32		((gfp_t)1 << ___GFP_DMA32_BIT)
#define __GFP_MOVABLE		((gfp_t)1 << ___GFP_MOVABLE_BIT)
#define GFP_ZONEMASK		(__GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE)

#define __GFP_RECLAIMABLE	((gfp_t)1 << ___GFP_RECLAIMABLE_BIT)
#define __GFP_WRITE		((gfp_t)1 << ___GFP_WRITE_BIT)
#define __GFP_HARDWALL		((gfp_t)1 << ___GFP_HARDWALL_BIT)
#define __GFP_THISNODE		((gfp_t)1 << ___GFP_THISNODE_BIT)
#define __GFP_ACCOUNT		((gfp_t)1 << ___GFP_ACCOUNT_BIT)

#define __GFP_HIGH		((gfp_t)1 << ___GFP_HIGH_BIT)
#define __GFP_MEMALLOC		((gfp_t)1 << ___GFP_MEMALLOC_BIT)
#define __GFP_NOMEMALLOC	((gfp_t)1 << ___GFP_NOMEMALLOC_BIT)

#define __GFP_IO		((gfp_t)1 << ___GFP_IO_BIT)
#define __GFP_FS		((gfp_t)1 << ___GFP_FS_BIT)
#define __GFP_DIRECT_RECLAIM	((gfp_t)1 << ___GFP_DIRECT_RECLAIM_BIT)
#define __GFP_KSWAPD_RECLAIM	((gfp_t)1 << ___GFP_KSWAPD_RECLAIM_BIT)
#define __GFP_RECLAIM		(__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define __GFP_RETRY_MAYFAIL	((gfp_t)1 << ___GFP_RETRY_MAYFAIL_BIT)
#define __GFP_NOFAIL		((gfp_t)1 << ___GFP_NOFAIL_BIT)
#define __GFP_NORETRY		((gfp_t)1 << ___GFP_NORETRY_BIT)

#define __GFP_NOWARN		((gfp_t)1 << ___GFP_NOWARN_BIT)
#define __GFP_COMP		((gfp_t)1 << ___GFP_COMP_BIT)
#define __GFP_ZERO		((gfp_t)1 << ___GFP_ZERO_BIT)
#define __GFP_ZEROTAGS		((gfp_t)1 << ___GFP_ZEROTAGS_BIT)
#define __GFP_SKIP_ZERO		((gfp_t)0)	/* KASAN hw tags only */
#define __GFP_SKIP_KASAN	((gfp_t)0)	/* KASAN hw tags only */
#define __GFP_NOLOCKDEP		((gfp_t)0)	/* lockdep only */
#define __GFP_NO_OBJ_EXT	((gfp_t)0)	/* memory allocation profiling only */

#define __GFP_BITS_SHIFT	___GFP_LAST_BIT
#define __GFP_BITS_MASK		(((gfp_t)1 << __GFP_BITS_SHIFT) - 1)

/* ---- useful combinations (Linux: gfp_types.h) --------------------------------------------- */

#define GFP_ATOMIC		(__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL		(__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_KERNEL_ACCOUNT	(GFP_KERNEL | __GFP_ACCOUNT)
#define GFP_NOWAIT		(__GFP_KSWAPD_RECLAIM | __GFP_NOWARN)
#define GFP_NOIO		(__GFP_RECLAIM)
#define GFP_NOFS		(__GFP_RECLAIM | __GFP_IO)
#define GFP_USER		(__GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL)
#define GFP_DMA			__GFP_DMA
#define GFP_DMA32		__GFP_DMA32
#define GFP_HIGHUSER		(GFP_USER | __GFP_HIGHMEM)
#define GFP_HIGHUSER_MOVABLE	(GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN)
#define GFP_TRANSHUGE_LIGHT	((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | \
				  __GFP_NOWARN) & ~__GFP_RECLAIM)
#define GFP_TRANSHUGE		(GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM)
/* arch/x86/include/asm/pgalloc.h → include/asm-generic/pgalloc.h: page-table pages */
#define GFP_PGTABLE_KERNEL	(GFP_KERNEL | __GFP_ZERO)
#define GFP_PGTABLE_USER	(GFP_PGTABLE_KERNEL | __GFP_ACCOUNT)

/* ---- gfp_zone (Linux: include/linux/gfp.h GFP_ZONE_TABLE) --------------------------------- */

/*
 * GFP_ZONE_TABLE in table form: the zone for each combination of the four zone modifiers
 * (index = gfp & GFP_ZONEMASK), before the optional zones collapse. -1 marks the combinations
 * Linux lists in GFP_ZONE_BAD (two of DMA/DMA32/HIGHMEM at once).
 *   0x0 NORMAL   0x1 DMA      0x2 HIGHMEM  0x4 DMA32
 *   0x8 NORMAL (MOVABLE alone)   0x9 DMA   0xa MOVABLE (MOVABLE|HIGHMEM)   0xc DMA32
 */
static const int8_t gfp_zone_table_[16] = {
	ZONE_NORMAL, ZONE_DMA, ZONE_HIGHMEM, -1, ZONE_DMA32, -1, -1, -1,
	ZONE_NORMAL, ZONE_DMA, ZONE_MOVABLE, -1, ZONE_DMA32, -1, -1, -1,
};

/*
 * gfp_zone — the highest zone an allocation with `flags` may use on the given architecture.
 * Zones the architecture lacks collapse as Linux's OPT_ZONE_* macros make them: DMA32 becomes
 * NORMAL on i386 (no CONFIG_ZONE_DMA32), HIGHMEM becomes NORMAL on x86-64 (no CONFIG_HIGHMEM).
 * A combination in GFP_ZONE_BAD is a kernel-model bug and trips an assert (Linux: VM_BUG_ON).
 */
static inline enum zone_type gfp_zone(gfp_t flags, bool x86_64)
{
	int z = gfp_zone_table_[flags & GFP_ZONEMASK];

	assert(z >= 0 && "gfp_zone: invalid combination of zone modifiers (GFP_ZONE_BAD)");
	if (z == ZONE_DMA32 && !x86_64)
		return ZONE_NORMAL;	/* OPT_ZONE_DMA32 */
	if (z == ZONE_HIGHMEM && x86_64)
		return ZONE_NORMAL;	/* OPT_ZONE_HIGHMEM */
	return (enum zone_type)z;
}

/*
 * gfp_migratetype — the free lists an allocation is served from: MOVABLE for __GFP_MOVABLE,
 * RECLAIMABLE for __GFP_RECLAIMABLE, UNMOVABLE otherwise. As in Linux the value is the two
 * mobility bits shifted down (___GFP_MOVABLE >> 3 == MIGRATE_MOVABLE); setting both bits is a bug
 * (Linux: VM_WARN_ON) and trips an assert. Mobility grouping is never disabled in this model
 * (Linux disables it only on machines with very little memory per pageblock).
 */
static inline enum migratetype gfp_migratetype(gfp_t flags)
{
	const gfp_t mask = __GFP_RECLAIMABLE | __GFP_MOVABLE;

	assert((flags & mask) != mask && "gfp_migratetype: both MOVABLE and RECLAIMABLE set");
	return (enum migratetype)((flags & mask) >> ___GFP_MOVABLE_BIT);
}

#endif /* MMUEMU_KERNEL_MODEL_GFP_H */
