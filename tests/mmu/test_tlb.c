/* test_tlb.c — unit tests of mmu/tlb.c: replacement policies (hand-worked sequences), closed-form
 * miss counts of strided patterns, PCID / global / page-size semantics of lookup and
 * invalidation (Intel SDM §4.10.4.1), configuration errors, and random traces against the naive
 * reference array of ref_tlb.c. Every case is a TLB_TEST: after its body, every array it created
 * through new_array() is self-checked (tlb_array_check) and freed. (Not in the suite's .fini:
 * Criterion 2.4.1 prints a failed assertion there but still reports the test as passed.)
 */
#include "tlb.h"   /* first: tlb.h compiles on its own */

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_tlb.h"

#define ALL_SIZES (TLB_SIZE_BIT(TLB_4K) | TLB_SIZE_BIT(TLB_2M) | TLB_SIZE_BIT(TLB_1G))
#define SZ_4K     TLB_SIZE_BIT(TLB_4K)
#define SZ_4K_2M  (TLB_SIZE_BIT(TLB_4K) | TLB_SIZE_BIT(TLB_2M))
#define ERR_LEN   160

/* ---- fixture: every array is checked and freed after the case ------------------------------ */

#define LIVE_MAX 16
static struct tlb_array *live[LIVE_MAX];
static unsigned nlive;

static void free_live(void)
{
	for (unsigned i = 0; i < nlive; i++)
		tlb_array_free(live[i]);
	nlive = 0;
}

static void check_live(void)
{
	for (unsigned i = 0; i < nlive; i++) {
		const char *why = tlb_array_check(live[i]);
		cr_assert_null(why, "tlb_array_check of array %u after the case: %s", i, why);
	}
}

/* A test case of suite tlb whose arrays are all checked when its body returns. */
#define TLB_TEST(name)                                                                      \
	static void name##_body(void);                                                      \
	Test(tlb, name)                                                                     \
	{                                                                                   \
		name##_body();                                                              \
		check_live();                                                               \
	}                                                                                   \
	static void name##_body(void)

TestSuite(tlb, .fini = free_live);

static struct tlb_array_config config(const char *name, unsigned entries, unsigned ways, unsigned sizes,
				      enum tlb_policy policy, uint64_t seed)
{
	struct tlb_array_config c = { .entries = entries, .ways = ways, .sizes = sizes, .policy = policy,
				      .latency = 1, .seed = seed };
	snprintf(c.name, sizeof c.name, "%s", name);
	return c;
}

static struct tlb_array *new_array_cfg(const struct tlb_array_config *c)
{
	char err[ERR_LEN] = "";
	struct tlb_array *t = tlb_array_new(c, err, sizeof err);
	cr_assert_not_null(t, "tlb_array_new: %s", err);
	cr_assert_lt(nlive, LIVE_MAX);
	live[nlive++] = t;
	return t;
}

static struct tlb_array *new_array(unsigned entries, unsigned ways, unsigned sizes, enum tlb_policy policy)
{
	struct tlb_array_config c = config("T", entries, ways, sizes, policy, 1);
	return new_array_cfg(&c);
}

/* A distinct pfn per (vpn, size, pcid, global) so that a wrong hit shows. */
static uint64_t pfn_of(uint64_t vpn, enum tlb_size size, unsigned pcid, bool global)
{
	return (vpn * 31 + size * 7 + pcid * 3 + global) & ((UINT64_C(1) << 40) - 1);
}

static struct tlb_entry entry(uint64_t vpn, enum tlb_size size, unsigned pcid, bool global)
{
	struct tlb_entry e = { .vpn = vpn, .pfn = pfn_of(vpn, size, pcid, global), .pcid = (uint16_t)pcid,
			       .size = (uint8_t)size, .perms = 7, .global = global };
	return e;
}

static bool insert(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid, bool global)
{
	struct tlb_entry e = entry(vpn, size, pcid, global);
	return tlb_array_insert(t, &e, NULL);
}

/* Insert vpn (4K, pcid 0), expecting it to evict `expected`. */
static void insert_evicts(struct tlb_array *t, uint64_t vpn, uint64_t expected)
{
	struct tlb_entry e = entry(vpn, TLB_4K, 0, false), v;
	memset(&v, 0, sizeof v);
	cr_assert(tlb_array_insert(t, &e, &v), "inserting vpn %" PRIu64 " evicted nothing", vpn);
	cr_assert_eq(v.vpn, expected, "inserting vpn %" PRIu64 " evicted %" PRIu64 ", expected %" PRIu64,
		     vpn, v.vpn, expected);
	cr_assert(v.valid);
}

static bool hit(struct tlb_array *t, uint64_t vpn)
{
	return tlb_array_lookup(t, vpn, TLB_4K, 0) != NULL;
}

/* A memory access as the timing model does it: lookup, and fill on a miss. true on a hit. */
static bool access_page(struct tlb_array *t, uint64_t vpn)
{
	if (hit(t, vpn))
		return true;
	insert(t, vpn, TLB_4K, 0, false);
	return false;
}

/* Misses of `rounds` passes over pages first, first + stride, ..., first + (k-1) * stride, not
 * counting the first (warm-up) pass. */
static unsigned cyclic_misses(struct tlb_array *t, unsigned k, uint64_t stride, unsigned rounds)
{
	unsigned misses = 0;
	for (unsigned i = 0; i < k; i++)
		access_page(t, i * stride);
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = 0; i < k; i++)
			misses += !access_page(t, i * stride);
	return misses;
}

/* ---- replacement policies ------------------------------------------------------------------ */

TLB_TEST(evicts_lru_way_when_set_full)
{
	/* 64 x 4: 16 sets; pages 3, 19, 35, 51, 67 all map to set 3 */
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_not(insert(t, 3 + 16 * i, TLB_4K, 0, false), "a free way was available");
	cr_assert(hit(t, 3));
	cr_assert(hit(t, 35));
	insert_evicts(t, 67, 19);      /* order of use: 51 < 3 < 35; 19 was used least recently */
	insert_evicts(t, 83, 51);
	cr_assert(hit(t, 3));
	insert_evicts(t, 99, 35);
	cr_assert_eq(tlb_array_valid_entries(t), 4);
}

