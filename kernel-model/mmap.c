/* mmap.c — the memory system calls: mmap, munmap, mprotect, mremap, madvise, brk, and the
 * initial stack VMA. Models Linux 6.12 mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/mremap.c,
 * mm/madvise.c; return values and errno follow the kernel.
 *
 * Not modelled yet (documented in docs/kernel-model.md): MAP_SHARED file mappings that are
 * writable (-EINVAL), MAP_POPULATE (accepted, pages still fault in lazily), MREMAP_DONTUNMAP
 * (-EINVAL). MAP_SHARED anonymous memory is modelled as anonymous memory that never maps the
 * zero page (there is no fork, so nobody else can see it).
 *
 * Huge pages (kmodel.h has the policy): with km_config.hugepages on, large anonymous private
 * mappings and MAP_HUGETLB get VM_HUGEPAGE and huge-aligned placement; MAP_HUGETLB is -EINVAL
 * otherwise. munmap, mprotect, mremap and MADV_DONTNEED refuse (-EINVAL) a boundary that would
 * split a huge page, checked before anything changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "km_internal.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26     /* MAP_HUGETLB: log2 of the page size in flags bits 31:26 */
#define MAP_HUGE_MASK 0x3f
#endif

static uint64_t calc_vm_flags(int prot, int flags)
{
	uint64_t vf = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	if (prot & PROT_READ)
		vf |= VM_READ;
	if (prot & PROT_WRITE)
		vf |= VM_WRITE;
	if (prot & PROT_EXEC)
		vf |= VM_EXEC;
	if (flags & MAP_GROWSDOWN)
		vf |= VM_GROWSDOWN;
	if ((flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE)
		vf |= VM_SHARED | VM_MAYSHARE;
	return vf;
}

/* -EINVAL if splitting VMAs at start or end would split a huge page (hugetlb_vm_op_split),
 * else 0. */
static int64_t check_huge_split(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	if (!km->huge_levels)
		return 0;
	struct vm_area_struct *v = find_vma(mm, start);
	if (v && v->vm_start < start && !vma_huge_boundary_ok(km, v, start))
		return -EINVAL;
	v = find_vma(mm, end);
	if (v && v->vm_start < end && !vma_huge_boundary_ok(km, v, end))
		return -EINVAL;
	return 0;
}

/* Unmaps [start, start+len): splits the VMAs at the edges, zaps their pages, removes them.
 * -EINVAL (nothing changed) when an edge would split a huge page; -ENOMEM (nothing changed) when
 * punching a hole in one VMA would go past max_map_count (do_vmi_align_munmap). */
int64_t km_do_munmap(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	if (check_huge_split(km, mm, start, end))
		return -EINVAL;
	struct vm_area_struct *v = find_vma(mm, start);
	if (v && v->vm_start < start) {
		if (end < v->vm_end && mm->map_count >= DEFAULT_MAX_MAP_COUNT)
			return -ENOMEM;
		if (!vma_split(km, mm, v, start))
			return -ENOMEM;
	}
	v = find_vma(mm, end);
	if (v && v->vm_start < end) {
		if (!vma_split(km, mm, v, end))
			return -ENOMEM;
	}
	km_zap_range(km, mm, start, end);
	/* Removing VMAs changes the tree: find the next one again each time. */
	while ((v = find_vma(mm, start)) && v->vm_start < end) {
		if (v->vm_file)
			km_file_put(km, v->vm_file);
		vma_remove(mm, v);
		vma_free(km, v);
	}
	return 0;
}

/* The huge page size a MAP_HUGETLB request names (hstate_sizelog): flags bits 31:26 give its
 * log2, 0 the default (the largest configured size). 0 when that size is not configured. */
static uint64_t hugetlb_size(const struct km *km, int flags)
{
	unsigned log = ((unsigned)flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
	if (!log)
		return km_huge_align_for(km, UINT64_MAX);
	for (unsigned level = PAGING_LEVEL_PDE; level <= PAGING_LEVEL_PDPTE; level++)
		if (km_huge_level_on(km, level) && km->fmt.shift[level] == log)
			return paging_level_size(&km->fmt, level);
	return 0;
}

/* do_mmap; may_huge is false for the ELF loader's bss (vm_brk_flags never takes huge pages). */
static int64_t do_mmap(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len, int prot,
		       int flags, struct km_file *file, uint64_t offset, bool may_huge)
{
	int type = flags & MAP_TYPE;
	if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	if ((prot & PROT_READ) && mm->read_implies_exec)
		prot |= PROT_EXEC;
	/* MAP_HUGETLB (ksys_mmap_pgoff): anonymous only here (no hugetlbfs files); the length is
	 * rounded up to the huge page size. */
	uint64_t huge_size = 0;
	if (flags & MAP_HUGETLB) {
		if (!(flags & MAP_ANONYMOUS))
			return file ? -EINVAL : -EBADF;
		huge_size = hugetlb_size(km, flags);
		if (!huge_size)
			return -EINVAL;
		uint64_t hlen = (len + huge_size - 1) & ~(huge_size - 1);
		if (hlen < len)
			return -ENOMEM;
		len = hlen;
	}
	if (!(flags & MAP_ANONYMOUS) && !file)
		return -EBADF;
	if (flags & MAP_ANONYMOUS)
		file = NULL;
	uint64_t plen = PAGE_ALIGN(len);
	if (plen < len || plen > mm->task_size)
		return -ENOMEM;
	/* The automatic policy: an accessible anonymous private mapping of at least one huge page
	 * (PROT_NONE reservations are carved up later at 4 KiB granularity). */
	if (!huge_size && may_huge && km->huge_levels && !file && type == MAP_PRIVATE &&
	    (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) && !(flags & MAP_GROWSDOWN))
		huge_size = km_huge_align_for(km, plen);
	if (offset & (PAGE_SIZE - 1))
		return -EINVAL;
	if (file && offset + plen < offset)
		return -EOVERFLOW;
	if (file && type != MAP_PRIVATE && (prot & PROT_WRITE))
		return -EINVAL;   /* writable shared file mappings: not modelled */
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	if (fixed) {
		if (addr & (PAGE_SIZE - 1))
			return -EINVAL;
		if ((flags & MAP_HUGETLB) && (addr & (huge_size - 1)))
			return -EINVAL;   /* prepare_hugepage_range */
		if (addr + plen < addr || addr + plen > mm->task_size || addr < MMAP_MIN_ADDR)
			return -ENOMEM;
		if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED)) {
			struct vm_area_struct *v = find_vma(mm, addr);
			if (v && v->vm_start < addr + plen)
				return -EEXIST;
		}
	} else if (huge_size) {
		/* hugetlb_get_unmapped_area aligns a hint up; an automatic huge VMA keeps a free hint
		 * as given. Without a usable hint: top-down, huge-aligned; unaligned if no gap has room
		 * for the alignment (__thp_get_unmapped_area's fallback). */
		if ((flags & MAP_HUGETLB) && addr)
			addr = (addr + huge_size - 1) & ~(huge_size - 1);
		uint64_t a = km_unmapped_area_aligned(mm, plen, addr, true, huge_size, 0);
		if (!a && !(flags & MAP_HUGETLB))
			a = km_unmapped_area(mm, plen, 0, true);
		if (!a)
			return -ENOMEM;
		addr = a;
	} else {
		addr = km_unmapped_area(mm, plen, addr, true);
		if (!addr)
			return -ENOMEM;
	}
	/* Too many mappings? (do_mmap: map_count > max_map_count, 65530 by default.) */
	if (mm->map_count > DEFAULT_MAX_MAP_COUNT)
		return -ENOMEM;
	if (fixed) {
		int64_t r = km_do_munmap(km, mm, addr, plen);
		if (r < 0)
			return r;
	}
	struct vm_area_struct *v = vma_alloc(km);
	if (!v)
		return -ENOMEM;
	v->vm_start = addr;
	v->vm_end = addr + plen;
	v->vm_flags = calc_vm_flags(prot, flags);
	/* MAP_NORESERVE is honoured under the default overcommit heuristic; accountable_mapping:
	 * private writable mappings (file or anonymous) are charged and carry VM_ACCOUNT, which
	 * later keeps them from merging with never-writable neighbours (a RELRO range after its
	 * mprotect stays a VMA of its own, as in Linux). */
	if (flags & MAP_NORESERVE)
		v->vm_flags |= VM_NORESERVE;
	if ((v->vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE)
		v->vm_flags |= VM_ACCOUNT;
	if (huge_size)
		v->vm_flags |= VM_HUGEPAGE;
	v->vm_page_prot = vm_get_page_prot(km, v->vm_flags);
	v->vm_file = file;
	/* Anonymous private memory is indexed by virtual page (do_mmap: pgoff = addr >> PAGE_SHIFT),
	 * which the merge rule then checks like a file offset; shared anonymous memory is a shmem
	 * object of its own at offset 0 (so it never merges). */
	v->vm_pgoff = file ? offset >> PAGE_SHIFT : (v->vm_flags & VM_SHARED) ? 0 : addr >> PAGE_SHIFT;
	if (file)
		file->refs++;
	if (!vma_insert(mm, v)) {
		if (file)
			km_file_put(km, file);
		vma_free(km, v);
		return -ENOMEM;
	}
	vma_try_merge_around(km, mm, addr, addr + plen);
	return (int64_t)addr;
}

int64_t km_mmap(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len, int prot,
		int flags, struct km_file *file, uint64_t offset)
{
	km->stats.mmap_calls++;
	return do_mmap(km, mm, addr, len, prot, flags, file, offset, true);
}

int64_t km_munmap(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	km->stats.munmap_calls++;
	if ((addr & (PAGE_SIZE - 1)) || addr >= mm->task_size)
		return -EINVAL;
	uint64_t plen = PAGE_ALIGN(len);
	if (plen == 0 || plen < len || addr + plen > mm->task_size || addr + plen < addr)
		return -EINVAL;
	return km_do_munmap(km, mm, addr, plen);
}

/* The vm_flags mprotect gives a VMA. */
static uint64_t mprotect_flags(uint64_t vm_flags, int prot)
{
	uint64_t nf = vm_flags & ~VM_ACCESS_FLAGS;
	if (prot & PROT_READ)
		nf |= VM_READ;
	if (prot & PROT_WRITE) {
		nf |= VM_WRITE;
		/* mprotect_fixup: a private mapping becoming writable is charged (VM_ACCOUNT), and
		 * keeps the flag when it is made read-only again. */
		if (!(vm_flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE)))
			nf |= VM_ACCOUNT;
	}
	if (prot & PROT_EXEC)
		nf |= VM_EXEC;
	return nf;
}

