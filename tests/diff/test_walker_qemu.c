/* test_walker_qemu.c — differential test of the page walker (mmu/walk.c) against QEMU's x86
 * walker inside Unicorn (ARCHITECTURE.md, "Validation" point 2).
 *
 * One Criterion test per paging mode (2-level, PAE, 4-level, 5-level) and privilege (CPL 3,
 * CPL 0). Each runs many random cases. A case is:
 *  - random control registers: CR0.WP, CR4.PSE/PGE/SMEP/SMAP (and LA57 where it is ignored),
 *    EFER.NXE, EFLAGS.AC at CPL 0, random ignored CR3 low bits;
 *  - a random linear address and access (4-byte load, 4-byte store, or a jump to it), and a
 *    fresh random path of page tables for it: at every level the entry may be missing, a table
 *    or a page (4 KiB, 4 MiB with PSE-36, 2 MiB, 1 GiB), with random R/W, U/S, XD, A, D, G,
 *    PWT/PCD/PAT and ignored bits, occasionally a reserved bit or one flipped bit, pages in RAM
 *    or above it; every other entry of every table on the path is random noise, so a walker
 *    that reads the wrong index sees garbage; 4/5-level also get non-canonical addresses;
 *  - the code (mov eax,[rbx] / mov [rbx],eax / jmp rbx) mapped at a linear address in another
 *    top-level entry, through separate tables.
 * mmu_walk decides first (on the same memory and registers), then QEMU executes the access
 * (qemu_x86.c). They must agree on:
 *  - success: the physical address QEMU loaded from, stored to or executed at (also above RAM,
 *    through the unmapped hooks), and the Accessed/Dirty bits it left in every entry of the
 *    walk, which must equal what mmu_walk(WALK_SET_AD) writes;
 *  - #PF: CR2, the error code (P/W/U/RSVD/I, read from QEMU's CPU state — see qemu_x86.h), and
 *    the A bits QEMU left, which pin down the level at which it stopped: QEMU sets A in every
 *    table entry it passed (walk.h documents that difference), our walker in none;
 *  - #GP for a non-canonical address, with no A/D change.
 * Differences from QEMU (those walk.h documents, and what this test found) are accepted only in
 * their exact form, and counted:
 *  - A set by QEMU on a faulting walk: in every table entry it went through, and in a 1 GiB
 *    PDPTE even when that leaf then faults (QEMU sets A before it looks at PS, bits 29:13 or
 *    the access rights). Modelled exactly by qemu_fault_entries.
 *  - A reserved-bit error code without P (newer QEMU): accepted only in that direction (QEMU
 *    lacks P, we have it). The QEMU inside Unicorn 2.1.1 does set P, so this never happens.
 *  - PAE PDPTEs with reserved bits: our MOV to CR3 refuses them (#GP, SDM 4.4.1). QEMU loads
 *    nothing at CR3 time; at walk time it raises a reserved-bit #PF for bits 63:MAXPHYADDR and
 *    ignores bits 2:1 and 8:5. These cases run on QEMU and only its outcome is counted.
 * Not exercised: QEMU re-reading PDPTEs (the tables never change after the CR3 write here),
 * the PSE-36 bits above MAXPHYADDR (QEMU's MAXPHYADDR is 40, the PSE-36 limit), and QEMU
 * mapping 1 GiB pages whatever CPUID.PDPE1GB says (the CPU model has PDPE1GB).
 *
 * The CPU model is Icelake-Server: it has NX, 1 GiB pages, SMEP, SMAP and LA57, and
 * MAXPHYADDR = 40; the walker is configured from its CPUID. Fixed seed; set
 * MMUEMU_DIFF_SEED / MMUEMU_DIFF_CASES to change the seed or the cases per test. The first
 * mismatch stops the test with the seed, the case number and every entry of the walk, in the
 * assertion message (Criterion's TAP mode sends the tests' stdout and stderr to /dev/null).
 * Run the executable without --tap to see per-mode statistics of what the cases reached.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicorn/unicorn.h>

#include "paging.h"
#include "qemu_x86.h"
#include "walk.h"

#define DEFAULT_SEED      UINT64_C(0x6d6d75656d75)   /* "mmuemu" */
#define DEFAULT_CASES     20000u                     /* per mode and privilege */
#define CPU_MODEL         UC_CPU_X86_ICELAKE_SERVER
#define POOL_FRAMES       ((QX_DATA_BASE - QX_SYS_END) / PAGE_SIZE_4K)
#define RAM_ADDR_BITS     25   /* QX_MEM_SIZE = 2^25: flipping a bit >= this leaves RAM */
#define MAX_DATA_OFFSET   0xffc   /* a 4-byte access stays inside its page */
#define NOT_CANONICAL_PCT 3

_Static_assert(QX_MEM_SIZE == UINT64_C(1) << RAM_ADDR_BITS, "RAM_ADDR_BITS must match QX_MEM_SIZE");

/* Percentages of the random choices. */
#define PCT_NOT_PRESENT   6
#define PCT_LARGE         30
#define PCT_RW            75
#define PCT_US_USER       85
#define PCT_US_SUPER      50
#define PCT_NX_NXE        25
#define PCT_NX_NO_NXE     3    /* XD without NXE: reserved */
#define PCT_RSVD          4    /* one bit of the walker's reserved mask for the level */
#define PCT_FLIP          8    /* one random bit flipped (see flip_mask) */
#define PCT_ABOVE_RAM     12   /* leaf page above RAM (the unmapped hooks see it) */
#define PCT_PDPTE_RSVD    3

/* ---- random numbers (splitmix64) ------------------------------------------------------------ */

struct rng { uint64_t s; };

static uint64_t rnd(struct rng *g)
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
static uint64_t below(struct rng *g, uint64_t n) { return rnd(g) % n; }
static bool chance(struct rng *g, unsigned pct) { return below(g, 100) < pct; }