TLB_TEST(lru_victim_is_reported_with_its_contents)
{
	struct tlb_array *t = new_array(4, 4, SZ_4K_2M, TLB_POLICY_LRU);
	struct tlb_entry e = entry(10, TLB_2M, 5, true), v;
	e.dirty = true;
	tlb_array_insert(t, &e, NULL);
	for (unsigned i = 1; i < 4; i++)
		insert(t, 10 + i, TLB_4K, 0, false);
	struct tlb_entry n = entry(99, TLB_4K, 0, false);
	cr_assert(tlb_array_insert(t, &n, &v));
	cr_assert(v.vpn == 10 && v.size == TLB_2M && v.pcid == 5 && v.global && v.dirty && v.valid);
	cr_assert_eq(v.pfn, e.pfn);
}

TLB_TEST(fifo_evicts_oldest_insertion_even_after_hits)
{
	struct tlb_array *t = new_array(4, 4, SZ_4K, TLB_POLICY_FIFO);
	for (unsigned i = 1; i <= 4; i++)
		insert(t, i, TLB_4K, 0, false);
	for (unsigned r = 0; r < 3; r++)
		cr_assert(hit(t, 1));   /* LRU would now evict 2; FIFO still evicts 1 */
	insert_evicts(t, 5, 1);
	cr_assert(hit(t, 2));
	insert_evicts(t, 6, 2);
	insert_evicts(t, 7, 3);
}

TLB_TEST(plru_follows_the_tree_in_a_4_way_set)
{
	/* Tree: root picks {w0,w1} | {w2,w3}; node 2 picks w0|w1, node 3 w2|w3. Fill A..D into ways
	 * 0..3: every node points left, victim A. Hit A: root → right, node 3 → w2 (C).
	 * Insert E (evicts C, into w2): root → left, node 2 (set by the hit on A) → w1 (B)... */
	struct tlb_array *t = new_array(16, 4, SZ_4K, TLB_POLICY_PLRU);   /* 4 sets; set 1: 1, 5, 9, ... */
	enum { A = 1, B = 5, C = 9, D = 13, E = 17, F = 21, G = 25 };
	insert(t, A, TLB_4K, 0, false);
	insert(t, B, TLB_4K, 0, false);
	insert(t, C, TLB_4K, 0, false);
	insert(t, D, TLB_4K, 0, false);
	cr_assert(hit(t, A));
	insert_evicts(t, E, C);         /* LRU would evict B */
	cr_assert(hit(t, D));           /* root → left, node 3 → w2 (E) */
	insert_evicts(t, F, B);         /* into w1: root → right */
	insert_evicts(t, G, E);         /* w2; now root → left, node 2 → w0 */
	insert_evicts(t, 29, A);
}

TLB_TEST(plru_follows_the_tree_in_a_12_way_set_and_never_picks_an_unused_leaf)
{
	/* 12 ways: a 16-leaf tree, leaves 12..15 unused. After filling ways 0..11 in order and a hit
	 * on way 0, the root points right (8..15) and node 3 points at 12..15, which holds no way,
	 * so the walk goes to 8..11: victim way 8. Worked by hand: then 4, then 10, then 2. */
	struct tlb_array *t = new_array(12, 12, SZ_4K, TLB_POLICY_PLRU);
	for (unsigned w = 0; w < 12; w++)
		cr_assert_not(insert(t, 100 + w, TLB_4K, 0, false));
	insert_evicts(t, 200, 100);     /* all nodes point left after the in-order fill */
	/* way 0 now holds 200 (and was touched): same as a hit on way 0 */
	insert_evicts(t, 201, 108);
	insert_evicts(t, 202, 104);
	insert_evicts(t, 203, 110);
	insert_evicts(t, 204, 102);
	/* victims stay inside the 12 ways however long it runs */
	struct tlb_entry v;
	for (unsigned i = 0; i < 1000; i++) {
		struct tlb_entry e = entry(1000 + i, TLB_4K, 0, false);
		cr_assert(tlb_array_insert(t, &e, &v));
		if (i % 3 == 0)
			hit(t, 1000 + i / 2);
	}
	cr_assert_eq(tlb_array_valid_entries(t), 12);
}

TLB_TEST(plru_with_three_ways_uses_only_real_leaves)
{
	/* 3 ways in a 4-leaf tree: fill w0..w2; last touch w2 (right) → root left; node 2 → w0. */
	struct tlb_array *t = new_array(3, 3, SZ_4K, TLB_POLICY_PLRU);
	for (unsigned w = 0; w < 3; w++)
		insert(t, w, TLB_4K, 0, false);
	cr_assert(hit(t, 0));           /* root → right: only w2 there */
	insert_evicts(t, 10, 2);        /* into w2: root → left, node 2 → w1 (hit on w0) */
	insert_evicts(t, 11, 1);        /* root → right */
	insert_evicts(t, 12, 10);
}

static void random_victims(uint64_t seed, uint64_t *out, unsigned n)
{
	struct tlb_array_config c = config("RND", 8, 8, SZ_4K, TLB_POLICY_RANDOM, seed);
	struct tlb_array *t = new_array_cfg(&c);
	for (unsigned i = 0; i < 8; i++)
		insert(t, i, TLB_4K, 0, false);
	for (unsigned i = 0; i < n; i++) {
		struct tlb_entry e = entry(100 + i, TLB_4K, 0, false), v;
		cr_assert(tlb_array_insert(t, &e, &v));
		out[i] = v.vpn;
	}
}

