/* highmem.c — kernel mappings of HighMem frames on i386 (Linux 6.12 mm/highmem.c,
 * arch/x86/include/asm/highmem.h, include/linux/highmem-internal.h; linux-mm-facts §4).
 *
 * On x86-64 (and for lowmem frames on i386) every frame is in the kernel's direct map, so
 * kmap_local_page()/kmap() are plain address arithmetic: page_address() = PAGE_OFFSET + pa, no
 * page-table write, no TLB effect. Only i386 frames of ZONE_HIGHMEM need a temporary mapping:
 *
 *  - kmap_local (kmap_local_page, kmap_atomic): a per-CPU stack of KM_MAX_IDX = 16 fixmap
 *    slots. Slot idx (the stack depth; one modelled CPU) is the fixmap index FIX_KMAP_BEGIN + idx,
 *    at FIXADDR_TOP - ((FIX_KMAP_BEGIN + idx) << PAGE_SHIFT) (fixmap addresses grow downwards).
 *    Mapping writes the PTE, with no flush (__kmap_local_pfn_prot); unmapping clears it and
 *    flushes that one address with INVLPG (kunmap_local_indexed → arch_kmap_local_post_unmap →
 *    flush_tlb_one_kernel).
 *  - kmap (the permanent pool, kmap_high / map_new_virtual): LAST_PKMAP slots (1024, 512 under
 *    PAE: exactly one page table) from PKMAP_BASE. The cursor last_pkmap_nr advances
 *    round-robin; when it wraps to 0, flush_all_zero_pkmaps clears every slot whose count is 1
 *    (unmapped but possibly still cached in a TLB) and issues one flush_tlb_kernel_range over the
 *    whole pool. A free slot (count 0) gets the PTE and count 1; kmap then takes a reference
 *    (count >= 2 = in use). kunmap drops it: there is no flush at kunmap time. A page already
 *    mapped is found through its recorded address (page_address_map) and just referenced. When
 *    every slot is busy Linux sleeps until a kunmap; with one modelled task nothing could wake
 *    it, so the model returns 0 (the caller's error).
 *
 * The mappings are real PTEs (present, RW, Accessed, Dirty, Global = PAGE_KERNEL; NX under PAE)
 * in kernel page tables of the address space, so the kernel's touches of the mapping — which
 * the callers report through km_kernel_touch — walk and fill the TLB model as supervisor
 * accesses through global entries, and the flushes above go to the TLB model (km_ops
 * flush_kernel), where their effect on the guest's own entries shows.
 *
 * Addresses (arch/x86/include/asm/fixmap.h, pgtable_32_areas.h): FIXADDR_TOP = 0xfffff000;
 * FIX_KMAP_BEGIN = 68 (FIX_HOLE, FIX_DBGP_BASE, FIX_EARLYCON_MEM_BASE, FIX_APIC_BASE and the 64
 * FIX_IO_APIC_BASE slots of a 32-bit CONFIG_X86_IO_APIC kernel come first). PKMAP_BASE is
 * (LDT_BASE_ADDR - PAGE_SIZE) & PMD_MASK with LDT_BASE_ADDR = (CPU_ENTRY_AREA_BASE - PAGE_SIZE)
 * & PMD_MASK; the model takes CPU_ENTRY_AREA_BASE = 0xffc00000 (its i386 GDT page sits just
 * below it), which gives PKMAP_BASE = 0xff400000 (2-level, 4 MiB PMDs) and 0xff800000 (PAE).
 * A real kernel's value depends on NR_CPUS through the CPU entry area size.
 */
#include <stdlib.h>
#include <string.h>

#include "km_internal.h"

#define FIXADDR_TOP        0xfffff000ULL
#define FIX_KMAP_BEGIN     68u
#define KMAP_PAGE_OFFSET   0xc0000000ULL   /* i386 PAGE_OFFSET (3G/1G split) */
#define PAGE_OFFSET_64     0xffff888000000000ULL

static uint64_t pkmap_base(const struct km *km)
{
	return km->fmt.mode == PAGING_PAE ? 0xff800000ULL : 0xff400000ULL;
}

unsigned km_last_pkmap(const struct km *km)
{
	return km->fmt.mode == PAGING_PAE ? 512u : 1024u;
}

uint64_t km_pkmap_addr(const struct km *km, unsigned nr)
{
	return pkmap_base(km) + ((uint64_t)nr << PAGE_SHIFT);
}

uint64_t km_kmap_local_addr(unsigned idx)
{
	return FIXADDR_TOP - ((uint64_t)(FIX_KMAP_BEGIN + idx) << PAGE_SHIFT);
}

bool km_pfn_is_highmem(struct km *km, uint64_t pfn)
{
	if (km->cfg.arch != KM_ARCH_I386)
		return false;
	return pfn_zonenum(&km->pgdat, pfn) == ZONE_HIGHMEM;
}

