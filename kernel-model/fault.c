/* fault.c — the page-fault handler, following Linux 6.12:
 *
 *   arch/x86/mm/fault.c do_user_addr_fault: find the VMA (growing the stack when the address is
 *     just below a VM_GROWSDOWN VMA), access_error, then handle_mm_fault; a bad address or a
 *     refused access is SIGSEGV with SEGV_MAPERR or SEGV_ACCERR.
 *   mm/memory.c handle_pte_fault:
 *     - PTE none, anonymous VMA  -> do_anonymous_page: read maps the shared zero page (read-only,
 *       special), write allocates a zeroed page (GFP_HIGHUSER_MOVABLE) mapped dirty+writable.
 *     - PTE none, file VMA       -> do_read_fault (page-cache page mapped read-only) or, for a
 *       write to a private mapping, do_cow_fault (a private copy of the page-cache page).
 *     - write to a present read-only PTE in a writable VMA -> do_wp_page: the zero page gives a
 *       new zeroed page, an exclusive anonymous page is reused in place (wp_page_reuse), anything
 *       else is copied (wp_page_copy) and the old translation flushed.
 *     - otherwise the fault was spurious: set Accessed (and Dirty on a write).
 *   New PTEs carry Accessed, and Dirty for a write fault (protection_map includes _PAGE_ACCESSED).
 *   Out of memory ends in the OOM killer (KM_FAULT_OOM), never a host abort.
 *
 * A fetch from a readable but non-executable VMA takes two faults under NX, as on Linux: the
 * first (not present) maps the page with NX, the retried fetch faults again with P|I set and is
 * refused by access_error ("read, present").
 *
 * Huge pages (kmodel.h policy; mm/hugetlb.c hugetlb_fault/hugetlb_no_page for the private
 * anonymous case): in a VM_HUGEPAGE VMA an empty translation whose huge-aligned block lies inside
 * the VMA with no 4 KiB translations under it gets one large leaf (1 GiB first when configured,
 * then PMD-level), zeroed on read faults too. It is writable from the start in a writable VMA, so
 * a present large leaf only ever takes spurious faults (hugetlb_wp is not needed). Anything that
 * does not fit falls back to the 4 KiB paths above.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "km_internal.h"

#ifndef SEGV_MAPERR
#define SEGV_MAPERR 1
#define SEGV_ACCERR 2
#endif

/* expand_stack / expand_downwards: grow a VM_GROWSDOWN VMA down to addr, within RLIMIT_STACK
 * and keeping the guard gap above the previous VMA. */
static bool expand_stack(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr)
{
	uint64_t new_start = addr & PAGE_MASK;
	if (new_start < MMAP_MIN_ADDR)
		return false;
	if (vma->vm_end - new_start > km->cfg.rlimit_stack)
		return false;
	struct vm_area_struct *prev = vma_prev(mm, vma);
	if (prev) {
		if (prev->vm_end + STACK_GUARD_GAP > new_start && (prev->vm_flags & VM_ACCESS_FLAGS))
			return false;
	}
	uint64_t grow = (vma->vm_start - new_start) >> PAGE_SHIFT;
	if (!vma_set_range(mm, vma, new_start, vma->vm_end))   /* the tree store (vma_iter_store) */
		return false;
	vma->vm_pgoff -= grow;                                  /* expand_downwards */
	km->stats.stack_expansions++;
	return true;
}

/* access_error (arch/x86/mm/fault.c): 1 when the VMA does not allow the access. */
static bool access_error(uint32_t ec, const struct vm_area_struct *vma)
{
	if (ec & PF_ERR_PK)
		return true;
	if (ec & PF_ERR_W)
		return !(vma->vm_flags & VM_WRITE);
	if (ec & PF_ERR_P)
		return true;   /* read, present */
	return !(vma->vm_flags & VM_ACCESS_FLAGS);
}

static enum km_fault_result finish(struct km *km, struct km_fault_info *info, enum km_fault_kind kind,
				   enum km_fault_result res, uint64_t start_cycles)
{
	info->kind = kind;
	info->cycles = km->cycles - start_cycles;
	km->fault_kind_count[kind]++;
	km->stats.fault_cycles += info->cycles;
	if (res == KM_FAULT_SIGSEGV)
		km->stats.sigsegv++;
	if (res == KM_FAULT_OOM)
		km->stats.oom_kills++;
	return res;
}