TLB_TEST(random_is_deterministic_for_a_seed_and_differs_for_another)
{
	enum { N = 64 };
	uint64_t a[N], b[N], c[N], z[N];
	random_victims(42, a, N);
	random_victims(42, b, N);
	random_victims(43, c, N);
	random_victims(0, z, N);
	cr_assert_arr_eq(a, b, sizeof a, "same seed, different victims");
	cr_assert(memcmp(a, c, sizeof a) != 0, "seeds 42 and 43 gave the same 64 victims");
	cr_assert(memcmp(a, z, sizeof a) != 0, "seeds 42 and 0 gave the same 64 victims");
	/* every way gets chosen sometimes */
	unsigned firsts = 0;
	for (unsigned i = 0; i < 8; i++)
		for (unsigned j = 0; j < N; j++)
			if (a[j] == i) {
				firsts++;
				break;
			}
	cr_assert_geq(firsts, 6, "the first 64 random victims chose only %u of the 8 original ways", firsts);
}

TLB_TEST(free_way_is_used_before_any_eviction)
{
	static const enum tlb_policy pols[] = { TLB_POLICY_LRU, TLB_POLICY_PLRU, TLB_POLICY_FIFO, TLB_POLICY_RANDOM };
	for (unsigned p = 0; p < 4; p++) {
		struct tlb_array *t = new_array(8, 4, SZ_4K, pols[p]);   /* 2 sets */
		for (unsigned i = 0; i < 4; i++)
			insert(t, 2 * i, TLB_4K, 0, false);
		cr_assert_eq(tlb_array_invlpg(t, UINT64_C(4) << 12, 0), 1);
		cr_assert_not(insert(t, 8, TLB_4K, 0, false), "%s evicted although a way was free",
			      tlb_policy_name(pols[p]));
		cr_assert(insert(t, 10, TLB_4K, 0, false), "%s: the full set did not evict", tlb_policy_name(pols[p]));
		cr_assert_eq(tlb_array_valid_entries(t), 4);
		cr_assert_null(tlb_array_check(t));
	}
}

TLB_TEST(insert_of_a_present_translation_replaces_it_in_place)
{
	struct tlb_array *t = new_array(4, 4, SZ_4K, TLB_POLICY_LRU);
	for (unsigned i = 0; i < 4; i++)
		insert(t, i, TLB_4K, 0, false);
	struct tlb_entry e = entry(0, TLB_4K, 0, false);
	e.pfn = 0x1234;
	e.dirty = true;
	cr_assert_not(tlb_array_insert(t, &e, NULL), "an update must not evict");
	cr_assert_eq(tlb_array_valid_entries(t), 4);
	const struct tlb_entry *p = tlb_array_probe(t, 0, TLB_4K, 0);
	cr_assert(p && p->pfn == 0x1234 && p->dirty);
	insert_evicts(t, 9, 1);         /* the update made vpn 0 the most recent */
}

TLB_TEST(lookup_returns_the_entry_for_in_place_update)
{
	struct tlb_array *t = new_array(16, 4, SZ_4K, TLB_POLICY_LRU);
	insert(t, 7, TLB_4K, 3, false);
	struct tlb_entry *e = tlb_array_lookup(t, 7, TLB_4K, 3);
	cr_assert_not_null(e);
	cr_assert_not(e->dirty);
	e->dirty = true;
	e->perms = 1;
	const struct tlb_entry *p = tlb_array_probe(t, 7, TLB_4K, 3);
	cr_assert(p->dirty && p->perms == 1);
}

TLB_TEST(probe_does_not_change_replacement_state)
{
	struct tlb_array *t = new_array(4, 4, SZ_4K, TLB_POLICY_LRU);
	for (unsigned i = 0; i < 4; i++)
		insert(t, i, TLB_4K, 0, false);
	for (unsigned r = 0; r < 5; r++)
		cr_assert_not_null(tlb_array_probe(t, 0, TLB_4K, 0));
	insert_evicts(t, 4, 0);
	cr_assert_null(tlb_array_probe(t, 0, TLB_4K, 0));
}

/* ---- closed-form miss counts --------------------------------------------------------------- */

TLB_TEST(fully_associative_lru_cycling_over_more_pages_than_entries_always_misses)
{
	enum { N = 64, ROUNDS = 10 };
	struct tlb_array *t = new_array(N, N, SZ_4K, TLB_POLICY_LRU);
	cr_assert_eq(cyclic_misses(t, N + 1, 1, ROUNDS), (N + 1) * ROUNDS);
	struct tlb_array *u = new_array(N, N, SZ_4K, TLB_POLICY_LRU);
	cr_assert_eq(cyclic_misses(u, 2 * N, 3, ROUNDS), 2 * N * ROUNDS);
	struct tlb_array *f = new_array(N, N, SZ_4K, TLB_POLICY_FIFO);   /* FIFO = LRU on a cycle */
	cr_assert_eq(cyclic_misses(f, N + 1, 1, ROUNDS), (N + 1) * ROUNDS);
}

TLB_TEST(fully_associative_lru_cycling_over_at_most_n_pages_never_misses_after_warmup)
{
	enum { N = 64, ROUNDS = 10 };
	static const enum tlb_policy pols[] = { TLB_POLICY_LRU, TLB_POLICY_PLRU, TLB_POLICY_FIFO, TLB_POLICY_RANDOM };
	for (unsigned p = 0; p < 4; p++) {
		struct tlb_array *t = new_array(N, N, SZ_4K, pols[p]);
		cr_assert_eq(cyclic_misses(t, N, 1, ROUNDS), 0, "%s", tlb_policy_name(pols[p]));
		tlb_array_flush_all(t, true);
		cr_assert_eq(cyclic_misses(t, N / 2, 5, ROUNDS), 0, "%s", tlb_policy_name(pols[p]));
	}
}