/* page_address() of a frame in the direct map. */
static uint64_t lowmem_address(const struct km *km, uint64_t pfn)
{
	return (km->cfg.arch == KM_ARCH_I386 ? KMAP_PAGE_OFFSET : PAGE_OFFSET_64) + (pfn << PAGE_SHIFT);
}

static void emit(struct km *km, enum km_event_kind kind, uint64_t pfn, uint64_t va, unsigned pool)
{
	if (!km->ops.event)
		return;
	struct km_event ev = { .pfn = pfn, .addr = va, .kind = (uint8_t)kind, .order = (uint8_t)pool,
			       .zone = -1, .migratetype = -1 };
	km->ops.event(km->ops.ctx, &ev);
}

/* The kernel PTE slot of va in mm's page tables, allocating the kernel page table on first use
 * (on Linux these tables are set up at boot and shared by every address space). */
static uint8_t *kernel_pte(struct km *km, struct mm_struct *mm, uint64_t va)
{
	bool oom;
	return km_pte_slot(km, mm, va, true, &oom);
}

static uint64_t kernel_prot(const struct km *km)
{
	uint64_t prot = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G;
	if (km->fmt.nx)
		prot |= PTE_NX;
	return prot;
}

void km_kernel_touch(struct km *km, uint64_t va, bool write)
{
	if (km->ops.kernel_access)
		km->ops.kernel_access(km->ops.ctx, va, write ? MMU_WRITE : MMU_READ);
}

uint64_t km_kmap_local(struct km *km, struct mm_struct *mm, uint64_t pfn)
{
	if (!mm || !km_pfn_is_highmem(km, pfn))
		return lowmem_address(km, pfn);
	if (km->kmap_local_depth >= KM_MAX_IDX)
		return 0;   /* Linux BUG()s on overflow of the per-CPU stack */
	unsigned idx = km->kmap_local_depth;
	uint64_t va = km_kmap_local_addr(idx);
	uint8_t *slot = kernel_pte(km, mm, va);
	if (!slot)
		return 0;
	pte_write(km, slot, km_mk_pte(km, pfn, kernel_prot(km)));
	km->kmap_local_pfn[idx] = pfn;
	km->kmap_local_depth++;
	km->stats.kmap_local++;
	km->cycles += km->cfg.costs.kmap;
	emit(km, KM_EV_KMAP, pfn, va, 0);
	return va;
}

void km_kunmap_local(struct km *km, struct mm_struct *mm, uint64_t va)
{
	if (!mm || va < km_kmap_local_addr(KM_MAX_IDX - 1) || va > km_kmap_local_addr(0))
		return;   /* a direct-map address: nothing was mapped */
	/* kunmap_local must unmap in reverse order of mapping (the slots form a stack). */
	unsigned idx = (unsigned)((km_kmap_local_addr(0) - va) >> PAGE_SHIFT);
	if (km->kmap_local_depth == 0 || idx != km->kmap_local_depth - 1)
		return;
	uint8_t *slot = kernel_pte(km, mm, va);
	if (slot)
		pte_write(km, slot, 0);
	km->kmap_local_depth--;
	km->stats.kunmap_local_invlpg++;
	km->cycles += km->cfg.costs.invlpg;
	emit(km, KM_EV_KUNMAP, km->kmap_local_pfn[idx], va, 0);
	if (km->ops.flush_kernel)
		km->ops.flush_kernel(km->ops.ctx, va, va + PAGE_SIZE);
}

/* flush_all_zero_pkmaps: clear the slots nobody uses any more, then one range flush. */
static void flush_all_zero_pkmaps(struct km *km, struct mm_struct *mm)
{
	bool need_flush = false;
	unsigned last = km_last_pkmap(km);
	for (unsigned i = 0; i < last; i++) {
		if (km->pkmap_count[i] != 1)
			continue;
		km->pkmap_count[i] = 0;
		uint8_t *slot = kernel_pte(km, mm, km_pkmap_addr(km, i));
		if (slot)
			pte_write(km, slot, 0);
		km->pkmap_pfn[i] = 0;
		need_flush = true;
	}
	if (!need_flush)
		return;
	km->stats.pkmap_flushes++;
	emit(km, KM_EV_KMAP_FLUSH, 0, km_pkmap_addr(km, 0), 1);
	/* flush_tlb_kernel_range over LAST_PKMAP pages: more than tlb_single_page_flush_ceiling
	 * (33) pages, so x86 flushes everything, global entries included. */
	km->cycles += km->cfg.costs.tlb_flush;
	if (km->ops.flush_kernel)
		km->ops.flush_kernel(km->ops.ctx, km_pkmap_addr(km, 0), km_pkmap_addr(km, last));
}