int64_t km_mprotect(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len, int prot)
{
	km->stats.mprotect_calls++;
	if (start & (PAGE_SIZE - 1))
		return -EINVAL;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if ((prot & PROT_GROWSDOWN) && (prot & PROT_GROWSUP))
		return -EINVAL;
	if ((prot & PROT_READ) && mm->read_implies_exec)
		prot |= PROT_EXEC;   /* do_mprotect_pkey: READ_IMPLIES_EXEC */
	uint64_t plen = PAGE_ALIGN(len);
	if (plen < len)
		return -ENOMEM;
	uint64_t end = start + plen;
	if (end < start)
		return -ENOMEM;
	if (plen == 0)
		return 0;
	/* The whole range must be mapped, without holes (-ENOMEM otherwise). */
	uint64_t a = start;
	while (a < end) {
		struct vm_area_struct *v = find_vma(mm, a);
		if (!v || v->vm_start > a)
			return -ENOMEM;
		if (v->vm_file && (v->vm_flags & VM_SHARED) && (prot & PROT_WRITE))
			return -EACCES;
		/* do_mprotect_pkey: a right the VMA may not have (VM_MAYx is VM_x << 4). */
		uint64_t nf = mprotect_flags(v->vm_flags, prot);
		if ((nf & ~(nf >> 4)) & VM_ACCESS_FLAGS)
			return -EACCES;
		a = v->vm_end;
	}
	if (check_huge_split(km, mm, start, end))
		return -EINVAL;
	/* split_vma refuses to go past max_map_count (mprotect_fixup splits only a VMA whose
	 * flags change; here the split is made anyway and merged back, but not counted against
	 * the limit). */
	struct vm_area_struct *v = find_vma(mm, start);
	if (v->vm_start < start) {
		if ((mprotect_flags(v->vm_flags, prot) != v->vm_flags &&
		     mm->map_count >= DEFAULT_MAX_MAP_COUNT) || !vma_split(km, mm, v, start))
			return -ENOMEM;
	}
	v = find_vma(mm, end);
	if (v && v->vm_start < end &&
	    ((mprotect_flags(v->vm_flags, prot) != v->vm_flags && mm->map_count >= DEFAULT_MAX_MAP_COUNT) ||
	     !vma_split(km, mm, v, end)))
		return -ENOMEM;
	VMA_ITERATOR(vmi, mm, start);
	for_each_vma_range(vmi, v, end) {
		uint64_t nf = mprotect_flags(v->vm_flags, prot);
		if (nf == v->vm_flags)
			continue;
		v->vm_flags = nf;
		v->vm_page_prot = vm_get_page_prot(km, nf);
		km_change_prot(km, mm, v->vm_start, v->vm_end, v->vm_page_prot,
			       (nf & VM_WRITE) && !(nf & VM_SHARED));
	}
	vma_try_merge_around(km, mm, start, end);
	return 0;
}