TLB_TEST(five_pages_in_one_set_of_a_4_way_lru_array_always_miss)
{
	/* stride = number of sets: every page maps to set 0 */
	static const unsigned entries[] = { 64, 48, 1536, 4 };   /* 16, 12 (not a power of two), 384, 1 sets */
	for (unsigned i = 0; i < 4; i++) {
		unsigned sets = entries[i] / 4;
		struct tlb_array *t = new_array(entries[i], 4, SZ_4K, TLB_POLICY_LRU);
		cr_assert_eq(cyclic_misses(t, 5, sets, 20), 5 * 20, "%u sets", sets);
		struct tlb_array *u = new_array(entries[i], 4, SZ_4K, TLB_POLICY_LRU);
		cr_assert_eq(cyclic_misses(u, 4, sets, 20), 0, "%u sets", sets);
	}
}

TLB_TEST(stlb_1536x12_thirteen_pages_in_one_set_always_miss)
{
	struct tlb_array *t = new_array(1536, 12, SZ_4K_2M, TLB_POLICY_LRU);   /* 128 sets */
	cr_assert_eq(cyclic_misses(t, 13, 128, 10), 13 * 10);
	tlb_array_flush_all(t, true);
	cr_assert_eq(cyclic_misses(t, 12, 128, 10), 0);
	tlb_array_flush_all(t, true);
	cr_assert_eq(cyclic_misses(t, 1536, 1, 10), 0, "1536 consecutive pages fill every set exactly");
}

TLB_TEST(one_page_too_many_makes_exactly_one_set_thrash)
{
	/* Consecutive pages over S sets x W ways: K = S*W + 1 puts W + 1 pages in set 0 (which then
	 * misses on all of them every round) and W in every other set (no misses). */
	static const unsigned geo[][2] = { { 64, 4 }, { 48, 4 }, { 1536, 12 }, { 8, 1 }, { 64, 64 } };
	for (unsigned g = 0; g < 5; g++) {
		unsigned n = geo[g][0], w = geo[g][1];
		struct tlb_array *t = new_array(n, w, SZ_4K, TLB_POLICY_LRU);
		cr_assert_eq(cyclic_misses(t, n + 1, 1, 7), (w + 1) * 7, "%u x %u", n, w);
	}
}

TLB_TEST(direct_mapped_array_thrashes_on_two_pages_of_one_set)
{
	struct tlb_array *t = new_array(8, 1, SZ_4K, TLB_POLICY_LRU);
	cr_assert_eq(cyclic_misses(t, 2, 8, 50), 100);
	tlb_array_flush_all(t, false);
	cr_assert_eq(cyclic_misses(t, 8, 1, 50), 0);
}

/* ---- PCID, global, page sizes ------------------------------------------------------------- */

TLB_TEST(non_global_entry_hits_only_its_own_pcid)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	insert(t, 5, TLB_4K, 1, false);
	cr_assert_not_null(tlb_array_lookup(t, 5, TLB_4K, 1));
	cr_assert_null(tlb_array_lookup(t, 5, TLB_4K, 2));
	insert(t, 5, TLB_4K, 2, false);   /* same page, another address space: a second entry */
	cr_assert_eq(tlb_array_valid_entries(t), 2);
	cr_assert_eq(tlb_array_lookup(t, 5, TLB_4K, 2)->pfn, pfn_of(5, TLB_4K, 2, false));
	cr_assert_eq(tlb_array_lookup(t, 5, TLB_4K, 1)->pfn, pfn_of(5, TLB_4K, 1, false));
}

TLB_TEST(global_entry_hits_from_any_pcid)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	insert(t, 9, TLB_4K, 1, true);
	for (unsigned p = 0; p < 4096; p += 273)
		cr_assert_not_null(tlb_array_lookup(t, 9, TLB_4K, p), "pcid %u", p);
}

TLB_TEST(global_entry_survives_pcid_flush_and_flush_all_without_global)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	insert(t, 1, TLB_4K, 1, true);
	insert(t, 2, TLB_4K, 1, false);
	insert(t, 3, TLB_4K, 2, false);
	cr_assert_eq(tlb_array_flush_pcid(t, 1, false), 1);
	cr_assert_null(tlb_array_probe(t, 2, TLB_4K, 1));
	cr_assert_not_null(tlb_array_probe(t, 3, TLB_4K, 2), "another PCID's entry was flushed");
	cr_assert_not_null(tlb_array_lookup(t, 1, TLB_4K, 7), "the global entry did not survive");
	cr_assert_eq(tlb_array_flush_all(t, false), 1);
	cr_assert_not_null(tlb_array_lookup(t, 1, TLB_4K, 2), "the global entry did not survive");
	cr_assert_eq(tlb_array_valid_entries(t), 1);
}

TLB_TEST(flush_all_with_global_drops_everything)
{
	struct tlb_array *t = new_array(48, 4, ALL_SIZES, TLB_POLICY_PLRU);
	for (unsigned i = 0; i < 30; i++)
		insert(t, i, (enum tlb_size)(i % 3), i % 5, i % 2);
	cr_assert_eq(tlb_array_valid_entries(t), 30);
	cr_assert_eq(tlb_array_flush_all(t, true), 30);
	cr_assert_eq(tlb_array_valid_entries(t), 0);
	for (unsigned i = 0; i < 30; i++)
		cr_assert_null(tlb_array_probe(t, i, (enum tlb_size)(i % 3), i % 5));
	cr_assert_eq(tlb_array_flush_all(t, true), 0);
}

TLB_TEST(flush_pcid_with_global_drops_that_pcids_global_entries_only)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_FIFO);
	insert(t, 1, TLB_4K, 1, true);
	insert(t, 2, TLB_4K, 2, true);
	insert(t, 3, TLB_4K, 1, false);
	cr_assert_eq(tlb_array_flush_pcid(t, 1, true), 2);
	cr_assert_null(tlb_array_probe(t, 1, TLB_4K, 1));
	cr_assert_not_null(tlb_array_probe(t, 2, TLB_4K, 1));
}

