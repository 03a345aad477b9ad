/* test_mrc.c — unit tests of mmu/mrc.c, the one-pass miss-rate curves.
 *
 * The curves must equal, exactly, separate simulations of fully associative LRU TLBs of each
 * size on the same stream. Two independent references are run side by side on random streams
 * of references and invalidations (INVLPG, PCID flushes, full flushes with and without global
 * entries, folded repeats): mmu/tlb.c's own array configured fully associative LRU (one array per
 * page-size class, as the timing model uses it), and a naive list LRU written here. Plus
 * closed-form cases (cyclic sweeps), a hand-worked invalidation case, the observer's event
 * mapping, and argument checks. mrc_check runs after every case.
 */
#include "mrc.h"   /* first: mrc.h compiles on its own */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

#define ERR_LEN 160

static char err[ERR_LEN];

static struct mrc *new_mrc(unsigned max)
{
	struct mrc *m = mrc_new(max, MMU_DTLB, 21, err, sizeof(err));
	cr_assert_not_null(m, "mrc_new: %s", err);
	return m;
}

static void check_free(struct mrc *m)
{
	const char *why = mrc_check(m);
	cr_assert_null(why, "mrc_check: %s", why);
	mrc_free(m);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* ---- naive reference: a list, most recent first, of at most n entries ---------------------- */

struct naive_ent {
	uint64_t vpn;
	unsigned pcid;
	bool global;
};

struct naive {
	unsigned n, used;
	struct naive_ent *e;   /* e[0] most recent */
	uint64_t misses;
};

static void naive_init(struct naive *r, unsigned n)
{
	r->n = n;
	r->used = 0;
	r->misses = 0;
	r->e = calloc(n, sizeof(*r->e));
	cr_assert_not_null(r->e);
}

static void naive_remove_at(struct naive *r, unsigned i)
{
	memmove(&r->e[i], &r->e[i + 1], (r->used - i - 1) * sizeof(*r->e));
	r->used--;
}

static void naive_ref(struct naive *r, uint64_t vpn, unsigned pcid, bool global)
{
	for (unsigned i = 0; i < r->used; i++) {
		if (r->e[i].vpn == vpn && (r->e[i].global || r->e[i].pcid == pcid)) {
			struct naive_ent x = r->e[i];
			naive_remove_at(r, i);
			memmove(&r->e[1], &r->e[0], r->used * sizeof(*r->e));
			r->e[0] = x;
			r->used++;
			return;
		}
	}
	r->misses++;
	if (r->used == r->n)
		r->used--;   /* evict the least recently used */
	memmove(&r->e[1], &r->e[0], r->used * sizeof(*r->e));
	r->e[0] = (struct naive_ent){ vpn, pcid, global };
	r->used++;
}

/* kind 0: page (vpn, pcid) and global; 1: non-global of pcid; 2: non-global; 3: all. */
static void naive_inv(struct naive *r, int kind, uint64_t vpn, unsigned pcid)
{
	for (unsigned i = r->used; i-- > 0;) {
		const struct naive_ent *x = &r->e[i];
		bool drop = kind == 0 ? x->vpn == vpn && (x->global || x->pcid == pcid)
			  : kind == 1 ? !x->global && x->pcid == pcid
			  : kind == 2 ? !x->global : true;
		if (drop)
			naive_remove_at(r, i);
	}
}

/* ---- the differential driver ----------------------------------------------------------------- */

#define NSIZES_TESTED 9
#define SHIFT_2M 21

struct diff {
	unsigned max;
	unsigned nsz;
	unsigned sizes[NSIZES_TESTED];
	struct tlb_array *arr[NSIZES_TESTED][TLB_NSIZES];
	uint64_t arr_misses[NSIZES_TESTED][TLB_NSIZES];
	struct naive nv[NSIZES_TESTED][TLB_NSIZES];
	struct mrc *m;
};

static void diff_init(struct diff *d, unsigned max, const unsigned *sizes, unsigned nsz)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
	d->nsz = nsz;
	d->m = new_mrc(max);
	for (unsigned i = 0; i < nsz; i++) {
		d->sizes[i] = sizes[i];
		for (int s = 0; s < TLB_NSIZES; s++) {
			struct tlb_array_config c = { .entries = sizes[i], .ways = sizes[i],
						      .sizes = TLB_SIZE_BIT(s), .policy = TLB_POLICY_LRU };
			snprintf(c.name, sizeof(c.name), "FA%u", sizes[i]);
			d->arr[i][s] = tlb_array_new(&c, err, sizeof(err));
			cr_assert_not_null(d->arr[i][s], "%s", err);
			naive_init(&d->nv[i][s], sizes[i]);
		}
	}
}

