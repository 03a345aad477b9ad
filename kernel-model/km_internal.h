/* km_internal.h — private structures of the kernel model (see kmodel.h for the contracts). */
#ifndef MMUEMU_KM_INTERNAL_H
#define MMUEMU_KM_INTERNAL_H

#include <sys/types.h>

#include "kmodel.h"
#include "gfp.h"
#include "slub.h"
#include "vma_tree.h"

/* PAGE_SHIFT and PAGE_SIZE come from page_alloc.h. */
#undef PAGE_MASK
#define PAGE_MASK (~(uint64_t)(PAGE_SIZE - 1))
#undef PAGE_ALIGN
#define PAGE_ALIGN(x) (((uint64_t)(x) + PAGE_SIZE - 1) & PAGE_MASK)

/* The guard gap kept below a VM_GROWSDOWN VMA (mm/mmap.c stack_guard_gap = 256 pages). */
#define STACK_GUARD_GAP (256ULL << PAGE_SHIFT)
/* mmap_min_addr (mm/Kconfig DEFAULT_MMAP_MIN_ADDR on x86). */
#define MMAP_MIN_ADDR 4096ULL

/* vm_flags, with Linux's values (include/linux/mm.h). */
#define VM_READ        0x00000001ULL
#define VM_WRITE       0x00000002ULL
#define VM_EXEC        0x00000004ULL
#define VM_SHARED      0x00000008ULL
#define VM_MAYREAD     0x00000010ULL
#define VM_MAYWRITE    0x00000020ULL
#define VM_MAYEXEC     0x00000040ULL
#define VM_MAYSHARE    0x00000080ULL
#define VM_GROWSDOWN   0x00000100ULL
#define VM_PFNMAP      0x00000400ULL
#define VM_IO          0x00004000ULL
#define VM_DONTEXPAND  0x00040000ULL
#define VM_DONTDUMP    0x04000000ULL
#define VM_ACCOUNT     0x00100000ULL
#define VM_NORESERVE   0x00200000ULL
#define VM_HUGEPAGE    0x20000000ULL  /* faults install huge pages where they fit (kmodel.h policy;
                                         Linux: MADV_HUGEPAGE, here also MAP_HUGETLB) */
#define VM_ACCESS_FLAGS (VM_READ | VM_WRITE | VM_EXEC)

/* Linux stores PROT_NONE pages as not-present PTEs with _PAGE_PROTNONE, which reuses the
 * GLOBAL bit (asm/pgtable_types.h). Such an entry still owns its frame. */
#define PTE_PROTNONE PTE_G

/* kmap_local slots per CPU (include/asm-generic/kmap_size.h KM_MAX_IDX, without
 * DEBUG_KMAP_LOCAL). */
#define KM_MAX_IDX 16

/* Page-table entry accessors over the format's entry size. */
struct km_file {
	struct km_file *next;      /* km->files list */
	int fd;                    /* our own dup of the host descriptor */
	dev_t dev;
	ino_t ino;
	uint64_t size;             /* bytes, at the time of the first open */
	int refs;
	/* Page cache: open-addressing hash of file page index -> pfn + 1 (0 = empty slot). */
	uint64_t *pc_index;
	uint64_t *pc_pfn;
	size_t pc_cap, pc_used;
};

/* Special mappings (vdso.c): pages the kernel provides, installed by the mapping's own fault
 * handler. */
enum km_special { KM_SPECIAL_NONE = 0, KM_SPECIAL_VVAR, KM_SPECIAL_VDSO };