/* A random set bit of mask (0 if mask is 0). */
static uint64_t pick_bit(struct rng *g, uint64_t mask)
{
	unsigned n = (unsigned)__builtin_popcountll(mask);
	if (n == 0)
		return 0;
	unsigned k = (unsigned)below(g, n);
	while (k--)
		mask &= mask - 1;
	return mask & -mask;
}

/* ---- geometry of the modes (from the architectural constants, not from paging.c) ------------ */

struct geom {
	unsigned levels, esz, va_bits;
	unsigned shift[PAGING_MAX_LEVELS], bits[PAGING_MAX_LEVELS];
};

static const struct geom geoms[] = {
	[PAGING_2LEVEL] = { 2, ENTRY_SIZE_32, VA_BITS_32, { PAGE_SHIFT_4K, PDE32_SHIFT },
			    { INDEX_BITS_32, INDEX_BITS_32 } },
	[PAGING_PAE] = { 3, ENTRY_SIZE_64, VA_BITS_32, { PAGE_SHIFT_4K, PDE_SHIFT, PDPTE_SHIFT },
			 { INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_PAE_PDPT } },
	[PAGING_4LEVEL] = { 4, ENTRY_SIZE_64, VA_BITS_4LEVEL,
			    { PAGE_SHIFT_4K, PDE_SHIFT, PDPTE_SHIFT, PML4_SHIFT },
			    { INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_64 } },
	[PAGING_5LEVEL] = { 5, ENTRY_SIZE_64, VA_BITS_5LEVEL,
			    { PAGE_SHIFT_4K, PDE_SHIFT, PDPTE_SHIFT, PML4_SHIFT, PML5_SHIFT },
			    { INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_64, INDEX_BITS_64,
			      INDEX_BITS_64 } },
};

static const char *const mode_names[] = { "2-level", "PAE", "4-level", "5-level" };
static const char *const access_names[] = { "load", "store", "fetch" };

static uint64_t sign_extend(uint64_t va, unsigned bits)
{
	unsigned unused = 64 - bits;
	return (uint64_t)((int64_t)(va << unused) >> unused);
}

/* ---- a case ---------------------------------------------------------------------------------- */

struct path_entry {
	unsigned level;
	uint64_t pa, value;
	char what[64];
};

struct tcase {
	unsigned index;
	enum paging_mode mode;
	bool user;
	struct qx_regs regs;
	enum mmu_access access;
	uint64_t va, code_va;
	bool pdpte_rsvd;   /* PAE: a reserved bit was put in a PDPTE */
	unsigned npath;
	struct path_entry path[PAGING_MAX_LEVELS];
};

struct gen {
	struct rng rng;
	enum paging_mode mode;
	bool user;
	const struct geom *g;
	const struct qx_cpuid *id;
	uint8_t *mem;
	uint64_t used[PAGING_MAX_LEVELS + 1];
	unsigned nused;
};

static uint64_t alloc_frame(struct gen *s)
{
	for (;;) {
		uint64_t pa = QX_SYS_END + below(&s->rng, POOL_FRAMES) * PAGE_SIZE_4K;
		bool dup = false;
		for (unsigned i = 0; i < s->nused; i++)
			dup |= s->used[i] == pa;
		if (!dup) {
			s->used[s->nused++] = pa;
			return pa;
		}
	}
}

static void put(struct gen *s, uint64_t pa, uint64_t v)
{
	paging_store_entry(s->mem + pa, s->g->esz, v);
}

/* Fills a table frame with random entries. */
static void fill_noise(struct gen *s, uint64_t frame)
{
	for (uint64_t off = 0; off < PAGE_SIZE_4K; off += s->g->esz)
		put(s, frame + off, rnd(&s->rng));
}

/* Whether a present level-l entry with PS = 1 maps a page in this mode (CPUID permitting). */
static bool large_capable(const struct gen *s, unsigned l)
{
	if (l == PAGING_LEVEL_PDE)
		return true;   /* 2-level (PS is ignored without CR4.PSE), PAE, IA-32e */
	return l == PAGING_LEVEL_PDPTE && s->mode >= PAGING_4LEVEL && s->id->pdpe1gb;
}

/* Bits one may flip (or set as "reserved") in an entry without letting a correct walk reach
 * memory outside RAM or inside the system and table area, where a store would corrupt later
 * cases: attribute bits 0..11 (not PS where it turns a table into a page or back); bits at or
 * above MAXPHYADDR (reserved, ignored or XD); of large pages the bits from 12 up to the page
 * alignment (PAT, reserved, PSE-36 — PSE-36 only if the base is in RAM, so that flipping one
 * moves the page above 4 GiB); and address bits >= 2^25 (or the page alignment) of a page in
 * RAM, which move it above RAM. A PS bit ignored without CR4.PSE makes the "page" a table in
 * RAM: its address may move only inside the 4 MiB it lies in. */
static uint64_t flip_mask(const struct gen *s, unsigned l, bool leaf, unsigned page_shift,
			  bool base_in_ram, bool ps_ignored)
{
	const unsigned width = s->g->esz * 8, m_bits = s->id->maxphyaddr;
	uint64_t m = PAGING_BITS(PTE_BIT_SOFTW3, PTE_BIT_P);

	if (l != PAGING_LEVEL_PTE && (large_capable(s, l) || leaf))
		m &= ~PTE_PS;
	if (ps_ignored)
		return m | PAGING_BITS(PDE32_BIT_4M_RSVD, PTE_BIT_PAT_LARGE);
	if (width == 64)
		m |= PAGING_BITS(63, m_bits);
	if (!leaf)
		return m;
	if (l != PAGING_LEVEL_PTE) {
		if (s->mode != PAGING_2LEVEL)
			m |= PAGING_BITS(page_shift - 1, PTE_BIT_PAT_LARGE);
		else if (base_in_ram)
			m |= PAGING_BITS(PDE32_BIT_4M_RSVD, PTE_BIT_PAT_LARGE);
		else
			m |= PTE_PAT_LARGE | PDE32_4M_RSVD;
	}
	if (base_in_ram) {
		unsigned lo = page_shift > RAM_ADDR_BITS ? page_shift : RAM_ADDR_BITS;
		m |= PAGING_BITS(width == 64 ? m_bits - 1 : width - 1, lo);
	}
	return m;
}