static void diff_fini(struct diff *d)
{
	for (unsigned i = 0; i < d->nsz; i++)
		for (int s = 0; s < TLB_NSIZES; s++) {
			const char *why = tlb_array_check(d->arr[i][s]);
			cr_assert_null(why, "%s", why);
			tlb_array_free(d->arr[i][s]);
			free(d->nv[i][s].e);
		}
	check_free(d->m);
}

static void diff_ref(struct diff *d, enum tlb_size s, uint64_t vpn, unsigned pcid, bool global, unsigned count)
{
	mrc_ref(d->m, s, vpn, pcid, global, count);
	for (unsigned i = 0; i < d->nsz; i++) {
		for (unsigned c = 0; c < count; c++) {
			if (!tlb_array_lookup(d->arr[i][s], vpn, s, pcid)) {
				d->arr_misses[i][s]++;
				struct tlb_entry e = { .vpn = vpn, .pcid = (uint16_t)pcid, .size = (uint8_t)s,
						       .global = global, .valid = true };
				tlb_array_insert(d->arr[i][s], &e, NULL);
			}
			naive_ref(&d->nv[i][s], vpn, pcid, global);
		}
	}
}

static unsigned shift_of(int s) { return s == TLB_4K ? 12 : s == TLB_2M ? SHIFT_2M : 30; }

static void diff_invlpg(struct diff *d, uint64_t va, unsigned pcid)
{
	mrc_inv_addr(d->m, va, pcid);
	for (unsigned i = 0; i < d->nsz; i++)
		for (int s = 0; s < TLB_NSIZES; s++) {
			tlb_array_invlpg(d->arr[i][s], va, pcid);
			naive_inv(&d->nv[i][s], 0, va >> shift_of(s), pcid);
		}
}

static void diff_flush(struct diff *d, int kind, unsigned pcid)
{
	if (kind == 1)
		mrc_inv_pcid(d->m, pcid);
	else
		mrc_inv_all(d->m, kind == 3);
	for (unsigned i = 0; i < d->nsz; i++)
		for (int s = 0; s < TLB_NSIZES; s++) {
			if (kind == 1)
				tlb_array_flush_pcid(d->arr[i][s], pcid, false);
			else
				tlb_array_flush_all(d->arr[i][s], kind == 3);
			naive_inv(&d->nv[i][s], kind, 0, pcid);
		}
}

static void diff_compare(struct diff *d, uint64_t step)
{
	for (unsigned i = 0; i < d->nsz; i++)
		for (int s = 0; s < TLB_NSIZES; s++) {
			uint64_t got = mrc_misses(d->m, (enum tlb_size)s, d->sizes[i]);
			cr_assert_eq(d->arr_misses[i][s], d->nv[i][s].misses,
				     "references disagree at step %llu: tlb.c %llu, naive %llu (N=%u size %d)",
				     (unsigned long long)step, (unsigned long long)d->arr_misses[i][s],
				     (unsigned long long)d->nv[i][s].misses, d->sizes[i], s);
			cr_assert_eq(got, d->arr_misses[i][s],
				     "step %llu: mrc says %llu misses at N=%u (size class %d), LRU TLB had %llu",
				     (unsigned long long)step, (unsigned long long)got, d->sizes[i], s,
				     (unsigned long long)d->arr_misses[i][s]);
		}
	const char *why = mrc_check(d->m);
	cr_assert_null(why, "step %llu: %s", (unsigned long long)step, why);
}

struct stream_params {
	unsigned max;
	unsigned universe;        /* distinct pages per size class */
	unsigned npcid;           /* PCIDs in use (non-global pages) */
	unsigned p_invlpg, p_flush_pcid, p_flush_all, p_flush_global;   /* per 10000 events */
	unsigned p_count;         /* per 100 references: a folded repeat count > 1 */
	bool mixed_sizes;
	bool globals;             /* a range of pages is global */
	uint64_t steps;
	uint64_t seed;
};

