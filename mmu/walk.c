/* walk.c — the page walker (see walk.h for the semantics it implements).
 *
 * Algorithm: one loop from the top level down, the same for 2-level, PAE, 4-level and 5-level
 * paging; only regs->fmt (data) differs. Per entry: compute its address from the table base and
 * the VA index, refuse addresses outside modelled memory, load 4 or 8 bytes, then
 *   P = 0                      → not-present fault at this level
 *   entry & rsvd[level][large] → reserved-bit fault (large = PS set where PS maps a page; where
 *                                PS is reserved, rsvd[level][TABLE] contains PS itself)
 *   accumulate R/W, U/S (AND) and XD (OR); stop at a large leaf or at level 0.
 * Then the combined rights are checked by mmu_walk_perms, and only if that passes are A/D set.
 * All faults leave through one exit that assembles the error code, as in QEMU's walker.
 *
 * Invariants: no allocation, no output, no access outside pm; mmu_walk never modifies memory
 * unless it returns true with WALK_SET_AD.
 */
#include "walk.h"

#include <assert.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "paging entries are loaded with memcpy: the host must be little-endian like x86");

/* ---- registers ------------------------------------------------------------------------------- */

static const char *load_pdptes(struct mmu_regs *r, const struct mmu_phys *pm)
{
	const struct paging_format *f = &r->fmt;
	uint64_t v[PAE_NR_PDPTE];

	if (f->mode != PAGING_PAE)
		return NULL;
	uint64_t pdpt = paging_root(f, r->cr3);
	if (pdpt + PAE_PDPT_BYTES > pm->size)
		return "the PAE page-directory-pointer table lies outside physical memory";
	for (unsigned i = 0; i < PAE_NR_PDPTE; i++) {
		v[i] = paging_load_entry(pm->base + pdpt + (uint64_t)i * ENTRY_SIZE_64, ENTRY_SIZE_64);
		if ((v[i] & PTE_P) && (v[i] & f->rsvd[PAGING_LEVEL_PDPTE][PAGING_RSVD_TABLE]))
			return "a present PAE PDPTE has reserved bits set";
	}
	memcpy(r->pdpte, v, sizeof v);
	return NULL;
}

bool mmu_load_pdptes_err(struct mmu_regs *r, const struct mmu_phys *pm, const char **err)
{
	const char *why = load_pdptes(r, pm);
	if (why && err)
		*err = why;
	return why == NULL;
}

bool mmu_load_pdptes(struct mmu_regs *r, const struct mmu_phys *pm)
{
	return mmu_load_pdptes_err(r, pm, NULL);
}

bool mmu_regs_init(struct mmu_regs *r, const struct mmu_phys *pm, uint64_t cr0, uint64_t cr3,
		   uint64_t cr4, uint64_t efer, unsigned maxphyaddr, bool pdpe1gb, const char **err)
{
	const char *why;

	memset(r, 0, sizeof *r);
	why = paging_format_derive(&r->fmt, cr0, cr4, efer, maxphyaddr, pdpe1gb);
	if (why == NULL) {
		if (cr4 & CR4_PCIDE)
			cr3 &= ~CR3_NOFLUSH;   /* an instruction bit, not stored in CR3 */
		r->cr0 = cr0;
		r->cr3 = cr3;
		r->cr4 = cr4;
		r->efer = (efer & EFER_LME) ? efer | EFER_LMA : efer;   /* LMA = LME && PG */
		if (r->fmt.mode >= PAGING_4LEVEL && (cr3 >> r->fmt.maxphyaddr) != 0)
			why = "CR3 has bits set at or above MAXPHYADDR";
		else
			why = load_pdptes(r, pm);
	}
	if (why && err)
		*err = why;
	return why == NULL;
}

/* ---- access rights --------------------------------------------------------------------------- */

/* The rights rule of SDM §4.6, shared by mmu_walk (inlined there) and mmu_walk_perms. */
static inline unsigned access_rights(const struct mmu_regs *regs, const struct walk_req *req,
				     const struct walk_result *r)
{
	const bool user_mode = req->user && !req->implicit;
	const unsigned exec = r->nx ? 0 : MMU_PERM_EXEC;

	if (user_mode) {
		/* User mode: only user-mode pages; writes need R/W at every level. */
		if (!r->user)
			return 0;
		return MMU_PERM_READ | (r->writable ? MMU_PERM_WRITE : 0) | exec;
	}

	/* Supervisor mode: CR0.WP=0 lets it write read-only pages. */
	const unsigned data = MMU_PERM_READ |
		((r->writable || !(regs->cr0 & CR0_WP)) ? MMU_PERM_WRITE : 0);
	if (!r->user)
		return data | exec;
	/* Supervisor access to a user-mode page: SMAP blocks data accesses unless EFLAGS.AC is
	 * set on an explicit access; SMEP blocks fetches. */
	const bool smap_ok = !(regs->cr4 & CR4_SMAP) || (req->ac && !req->implicit);
	return (smap_ok ? data : 0) | ((regs->cr4 & CR4_SMEP) ? 0 : exec);
}