/* Attribute bits of a present entry. */
static uint64_t random_flags(struct gen *s, const struct tcase *c, unsigned l, bool leaf)
{
	struct rng *g = &s->rng;
	uint64_t e = PTE_P;
	if (chance(g, PCT_RW)) e |= PTE_RW;
	if (chance(g, s->user ? PCT_US_USER : PCT_US_SUPER)) e |= PTE_US;
	if (chance(g, 30)) e |= PTE_A;
	if (chance(g, 30)) e |= PTE_D;
	if (chance(g, 30)) e |= PTE_G;
	e |= rnd(g) & (PTE_PWT | PTE_PCD | PTE_SOFTW1 | PTE_SOFTW2 | PTE_SOFTW3);
	if (leaf && l == PAGING_LEVEL_PTE && chance(g, 20))
		e |= PTE_PAT;
	if (leaf && l != PAGING_LEVEL_PTE && chance(g, 20))
		e |= PTE_PAT_LARGE;
	if (s->g->esz == ENTRY_SIZE_64) {
		bool nxe = (c->regs.efer & EFER_NXE) != 0;
		if (chance(g, nxe ? PCT_NX_NXE : PCT_NX_NO_NXE))
			e |= PTE_NX;
		/* IA-32e: bits 62:52 are ignored (no PKE); in PAE they are reserved */
		if (s->mode >= PAGING_4LEVEL && chance(g, 15))
			e |= rnd(g) & PAGING_BITS(62, 52);
	}
	return e;
}

/* Where the leaf of va at level l points; may rewrite the bits of *va below a 1 GiB page so
 * that the page-offset lands in the data area. */
static uint64_t leaf_base(struct gen *s, unsigned l, uint64_t *va, bool force_ram, bool *in_ram)
{
	const unsigned shift = s->g->shift[l];
	const uint64_t size = UINT64_C(1) << shift;
	*in_ram = force_ram || !chance(&s->rng, PCT_ABOVE_RAM);
	if (*in_ram) {
		if (size > QX_MEM_SIZE) {
			/* 1 GiB page at 0: choose the offset, not the base */
			uint64_t frame = QX_DATA_BASE +
				below(&s->rng, (QX_MEM_SIZE - QX_DATA_BASE) / PAGE_SIZE_4K) * PAGE_SIZE_4K;
			*va = (*va & ~(size - 1)) | frame | (*va & PAGE_OFFSET_MASK_4K);
			return 0;
		}
		return QX_DATA_BASE + below(&s->rng, (QX_MEM_SIZE - QX_DATA_BASE) / size) * size;
	}
	unsigned pa_bits = s->id->maxphyaddr;
	if (s->mode == PAGING_2LEVEL)
		pa_bits = l == PAGING_LEVEL_PTE ? PHYS_ADDR_BITS_32
			: (pa_bits < PSE36_MAXPHYADDR ? pa_bits : PSE36_MAXPHYADDR);
	uint64_t first = (QX_MEM_SIZE + size - 1) / size, n = (UINT64_C(1) << (pa_bits - shift)) - first;
	return (first + below(&s->rng, n)) * size;
}

static void record(struct tcase *c, unsigned l, uint64_t pa, uint64_t v, const char *fmt, ...)
{
	struct path_entry *p = &c->path[c->npath++];
	va_list ap;
	p->level = l;
	p->pa = pa;
	p->value = v;
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof p->what, fmt, ap);
	va_end(ap);
}

/* The code path: tables at QX_CODE_TABLES_PA down to QX_CODE_PA, from top entry at top_pa. */
static void build_code_path(struct gen *s, const struct tcase *c, uint64_t top_pa)
{
	const struct geom *g = s->g;
	uint64_t flags = PTE_P | PTE_RW | (s->user ? PTE_US : 0);   /* no U/S at CPL 0 (SMEP) */
	uint64_t entry_pa = top_pa;
	for (unsigned l = g->levels - 1, k = 0;; l--, k++) {
		bool pae_pdpte = s->mode == PAGING_PAE && l == PAGING_LEVEL_PDPTE;
		uint64_t next = l == PAGING_LEVEL_PTE ? QX_CODE_PA : QX_CODE_TABLES_PA + k * PAGE_SIZE_4K;
		put(s, entry_pa, next | (pae_pdpte ? PTE_P : flags));
		if (l == PAGING_LEVEL_PTE)
			break;
		unsigned idx = (unsigned)((c->code_va >> g->shift[l - 1]) & ((1u << g->bits[l - 1]) - 1));
		entry_pa = next + (uint64_t)idx * g->esz;
	}
}

static void gen_registers(struct gen *s, struct tcase *c)
{
	struct rng *g = &s->rng;
	uint64_t cr4 = 0;

	c->regs.cr0 = CR0_PE | CR0_PG | (chance(g, 50) ? CR0_WP : 0);
	switch (s->mode) {
	case PAGING_2LEVEL:
		cr4 = chance(g, 75) ? CR4_PSE : 0;
		break;
	case PAGING_PAE:
		cr4 = CR4_PAE | (chance(g, 30) ? CR4_PSE : 0);
		break;
	case PAGING_4LEVEL:
		cr4 = CR4_PAE | (chance(g, 30) ? CR4_PSE : 0);
		break;
	case PAGING_5LEVEL:
		cr4 = CR4_PAE | CR4_LA57 | (chance(g, 30) ? CR4_PSE : 0);
		break;
	}
	if (s->mode <= PAGING_PAE && s->id->la57 && chance(g, 15))
		cr4 |= CR4_LA57;   /* ignored outside IA-32e mode */
	if (chance(g, 50)) cr4 |= CR4_PGE;
	if (s->id->smep && chance(g, 35)) cr4 |= CR4_SMEP;
	if (s->id->smap && chance(g, 35)) cr4 |= CR4_SMAP;
	c->regs.cr4 = cr4;
	c->regs.efer = (s->mode >= PAGING_4LEVEL ? EFER_LME : 0) |
		((s->id->nx && chance(g, s->mode == PAGING_2LEVEL ? 30 : 75)) ? EFER_NXE : 0);
	c->regs.ac = !s->user && chance(g, 40);
	c->access = (enum mmu_access)below(g, 3);
}