uint64_t km_kmap(struct km *km, struct mm_struct *mm, uint64_t pfn)
{
	if (!mm || !km_pfn_is_highmem(km, pfn))
		return lowmem_address(km, pfn);
	unsigned last = km_last_pkmap(km);
	if (!km->pkmap_count) {
		km->pkmap_count = calloc(last, sizeof(*km->pkmap_count));
		km->pkmap_pfn = calloc(last, sizeof(*km->pkmap_pfn));
		if (!km->pkmap_count || !km->pkmap_pfn)
			return 0;
	}
	/* page_address(): already mapped? (Linux hashes page -> address; a scan is equivalent.) */
	for (unsigned i = 0; i < last; i++) {
		if (km->pkmap_count[i] >= 1 && km->pkmap_pfn[i] == pfn + 1) {
			km->pkmap_count[i]++;
			return km_pkmap_addr(km, i);
		}
	}
	/* map_new_virtual. */
	unsigned count = last;
	for (;;) {
		km->last_pkmap_nr = (km->last_pkmap_nr + 1) & (last - 1);
		if (!km->last_pkmap_nr) {
			flush_all_zero_pkmaps(km, mm);
			count = last;
		}
		if (!km->pkmap_count[km->last_pkmap_nr])
			break;
		if (--count == 0)
			return 0;   /* every slot in use: Linux would sleep on pkmap_map_wait */
	}
	unsigned nr = km->last_pkmap_nr;
	uint64_t va = km_pkmap_addr(km, nr);
	uint8_t *slot = kernel_pte(km, mm, va);
	if (!slot)
		return 0;
	pte_write(km, slot, km_mk_pte(km, pfn, kernel_prot(km)));
	km->pkmap_count[nr] = 2;   /* 1 (mapped) + the caller's reference */
	km->pkmap_pfn[nr] = pfn + 1;
	km->stats.pkmap_maps++;
	km->cycles += km->cfg.costs.kmap;
	emit(km, KM_EV_KMAP, pfn, va, 1);
	return va;
}

void km_kunmap(struct km *km, uint64_t pfn)
{
	if (!km->pkmap_count || !km_pfn_is_highmem(km, pfn))
		return;
	unsigned last = km_last_pkmap(km);
	for (unsigned i = 0; i < last; i++) {
		if (km->pkmap_count[i] >= 2 && km->pkmap_pfn[i] == pfn + 1) {
			/* kunmap_high: no flush; the slot stays mapped until the next wrap. */
			km->pkmap_count[i]--;
			emit(km, KM_EV_KUNMAP, pfn, km_pkmap_addr(km, i), 1);
			return;
		}
	}
}

void km_highmem_destroy(struct km *km)
{
	free(km->pkmap_count);
	free(km->pkmap_pfn);
	km->pkmap_count = NULL;
	km->pkmap_pfn = NULL;
}

/* clear_highpage / kernel_init_pages for a frame the allocator zeroed (__GFP_ZERO): the kernel
 * maps it with kmap_local, clears it, unmaps it. */
void km_clear_highpage(struct km *km, uint64_t pfn)
{
	struct mm_struct *mm = km->active_mm;
	if (!mm || !km_pfn_is_highmem(km, pfn))
		return;
	uint64_t va = km_kmap_local(km, mm, pfn);
	if (!va)
		return;
	km_kernel_touch(km, va, true);
	km->stats.highmem_zeroed++;
	km_kunmap_local(km, mm, va);
}

/* copy_user_highpage: both frames through kmap_local slots (source first), unmapped in reverse
 * order. */
void km_copy_highpage(struct km *km, uint64_t dst_pfn, uint64_t src_pfn)
{
	struct mm_struct *mm = km->active_mm;
	if (!mm)
		return;
	uint64_t vfrom = km_kmap_local(km, mm, src_pfn);
	uint64_t vto = km_kmap_local(km, mm, dst_pfn);
	if (km_pfn_is_highmem(km, src_pfn))
		km_kernel_touch(km, vfrom, false);
	if (km_pfn_is_highmem(km, dst_pfn))
		km_kernel_touch(km, vto, true);
	if (km_pfn_is_highmem(km, src_pfn) || km_pfn_is_highmem(km, dst_pfn))
		km->stats.highmem_copied++;
	km_kunmap_local(km, mm, vto);
	km_kunmap_local(km, mm, vfrom);
}

/* pte_offset_map with CONFIG_HIGHPTE: a page-table page in HighMem is mapped while the kernel
 * reads or writes its entries. */
void km_touch_pte_page(struct km *km, struct mm_struct *mm, const void *slot, bool write)
{
	if (!km->cfg.highpte || !mm)
		return;
	uint64_t pfn = (uint64_t)((const uint8_t *)slot - km->phys) >> PAGE_SHIFT;
	if (!km_pfn_is_highmem(km, pfn))
		return;
	uint64_t va = km_kmap_local(km, mm, pfn);
	if (!va)
		return;
	km_kernel_touch(km, va + ((uint64_t)((const uint8_t *)slot - km->phys) & (PAGE_SIZE - 1)), write);
	km->stats.highpte_maps++;
	km_kunmap_local(km, mm, va);
}