TLB_TEST(invlpg_drops_the_page_in_its_pcid_only)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	insert(t, 0x1234, TLB_4K, 1, false);
	insert(t, 0x1234, TLB_4K, 2, false);
	insert(t, 0x1235, TLB_4K, 1, false);
	cr_assert_eq(tlb_array_invlpg(t, (UINT64_C(0x1234) << 12) | 0xABC, 1), 1);
	cr_assert_null(tlb_array_probe(t, 0x1234, TLB_4K, 1));
	cr_assert_not_null(tlb_array_probe(t, 0x1234, TLB_4K, 2));
	cr_assert_not_null(tlb_array_probe(t, 0x1235, TLB_4K, 1));
	cr_assert_eq(tlb_array_invlpg(t, UINT64_C(0x1234) << 12, 1), 0);
}

TLB_TEST(invlpg_of_a_global_page_from_any_pcid_drops_it)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K_2M, TLB_POLICY_LRU);
	uint64_t va = UINT64_C(0xffff888000200000) + 0x5000;
	insert(t, va >> 12, TLB_4K, 1, true);
	insert(t, va >> 21, TLB_2M, 3, true);
	cr_assert_eq(tlb_array_invlpg(t, va, 2), 2, "INVLPG from another PCID must drop global entries");
	cr_assert_eq(tlb_array_valid_entries(t), 0);
}

TLB_TEST(invlpg_drops_every_page_size_covering_the_address)
{
	struct tlb_array *t = new_array(64, 4, ALL_SIZES, TLB_POLICY_LRU);
	uint64_t va = (UINT64_C(3) << 30) + (UINT64_C(5) << 21) + (UINT64_C(7) << 12) + 0x10;
	insert(t, va >> 12, TLB_4K, 0, false);
	insert(t, (va >> 12) + 1, TLB_4K, 0, false);   /* next 4K page, same 2M page: stays */
	insert(t, va >> 21, TLB_2M, 0, false);
	insert(t, va >> 30, TLB_1G, 0, false);
	insert(t, va >> 12, TLB_2M, 0, false);           /* a 2M entry whose vpn equals va's 4K vpn: stays */
	cr_assert_eq(tlb_array_invlpg(t, va, 0), 3);
	cr_assert_not_null(tlb_array_probe(t, (va >> 12) + 1, TLB_4K, 0));
	cr_assert_not_null(tlb_array_probe(t, va >> 12, TLB_2M, 0));
	cr_assert_eq(tlb_array_valid_entries(t), 2);
}

TLB_TEST(invlpg_uses_a_4m_shift_for_2_level_paging_large_pages)
{
	struct tlb_array *t = new_array(32, 4, SZ_4K_2M, TLB_POLICY_LRU);
	tlb_array_set_page_shift(t, TLB_2M, 22);
	uint64_t va = UINT64_C(0xC0600000);   /* inside the 4 MiB page 0x301 */
	insert(t, va >> 22, TLB_2M, 0, false);
	insert(t, va >> 21, TLB_2M, 0, false);   /* another 4 MiB page (0x603): stays */
	cr_assert_eq(tlb_array_invlpg(t, va, 0), 1);
	cr_assert_null(tlb_array_probe(t, va >> 22, TLB_2M, 0));
	cr_assert_not_null(tlb_array_probe(t, va >> 21, TLB_2M, 0));
}

TLB_TEST(drop_removes_the_pcids_entry_and_the_global_one)
{
	struct tlb_array *t = new_array(64, 8, SZ_4K_2M, TLB_POLICY_LRU);
	insert(t, 40, TLB_4K, 1, false);
	insert(t, 40, TLB_4K, 2, false);
	insert(t, 41, TLB_4K, 3, true);
	cr_assert_eq(tlb_array_drop(t, 40, TLB_4K, 1), 1);
	cr_assert_eq(tlb_array_drop(t, 41, TLB_4K, 1), 1);
	cr_assert_eq(tlb_array_drop(t, 40, TLB_2M, 2), 0, "wrong size");
	cr_assert_not_null(tlb_array_probe(t, 40, TLB_4K, 2));
	cr_assert_eq(tlb_array_drop(t, 40, TLB_1G, 2), 0, "a size the array does not hold");
}

TLB_TEST(page_size_classes_are_kept_apart)
{
	struct tlb_array *t = new_array(1536, 12, SZ_4K_2M, TLB_POLICY_LRU);
	insert(t, 77, TLB_2M, 0, false);
	cr_assert_null(tlb_array_lookup(t, 77, TLB_4K, 0), "a 2M entry hit a 4K lookup");
	insert(t, 77, TLB_4K, 0, true);
	cr_assert_eq(tlb_array_valid_entries(t), 2, "the 4K insert replaced the 2M entry");
	cr_assert_eq(tlb_array_lookup(t, 77, TLB_4K, 0)->pfn, pfn_of(77, TLB_4K, 0, true));
	cr_assert_eq(tlb_array_lookup(t, 77, TLB_2M, 0)->pfn, pfn_of(77, TLB_2M, 0, false));
	cr_assert_null(tlb_array_lookup(t, 77, TLB_1G, 0), "a size the array does not hold");
}

TLB_TEST(global_insert_replaces_every_translation_of_that_page)
{
	struct tlb_array *t = new_array(16, 8, SZ_4K, TLB_POLICY_LRU);
	insert(t, 6, TLB_4K, 1, false);
	insert(t, 6, TLB_4K, 2, false);
	insert(t, 6, TLB_4K, 3, false);
	insert(t, 8, TLB_4K, 1, false);
	cr_assert_not(insert(t, 6, TLB_4K, 4, true));
	cr_assert_eq(tlb_array_valid_entries(t), 2);
	for (unsigned p = 1; p <= 4; p++)
		cr_assert_eq(tlb_array_probe(t, 6, TLB_4K, p)->pfn, pfn_of(6, TLB_4K, 4, true));
	/* a non-global fill for the page replaces the global entry (one lookup would hit both) */
	cr_assert_not(insert(t, 6, TLB_4K, 1, false));
	cr_assert_eq(tlb_array_valid_entries(t), 2);
	cr_assert_null(tlb_array_probe(t, 6, TLB_4K, 2));
}