static void gen_case(struct gen *s, unsigned index, struct tcase *c)
{
	const struct geom *g = s->g;
	struct rng *r = &s->rng;
	const unsigned top = g->levels - 1;
	const unsigned ntop = 1u << g->bits[top];
	struct paging_format fmt;
	unsigned idx[PAGING_MAX_LEVELS], cidx[PAGING_MAX_LEVELS];

	memset(c, 0, sizeof *c);
	c->index = index;
	c->mode = s->mode;
	c->user = s->user;
	s->nused = 0;
	gen_registers(s, c);
	/* our own reserved masks, only to aim the "reserved bit" injections */
	if (!paging_format_init(&fmt, c->regs.cr0, c->regs.cr4, c->regs.efer, s->id->maxphyaddr,
				s->id->pdpe1gb))
		memset(&fmt, 0, sizeof fmt);

	/* Linear addresses: the test's, and the code's in another top-level entry. */
	for (unsigned l = 0; l < g->levels; l++) {
		idx[l] = (unsigned)below(r, 1u << g->bits[l]);
		cidx[l] = (unsigned)below(r, 1u << g->bits[l]);
	}
	cidx[top] = (idx[top] + 1 + (unsigned)below(r, ntop - 1)) % ntop;
	if (cidx[top] == 0)
		cidx[PAGING_LEVEL_PTE] |= 1;   /* the harness cannot run code at linear address 0 */
	uint64_t off = c->access == MMU_FETCH ? below(r, PAGE_SIZE_4K / QX_SLOT_SIZE) * QX_SLOT_SIZE
					      : below(r, MAX_DATA_OFFSET + 1);
	c->va = off;
	c->code_va = 0;
	for (unsigned l = 0; l < g->levels; l++) {
		c->va |= (uint64_t)idx[l] << g->shift[l];
		c->code_va |= (uint64_t)cidx[l] << g->shift[l];
	}
	if (g->va_bits > VA_BITS_32) {
		c->va = sign_extend(c->va, g->va_bits);
		c->code_va = sign_extend(c->code_va, g->va_bits);
		if (chance(r, NOT_CANONICAL_PCT))
			c->va ^= PAGING_BIT(g->va_bits + below(r, 64 - g->va_bits));
	}
	if (c->access == MMU_FETCH && c->va == 0)
		c->va = QX_SLOT_SIZE;   /* nor jump to it */

	/* The top table (PAE: a 32-byte PDPT anywhere in a frame) and CR3 with random ignored bits. */
	uint64_t table;
	if (s->mode == PAGING_PAE) {
		uint64_t frame = alloc_frame(s);
		fill_noise(s, frame);
		table = frame + below(r, PAGE_SIZE_4K / PAE_PDPT_BYTES) * PAE_PDPT_BYTES;
		for (unsigned i = 0; i < PAE_NR_PDPTE; i++) {   /* reserved-free PDPTE noise */
			uint64_t v = chance(r, 50) ? (rnd(r) & ~PTE_P)
				: (QX_SYS_END + below(r, POOL_FRAMES) * PAGE_SIZE_4K) | PTE_P |
				  (rnd(r) & (PTE_PWT | PTE_PCD | PAGING_BITS(11, 9)));
			put(s, table + i * ENTRY_SIZE_64, v);
		}
		c->regs.cr3 = table | below(r, PAE_PDPT_BYTES);
	} else {
		table = alloc_frame(s);
		fill_noise(s, table);
		c->regs.cr3 = table | below(r, PAGE_SIZE_4K);
	}
	build_code_path(s, c, table + (uint64_t)cidx[top] * g->esz);

	/* The test path, top down. */
	for (unsigned l = top;; l--) {
		uint64_t epa = table + (uint64_t)idx[l] * g->esz, e;
		if (s->mode == PAGING_PAE && l == PAGING_LEVEL_PDPTE) {
			if (chance(r, PCT_NOT_PRESENT)) {
				e = rnd(r) & ~PTE_P;
				put(s, epa, e);
				record(c, l, epa, e, "PDPTE not present");
				return;
			}
			table = alloc_frame(s);
			fill_noise(s, table);
			e = table | PTE_P | (rnd(r) & (PTE_PWT | PTE_PCD | PAGING_BITS(11, 9)));
			if (chance(r, PCT_PDPTE_RSVD)) {
				e |= pick_bit(r, PAE_PDPTE_RSVD_LOW | PAGING_BITS(63, s->id->maxphyaddr));
				c->pdpte_rsvd = true;
			}
			put(s, epa, e);
			record(c, l, epa, e, "PDPTE -> table%s", c->pdpte_rsvd ? " +reserved bit" : "");
			continue;
		}
		if (chance(r, PCT_NOT_PRESENT)) {
			e = rnd(r) & ~PTE_P;
			if (g->esz == ENTRY_SIZE_32)
				e = (uint32_t)e;
			put(s, epa, e);
			record(c, l, epa, e, "not present");
			return;
		}
		const bool leaf = l == PAGING_LEVEL_PTE || (large_capable(s, l) && chance(r, PCT_LARGE));
		const unsigned shift = g->shift[l];
		uint64_t flags = random_flags(s, c, l, leaf);
		const char *kind;
		bool base_in_ram = false, ps_ignored = false;
		if (leaf) {
			/* 2-level without CR4.PSE: PS is ignored and the "page" is a table in RAM */
			ps_ignored = s->mode == PAGING_2LEVEL && l != PAGING_LEVEL_PTE &&
				     !(c->regs.cr4 & CR4_PSE);
			uint64_t base = leaf_base(s, l, &c->va, ps_ignored, &base_in_ram);
			if (l == PAGING_LEVEL_PTE) {
				e = base | flags;
				kind = "4K page";
			} else if (s->mode == PAGING_2LEVEL) {
				e = (base & PAGING_BITS(31, PAGE_SHIFT_4M)) | flags | PTE_PS |
				    (((base >> PDE32_PSE36_ADDR_BIT) << PDE32_BIT_PSE36_LO) & PDE32_PSE36_MASK);
				kind = ps_ignored ? "PS=1, ignored: table in data area" : "4M page";
			} else {
				e = base | flags | PTE_PS;
				kind = l == PAGING_LEVEL_PDE ? "2M page" : "1G page";
			}
		} else {
			table = alloc_frame(s);
			fill_noise(s, table);
			e = table | flags;
			kind = "table";
		}
		const uint64_t safe = flip_mask(s, l, leaf, shift, base_in_ram, ps_ignored);
		char extra[32] = "";
		if (chance(r, PCT_RSVD) && fmt.levels) {
			bool large = (fmt.large_levels >> l) & (unsigned)(e >> PTE_BIT_PS) & 1u;
			uint64_t b = pick_bit(r, fmt.rsvd[l][large] & safe);
			if (b) {
				e |= b;
				snprintf(extra, sizeof extra, " +rsvd bit %d", __builtin_ctzll(b));
			}
		}
		if (chance(r, PCT_FLIP)) {
			uint64_t b = pick_bit(r, safe);
			e ^= b;
			snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " ^bit %d",
				 __builtin_ctzll(b));
		}
		if (g->esz == ENTRY_SIZE_32)
			e = (uint32_t)e;
		put(s, epa, e);
		record(c, l, epa, e, "%s%s", kind, extra);
		if (leaf)
			return;
	}
}

