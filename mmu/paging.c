/* paging.c — derive a struct paging_format from the control registers.
 *
 * The format is the whole difference between the four x86 paging modes as far as a walk is
 * concerned: how many levels, where each level's index sits in the VA, how wide an entry is,
 * which levels may map large pages, and which bits of a present entry are reserved (SDM §4.3,
 * §4.4.2, §4.5.4). Reserved masks are precomputed per level here so that the walker checks one
 * AND per entry and never branches on the mode.
 *
 * Reserved bits, as data (M = MAXPHYADDR):
 *   2-level : none, except in a 4 MiB PDE: bit 21, and PSE-36 bits 20:13 that would give
 *             physical bits >= min(M, 40).
 *   PAE     : PDPTE (register, checked at load): 2:1, 8:5, 63:M.
 *             PDE/PTE: 62:M, XD (63) unless EFER.NXE; 2 MiB PDE also 20:13.
 *   IA-32e  : every level: 51:M, XD unless NXE (bits 62:52 are ignored);
 *             PML5E/PML4E: PS; PDPTE: PS unless 1 GiB pages, 29:13 in a 1 GiB PDPTE;
 *             2 MiB PDE: 20:13.
 */
#include "paging.h"

#include <stddef.h>

/* The PAT bit of a large leaf is the lowest address-field bit that is not an address bit; the
 * bits above it, up to the page alignment, are reserved. */
#define LARGE_ALIGN_RSVD_LO (PTE_BIT_PAT_LARGE + 1)

static void set_geometry(struct paging_format *f, unsigned levels, const unsigned *index_bits)
{
	unsigned shift = PAGE_SHIFT_4K;
	f->levels = levels;
	for (unsigned l = 0; l < levels; l++) {
		f->shift[l] = shift;
		f->index_bits[l] = index_bits[l];
		shift += index_bits[l];
	}
	f->va_bits = shift;
}

static void init_2level(struct paging_format *f, bool pse, unsigned maxphyaddr)
{
	static const unsigned bits[] = { INDEX_BITS_32, INDEX_BITS_32 };

	f->mode = PAGING_2LEVEL;
	f->name = "2-level";
	f->entry_size = ENTRY_SIZE_32;
	set_geometry(f, PAGING_LEVELS_2LEVEL, bits);
	f->nx = false;
	f->addr_mask = CR3_ADDR_MASK_32;
	f->root_mask = CR3_ADDR_MASK_32;
	f->maxphyaddr = PHYS_ADDR_BITS_32;
	if (pse) {
		unsigned m = maxphyaddr < PSE36_MAXPHYADDR ? maxphyaddr : PSE36_MAXPHYADDR;
		unsigned nhigh = m - PDE32_PSE36_ADDR_BIT;   /* usable PSE-36 bits, 0..8 */
		f->maxphyaddr = m;
		f->large_levels = 1u << PAGING_LEVEL_PDE;
		f->pse36_mask = PAGING_BITS(PDE32_BIT_PSE36_LO + nhigh - 1, PDE32_BIT_PSE36_LO);
		f->rsvd[PAGING_LEVEL_PDE][PAGING_RSVD_LARGE] =
			PDE32_4M_RSVD | (PDE32_PSE36_MASK & ~f->pse36_mask);
	}
	/* Everything else in a 32-bit entry is defined or ignored: rsvd stays 0. */
}

/* PAE and IA-32e: 8-byte entries, reserved masks built from the high reserved range `hi`. */
static void init_64bit_entries(struct paging_format *f, bool nxe, unsigned maxphyaddr,
			       uint64_t hi)
{
	uint64_t base = hi | (nxe ? 0 : PTE_NX);

	f->entry_size = ENTRY_SIZE_64;
	f->nx = nxe;
	f->maxphyaddr = maxphyaddr;
	f->addr_mask = PAGING_BITS(maxphyaddr - 1, PAGE_SHIFT_4K);
	for (unsigned l = 0; l < f->levels; l++) {
		/* PS is either a leaf marker (then PS=1 entries use the LARGE mask) or reserved;
		 * at level 0 bit 7 is PAT and allowed. */
		uint64_t table = base | (l == PAGING_LEVEL_PTE ? 0 : PTE_PS);
		f->rsvd[l][PAGING_RSVD_TABLE] = table;
		f->rsvd[l][PAGING_RSVD_LARGE] = paging_large_ok(f, l)
			? base | PAGING_BITS(f->shift[l] - 1, LARGE_ALIGN_RSVD_LO)
			: table;
	}
}

