/* vma.c — VMAs of an address space and the placement of new mappings.
 *
 * VMAs are kept in an array sorted by address (Linux 6.12 uses a maple tree, mm->mm_mt; the
 * lookups and the merge/split rules below are the same, the container is simpler — the full
 * kernel-model issue replaces it). Invariants (km_vma_check): sorted, non-overlapping,
 * page-aligned, non-empty, and no two neighbours that Linux would have merged.
 *
 * Merging (mm/vma.c is_mergeable_vma): address-adjacent, same vm_flags, same file with
 * contiguous pgoff (or both anonymous).
 *
 * Placement (arch/x86/kernel/sys_x86_64.c, mm/mmap.c): top-down below mmap_base, from
 * low_limit = max(PAGE_SIZE, mmap_min_addr), keeping the stack guard gap below VM_GROWSDOWN
 * VMAs; bottom-up from TASK_UNMAPPED_BASE as the fallback. Huge-page VMAs are placed with
 * vm_unmapped_area's alignment (align_mask/align_offset): the search asks for a gap of
 * len + align - PAGE_SIZE, then aligns the address down inside it (top-down) or up (bottom-up).
 *
 * Huge-page VMAs (VM_HUGEPAGE) are split only where no huge page can sit across the split
 * (vma_huge_boundary_ok), hugetlb's may_split rule generalised to VMAs whose ends are not
 * huge-aligned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "km_internal.h"

size_t vma_index(struct mm_struct *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (mm->vmas[mid]->vm_end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr)
{
	size_t i = vma_index(mm, addr);
	return i < mm->nr_vmas ? mm->vmas[i] : NULL;
}

struct vm_area_struct *vma_alloc(void)
{
	return calloc(1, sizeof(struct vm_area_struct));
}

bool vma_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (mm->nr_vmas == mm->cap_vmas) {
		size_t ncap = mm->cap_vmas ? mm->cap_vmas * 2 : 32;
		struct vm_area_struct **n = realloc(mm->vmas, ncap * sizeof(*n));
		if (!n)
			return false;
		mm->vmas = n;
		mm->cap_vmas = ncap;
	}
	size_t i = vma_index(mm, vma->vm_start);
	memmove(&mm->vmas[i + 1], &mm->vmas[i], (mm->nr_vmas - i) * sizeof(*mm->vmas));
	mm->vmas[i] = vma;
	mm->nr_vmas++;
	return true;
}

void vma_remove_at(struct mm_struct *mm, size_t idx)
{
	free(mm->vmas[idx]);
	memmove(&mm->vmas[idx], &mm->vmas[idx + 1], (mm->nr_vmas - idx - 1) * sizeof(*mm->vmas));
	mm->nr_vmas--;
}

/* Splits vmas[idx] at addr (strictly inside it) into [start, addr) and [addr, end). */
bool vma_split(struct km *km, struct mm_struct *mm, size_t idx, uint64_t addr)
{
	struct vm_area_struct *v = mm->vmas[idx];
	if (addr <= v->vm_start || addr >= v->vm_end)
		return true;
	struct vm_area_struct *n = vma_alloc();
	if (!n)
		return false;
	*n = *v;
	n->vm_start = addr;
	if (n->vm_file)
		n->vm_pgoff += (addr - v->vm_start) >> PAGE_SHIFT;
	v->vm_end = addr;
	if (!vma_insert(mm, n)) {
		v->vm_end = n->vm_end;
		free(n);
		return false;
	}
	if (n->vm_file)
		n->vm_file->refs++;
	km->stats.vma_splits++;
	return true;
}

static bool mergeable(const struct vm_area_struct *a, const struct vm_area_struct *b)
{
	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags || a->vm_file != b->vm_file)
		return false;
	if (a->vm_file && a->vm_pgoff + ((a->vm_end - a->vm_start) >> PAGE_SHIFT) != b->vm_pgoff)
		return false;
	return true;
}