struct vm_area_struct {
	uint64_t vm_start, vm_end;     /* [vm_start, vm_end), page aligned */
	uint64_t vm_flags;             /* VM_* */
	uint64_t vm_page_prot;         /* PTE bits installed for pages of this VMA (protection_map) */
	struct km_file *vm_file;       /* NULL for anonymous memory */
	uint64_t vm_pgoff;             /* file offset of vm_start, in pages */
	struct km_anon_vma *anon_vma;  /* rmap.c: set by the first anonymous fault */
	uint64_t avc_obj;              /* its anon_vma_chain object (slab) */
	uint64_t obj;                  /* the vm_area_struct object (slab) */
	uint64_t lock_obj;             /* its vma_lock object (x86-64; 0 on i386) */
	enum km_special special;       /* [vvar] / [vdso], else KM_SPECIAL_NONE */
};

struct mm_struct {
	uint64_t pgd_pfn;              /* top-level table (CR3); the PDPT page under PAE */
	uint64_t pdpt_pa;              /* physical address of the top table (CR3's base): under PAE
	                                  the 32-byte PDPT, an object of pgd_cache */
	uint64_t mm_obj;               /* the mm_struct object (slab) */
	struct vma_tree mm_mt;         /* the VMAs by address (vma_tree.h; Linux mm->mm_mt) */
	int map_count;                 /* VMAs in mm_mt (Linux mm->map_count) */
	uint64_t task_size, stack_top, mmap_base;
	uint64_t start_brk, brk;
	uint64_t vdso_base;             /* the [vdso] mapping's address (0: none) */
	uint64_t rss_anon, rss_file;   /* pages currently mapped (a huge page counts its 4 KiB pages) */
	uint64_t pt_pages;             /* page-table pages of this mm, all levels */
	uint64_t nr_huge;              /* large leaves (PS=1) in this mm's page tables */
	struct mmu_regs regs;          /* cached CPU registers for uaccess walks */
	bool regs_valid;
	bool read_implies_exec;         /* personality READ_IMPLIES_EXEC */
};

struct km {
	struct km_config cfg;
	struct paging_format fmt;
	uint8_t *phys;                 /* modelled RAM */
	uint64_t phys_size;
	struct pglist_data pgdat;
	uint64_t zero_pfn;
	uint64_t vdso_pfn, vvar_pfn;   /* vdso.c: the vDSO image's frames and the vvar page */
	struct km_file *files;
	struct km_ops ops;
	struct km_stats stats;
	uint64_t fault_kind_count[KM_FK_COUNT];
	uint64_t cycles;
	uint64_t frames_in_use, frames_peak;
	unsigned maxphyaddr;
	/* Huge pages (pgtable.c, "huge pages"). */
	unsigned huge_levels;          /* bit L set: faults may install a PS=1 leaf at level L
	                                  (PAGING_LEVEL_PDE, PAGING_LEVEL_PDPTE); 0 = none */
	unsigned pmd_order;            /* buddy order of a PMD-level page: 9 (2 MiB) or 10 (4 MiB) */
	struct km_pud_pool {           /* the boot-time 1 GiB pool (hugepages_1g_pool) */
		uint64_t *pfn;         /* first frame of each 1 GiB page, highest first */
		bool *used;            /* mapped by some mm */
		unsigned nr, nr_free;
	} pud_pool;
	/* The address space the kernel is working for (the one task; set by km_mm_new, cleared by
	 * km_mm_free): kmap slots are mapped in its kernel page tables. */
	struct mm_struct *active_mm;
	/* Highmem mappings (highmem.c). */
	unsigned kmap_local_depth;          /* used kmap_local slots (a per-CPU stack) */
	uint64_t kmap_local_pfn[KM_MAX_IDX];
	int *pkmap_count;                   /* [LAST_PKMAP], allocated on first kmap */
	uint64_t *pkmap_pfn;                /* pfn + 1 mapped in each slot, 0 = none */
	unsigned last_pkmap_nr;
	bool kernel_pt;                     /* allocating kernel page tables (never HighMem) */
	struct slab_system *slab;           /* SLUB (slub.c): kmalloc and the mm caches */
};