static void set_pte_new(struct km *km, void *slot, uint64_t pfn, uint64_t prot, bool write)
{
	uint64_t e = km_mk_pte(km, pfn, prot | PTE_A);
	if (write)
		e |= PTE_RW | PTE_D;
	pte_write(km, slot, e);
}

static enum km_fault_result do_anonymous_page(struct km *km, struct mm_struct *mm,
					      struct vm_area_struct *vma, void *slot, bool write,
					      enum km_fault_kind *kind)
{
	if (!write && !(vma->vm_flags & VM_SHARED) && !km->cfg.no_zero_page) {
		/* The zero page: special, read-only whatever the VMA allows. */
		pte_write(km, slot, km_mk_pte(km, km->zero_pfn, (vma->vm_page_prot & ~PTE_RW) | PTE_A | PTE_SPECIAL));
		*kind = KM_FK_ANON_ZERO;
		return KM_FAULT_OK;
	}
	if (!km_anon_vma_prepare(km, mm, vma))   /* vmf_anon_prepare */
		return KM_FAULT_OOM;
	struct page *page = km_alloc_page(km, GFP_HIGHUSER_MOVABLE | __GFP_ZERO);
	if (!page)
		return KM_FAULT_OOM;
	uint64_t pfn = km_page_pfn(km, page);   /* zeroed by the allocator (__GFP_ZERO) */
	page->flags |= PG_KM_ANON;
	page->_mapcount = 1;
	mm->rss_anon++;
	bool writable = (vma->vm_flags & VM_WRITE) != 0;
	/* do_anonymous_page maps the new page writable and dirty whenever the VMA is writable; a
	 * read fault reaches here only for shared memory or without the zero page. */
	set_pte_new(km, slot, pfn, vma->vm_page_prot, writable);
	*kind = KM_FK_ANON_NEW;
	return KM_FAULT_OK;
}

/* Maps page-cache page cache_pfn read-only at a PTE of a file VMA (do_read_fault's
 * finish_fault, filemap_map_pages' set_pte_range). */
static void map_file_page(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma, void *slot,
			  uint64_t cache_pfn)
{
	struct page *cp = km_pfn_page(km, cache_pfn);
	cp->_refcount++;
	cp->_mapcount++;
	mm->rss_file++;
	set_pte_new(km, slot, cache_pfn, vma->vm_page_prot & ~PTE_RW, false);
}

/* do_fault_around (mm/memory.c) with filemap_map_pages (mm/filemap.c): a read fault on a file
 * VMA first maps the page-cache pages of a fault_around_pages (16) window around the address:
 * the window is aligned to 16 PTEs, clamped to the VMA, to the page table that holds the PTE
 * and to the end of the file; PTEs already set are left alone. Prefaulted PTEs are young on
 * x86 (arch_wants_old_prefaulted_pte is false), so they carry Accessed like the faulting one.
 *
 * Linux maps only pages already uptodate in the page cache. The model assumes a warm page
 * cache, as when the same binary has just run natively (how fault counts are compared): every
 * page of the file is treated as cached, and a page the model has not read yet is read from
 * the host file without counting a major fault. Returns false when memory ran out before the
 * faulting page itself was mapped. */
#define FAULT_AROUND_PAGES 16u

