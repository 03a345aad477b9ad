/* pgtable.c — page tables in modelled physical memory, in the real x86 format of km->fmt.
 *
 * Tables come from the page allocator with GFP_PGTABLE_USER (zeroed), as pte_alloc_one and
 * friends do (arch/x86/mm/pgtable.c). Non-leaf entries are _PAGE_TABLE = P|RW|US|A|D: as in
 * Linux, permissions are enforced at the leaf only. Under PAE the top level is the 4-entry PDPT
 * whose entries hold only P (other low bits are reserved), and the PMD pages behind it are
 * preallocated when the address space is created (PREALLOCATED_PMDS); the CPU loads PDPTEs at
 * the CR3 write, so they never change afterwards.
 *
 * Invariants (checked by km_pgtable_check):
 *  - every present non-leaf entry points to a frame flagged PG_KM_PGTABLE, and each such frame
 *    is referenced by exactly one entry;
 *  - every present (or PROT_NONE) leaf points to the zero page, a kernel page, or a frame with
 *    _refcount >= 1 and _mapcount >= 1;
 *  - a table left with no entries after an unmap is freed (except the top level and PAE PMDs).
 */
#include <errno.h>
#include <string.h>

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
	struct page *page = km_alloc_page(km, GFP_PGTABLE_USER);
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
	struct page *pgd = pt_alloc(km, mm, top);
	if (!pgd)
		return false;
	mm->pgd_pfn = km_page_pfn(km, pgd);
	mm->pdpt_pa = mm->pgd_pfn << PAGE_SHIFT;
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
	return true;
}

static void free_table_tree(struct km *km, struct mm_struct *mm, uint64_t table_pa, unsigned level)
{
	if (level > 0) {
		for (unsigned i = 0; i < entries_per_table(km, level); i++) {
			uint64_t e = pte_read(km, km->phys + table_pa + i * km->fmt.entry_size);
			if (e & PTE_P)
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
	free_table_tree(km, mm, mm->pgd_pfn << PAGE_SHIFT, km->fmt.levels - 1);
	mm->pgd_pfn = 0;
}

void *km_pte_slot(struct km *km, struct mm_struct *mm, uint64_t va, bool alloc, bool *oom)
{
	uint64_t table = mm->pgd_pfn << PAGE_SHIFT;
	if (oom)
		*oom = false;
	for (unsigned level = km->fmt.levels - 1; level > 0; level--) {
		uint8_t *p = entry_ptr(km, table, level, va);
		uint64_t e = pte_read(km, p);
		if (!(e & PTE_P)) {
			if (!alloc)
				return NULL;
			struct page *t = pt_alloc(km, mm, level - 1);
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
	return entry_ptr(km, table, 0, va);
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

void km_zap_range(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	bool any = false;
	unsigned top = km->fmt.levels - 1;
	uint64_t root = mm->pgd_pfn << PAGE_SHIFT;
	if (km->fmt.mode == PAGING_PAE) {
		/* The PDPT and its preallocated PMDs stay; zap below each PMD. */
		for (unsigned i = 0; i < 4; i++) {
			uint64_t lo = (uint64_t)i << km->fmt.shift[top];
			uint64_t hi = lo + (1ULL << km->fmt.shift[top]);
			if (hi <= start || lo >= end)
				continue;
			uint64_t e = pte_read(km, km->phys + root + i * 8);
			zap_table(km, mm, entry_addr(km, e), top - 1, lo, start, end, &any);
		}
	} else {
		zap_table(km, mm, root, top, 0, start, end, &any);
	}
	if (any)
		km_flush_tlb(km, mm, start, end);
}

bool km_move_ptes(struct km *km, struct mm_struct *mm, uint64_t old, uint64_t new_addr, uint64_t len)
{
	bool moved = false;
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		uint8_t *src = km_pte_slot(km, mm, old + off, false, NULL);
		if (!src)
			continue;
		uint64_t e = pte_read(km, src);
		if (pte_none(e))
			continue;
		bool oom;
		uint8_t *dst = km_pte_slot(km, mm, new_addr + off, true, &oom);
		if (!dst)
			return false;
		/* The source slot may have moved? No: tables are never freed here, pointers stay valid. */
		pte_write(km, dst, e);
		pte_write(km, src, 0);
		moved = true;
	}
	/* Free tables the move emptied (nothing left to zap in the old range). */
	bool any = false;
	unsigned top = km->fmt.levels - 1;
	uint64_t root = mm->pgd_pfn << PAGE_SHIFT;
	if (km->fmt.mode != PAGING_PAE)
		zap_table(km, mm, root, top, 0, old, old + len, &any);
	else
		for (unsigned i = 0; i < 4; i++) {
			uint64_t lo = (uint64_t)i << km->fmt.shift[top];
			uint64_t hi = lo + (1ULL << km->fmt.shift[top]);
			if (hi <= old || lo >= old + len)
				continue;
			uint64_t e = pte_read(km, km->phys + root + i * 8);
			zap_table(km, mm, entry_addr(km, e), top - 1, lo, old, old + len, &any);
		}
	if (moved)
		km_flush_tlb(km, mm, old, old + len);
	return true;
}

void km_change_prot(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t prot,
		    bool writable_ok)
{
	bool changed = false;
	for (uint64_t va = start; va < end; va += PAGE_SIZE) {
		uint8_t *p = km_pte_slot(km, mm, va, false, NULL);
		if (!p) {
			/* Skip the rest of this last-level table's span. */
			uint64_t span = 1ULL << km->fmt.shift[1];
			va = (va & ~(span - 1)) + span - PAGE_SIZE;
			continue;
		}
		uint64_t e = pte_read(km, p);
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

/* ---- self-check ----------------------------------------------------------------------------- */

struct pt_check_state {
	uint64_t tables[5];
	const char *why;
};

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
	struct pt_check_state st = { { 0 }, NULL };
	check_table(km, mm->pgd_pfn << PAGE_SHIFT, km->fmt.levels - 1, &st);
	if (st.why)
		return st.why;
	uint64_t total = 0;
	for (unsigned l = 0; l < 5; l++)
		total += st.tables[l];
	if (total != mm->pt_pages)
		return "page-table page count of the mm does not match the tables reachable from CR3";
	return NULL;
}
