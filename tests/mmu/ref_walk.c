/* ref_walk.c — a deliberately naive second x86 page walker, used only by the tests.
 *
 * It is written from the SDM prose, not from walk.c: it recurses level by level, reads entries
 * byte by byte, decides reserved bits one bit at a time with the rules of SDM §4.3 / §4.4.2 /
 * §4.5.4 spelled out per mode, and decides access rights with the case list of §4.6. It is slow
 * and simple on purpose. It uses no function or mask from mmu/.
 *
 * Conventions that mirror walk.h's documented choices (they are choices, not SDM facts):
 * A/D are set only after a successful, permitted translation (by read-modify-write of memory
 * in walk order); an entry outside memory is a reserved-bit fault; the VA of 32-bit modes is
 * taken modulo 2^32.
 */
#include "mmu_test.h"

#include <string.h>

static bool bit(uint64_t v, unsigned n)
{
	return (v >> n) & 1;
}

/* Little-endian load of n bytes. */
static uint64_t load(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void store(uint8_t *p, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int ref_levels(const struct ref_machine *m)
{
	bool pg = bit(m->cr0, 31), pe = bit(m->cr0, 0);
	bool pae = bit(m->cr4, 5), lme = bit(m->efer, 8), lma = bit(m->efer, 10);
	bool la57 = bit(m->cr4, 12), pcide = bit(m->cr4, 17);
	if (!pg || !pe || m->maxphyaddr < 32 || m->maxphyaddr > 52)
		return 0;
	if (lma && !lme)
		return 0;
	if (lme && !pae)
		return 0;
	if (pcide && !lme)
		return 0;
	if (!pae)
		return 2;
	if (!lme)
		return 3;
	return la57 ? 5 : 4;
}

/* 32-bit paging physical-address width for 4 MiB pages. */
static unsigned pse36_width(const struct ref_machine *m)
{
	return m->maxphyaddr > 40 ? 40 : m->maxphyaddr;
}

bool ref_load(struct ref_machine *m)
{
	int levels = ref_levels(m);
	if (levels == 0)
		return false;
	if (levels >= 4) {
		uint64_t cr3 = m->cr3;
		if (bit(m->cr4, 17))
			cr3 &= ~(1ull << 63);
		for (unsigned b = m->maxphyaddr; b < 64; b++)
			if (bit(cr3, b))
				return false;
	}
	if (levels != 3)
		return true;
	uint64_t pdpt = m->cr3 & 0xFFFFFFE0u;
	if (pdpt + 32 > m->mem_size)
		return false;
	uint64_t regs[4];
	for (int i = 0; i < 4; i++) {
		uint64_t e = load(m->mem + pdpt + 8 * i, 8);
		if (bit(e, 0)) {
			/* Table 4-8: bits 2:1, 8:5 and 63:M are reserved. */
			if (bit(e, 1) || bit(e, 2))
				return false;
			for (unsigned b = 5; b <= 8; b++)
				if (bit(e, b))
					return false;
			for (unsigned b = m->maxphyaddr; b <= 63; b++)
				if (bit(e, b))
					return false;
		}
		regs[i] = e;
	}
	memcpy(m->pdpte, regs, sizeof regs);
	return true;
}

/* SDM reserved-bit rules. `large` = this entry maps a page with PS=1. */
static bool reserved(const struct ref_machine *m, int levels, int level, bool large, uint64_t e)
{
	unsigned M = m->maxphyaddr;
	bool nxe = bit(m->efer, 11);
	for (unsigned b = 0; b < 64; b++) {
		if (!bit(e, b))
			continue;
		if (levels == 2) {
			/* Only a 4 MiB PDE has reserved bits: 21, and PSE-36 bits giving
			 * physical bits >= min(M, 40). */
			if (large && b == 21)
				return true;
			if (large && b >= 13 && b <= 20 && (b - 13 + 32) >= pse36_width(m))
				return true;
			continue;
		}
		if (levels == 3) {
			/* PAE PDE / PTE */
			if (b >= M && b <= 62)
				return true;
			if (b == 63 && !nxe)
				return true;
			if (large && b >= 13 && b <= 20)
				return true;
			continue;
		}
		/* IA-32e (4/5-level) */
		if (b >= M && b <= 51)
			return true;
		if (b == 63 && !nxe)
			return true;
		if (b == 7 && level >= 3)                     /* PS in PML4E / PML5E */
			return true;
		if (b == 7 && level == 2 && !m->pdpe1gb)      /* PS in PDPTE w/o 1G pages */
			return true;
		if (large && level == 2 && b >= 13 && b <= 29)
			return true;
		if (large && level == 1 && b >= 13 && b <= 20)
			return true;
	}
	return false;
}

struct walk_state {
	struct ref_machine *m;
	int levels;
	uint64_t va;
	bool w_all, u_all, xd_any;
	struct ref_result *out;
};

/* Result codes of one level. */
enum { STEP_LEAF, STEP_NOT_PRESENT, STEP_RESERVED, STEP_OOB };

static unsigned index_lo(int levels, int level)
{
	if (levels == 2)
		return level == 0 ? 12 : 22;
	return 12 + 9 * (unsigned)level;
}

static unsigned index_width(int levels, int level)
{
	if (levels == 2)
		return 10;
	if (levels == 3 && level == 2)
		return 2;
	return 9;
}

static uint64_t table_address(int levels, uint64_t e, unsigned M)
{
	if (levels == 2)
		return e & 0xFFFFF000u;
	uint64_t a = 0;
	for (unsigned b = 12; b < M; b++)
		a |= e & (1ull << b);
	return a;
}

/* Recursive descent: handle the level-`level` table at `table`. */
static int step(struct walk_state *s, int level, uint64_t table)
{
	struct ref_result *o = s->out;
	unsigned esz = s->levels == 2 ? 4 : 8;
	unsigned lo = index_lo(s->levels, level), w = index_width(s->levels, level);
	uint64_t idx = (s->va >> lo) & ((1ull << w) - 1);
	uint64_t epa = table + idx * esz;

	o->fault_level = (unsigned)level;
	if (epa + esz > s->m->mem_size)
		return STEP_OOB;
	uint64_t e = load(s->m->mem + epa, esz);
	o->entry_pa[o->nreads++] = epa;
	if (!bit(e, 0))
		return STEP_NOT_PRESENT;

	bool ps = bit(e, 7);
	bool large;
	if (level == 0)
		large = false;
	else if (s->levels == 2)
		large = ps && bit(s->m->cr4, 4);
	else if (level == 1)
		large = ps;
	else if (level == 2 && s->levels >= 4)
		large = ps && s->m->pdpe1gb;
	else
		large = false;

	if (reserved(s->m, s->levels, level, large, e))
		return STEP_RESERVED;

	s->w_all = s->w_all && bit(e, 1);
	s->u_all = s->u_all && bit(e, 2);
	s->xd_any = s->xd_any || (s->levels > 2 && bit(e, 63));

	if (level == 0 || large) {
		unsigned shift = lo;
		uint64_t base;
		if (s->levels == 2 && large) {
			base = e & 0xFFC00000u;
			for (unsigned b = 13; b <= 20; b++)
				if (bit(e, b))
					base |= 1ull << (b - 13 + 32);
		} else {
			base = table_address(s->levels, e, s->m->maxphyaddr) & ~((1ull << shift) - 1);
		}
		o->pa = base + (s->va & ((1ull << shift) - 1));
		o->page_shift = shift;
		o->leaf_level = (unsigned)level;
		o->global = bit(e, 8) && bit(s->m->cr4, 7);
		o->dirty = bit(e, 6);
		return STEP_LEAF;
	}
	return step(s, level - 1, table_address(s->levels, e, s->m->maxphyaddr));
}

/* Which accesses the requesting mode may make (SDM §4.6, case by case). */
static unsigned allowed(const struct ref_machine *m, int levels, bool user, bool implicit,
			bool ac, bool w_all, bool u_all, bool xd_any)
{
	bool supervisor = implicit || !user;
	bool wp = bit(m->cr0, 16), smep = bit(m->cr4, 20), smap = bit(m->cr4, 21);
	bool nx_on = levels > 2 && bit(m->efer, 11);
	bool no_exec = nx_on && xd_any;
	bool r = false, wr = false, x = false;

	if (!supervisor) {
		r = u_all;
		wr = u_all && w_all;
		x = u_all && !no_exec;
	} else if (!u_all) {
		/* supervisor-mode address */
		r = true;
		wr = wp ? w_all : true;
		x = !no_exec;
	} else {
		/* user-mode address, supervisor access */
		bool data_ok = !smap || (ac && !implicit);
		r = data_ok;
		wr = data_ok && (wp ? w_all : true);
		x = !smep && !no_exec;
	}
	return (r ? 1u : 0u) | (wr ? 2u : 0u) | (x ? 4u : 0u);
}

void ref_walk(struct ref_machine *m, uint64_t va, enum mmu_access access, bool user,
	      bool implicit, bool ac, bool set_ad, struct ref_result *out)
{
	memset(out, 0, sizeof *out);
	int levels = ref_levels(m);
	struct walk_state s = { .m = m, .levels = levels, .w_all = true, .u_all = true,
				.xd_any = false, .out = out };
	bool user_mode = user && !implicit;
	uint32_t ec_access = (access == MMU_WRITE ? 2u : 0u) | (user_mode ? 4u : 0u);
	if (access == MMU_FETCH && (bit(m->cr4, 20) || (levels > 2 && bit(m->efer, 11))))
		ec_access |= 16u;

	if (levels <= 3) {
		va &= 0xFFFFFFFFu;
	} else {
		unsigned vab = levels == 4 ? 48 : 57;
		for (unsigned b = vab; b < 64; b++) {
			if (bit(va, b) != bit(va, vab - 1)) {
				out->gp = true;
				out->fault_level = (unsigned)levels;
				return;
			}
		}
	}
	s.va = va;

	int rc;
	if (levels == 3) {
		uint64_t pdpte = m->pdpte[(va >> 30) & 3];
		if (!bit(pdpte, 0)) {
			out->fault_level = 2;
			out->error_code = ec_access;
			return;
		}
		rc = step(&s, 1, table_address(3, pdpte, m->maxphyaddr));
	} else {
		uint64_t root;
		if (levels == 2)
			root = m->cr3 & 0xFFFFF000u;
		else
			root = table_address(levels, m->cr3, m->maxphyaddr);
		rc = step(&s, levels - 1, root);
	}

	switch (rc) {
	case STEP_NOT_PRESENT:
		out->error_code = ec_access;
		return;
	case STEP_RESERVED:
		out->error_code = ec_access | 1u | 8u;
		return;
	case STEP_OOB:
		out->error_code = ec_access | 1u | 8u;
		out->oob = true;
		return;
	default:
		break;
	}

	out->writable = s.w_all;
	out->user = s.u_all;
	out->nx = levels > 2 && bit(m->efer, 11) && s.xd_any;
	out->perms = allowed(m, levels, user, implicit, ac, s.w_all, s.u_all, s.xd_any);
	if (!(out->perms & (1u << access))) {
		out->fault_level = out->leaf_level;
		out->error_code = ec_access | 1u;
		return;
	}
	out->ok = true;
	if (set_ad) {
		unsigned esz = levels == 2 ? 4 : 8;
		for (unsigned i = 0; i < out->nreads; i++) {
			uint8_t *p = m->mem + out->entry_pa[i];
			uint64_t now = load(p, esz);
			uint64_t want = now | (1u << 5);
			if (i == out->nreads - 1 && access == MMU_WRITE)
				want |= 1u << 6;
			if (want != now) {
				store(p, esz, want);
				out->nwrites++;
			}
			if (i == out->nreads - 1)
				out->dirty = bit(want, 6);
		}
	}
}