int64_t km_madvise(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len, int advice)
{
	km->stats.madvise_calls++;
	if (start & (PAGE_SIZE - 1))
		return -EINVAL;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTNEED: case MADV_FREE: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE:
	case MADV_DONTDUMP: case MADV_DODUMP: case MADV_WIPEONFORK: case MADV_KEEPONFORK:
	case MADV_COLD: case MADV_PAGEOUT:
		break;
	default:
		return -EINVAL;
	}
	uint64_t plen = PAGE_ALIGN(len);
	if (plen < len || start + plen < start)
		return -EINVAL;
	uint64_t end = start + plen;
	if (plen == 0)
		return 0;
	/* Unmapped parts give -ENOMEM, but the mapped parts are still advised (madvise_walk_vmas). */
	bool hole = false;
	uint64_t a = start;
	while (a < end) {
		struct vm_area_struct *v = find_vma(mm, a);
		if (!v || v->vm_start >= end) {
			hole = true;
			break;
		}
		if (v->vm_start > a)
			hole = true;
		uint64_t s = v->vm_start > a ? v->vm_start : a;
		uint64_t e = v->vm_end < end ? v->vm_end : end;
		/* MADV_DONTNEED drops the pages: anonymous memory reads as zero again, private file
		 * pages come back from the page cache. MADV_FREE may keep the data until reclaim,
		 * which is not modelled, so it keeps it. */
		if (advice == MADV_DONTNEED) {
			/* hugetlb (madvise_dontneed_free_valid_vma): the start must not split a huge
			 * page; the end is rounded down to one. */
			if (!vma_huge_boundary_ok(km, v, s))
				return -EINVAL;
			e = vma_huge_round_down(km, v, e);
			if (s < e)
				km_zap_range(km, mm, s, e);
		}
		a = v->vm_end;
	}
	return hole ? -ENOMEM : 0;
}

