/* kmodel.h — the guest kernel's memory manager, modelled on Linux 6.12.
 *
 * One `struct km` is the machine seen by the kernel: modelled physical memory (a host buffer
 * that Unicorn maps once at physical address 0), the node with its zones and buddy allocator
 * (page_alloc.h), the shared zero page, the page cache of files mapped by guests, the paging
 * format the kernel runs its page tables in, the cost table and the statistics.
 *
 * One `struct mm_struct` is an address space: the root of its page tables (real x86 entries in
 * modelled physical memory, in the format of km->fmt), its VMAs, brk and mmap_base.
 *
 * The fault handler (km_handle_mm_fault) follows arch/x86/mm/fault.c do_user_addr_fault and
 * mm/memory.c handle_mm_fault: VMA lookup and stack growth, access checks, then anonymous
 * demand paging (shared zero page on read, zeroed page on write), copy-on-write (reuse when the
 * page is exclusive), and private file mappings backed by the page cache.
 *
 * Every change the model makes to a present PTE calls km->ops.flush_tlb so that whoever caches
 * translations (Unicorn's softmmu TLB, the timing TLB model) drops them.
 *
 * This library never includes Unicorn: tests drive it with physical memory it allocates itself.
 */
#ifndef MMUEMU_KMODEL_H
#define MMUEMU_KMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "paging.h"
#include "walk.h"
#include "page_alloc.h"

struct km;
struct mm_struct;
struct vm_area_struct;
struct km_file;

/* ---- configuration ----------------------------------------------------------------------- */

enum km_arch { KM_ARCH_I386, KM_ARCH_X86_64 };

/* Cycle costs the kernel model charges (all configuration; defaults in km_default_costs, from
 * linux-mm-facts.md §7 and cpu-data.md). */
struct km_costs {
	uint64_t exception;      /* #PF entry + exit (hardware exception delivery, iret) */
	uint64_t fault_base;     /* handler base cost: VMA lookup, locking, PTE install */
	uint64_t zero_page;      /* clear_page of one 4 KiB frame */
	uint64_t copy_page;      /* copy_page of one 4 KiB frame (COW) */
	uint64_t page_alloc;     /* one buddy allocation (before splits) */
	uint64_t page_split;     /* each split step of a buddy allocation */
	uint64_t pgtable_alloc;  /* allocating and zeroing one page-table page */
	uint64_t file_read_page; /* filling one page-cache page from the file */
	uint64_t invlpg;         /* one INVLPG */
	uint64_t tlb_flush;      /* one full (non-global) TLB flush */
	uint64_t kmap;           /* mapping a HighMem frame (kmap_local or pkmap PTE write) */
	uint64_t fault_around_page; /* each extra page-cache page fault-around maps */
	uint64_t slab_fast;      /* a slab allocation or free served from the per-CPU freelist */
	uint64_t slab_slow;      /* a slab slow path (refill from partial lists or a new slab) */
};

/* Large pages for anonymous memory, hugetlb-style (docs/kernel-model.md "Huge pages").
 *
 * Policy, when not KM_HUGE_NONE:
 *  - Which VMAs: an anonymous private mmap that is accessible (prot != PROT_NONE: PROT_NONE
 *    reservations are carved up later at 4 KiB granularity, e.g. glibc's arenas) and at least
 *    one PMD-level page long is marked VM_HUGEPAGE; so is any anonymous MAP_HUGETLB mmap (which
 *    is -EINVAL when huge pages are off). brk, the ELF bss (km_vm_brk_flags), the stack and file
 *    mappings never are.
 *  - Placement: without a usable hint such a mapping gets a start aligned to the largest huge
 *    size that fits in its length (top-down search for len + alignment, then aligned down inside
 *    the gap, as vm_unmapped_area does for hugetlb_get_unmapped_area). A free hint and MAP_FIXED
 *    are honoured as given, so a VMA may start or end off a huge boundary. MAP_HUGETLB rounds the
 *    length up to its huge size (MAP_HUGE_2MB/MAP_HUGE_1GB may name a configured size; default:
 *    the largest configured), aligns a hint up, and refuses an unaligned MAP_FIXED address.
 *  - Faults: a fault in a VM_HUGEPAGE VMA installs one large leaf (PS=1) when the aligned huge
 *    range around the address lies inside the VMA and has no 4 KiB translations under it: a
 *    zeroed block (read faults too: hugetlb has no zero page), mapped Accessed, writable from the
 *    start when the VMA is writable (so a huge page never takes a write-protect fault), Dirty on
 *    a write fault, NX and U/S as the VMA says. Otherwise the fault maps a 4 KiB page as usual
 *    (the VMA's unaligned edges). KM_HUGE_1G tries a 1 GiB page first (from the pool; an empty
 *    pool falls back to a PMD-level page), then a PMD-level page. A PMD-level block that the
 *    buddy allocator cannot supply is KM_FAULT_OOM (hugetlb's VM_FAULT_OOM), not a 4 KiB
 *    fallback.
 *  - munmap/mprotect/mremap/MADV_DONTNEED never split a huge page: a range boundary strictly
 *    inside a VM_HUGEPAGE VMA whose huge-aligned block lies wholly inside the VMA must be aligned
 *    to that block, else -EINVAL (hugetlb's may_split rule; MADV_DONTNEED rounds its end down as
 *    hugetlb does). mremap moves large leaves only to congruent addresses (-EINVAL otherwise);
 *    growing a huge VMA is allowed.
 *  - Accounting: a huge page counts its 4 KiB frames in rss (like THP) and in pgalloc/pgfree/
 *    frames_in_use when it comes from the buddy allocator; 1 GiB pool pages are reserved at boot
 *    (like memblock) and are not in frames_in_use. */
