/* pgtable.c — page tables in modelled physical memory, in the real x86 format of km->fmt.
 *
 * Tables come from the page allocator with GFP_PGTABLE_USER (zeroed), as pte_alloc_one and
 * friends do (arch/x86/mm/pgtable.c). Non-leaf entries are _PAGE_TABLE = P|RW|US|A|D: as in
 * Linux, permissions are enforced at the leaf only. Under PAE the top level is the 4-entry PDPT
 * whose entries hold only P (other low bits are reserved), and the PMD pages behind it are
 * preallocated when the address space is created (PREALLOCATED_PMDS); the CPU loads PDPTEs at
 * the CR3 write, so they never change afterwards.
 *
 * Large leaves (huge pages, see kmodel.h for the policy): a PDE (level 1) or, with 1 GiB pages,
 * a PDPTE (level 2) with PS=1 maps a whole block. Such an entry is recognised by PS together with
 * P or PROT_NONE (a non-leaf entry is _PAGE_TABLE and never has PS). Nothing here descends
 * through one: km_pte_slot/km_entry_slot return NULL over it, km_walk_entry stops at it, and the
 * range walkers (zap, mprotect, mremap) treat the block as one unit. A PMD-level block is a
 * compound buddy block of pmd_order (order 9 for 2 MiB, 10 for 4 MiB) whose head page carries the
 * one reference and the one mapping; a 1 GiB block is a page of the boot-time pool (km_huge_init),
 * whose first frame carries them. Zeroing a block is host madvise(MADV_DONTNEED) on modelled RAM
 * (a private anonymous host mapping reads back as zeros), charged as zero_page per 4 KiB frame.
 *
 * Invariants (checked by km_pgtable_check):
 *  - every present non-leaf entry points to a frame flagged PG_KM_PGTABLE, and each such frame
 *    is referenced by exactly one entry;
 *  - every present (or PROT_NONE) leaf points to the zero page, a kernel page, or a frame with
 *    _refcount >= 1 and _mapcount >= 1;
 *  - a large leaf sits at a configured huge level, maps a block inside RAM, and points to the
 *    head of a compound block of pmd_order (PMD level) or to a pool page in use (PUD level),
 *    anonymous, referenced and mapped; the mm's count of large leaves matches the tables, and the
 *    pool's used pages match the in-use counter;
 *  - a table left with no entries after an unmap is freed (except the top level and PAE PMDs).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "km_internal.h"

/* Linux's _PAGE_TABLE for user page-table entries. */
#define KM_PAGE_TABLE (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D)