int64_t km_mremap(struct km *km, struct mm_struct *mm, uint64_t old_addr, uint64_t old_len,
		  uint64_t new_len, int flags, uint64_t new_addr)
{
	km->stats.mremap_calls++;
	if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP))
		return -EINVAL;
	if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
		return -EINVAL;
	if (flags & MREMAP_DONTUNMAP)
		return -EINVAL;
	if (old_addr & (PAGE_SIZE - 1))
		return -EINVAL;
	old_len = PAGE_ALIGN(old_len);
	uint64_t plen = PAGE_ALIGN(new_len);
	if (plen == 0 || plen < new_len)
		return -EINVAL;
	new_len = plen;
	if (old_len == 0)
		return -EINVAL;   /* old_len 0 duplicates shared mappings only: not modelled */
	struct vm_area_struct *v = find_vma(mm, old_addr);
	if (!v || v->vm_start > old_addr || old_addr + old_len > v->vm_end)
		return -EFAULT;
	/* A huge-page VMA (mm/mremap.c for hugetlb): neither the old range nor a shrunk one may
	 * split a huge page. Growing is allowed (hugetlb refuses it; the THP side of the policy). */
	if (!vma_huge_boundary_ok(km, v, old_addr) || !vma_huge_boundary_ok(km, v, old_addr + old_len) ||
	    (new_len < old_len && !vma_huge_boundary_ok(km, v, old_addr + new_len)))
		return -EINVAL;
	uint64_t huge_align = (v->vm_flags & VM_HUGEPAGE) ?
			      km_huge_align_for(km, old_len < new_len ? old_len : new_len) : 0;
	if (flags & MREMAP_FIXED) {
		if (new_addr & (PAGE_SIZE - 1))
			return -EINVAL;
		if (new_addr + new_len > mm->task_size || new_addr + new_len < new_addr)
			return -EINVAL;
		if (new_addr < old_addr + old_len && old_addr < new_addr + new_len)
			return -EINVAL;
		/* Large leaves move whole, to aligned addresses only (move_huge_pmd). */
		if (!km_move_ptes_ok(km, mm, old_addr, new_addr, old_len < new_len ? old_len : new_len))
			return -EINVAL;
	} else {
		if (new_len <= old_len) {
			if (new_len < old_len) {
				int64_t r = km_do_munmap(km, mm, old_addr + new_len, old_len - new_len);
				if (r < 0)
					return r;
			}
			return (int64_t)old_addr;
		}
		/* Grow in place when the VMA ends at the old range and the space after is free. */
		if (old_addr + old_len == v->vm_end) {
			uint64_t want_end = old_addr + new_len;
			struct vm_area_struct *next = vma_next(mm, v);
			uint64_t limit = next ? next->vm_start : mm->task_size;
			if (want_end <= limit && want_end > old_addr) {
				if (!vma_set_range(mm, v, v->vm_start, want_end))
					return -ENOMEM;
				vma_try_merge_around(km, mm, v->vm_start, v->vm_end);
				return (int64_t)old_addr;
			}
		}
		if (!(flags & MREMAP_MAYMOVE))
			return -ENOMEM;
		/* A huge-page VMA moves to an address congruent to the old one modulo the huge size,
		 * so its large leaves move whole (vm_unmapped_area's align_offset). */
		new_addr = huge_align ? km_unmapped_area_aligned(mm, new_len, 0, true, huge_align, old_addr) : 0;
		if (!new_addr)
			new_addr = km_unmapped_area(mm, new_len, 0, true);
		if (!new_addr)
			return -ENOMEM;
		/* Only an unaligned gap was left: the large leaves cannot go there. */
		if (!km_move_ptes_ok(km, mm, old_addr, new_addr, old_len))
			return -ENOMEM;
	}
	if (flags & MREMAP_FIXED) {
		int64_t r = km_do_munmap(km, mm, new_addr, new_len);
		if (r < 0)
			return r;
		if (new_len < old_len) {
			r = km_do_munmap(km, mm, old_addr + new_len, old_len - new_len);
			if (r < 0)
				return r;
			old_len = new_len;
		}
		v = find_vma(mm, old_addr);
	}
	/* move_vma: a new VMA with the same attributes, the page tables moved, the old range gone. */
	struct vm_area_struct *n = vma_dup(km, v);
	if (!n)
		return -ENOMEM;
	n->vm_start = new_addr;
	n->vm_end = new_addr + new_len;
	/* The moved VMA keeps its page offset (file or anonymous): a moved anonymous VMA merges with
	 * new neighbours only where the offsets line up, as in Linux. */
	n->vm_pgoff = v->vm_pgoff + ((old_addr - v->vm_start) >> PAGE_SHIFT);
	n->vm_flags &= ~VM_GROWSDOWN;
	if (!vma_insert(mm, n)) {
		if (n->vm_file)
			km_file_put(km, n->vm_file);
		vma_free(km, n);
		return -ENOMEM;
	}
	uint64_t move_len = old_len < new_len ? old_len : new_len;
	if (km_move_ptes(km, mm, old_addr, new_addr, move_len) < 0)
		return -ENOMEM;
	int64_t r = km_do_munmap(km, mm, old_addr, old_len);
	if (r < 0)
		return r;
	vma_try_merge_around(km, mm, new_addr, new_addr + new_len);
	return (int64_t)new_addr;
}