TLB_TEST(non_power_of_two_set_count_indexes_by_modulo)
{
	struct tlb_array *t = new_array(48, 4, SZ_4K, TLB_POLICY_LRU);   /* 12 sets */
	/* 0, 12, 24, 36, 48 share set 0; 16 (set 4 with modulo, set 0 with a 16-set mask) does not */
	for (unsigned i = 0; i < 4; i++)
		insert(t, 12 * i, TLB_4K, 0, false);
	cr_assert_not(insert(t, 16, TLB_4K, 0, false));
	insert_evicts(t, 48, 0);
	uint64_t big = UINT64_C(0x123456789) * 12 + 7;   /* set 7 */
	cr_assert_not(insert(t, big, TLB_4K, 0, false));
	cr_assert_not_null(tlb_array_probe(t, big, TLB_4K, 0));
	cr_assert_eq(tlb_array_valid_entries(t), 6);
}

TLB_TEST(page_numbers_that_cannot_be_stored_never_hit)
{
	struct tlb_array *t = new_array(64, 4, SZ_4K, TLB_POLICY_LRU);
	/* keys are vpn << 2 | size: a vpn >= 2^62 would alias vpn & (2^62 - 1) if it were looked up */
	insert(t, 5, TLB_4K, 0, false);
	cr_assert_null(tlb_array_lookup(t, 5 | (UINT64_C(1) << 62), TLB_4K, 0));
	cr_assert_null(tlb_array_probe(t, 5 | (UINT64_C(3) << 62), TLB_4K, 0));
	cr_assert_eq(tlb_array_drop(t, 5 | (UINT64_C(1) << 63), TLB_4K, 0), 0);
	cr_assert_eq(tlb_array_invlpg(t, 5 << 12, 0), 1);
	/* a free way's key must not answer a lookup */
	cr_assert_null(tlb_array_lookup(t, (UINT64_C(1) << 62) - 1, (enum tlb_size)TLB_NSIZES, 0));
	cr_assert_null(tlb_array_probe(t, (UINT64_C(1) << 62) - 1, (enum tlb_size)TLB_NSIZES, 0));
}

TLB_TEST(valid_entries_counts_inserts_and_invalidations)
{
	struct tlb_array *t = new_array(32, 4, SZ_4K, TLB_POLICY_RANDOM);
	for (unsigned i = 0; i < 100; i++)
		insert(t, i, TLB_4K, 0, false);
	cr_assert_eq(tlb_array_valid_entries(t), 32);
	cr_assert_eq(tlb_array_invlpg(t, UINT64_C(99) << 12, 0), 1);
	cr_assert_eq(tlb_array_valid_entries(t), 31);
}

/* ---- configuration ------------------------------------------------------------------------ */

static void expect_invalid(struct tlb_array_config c, const char *msg)
{
	char err[ERR_LEN] = "";
	cr_assert_not(tlb_array_config_valid(&c, err, sizeof err), "expected: %s", msg);
	cr_assert_str_eq(err, msg);
	memset(err, 0, sizeof err);
	cr_assert_null(tlb_array_new(&c, err, sizeof err));
	cr_assert_str_eq(err, msg);
}

TLB_TEST(invalid_configurations_name_the_array_and_the_parameter)
{
	expect_invalid(config("STLB", 1536, 7, SZ_4K_2M, TLB_POLICY_LRU, 0),
		       "STLB: entries (1536) must be divisible by ways (7)");
	expect_invalid(config("L1D-4K", 64, 0, SZ_4K, TLB_POLICY_LRU, 0), "L1D-4K: ways must be at least 1");
	expect_invalid(config("L1D-4K", 64, 4, 0, TLB_POLICY_LRU, 0), "L1D-4K: no page sizes");
	expect_invalid(config("L1I", 128, 8, SZ_4K, (enum tlb_policy)TLB_NPOLICIES, 0),
		       "L1I: unknown replacement policy");
	expect_invalid(config("L1I", 128, 8, 0x10, TLB_POLICY_LRU, 0), "L1I: unknown page sizes in mask 0x10");
	expect_invalid(config("L1D-2M", 4, 8, SZ_4K, TLB_POLICY_LRU, 0), "L1D-2M: entries (4) must be divisible by ways (8)");
	expect_invalid(config("BIG", 1u << 30, 8, SZ_4K, TLB_POLICY_LRU, 0),
		       "BIG: entries (1073741824) exceeds the maximum (4194304)");
}

TLB_TEST(an_absent_array_is_a_valid_configuration_but_cannot_be_created)
{
	struct tlb_array_config c = config("L1D-1G", 0, 0, 0, TLB_POLICY_LRU, 0);
	char err[ERR_LEN] = "";
	cr_assert(tlb_array_config_valid(&c, err, sizeof err));
	cr_assert_null(tlb_array_new(&c, err, sizeof err));
	cr_assert_str_eq(err, "L1D-1G: entries is 0 (the array does not exist)");
}

TLB_TEST(valid_geometries_are_accepted)
{
	static const unsigned geo[][2] = { { 1536, 12 }, { 48, 4 }, { 64, 64 }, { 8, 1 }, { 1, 1 }, { 2048, 16 }, { 96, 96 } };
	for (unsigned g = 0; g < 7; g++) {
		struct tlb_array_config c = config("X", geo[g][0], geo[g][1], ALL_SIZES, TLB_POLICY_PLRU, 0);
		char err[ERR_LEN] = "";
		cr_assert(tlb_array_config_valid(&c, err, sizeof err), "%u x %u: %s", geo[g][0], geo[g][1], err);
	}
}