/* ---- comparison ------------------------------------------------------------------------------ */

struct stats {
	unsigned cases, ok_ram, ok_above, gp;
	unsigned np[PAGING_MAX_LEVELS], rsvd[PAGING_MAX_LEVELS], prot[PAGING_MAX_LEVELS];
	unsigned leaf[PAGING_MAX_LEVELS], access[3];
	unsigned qemu_a_on_fault;     /* faults after which QEMU had set A bits (walk.h) */
	unsigned qemu_a_on_1g_leaf;   /* ... among them in the faulting 1 GiB PDPTE itself */
	unsigned rsvd_code_no_p;      /* reserved-bit #PF whose QEMU error code lacks P (walk.h) */
	unsigned pdpte_rsvd, pdpte_rsvd_qemu_pf, pdpte_rsvd_qemu_ok;
	unsigned error_codes_compared;
};

struct verdict {
	bool ours_ok;
	bool qemu_ran;
	struct walk_result r;
	struct mmu_fault f;
	struct qx_obs o;
	uint64_t e0[PAGING_MAX_LEVELS], e_ours[PAGING_MAX_LEVELS], e_want[PAGING_MAX_LEVELS],
		 e_qemu[PAGING_MAX_LEVELS];
	char why[256];
};

static uint64_t load(const uint8_t *mem, uint64_t pa, unsigned esz)
{
	return paging_load_entry(mem + pa, esz);
}

static void print_entry_bits(FILE *out, uint64_t e, unsigned esz)
{
	static const struct { uint64_t bit; const char *name; } names[] = {
		{ PTE_P, "P" }, { PTE_RW, "RW" }, { PTE_US, "US" }, { PTE_PWT, "PWT" },
		{ PTE_PCD, "PCD" }, { PTE_A, "A" }, { PTE_D, "D" }, { PTE_PS, "PS/PAT" },
		{ PTE_G, "G" }, { PTE_NX, "XD" },
	};
	fprintf(out, "%0*" PRIx64 " [", esz * 2, e);
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (e & names[i].bit)
			fprintf(out, " %s", names[i].name);
	fprintf(out, " ]");
}