/* Page flags the memory manager sets on pages it owns (struct page .flags, Linux's bits):
 * anonymous pages are swap-backed (PageSwapBacked), page-cache pages carry owner_2 here
 * (Linux recognises them by page->mapping, which the model does not keep), page-table pages are
 * marked arch_1 and typed PGTY_table, kernel data pages (zero page, GDT) carry private_2 (not PG_reserved: they came from the buddy allocator). All are
 * cleared before a page goes back to the allocator. */
#define PG_KM_ANON      (1u << PG_swapbacked)
#define PG_KM_PAGECACHE (1u << PG_owner_2)
#define PG_KM_PGTABLE   (1u << PG_arch_1)
#define PG_KM_KERNEL    (1u << PG_private_2)

/* km.c */
struct page *km_alloc_page(struct km *km, gfp_t gfp);
void km_free_page(struct km *km, struct page *page);
void km_put_page(struct km *km, struct page *page);   /* drop one reference, free at zero */
static inline uint8_t *km_pfn_ptr(struct km *km, uint64_t pfn) { return km->phys + (pfn << PAGE_SHIFT); }
uint64_t km_page_pfn(struct km *km, struct page *page);
struct page *km_pfn_page(struct km *km, uint64_t pfn);
void km_flush_tlb(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end);
void km_charge(struct km *km, uint64_t cycles);

/* filemap.c: returns the page-cache pfn holding page `index` of f, reading it if needed
 * (*major set when it was read). Returns false when memory is exhausted. */
bool km_filemap_get(struct km *km, struct km_file *f, uint64_t index, uint64_t *pfn, bool *major);
void km_files_free(struct km *km);

/* rmap.c: anon_vma objects. prepare: on the first anonymous fault of a VMA (false when out of
 * memory); clone: when a split duplicates src into dst; unlink: when a VMA goes away. */
struct km_anon_vma;
bool km_anon_vma_prepare(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma);
bool km_anon_vma_clone(struct km *km, struct vm_area_struct *dst, const struct vm_area_struct *src);
void km_unlink_anon_vmas(struct km *km, struct vm_area_struct *vma);

/* highmem.c (i386 HighMem frames; everything else is in the direct map) */
bool km_pfn_is_highmem(struct km *km, uint64_t pfn);
unsigned km_last_pkmap(const struct km *km);
uint64_t km_pkmap_addr(const struct km *km, unsigned nr);
uint64_t km_kmap_local_addr(unsigned idx);
/* kmap_local_page / kunmap_local: the kernel virtual address of pfn (0 when the slot stack is
 * full). Unmap in reverse order. */
uint64_t km_kmap_local(struct km *km, struct mm_struct *mm, uint64_t pfn);
void km_kunmap_local(struct km *km, struct mm_struct *mm, uint64_t va);
/* kmap / kunmap (the permanent pool). 0 when every slot is in use. */
uint64_t km_kmap(struct km *km, struct mm_struct *mm, uint64_t pfn);
void km_kunmap(struct km *km, uint64_t pfn);
/* The kernel touches its mapping at va (reported to the machine's TLB model). */
void km_kernel_touch(struct km *km, uint64_t va, bool write);
void km_clear_highpage(struct km *km, uint64_t pfn);
void km_copy_highpage(struct km *km, uint64_t dst_pfn, uint64_t src_pfn);
void km_touch_pte_page(struct km *km, struct mm_struct *mm, const void *slot, bool write);
void km_highmem_destroy(struct km *km);

/* pgtable.c */
uint64_t pte_read(const struct km *km, const void *p);
void pte_write(const struct km *km, void *p, uint64_t v);
/* Pointer to the leaf (level 0) entry for va, allocating tables when alloc; NULL if a table is
 * missing (!alloc), memory ran out (alloc; *oom set), or a large leaf (PS=1) maps va (*oom
 * clear): this never descends through a large leaf. */
void *km_pte_slot(struct km *km, struct mm_struct *mm, uint64_t va, bool alloc, bool *oom);
/* Pointer to va's entry in the level-`level` table, allocating the tables above it when alloc;
 * NULL as for km_pte_slot (a large leaf above `level` maps va, a table is missing, or OOM). */