/* Random references with locality (a hot set plus a uniform tail) and random invalidations. */
static void run_stream(const struct stream_params *p)
{
	static const unsigned sizes_all[NSIZES_TESTED] = { 1, 2, 3, 5, 8, 13, 31, 0, 0 };
	unsigned sizes[NSIZES_TESTED];
	unsigned nsz = 0;
	for (unsigned i = 0; i < 7 && sizes_all[i] < p->max; i++)
		sizes[nsz++] = sizes_all[i];
	sizes[nsz++] = p->max - 1 ? p->max - 1 : 1;
	sizes[nsz++] = p->max;
	struct diff *d = calloc(1, sizeof(*d));
	cr_assert_not_null(d);
	diff_init(d, p->max, sizes, nsz);
	uint64_t rng = p->seed;
	for (uint64_t step = 1; step <= p->steps; step++) {
		uint64_t r = rng_next(&rng);
		unsigned ev = (unsigned)(r % 10000);
		unsigned pcid = p->npcid > 1 ? (unsigned)((r >> 20) % p->npcid) : 0;
		if (ev < p->p_flush_global) {
			diff_flush(d, 3, 0);
		} else if (ev < p->p_flush_global + p->p_flush_all) {
			diff_flush(d, 2, 0);
		} else if (ev < p->p_flush_global + p->p_flush_all + p->p_flush_pcid) {
			diff_flush(d, 1, pcid);
		} else if (ev < p->p_flush_global + p->p_flush_all + p->p_flush_pcid + p->p_invlpg) {
			uint64_t page = (r >> 32) % p->universe;
			int s = p->mixed_sizes ? (int)((r >> 28) % TLB_NSIZES) : TLB_4K;
			diff_invlpg(d, page << shift_of(s) | ((r >> 40) & 0xfff), pcid);
		} else {
			/* Hot set of max/2 pages most of the time, uniform otherwise. */
			unsigned hot = p->max / 2 ? p->max / 2 : 1;
			uint64_t page = ((r >> 32) & 3) ? (r >> 34) % hot : (r >> 34) % p->universe;
			int s = p->mixed_sizes ? (int)((r >> 28) % TLB_NSIZES) : TLB_4K;
			bool global = p->globals && page % 7 == 3;
			unsigned count = (r >> 8) % 100 < p->p_count ? 2 + (unsigned)((r >> 12) % 5) : 1;
			diff_ref(d, (enum tlb_size)s, page, global ? 0 : pcid, global, count);
		}
		if (step % 997 == 0 || step == p->steps)
			diff_compare(d, step);
	}
	uint64_t refs = 0;
	for (int s = 0; s < TLB_NSIZES; s++)
		refs += mrc_refs(d->m, (enum tlb_size)s);
	cr_assert_gt(refs, p->steps / 3, "the stream made references");
	diff_fini(d);
	free(d);
}

/* ---- closed forms and hand-worked cases ------------------------------------------------------ */

Test(mrc, cyclic_sweep_misses_below_its_length_and_hits_from_it)
{
	/* A cyclic sweep of K pages, R rounds: an LRU TLB of N < K entries misses every reference,
	 * N >= K only the K first touches. */
	const unsigned K = 37, R = 20, max = 64;
	struct mrc *m = new_mrc(max);
	for (unsigned r = 0; r < R; r++)
		for (unsigned k = 0; k < K; k++)
			mrc_ref(m, TLB_4K, 1000 + k, 0, false, 1);
	cr_assert_eq(mrc_refs(m, TLB_4K), (uint64_t)K * R);
	cr_assert_eq(mrc_cold(m, TLB_4K), K);
	for (unsigned n = 1; n <= max; n++)
		cr_assert_eq(mrc_misses(m, TLB_4K, n), n < K ? (uint64_t)K * R : K, "N=%u", n);
	uint64_t curve[65];
	mrc_curve(m, TLB_4K, curve);
	cr_assert_eq(curve[0], (uint64_t)K * R);
	cr_assert_eq(curve[K - 1], (uint64_t)K * R);
	cr_assert_eq(curve[K], K);
	cr_assert_eq(mrc_refs(m, TLB_2M), 0, "other size classes untouched");
	check_free(m);
}

