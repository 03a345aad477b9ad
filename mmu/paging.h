/* paging.h — x86 paging formats as data: architectural bits and the geometry of every mode.
 *
 * Sources: Intel SDM Vol. 3A ch. 4 (§4.3 32-bit paging, §4.4 PAE, §4.5 4/5-level, §4.6 access
 * rights, §4.7 #PF error code), Linux asm/pgtable_types.h and uapi/asm/processor-flags.h.
 *
 * Invariants of this header:
 *  - Every architectural bit has a bit number (…_BIT_…) and a mask, each with a comment. No code
 *    in mmu/ writes a bare bit position, shift or entry count.
 *  - Levels are numbered from the leaf: 0 = PTE (maps 4 KiB), 1 = PDE, 2 = PDPTE, 3 = PML4E,
 *    4 = PML5E. 32-bit 2-level paging uses levels 0 and 1 only; PAE uses 0..2.
 *  - A `struct paging_format` is pure data derived from CR0/CR4/EFER/MAXPHYADDR by
 *    paging_format_init; the walker (walk.c) runs ONE loop over it for every mode. Everything a
 *    walk needs per level (index position, large-page permission, reserved-bit masks) is in it.
 *  - Entries are handled as uint64_t everywhere; 2-level entries are 4 bytes in memory and are
 *    zero-extended when loaded (so bits 32..63 of a 2-level entry are always 0).
 *  - libc only; never includes Unicorn.
 */
#ifndef MMUEMU_PAGING_H
#define MMUEMU_PAGING_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PAGING_BIT(n) (UINT64_C(1) << (n))
/* Bits lo..hi inclusive (0 <= lo <= hi <= 63); empty when hi < lo. */
#define PAGING_BITS(hi, lo) \
	((hi) < (lo) ? UINT64_C(0) : ((~UINT64_C(0) >> (63 - (hi))) & (~UINT64_C(0) << (lo))))

/* ---- paging-structure entry bits (SDM tables 4-4..4-20; Linux _PAGE_BIT_*) ----------------- */
#define PTE_BIT_P          0   /* present: 0 = no translation through this entry */
#define PTE_BIT_RW         1   /* read/write: 0 = writes not allowed below this entry */
#define PTE_BIT_US         2   /* user/supervisor: 0 = user-mode accesses not allowed */
#define PTE_BIT_PWT        3   /* page-level write-through (memory type) */
#define PTE_BIT_PCD        4   /* page-level cache disable (memory type) */
#define PTE_BIT_A          5   /* accessed: set by the CPU in every entry a translation uses */
#define PTE_BIT_D          6   /* dirty: set by the CPU in the leaf on the first write */
#define PTE_BIT_PS         7   /* page size in a PDE/PDPTE: 1 = this entry maps a large page */
#define PTE_BIT_PAT        7   /* the same bit in a 4 KiB PTE is the PAT index bit */
#define PTE_BIT_G          8   /* global (leaf only, needs CR4.PGE): survives CR3 writes */
#define PTE_BIT_SOFTW1     9   /* ignored by the CPU, free for software */
#define PTE_BIT_SOFTW2     10  /* ignored by the CPU, free for software */
#define PTE_BIT_SOFTW3     11  /* ignored by the CPU, free for software */
#define PTE_BIT_SPECIAL    PTE_BIT_SOFTW1   /* Linux _PAGE_SPECIAL (no struct page behind it) */
#define PTE_BIT_PAT_LARGE  12  /* PAT index bit of a large-page (PS=1) leaf */
#define PTE_BIT_NX         63  /* execute-disable (XD); reserved unless EFER.NXE in PAE/IA-32e */