static void report(FILE *out, uint64_t seed, const struct tcase *c, const struct verdict *v,
		   const struct qx *q)
{
	const unsigned esz = geoms[c->mode].esz;
	char buf[64];

	fprintf(out, "\n=== walker-vs-qemu MISMATCH: %s\n", v->why);
	fprintf(out, "seed %#" PRIx64 " (MMUEMU_DIFF_SEED), case %u, mode %s, CPL %d, %s of VA %#" PRIx64
		", code at VA %#" PRIx64 "\n", seed, c->index, mode_names[c->mode], c->user ? 3 : 0,
		access_names[c->access], c->va, c->code_va);
	fprintf(out, "CR0 %#" PRIx64 " CR3 %#" PRIx64 " CR4 %#" PRIx64 " EFER %#" PRIx64
		" EFLAGS.AC %d; MAXPHYADDR %u, 1G pages %d\n", c->regs.cr0, c->regs.cr3, c->regs.cr4,
		c->regs.efer, c->regs.ac, qx_cpuid(q)->maxphyaddr, qx_cpuid(q)->pdpe1gb);
	fprintf(out, "path as built (top first):\n");
	for (unsigned i = 0; i < c->npath; i++) {
		const struct path_entry *p = &c->path[i];
		fprintf(out, "  L%u @%#010" PRIx64 " = ", p->level, p->pa);
		print_entry_bits(out, p->value, esz);
		fprintf(out, "  %s\n", p->what);
	}
	if (v->ours_ok) {
		fprintf(out, "mmu_walk: OK pa %#" PRIx64 " (page %#" PRIx64 ", shift %u, leaf L%u), "
			"W %d U %d XD %d, perms %#x\n", v->r.pa, v->r.page_base, v->r.page_shift,
			v->r.leaf_level, v->r.writable, v->r.user, v->r.nx, v->r.perms);
	} else if (v->f.gp) {
		fprintf(out, "mmu_walk: #GP (non-canonical)\n");
	} else {
		fprintf(out, "mmu_walk: #PF at L%u, CR2 %#" PRIx64 ", error %#x (%s)%s\n", v->f.level,
			v->f.cr2, v->f.error_code, mmu_pf_error_str(v->f.error_code, buf, sizeof buf),
			v->f.phys_oob ? ", entry outside RAM" : "");
	}
	fprintf(out, "entries mmu_walk read: value before; after our WALK_SET_AD walk (ours), "
		"expected after QEMU's (want), after QEMU's (qemu):\n");
	for (unsigned i = 0; i < v->r.nreads; i++) {
		fprintf(out, "  L%u @%#010" PRIx64 " = ", v->r.first_level - i, v->r.entry_pa[i]);
		print_entry_bits(out, v->e0[i], esz);
		fprintf(out, "\n      ours ");
		print_entry_bits(out, v->e_ours[i], esz);
		fprintf(out, "\n      want ");
		print_entry_bits(out, v->e_want[i], esz);
		fprintf(out, "\n      qemu ");
		print_entry_bits(out, v->e_qemu[i], esz);
		fprintf(out, "\n");
	}
	static const char *const kinds[] = { "nothing", "data access", "unmapped access", "exception" };
	if (!v->qemu_ran) {
		fprintf(out, "QEMU: not run\n");
		return;
	}
	fprintf(out, "QEMU: %s", kinds[v->o.kind]);
	if (v->o.kind == QX_DATA || v->o.kind == QX_UNMAPPED)
		fprintf(out, " pa %#" PRIx64 " (hook type %d, %u events)", v->o.pa, v->o.mem_type,
			v->o.nevents);
	if (v->o.kind == QX_EXCEPTION)
		fprintf(out, " vector %d, IP %#" PRIx64, v->o.vector, v->o.ip);
	if (v->o.kind == QX_EXCEPTION && v->o.vector == QX_INT_MARKER)
		fprintf(out, " (ran the slot at pa %#" PRIx64 ")", v->o.eax * QX_SLOT_SIZE);
	fprintf(out, ", CR2 %#" PRIx64, v->o.cr2);
	if (v->o.have_error_code)
		fprintf(out, ", error %#x (%s)", v->o.error_code,
			mmu_pf_error_str(v->o.error_code, buf, sizeof buf));
	fprintf(out, ", uc_emu_start: %s\n", v->o.uc_error);
}

/* The entries QEMU leaves after a #PF: A set in every table entry it went through (all entries
 * read before the last), and in an IA-32e 1 GiB PDPTE that passed its table-level reserved
 * check (QEMU sets A there before it looks at PS). */
static void qemu_fault_entries(const struct tcase *c, const struct mmu_regs *regs,
			       const struct verdict *v, uint64_t *want)
{
	for (unsigned i = 0; i < v->r.nreads; i++) {
		want[i] = v->e0[i];
		unsigned l = v->r.first_level - i;
		bool last = i + 1 == v->r.nreads;
		if (!last) {
			want[i] |= PTE_A;
		} else if (c->mode >= PAGING_4LEVEL && l == PAGING_LEVEL_PDPTE &&
			   (v->e0[i] & PTE_P) && (v->e0[i] & PTE_PS) &&
			   paging_large_ok(&regs->fmt, l) &&
			   !(v->e0[i] & regs->fmt.rsvd[l][PAGING_RSVD_TABLE] & ~PTE_PS)) {
			want[i] |= PTE_A;
		}
	}
}

static bool fail(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof v->why, fmt, ap);
	va_end(ap);
	return false;
}