Test(mrc, sweep_longer_than_max_misses_everywhere)
{
	/* Pages pushed below the maximum depth are forgotten: a sweep of max + 1 pages misses at
	 * every size up to max, every round. */
	const unsigned max = 16, K = 17, R = 50;
	struct mrc *m = new_mrc(max);
	for (unsigned r = 0; r < R; r++)
		for (unsigned k = 0; k < K; k++)
			mrc_ref(m, TLB_4K, k, 0, false, 1);
	for (unsigned n = 1; n <= max; n++)
		cr_assert_eq(mrc_misses(m, TLB_4K, n), (uint64_t)K * R, "N=%u", n);
	check_free(m);
}

Test(mrc, invalidated_entry_leaves_a_free_way_not_a_shift)
{
	/* Stack after A B C D (top D): depths D1 C2 B3 A4. A 3-entry TLB holds B C D (A was
	 * evicted by D). INVLPG C leaves it B D and a free way: A still misses there. So C must
	 * become a hole at depth 2 and A stay at depth 4 (plain removal would lift A to depth 3 and
	 * count a hit at N = 3). Then E (cold) fills the free way of N >= 2 without moving B. */
	struct mrc *m = new_mrc(8);
	for (uint64_t v = 1; v <= 4; v++)
		mrc_ref(m, TLB_4K, v, 0, false, 1);   /* A=1 B=2 C=3 D=4 */
	mrc_inv_addr(m, 3ULL << 12, 0);
	mrc_ref(m, TLB_4K, 1, 0, false, 1);       /* A: depth 4 */
	cr_assert_eq(mrc_misses(m, TLB_4K, 3), 5);
	cr_assert_eq(mrc_misses(m, TLB_4K, 4), 4);
	mrc_ref(m, TLB_4K, 5, 0, false, 1);       /* E, cold: A1 D2 B3 hole4 -> E1 A2 D3 B4 */
	mrc_ref(m, TLB_4K, 2, 0, false, 1);       /* B: depth 4 */
	cr_assert_eq(mrc_misses(m, TLB_4K, 3), 7);
	cr_assert_eq(mrc_misses(m, TLB_4K, 4), 5);
	/* C was invalidated: it misses everywhere. */
	mrc_ref(m, TLB_4K, 3, 0, false, 1);
	cr_assert_eq(mrc_misses(m, TLB_4K, 8), 6);
	cr_assert_eq(mrc_cold(m, TLB_4K), 6);
	check_free(m);
}

Test(mrc, hit_below_a_hole_moves_the_free_way_to_its_old_slot)
{
	/* A B C D E, INVLPG D (hole at depth 2): depths E1 hole2 C3 B4 A5. Reference B (depth 4):
	 * N >= 4 hit and keep a free way; N = 2, 3 fill the hole. Now B1 E2 C3 hole4 A5: a cold F
	 * fills the hole at 4 for N >= 4, so A stays at 5 and hits at N = 5 only. */
	struct mrc *m = new_mrc(8);
	for (uint64_t v = 1; v <= 5; v++)
		mrc_ref(m, TLB_4K, v, 0, false, 1);
	mrc_inv_page(m, TLB_4K, 4, 0);
	mrc_ref(m, TLB_4K, 2, 0, false, 1);   /* B at depth 4 */
	mrc_ref(m, TLB_4K, 6, 0, false, 1);   /* F, cold */
	mrc_ref(m, TLB_4K, 1, 0, false, 1);   /* A */
	/* refs 8, cold 6 (A..E, F). B: miss for N < 4. A: depth 5. */
	cr_assert_eq(mrc_misses(m, TLB_4K, 3), 8);
	cr_assert_eq(mrc_misses(m, TLB_4K, 4), 7);
	cr_assert_eq(mrc_misses(m, TLB_4K, 5), 6);
	check_free(m);
}

Test(mrc, folded_repeats_count_as_distance_one)
{
	struct mrc *m = new_mrc(4);
	mrc_ref(m, TLB_4K, 1, 0, false, 5);   /* 1 cold + 4 hits */
	mrc_ref(m, TLB_4K, 2, 0, false, 3);   /* 1 cold + 2 hits */
	mrc_ref(m, TLB_4K, 1, 0, false, 2);   /* depth 2 + 1 hit */
	cr_assert_eq(mrc_refs(m, TLB_4K), 10);
	cr_assert_eq(mrc_misses(m, TLB_4K, 1), 3);
	cr_assert_eq(mrc_misses(m, TLB_4K, 2), 2);
	check_free(m);
}