void *km_entry_slot(struct km *km, struct mm_struct *mm, uint64_t va, unsigned level, bool alloc,
		    bool *oom);
/* Walks to the lowest entry for va without allocating: a PTE (*level 0), a large leaf, or an
 * empty entry at *level > 0 (nothing is mapped in that entry's span). Never NULL. */
void *km_walk_entry(struct km *km, struct mm_struct *mm, uint64_t va, unsigned *level);
/* Whether entry e of a level-`level` table is a large leaf (PS=1, present or PROT_NONE). */
static inline bool km_is_large_leaf(unsigned level, uint64_t e)
{
	return level > 0 && (e & PTE_PS) && (e & (PTE_P | PTE_PROTNONE));
}
/* Removes the translations in [start, end): drops page references, counts rss, frees emptied
 * page-table pages, flushes. A large leaf must lie wholly inside or outside the range (callers
 * enforce it with vma_huge_boundary_ok; asserted). */
void km_zap_range(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end);
/* Whether every large leaf meeting [old, old+len) lies inside it and lands on an address aligned
 * to its size at new_addr + (leaf - old): mremap may move the range. */
bool km_move_ptes_ok(struct km *km, struct mm_struct *mm, uint64_t old, uint64_t new_addr, uint64_t len);
/* Moves present PTEs and large leaves of [old, old+len) to new (mremap), flushing. 0, or
 * -ENOMEM when a page table could not be allocated. km_move_ptes_ok must hold. */
int km_move_ptes(struct km *km, struct mm_struct *mm, uint64_t old, uint64_t new_addr, uint64_t len);
/* Rewrites the protection bits of present PTEs and large leaves in [start, end) to prot
 * (mprotect). Large leaves get RW when writable_ok (a huge page is always exclusive). */
void km_change_prot(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t prot,
		    bool writable_ok);
/* Huge pages. km_huge_init derives huge_levels/pmd_order from km->cfg and reserves the 1 GiB
 * pool (after the buddy allocator is up); 0, or -1 with a message. km_huge_destroy frees the
 * host side of the pool. */
int km_huge_init(struct km *km, char *err, size_t errlen);
void km_huge_destroy(struct km *km);
static inline bool km_huge_level_on(const struct km *km, unsigned level)
{
	return (km->huge_levels >> level) & 1u;
}
/* The huge page size (bytes) of the largest configured level whose size is <= len; 0 if none. */
uint64_t km_huge_align_for(const struct km *km, uint64_t len);
/* A zeroed huge page for a level-`level` leaf (buddy block of pmd_order, or a pool page),
 * accounted and charged; _refcount 1, _mapcount 0, PG_KM_ANON. NULL when none is available. */
struct page *km_alloc_huge(struct km *km, unsigned level);
/* If the entry at slot (level > 0) points to a page table with no translations below it, frees
 * that subtree and clears the entry. true when the entry is (now) empty. */
bool km_entry_make_none(struct km *km, struct mm_struct *mm, void *slot, unsigned level, uint64_t va);
bool km_pgd_alloc(struct km *km, struct mm_struct *mm);
void km_pgd_free(struct km *km, struct mm_struct *mm);
const char *km_pgtable_check(struct km *km, struct mm_struct *mm);
uint64_t km_pte_pfn(const struct km *km, uint64_t pte);
uint64_t km_mk_pte(const struct km *km, uint64_t pfn, uint64_t prot);

/* vma.c */
/* The VMA tree (mm->mm_mt, vma_tree.h). A VMA's fields may change while it is in the tree,
 * except vm_start/vm_end, which change only through vma_split, vma_set_range and the merges. */
