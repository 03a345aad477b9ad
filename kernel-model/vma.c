/* vma.c — VMAs of an address space and the placement of new mappings.
 *
 * VMAs live in mm->mm_mt, a range B-tree shaped like Linux 6.12's maple tree (vma_tree.h: leaves
 * of 16 slots, allocation-range internal nodes of 10 with the largest gap under each child; free
 * ranges are NULL entries as in the maple tree). mm->map_count counts the VMAs; mmap and brk
 * refuse a new VMA when it is above max_map_count (65530), mprotect's splits and a munmap that
 * punches a hole when it has reached it (do_mmap, do_brk_flags, split_vma, do_vmi_align_munmap). Invariants (km_vma_check): the tree's own
 * (vt_check), each VMA's range in the tree equal to [vm_start, vm_end), page-aligned, non-empty,
 * below TASK_SIZE, map_count equal to the VMAs in the tree, and no two neighbours that Linux
 * would have merged.
 *
 * Merging (mm/vma.c is_mergeable_vma): address-adjacent, same vm_flags, same file with
 * contiguous pgoff (or both anonymous). The merged VMA is stored over both ranges in one tree
 * store (vma_expand's vma_iter_store), which needs no new node.
 *
 * Placement (arch/x86/kernel/sys_x86_64.c, mm/mmap.c): top-down below mmap_base, from
 * low_limit = max(PAGE_SIZE, mmap_min_addr), keeping the stack guard gap below VM_GROWSDOWN
 * VMAs; bottom-up from TASK_UNMAPPED_BASE as the fallback. Huge-page VMAs are placed with
 * vm_unmapped_area's alignment (align_mask/align_offset): the search asks for a gap of
 * len + align - PAGE_SIZE, then aligns the address down inside it (top-down) or up (bottom-up).
 * The top-down search is unmapped_area_topdown's: the tree's gap search (mas_empty_area_rev)
 * finds the highest free range that is long enough, then the guard gap of the VMA above it is
 * checked, and when it does not fit the search goes on below that range (Linux retries with
 * high_limit = vm_start_gap(next), which is the same unless a VMA sits inside the guard gap).
 *
 * Huge-page VMAs (VM_HUGEPAGE) are split only where no huge page can sit across the split
 * (vma_huge_boundary_ok), hugetlb's may_split rule generalised to VMAs whose ends are not
 * huge-aligned.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "km_internal.h"

static uint64_t maple_node_alloc(void *ctx)
{
	struct km *km = ctx;
	return kmem_cache_alloc(slab_mm_cache(km->slab, SLAB_MAPLE_NODE), GFP_KERNEL);
}

static void maple_node_free(void *ctx, uint64_t obj)
{
	struct km *km = ctx;
	kmem_cache_free(slab_mm_cache(km->slab, SLAB_MAPLE_NODE), obj);
}

struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr)
{
	uint64_t first, last;
	struct vm_area_struct *v = vt_find(&mm->mm_mt, addr, &first, &last);
	if (v || last == VT_MAX)
		return v;
	/* addr is in a gap: the range after it holds a VMA (NULL ranges are never adjacent). */
	return vt_find(&mm->mm_mt, last + 1, &first, &last);
}

struct vm_area_struct *vma_prev(struct mm_struct *mm, const struct vm_area_struct *vma)
{
	if (vma->vm_start == 0)
		return NULL;
	uint64_t first, last;
	struct vm_area_struct *v = vt_find(&mm->mm_mt, vma->vm_start - 1, &first, &last);
	if (v || first == 0)
		return v;
	return vt_find(&mm->mm_mt, first - 1, &first, &last);
}

struct vm_area_struct *vma_next(struct mm_struct *mm, const struct vm_area_struct *vma)
{
	return find_vma(mm, vma->vm_end);
}

struct vm_area_struct *vma_find(struct vma_iterator *vmi, uint64_t max)
{
	struct vma_tree *t = &vmi->mm->mm_mt;
	uint64_t first, last;
	if (vmi->index >= max)
		return NULL;
	struct vm_area_struct *v = vt_cursor_find(t, &vmi->cur, vmi->index, &first, &last);
	if (!v) {
		if (last == VT_MAX || last + 1 >= max)
			return NULL;
		v = vt_cursor_find(t, &vmi->cur, last + 1, &first, &last);
	}
	if (!v || first >= max)
		return NULL;
	vmi->index = last + 1;
	return v;
}