TLB_TEST(config_of_returns_the_configuration)
{
	struct tlb_array_config c = config("L2-STLB", 1536, 12, SZ_4K_2M, TLB_POLICY_FIFO, 9);
	c.latency = 9;
	struct tlb_array *t = new_array_cfg(&c);
	const struct tlb_array_config *k = tlb_array_config_of(t);
	cr_assert_str_eq(k->name, "L2-STLB");
	cr_assert(k->entries == 1536 && k->ways == 12 && k->sizes == SZ_4K_2M && k->policy == TLB_POLICY_FIFO &&
		  k->latency == 9 && k->seed == 9);
}

TLB_TEST(policy_names_parse_and_print)
{
	enum tlb_policy p;
	static const struct { const char *s; enum tlb_policy p; } ok[] = {
		{ "lru", TLB_POLICY_LRU }, { "plru", TLB_POLICY_PLRU }, { "tree-plru", TLB_POLICY_PLRU },
		{ "fifo", TLB_POLICY_FIFO }, { "random", TLB_POLICY_RANDOM }, { "LRU", TLB_POLICY_LRU },
	};
	for (unsigned i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		cr_assert(tlb_policy_parse(ok[i].s, &p), "%s", ok[i].s);
		cr_assert_eq(p, ok[i].p, "%s", ok[i].s);
	}
	cr_assert_not(tlb_policy_parse("mru", &p));
	cr_assert_not(tlb_policy_parse("", &p));
	cr_assert_not(tlb_policy_parse(NULL, &p));
	for (unsigned i = 0; i < TLB_NPOLICIES; i++) {
		cr_assert(tlb_policy_parse(tlb_policy_name((enum tlb_policy)i), &p));
		cr_assert_eq(p, (enum tlb_policy)i);
	}
	cr_assert_str_eq(tlb_policy_name((enum tlb_policy)TLB_NPOLICIES), "unknown");
}

/* ---- differential: random traces against ref_tlb.c ----------------------------------------- */

struct diff_param {
	unsigned entries, ways, sizes;
	enum tlb_policy policy;
};

#define DIFF_OPS         60000
#define DIFF_FULL_EVERY  2000     /* compare the whole contents and run tlb_array_check */
#define DIFF_PCIDS       4
#define DIFF_FLUSH_SCALE 8        /* flushes get rarer as the array grows, so it can fill up */

static void expect_same_entry(const struct tlb_entry *a, const struct tlb_entry *b, const char *what, unsigned op)
{
	cr_assert(a->vpn == b->vpn && a->pfn == b->pfn && a->pcid == b->pcid && a->size == b->size &&
		  a->perms == b->perms && a->global == b->global && a->dirty == b->dirty && a->user == b->user &&
		  a->valid == b->valid,
		  "op %u, %s: tlb vpn 0x%" PRIx64 " size %u pcid %u g %d pfn 0x%" PRIx64 " d %d / ref vpn 0x%" PRIx64
		  " size %u pcid %u g %d pfn 0x%" PRIx64 " d %d",
		  op, what, a->vpn, a->size, a->pcid, a->global, a->pfn, a->dirty, b->vpn, b->size, b->pcid, b->global,
		  b->pfn, b->dirty);
}

static void expect_same_contents(const struct tlb_array *t, const struct ref_tlb *r, struct tlb_entry *buf, unsigned op)
{
	unsigned n = ref_tlb_entries(r, buf);
	cr_assert_eq(tlb_array_valid_entries(t), n, "op %u: %u valid entries, reference %u", op,
		     tlb_array_valid_entries(t), n);
	for (unsigned i = 0; i < n; i++) {
		const struct tlb_entry *e = tlb_array_probe(t, buf[i].vpn, (enum tlb_size)buf[i].size, buf[i].pcid);
		cr_assert_not_null(e, "op %u: reference holds vpn 0x%" PRIx64 " size %u pcid %u, tlb does not", op,
				   buf[i].vpn, buf[i].size, buf[i].pcid);
		expect_same_entry(e, &buf[i], "contents", op);
	}
	const char *why = tlb_array_check(t);
	cr_assert_null(why, "op %u: %s", op, why);
}

static enum tlb_size random_size(struct trng *g, unsigned sizes)
{
	for (;;) {
		unsigned s = trng_below(g, TLB_NSIZES);
		if (sizes & TLB_SIZE_BIT(s))
			return (enum tlb_size)s;
	}
}

/* Page numbers that give both reuse and conflicts: mostly a pool of half the capacity (times
 * sizes and PCIDs, that is about the capacity), sometimes pages that all land in a few sets, rarely
 * anything. */
static uint64_t random_vpn(struct trng *g, unsigned entries, unsigned sets)
{
	unsigned pick = trng_below(g, 100);
	if (pick < 70)
		return trng_below(g, entries / 2 + 1);
	if (pick < 95)
		return (uint64_t)trng_below(g, 3) + (uint64_t)sets * trng_below(g, 24);
	return trng_next(g) >> 20;
}