/* Runs case c on both walkers; false (v->why set) on a mismatch. */
static bool check_case(struct qx *q, const struct tcase *c, struct stats *st, struct verdict *v)
{
	const struct qx_cpuid *id = qx_cpuid(q);
	const unsigned esz = geoms[c->mode].esz;
	uint8_t *mem = qx_mem(q);
	struct mmu_phys pm = { mem, QX_MEM_SIZE };
	struct mmu_regs regs;
	const char *why = NULL, *err = NULL;
	struct walk_result r2;
	struct mmu_fault f2;

	memset(v, 0, sizeof *v);
	st->cases++;
	st->access[c->access]++;
	if (!mmu_regs_init(&regs, &pm, c->regs.cr0, c->regs.cr3, c->regs.cr4, c->regs.efer,
			   id->maxphyaddr, id->pdpe1gb, &why)) {
		if (!c->pdpte_rsvd)
			return fail(v, "mmu_regs_init refused the registers: %s", why);
		/* Known difference: our MOV to CR3 would #GP on a reserved PDPTE bit; QEMU loads
		 * nothing at CR3 time. Record what QEMU does, compare nothing. */
		st->pdpte_rsvd++;
		if (!qx_run(q, &c->regs, c->code_va, c->access, c->va, 0, &v->o, &err))
			return fail(v, "harness: %s", err);
		if (v->o.kind == QX_EXCEPTION && v->o.vector == QX_VEC_PF)
			st->pdpte_rsvd_qemu_pf++;
		else
			st->pdpte_rsvd_qemu_ok++;
		return true;
	}

	const struct walk_req req = { .va = c->va, .access = c->access, .user = c->user,
				      .implicit = false, .ac = c->regs.ac };
	v->ours_ok = mmu_walk(&regs, &pm, &req, 0, &v->r, &v->f);
	for (unsigned i = 0; i < v->r.nreads; i++)
		v->e0[i] = load(mem, v->r.entry_pa[i], esz);
	if (v->ours_ok && (why = mmu_walk_check(&regs, &pm, &req, &v->r)) != NULL)
		return fail(v, "mmu_walk_check: %s", why);
	if (!v->ours_ok && v->f.phys_oob)
		return fail(v, "generator bug: the walk left RAM (phys_oob)");

	/* Our A/D updates: walk again with WALK_SET_AD, keep the result, restore the entries. */
	bool ok2 = mmu_walk(&regs, &pm, &req, WALK_SET_AD, &r2, &f2);
	for (unsigned i = 0; i < v->r.nreads; i++) {
		v->e_ours[i] = load(mem, v->r.entry_pa[i], esz);
		paging_store_entry(mem + v->r.entry_pa[i], esz, v->e0[i]);
	}
	if (ok2 != v->ours_ok || (ok2 && r2.pa != v->r.pa))
		return fail(v, "mmu_walk with WALK_SET_AD disagrees with mmu_walk without it");
	if (v->ours_ok)
		memcpy(v->e_want, v->e_ours, sizeof v->e_want);
	else if (v->f.gp)
		memcpy(v->e_want, v->e0, sizeof v->e_want);
	else
		qemu_fault_entries(c, &regs, v, v->e_want);

	/* A store writes back the word already there, so the data area never changes. */
	const bool in_ram = v->ours_ok && v->r.pa >= QX_DATA_BASE &&
			    v->r.pa + sizeof(uint32_t) <= QX_MEM_SIZE;
	const uint32_t store_value = in_ram ? qx_slot_word(v->r.pa) : 0xdeadbeef;
	if (!qx_run(q, &c->regs, c->code_va, c->access, c->va, store_value, &v->o, &err))
		return fail(v, "harness: %s", err);
	v->qemu_ran = true;
	for (unsigned i = 0; i < v->r.nreads; i++)
		v->e_qemu[i] = load(mem, v->r.entry_pa[i], esz);
	const struct qx_obs *o = &v->o;
	if (!o->uc_ok)
		return fail(v, "QEMU stopped with %s", o->uc_error);

	if (v->ours_ok) {
		const uint64_t pa = v->r.pa;
		if (v->r.pa >= QX_MEM_SIZE) {
			if (o->kind != QX_UNMAPPED || o->pa != pa)
				return fail(v, "ours: %s at pa %#" PRIx64 " (above RAM); QEMU did not access it there",
					    access_names[c->access], pa);
		} else if (!in_ram) {
			return fail(v, "generator bug or walker bug: pa %#" PRIx64 " outside the data area", pa);
		} else if (c->access == MMU_FETCH) {
			uint64_t want_ip = c->va + QX_SLOT_CODE_LEN;
			if (geoms[c->mode].va_bits == VA_BITS_32)
				want_ip = (uint32_t)want_ip;
			if (o->kind != QX_EXCEPTION || o->vector != QX_INT_MARKER ||
			    o->eax * QX_SLOT_SIZE != pa || o->ip != want_ip)
				return fail(v, "ours: fetch from pa %#" PRIx64 "; QEMU did not execute that slot", pa);
		} else {
			int type = c->access == MMU_WRITE ? UC_MEM_WRITE : UC_MEM_READ;
			if (o->kind != QX_DATA || o->pa != pa || o->mem_type != type || o->nevents != 1)
				return fail(v, "ours: %s at pa %#" PRIx64 "; QEMU differs",
					    access_names[c->access], pa);
		}
		if (pa >= QX_MEM_SIZE)
			st->ok_above++;
		else
			st->ok_ram++;
		st->leaf[v->r.leaf_level]++;
	} else if (v->f.gp) {
		if (o->kind != QX_EXCEPTION || o->vector != QX_VEC_GP)
			return fail(v, "ours: #GP (non-canonical); QEMU differs");
		st->gp++;
	} else {
		if (o->kind != QX_EXCEPTION || o->vector != QX_VEC_PF)
			return fail(v, "ours: #PF; QEMU did not raise #PF");
		uint64_t cr2 = geoms[c->mode].va_bits == VA_BITS_32 ? (uint32_t)o->cr2 : o->cr2;
		if (cr2 != v->f.cr2)
			return fail(v, "CR2 differs");
		if (o->have_error_code) {
			st->error_codes_compared++;
			uint32_t ours = v->f.error_code;
			if (o->error_code != ours) {
				if ((ours & PF_ERR_RSVD) && o->error_code == (ours & ~PF_ERR_P))
					st->rsvd_code_no_p++;   /* walk.h: QEMU's RSVD code lacks P */
				else
					return fail(v, "#PF error code differs");
			}
		}
		if (v->f.error_code & PF_ERR_RSVD)
			st->rsvd[v->f.level]++;
		else if (v->f.error_code & PF_ERR_P)
			st->prot[v->f.level]++;
		else
			st->np[v->f.level]++;
		for (unsigned i = 0; i < v->r.nreads; i++)
			if (v->e_want[i] != v->e0[i]) {
				st->qemu_a_on_fault++;
				break;
			}
		if (v->r.nreads && v->e_want[v->r.nreads - 1] != v->e0[v->r.nreads - 1])
			st->qemu_a_on_1g_leaf++;
	}
	for (unsigned i = 0; i < v->r.nreads; i++)
		if (v->e_qemu[i] != v->e_want[i])
			return fail(v, "the entries after QEMU's walk (A/D bits) differ at L%u",
				    v->r.first_level - i);
	return true;
}