#define DEFAULT_MAX_MAP_COUNT 65530   /* sysctl max_map_count (include/linux/mm.h) */
struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr);   /* first vma with end > addr */
struct vm_area_struct *vma_prev(struct mm_struct *mm, const struct vm_area_struct *vma); /* NULL: first */
struct vm_area_struct *vma_next(struct mm_struct *mm, const struct vm_area_struct *vma); /* NULL: last */
static inline int vma_count(const struct mm_struct *mm) { return mm->map_count; }
/* VMA iterator (Linux's vma_iterator): vma_find returns the next VMA ending above the index and
 * starting below max, and moves the index to its end. It stays valid whatever the loop body does:
 * after a change of the tree it finds its place again from the index. */
struct vma_iterator {
	struct mm_struct *mm;
	uint64_t index;
	struct vt_cursor cur;
};
#define VMA_ITERATOR(name, mm_, addr) struct vma_iterator name = { .mm = (mm_), .index = (addr) }
static inline void vma_iter_init(struct vma_iterator *vmi, struct mm_struct *mm, uint64_t addr)
{
	vmi->mm = mm;
	vmi->index = addr;
	vmi->cur.node = NULL;
}
struct vm_area_struct *vma_find(struct vma_iterator *vmi, uint64_t max);
static inline struct vm_area_struct *vma_iter_next(struct vma_iterator *vmi) { return vma_find(vmi, UINT64_MAX); }
#define for_each_vma(vmi, v) while (((v) = vma_iter_next(&(vmi))) != NULL)
#define for_each_vma_range(vmi, v, end) while (((v) = vma_find(&(vmi), (end))) != NULL)
/* vm_area_struct objects: the one place they are allocated and freed. */
struct vm_area_struct *vma_alloc(struct km *km);
void vma_free(struct km *km, struct vm_area_struct *vma);
struct vm_area_struct *vma_dup(struct km *km, const struct vm_area_struct *v);
/* vdso.c */
void km_vdso_init(struct km *km);
uint64_t km_special_pfn(const struct km *km, const struct vm_area_struct *vma, uint64_t addr);
/* Links vma (its range must be free) into the tree; false when a tree node could not be had. */
bool vma_insert(struct mm_struct *mm, struct vm_area_struct *vma);
/* Unlinks vma from the tree (never fails); the caller frees it. */
void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma);
/* Grows vma to [start, end) (containing its range; the rest must be free): vma_expand with the
 * tree store. false when a tree node could not be had (nothing changed). */
bool vma_set_range(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t start, uint64_t end);
/* Splits vma at addr (strictly inside it) into [start, addr) (vma) and [addr, end) (new). */
bool vma_split(struct km *km, struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr);
void vma_try_merge_around(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end);
uint64_t vm_start_gap(const struct vm_area_struct *v);
uint64_t vm_get_page_prot(const struct km *km, uint64_t vm_flags);
uint64_t km_unmapped_area(struct mm_struct *mm, uint64_t len, uint64_t hint, bool topdown);
/* The same with vm_unmapped_area's alignment: the result is congruent to align_offset modulo
 * align (a power of two >= PAGE_SIZE); a free hint is returned as given. 0 if none. */
uint64_t km_unmapped_area_aligned(struct mm_struct *mm, uint64_t len, uint64_t hint, bool topdown,
				  uint64_t align, uint64_t align_offset);
/* Whether a range boundary at addr may split VMA v: always outside VM_HUGEPAGE VMAs; inside
 * one, addr must not fall strictly inside a huge-aligned block (of any configured huge size)
 * that lies wholly inside v, since such a block may be mapped by one large leaf. */
bool vma_huge_boundary_ok(const struct km *km, const struct vm_area_struct *v, uint64_t addr);
/* addr, or the start of the huge block it falls strictly inside (as vma_huge_boundary_ok). */
uint64_t vma_huge_round_down(const struct km *km, const struct vm_area_struct *v, uint64_t addr);
int64_t km_do_munmap(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len);
const char *km_vma_check(struct mm_struct *mm);

#endif