static void init_pae(struct paging_format *f, bool nxe, unsigned maxphyaddr)
{
	static const unsigned bits[] = { INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_PAE_PDPT };

	f->mode = PAGING_PAE;
	f->name = "PAE";
	set_geometry(f, PAGING_LEVELS_PAE, bits);
	f->large_levels = 1u << PAGING_LEVEL_PDE;
	/* PAE: bits 62:M are reserved (not ignored as in IA-32e), SDM §4.4.2. */
	init_64bit_entries(f, nxe, maxphyaddr, PAGING_BITS(PTE_BIT_NX - 1, maxphyaddr));
	/* PDPTEs: registers loaded at the CR3 write; XD is reserved even with NXE (table 4-8). */
	f->rsvd[PAGING_LEVEL_PDPTE][PAGING_RSVD_TABLE] =
		PAE_PDPTE_RSVD_LOW | PAGING_BITS(PTE_BIT_NX, maxphyaddr);
	f->rsvd[PAGING_LEVEL_PDPTE][PAGING_RSVD_LARGE] =
		f->rsvd[PAGING_LEVEL_PDPTE][PAGING_RSVD_TABLE];
	f->root_mask = CR3_ADDR_MASK_PAE;
}

/* The highest bit of the physical-address field in IA-32e entries: bits 62:52 are ignored. */
#define IA32E_ADDR_FIELD_HI 51

static void init_ia32e(struct paging_format *f, bool la57, bool nxe, unsigned maxphyaddr,
		       bool pdpe1gb)
{
	static const unsigned bits[] = { INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_64,
					 INDEX_BITS_64, INDEX_BITS_64 };

	f->mode = la57 ? PAGING_5LEVEL : PAGING_4LEVEL;
	f->name = la57 ? "5-level" : "4-level";
	set_geometry(f, la57 ? PAGING_LEVELS_5LEVEL : PAGING_LEVELS_4LEVEL, bits);
	f->large_levels = (1u << PAGING_LEVEL_PDE) | (pdpe1gb ? 1u << PAGING_LEVEL_PDPTE : 0);
	init_64bit_entries(f, nxe, maxphyaddr, PAGING_BITS(IA32E_ADDR_FIELD_HI, maxphyaddr));
	f->root_mask = f->addr_mask;
}

const char *paging_format_derive(struct paging_format *f, uint64_t cr0, uint64_t cr4,
				 uint64_t efer, unsigned maxphyaddr, bool pdpe1gb)
{
	memset(f, 0, sizeof *f);
	if (!(cr0 & CR0_PG))
		return "paging is disabled (CR0.PG = 0)";
	if (!(cr0 & CR0_PE))
		return "CR0.PG = 1 requires CR0.PE = 1";
	if (maxphyaddr < MAXPHYADDR_MIN || maxphyaddr > MAXPHYADDR_MAX)
		return "MAXPHYADDR must be between 32 and 52";

	/* With PG=1 the CPU makes LMA = LME; a caller may or may not have set LMA already. */
	bool ia32e = (efer & EFER_LME) != 0;
	if ((efer & EFER_LMA) && !ia32e)
		return "EFER.LMA = 1 without EFER.LME";
	if (ia32e && !(cr4 & CR4_PAE))
		return "IA-32e mode (EFER.LME = 1) requires CR4.PAE = 1";
	if ((cr4 & CR4_PCIDE) && !ia32e)
		return "CR4.PCIDE = 1 is allowed only in IA-32e mode";

	if (!(cr4 & CR4_PAE))
		init_2level(f, (cr4 & CR4_PSE) != 0, maxphyaddr);
	else if (!ia32e)
		init_pae(f, (efer & EFER_NXE) != 0, maxphyaddr);   /* CR4.LA57 is ignored here */
	else
		init_ia32e(f, (cr4 & CR4_LA57) != 0, (efer & EFER_NXE) != 0, maxphyaddr, pdpe1gb);
	return NULL;
}