static void run_diff(const struct diff_param *p, uint64_t seed)
{
	struct tlb_array_config c = config("DIFF", p->entries, p->ways, p->sizes, p->policy, seed);
	struct tlb_array *t = new_array_cfg(&c);
	struct ref_tlb r;
	ref_tlb_init(&r, &c);
	struct tlb_entry *buf = calloc(p->entries, sizeof *buf);
	cr_assert_not_null(buf);
	struct trng g = { seed * 7919 + p->entries * 31 + p->ways };
	unsigned sets = p->entries / p->ways;
	unsigned hits = 0, evictions = 0, dropped = 0;

	for (unsigned op = 0; op < DIFF_OPS; op++) {
		if (op % DIFF_FULL_EVERY == 0)
			expect_same_contents(t, &r, buf, op);
		unsigned kind = trng_below(&g, 1000);
		uint64_t vpn = random_vpn(&g, p->entries, sets);
		enum tlb_size size = random_size(&g, p->sizes);
		unsigned pcid = trng_chance(&g, 50) ? 0 : trng_chance(&g, 4) ? 4095 : trng_below(&g, DIFF_PCIDS);
		struct tlb_entry e = entry(vpn, size, pcid, trng_chance(&g, 10));
		e.pfn ^= trng_below(&g, 4);     /* updates in place must carry the new pfn */
		e.dirty = trng_chance(&g, 30);
		e.user = trng_chance(&g, 50);

		if (kind < 700) {                               /* access: lookup, fill on a miss */
			struct tlb_entry *a = tlb_array_lookup(t, vpn, size, pcid);
			struct tlb_entry *b = ref_tlb_lookup(&r, vpn, size, pcid);
			cr_assert_eq(a != NULL, b != NULL, "op %u: lookup vpn 0x%" PRIx64 " size %u pcid %u: tlb %s, ref %s",
				     op, vpn, size, pcid, a ? "hit" : "miss", b ? "hit" : "miss");
			if (a) {
				hits++;
				expect_same_entry(a, b, "lookup", op);
				if (trng_chance(&g, 10))
					a->dirty = b->dirty = true;
				continue;
			}
			if (!trng_chance(&g, 90))
				continue;
		} else if (kind < 760) {                        /* probe */
			const struct tlb_entry *a = tlb_array_probe(t, vpn, size, pcid);
			const struct tlb_entry *b = ref_tlb_probe(&r, vpn, size, pcid);
			cr_assert_eq(a != NULL, b != NULL, "op %u: probe", op);
			if (a)
				expect_same_entry(a, b, "probe", op);
			continue;
		} else if (kind < 900) {
			/* plain insert below (also updates of present entries) */
		} else if (kind < 930) {                        /* INVLPG at any offset in the page */
			uint64_t va = (vpn << tlb_size_shift(size)) | (trng_next(&g) & ((UINT64_C(1) << tlb_size_shift(size)) - 1));
			unsigned a = tlb_array_invlpg(t, va, pcid), b = ref_tlb_invlpg(&r, va, pcid);
			cr_assert_eq(a, b, "op %u: invlpg 0x%" PRIx64 " pcid %u dropped %u, ref %u", op, va, pcid, a, b);
			dropped += a;
			continue;
		} else if (kind < 960) {                        /* #PF-style drop */
			unsigned a = tlb_array_drop(t, vpn, size, pcid), b = ref_tlb_drop(&r, vpn, size, pcid);
			cr_assert_eq(a, b, "op %u: drop", op);
			dropped += a;
			continue;
		} else if (trng_below(&g, p->entries) >= DIFF_FLUSH_SCALE) {
			continue;       /* flushes: about once per DIFF_FLUSH_SCALE * 25 ops per entry */
		} else if (kind < 990) {                        /* MOV CR3 / INVPCID type 1 */
			bool glob = trng_chance(&g, 20);
			unsigned a = tlb_array_flush_pcid(t, pcid, glob), b = ref_tlb_flush_pcid(&r, pcid, glob);
			cr_assert_eq(a, b, "op %u: flush_pcid(%u, %d) dropped %u, ref %u", op, pcid, glob, a, b);
			dropped += a;
			continue;
		} else {                                        /* full flush */
			bool glob = trng_chance(&g, 30);
			unsigned a = tlb_array_flush_all(t, glob), b = ref_tlb_flush_all(&r, glob);
			cr_assert_eq(a, b, "op %u: flush_all(%d) dropped %u, ref %u", op, glob, a, b);
			dropped += a;
			continue;
		}

		struct tlb_entry va, vb;
		memset(&va, 0, sizeof va);
		memset(&vb, 0, sizeof vb);
		bool ea = tlb_array_insert(t, &e, &va), eb = ref_tlb_insert(&r, &e, &vb);
		cr_assert_eq(ea, eb, "op %u: insert vpn 0x%" PRIx64 " size %u pcid %u g %d: tlb %s, ref %s", op, vpn, size,
			     pcid, e.global, ea ? "evicted" : "did not evict", eb ? "evicted" : "did not evict");
		if (ea) {
			evictions++;
			expect_same_entry(&va, &vb, "victim", op);
		}
		cr_assert_eq(tlb_array_valid_entries(t), ref_tlb_valid_entries(&r), "op %u: valid entries", op);
	}
	expect_same_contents(t, &r, buf, DIFF_OPS);
	/* the trace must have exercised the interesting paths */
	cr_assert_gt(hits, DIFF_OPS / 20, "only %u hits", hits);
	cr_assert_gt(evictions, DIFF_OPS / 50, "only %u evictions", evictions);
	cr_assert_gt(dropped, DIFF_OPS / 100, "only %u invalidated", dropped);
	free(buf);
	ref_tlb_fini(&r);
}

#define GEOMETRIES(pol)                                                                           \
	{ 1536, 12, SZ_4K_2M, pol }, { 48, 4, SZ_4K, pol }, { 64, 64, ALL_SIZES, pol },               \
	{ 8, 1, SZ_4K, pol }, { 96, 96, SZ_4K_2M, pol }, { 64, 4, ALL_SIZES, pol }, { 12, 12, SZ_4K, pol }

ParameterizedTestParameters(tlb, random_traces_agree_with_the_reference)
{
	static struct diff_param params[] = {
		GEOMETRIES(TLB_POLICY_LRU), GEOMETRIES(TLB_POLICY_FIFO),
		GEOMETRIES(TLB_POLICY_PLRU), GEOMETRIES(TLB_POLICY_RANDOM),
	};
	return cr_make_param_array(struct diff_param, params, sizeof params / sizeof params[0]);
}

ParameterizedTest(struct diff_param *p, tlb, random_traces_agree_with_the_reference)
{
	cr_log_info("%u x %u, sizes 0x%x, %s", p->entries, p->ways, p->sizes, tlb_policy_name(p->policy));
	run_diff(p, 1);
	run_diff(p, 2);
	check_live();
}