uint64_t km_brk(struct km *km, struct mm_struct *mm, uint64_t brk)
{
	km->stats.brk_calls++;
	uint64_t min_brk = mm->start_brk;
	if (brk < min_brk)
		return mm->brk;
	uint64_t newbrk = PAGE_ALIGN(brk), oldbrk = PAGE_ALIGN(mm->brk);
	if (newbrk < brk)
		return mm->brk;
	if (oldbrk == newbrk) {
		mm->brk = brk;
		return mm->brk;
	}
	if (brk <= mm->brk) {
		/* Shrinking: unmap the pages above the new break. */
		if (km_do_munmap(km, mm, newbrk, oldbrk - newbrk) < 0)
			return mm->brk;
		mm->brk = brk;
		return mm->brk;
	}
	/* check_brk_limits + the next-VMA check: new end + one page below the next VMA's gap. */
	if (newbrk > mm->task_size)
		return mm->brk;
	struct vm_area_struct *next = find_vma(mm, oldbrk);
	if (next && newbrk + PAGE_SIZE > vm_start_gap(next))
		return mm->brk;
	/* do_brk_flags: extend the brk VMA when it ends at oldbrk, else a new anonymous VMA. */
	uint64_t flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT;
	if (mm->map_count > DEFAULT_MAX_MAP_COUNT)
		return mm->brk;
	struct vm_area_struct *prev = oldbrk > 0 ? find_vma(mm, oldbrk - 1) : NULL;
	if (prev && !(prev->vm_end == oldbrk && prev->vm_start < oldbrk))
		prev = NULL;
	if (prev && !prev->vm_file && prev->vm_flags == flags && !prev->special &&
	    prev->vm_pgoff + ((prev->vm_end - prev->vm_start) >> PAGE_SHIFT) == oldbrk >> PAGE_SHIFT) {
		if (!vma_set_range(mm, prev, prev->vm_start, newbrk))
			return mm->brk;
	} else {
		struct vm_area_struct *v = vma_alloc(km);
		if (!v)
			return mm->brk;
		v->vm_start = oldbrk;
		v->vm_end = newbrk;
		v->vm_flags = flags;
		v->vm_pgoff = oldbrk >> PAGE_SHIFT;
		v->vm_page_prot = vm_get_page_prot(km, flags);
		if (!vma_insert(mm, v)) {
			vma_free(km, v);
			return mm->brk;
		}
	}
	vma_try_merge_around(km, mm, oldbrk, newbrk);
	mm->brk = brk;
	return mm->brk;
}

/* vm_brk_flags for the ELF loader's bss: an anonymous VMA [start, start+len), exec if asked. */
int64_t km_vm_brk_flags(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len, bool exec)
{
	if (len == 0)
		return 0;
	int prot = PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0);
	int64_t r = do_mmap(km, mm, start, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0,
			    false);
	return r < 0 ? r : 0;
}

int km_setup_stack(struct km *km, struct mm_struct *mm, uint64_t size, bool exec_stack)
{
	size = PAGE_ALIGN(size);
	struct vm_area_struct *v = vma_alloc(km);
	if (!v)
		return -ENOMEM;
	v->vm_start = mm->stack_top - size;
	v->vm_end = mm->stack_top;
	v->vm_pgoff = v->vm_start >> PAGE_SHIFT;
	/* VM_STACK_FLAGS: VM_GROWSDOWN | VM_STACK_DEFAULT_FLAGS (data flags) | VM_ACCOUNT. */
	v->vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_GROWSDOWN |
		      VM_ACCOUNT | (exec_stack ? VM_EXEC : 0);
	v->vm_page_prot = vm_get_page_prot(km, v->vm_flags);
	if (!vma_insert(mm, v)) {
		vma_free(km, v);
		return -ENOMEM;
	}
	return 0;
}