#define PTE_P          PAGING_BIT(PTE_BIT_P)
#define PTE_RW         PAGING_BIT(PTE_BIT_RW)
#define PTE_US         PAGING_BIT(PTE_BIT_US)
#define PTE_PWT        PAGING_BIT(PTE_BIT_PWT)
#define PTE_PCD        PAGING_BIT(PTE_BIT_PCD)
#define PTE_A          PAGING_BIT(PTE_BIT_A)
#define PTE_D          PAGING_BIT(PTE_BIT_D)
#define PTE_PS         PAGING_BIT(PTE_BIT_PS)
#define PTE_PAT        PAGING_BIT(PTE_BIT_PAT)
#define PTE_G          PAGING_BIT(PTE_BIT_G)
#define PTE_SOFTW1     PAGING_BIT(PTE_BIT_SOFTW1)
#define PTE_SOFTW2     PAGING_BIT(PTE_BIT_SOFTW2)
#define PTE_SOFTW3     PAGING_BIT(PTE_BIT_SOFTW3)
#define PTE_SPECIAL    PAGING_BIT(PTE_BIT_SPECIAL)
#define PTE_PAT_LARGE  PAGING_BIT(PTE_BIT_PAT_LARGE)
#define PTE_NX         PAGING_BIT(PTE_BIT_NX)

/* 32-bit paging, PDE mapping a 4 MiB page (SDM table 4-4): bits 20:13 hold physical-address
 * bits 39:32 (PSE-36), limited to MAXPHYADDR (at most 40); bit 21 is reserved. */
#define PDE32_BIT_PSE36_LO     13  /* first PDE bit of the PSE-36 field */
#define PDE32_PSE36_NBITS      8   /* PDE bits 20:13 */
#define PDE32_PSE36_ADDR_BIT   32  /* ...supply physical-address bits 39:32 */
#define PDE32_PSE36_MASK       PAGING_BITS(PDE32_BIT_PSE36_LO + PDE32_PSE36_NBITS - 1, PDE32_BIT_PSE36_LO)
#define PDE32_BIT_4M_RSVD      21  /* always reserved in a 4 MiB PDE */
#define PDE32_4M_RSVD          PAGING_BIT(PDE32_BIT_4M_RSVD)
#define PSE36_MAXPHYADDR       40  /* 32-bit paging produces at most 40-bit physical addresses */

/* PAE PDPTE (SDM table 4-8): only P, PWT, PCD, bits 11:9 (ignored) and the address are defined;
 * bits 2:1 and 8:5 are reserved (a PDPTE has no R/W, U/S, A, D, PS, G), as are 63:MAXPHYADDR. */
#define PAE_PDPTE_RSVD_LOW     (PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS | PTE_G)
#define PAE_NR_PDPTE           4   /* four PDPTE registers, indexed by VA bits 31:30 */
#define PAE_PDPT_BYTES         32  /* the PDPT is 4 x 8 bytes, 32-byte aligned */

/* ---- geometry ------------------------------------------------------------------------------ */
#define PAGE_SHIFT_4K          12  /* 4 KiB pages; every table is one 4 KiB frame */
#define PAGE_SHIFT_2M          21  /* PAE / IA-32e PDE with PS=1 */
#define PAGE_SHIFT_4M          22  /* 32-bit PDE with PS=1 (CR4.PSE) */
#define PAGE_SHIFT_1G          30  /* IA-32e PDPTE with PS=1 (CPUID PDPE1GB) */
#define PAGE_SIZE_4K           (UINT64_C(1) << PAGE_SHIFT_4K)
#define PAGE_OFFSET_MASK_4K    (PAGE_SIZE_4K - 1)

#define PDE32_SHIFT            22  /* 32-bit paging: PDE index = VA bits 31:22 */
#define PDE_SHIFT              21  /* PAE / IA-32e: PDE index = VA bits 29:21 */
#define PDPTE_SHIFT            30  /* PDPTE index = VA bits 31:30 (PAE) or 38:30 */
#define PML4_SHIFT             39  /* PML4E index = VA bits 47:39 */
#define PML5_SHIFT             48  /* PML5E index = VA bits 56:48 */

#define INDEX_BITS_32          10  /* 1024 4-byte entries per 4 KiB table (32-bit paging) */
#define INDEX_BITS_64          9   /* 512 8-byte entries per 4 KiB table (PAE, IA-32e) */
#define INDEX_BITS_PAE_PDPT    2   /* 4 PDPTEs */
#define ENTRY_SIZE_32          4   /* bytes per entry, 32-bit paging */
#define ENTRY_SIZE_64          8   /* bytes per entry, PAE and IA-32e */

