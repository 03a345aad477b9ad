/* walk.h — the x86 page walker: linear address → physical address, or the exact #PF / #GP.
 *
 * The walker reads paging-structure entries from modelled physical memory (a byte array the
 * caller owns) through struct mmu_phys, so tests back it with a plain buffer and the emulator
 * with the buffer Unicorn maps at physical 0. It never allocates, prints or touches memory
 * outside [pm->base, pm->base + pm->size).
 *
 * Semantics (Intel SDM Vol. 3A ch. 4), decided once here:
 *  - One loop walks every mode, top level first, driven by regs->fmt. Each entry read is
 *    checked in this order: P=0 → #PF with P=0; a reserved bit set → #PF with P=1, RSVD=1.
 *    The walk stops at the first such entry, so a bad upper entry hides everything below it.
 *  - An entry whose physical address lies outside pm is treated like an entry with a reserved
 *    bit (P=1, RSVD=1, fault->phys_oob = true): the model never reads outside the array.
 *  - PAE: the four PDPTEs are registers loaded at CR3 write time (mmu_regs_init /
 *    mmu_load_pdptes); the walk uses them without reading memory and without counting a read.
 *    A not-present PDPTE gives #PF with P=0 at level 2.
 *  - Access rights (SDM §4.6): R/W and U/S are ANDed over all levels (PAE PDPTEs have neither
 *    and do not take part), XD is ORed (only when NX is in effect). See mmu_walk_perms.
 *  - 32-bit modes take the VA modulo 2^32. 4/5-level: a non-canonical VA is #GP (fault->gp).
 *  - Accessed/Dirty with WALK_SET_AD: only when the translation succeeds AND the access is
 *    permitted, A is set in every paging-structure entry used (not in PAE PDPTE registers) and,
 *    for a write, D in the leaf. A faulting walk modifies nothing. (The SDM lets a CPU set A in
 *    entries it used before a fault; we choose the deterministic rule. QEMU sets A level by
 *    level as it walks — expect that difference in differential tests.)
 *  - The walker does not check that the final page lies inside pm: mapping a frame that does
 *    not exist is the caller's business (result pa may be anything below 2^MAXPHYADDR).
 *
 * Where QEMU's walker (target/i386 excp_helper.c mmu_translate, i.e. Unicorn in UC_TLB_CPU
 * mode) is known to differ — a differential test against it must expect these:
 *  - QEMU sets A in each upper entry as it walks, also when a lower level then faults.
 *  - QEMU's reserved-bit fault error code has RSVD without P; the SDM (and we) report P=1.
 *  - QEMU re-reads the PAE PDPTEs from memory on every walk; we use the registers loaded at
 *    the CR3 write (a PDPTE changed in memory takes effect only after mmu_load_pdptes).
 *  - QEMU checks only bit 21 of a 4 MiB PDE; we also treat PSE-36 bits that would give
 *    physical bits >= MAXPHYADDR as reserved (SDM table 4-4).
 */
#ifndef MMUEMU_WALK_H
#define MMUEMU_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paging.h"

/* Modelled physical memory as a byte array: physical address x is base[x], x < size. */
struct mmu_phys {
	uint8_t *base;
	uint64_t size;
};

enum mmu_access { MMU_READ = 0, MMU_WRITE = 1, MMU_FETCH = 2 };

/* Permission bits, one per access kind (bit = 1 << enum mmu_access). */
#define MMU_PERM_READ  (1u << MMU_READ)
#define MMU_PERM_WRITE (1u << MMU_WRITE)
#define MMU_PERM_EXEC  (1u << MMU_FETCH)

struct mmu_regs {
	uint64_t cr0, cr3, cr4, efer;  /* cr3 as stored by the CPU: CR3_NOFLUSH is never kept */
	struct paging_format fmt;      /* derived by mmu_regs_init */
	uint64_t pdpte[PAE_NR_PDPTE];  /* PAE only: PDPTEs loaded at the CR3 write (SDM 4.4.1) */
};

/* Sets cr*, derives fmt, and for PAE loads the 4 PDPTEs from physical memory. Returns false
 * (that would be #GP) on an invalid register combination (see paging_format_init), a 4/5-level
 * CR3 with bits set at or above MAXPHYADDR, a PDPT outside pm, or a present PDPTE with reserved
 * bits set; *err (if err != NULL) then gets a static reason and *r is unusable. With PCIDE=1,
 * CR3_NOFLUSH in cr3 is accepted and dropped (the CPU does not store it). */
bool mmu_regs_init(struct mmu_regs *r, const struct mmu_phys *pm, uint64_t cr0, uint64_t cr3,
		   uint64_t cr4, uint64_t efer, unsigned maxphyaddr, bool pdpe1gb, const char **err);

/* Re-loads the PAE PDPTE registers from the PDPT at r->cr3 (after a MOV to CR3, or after the
 * kernel changed a PDPTE, which needs a CR3 reload to take effect). A no-op returning true
 * outside PAE. false (the MOV CR3 would #GP): the PDPT lies outside pm or a present PDPTE has
 * a reserved bit; the old registers are kept. */