/* ---- the tests ------------------------------------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void print_stats(FILE *out, const char *name, const struct stats *st, unsigned levels,
			const struct qx *q)
{
	fprintf(out, "[%s] %u cases (load %u, store %u, fetch %u): translated %u in RAM + %u above RAM, "
		"#GP %u\n", name, st->cases, st->access[0], st->access[1], st->access[2], st->ok_ram,
		st->ok_above, st->gp);
	for (unsigned l = levels; l-- > 0;)
		fprintf(out, "[%s]   L%u: leaf %u, #PF not-present %u, reserved %u, protection %u\n",
			name, l, st->leaf[l], st->np[l], st->rsvd[l], st->prot[l]);
	fprintf(out, "[%s] error codes compared: %u (%s)\n", name, st->error_codes_compared,
		qx_error_code_note(q));
	fprintf(out, "[%s] known differences accepted: QEMU set A on a faulting walk %u (in the "
		"faulting 1G PDPTE itself %u); reserved-bit code without P %u; PAE PDPTE with reserved "
		"bits %u (QEMU: #PF %u, no #PF %u)\n", name, st->qemu_a_on_fault,
		st->qemu_a_on_1g_leaf, st->rsvd_code_no_p, st->pdpte_rsvd, st->pdpte_rsvd_qemu_pf,
		st->pdpte_rsvd_qemu_ok);
}

static void run_mode(enum paging_mode mode, bool user)
{
	const uint64_t seed = env_u64("MMUEMU_DIFF_SEED", DEFAULT_SEED);
	const unsigned cases = (unsigned)env_u64("MMUEMU_DIFF_CASES", DEFAULT_CASES);
	const char *err = NULL;
	char name[32];
	struct stats st = { 0 };
	static struct verdict v;
	struct tcase c;

	snprintf(name, sizeof name, "%s CPL%d", mode_names[mode], user ? 3 : 0);
	struct qx *q = qx_new(mode >= PAGING_4LEVEL ? QX_64 : QX_32, user, CPU_MODEL, &err);
	cr_assert(q != NULL, "[%s] Unicorn harness: %s", name, err);
	const struct qx_cpuid *id = qx_cpuid(q);
	if (mode == PAGING_5LEVEL && !id->la57) {
		qx_free(q);
		cr_skip_test("the CPU model has no LA57: 5-level paging is covered by tests/mmu only");
	}
	fprintf(stderr, "[%s] seed %#" PRIx64 ", %u cases; CPU: MAXPHYADDR %u, NX %d, 1G %d, "
		"SMEP %d, SMAP %d, LA57 %d\n", name, seed, cases, id->maxphyaddr, id->nx, id->pdpe1gb,
		id->smep, id->smap, id->la57);

	struct gen s = { .rng = { seed ^ ((uint64_t)(mode * 2 + user) << 56) }, .mode = mode,
			 .user = user, .g = &geoms[mode], .id = id, .mem = qx_mem(q) };
	for (unsigned i = 0; i < cases; i++) {
		gen_case(&s, i, &c);
		if (!check_case(q, &c, &st, &v)) {
			/* Criterion's TAP mode sends the workers' stdout and stderr to /dev/null:
			 * the whole report travels in the assertion message. */
			char *text = NULL;
			size_t len = 0;
			FILE *out = open_memstream(&text, &len);
			cr_assert(out != NULL, "[%s] seed %#" PRIx64 " case %u: %s", name, seed, i, v.why);
			report(out, seed, &c, &v, q);
			print_stats(out, name, &st, geoms[mode].levels, q);
			fclose(out);
			fputs(text, stderr);
			static char msg[1 << 14];   /* cr_assert_fail does not return: free first */
			snprintf(msg, sizeof msg, "%s", text);
			free(text);
			qx_free(q);
			cr_assert_fail("[%s] seed %#" PRIx64 " case %u: %s\n%s", name, seed, i, v.why, msg);
		}
	}
	print_stats(stderr, name, &st, geoms[mode].levels, q);

	/* The random tables must really have reached every kind of outcome. */
	if (cases >= DEFAULT_CASES / 4) {
		const unsigned first = mode == PAGING_PAE ? PAGING_LEVEL_PDPTE : geoms[mode].levels - 1;
		cr_expect(st.ok_ram > cases / 50 && st.ok_above > 0, "[%s] too few translations", name);
		cr_expect(st.leaf[PAGING_LEVEL_PTE] > 0 && st.leaf[PAGING_LEVEL_PDE] > 0,
			  "[%s] 4 KiB and large pages must both be reached", name);
		if (mode >= PAGING_4LEVEL && id->pdpe1gb)
			cr_expect(st.leaf[PAGING_LEVEL_PDPTE] > 0, "[%s] no 1 GiB page reached", name);
		for (unsigned l = 0; l <= first; l++)
			cr_expect(st.np[l] > 0, "[%s] no not-present fault at L%u", name, l);
		for (unsigned l = 0; l <= PAGING_LEVEL_PDE; l++)
			cr_expect(st.prot[l] > 0, "[%s] no protection fault at L%u", name, l);
		if (mode == PAGING_2LEVEL)
			cr_expect(st.rsvd[PAGING_LEVEL_PDE] > 0, "[%s] no reserved-bit fault at L1", name);
		else
			for (unsigned l = 0; l < geoms[mode].levels; l++)
				if (mode != PAGING_PAE || l != PAGING_LEVEL_PDPTE)
					cr_expect(st.rsvd[l] > 0, "[%s] no reserved-bit fault at L%u", name, l);
		if (mode >= PAGING_4LEVEL)
			cr_expect(st.gp > 0, "[%s] no non-canonical address", name);
		cr_expect(qx_error_code_known(q), "[%s] #PF error codes not observable: %s", name,
			  qx_error_code_note(q));
	}
	qx_free(q);
}

Test(walker_vs_qemu, two_level_cpl3) { run_mode(PAGING_2LEVEL, true); }
Test(walker_vs_qemu, two_level_cpl0) { run_mode(PAGING_2LEVEL, false); }
Test(walker_vs_qemu, pae_cpl3) { run_mode(PAGING_PAE, true); }
Test(walker_vs_qemu, pae_cpl0) { run_mode(PAGING_PAE, false); }
Test(walker_vs_qemu, four_level_cpl3) { run_mode(PAGING_4LEVEL, true); }
Test(walker_vs_qemu, four_level_cpl0) { run_mode(PAGING_4LEVEL, false); }
Test(walker_vs_qemu, five_level_cpl3) { run_mode(PAGING_5LEVEL, true); }
Test(walker_vs_qemu, five_level_cpl0) { run_mode(PAGING_5LEVEL, false); }