#define VA_BITS_32             32  /* 2-level and PAE linear addresses */
#define VA_BITS_4LEVEL         48  /* canonical: bits 63:47 equal */
#define VA_BITS_5LEVEL         57  /* canonical: bits 63:56 equal */

#define MAXPHYADDR_MIN         32  /* smallest MAXPHYADDR accepted by paging_format_init */
#define MAXPHYADDR_MAX         52  /* architectural limit */
#define PHYS_ADDR_BITS_32      32  /* 32-bit paging tables and 4 KiB pages live below 4 GiB */

/* ---- control registers (uapi/asm/processor-flags.h, asm/msr-index.h) ---------------------- */
#define CR0_BIT_PE      0   /* protection enable; PG requires it */
#define CR0_BIT_WP      16  /* write protect: supervisor writes honour R/W */
#define CR0_BIT_PG      31  /* paging */
#define CR0_PE          PAGING_BIT(CR0_BIT_PE)
#define CR0_WP          PAGING_BIT(CR0_BIT_WP)
#define CR0_PG          PAGING_BIT(CR0_BIT_PG)

#define CR3_BIT_PWT     3   /* write-through for the top table (when PCIDE=0) */
#define CR3_BIT_PCD     4   /* cache disable for the top table (when PCIDE=0) */
#define CR3_BIT_NOFLUSH 63  /* MOV to CR3 with PCIDE=1: do not flush the new PCID; never stored */
#define CR3_PCID_NBITS  12  /* CR3 bits 11:0 are the PCID when CR4.PCIDE=1 */
#define CR3_PWT         PAGING_BIT(CR3_BIT_PWT)
#define CR3_PCD         PAGING_BIT(CR3_BIT_PCD)
#define CR3_NOFLUSH     PAGING_BIT(CR3_BIT_NOFLUSH)
#define CR3_PCID_MASK   PAGING_BITS(CR3_PCID_NBITS - 1, 0)
#define CR3_ADDR_MASK_32  PAGING_BITS(31, PAGE_SHIFT_4K)  /* 32-bit paging: page directory base */
#define CR3_PDPT_ALIGN_BITS 5                              /* PAE: PDPT base is CR3 bits 31:5 */
#define CR3_ADDR_MASK_PAE PAGING_BITS(31, CR3_PDPT_ALIGN_BITS)

#define CR4_BIT_PSE     4   /* 4 MiB pages in 32-bit paging */
#define CR4_BIT_PAE     5   /* PAE (and required for IA-32e) */
#define CR4_BIT_PGE     7   /* global pages */
#define CR4_BIT_LA57    12  /* 5-level paging in IA-32e mode */
#define CR4_BIT_PCIDE   17  /* process-context identifiers (IA-32e only) */
#define CR4_BIT_SMEP    20  /* supervisor-mode execution prevention */
#define CR4_BIT_SMAP    21  /* supervisor-mode access prevention */
#define CR4_BIT_PKE     22  /* protection keys (not modelled) */
#define CR4_PSE         PAGING_BIT(CR4_BIT_PSE)
#define CR4_PAE         PAGING_BIT(CR4_BIT_PAE)
#define CR4_PGE         PAGING_BIT(CR4_BIT_PGE)
#define CR4_LA57        PAGING_BIT(CR4_BIT_LA57)
#define CR4_PCIDE       PAGING_BIT(CR4_BIT_PCIDE)
#define CR4_SMEP        PAGING_BIT(CR4_BIT_SMEP)
#define CR4_SMAP        PAGING_BIT(CR4_BIT_SMAP)
#define CR4_PKE         PAGING_BIT(CR4_BIT_PKE)

#define EFER_BIT_LME    8   /* long mode enable */
#define EFER_BIT_LMA    10  /* long mode active (= LME && CR0.PG, set by the CPU) */
#define EFER_BIT_NXE    11  /* execute-disable bit enable */
#define EFER_LME        PAGING_BIT(EFER_BIT_LME)
#define EFER_LMA        PAGING_BIT(EFER_BIT_LMA)
#define EFER_NXE        PAGING_BIT(EFER_BIT_NXE)