unsigned mmu_walk_perms(const struct mmu_regs *regs, const struct walk_req *req,
			const struct walk_result *r)
{
	return access_rights(regs, req, r);
}

/* ---- the walk -------------------------------------------------------------------------------- */

/* Sets A in every entry the translation used and D in the leaf for a write. Re-reads each entry
 * before the update (a locked read-modify-write on the CPU), so tables that alias one another
 * keep every bit. Returns the number of entries written. */
static unsigned set_accessed_dirty(const struct paging_format *fmt, const struct mmu_phys *pm,
				   struct walk_result *r, bool write)
{
	unsigned writes = 0;
	for (unsigned i = 0; i < r->nreads; i++) {
		uint8_t *p = pm->base + r->entry_pa[i];
		uint64_t want = PTE_A | ((write && i + 1 == r->nreads) ? PTE_D : 0);
		uint64_t cur = paging_load_entry(p, fmt->entry_size);
		if ((cur & want) != want) {
			paging_store_entry(p, fmt->entry_size, cur | want);
			writes++;
		}
	}
	r->dirty = (paging_load_entry(pm->base + r->leaf_pa, fmt->entry_size) & PTE_D) != 0;
	return writes;
}

bool mmu_walk(const struct mmu_regs *regs, const struct mmu_phys *pm, const struct walk_req *req,
	      unsigned flags, struct walk_result *r, struct mmu_fault *f)
{
	const struct paging_format *fmt = &regs->fmt;
	const unsigned esz = fmt->entry_size;
	uint64_t va = req->va;
	unsigned level = fmt->levels - 1;
	uint64_t table = paging_root(fmt, regs->cr3);
	uint64_t e, epa = 0;
	uint64_t and_bits = PTE_RW | PTE_US;   /* R/W and U/S: AND over the levels */
	uint64_t or_bits = 0;                  /* XD: OR over the levels */
	unsigned n = 0;
	unsigned large;
	bool oob = false;
	uint32_t code;

	assert(fmt->levels >= PAGING_LEVELS_2LEVEL);   /* regs from a successful mmu_regs_init */
	if (fmt->va_bits == VA_BITS_32) {
		va = (uint32_t)va;
	} else if (!paging_canonical(fmt, va)) {
		r->nreads = 0;
		r->first_level = level;
		f->cr2 = va;
		f->error_code = 0;
		f->gp = true;
		f->phys_oob = false;
		f->level = fmt->levels;
		return false;
	}

	if (fmt->mode == PAGING_PAE) {
		/* The PDPTE is a register: no memory read, no A bit, no R/W or U/S. */
		e = regs->pdpte[paging_index(fmt, level, va)];
		if (!(e & PTE_P)) {
			code = 0;
			r->first_level = level - 1;
			goto fault;
		}
		table = paging_table_addr(fmt, e);
		level--;
	}
	r->first_level = level;

	for (;;) {
		epa = paging_entry_addr(fmt, table, level, va);
		if (epa + esz > pm->size) {
			oob = true;
			code = PF_ERR_P | PF_ERR_RSVD;
			goto fault;
		}
		e = paging_load_entry(pm->base + epa, esz);
		r->entry_pa[n] = epa;
		r->entry[n] = e;
		n++;
		if (!(e & PTE_P)) {
			code = 0;
			goto fault;
		}
		large = (fmt->large_levels >> level) & (unsigned)(e >> PTE_BIT_PS) & 1u;
		if (e & fmt->rsvd[level][large]) {
			code = PF_ERR_P | PF_ERR_RSVD;
			goto fault;
		}
		and_bits &= e;
		or_bits |= e;
		if (large || level == PAGING_LEVEL_PTE)
			break;
		table = paging_table_addr(fmt, e);
		level--;
	}

	r->nreads = n;
	r->leaf_level = level;
	r->leaf_pa = epa;
	r->page_shift = paging_page_shift(fmt, level);
	r->page_base = paging_leaf_base(fmt, level, e);
	r->pa = r->page_base | (va & (paging_level_size(fmt, level) - 1));
	r->writable = (and_bits & PTE_RW) != 0;
	r->user = (and_bits & PTE_US) != 0;
	r->nx = fmt->nx && (or_bits & PTE_NX);
	r->global = (e & PTE_G) && (regs->cr4 & CR4_PGE);
	r->dirty = (e & PTE_D) != 0;
	r->nwrites = 0;
	r->perms = access_rights(regs, req, r);
	if (!(r->perms & (1u << req->access))) {
		code = PF_ERR_P;
		goto fault;
	}
	if (flags & WALK_SET_AD)
		r->nwrites = set_accessed_dirty(fmt, pm, r, req->access == MMU_WRITE);
	return true;

fault:
	r->nreads = n;
	f->cr2 = va;
	f->gp = false;
	f->phys_oob = oob;
	f->level = level;
	f->error_code = code |
		(req->access == MMU_WRITE ? PF_ERR_W : 0) |
		((req->user && !req->implicit) ? PF_ERR_U : 0) |
		((req->access == MMU_FETCH && (fmt->nx || (regs->cr4 & CR4_SMEP))) ? PF_ERR_I : 0);
	return false;
}

