/* test_perms.c — exhaustive access-rights matrix: every R/W × U/S × XD combination at every
 * level of a translation (4K and every large-page size), against every control setting (CR0.WP,
 * CR4.SMEP, CR4.SMAP) and request (read/write/fetch × user/supervisor × implicit × EFLAGS.AC).
 * The expectation is computed here from SDM §4.6 directly, independently of walk.c. */
#include "mmu_test.h"

/* SDM §4.6 in a few lines: which accesses are allowed. */
static unsigned expect_perms(bool wp, bool smep, bool smap, bool user, bool implicit, bool ac,
			     bool w_all, bool u_all, bool xd)
{
	bool sup = !user || implicit;
	if (!sup)
		return u_all ? (1u | (w_all ? 2u : 0u) | (xd ? 0u : 4u)) : 0u;
	bool write = w_all || !wp;
	if (!u_all)
		return 1u | (write ? 2u : 0u) | (xd ? 0u : 4u);
	bool data = !smap || (ac && !implicit);
	return (data ? 1u | (write ? 2u : 0u) : 0u) | ((smep || xd) ? 0u : 4u);
}

struct matrix_stats {
	unsigned long walks, allowed, denied;
};

static void run_matrix(enum paging_mode mode, unsigned leaf_level, struct matrix_stats *st)
{
	struct ptb b;
	struct walk_result r;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	if (leaf_level && !paging_large_ok(&b.fmt, leaf_level)) {
		ptb_fini(&b);
		return;
	}
	uint64_t size = paging_level_size(&b.fmt, leaf_level);
	ptb_map(&b, va, (UINT64_C(1) << 32) & ~(size - 1) & b.fmt.addr_mask, leaf_level, PTE_P);
	ptb_load_ok(&b);

	unsigned top = mode == PAGING_PAE ? 1 : b.fmt.levels - 1;
	unsigned nlev = top - leaf_level + 1;
	bool has_nx = mode != PAGING_2LEVEL;
	unsigned bits_per = has_nx ? 3 : 2;
	uint64_t base[PAGING_MAX_LEVELS];
	for (unsigned l = leaf_level; l <= top; l++)
		base[l] = ptb_get(&b, va, l) & ~(PTE_RW | PTE_US | PTE_NX);

	for (unsigned combo = 0; combo < (1u << (bits_per * nlev)); combo++) {
		bool w_all = true, u_all = true, xd = false;
		for (unsigned i = 0; i < nlev; i++) {
			unsigned l = leaf_level + i, c = combo >> (bits_per * i);
			uint64_t e = base[l] | (c & 1 ? PTE_RW : 0) | (c & 2 ? PTE_US : 0) |
				     (has_nx && (c & 4) ? PTE_NX : 0);
			w_all = w_all && (c & 1);
			u_all = u_all && (c & 2);
			xd = xd || (has_nx && (c & 4));
			ptb_set(&b, va, l, e);
		}
		for (unsigned ctl = 0; ctl < 8; ctl++) {
			bool wp = ctl & 1, smep = ctl & 2, smap = ctl & 4;
			b.cfg.cr0 = (b.cfg.cr0 & ~CR0_WP) | (wp ? CR0_WP : 0);
			b.cfg.cr4 = (b.cfg.cr4 & ~(CR4_SMEP | CR4_SMAP)) | (smep ? CR4_SMEP : 0) |
				    (smap ? CR4_SMAP : 0);
			ptb_load_ok(&b);
			for (unsigned rq = 0; rq < 8; rq++) {
				bool user = rq & 1, implicit = rq & 2, ac = rq & 4;
				unsigned want = expect_perms(wp, smep, smap, user, implicit, ac,
							     w_all, u_all, xd);
				for (unsigned acc = 0; acc < 3; acc++) {
					struct walk_req req = { .va = va, .access = acc, .user = user,
								.implicit = implicit, .ac = ac };
					bool ok = mmu_walk(&b.regs, &b.pm, &req, 0, &r, &f);
					st->walks++;
					bool allowed = (want >> acc) & 1;
					if (ok != allowed || (ok && (r.writable != w_all ||
								     r.user != u_all ||
								     r.nx != xd ||
								     r.perms != want))) {
						cr_assert_fail("%s leaf %u combo %#x wp %d smep %d "
							       "smap %d user %d implicit %d ac %d "
							       "access %u: walk %s, want %s "
							       "(perms %#x want %#x)",
							       b.fmt.name, leaf_level, combo, wp,
							       smep, smap, user, implicit, ac, acc,
							       ok ? "ok" : "fault",
							       allowed ? "ok" : "fault",
							       ok ? r.perms : 0, want);
					}
					if (ok) {
						st->allowed++;
						continue;
					}
					st->denied++;
					uint32_t ec = PF_ERR_P |
						(acc == MMU_WRITE ? PF_ERR_W : 0) |
						(user && !implicit ? PF_ERR_U : 0) |
						(acc == MMU_FETCH && (has_nx || smep) ? PF_ERR_I : 0);
					cr_assert_eq(f.error_code, ec, "%s combo %#x acc %u: ec %#x",
						     b.fmt.name, combo, acc, f.error_code);
					cr_assert_eq(f.level, leaf_level);
				}
			}
		}
	}
	ptb_fini(&b);
}

MODE_TEST(perms, matrix_of_rw_us_nx_at_every_level_matches_sdm_rules)
{
	struct matrix_stats st = { 0 };
	for (unsigned leaf = 0; leaf < 3; leaf++)
		run_matrix(mode, leaf, &st);
	cr_assert_gt(st.allowed, 1000);
	cr_assert_gt(st.denied, 1000);
}

MODE_TEST(perms, perms_helper_predicts_every_walk_outcome)
{
	/* For a fixed translation, mmu_walk_perms from a read walk must predict whether a write or
	 * fetch walk of the same mode succeeds (the fill hook relies on it). */
	struct ptb b;
	struct walk_result r, r2;
	struct mmu_fault f;
	uint64_t va = test_va(mode);

	ptb_init_mode(&b, mode);
	b.cfg.cr4 |= CR4_SMEP | CR4_SMAP;
	for (unsigned leafflags = 0; leafflags < 8; leafflags++) {
		uint64_t fl = PTE_P | (leafflags & 1 ? PTE_RW : 0) | (leafflags & 2 ? PTE_US : 0) |
			      ((leafflags & 4) && mode != PAGING_2LEVEL ? PTE_NX : 0);
		ptb_map(&b, va, 0x5000, 0, fl);
		ptb_load_ok(&b);
		for (unsigned rq = 0; rq < 8; rq++) {
			struct walk_req req = { .va = va, .access = MMU_READ, .user = rq & 1,
						.implicit = rq & 2, .ac = rq & 4 };
			/* find any access that succeeds to read perms from */
			unsigned perms = 0;
			bool any = false;
			for (unsigned acc = 0; acc < 3 && !any; acc++) {
				req.access = acc;
				any = mmu_walk(&b.regs, &b.pm, &req, 0, &r, &f);
			}
			if (any)
				perms = r.perms;
			for (unsigned acc = 0; acc < 3; acc++) {
				req.access = acc;
				bool ok = mmu_walk(&b.regs, &b.pm, &req, 0, &r2, &f);
				cr_assert_eq(ok, (perms >> acc) & 1, "flags %#x rq %u acc %u",
					     leafflags, rq, acc);
			}
		}
	}
	ptb_fini(&b);
}