/* ---- #PF error code (SDM §4.7, Linux asm/trap_pf.h) ---------------------------------------- */
#define PF_ERR_BIT_P    0   /* 0: not-present entry; 1: protection or reserved-bit violation */
#define PF_ERR_BIT_W    1   /* the access was a write */
#define PF_ERR_BIT_U    2   /* the access was a user-mode access (CPL 3, not implicit) */
#define PF_ERR_BIT_RSVD 3   /* a present entry had a reserved bit set */
#define PF_ERR_BIT_I    4   /* instruction fetch, reported only when NX is in effect or SMEP=1 */
#define PF_ERR_BIT_PK   5   /* protection-key violation (never raised: PKE is not modelled) */
#define PF_ERR_P        (UINT32_C(1) << PF_ERR_BIT_P)
#define PF_ERR_W        (UINT32_C(1) << PF_ERR_BIT_W)
#define PF_ERR_U        (UINT32_C(1) << PF_ERR_BIT_U)
#define PF_ERR_RSVD     (UINT32_C(1) << PF_ERR_BIT_RSVD)
#define PF_ERR_I        (UINT32_C(1) << PF_ERR_BIT_I)
#define PF_ERR_PK       (UINT32_C(1) << PF_ERR_BIT_PK)

/* ---- levels and formats -------------------------------------------------------------------- */
enum paging_level {
	PAGING_LEVEL_PTE = 0,    /* maps a 4 KiB page */
	PAGING_LEVEL_PDE = 1,    /* page table, or a 4 MiB / 2 MiB page */
	PAGING_LEVEL_PDPTE = 2,  /* page directory, or a 1 GiB page (PAE: a PDPTE register) */
	PAGING_LEVEL_PML4E = 3,  /* page-directory-pointer table */
	PAGING_LEVEL_PML5E = 4,  /* PML4 table */
};
#define PAGING_MAX_LEVELS    5
#define PAGING_LEVELS_2LEVEL 2   /* PDE, PTE */
#define PAGING_LEVELS_PAE    3   /* PDPTE (registers), PDE, PTE */
#define PAGING_LEVELS_4LEVEL 4   /* PML4E, PDPTE, PDE, PTE */
#define PAGING_LEVELS_5LEVEL 5   /* PML5E, PML4E, PDPTE, PDE, PTE */

enum paging_mode { PAGING_2LEVEL, PAGING_PAE, PAGING_4LEVEL, PAGING_5LEVEL };

/* Index into rsvd[level][]: an entry whose PS bit makes it a large-page leaf uses [1]. */
#define PAGING_RSVD_TABLE 0
#define PAGING_RSVD_LARGE 1

struct paging_format {
	enum paging_mode mode;
	unsigned levels;          /* 2, 3, 4 or 5 */
	unsigned entry_size;      /* bytes per entry in memory: 4 or 8 */
	unsigned va_bits;         /* linear-address width: 32, 48 or 57 */
	unsigned shift[PAGING_MAX_LEVELS];      /* lowest VA bit of each level's index */
	unsigned index_bits[PAGING_MAX_LEVELS]; /* index width per level: 10, 9, or 2 (PAE PDPT) */
	unsigned large_levels;    /* bit L set: a present level-L entry with PS=1 maps a page */
	bool nx;                  /* XD bit in effect: PAE/IA-32e with EFER.NXE */
	unsigned maxphyaddr;      /* effective M: physical addresses are < 2^M (2-level: 32, or
	                             min(M, 40) with CR4.PSE for PSE-36 4 MiB pages) */
	uint64_t addr_mask;       /* entry bits holding a table / page address: (M-1):12, or
	                             31:12 in 2-level */
	const char *name;         /* "2-level", "PAE", "4-level", "5-level" */

	/* Added for the walker: */
	uint64_t root_mask;       /* CR3 bits holding the top-table address (PAE: the PDPT, 31:5) */
	uint64_t rsvd[PAGING_MAX_LEVELS][2]; /* bits that must be 0 in a present entry of each level;
	                             [PAGING_RSVD_LARGE] for an entry that maps a large page. The
	                             [PAGING_RSVD_TABLE] mask of a level that cannot map pages holds
	                             PTE_PS where PS is reserved (PML4E, PML5E, PDPTE w/o 1G pages) */
	uint64_t pse36_mask;      /* 2-level with PSE: the PDE bits 20:13 that hold physical
	                             bits 39:32 of a 4 MiB page, only those below M (the rest
	                             are in rsvd[1][1]); 0 in other modes */
};