bool paging_format_init(struct paging_format *f, uint64_t cr0, uint64_t cr4, uint64_t efer,
			unsigned maxphyaddr, bool pdpe1gb)
{
	return paging_format_derive(f, cr0, cr4, efer, maxphyaddr, pdpe1gb) == NULL;
}

const char *paging_format_check(const struct paging_format *f)
{
	/* Bits a reserved mask may never claim: the ones every present entry may use. */
	const uint64_t always_defined = PTE_P | PTE_PWT | PTE_PCD;

	if (f->levels < PAGING_LEVELS_2LEVEL || f->levels > PAGING_MAX_LEVELS)
		return "levels out of range";
	if (f->entry_size != ENTRY_SIZE_32 && f->entry_size != ENTRY_SIZE_64)
		return "entry size is neither 4 nor 8";
	if ((f->entry_size == ENTRY_SIZE_32) != (f->mode == PAGING_2LEVEL))
		return "only 2-level paging has 4-byte entries";
	if (f->shift[0] != PAGE_SHIFT_4K)
		return "level 0 does not start at bit 12";
	for (unsigned l = 0; l < f->levels; l++) {
		if (l + 1 < f->levels && f->shift[l + 1] != f->shift[l] + f->index_bits[l])
			return "level index fields are not contiguous";
		if ((UINT64_C(1) << f->index_bits[l]) * f->entry_size > PAGE_SIZE_4K)
			return "a table does not fit in one 4 KiB frame";
		for (unsigned k = PAGING_RSVD_TABLE; k <= PAGING_RSVD_LARGE; k++) {
			if (f->rsvd[l][k] & always_defined)
				return "a reserved mask covers P, PWT or PCD";
			if (l != PAGING_LEVEL_PDPTE || f->mode != PAGING_PAE) {
				if (f->rsvd[l][k] & (PTE_RW | PTE_US | PTE_A))
					return "a reserved mask covers R/W, U/S or A";
			}
		}
		if (f->rsvd[l][PAGING_RSVD_TABLE] & f->addr_mask)
			return "a reserved mask covers table-address bits";
		if (paging_large_ok(f, l) &&
		    (f->rsvd[l][PAGING_RSVD_LARGE] & f->addr_mask & ~(paging_level_size(f, l) - 1)))
			return "a large-page reserved mask covers page-address bits";
		if (paging_large_ok(f, l) && (f->rsvd[l][PAGING_RSVD_LARGE] & PTE_PS))
			return "a large-page reserved mask covers PS";
	}
	if (f->shift[f->levels - 1] + f->index_bits[f->levels - 1] != f->va_bits)
		return "index fields do not add up to va_bits";
	/* Only PDEs (2 MiB / 4 MiB) and IA-32e PDPTEs (1 GiB) can map pages. */
	unsigned may_be_large = (1u << PAGING_LEVEL_PDE) |
		(f->mode >= PAGING_4LEVEL ? 1u << PAGING_LEVEL_PDPTE : 0);
	if (f->large_levels & ~may_be_large)
		return "large pages claimed at a level that cannot map pages";
	if (f->addr_mask & PAGE_OFFSET_MASK_4K)
		return "address mask covers bits 11:0";
	if (f->maxphyaddr < PHYS_ADDR_BITS_32 || f->maxphyaddr > MAXPHYADDR_MAX ||
	    (f->addr_mask >> f->maxphyaddr) != 0)
		return "address mask reaches beyond MAXPHYADDR";
	if (f->nx && f->mode == PAGING_2LEVEL)
		return "NX in 2-level paging";
	if (f->pse36_mask && f->mode != PAGING_2LEVEL)
		return "PSE-36 outside 2-level paging";
	if ((f->pse36_mask & f->rsvd[PAGING_LEVEL_PDE][PAGING_RSVD_LARGE]) != 0)
		return "PSE-36 address bits are also reserved";
	if (f->root_mask & ~(f->mode == PAGING_PAE ? CR3_ADDR_MASK_PAE : f->addr_mask))
		return "CR3 root mask wider than the address field";
	if (f->name == NULL)
		return "no name";
	return NULL;
}