/* vm_area_alloc (kernel/fork.c): the vm_area_struct object from its slab cache and, on
 * x86-64 (CONFIG_PER_VMA_LOCK), its vma_lock object. The host struct carries the fields. */
struct vm_area_struct *vma_alloc(struct km *km)
{
	struct vm_area_struct *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->obj = kmem_cache_alloc(slab_mm_cache(km->slab, SLAB_VMA), GFP_KERNEL);
	if (!v->obj) {
		free(v);
		return NULL;
	}
	struct kmem_cache *lock = slab_mm_cache(km->slab, SLAB_VMA_LOCK);
	if (lock) {
		v->lock_obj = kmem_cache_alloc(lock, GFP_KERNEL);
		if (!v->lock_obj) {
			kmem_cache_free(slab_mm_cache(km->slab, SLAB_VMA), v->obj);
			free(v);
			return NULL;
		}
	}
	return v;
}

/* vm_area_free, after unlink_anon_vmas (the VMA's anon_vma_chain; the anon_vma with its last
 * user). The caller drops the file reference. */
void vma_free(struct km *km, struct vm_area_struct *vma)
{
	if (!vma)
		return;
	km_unlink_anon_vmas(km, vma);
	if (vma->lock_obj)
		kmem_cache_free(slab_mm_cache(km->slab, SLAB_VMA_LOCK), vma->lock_obj);
	kmem_cache_free(slab_mm_cache(km->slab, SLAB_VMA), vma->obj);
	free(vma);
}

/* vm_area_dup + anon_vma_clone: a new VMA with v's attributes (its own slab objects, one more
 * anon_vma_chain on v's anon_vma, one more reference on v's file). Not in the tree yet. */
struct vm_area_struct *vma_dup(struct km *km, const struct vm_area_struct *v)
{
	struct vm_area_struct *n = vma_alloc(km);
	if (!n)
		return NULL;
	uint64_t obj = n->obj, lock_obj = n->lock_obj;
	*n = *v;
	n->obj = obj;
	n->lock_obj = lock_obj;
	if (!km_anon_vma_clone(km, n, v)) {
		n->vm_file = NULL;
		vma_free(km, n);
		return NULL;
	}
	if (n->vm_file)
		n->vm_file->refs++;
	return n;
}

bool vma_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (!vt_store(&mm->mm_mt, vma->vm_start, vma->vm_end - 1, vma))
		return false;
	mm->map_count++;
	return true;
}

void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma)
{
	bool ok = vt_store(&mm->mm_mt, vma->vm_start, vma->vm_end - 1, NULL);
	assert(ok);   /* clearing a whole range never needs a node */
	(void)ok;
	mm->map_count--;
}

bool vma_set_range(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	assert(start <= vma->vm_start && end >= vma->vm_end && start < end);
	if (start == vma->vm_start && end == vma->vm_end)
		return true;
	if (!vt_store(&mm->mm_mt, start, end - 1, vma))
		return false;
	vma->vm_start = start;
	vma->vm_end = end;
	return true;
}

/* Splits vma at addr (strictly inside it) into [start, addr) and [addr, end) (__split_vma). */
bool vma_split(struct km *km, struct mm_struct *mm, struct vm_area_struct *v, uint64_t addr)
{
	if (addr <= v->vm_start || addr >= v->vm_end)
		return true;
	struct vm_area_struct *n = vma_dup(km, v);
	if (!n)
		return false;
	n->vm_start = addr;
	n->vm_pgoff += (addr - v->vm_start) >> PAGE_SHIFT;
	if (!vt_store(&mm->mm_mt, addr, n->vm_end - 1, n)) {
		if (n->vm_file)
			km_file_put(km, n->vm_file);
		vma_free(km, n);
		return false;
	}
	v->vm_end = addr;
	mm->map_count++;
	km->stats.vma_splits++;
	return true;
}

/* is_mergeable_vma + is_mergeable_anon_vma (mm/vma.c): the anon_vmas must be the same, or one
 * of them not set yet. */
static bool mergeable(const struct vm_area_struct *a, const struct vm_area_struct *b)
{
	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags || a->vm_file != b->vm_file)
		return false;
	if (a->anon_vma && b->anon_vma && a->anon_vma != b->anon_vma)
		return false;
	if (a->special || b->special)
		return false;
	if (a->vm_pgoff + ((a->vm_end - a->vm_start) >> PAGE_SHIFT) != b->vm_pgoff)
		return false;
	return true;
}