Test(mrc, global_entries_survive_pcid_and_nonglobal_flushes)
{
	struct mrc *m = new_mrc(8);
	mrc_ref(m, TLB_4K, 10, 1, true, 1);    /* global, filled under PCID 1 */
	mrc_ref(m, TLB_4K, 11, 1, false, 1);
	mrc_ref(m, TLB_4K, 12, 2, false, 1);
	mrc_inv_pcid(m, 1);                    /* drops 11 only */
	mrc_ref(m, TLB_4K, 10, 2, true, 1);    /* global hits from another PCID */
	mrc_ref(m, TLB_4K, 11, 1, false, 1);   /* miss */
	mrc_ref(m, TLB_4K, 12, 2, false, 1);   /* hit */
	cr_assert_eq(mrc_misses(m, TLB_4K, 8), 4);
	mrc_inv_all(m, false);                 /* non-global go */
	mrc_ref(m, TLB_4K, 10, 0, true, 1);    /* hit */
	mrc_ref(m, TLB_4K, 12, 2, false, 1);   /* miss */
	cr_assert_eq(mrc_misses(m, TLB_4K, 8), 5);
	mrc_inv_all(m, true);
	mrc_ref(m, TLB_4K, 10, 0, true, 1);    /* miss */
	cr_assert_eq(mrc_misses(m, TLB_4K, 8), 6);
	check_free(m);
}

/* ---- the observer ---------------------------------------------------------------------------- */

Test(mrc, observer_counts_the_level_and_applies_invalidations)
{
	struct mrc *m = mrc_new(16, MMU_DTLB, 22, err, sizeof(err));   /* 2-level: 4 MiB pages */
	cr_assert_not_null(m);
	struct mmu_observer o = mrc_observer(m);
	struct mmu_lookup_event ev = { .va = 0x12345678, .count = 1, .level = MMU_DTLB,
				       .outcome = MMU_OUT_WALK, .size = TLB_4K };
	o.lookup(o.ctx, &ev);
	ev.outcome = MMU_OUT_L1_HIT;
	o.lookup(o.ctx, &ev);                              /* hit, depth 1 */
	ev.level = MMU_ITLB;
	o.lookup(o.ctx, &ev);                              /* other level: ignored */
	ev.level = MMU_DTLB;
	ev.outcome = MMU_OUT_FAULT;
	ev.va = 0x9000;
	o.lookup(o.ctx, &ev);                              /* faulted: no translation */
	ev.outcome = MMU_OUT_WALK;
	ev.size = TLB_2M;
	ev.va = 0x12c00000 + 0x1234;                       /* 4 MiB page 0x4b */
	o.lookup(o.ctx, &ev);
	cr_assert_eq(mrc_refs(m, TLB_4K), 2);
	cr_assert_eq(mrc_misses(m, TLB_4K, 16), 1);
	cr_assert_eq(mrc_refs(m, TLB_2M), 1);
	struct mmu_inv_event inv = { .va = 0x12c00000 + 0x3ff000, .kind = MMU_INV_INVLPG };
	o.inv(o.ctx, &inv);                                /* same 4 MiB page */
	o.lookup(o.ctx, &ev);
	cr_assert_eq(mrc_misses(m, TLB_2M, 16), 2, "the INVLPG used the 4 MiB page shift");
	ev.size = TLB_4K;
	ev.va = 0x12345000;
	ev.count = 4;
	o.lookup(o.ctx, &ev);                              /* hit + 3 folded */
	cr_assert_eq(mrc_refs(m, TLB_4K), 6);
	cr_assert_eq(mrc_misses(m, TLB_4K, 1), 1);
	inv.kind = MMU_INV_DROP;
	inv.va = 0x12345fff;
	o.inv(o.ctx, &inv);
	ev.count = 1;
	o.lookup(o.ctx, &ev);
	cr_assert_eq(mrc_misses(m, TLB_4K, 16), 2, "a stale-entry drop invalidates");
	inv.kind = MMU_INV_ALL;
	o.inv(o.ctx, &inv);
	o.lookup(o.ctx, &ev);
	cr_assert_eq(mrc_misses(m, TLB_4K, 16), 3, "a full flush invalidates");
	check_free(m);
}