enum km_hugepages {
	KM_HUGE_NONE = 0,   /* 4 KiB pages only (the default) */
	KM_HUGE_2M,         /* PMD-level pages: 2 MiB (PAE, 4-level, 5-level), 4 MiB (2-level PSE),
	                       order 9 / 10 blocks from the buddy allocator */
	KM_HUGE_1G,         /* 1 GiB PUD-level pages from the boot-time pool, and PMD-level pages
	                       where 1 GiB does not fit; 4-level and 5-level paging only */
};

struct km_config {
	enum km_arch arch;
	enum paging_mode paging;    /* PAGING_2LEVEL or PAGING_PAE (i386), PAGING_4LEVEL or _5LEVEL */
	uint64_t mem_bytes;         /* modelled RAM */
	uint64_t lowmem_bytes;      /* i386 lowmem boundary (max_low_pfn << 12) */
	uint64_t movablecore_bytes; /* 0: no ZONE_MOVABLE */
	uint64_t rlimit_stack;      /* RLIMIT_STACK soft limit in bytes */
	struct km_costs costs;
	enum km_hugepages hugepages;   /* KM_HUGE_NONE (default), KM_HUGE_2M or KM_HUGE_1G */
	bool no_zero_page;             /* read faults on anonymous memory allocate a zeroed page mapped
	                                  as the VMA allows, instead of the shared zero page (Linux
	                                  when mm_forbids_zeropage(); some host kernels behave so) */
	bool highpte;                  /* i386 CONFIG_HIGHPTE: PTE pages may come from HighMem and
	                                  are mapped with kmap_local while the kernel edits them */
	unsigned hugepages_1g_pool;    /* KM_HUGE_1G: 1 GiB pages reserved at km_new, like the boot
	                                  parameter hugepages=N with hugepagesz=1G: the highest
	                                  1 GiB-aligned ranges of RAM above the reserved 16 MiB, taken
	                                  out of the buddy allocator for good. Must be >= 1 with
	                                  KM_HUGE_1G and 0 otherwise. */
};

/* Sets one cost from "NAME=CYCLES" (NAME a field of struct km_costs, CYCLES a decimal count
 * up to 10^9). false with a message naming the problem. */
bool km_cost_set(struct km_costs *c, const char *assignment, char *err, size_t errlen);
/* Calls fn for each cost in declaration order. */
void km_costs_foreach(const struct km_costs *c, void (*fn)(void *ctx, const char *name, uint64_t v), void *ctx);

/* Fills *cfg with the defaults for arch: i386 2 GiB, 2-level paging, lowmem 0x377fe000;
 * x86-64 4 GiB, 4-level paging; 8 MiB stack limit; default costs; no huge pages. */
void km_default_config(struct km_config *cfg, enum km_arch arch);

/* ---- statistics (counters declared once in km_stats.inc) ---------------------------------- */