/* Merges VMAs touching [start, end) with their neighbours where Linux would. */
void vma_try_merge_around(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct vm_area_struct *a = find_vma(mm, start ? start - 1 : 0);
	while (a && a->vm_start <= end) {
		struct vm_area_struct *b = vma_next(mm, a);
		if (!b)
			break;
		if (mergeable(a, b)) {
			/* One store over both ranges: the boundaries exist, no node is needed. */
			bool ok = vt_store(&mm->mm_mt, a->vm_start, b->vm_end - 1, a);
			assert(ok);
			(void)ok;
			a->vm_end = b->vm_end;
			mm->map_count--;
			if (!a->anon_vma && b->anon_vma) {
				/* dup_anon_vma: the merged VMA takes over b's anon_vma (and chain). */
				a->anon_vma = b->anon_vma;
				a->avc_obj = b->avc_obj;
				b->anon_vma = NULL;
				b->avc_obj = 0;
			}
			if (b->vm_file)
				km_file_put(km, b->vm_file);
			vma_free(km, b);
			km->stats.vma_merges++;
			continue;
		}
		a = b;
	}
}

/* protection_map (arch/x86/mm/pgprot.c): user pages carry P|US|A; private writable mappings
 * have no RW (first write takes a COW fault); shared writable ones do; NX unless executable
 * (when the format has NX); PROT_NONE is PAGE_NONE = PROTNONE|A without P. */
uint64_t vm_get_page_prot(const struct km *km, uint64_t vm_flags)
{
	if (!(vm_flags & VM_ACCESS_FLAGS))
		return PTE_PROTNONE | PTE_A;
	uint64_t prot = PTE_P | PTE_US | PTE_A;
	if ((vm_flags & VM_WRITE) && (vm_flags & VM_SHARED))
		prot |= PTE_RW;
	if (km->fmt.nx && !(vm_flags & VM_EXEC))
		prot |= PTE_NX;
	return prot;
}

/* vm_start_gap: a stack VMA keeps a guard gap below it. */
uint64_t vm_start_gap(const struct vm_area_struct *v)
{
	if (!(v->vm_flags & VM_GROWSDOWN))
		return v->vm_start;
	return v->vm_start > STACK_GUARD_GAP ? v->vm_start - STACK_GUARD_GAP : 0;
}

static bool range_free(struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	if (addr < MMAP_MIN_ADDR || addr + len < addr || addr + len > mm->task_size)
		return false;
	struct vm_area_struct *next = find_vma(mm, addr);
	if (!next)
		return true;
	return addr + len <= vm_start_gap(next);
}

uint64_t km_unmapped_area(struct mm_struct *mm, uint64_t len, uint64_t hint, bool topdown)
{
	return km_unmapped_area_aligned(mm, len, hint, topdown, PAGE_SIZE, 0);
}

uint64_t km_unmapped_area_aligned(struct mm_struct *mm, uint64_t len, uint64_t hint, bool topdown,
				  uint64_t align, uint64_t align_offset)
{
	if (len > mm->task_size)
		return 0;
	if (hint) {
		hint = PAGE_ALIGN(hint);
		if (range_free(mm, hint, len))
			return hint;
	}
	/* Worst-case alignment overhead (unmapped_area_topdown: length + align_mask). */
	uint64_t mask = align > PAGE_SIZE ? align - 1 : 0;
	uint64_t need = len + (align > PAGE_SIZE ? align - PAGE_SIZE : 0);
	if (need < len || need > mm->task_size)
		return 0;
	uint64_t low_limit = PAGE_SIZE > MMAP_MIN_ADDR ? PAGE_SIZE : MMAP_MIN_ADDR;
	if (topdown) {
		/* unmapped_area_topdown: the highest free range below mmap_base with room for need
		 * (vma_iter_area_highest); a stack VMA right above it keeps its guard gap, and when that
		 * leaves too little the search goes on below this range. */
		uint64_t high_limit = mm->mmap_base;
		uint64_t first, last;
		while (high_limit > low_limit &&
		       vt_gap_rev(&mm->mm_mt, low_limit, high_limit - 1, need, &first, &last)) {
			uint64_t gap_end = last + 1;
			struct vm_area_struct *next = find_vma(mm, first);
			if (next && vm_start_gap(next) < gap_end)
				gap_end = vm_start_gap(next);
			if (gap_end > first && gap_end - first >= need) {
				uint64_t addr = (gap_end - len) & PAGE_MASK;
				return addr - ((addr - align_offset) & mask);
			}
			high_limit = first;
		}
	}
	/* Bottom-up from TASK_UNMAPPED_BASE = PAGE_ALIGN(TASK_SIZE / 3): the first address that
	 * fits, VMA after VMA; free ranges shorter than len are skipped with the gap search
	 * (mas_empty_area), since no address in them can fit. */
	uint64_t addr = PAGE_ALIGN(mm->task_size / 3);
	for (;;) {
		addr += (align_offset - addr) & mask;
		if (addr + len > mm->task_size || addr + len < addr)
			return 0;
		struct vm_area_struct *next = find_vma(mm, addr);
		if (!next || addr + len <= vm_start_gap(next))
			return addr;
		uint64_t first, last;
		if (next->vm_end >= mm->task_size ||
		    !vt_gap_fwd(&mm->mm_mt, next->vm_end, mm->task_size - 1, len, &first, &last))
			return 0;
		addr = first;
	}
}