bool mmu_load_pdptes(struct mmu_regs *r, const struct mmu_phys *pm);

/* Same, with a static reason in *err on failure. */
bool mmu_load_pdptes_err(struct mmu_regs *r, const struct mmu_phys *pm, const char **err);

/* The PCID of the current address space (CR3 bits 11:0 with CR4.PCIDE, else 0). */
static inline unsigned mmu_pcid(const struct mmu_regs *r)
{
	return (r->cr4 & CR4_PCIDE) ? (unsigned)(r->cr3 & CR3_PCID_MASK) : 0;
}

struct walk_req {
	uint64_t va;
	enum mmu_access access;
	bool user;      /* CPL 3 */
	bool implicit;  /* implicit supervisor access (descriptor tables): a supervisor-mode
	                   access even at CPL 3, and EFLAGS.AC does not lift SMAP for it */
	bool ac;        /* EFLAGS.AC */
};

#define WALK_SET_AD 0x1u   /* set Accessed in every entry used and Dirty in the leaf on a write,
                              as the CPU does (real PTEs in physical memory are modified) */

struct walk_result {
	uint64_t pa;          /* physical address of req->va */
	uint64_t page_base;   /* physical base of the page (4K/2M/4M/1G) */
	unsigned page_shift;  /* 12, 21, 22 or 30 */
	unsigned leaf_level;
	bool writable;        /* R/W = 1 at every level */
	bool user;            /* U/S = 1 at every level: a user-mode page */
	bool nx;              /* XD = 1 at some level and NX in effect */
	bool global;          /* leaf G = 1 and CR4.PGE = 1 (the TLB may keep it across CR3) */
	bool dirty;           /* leaf D, after any update this walk made */
	unsigned perms;       /* MMU_PERM_* the requesting mode (user/implicit/ac of the request)
	                         may use on this translation; see mmu_walk_perms */
	unsigned nreads;      /* paging-structure entries read from memory (PAE PDPTE register
	                         use does not count as a read) */
	unsigned first_level; /* level of entry[0]: levels-1, or 1 in PAE */
	uint64_t entry_pa[PAGING_MAX_LEVELS]; /* physical address of each entry read, top first */
	uint64_t entry[PAGING_MAX_LEVELS];    /* the value read (before any A/D update) */
	uint64_t leaf_pa;     /* physical address of the leaf entry */
	unsigned nwrites;     /* entries written back to set A and/or D (0 without WALK_SET_AD) */
};

struct mmu_fault {
	uint64_t cr2;         /* the faulting linear address (32-bit modes: modulo 2^32). For #GP
	                         the CPU does not write CR2; the address is reported anyway. */
	uint32_t error_code;  /* PF_ERR_*: P/W/U/RSVD/I as the hardware forms it; 0 for #GP */
	bool gp;              /* non-canonical address: #GP, not #PF */
	bool phys_oob;        /* the entry at `level` lay outside pm (reported as RSVD) */
	unsigned level;       /* level at which the walk stopped (fmt.levels for #GP; the leaf
	                         level for a permission fault) */
};

/* Walks the page tables for req. true: *r filled. false: *f describes the #PF (or #GP) exactly
 * as the hardware forms it: CR2 = va, error code P/W/U/RSVD/I — W for a write, U for a
 * user-mode access (req->user && !req->implicit), I for a fetch when NX is in effect (EFER.NXE
 * in PAE/IA-32e) or CR4.SMEP = 1 (SDM §4.7). On false, r->nreads, r->entry_pa[], r->entry[] and
 * r->first_level still describe the entries read before the fault (timing models charge them);
 * the other fields of *r are unspecified. flags: WALK_SET_AD or 0. regs must come from
 * mmu_regs_init. */
bool mmu_walk(const struct mmu_regs *regs, const struct mmu_phys *pm, const struct walk_req *req,
	      unsigned flags, struct walk_result *r, struct mmu_fault *f);

/* Which accesses (MMU_PERM_*) the mode of req (user, implicit, ac; va and access are ignored)
 * may make through a translation with the combined rights of r (writable, user, nx), under
 * CR0.WP, CR4.SMEP/SMAP of regs (SDM §4.6). mmu_walk uses exactly this to decide. */
unsigned mmu_walk_perms(const struct mmu_regs *regs, const struct walk_req *req,
			const struct walk_result *r);

/* Self-check of a successful walk's result against regs/pm/req (alignment, page size of the
 * leaf level, entries inside pm, pa below 2^MAXPHYADDR, the access permitted). NULL if
 * consistent, else the broken invariant. */
const char *mmu_walk_check(const struct mmu_regs *regs, const struct mmu_phys *pm,
			   const struct walk_req *req, const struct walk_result *r);

/* Formats a #PF error code into buf for messages: "P" or "NP", then "W" or "R", then "U" or
 * "S", then "RSVD", "I", "PK" when set, joined by '|' (e.g. "NP|W|U", "P|R|S|RSVD"). Returns
 * buf. */
const char *mmu_pf_error_str(uint32_t error_code, char *buf, size_t len);

#endif