struct km_stats {
#define KM_STAT(name, desc) uint64_t name;
#include "km_stats.inc"
#undef KM_STAT
	uint64_t pgtable_pages[5];       /* live page-table pages per level (0 = PTE tables) */
	uint64_t pgtable_pages_peak[5];
};

/* Calls fn once per counter, in declaration order. */
void km_stats_foreach(const struct km_stats *s,
		      void (*fn)(void *ctx, const char *name, const char *desc, uint64_t value),
		      void *ctx);

/* ---- callbacks into the machine ------------------------------------------------------------ */

/* Kernel events, for traces (km_ops.event). */
enum km_event_kind {
	KM_EV_PAGE_ALLOC = 0,  /* buddy allocation: pfn, order, zone, migratetype */
	KM_EV_PAGE_FREE,       /* buddy free: pfn, order, zone, migratetype */
	KM_EV_SLAB_ALLOC,      /* slab object: addr (physical), cache, slowpath, order (slab pages
	                          allocated by a slow path, else 0) */
	KM_EV_SLAB_FREE,       /* addr, cache, slowpath */
	KM_EV_KMAP,            /* highmem mapping: pfn mapped at kernel virtual addr; order is 0 for
	                          kmap_local (fixmap), 1 for the permanent pool (pkmap) */
	KM_EV_KUNMAP,          /* addr unmapped (kunmap_local flushes it with one INVLPG) */
	KM_EV_KMAP_FLUSH,      /* the pkmap pool wrapped: the unused slots were flushed */
	KM_EV_NKINDS
};

struct km_event {
	uint64_t pfn;
	uint64_t addr;
	const char *cache;     /* slab events: the cache name */
	uint8_t kind;          /* enum km_event_kind */
	uint8_t order;
	int8_t zone;           /* enum zone_type, -1 when not applicable */
	int8_t migratetype;    /* -1 when not applicable */
	bool slowpath;
};

struct km_ops {
	/* A present translation for [start, end) of mm changed or was removed; end == 0 means the
	 * whole address space. The callee drops cached translations (Unicorn TLB, timing TLBs). */
	void (*flush_tlb)(void *ctx, struct mm_struct *mm, uint64_t start, uint64_t end);
	/* Optional: every kernel event (enum km_event_kind) as it happens. */
	void (*event)(void *ctx, const struct km_event *e);
	/* Optional: the kernel touched (kind: MMU_READ/MMU_WRITE) its own mapping at kernel virtual
	 * address va — a kmap slot while zeroing or copying a highmem page. The machine times it
	 * through the TLB model as a supervisor access, so kmap's TLB footprint shows. */
	void (*kernel_access)(void *ctx, uint64_t va, int kind);
	/* Optional: the kernel flushed its own mapping of va (kunmap_local's INVLPG), or the whole
	 * pkmap range [start, end) (flush_tlb_kernel_range when the pool wraps). Global entries. */
	void (*flush_kernel)(void *ctx, uint64_t start, uint64_t end);
	void *ctx;
};

/* ---- the machine --------------------------------------------------------------------------- */

/* Creates the kernel model: allocates modelled physical memory (an anonymous host mapping:
 * untouched frames cost no host memory), builds zones, frees all RAM into the buddy allocator,
 * allocates the zero page, reserves the 1 GiB huge-page pool. NULL with a message in err on a
 * bad configuration (including huge pages the paging mode cannot map, or a pool that does not
 * fit in RAM). */
struct km *km_new(const struct km_config *cfg, char *err, size_t errlen);
void km_free(struct km *km);
void km_set_ops(struct km *km, const struct km_ops *ops);

uint8_t *km_phys_base(const struct km *km);   /* host pointer of physical address 0 */
uint64_t km_phys_size(const struct km *km);   /* bytes of modelled RAM */
uint64_t km_zero_pfn(const struct km *km);    /* the shared zero page */
const struct paging_format *km_format(const struct km *km);
const struct km_config *km_get_config(const struct km *km);
struct km_stats *km_stats(struct km *km);
struct pglist_data *km_pgdat(struct km *km);
/* The slab allocator of the machine (slub.h). */
struct slab_system *km_slab(struct km *km);
/* Cycles charged so far for kernel work and exceptions. */
uint64_t km_cycles(const struct km *km);
/* log2 of the huge page size a fault installs at the PMD level (21, or 22 in 2-level paging) and
 * at the PUD level (30); 0 when that size is not in use (km_config.hugepages). */