/* The start of the huge block addr falls strictly inside, if that block lies wholly inside v
 * (so one large leaf may map it); else addr. Largest configured size first. */
static uint64_t huge_block_cut(const struct km *km, const struct vm_area_struct *v, uint64_t addr)
{
	if (!(v->vm_flags & VM_HUGEPAGE))
		return addr;
	for (unsigned level = PAGING_LEVEL_PDPTE; level >= PAGING_LEVEL_PDE; level--) {
		if (!km_huge_level_on(km, level))
			continue;
		uint64_t size = paging_level_size(&km->fmt, level), base = addr & ~(size - 1);
		if (base != addr && base >= v->vm_start && base + size <= v->vm_end)
			return base;
	}
	return addr;
}

bool vma_huge_boundary_ok(const struct km *km, const struct vm_area_struct *v, uint64_t addr)
{
	return huge_block_cut(km, v, addr) == addr;
}

uint64_t vma_huge_round_down(const struct km *km, const struct vm_area_struct *v, uint64_t addr)
{
	return huge_block_cut(km, v, addr);
}

const char *km_vma_check(struct mm_struct *mm)
{
	const char *why = vt_check(&mm->mm_mt);
	if (why)
		return why;
	struct vt_cursor cur = { 0 };
	struct vm_area_struct *p = NULL;
	int count = 0;
	uint64_t index = 0;
	for (;;) {
		uint64_t first, last;
		struct vm_area_struct *v = vt_cursor_find(&mm->mm_mt, &cur, index, &first, &last);
		if (v) {
			if (first != v->vm_start || last + 1 != v->vm_end)
				return "VMA range differs from its range in the tree";
			if (v->vm_start >= v->vm_end)
				return "empty or inverted VMA";
			if ((v->vm_start | v->vm_end) & (PAGE_SIZE - 1))
				return "VMA not page aligned";
			if (v->vm_end > mm->task_size)
				return "VMA beyond TASK_SIZE";
			if (p && mergeable(p, v))
				return "two adjacent VMAs that should have been merged";
			p = v;
			count++;
		}
		if (last == VT_MAX)
			break;
		index = last + 1;
	}
	if (count != mm->map_count)
		return "map_count differs from the VMAs in the tree";
	return NULL;
}

/* ---- address spaces ------------------------------------------------------------------------- */

struct mm_struct *km_mm_new(struct km *km)
{
	struct mm_struct *mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	if (km->cfg.arch == KM_ARCH_I386) {
		mm->task_size = 0xC0000000ULL;          /* PAGE_OFFSET with VMSPLIT_3G */
	} else if (km->fmt.mode == PAGING_5LEVEL) {
		mm->task_size = (1ULL << 47) - PAGE_SIZE;  /* DEFAULT_MAP_WINDOW: mmap stays below 47 bits */
	} else {
		mm->task_size = (1ULL << 47) - PAGE_SIZE;
	}
	mm->stack_top = mm->task_size;               /* STACK_TOP with ASLR off */
	/* mmap_base: gap = RLIMIT_STACK + guard gap, clamped to [128 MiB, 5/6 TASK_SIZE] (no random
	 * offset with ASLR off). */
	uint64_t gap = km->cfg.rlimit_stack + STACK_GUARD_GAP;
	uint64_t gap_min = 128ULL << 20, gap_max = mm->task_size / 6 * 5;
	if (gap < gap_min)
		gap = gap_min;
	if (gap > gap_max)
		gap = gap_max;
	mm->mmap_base = PAGE_ALIGN(mm->task_size - gap);
	/* The VMA tree's nodes are objects of the "maple_node" slab cache. */
	const struct vma_tree_ops ops = { maple_node_alloc, maple_node_free, km };
	vt_init(&mm->mm_mt, &ops);
	if (!km_pgd_alloc(km, mm)) {
		free(mm);
		return NULL;
	}
	return mm;
}