/* Merges VMAs touching [start, end) with their neighbours where Linux would. */
void vma_try_merge_around(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_index(mm, start ? start - 1 : 0);
	while (i + 1 < mm->nr_vmas && mm->vmas[i]->vm_start <= end) {
		struct vm_area_struct *a = mm->vmas[i], *b = mm->vmas[i + 1];
		if (mergeable(a, b)) {
			a->vm_end = b->vm_end;
			if (b->vm_file)
				km_file_put(km, b->vm_file);
			vma_remove_at(mm, i + 1);
			km->stats.vma_merges++;
			continue;
		}
		i++;
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
		/* Highest gap below mmap_base that fits. Gaps: between vmas[i-1]->vm_end and
		 * vm_start_gap(vmas[i]), and above the last one up to mmap_base. */
		uint64_t high_limit = mm->mmap_base;
		for (size_t i = mm->nr_vmas + 1; i-- > 0;) {
			uint64_t gap_end = i < mm->nr_vmas ? vm_start_gap(mm->vmas[i]) : mm->task_size;
			uint64_t gap_start = i > 0 ? mm->vmas[i - 1]->vm_end : low_limit;
			if (gap_start < low_limit)
				gap_start = low_limit;
			if (gap_end > high_limit)
				gap_end = high_limit;
			if (gap_end > gap_start && gap_end - gap_start >= need) {
				uint64_t addr = (gap_end - len) & PAGE_MASK;
				return addr - ((addr - align_offset) & mask);
			}
			if (i > 0 && mm->vmas[i - 1]->vm_end <= low_limit)
				break;
		}
	}
	/* Bottom-up from TASK_UNMAPPED_BASE = PAGE_ALIGN(TASK_SIZE / 3). */
	uint64_t addr = PAGE_ALIGN(mm->task_size / 3);
	for (;;) {
		addr += (align_offset - addr) & mask;
		if (addr + len > mm->task_size || addr + len < addr)
			return 0;
		struct vm_area_struct *next = find_vma(mm, addr);
		if (!next || addr + len <= vm_start_gap(next))
			return addr;
		addr = next->vm_end;
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
	for (size_t i = 0; i < mm->nr_vmas; i++) {
		struct vm_area_struct *v = mm->vmas[i];
		if (v->vm_start >= v->vm_end)
			return "empty or inverted VMA";
		if ((v->vm_start | v->vm_end) & (PAGE_SIZE - 1))
			return "VMA not page aligned";
		if (v->vm_end > mm->task_size)
			return "VMA beyond TASK_SIZE";
		if (i > 0) {
			struct vm_area_struct *p = mm->vmas[i - 1];
			if (p->vm_end > v->vm_start)
				return "VMAs overlap or are out of order";
			if (mergeable(p, v))
				return "two adjacent VMAs that should have been merged";
		}
	}
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
	while (mm->nr_vmas) {
		if (mm->vmas[mm->nr_vmas - 1]->vm_file)
			km_file_put(km, mm->vmas[mm->nr_vmas - 1]->vm_file);
		vma_remove_at(mm, mm->nr_vmas - 1);
	}
	free(mm->vmas);
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
	for (size_t i = 0; i < mm->nr_vmas; i++) {
		struct vm_area_struct *v = mm->vmas[i];
		const char *name = "";
		if (v->vm_flags & VM_GROWSDOWN)
			name = "[stack]";
		else if (!v->vm_file && v->vm_start >= mm->start_brk && v->vm_end <= PAGE_ALIGN(mm->brk) &&
			 mm->brk > mm->start_brk)
			name = "[heap]";
		fprintf(out, "%08llx-%08llx %c%c%c%c %08llx 00:00 0 %s\n",
			(unsigned long long)v->vm_start, (unsigned long long)v->vm_end,
			v->vm_flags & VM_READ ? 'r' : '-', v->vm_flags & VM_WRITE ? 'w' : '-',
			v->vm_flags & VM_EXEC ? 'x' : '-', v->vm_flags & VM_SHARED ? 's' : 'p',
			(unsigned long long)(v->vm_pgoff << PAGE_SHIFT), name);
	}
}

uint64_t km_get_unmapped_area(struct mm_struct *mm, uint64_t len)
{
	return km_unmapped_area(mm, PAGE_ALIGN(len), 0, true);
}