/* ---- checks and messages --------------------------------------------------------------------- */

const char *mmu_walk_check(const struct mmu_regs *regs, const struct mmu_phys *pm,
			   const struct walk_req *req, const struct walk_result *r)
{
	const struct paging_format *fmt = &regs->fmt;
	uint64_t va = fmt->va_bits == VA_BITS_32 ? (uint32_t)req->va : req->va;
	unsigned top_read = fmt->mode == PAGING_PAE ? fmt->levels - 2 : fmt->levels - 1;

	if (r->leaf_level >= fmt->levels)
		return "leaf level out of range";
	if (r->leaf_level != PAGING_LEVEL_PTE && !paging_large_ok(fmt, r->leaf_level))
		return "large leaf at a level that cannot map pages";
	if (r->page_shift != paging_page_shift(fmt, r->leaf_level))
		return "page shift does not match the leaf level";
	uint64_t mask = (UINT64_C(1) << r->page_shift) - 1;
	if (r->page_base & mask)
		return "page base not aligned to the page size";
	if (r->pa != (r->page_base | (va & mask)))
		return "pa is not page base + page offset of va";
	if (r->pa >> fmt->maxphyaddr)
		return "pa at or above 2^MAXPHYADDR";
	if (r->first_level != top_read)
		return "first_level is not the top level read from memory";
	if (r->nreads != r->first_level - r->leaf_level + 1)
		return "nreads does not match the levels walked";
	for (unsigned i = 0; i < r->nreads; i++) {
		if (r->entry_pa[i] + fmt->entry_size > pm->size || r->entry_pa[i] % fmt->entry_size)
			return "an entry address is outside memory or misaligned";
		if (!(r->entry[i] & PTE_P))
			return "a not-present entry was used";
	}
	if (r->leaf_pa != r->entry_pa[r->nreads - 1])
		return "leaf_pa is not the last entry read";
	if (r->perms != mmu_walk_perms(regs, req, r))
		return "perms disagree with mmu_walk_perms";
	if (!(r->perms & (1u << req->access)))
		return "the access is not permitted by the translation it succeeded with";
	if (r->nx && !fmt->nx)
		return "nx reported while NX is not in effect";
	return NULL;
}

static void append(char *buf, size_t len, size_t *pos, const char *s)
{
	if (*pos && *pos + 1 < len)
		buf[(*pos)++] = '|';
	while (*s && *pos + 1 < len)
		buf[(*pos)++] = *s++;
	buf[*pos] = '\0';
}

const char *mmu_pf_error_str(uint32_t error_code, char *buf, size_t len)
{
	size_t pos = 0;
	if (len == 0)
		return buf;
	buf[0] = '\0';
	append(buf, len, &pos, (error_code & PF_ERR_P) ? "P" : "NP");
	append(buf, len, &pos, (error_code & PF_ERR_W) ? "W" : "R");
	append(buf, len, &pos, (error_code & PF_ERR_U) ? "U" : "S");
	if (error_code & PF_ERR_RSVD)
		append(buf, len, &pos, "RSVD");
	if (error_code & PF_ERR_I)
		append(buf, len, &pos, "I");
	if (error_code & PF_ERR_PK)
		append(buf, len, &pos, "PK");
	return buf;
}