Test(mrc, rejects_bad_arguments)
{
	cr_assert_null(mrc_new(0, MMU_DTLB, 21, err, sizeof(err)));
	cr_assert(strstr(err, "out of range"), "%s", err);
	cr_assert_null(mrc_new(MRC_MAX_LIMIT + 1, MMU_DTLB, 21, err, sizeof(err)));
	cr_assert_null(mrc_new(16, MMU_STLB, 21, err, sizeof(err)));
	cr_assert_null(mrc_new(16, MMU_DTLB, 20, err, sizeof(err)));
	struct mrc *m = new_mrc(1);
	mrc_ref(m, TLB_4K, 1, 0, false, 1);
	mrc_ref(m, TLB_4K, 2, 0, false, 1);
	mrc_ref(m, TLB_4K, 2, 0, false, 1);
	cr_assert_eq(mrc_misses(m, TLB_4K, 1), 2);
	mrc_set_configured(m, TLB_4K, 64);
	cr_assert_eq(mrc_configured(m, TLB_4K), 64);
	check_free(m);
}

/* ---- random streams against both references -------------------------------------------------- */

Test(mrc, random_stream_matches_lru_without_invalidations)
{
	struct stream_params p = { .max = 64, .universe = 150, .npcid = 1, .steps = 60000, .seed = 1 };
	run_stream(&p);
}

Test(mrc, random_stream_matches_lru_with_invlpg)
{
	struct stream_params p = { .max = 48, .universe = 90, .npcid = 1, .p_invlpg = 800, .steps = 60000,
				   .seed = 2 };
	run_stream(&p);
}

Test(mrc, random_stream_matches_lru_with_every_invalidation_kind)
{
	struct stream_params p = { .max = 40, .universe = 120, .npcid = 3, .p_invlpg = 600, .p_flush_pcid = 40,
				   .p_flush_all = 20, .p_flush_global = 10, .p_count = 10, .globals = true,
				   .mixed_sizes = true, .steps = 80000, .seed = 3 };
	run_stream(&p);
}

Test(mrc, random_stream_matches_lru_when_pages_fall_below_max)
{
	/* Universe far above max: constant forgetting at the bottom, many compactions. */
	struct stream_params p = { .max = 20, .universe = 400, .npcid = 2, .p_invlpg = 300, .p_flush_all = 5,
				   .p_count = 5, .steps = 100000, .seed = 4 };
	run_stream(&p);
}

Test(mrc, random_stream_matches_lru_at_max_one)
{
	struct stream_params p = { .max = 1, .universe = 4, .npcid = 1, .p_invlpg = 1000, .steps = 20000,
				   .seed = 5 };
	run_stream(&p);
}

Test(mrc, long_stream_with_many_holes_matches_lru)
{
	/* Invalidations as frequent as references: the hole heap fills and is rebuilt. */
	struct stream_params p = { .max = 32, .universe = 64, .npcid = 1, .p_invlpg = 5000, .p_flush_all = 30,
				   .steps = 150000, .seed = 6 };
	run_stream(&p);
}

Test(mrc, report_sizes_are_powers_of_two_configured_and_max)
{
	struct mrc *m = new_mrc(100);
	unsigned out[40];
	mrc_set_configured(m, TLB_4K, 48);
	unsigned n = mrc_report_sizes(m, TLB_4K, out, 40);
	static const unsigned want[] = { 1, 2, 4, 8, 16, 32, 48, 64, 100 };
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(out[i], want[i], "point %u: %u", i, out[i]);
	mrc_set_configured(m, TLB_2M, 64);   /* a power of two: listed once */
	cr_assert_eq(mrc_report_sizes(m, TLB_2M, out, 40), 8);
	mrc_set_configured(m, TLB_1G, 4096); /* beyond the maximum: not listed */
	cr_assert_eq(mrc_report_sizes(m, TLB_1G, out, 40), 8);
	cr_assert_eq(out[7], 100);
	cr_assert_eq(mrc_report_sizes(m, TLB_4K, out, 3), 3, "the cap is respected");
	check_free(m);
}