/* Derives the paging format from control registers (SDM §4.1.1):
 *   CR0.PG=1, CR4.PAE=0             → 32-bit 2-level paging (4 MiB pages iff CR4.PSE; no NX)
 *   CR4.PAE=1, EFER.LME=0            → PAE (2 MiB pages; NX iff EFER.NXE; CR4.LA57 ignored)
 *   CR4.PAE=1, EFER.LME=1            → 4-level, or 5-level with CR4.LA57 (1 GiB pages iff
 *                                      pdpe1gb). EFER.LMA is taken as LME && PG.
 * maxphyaddr is CPUID.80000008H:EAX[7:0] (32..52). Returns false (f zeroed) if paging is off or
 * the combination would #GP: PG without PE, LMA without LME, IA-32e without PAE, PCIDE outside
 * IA-32e, or maxphyaddr out of range. */
bool paging_format_init(struct paging_format *f, uint64_t cr0, uint64_t cr4, uint64_t efer,
			unsigned maxphyaddr, bool pdpe1gb);

/* Same as paging_format_init, but returns NULL on success or a static string saying why the
 * combination is refused. */
const char *paging_format_derive(struct paging_format *f, uint64_t cr0, uint64_t cr4,
				 uint64_t efer, unsigned maxphyaddr, bool pdpe1gb);

/* Self-check of a derived format (geometry adds up, masks consistent). NULL if sound, else the
 * broken invariant. */
const char *paging_format_check(const struct paging_format *f);

/* ---- helpers --------------------------------------------------------------------------------- */

/* Index of va's entry in the level-`level` table. */
static inline unsigned paging_index(const struct paging_format *f, unsigned level, uint64_t va)
{
	return (unsigned)((va >> f->shift[level]) & ((UINT64_C(1) << f->index_bits[level]) - 1));
}

/* log2 of the bytes mapped by one level-`level` entry (12, 21/22, 30, 39, 48). A level-L leaf
 * maps a page of this size. */
static inline unsigned paging_page_shift(const struct paging_format *f, unsigned level)
{
	return f->shift[level];
}

/* Bytes mapped by one level-`level` entry. */
static inline uint64_t paging_level_size(const struct paging_format *f, unsigned level)
{
	return UINT64_C(1) << f->shift[level];
}

/* Entries in one level-`level` table (1024, 512 or 4). */
static inline unsigned paging_entries(const struct paging_format *f, unsigned level)
{
	return 1u << f->index_bits[level];
}

/* Whether a PS=1 entry at `level` maps a page in this format. */
static inline bool paging_large_ok(const struct paging_format *f, unsigned level)
{
	return (f->large_levels >> level) & 1u;
}

/* Whether va is canonical (always true for 32-bit formats, whose VAs are taken modulo 2^32). */
static inline bool paging_canonical(const struct paging_format *f, uint64_t va)
{
	unsigned unused = 64 - f->va_bits;
	return f->va_bits == VA_BITS_32 || (uint64_t)((int64_t)(va << unused) >> unused) == va;
}

/* Physical address of the top-level table (PAE: of the 32-byte PDPT) named by cr3. */
static inline uint64_t paging_root(const struct paging_format *f, uint64_t cr3)
{
	return cr3 & f->root_mask;
}

/* Physical address of the next table named by a present non-leaf entry. */
static inline uint64_t paging_table_addr(const struct paging_format *f, uint64_t entry)
{
	return entry & f->addr_mask;
}

/* Physical address of va's entry in the level-`level` table at table_pa. */
static inline uint64_t paging_entry_addr(const struct paging_format *f, uint64_t table_pa,
					 unsigned level, uint64_t va)
{
	return table_pa + (uint64_t)paging_index(f, level, va) * f->entry_size;
}

/* Physical base of the page mapped by a present leaf entry at `level` (large pages included;
 * decodes the PSE-36 high bits of a 2-level 4 MiB PDE). */