unsigned km_huge_shift_pmd(const struct km *km);
unsigned km_huge_shift_pud(const struct km *km);
/* A self-check over the whole model (buddy lists, page-table reference counts, VMA order,
 * refcounts of mapped pages). NULL if consistent, else a description of the broken invariant. */
const char *km_check(struct km *km, struct mm_struct *mm);

/* ---- files (page cache) ------------------------------------------------------------------- */

/* A host file the guest maps (its ELF image, or a file passed to mmap). The model keeps its own
 * dup of fd; pages are read with pread into page-cache frames on first use. One km_file per
 * (st_dev, st_ino): opening the same file twice returns the same object with one more
 * reference. NULL with errno set on failure. */
struct km_file *km_file_get(struct km *km, int fd);
void km_file_put(struct km *km, struct km_file *f);
uint64_t km_file_size(const struct km_file *f);

/* ---- address spaces ------------------------------------------------------------------------ */

/* A new, empty address space (top-level page-table page allocated; under PAE the four PMD
 * pages are preallocated as Linux does). NULL when memory is exhausted. */
struct mm_struct *km_mm_new(struct km *km);
void km_mm_free(struct km *km, struct mm_struct *mm);

/* The CPU registers that make the MMU walk this address space (CR0.PG|WP, CR3, CR4 PSE/PAE/
 * LA57/PGE, EFER LME/LMA/NXE). */
void km_mm_regs(struct km *km, struct mm_struct *mm, struct mmu_regs *regs);

/* Layout (linux-mm-facts §5.4, ASLR off). */
uint64_t km_mm_task_size(const struct mm_struct *mm);
uint64_t km_mm_stack_top(const struct mm_struct *mm);
uint64_t km_mm_mmap_base(const struct mm_struct *mm);
void km_mm_set_brk(struct mm_struct *mm, uint64_t start_brk);  /* start_brk = brk = addr */
uint64_t km_mm_brk(const struct mm_struct *mm);
uint64_t km_mm_start_brk(const struct mm_struct *mm);
/* personality(READ_IMPLIES_EXEC): every PROT_READ mapping is also executable (do_mmap). Set by
 * the loader for i386 programs without PT_GNU_STACK, as Linux does. */
void km_mm_set_read_implies_exec(struct mm_struct *mm, bool on);

/* get_unmapped_area for len bytes without a hint (top-down below mmap_base); 0 if none. */
uint64_t km_get_unmapped_area(struct mm_struct *mm, uint64_t len);
/* Maps [vvar] and [vdso] (vdso.c) top-down below mmap_base, as load_elf_binary does after the
 * segments and brk. Returns the vDSO's address (AT_SYSINFO_EHDR) or -ENOMEM; *sysinfo is the
 * i386 __kernel_vsyscall address (AT_SYSINFO), 0 on x86-64. */
int64_t km_map_vdso(struct km *km, struct mm_struct *mm, uint64_t *sysinfo);

/* Protections and flags, with Linux's values (PROT_*, MAP_*, MREMAP_*, MADV_* from <sys/mman.h>). */

/* do_mmap: returns the address or a negative errno. file may be NULL (anonymous). MAP_SHARED
 * anonymous or file mappings are refused with -EINVAL for now (not modelled yet); MAP_FIXED
 * replaces, MAP_FIXED_NOREPLACE fails with -EEXIST, a hint is honoured when free, else
 * top-down from mmap_base. MAP_GROWSDOWN makes a stack-like VMA. */
int64_t km_mmap(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len, int prot,
		int flags, struct km_file *file, uint64_t offset);
int64_t km_munmap(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len);
int64_t km_mprotect(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len, int prot);
int64_t km_mremap(struct km *km, struct mm_struct *mm, uint64_t old_addr, uint64_t old_len,
		  uint64_t new_len, int flags, uint64_t new_addr);
int64_t km_madvise(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t len, int advice);
/* sys_brk: returns the new break, or the old one on failure (Linux semantics). */
uint64_t km_brk(struct km *km, struct mm_struct *mm, uint64_t brk);

/* vm_brk_flags, for the ELF loader's bss: anonymous read/write (exec if asked) VMA at a fixed
 * place. 0 or a negative errno. */
int64_t km_vm_brk_flags(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t len, bool exec);

/* The initial stack VMA: [stack_top - size, stack_top), VM_GROWSDOWN, exec if exec_stack. */
int km_setup_stack(struct km *km, struct mm_struct *mm, uint64_t size, bool exec_stack);