uint64_t pte_read(const struct km *km, const void *p)
{
	if (km->fmt.entry_size == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void pte_write(const struct km *km, void *p, uint64_t v)
{
	if (km->fmt.entry_size == 4) {
		uint32_t w = (uint32_t)v;
		memcpy(p, &w, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

/* Frame address field of an entry (4 KiB leaf or table pointer). */
static uint64_t entry_addr(const struct km *km, uint64_t e)
{
	return e & km->fmt.addr_mask & PAGE_MASK;
}

uint64_t km_pte_pfn(const struct km *km, uint64_t pte) { return entry_addr(km, pte) >> PAGE_SHIFT; }

uint64_t km_mk_pte(const struct km *km, uint64_t pfn, uint64_t prot)
{
	(void)km;
	return (pfn << PAGE_SHIFT) | prot;
}

static bool pte_none(uint64_t e) { return e == 0; }
static bool pte_maps_frame(uint64_t e) { return (e & PTE_P) || (e & PTE_PROTNONE); }

/* Bytes mapped by one level-`level` entry. */
static uint64_t level_size(const struct km *km, unsigned level)
{
	return paging_level_size(&km->fmt, level);
}

/* 4 KiB frames of a huge page mapped at `level`. */
static uint64_t huge_nr_pages(const struct km *km, unsigned level)
{
	return level_size(km, level) >> PAGE_SHIFT;
}

/* First frame of the block a large leaf maps. */
static uint64_t large_leaf_pfn(const struct km *km, unsigned level, uint64_t e)
{
	return paging_leaf_base(&km->fmt, level, e) >> PAGE_SHIFT;
}

static void count_table(struct km *km, struct mm_struct *mm, unsigned level, int delta)
{
	km->stats.pgtable_pages[level] += delta;
	if (km->stats.pgtable_pages[level] > km->stats.pgtable_pages_peak[level])
		km->stats.pgtable_pages_peak[level] = km->stats.pgtable_pages[level];
	mm->pt_pages += delta;
}

/* A zeroed page-table page for `level` (the level of the entries it will hold). */
static struct page *pt_alloc(struct km *km, struct mm_struct *mm, unsigned level)
{
	/* __userpte_alloc_gfp: PTE pages may be HighMem with CONFIG_HIGHPTE (upper levels never). */
	gfp_t gfp = GFP_PGTABLE_USER | (level == 0 && km->cfg.highpte && !km->kernel_pt ? __GFP_HIGHMEM : 0);
	struct page *page = km_alloc_page(km, gfp);
	if (!page)
		return NULL;
	/* km_alloc_page charged the zeroing; charge the rest of pte_alloc_one. */
	km->cycles += km->cfg.costs.pgtable_alloc;
	page->flags |= PG_KM_PGTABLE;
	page->page_type = (uint32_t)PGTY_table << 24;
	page->private = level;
	km->stats.pgtable_alloc++;
	count_table(km, mm, level, +1);
	return page;
}

static void pt_free(struct km *km, struct mm_struct *mm, uint64_t pfn, unsigned level)
{
	struct page *page = km_pfn_page(km, pfn);
	km->stats.pgtable_free++;
	count_table(km, mm, level, -1);
	km_free_page(km, page);
}

static inline uint8_t *entry_ptr(struct km *km, uint64_t table_pa, unsigned level, uint64_t va)
{
	return km->phys + table_pa + paging_index(&km->fmt, level, va) * km->fmt.entry_size;
}

static unsigned entries_per_table(const struct km *km, unsigned level)
{
	return 1u << km->fmt.index_bits[level];
}

bool km_pgd_alloc(struct km *km, struct mm_struct *mm)
{
	unsigned top = km->fmt.levels - 1;
	/* mm_alloc: the mm_struct object comes first (kernel/fork.c allocate_mm). */
	mm->mm_obj = kmem_cache_alloc(slab_mm_cache(km->slab, SLAB_MM), GFP_KERNEL);
	if (!mm->mm_obj)
		return false;
	if (km->fmt.mode == PAGING_PAE) {
		/* pgd_alloc under PAE with SHARED_KERNEL_PMD: the 32-byte PDPT is an object of
		 * pgd_cache (arch/x86/mm/pgtable.c _pgd_alloc), not a page. */
		mm->pdpt_pa = kmem_cache_alloc(slab_mm_cache(km->slab, SLAB_PGD), GFP_PGTABLE_USER);
		if (!mm->pdpt_pa) {
			kmem_cache_free(slab_mm_cache(km->slab, SLAB_MM), mm->mm_obj);
			mm->mm_obj = 0;
			return false;
		}
		mm->pgd_pfn = mm->pdpt_pa >> PAGE_SHIFT;   /* the slab page holding it */
	} else {
		struct page *pgd = pt_alloc(km, mm, top);
		if (!pgd) {
			kmem_cache_free(slab_mm_cache(km->slab, SLAB_MM), mm->mm_obj);
			mm->mm_obj = 0;
			return false;
		}
		mm->pgd_pfn = km_page_pfn(km, pgd);
		mm->pdpt_pa = mm->pgd_pfn << PAGE_SHIFT;
	}
	if (!km->active_mm)
		km->active_mm = mm;   /* the one task: kmap slots live in its kernel page tables */
	if (km->fmt.mode == PAGING_PAE) {
		/* PREALLOCATED_PMDS: all four PMD pages now, so PDPTEs never change later. */
		for (unsigned i = 0; i < entries_per_table(km, top); i++) {
			struct page *pmd = pt_alloc(km, mm, top - 1);
			if (!pmd) {
				km_pgd_free(km, mm);
				return false;
			}
			pte_write(km, km->phys + mm->pdpt_pa + i * 8, (km_page_pfn(km, pmd) << PAGE_SHIFT) | PTE_P);
		}
	}
	/* i386 with HighMem: the page tables of the kmap areas (pkmap pool and the fixmap's kmap_local
	 * slots), which Linux builds at boot (permanent_kmaps_init, the fixmap) and every address
	 * space shares. Here they are part of this address space's tables (counted with them). */
	if (km->cfg.arch == KM_ARCH_I386 && populated_zone(&km->pgdat.node_zones[ZONE_HIGHMEM])) {
		bool oom;
		km->kernel_pt = true;   /* kernel page tables are lowmem (GFP_KERNEL) */
		bool ok = km_pte_slot(km, mm, km_pkmap_addr(km, 0), true, &oom) &&
			  km_pte_slot(km, mm, km_kmap_local_addr(0), true, &oom);
		km->kernel_pt = false;
		if (!ok) {
			km_pgd_free(km, mm);
			return false;
		}
	}
	return true;
}

static void free_table_tree(struct km *km, struct mm_struct *mm, uint64_t table_pa, unsigned level)
{
	if (level > 0) {
		for (unsigned i = 0; i < entries_per_table(km, level); i++) {
			uint64_t e = pte_read(km, km->phys + table_pa + i * km->fmt.entry_size);
			if ((e & PTE_P) && !km_is_large_leaf(level, e))
				free_table_tree(km, mm, entry_addr(km, e), level - 1);
		}
	}
	pt_free(km, mm, table_pa >> PAGE_SHIFT, level);
}

void km_pgd_free(struct km *km, struct mm_struct *mm)
{
	if (!mm->pgd_pfn)
		return;
	/* User translations are gone by now (km_mm_free zaps the VMAs first); kernel pages mapped
	 * with km_map_kernel_page own their frames and are released here. */
	unsigned top = km->fmt.levels - 1;
	if (km->fmt.mode == PAGING_PAE) {
		for (unsigned i = 0; i < PAE_NR_PDPTE; i++) {
			uint64_t e = pte_read(km, km->phys + mm->pdpt_pa + i * ENTRY_SIZE_64);
			if (e & PTE_P)
				free_table_tree(km, mm, entry_addr(km, e), top - 1);
		}
		kmem_cache_free(slab_mm_cache(km->slab, SLAB_PGD), mm->pdpt_pa);
	} else {
		free_table_tree(km, mm, mm->pdpt_pa, top);
	}
	if (mm->mm_obj)
		kmem_cache_free(slab_mm_cache(km->slab, SLAB_MM), mm->mm_obj);
	mm->mm_obj = 0;
	mm->pgd_pfn = 0;
	mm->pdpt_pa = 0;
	if (km->active_mm == mm) {
		km->active_mm = NULL;
		km->kmap_local_depth = 0;
		if (km->pkmap_count)   /* the pool's page table went with the address space */
			memset(km->pkmap_count, 0, km_last_pkmap(km) * sizeof(*km->pkmap_count));
	}
}

void *km_entry_slot(struct km *km, struct mm_struct *mm, uint64_t va, unsigned level, bool alloc,
		    bool *oom)
{
	uint64_t table = mm->pdpt_pa;
	if (oom)
		*oom = false;
	for (unsigned l = km->fmt.levels - 1; l > level; l--) {
		uint8_t *p = entry_ptr(km, table, l, va);
		uint64_t e = pte_read(km, p);
		if (km_is_large_leaf(l, e))
			return NULL;
		if (!(e & PTE_P)) {
			if (!alloc)
				return NULL;
			struct page *t = pt_alloc(km, mm, l - 1);
			if (!t) {
				if (oom)
					*oom = true;
				return NULL;
			}
			e = (km_page_pfn(km, t) << PAGE_SHIFT) | KM_PAGE_TABLE;
			pte_write(km, p, e);
		}
		table = entry_addr(km, e);
	}
	return entry_ptr(km, table, level, va);
}

void *km_pte_slot(struct km *km, struct mm_struct *mm, uint64_t va, bool alloc, bool *oom)
{
	return km_entry_slot(km, mm, va, PAGING_LEVEL_PTE, alloc, oom);
}

void *km_walk_entry(struct km *km, struct mm_struct *mm, uint64_t va, unsigned *level)
{
	uint64_t table = mm->pdpt_pa;
	for (unsigned l = km->fmt.levels - 1;; l--) {
		uint8_t *p = entry_ptr(km, table, l, va);
		uint64_t e = pte_read(km, p);
		if (l == PAGING_LEVEL_PTE || !(e & PTE_P) || km_is_large_leaf(l, e)) {
			*level = l;
			return p;
		}
		table = entry_addr(km, e);
	}
}

/* Whether the table at table_pa (holding level-`level` entries) has any entry below it that is
 * not empty. */
static bool table_has_entries(struct km *km, uint64_t table_pa, unsigned level)
{
	for (unsigned i = 0; i < entries_per_table(km, level); i++) {
		uint64_t e = pte_read(km, km->phys + table_pa + i * km->fmt.entry_size);
		if (pte_none(e))
			continue;
		if (level == PAGING_LEVEL_PTE || !(e & PTE_P) || km_is_large_leaf(level, e))
			return true;
		if (table_has_entries(km, entry_addr(km, e), level - 1))
			return true;
	}
	return false;
}

bool km_entry_make_none(struct km *km, struct mm_struct *mm, void *slot, unsigned level, uint64_t va)
{
	uint64_t e = pte_read(km, slot);
	if (pte_none(e))
		return true;
	if (level == PAGING_LEVEL_PTE || !(e & PTE_P) || km_is_large_leaf(level, e))
		return false;
	if (km->fmt.mode == PAGING_PAE && level == km->fmt.levels - 1)
		return false;   /* PREALLOCATED_PMDS stay */
	uint64_t table = entry_addr(km, e);
	if (table_has_entries(km, table, level - 1))
		return false;
	free_table_tree(km, mm, table, level - 1);
	pte_write(km, slot, 0);
	/* Paging-structure caches may hold the old entry (Linux frees tables after a flush). */
	uint64_t size = level_size(km, level), base = va & ~(size - 1);
	km_flush_tlb(km, mm, base, base + size);
	return true;
}

/* Drops the frame a leaf entry maps. */
static void zap_leaf(struct km *km, struct mm_struct *mm, uint64_t e)
{
	uint64_t pfn = km_pte_pfn(km, e);
	if (pfn == km->zero_pfn)
		return;
	struct page *page = km_pfn_page(km, pfn);
	if (page->flags & PG_KM_KERNEL)
		return;
	if (page->flags & PG_KM_ANON)
		mm->rss_anon--;
	else
		mm->rss_file--;
	page->_mapcount--;
	km_put_page(km, page);
}

static void free_huge(struct km *km, struct page *head, unsigned level);

/* Drops the huge page a large leaf maps (zap_huge_pmd / hugetlb's unmap). */
static void zap_huge(struct km *km, struct mm_struct *mm, uint64_t e, unsigned level)
{
	struct page *head = km_pfn_page(km, large_leaf_pfn(km, level, e));
	assert(mm->nr_huge > 0 && head->_refcount > 0 && head->_mapcount > 0);
	mm->rss_anon -= huge_nr_pages(km, level);
	mm->nr_huge--;
	head->_mapcount--;
	if (--head->_refcount == 0)
		free_huge(km, head, level);
}

/* Zaps leaves of [start, end) below table_pa (a table of `level` entries covering from base),
 * then frees child tables left empty. Returns true when this table is now empty. */
static bool zap_table(struct km *km, struct mm_struct *mm, uint64_t table_pa, unsigned level,
		      uint64_t base, uint64_t start, uint64_t end, bool *any)
{
	unsigned shift = km->fmt.shift[level];
	unsigned n = entries_per_table(km, level);
	bool empty = true;
	for (unsigned i = 0; i < n; i++) {
		uint64_t lo = base + ((uint64_t)i << shift);
		uint64_t hi = lo + (1ULL << shift);
		uint8_t *p = km->phys + table_pa + i * km->fmt.entry_size;
		uint64_t e = pte_read(km, p);
		if (hi <= start || lo >= end) {
			if (!pte_none(e))
				empty = false;
			continue;
		}
		if (pte_none(e))
			continue;
		if (level == 0) {
			if (pte_maps_frame(e)) {
				zap_leaf(km, mm, e);
				*any = true;
			}
			pte_write(km, p, 0);
			continue;
		}
		if (km_is_large_leaf(level, e)) {
			/* Callers never cut a huge page (vma_huge_boundary_ok). */
			assert(lo >= start && hi <= end && "zap range splits a huge page");
			zap_huge(km, mm, e, level);
			pte_write(km, p, 0);
			*any = true;
			continue;
		}
		if (!(e & PTE_P)) {
			empty = false;
			continue;
		}
		bool child_empty = zap_table(km, mm, entry_addr(km, e), level - 1, lo, start, end, any);
		if (child_empty) {
			pt_free(km, mm, km_pte_pfn(km, e), level - 1);
			pte_write(km, p, 0);
		} else {
			empty = false;
		}
	}
	return empty;
}

/* Zaps [start, end) below the tables user translations hang from: the PGD, or under PAE each
 * preallocated PMD whose span meets the range (the PDPT and its PMDs stay). */
static bool zap_roots(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	bool any = false;
	unsigned top = km->fmt.levels - 1;
	uint64_t root = mm->pdpt_pa;
	if (km->fmt.mode == PAGING_PAE) {
		for (unsigned i = 0; i < PAE_NR_PDPTE; i++) {
			uint64_t lo = (uint64_t)i << km->fmt.shift[top];
			uint64_t hi = lo + level_size(km, top);
			if (hi <= start || lo >= end)
				continue;
			uint64_t e = pte_read(km, km->phys + root + i * ENTRY_SIZE_64);
			zap_table(km, mm, entry_addr(km, e), top - 1, lo, start, end, &any);
		}
	} else {
		zap_table(km, mm, root, top, 0, start, end, &any);
	}
	return any;
}

void km_zap_range(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	if (zap_roots(km, mm, start, end))
		km_flush_tlb(km, mm, start, end);
}

bool km_move_ptes_ok(struct km *km, struct mm_struct *mm, uint64_t old, uint64_t new_addr, uint64_t len)
{
	if (!km->huge_levels)
		return true;
	for (uint64_t va = old; va < old + len;) {
		unsigned level;
		uint64_t e = pte_read(km, km_walk_entry(km, mm, va, &level));
		uint64_t size = level_size(km, level), base = va & ~(size - 1);
		if (km_is_large_leaf(level, e) &&
		    (base < old || base + size > old + len || ((new_addr + (base - old)) & (size - 1))))
			return false;
		va = base + size;
	}
	return true;
}

int km_move_ptes(struct km *km, struct mm_struct *mm, uint64_t old, uint64_t new_addr, uint64_t len)
{
	bool moved = false;
	for (uint64_t off = 0; off < len;) {
		uint64_t va = old + off;
		unsigned level;
		uint8_t *src = km_walk_entry(km, mm, va, &level);
		uint64_t e = pte_read(km, src);
		uint64_t size = level_size(km, level);
		if (pte_none(e)) {
			off = (va & ~(size - 1)) + size - old;   /* nothing mapped in this entry's span */
			continue;
		}
		bool oom;
		uint8_t *dst;
		if (level > 0) {
			/* A large leaf (move_huge_pmd): km_move_ptes_ok made sure it lies inside the range
			 * and lands on an aligned address. */
			assert(km_is_large_leaf(level, e) && !(va & (size - 1)) && off + size <= len &&
			       !((new_addr + off) & (size - 1)));
			dst = km_entry_slot(km, mm, new_addr + off, level, true, &oom);
			if (!dst)
				return -ENOMEM;
			bool empty = km_entry_make_none(km, mm, dst, level, new_addr + off);
			assert(empty && "destination of a moved huge page is mapped");
			(void)empty;
		} else {
			dst = km_pte_slot(km, mm, new_addr + off, true, &oom);
			if (!dst)
				return -ENOMEM;
		}
		/* Tables are never freed while moving, so src stays valid. */
		pte_write(km, dst, e);
		pte_write(km, src, 0);
		moved = true;
		off += size;
	}
	/* Free tables the move emptied (nothing left to zap in the old range). */
	zap_roots(km, mm, old, old + len);
	if (moved)
		km_flush_tlb(km, mm, old, old + len);
	return 0;
}

void km_change_prot(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t prot,
		    bool writable_ok)
{
	bool changed = false;
	for (uint64_t va = start; va < end;) {
		unsigned level;
		uint8_t *p = km_walk_entry(km, mm, va, &level);
		uint64_t e = pte_read(km, p);
		uint64_t size = level_size(km, level), base = va & ~(size - 1);
		if (level > 0) {
			if (km_is_large_leaf(level, e)) {
				/* change_huge_pmd / hugetlb_change_protection. Callers never cut a huge page.
				 * A huge page is exclusive (no fork), so a writable private VMA maps it
				 * writable at once: huge pages never take a write-protect fault. */
				assert(base >= start && base + size <= end && "mprotect splits a huge page");
				uint64_t pa = large_leaf_pfn(km, level, e) << PAGE_SHIFT;
				uint64_t ne = paging_make_leaf(&km->fmt, level, pa, prot) | (e & PTE_D);
				if (writable_ok && (prot & PTE_P))
					ne |= PTE_RW;
				if (ne != e) {
					pte_write(km, p, ne);
					changed = true;
				}
			}
			va = base + size;   /* a large leaf, or nothing mapped in this span */
			continue;
		}
		va += PAGE_SIZE;
		if (!pte_maps_frame(e))
			continue;
		uint64_t pfn = km_pte_pfn(km, e);
		uint64_t ne = km_mk_pte(km, pfn, prot) | (e & PTE_D);
		/* can_change_pte_writable (mm/mprotect.c): an exclusive, dirty anonymous page in a
		 * writable private VMA becomes writable at once instead of taking a reuse fault. */
		if (writable_ok && pfn != km->zero_pfn && (e & PTE_D) && (prot & PTE_P)) {
			struct page *page = km_pfn_page(km, pfn);
			if ((page->flags & PG_KM_ANON) && page->_refcount == 1)
				ne |= PTE_RW;
		}
		if (ne != e) {
			pte_write(km, p, ne);
			changed = true;
		}
	}
	if (changed)
		km_flush_tlb(km, mm, start, end);
}

uint8_t *km_map_kernel_page(struct km *km, struct mm_struct *mm, uint64_t va)
{
	bool oom;
	uint8_t *slot = km_pte_slot(km, mm, va, true, &oom);
	if (!slot)
		return NULL;
	struct page *page = km_alloc_page(km, GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return NULL;
	page->flags |= PG_KM_KERNEL;
	uint64_t pfn = km_page_pfn(km, page);
	memset(km_pfn_ptr(km, pfn), 0, PAGE_SIZE);
	pte_write(km, slot, km_mk_pte(km, pfn, PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G));
	return km_pfn_ptr(km, pfn);
}

/* ---- huge pages ----------------------------------------------------------------------------- */

/* 4 KiB frames in one 1 GiB page. */
#define PUD_NR_PAGES (UINT64_C(1) << (PAGE_SHIFT_1G - PAGE_SHIFT))

unsigned km_huge_shift_pmd(const struct km *km)
{
	return km_huge_level_on(km, PAGING_LEVEL_PDE) ? km->fmt.shift[PAGING_LEVEL_PDE] : 0;
}

unsigned km_huge_shift_pud(const struct km *km)
{
	return km_huge_level_on(km, PAGING_LEVEL_PDPTE) ? km->fmt.shift[PAGING_LEVEL_PDPTE] : 0;
}

uint64_t km_huge_align_for(const struct km *km, uint64_t len)
{
	for (unsigned level = PAGING_LEVEL_PDPTE; level >= PAGING_LEVEL_PDE; level--)
		if (km_huge_level_on(km, level) && level_size(km, level) <= len)
			return level_size(km, level);
	return 0;
}

static int huge_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/*
 * The 1 GiB pool, as hugetlb's boot-time reservation (hugepages=N hugepagesz=1G): Linux takes
 * the pages from memblock, top-down, before the buddy allocator gets the memory. Here the buddy
 * allocator is already up, so the same frames are taken out of it right after boot: every free
 * order-10 block is allocated, the blocks inside the chosen 1 GiB windows (the highest
 * 1 GiB-aligned ranges of RAM above the reserved low memory) are kept, and the others are freed
 * again in reverse order, which leaves the free lists as they were. The counters are reset, as
 * after boot. Each kept block's head keeps _refcount 1 (the pool's reference, handed to the
 * mapping while a 1 GiB page is in use).
 */
static int pud_pool_reserve(struct km *km, unsigned want, char *err, size_t errlen)
{
	struct pglist_data *pgdat = &km->pgdat;
	uint64_t nframes = km->phys_size >> PAGE_SHIFT;
	uint64_t first = (pgdat->nr_reserved_pages + PUD_NR_PAGES - 1) / PUD_NR_PAGES;
	uint64_t end = nframes / PUD_NR_PAGES;   /* windows [first, end) lie in free RAM */
	uint64_t avail = end > first ? end - first : 0;
	if (want > avail) {
		snprintf(err, errlen, "a pool of %u 1 GiB pages does not fit in %llu MiB of RAM: it has "
			 "%llu 1 GiB-aligned ranges above the reserved low memory",
			 want, (unsigned long long)(km->phys_size >> 20), (unsigned long long)avail);
		return -1;
	}
	uint64_t lo_pfn = (end - want) * PUD_NR_PAGES, hi_pfn = end * PUD_NR_PAGES;
	km->pud_pool.pfn = calloc(want, sizeof(*km->pud_pool.pfn));
	km->pud_pool.used = calloc(want, sizeof(*km->pud_pool.used));
	size_t cap = (size_t)(nframes / MAX_ORDER_NR_PAGES) + 1;
	struct page **blocks = malloc(cap * sizeof(*blocks));
	if (!km->pud_pool.pfn || !km->pud_pool.used || !blocks) {
		free(blocks);
		return huge_fail(err, errlen, "out of host memory for the 1 GiB page pool");
	}
	for (unsigned i = 0; i < want; i++)
		km->pud_pool.pfn[i] = hi_pfn - (uint64_t)(i + 1) * PUD_NR_PAGES;   /* highest first */
	km->pud_pool.nr = km->pud_pool.nr_free = want;

	size_t nb = 0;
	struct page *pg;
	while (nb < cap && (pg = alloc_pages(pgdat, GFP_HIGHUSER_MOVABLE, MAX_PAGE_ORDER)))
		blocks[nb++] = pg;
	uint64_t kept = 0;
	for (size_t i = nb; i-- > 0;) {
		uint64_t pfn = km_page_pfn(km, blocks[i]);
		if (pfn >= lo_pfn && pfn < hi_pfn)
			kept++;
		else
			__free_pages(pgdat, blocks[i], MAX_PAGE_ORDER);
	}
	free(blocks);
	for (int zt = 0; zt < MAX_NR_ZONES; zt++)
		memset(&pgdat->node_zones[zt].stats, 0, sizeof(pgdat->node_zones[zt].stats));
	memset(&pgdat->stats, 0, sizeof(pgdat->stats));
	if (kept != want * (PUD_NR_PAGES / MAX_ORDER_NR_PAGES))
		return huge_fail(err, errlen, "the 1 GiB page pool could not be reserved: RAM in its "
				 "ranges was not free after boot");
	return 0;
}

int km_huge_init(struct km *km, char *err, size_t errlen)
{
	const struct km_config *cfg = &km->cfg;
	if (cfg->hugepages != KM_HUGE_1G && cfg->hugepages_1g_pool)
		return huge_fail(err, errlen, "a pool of 1 GiB pages needs 1 GiB huge pages "
				 "(--hugepages 1g)");
	switch (cfg->hugepages) {
	case KM_HUGE_NONE:
		return 0;
	case KM_HUGE_2M:
		break;
	case KM_HUGE_1G:
		if (!paging_large_ok(&km->fmt, PAGING_LEVEL_PDPTE))
			return huge_fail(err, errlen, "1 GiB huge pages need 4-level or 5-level paging "
					 "(x86-64): 2-level and PAE paging have no 1 GiB pages");
		if (!cfg->hugepages_1g_pool)
			return huge_fail(err, errlen, "1 GiB huge pages come from a pool reserved at boot: "
					 "give its size (--hugepages-1g-pool N, N >= 1)");
		break;
	default:
		return huge_fail(err, errlen, "unknown huge-page setting (none, 2m or 1g)");
	}
	if (!paging_large_ok(&km->fmt, PAGING_LEVEL_PDE))
		return huge_fail(err, errlen, "this paging mode cannot map PMD-level huge pages");
	km->pmd_order = km->fmt.shift[PAGING_LEVEL_PDE] - PAGE_SHIFT;
	assert(km->pmd_order <= MAX_PAGE_ORDER);
	km->huge_levels = 1u << PAGING_LEVEL_PDE;
	if (cfg->hugepages == KM_HUGE_1G) {
		km->huge_levels |= 1u << PAGING_LEVEL_PDPTE;
		if (pud_pool_reserve(km, cfg->hugepages_1g_pool, err, errlen) != 0) {
			km_huge_destroy(km);
			return -1;
		}
	}
	return 0;
}

void km_huge_destroy(struct km *km)
{
	/* The pool's frames go away with the node (pgdat_destroy). */
	free(km->pud_pool.pfn);
	free(km->pud_pool.used);
	memset(&km->pud_pool, 0, sizeof(km->pud_pool));
}

/* Index of the pool page starting at pfn, or -1. */
static long pud_pool_index(const struct km *km, uint64_t pfn)
{
	for (unsigned i = 0; i < km->pud_pool.nr; i++)
		if (km->pud_pool.pfn[i] == pfn)
			return (long)i;
	return -1;
}

/* Zeroes n frames from pfn. Modelled RAM is a private anonymous host mapping, so
 * MADV_DONTNEED makes the range read back as zeros and returns its host memory, which is much
 * cheaper than writing up to 1 GiB of zeros; memset if the host refuses. */
static void zero_block(struct km *km, uint64_t pfn, uint64_t n)
{
	uint8_t *p = km_pfn_ptr(km, pfn);
	size_t len = (size_t)(n << PAGE_SHIFT);
	if (madvise(p, len, MADV_DONTNEED) != 0)
		memset(p, 0, len);
}

struct page *km_alloc_huge(struct km *km, unsigned level)
{
	uint64_t n = huge_nr_pages(km, level);
	struct page *head;
	if (level == PAGING_LEVEL_PDPTE) {
		/* alloc_hugetlb_folio from the pre-reserved pool (dequeue_hugetlb_folio_node). */
		long idx = -1;
		for (unsigned i = 0; i < km->pud_pool.nr && idx < 0; i++)
			if (!km->pud_pool.used[i])
				idx = (long)i;
		if (idx < 0)
			return NULL;
		km->pud_pool.used[idx] = true;
		km->pud_pool.nr_free--;
		head = km_pfn_page(km, km->pud_pool.pfn[idx]);
		assert(head->_refcount == 1);   /* the pool's reference becomes the mapping's */
		km->stats.huge_pud_alloc++;
		km->stats.huge_pud_in_use++;
	} else {
		/* A compound block straight from the buddy allocator (THP's vma_alloc_folio, or
		 * hugetlb's alloc_buddy_hugetlb_folio for a surplus page). */
		head = alloc_pages(&km->pgdat, GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN,
				   km->pmd_order);
		if (!head)
			return NULL;
		km->stats.pgalloc += n;
		km->cycles += km->cfg.costs.page_alloc;
		km->frames_in_use += n;
		if (km->frames_in_use > km->frames_peak)
			km->frames_peak = km->frames_in_use;
		km->stats.huge_pmd_alloc++;
		km->stats.huge_pmd_in_use++;
	}
	zero_block(km, km_page_pfn(km, head), n);
	km->stats.pages_zeroed += n;
	km->cycles += km->cfg.costs.zero_page * n;
	head->flags |= PG_KM_ANON;
	head->_mapcount = 0;
	return head;
}

/* Gives a huge page whose last reference is gone back to where it came from. */
static void free_huge(struct km *km, struct page *head, unsigned level)
{
	uint64_t n = huge_nr_pages(km, level);
	head->flags &= ~PG_KM_ANON;
	head->_mapcount = 0;
	head->_refcount = 1;   /* the pool's reference again, or the one __free_pages drops */
	if (level == PAGING_LEVEL_PDPTE) {
		long idx = pud_pool_index(km, km_page_pfn(km, head));
		assert(idx >= 0 && km->pud_pool.used[idx]);
		km->pud_pool.used[idx] = false;
		km->pud_pool.nr_free++;
		zero_block(km, km_page_pfn(km, head), n);   /* give the host memory back */
		km->stats.huge_pud_free++;
		km->stats.huge_pud_in_use--;
		return;
	}
	__free_pages(&km->pgdat, head, km->pmd_order);
	km->stats.pgfree += n;
	km->frames_in_use -= n;
	km->stats.huge_pmd_free++;
	km->stats.huge_pmd_in_use--;
}

/* ---- self-check ----------------------------------------------------------------------------- */

struct pt_check_state {
	uint64_t tables[5];
	uint64_t huge;          /* large leaves seen */
	const char *why;
};

static const char *check_large_leaf(struct km *km, uint64_t e, unsigned level)
{
	if (!km_huge_level_on(km, level))
		return "large leaf at a level the huge-page configuration does not use";
	uint64_t pfn = large_leaf_pfn(km, level, e), n = huge_nr_pages(km, level);
	if ((pfn + n) << PAGE_SHIFT > km->phys_size)
		return "large leaf maps a block beyond RAM";
	struct page *head = km_pfn_page(km, pfn);
	if (!(head->flags & PG_KM_ANON) || head->_refcount < 1 || head->_mapcount < 1)
		return "large leaf's head page is not an anonymous page with a reference and a mapping";
	if ((e & PTE_RW) && head->_refcount != 1)
		return "shared huge page mapped writable";
	if (level == PAGING_LEVEL_PDPTE) {
		long idx = pud_pool_index(km, pfn);
		if (idx < 0 || !km->pud_pool.used[idx])
			return "1 GiB leaf does not map a pool page in use";
		return NULL;
	}
	if (!PageHead(head) || compound_order(head) != km->pmd_order)
		return "PMD-level leaf does not map the head of a compound block of the huge-page order";
	if (head[1]._refcount != 0 || head[n - 1]._refcount != 0)
		return "tail page of a huge page holds a reference";
	return NULL;
}

static void check_table(struct km *km, uint64_t table_pa, unsigned level, struct pt_check_state *st)
{
	if (st->why)
		return;
	st->tables[level]++;
	struct page *tp = km_pfn_page(km, table_pa >> PAGE_SHIFT);
	if (!(tp->flags & PG_KM_PGTABLE)) {
		st->why = "page-table entry points to a frame that is not a page-table page";
		return;
	}
	for (unsigned i = 0; i < entries_per_table(km, level); i++) {
		uint64_t e = pte_read(km, km->phys + table_pa + i * km->fmt.entry_size);
		if (pte_none(e))
			continue;
		if (level > 0) {
			if (km_is_large_leaf(level, e)) {
				st->huge++;
				if ((st->why = check_large_leaf(km, e, level)))
					return;
				continue;
			}
			if (!(e & PTE_P)) {
				st->why = "non-leaf entry neither empty nor present";
				return;
			}
			if (entry_addr(km, e) >= km->phys_size) {
				st->why = "non-leaf entry points outside RAM";
				return;
			}
			check_table(km, entry_addr(km, e), level - 1, st);
			continue;
		}
		if (!pte_maps_frame(e)) {
			st->why = "leaf entry is neither empty, present nor PROT_NONE";
			return;
		}
		uint64_t pfn = km_pte_pfn(km, e);
		if ((pfn << PAGE_SHIFT) >= km->phys_size) {
			st->why = "leaf entry maps a frame outside RAM";
			return;
		}
		if (pfn == km->zero_pfn) {
			if (e & PTE_RW) {
				st->why = "zero page mapped writable";
				return;
			}
			continue;
		}
		struct page *pg = km_pfn_page(km, pfn);
		if (pg->flags & PG_KM_KERNEL)
			continue;
		/* A present supervisor entry is a kernel mapping (a kmap slot): it holds no reference,
		 * and an unused pkmap slot may keep pointing to a freed frame until the pool wraps. */
		if ((e & PTE_P) && !(e & PTE_US))
			continue;
		if (pg->_refcount < 1 || pg->_mapcount < 1) {
			st->why = "mapped frame has no reference or no mapcount";
			return;
		}
		if ((e & PTE_RW) && !(pg->flags & PG_KM_ANON)) {
			st->why = "page-cache page mapped writable in a private mapping";
			return;
		}
		if ((e & PTE_RW) && pg->_refcount != 1) {
			st->why = "shared anonymous frame mapped writable (missed COW)";
			return;
		}
	}
}

const char *km_pgtable_check(struct km *km, struct mm_struct *mm)
{
	struct pt_check_state st = { { 0 }, 0, NULL };
	if (km->fmt.mode == PAGING_PAE) {
		/* The PDPT is a pgd_cache object: check the four preallocated PMD trees. */
		if (slab_obj_cache(km->slab, mm->pdpt_pa) != slab_mm_cache(km->slab, SLAB_PGD))
			return "PAE: the PDPT is not an object of pgd_cache";
		for (unsigned i = 0; i < PAE_NR_PDPTE; i++) {
			uint64_t e = pte_read(km, km->phys + mm->pdpt_pa + i * ENTRY_SIZE_64);
			if (!(e & PTE_P))
				return "PAE: a PDPTE is not present (PMDs are preallocated)";
			check_table(km, entry_addr(km, e), km->fmt.levels - 2, &st);
		}
	} else {
		check_table(km, mm->pdpt_pa, km->fmt.levels - 1, &st);
	}
	if (st.why)
		return st.why;
	uint64_t total = 0;
	for (unsigned l = 0; l < 5; l++)
		total += st.tables[l];
	if (total != mm->pt_pages)
		return "page-table page count of the mm does not match the tables reachable from CR3";
	if (st.huge != mm->nr_huge)
		return "large-leaf count of the mm does not match the tables reachable from CR3";
	unsigned used = 0;
	for (unsigned i = 0; i < km->pud_pool.nr; i++)
		used += km->pud_pool.used[i];
	if (used != km->pud_pool.nr - km->pud_pool.nr_free || used != km->stats.huge_pud_in_use)
		return "1 GiB pool: pages in use do not match its free count or the in-use counter";
	if (km->stats.huge_pmd_alloc - km->stats.huge_pmd_free != km->stats.huge_pmd_in_use)
		return "PMD-level huge pages: allocated - freed does not match the in-use counter";
	return NULL;
}