static bool do_fault_around(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr,
			    void *fault_slot)
{
	unsigned ptrs = 1u << (km->fmt.shift[1] - km->fmt.shift[0]);   /* PTRS_PER_PTE */
	uint64_t pte_off = (addr >> PAGE_SHIFT) & (ptrs - 1);
	uint64_t vma_off = (addr - vma->vm_start) >> PAGE_SHIFT;
	uint64_t vma_pages = (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
	uint64_t from = pte_off & ~(uint64_t)(FAULT_AROUND_PAGES - 1);
	uint64_t lo = pte_off - (pte_off < vma_off ? pte_off : vma_off);
	if (from < lo)
		from = lo;
	uint64_t to = from + FAULT_AROUND_PAGES;
	if (to > ptrs)
		to = ptrs;
	if (to > pte_off + vma_pages - vma_off)
		to = pte_off + vma_pages - vma_off;
	uint64_t file_pages = (vma->vm_file->size + PAGE_SIZE - 1) >> PAGE_SHIFT;
	uint64_t index0 = vma->vm_pgoff + vma_off - pte_off;   /* file index of PTE 0 of the table */
	uint8_t *table = (uint8_t *)fault_slot - pte_off * km->fmt.entry_size;
	bool mapped_fault_page = false;
	for (uint64_t i = from; i < to; i++) {
		uint64_t index = index0 + i;
		if (index >= file_pages)
			break;
		uint8_t *slot = table + i * km->fmt.entry_size;
		if (pte_read(km, slot) != 0)
			continue;
		uint64_t cache_pfn;
		bool major;
		if (!km_filemap_get(km, vma->vm_file, index, &cache_pfn, &major))
			break;   /* out of memory: map what we have */
		map_file_page(km, mm, vma, slot, cache_pfn);
		if (i == pte_off)
			mapped_fault_page = true;
		else {
			km->stats.fault_around_pages++;
			km->cycles += km->cfg.costs.fault_around_page;
		}
	}
	return mapped_fault_page;
}

static enum km_fault_result do_file_fault(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma,
					  uint64_t addr, void *slot, bool write, enum km_fault_kind *kind)
{
	uint64_t index = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	/* Beyond the end of the file is SIGBUS (filemap_fault). */
	if (index >= (vma->vm_file->size + PAGE_SIZE - 1) >> PAGE_SHIFT)
		return KM_FAULT_SIGBUS;
	if (!write && do_fault_around(km, mm, vma, addr, slot)) {
		*kind = KM_FK_FILE_READ;
		return KM_FAULT_OK;
	}
	uint64_t cache_pfn;
	bool major;
	if (!km_filemap_get(km, vma->vm_file, index, &cache_pfn, &major))
		return KM_FAULT_OOM;
	if (write && !(vma->vm_flags & VM_SHARED)) {
		/* do_cow_fault: a private anonymous copy of the page-cache page. */
		if (!km_anon_vma_prepare(km, mm, vma))
			return KM_FAULT_OOM;
		struct page *page = km_alloc_page(km, GFP_HIGHUSER_MOVABLE);
		if (!page)
			return KM_FAULT_OOM;
		uint64_t pfn = km_page_pfn(km, page);
		memcpy(km_pfn_ptr(km, pfn), km_pfn_ptr(km, cache_pfn), PAGE_SIZE);
		km_copy_highpage(km, pfn, cache_pfn);   /* the kmap_local slots a HighMem copy takes */
		km->stats.pages_copied++;
		km->cycles += km->cfg.costs.copy_page;
		page->flags |= PG_KM_ANON;
		page->_mapcount = 1;
		mm->rss_anon++;
		set_pte_new(km, slot, pfn, vma->vm_page_prot, true);
		*kind = KM_FK_FILE_COW;
		return KM_FAULT_OK;
	}
	/* do_read_fault: map the page-cache page itself, read-only for a private mapping. */
	map_file_page(km, mm, vma, slot, cache_pfn);
	*kind = KM_FK_FILE_READ;
	return KM_FAULT_OK;
}

static enum km_fault_result do_wp_page(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma,
				       uint64_t addr, void *slot, uint64_t pte, enum km_fault_kind *kind)
{
	uint64_t old_pfn = km_pte_pfn(km, pte);
	struct page *old = old_pfn == km->zero_pfn ? NULL : km_pfn_page(km, old_pfn);
	if (old && (old->flags & PG_KM_ANON) && old->_refcount == 1) {
		/* wp_page_reuse: exclusive anonymous page, make it writable in place. */
		pte_write(km, slot, pte | PTE_RW | PTE_D | PTE_A);
		*kind = KM_FK_COW_REUSE;
		km_flush_tlb(km, mm, addr & PAGE_MASK, (addr & PAGE_MASK) + PAGE_SIZE);
		return KM_FAULT_OK;
	}
	/* wp_page_copy. */
	if (!km_anon_vma_prepare(km, mm, vma))
		return KM_FAULT_OOM;
	struct page *page = km_alloc_page(km, GFP_HIGHUSER_MOVABLE | (old ? 0 : __GFP_ZERO));
	if (!page)
		return KM_FAULT_OOM;
	uint64_t pfn = km_page_pfn(km, page);
	if (old) {
		memcpy(km_pfn_ptr(km, pfn), km_pfn_ptr(km, old_pfn), PAGE_SIZE);
		km_copy_highpage(km, pfn, old_pfn);
		km->stats.pages_copied++;
		km->cycles += km->cfg.costs.copy_page;
		*kind = KM_FK_COW_COPY;
	} else {
		*kind = KM_FK_COW_ZERO;   /* zeroed by the allocator (__GFP_ZERO) */
	}
	page->flags |= PG_KM_ANON;
	page->_mapcount = 1;
	mm->rss_anon++;
	/* ptep_clear_flush, then the new writable dirty PTE. */
	pte_write(km, slot, 0);
	km_flush_tlb(km, mm, addr & PAGE_MASK, (addr & PAGE_MASK) + PAGE_SIZE);
	set_pte_new(km, slot, pfn, vma->vm_page_prot, true);
	if (old) {
		if (old->flags & PG_KM_ANON)
			mm->rss_anon--;
		else
			mm->rss_file--;
		old->_mapcount--;
		km_put_page(km, old);
	}
	return KM_FAULT_OK;
}

/* hugetlb_no_page for a private anonymous VMA: one zeroed huge page mapped by a large leaf.
 * Returns false when no huge page fits at addr (the block is not inside the VMA, or 4 KiB
 * translations are already under it): the caller maps a 4 KiB page. A 1 GiB attempt with the
 * pool empty falls through to the PMD level; a PMD-level block the buddy allocator cannot give
 * is KM_FAULT_OOM (no 4 KiB fallback, as hugetlb). */
static bool do_huge_anonymous_page(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma,
				   uint64_t addr, bool write, enum km_fault_result *res)
{
	for (unsigned level = PAGING_LEVEL_PDPTE; level >= PAGING_LEVEL_PDE; level--) {
		if (!km_huge_level_on(km, level))
			continue;
		uint64_t size = paging_level_size(&km->fmt, level), base = addr & ~(size - 1);
		if (base < vma->vm_start || base + size > vma->vm_end)
			continue;
		if (level == PAGING_LEVEL_PDPTE && !km->pud_pool.nr_free) {
			km->stats.huge_pud_pool_empty++;
			continue;
		}
		bool oom;
		uint8_t *slot = km_entry_slot(km, mm, addr, level, true, &oom);
		if (!slot) {
			if (!oom)
				continue;
			*res = KM_FAULT_OOM;
			return true;
		}
		if (!km_entry_make_none(km, mm, slot, level, addr))
			continue;   /* 4 KiB translations below: not collapsed (no khugepaged) */
		struct page *head = km_alloc_huge(km, level);
		if (!head) {
			*res = KM_FAULT_OOM;
			return true;
		}
		uint64_t prot = vma->vm_page_prot | PTE_A;
		if (vma->vm_flags & VM_WRITE)
			prot |= PTE_RW;
		if (write)
			prot |= PTE_D;
		pte_write(km, slot, paging_make_leaf(&km->fmt, level, km_page_pfn(km, head) << PAGE_SHIFT,
						     prot));
		head->_mapcount = 1;
		mm->rss_anon += size >> PAGE_SHIFT;
		mm->nr_huge++;
		*res = KM_FAULT_OK;
		return true;
	}
	return false;
}

enum km_fault_result km_handle_mm_fault(struct km *km, struct mm_struct *mm, uint64_t addr,
					uint32_t ec, struct km_fault_info *info)
{
	uint64_t start = km->cycles;
	memset(info, 0, sizeof(*info));
	km->stats.pgfault++;
	if (ec & PF_ERR_U)
		km->stats.pgfault_user++;
	km->cycles += km->cfg.costs.exception + km->cfg.costs.fault_base;

	if (addr >= mm->task_size) {
		info->si_code = SEGV_MAPERR;
		return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
	}
	struct vm_area_struct *vma = find_vma(mm, addr);
	if (!vma) {
		info->si_code = SEGV_MAPERR;
		return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
	}
	if (vma->vm_start > addr) {
		if (!(vma->vm_flags & VM_GROWSDOWN) || !expand_stack(km, mm, vma, addr)) {
			info->si_code = SEGV_MAPERR;
			return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
		}
	}
	if (access_error(ec, vma)) {
		info->si_code = SEGV_ACCERR;
		return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
	}
	bool write = (ec & PF_ERR_W) != 0;
	enum km_fault_kind kind = KM_FK_SPURIOUS;
	enum km_fault_result res;
	unsigned level;
	uint8_t *entry = km_walk_entry(km, mm, addr, &level);
	uint64_t e = pte_read(km, entry);
	if (km_is_large_leaf(level, e)) {
		if (!(e & PTE_P)) {
			/* PROT_NONE in an accessible VMA cannot happen (mprotect rewrites the leaf). */
			info->si_code = SEGV_ACCERR;
			return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
		}
		/* Huge pages are writable from the start in a writable VMA, and access_error refused
		 * writes to any other: only a spurious fault is left. */
		assert(!write || (e & PTE_RW));
		uint64_t ne = e | PTE_A | (write ? PTE_D : 0);
		if (ne != e)
			pte_write(km, entry, ne);
		return finish(km, info, KM_FK_SPURIOUS, KM_FAULT_OK, start);
	}
	if ((vma->vm_flags & VM_HUGEPAGE) && e == 0 &&
	    do_huge_anonymous_page(km, mm, vma, addr, write, &res)) {
		if (res == KM_FAULT_OOM)
			return finish(km, info, KM_FK_OOM, KM_FAULT_OOM, start);
		return finish(km, info, KM_FK_ANON_HUGE, KM_FAULT_OK, start);
	}
	bool oom;
	uint8_t *slot = km_pte_slot(km, mm, addr, true, &oom);
	if (!slot)
		return finish(km, info, KM_FK_OOM, KM_FAULT_OOM, start);
	km_touch_pte_page(km, mm, slot, true);   /* pte_offset_map_lock under HIGHPTE */
	uint64_t pte = pte_read(km, slot);
	if (pte == 0 && (vma->vm_flags & VM_HUGEPAGE))
		km->stats.huge_fallback++;
	if (pte == 0 && vma->special) {
		/* vdso_fault / vvar_fault: the kernel's own page, read-only. */
		pte_write(km, slot, km_mk_pte(km, km_special_pfn(km, vma, addr),
					      vma->vm_page_prot | PTE_A));
		kind = KM_FK_SPECIAL;
		res = KM_FAULT_OK;
	} else if (pte == 0) {
		if (!vma->vm_file)
			res = do_anonymous_page(km, mm, vma, slot, write, &kind);
		else
			res = do_file_fault(km, mm, vma, addr, slot, write, &kind);
	} else if (!(pte & PTE_P)) {
		/* PROT_NONE entry in an accessible VMA cannot happen (mprotect rewrites them). */
		info->si_code = SEGV_ACCERR;
		return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGSEGV, start);
	} else if (write && !(pte & PTE_RW)) {
		res = do_wp_page(km, mm, vma, addr, slot, pte, &kind);
	} else {
		/* Spurious: the translation is valid; mark young (and dirty on a write). x86 needs no
		 * flush here (flush_tlb_fix_spurious_fault is a no-op). */
		uint64_t ne = pte | PTE_A | (write ? PTE_D : 0);
		if (ne != pte)
			pte_write(km, slot, ne);
		res = KM_FAULT_OK;
	}
	if (res == KM_FAULT_SIGBUS) {
		info->si_code = 2; /* BUS_ADRERR */
		return finish(km, info, KM_FK_SIGSEGV, KM_FAULT_SIGBUS, start);
	}
	if (res == KM_FAULT_OOM)
		return finish(km, info, KM_FK_OOM, KM_FAULT_OOM, start);
	return finish(km, info, kind, KM_FAULT_OK, start);
}