void km_mm_free(struct km *km, struct mm_struct *mm)
{
	if (!mm)
		return;
	km_zap_range(km, mm, 0, mm->task_size);
	/* exit_mmap: every VMA goes, then the whole tree at once (__mt_destroy). */
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *v;
	for_each_vma(vmi, v) {
		if (v->vm_file)
			km_file_put(km, v->vm_file);
		vma_free(km, v);
	}
	vt_destroy(&mm->mm_mt);
	mm->map_count = 0;
	km_pgd_free(km, mm);
	free(mm);
}

void km_mm_regs(struct km *km, struct mm_struct *mm, struct mmu_regs *regs)
{
	uint64_t cr0 = CR0_PG | CR0_PE | CR0_WP, cr4 = CR4_PGE, efer = 0;
	switch (km->fmt.mode) {
	case PAGING_2LEVEL: cr4 |= CR4_PSE; break;
	case PAGING_PAE: cr4 |= CR4_PAE | CR4_PSE; efer = EFER_NXE; break;
	case PAGING_4LEVEL: cr4 |= CR4_PAE | CR4_PSE; efer = EFER_LME | EFER_LMA | EFER_NXE; break;
	case PAGING_5LEVEL: cr4 |= CR4_PAE | CR4_PSE | CR4_LA57; efer = EFER_LME | EFER_LMA | EFER_NXE; break;
	}
	struct mmu_phys pm = { km->phys, km->phys_size };
	const char *err = NULL;
	bool ok = mmu_regs_init(regs, &pm, cr0, mm->pdpt_pa, cr4, efer, km->maxphyaddr,
				km->cfg.arch == KM_ARCH_X86_64, &err);
	(void)ok;
}

uint64_t km_mm_task_size(const struct mm_struct *mm) { return mm->task_size; }
uint64_t km_mm_stack_top(const struct mm_struct *mm) { return mm->stack_top; }
uint64_t km_mm_mmap_base(const struct mm_struct *mm) { return mm->mmap_base; }
void km_mm_set_brk(struct mm_struct *mm, uint64_t start_brk) { mm->start_brk = mm->brk = start_brk; }
uint64_t km_mm_brk(const struct mm_struct *mm) { return mm->brk; }
uint64_t km_mm_start_brk(const struct mm_struct *mm) { return mm->start_brk; }
void km_mm_set_read_implies_exec(struct mm_struct *mm, bool on) { mm->read_implies_exec = on; }

void km_dump_vmas(struct km *km, struct mm_struct *mm, FILE *out)
{
	(void)km;
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *v;
	for_each_vma(vmi, v) {
		const char *name = "";
		if (v->special == KM_SPECIAL_VDSO)
			name = "[vdso]";
		else if (v->special == KM_SPECIAL_VVAR)
			name = "[vvar]";
		else if (v->vm_flags & VM_GROWSDOWN)
			name = "[stack]";
		else if (!v->vm_file && v->vm_start >= mm->start_brk && v->vm_end <= PAGE_ALIGN(mm->brk) &&
			 mm->brk > mm->start_brk)
			name = "[heap]";
		fprintf(out, "%08llx-%08llx %c%c%c%c %08llx 00:00 0 %s\n",
			(unsigned long long)v->vm_start, (unsigned long long)v->vm_end,
			v->vm_flags & VM_READ ? 'r' : '-', v->vm_flags & VM_WRITE ? 'w' : '-',
			v->vm_flags & VM_EXEC ? 'x' : '-', v->vm_flags & VM_SHARED ? 's' : 'p',
			(unsigned long long)(v->vm_file ? v->vm_pgoff << PAGE_SHIFT : 0), name);
	}
}

uint64_t km_get_unmapped_area(struct mm_struct *mm, uint64_t len)
{
	return km_unmapped_area(mm, PAGE_ALIGN(len), 0, true);
}