/* Kernel-only mapping of one fresh zeroed frame at a kernel virtual address (supervisor, RW,
 * global), for structures the CPU reads implicitly (the i386 GDT). Returns the host pointer. */
uint8_t *km_map_kernel_page(struct km *km, struct mm_struct *mm, uint64_t va);

/* ---- faults --------------------------------------------------------------------------------- */

enum km_fault_result {
	KM_FAULT_OK = 0,        /* translation installed; retry the access */
	KM_FAULT_SIGSEGV,       /* bad access: deliver SIGSEGV (si_code in info) */
	KM_FAULT_SIGBUS,
	KM_FAULT_OOM,           /* out of memory: the OOM killer kills the task */
};

enum km_fault_kind {
#define KM_FAULT_KIND(name, desc) KM_FK_##name,
#include "km_fault_kinds.inc"
#undef KM_FAULT_KIND
	KM_FK_COUNT
};
const char *km_fault_kind_name(enum km_fault_kind k);
uint64_t km_fault_kind_count(const struct km *km, enum km_fault_kind k);

struct km_fault_info {
	enum km_fault_kind kind;
	int si_code;            /* SEGV_MAPERR or SEGV_ACCERR for KM_FAULT_SIGSEGV */
	uint64_t cycles;        /* kernel cycles charged for this fault */
};

/* The #PF handler: addr is CR2, error_code the hardware error code (PF_ERR_*). user says the
 * fault came from user mode (error code U) or from a kernel access to user memory (uaccess). */
enum km_fault_result km_handle_mm_fault(struct km *km, struct mm_struct *mm, uint64_t addr,
					uint32_t error_code, struct km_fault_info *info);

/* ---- user memory access from the kernel (copy_from_user and friends) ----------------------- */

/* Copy between guest virtual memory and the host, through the MMU walk of mm's page tables with
 * the kernel's rights (CR0.WP=1, so writes to read-only pages fault and COW), faulting pages in
 * as Linux's uaccess does. 0 on success, -EFAULT if any byte is not accessible (bytes before the
 * bad one may have been copied, as in Linux). Never touches host memory outside the copy. */
int km_copy_from_user(struct km *km, struct mm_struct *mm, void *dst, uint64_t src, size_t n);
int km_copy_to_user(struct km *km, struct mm_struct *mm, uint64_t dst, const void *src, size_t n);
int km_clear_user(struct km *km, struct mm_struct *mm, uint64_t dst, size_t n);
/* Copies a NUL-terminated string of at most max-1 bytes into dst (always terminated). Returns
 * its length, -EFAULT, or -ENAMETOOLONG if no NUL within max-1 bytes. */
int64_t km_strncpy_from_user(struct km *km, struct mm_struct *mm, char *dst, uint64_t src, size_t max);
/* Whether [addr, addr+n) lies in VMAs allowing the access (no faulting in). */
bool km_access_ok(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t n, bool write);

/* ---- reports -------------------------------------------------------------------------------- */

/* The OOM killer's line (mm/oom_kill.c __oom_kill_process): "Out of memory: Killed process PID
 * (COMM) total-vm:NkB, anon-rss:NkB, file-rss:NkB, shmem-rss:0kB, UID:0 pgtables:NkB
 * oom_score_adj:0" for the task owning mm. */
void km_oom_message(struct km *km, struct mm_struct *mm, int pid, const char *comm, char *buf, size_t len);

/* /proc files (procfs.c), printed from the model's state in Linux 6.12's formats:
 * "buddyinfo", "pagetypeinfo", "zoneinfo", "slabinfo", "meminfo". km_proc_names is
 * NULL-terminated. km_proc_show prints /proc/NAME to out; mm is the task whose mappings count
 * as AnonPages/Mapped (NULL: none). Returns 0, or -1 for an unknown name (nothing printed). */
extern const char *const km_proc_names[];
bool km_proc_known(const char *name);
int km_proc_show(struct km *km, struct mm_struct *mm, const char *name, FILE *out);

/* Live and peak frames in use (allocated from the buddy allocator) and the VMA list dump. */
uint64_t km_frames_in_use(const struct km *km);
uint64_t km_frames_peak(const struct km *km);
void km_dump_vmas(struct km *km, struct mm_struct *mm, FILE *out);   /* /proc/self/maps format */

#endif
