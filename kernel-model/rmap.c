/* rmap.c — anon_vma and anon_vma_chain objects (Linux 6.12 mm/rmap.c), for the slab accounting
 * of anonymous memory.
 *
 * The model keeps no reverse map of its own (one address space, and the machine keeps a pfn →
 * vpn map for the timing model), but it allocates the objects Linux allocates, from the
 * "anon_vma" and "anon_vma_chain" caches, at the same moments:
 *   - __anon_vma_prepare, on the first fault that installs an anonymous page in a VMA
 *     (do_anonymous_page, wp_page_copy and do_cow_fault through vmf_anon_prepare): an
 *     anon_vma_chain, and an anon_vma unless find_mergeable_anon_vma finds an adjacent VMA's
 *     anon_vma to share (the neighbour must be address-adjacent, have the same vm_file, flags
 *     equal apart from the access bits Linux ignores there (VM_READ|VM_WRITE|VM_EXEC), and
 *     contiguous pgoff: anon_vma_compatible);
 *   - anon_vma_clone, when __split_vma duplicates a VMA: one more chain, the anon_vma shared;
 *   - unlink_anon_vmas, when a VMA goes away (munmap, or merged into a neighbour): its chain is
 *     freed, and the anon_vma when no VMA uses it any more (put_anon_vma).
 * Deviation: Linux counts anon_vma users with a refcount and a degree; here the number of VMAs
 * linked to it is enough, since there is no fork.
 */
#include <stdlib.h>

#include "km_internal.h"

struct km_anon_vma {
	uint64_t obj;          /* the "anon_vma" slab object */
	unsigned vmas;         /* VMAs linked to it */
};

static struct kmem_cache *cache(struct km *km, enum slab_mm_id id) { return slab_mm_cache(km->slab, id); }

/* anon_vma_compatible (mm/vma.c): a neighbour whose anon_vma a new VMA may share. */
static bool anon_vma_compatible(const struct vm_area_struct *a, const struct vm_area_struct *b)
{
	const uint64_t ignore = VM_READ | VM_WRITE | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	if (a->vm_end != b->vm_start)
		return false;
	if (a->vm_file != b->vm_file)
		return false;
	if ((a->vm_flags ^ b->vm_flags) & ~ignore)
		return false;
	return b->vm_pgoff == a->vm_pgoff + ((a->vm_end - a->vm_start) >> PAGE_SHIFT);
}

bool km_anon_vma_prepare(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (vma->anon_vma)
		return true;
	uint64_t avc = kmem_cache_alloc(cache(km, SLAB_ANON_VMA_CHAIN), GFP_KERNEL);
	if (!avc)
		return false;
	/* find_mergeable_anon_vma: the next VMA first, then the previous one. */
	struct km_anon_vma *av = NULL;
	/* The address-adjacent neighbours (the only ones anon_vma_compatible accepts). */
	struct vm_area_struct *next = find_vma(mm, vma->vm_end);
	struct vm_area_struct *prev = vma->vm_start ? find_vma(mm, vma->vm_start - 1) : NULL;
	if (prev == vma)
		prev = NULL;
	if (next && next->anon_vma && anon_vma_compatible(vma, next))
		av = next->anon_vma;
	else if (prev && prev->anon_vma && anon_vma_compatible(prev, vma))
		av = prev->anon_vma;
	if (!av) {
		av = calloc(1, sizeof(*av));
		if (av)
			av->obj = kmem_cache_alloc(cache(km, SLAB_ANON_VMA), GFP_KERNEL);
		if (!av || !av->obj) {
			free(av);
			kmem_cache_free(cache(km, SLAB_ANON_VMA_CHAIN), avc);
			return false;
		}
		km->stats.anon_vma_alloc++;
	}
	av->vmas++;
	vma->anon_vma = av;
	vma->avc_obj = avc;
	return true;
}

bool km_anon_vma_clone(struct km *km, struct vm_area_struct *dst, const struct vm_area_struct *src)
{
	dst->anon_vma = NULL;
	dst->avc_obj = 0;
	if (!src->anon_vma)
		return true;
	uint64_t avc = kmem_cache_alloc(cache(km, SLAB_ANON_VMA_CHAIN), GFP_KERNEL);
	if (!avc)
		return false;
	dst->anon_vma = src->anon_vma;
	dst->anon_vma->vmas++;
	dst->avc_obj = avc;
	return true;
}

void km_unlink_anon_vmas(struct km *km, struct vm_area_struct *vma)
{
	struct km_anon_vma *av = vma->anon_vma;
	if (!av)
		return;
	kmem_cache_free(cache(km, SLAB_ANON_VMA_CHAIN), vma->avc_obj);
	vma->avc_obj = 0;
	vma->anon_vma = NULL;
	if (--av->vmas == 0) {
		kmem_cache_free(cache(km, SLAB_ANON_VMA), av->obj);
		km->stats.anon_vma_free++;
		free(av);
	}
}