static inline uint64_t paging_leaf_base(const struct paging_format *f, unsigned level,
					uint64_t entry)
{
	uint64_t base = entry & f->addr_mask & ~(paging_level_size(f, level) - 1);
	if (level != PAGING_LEVEL_PTE)
		base |= (entry & f->pse36_mask) << (PDE32_PSE36_ADDR_BIT - PDE32_BIT_PSE36_LO);
	return base;
}

/* A leaf entry for a page at pa (aligned to the level's page size) with flags; sets PS above
 * level 0 and encodes PSE-36 for a 2-level 4 MiB page. pa must be < 2^f->maxphyaddr. */
static inline uint64_t paging_make_leaf(const struct paging_format *f, unsigned level, uint64_t pa,
					uint64_t flags)
{
	if (level == PAGING_LEVEL_PTE)
		return (pa & f->addr_mask) | flags;
	uint64_t e = (pa & f->addr_mask & ~(paging_level_size(f, level) - 1)) | flags | PTE_PS;
	if (f->pse36_mask)
		e |= (pa >> (PDE32_PSE36_ADDR_BIT - PDE32_BIT_PSE36_LO)) & f->pse36_mask;
	return e;
}

/* A non-leaf entry pointing at the table at table_pa (4 KiB aligned). */
static inline uint64_t paging_make_table(const struct paging_format *f, uint64_t table_pa,
					 uint64_t flags)
{
	return (table_pa & f->addr_mask) | flags;
}

/* Loads / stores one entry of entry_size bytes (little-endian, as x86 is). */
static inline uint64_t paging_load_entry(const uint8_t *p, unsigned entry_size)
{
	if (entry_size == ENTRY_SIZE_64) {
		uint64_t v;
		memcpy(&v, p, sizeof v);
		return v;
	}
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void paging_store_entry(uint8_t *p, unsigned entry_size, uint64_t v)
{
	if (entry_size == ENTRY_SIZE_64) {
		memcpy(p, &v, sizeof v);
	} else {
		uint32_t w = (uint32_t)v;
		memcpy(p, &w, sizeof w);
	}
}

/* One type per level (STYLE habit 5), so table-building code cannot put a PDE where a PTE
 * belongs. The value is the raw entry (zero-extended for 4-byte 2-level entries). */
struct pte { uint64_t v; };     /* level 0 */
struct pde { uint64_t v; };     /* level 1 */
struct pdpte { uint64_t v; };   /* level 2 */
struct pml4e { uint64_t v; };   /* level 3 */
struct pml5e { uint64_t v; };   /* level 4 */

static inline struct pte pte_make(const struct paging_format *f, uint64_t pa, uint64_t flags)
{
	return (struct pte){ paging_make_leaf(f, PAGING_LEVEL_PTE, pa, flags) };
}
static inline struct pde pde_make_table(const struct paging_format *f, uint64_t pt_pa, uint64_t flags)
{
	return (struct pde){ paging_make_table(f, pt_pa, flags) };
}
static inline struct pde pde_make_large(const struct paging_format *f, uint64_t pa, uint64_t flags)
{
	return (struct pde){ paging_make_leaf(f, PAGING_LEVEL_PDE, pa, flags) };
}
static inline struct pdpte pdpte_make_table(const struct paging_format *f, uint64_t pd_pa, uint64_t flags)
{
	return (struct pdpte){ paging_make_table(f, pd_pa, flags) };
}
static inline struct pdpte pdpte_make_large(const struct paging_format *f, uint64_t pa, uint64_t flags)
{
	return (struct pdpte){ paging_make_leaf(f, PAGING_LEVEL_PDPTE, pa, flags) };
}
static inline struct pml4e pml4e_make(const struct paging_format *f, uint64_t pdpt_pa, uint64_t flags)
{
	return (struct pml4e){ paging_make_table(f, pdpt_pa, flags) };
}
static inline struct pml5e pml5e_make(const struct paging_format *f, uint64_t pml4_pa, uint64_t flags)
{
	return (struct pml5e){ paging_make_table(f, pml4_pa, flags) };
}

#endif
