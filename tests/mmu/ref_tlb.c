/* ref_tlb.c — the naive reference TLB array (see ref_tlb.h). Clarity over speed: every
 * operation scans its set, lists are shifted element by element, the PLRU tree is one bool per
 * node. The only thing copied from tlb.c on purpose is the random generator's definition, since a
 * random policy can only be compared against the same sequence of draws. */
#include "ref_tlb.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static bool is_list_policy(const struct ref_tlb *r)
{
	return r->policy == TLB_POLICY_LRU || r->policy == TLB_POLICY_FIFO;
}

static struct tlb_entry *set_base(const struct ref_tlb *r, unsigned set)
{
	return r->e + (size_t)set * r->ways;
}

static unsigned set_index(const struct ref_tlb *r, uint64_t vpn)
{
	return (unsigned)(vpn % r->sets);
}

static bool matches(const struct tlb_entry *x, uint64_t vpn, unsigned size, unsigned pcid)
{
	return x->valid && x->vpn == vpn && x->size == size && (x->global || x->pcid == pcid);
}

static bool conflict(const struct tlb_entry *x, const struct tlb_entry *n)
{
	return x->valid && x->vpn == n->vpn && x->size == n->size &&
	       (x->global || n->global || x->pcid == n->pcid);
}

uint64_t trng_next(struct trng *g)
{
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void ref_tlb_init(struct ref_tlb *r, const struct tlb_array_config *cfg)
{
	memset(r, 0, sizeof *r);
	r->ways = cfg->ways;
	r->sets = cfg->entries / cfg->ways;
	r->sizes = cfg->sizes;
	r->policy = cfg->policy;
	r->shift[TLB_4K] = 12;
	r->shift[TLB_2M] = 21;
	r->shift[TLB_1G] = 30;
	r->e = calloc(cfg->entries, sizeof *r->e);
	r->count = calloc(r->sets, sizeof *r->count);
	r->leaves = 1;
	while (r->leaves < r->ways)
		r->leaves *= 2;
	r->node = calloc((size_t)r->sets * 2 * r->leaves, sizeof *r->node);
	assert(r->e && r->count && r->node);
	/* same seeding as tlb.c: one splitmix64 step of the seed, never 0 */
	struct trng g = { cfg->seed };
	r->rng = trng_next(&g);
	if (r->rng == 0)
		r->rng = 0x9E3779B97F4A7C15ull;
}

void ref_tlb_fini(struct ref_tlb *r)
{
	free(r->e);
	free(r->count);
	free(r->node);
}

/* ---- LRU / FIFO lists ---------------------------------------------------------------------- */

static void list_remove(struct ref_tlb *r, unsigned set, unsigned i)
{
	struct tlb_entry *l = set_base(r, set);
	for (unsigned j = i; j + 1 < r->count[set]; j++)
		l[j] = l[j + 1];
	r->count[set]--;
	memset(&l[r->count[set]], 0, sizeof l[0]);
}

static void list_append(struct ref_tlb *r, unsigned set, const struct tlb_entry *e)
{
	assert(r->count[set] < r->ways);
	set_base(r, set)[r->count[set]++] = *e;
}

/* ---- PLRU tree ---------------------------------------------------------------------------- */

static bool *tree(const struct ref_tlb *r, unsigned set)
{
	return r->node + (size_t)set * 2 * r->leaves;
}

static void plru_use(struct ref_tlb *r, unsigned set, unsigned way)
{
	bool *t = tree(r, set);
	unsigned n = 1, lo = 0, hi = r->leaves;
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;
		if (way < mid) {
			t[n] = true;    /* used the left half: next victim on the right */
			n = 2 * n;
			hi = mid;
		} else {
			t[n] = false;
			n = 2 * n + 1;
			lo = mid;
		}
	}
}

static unsigned plru_pick(const struct ref_tlb *r, unsigned set)
{
	const bool *t = tree(r, set);
	unsigned n = 1, lo = 0, hi = r->leaves;
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;
		if (t[n] && mid < r->ways) {   /* the right half holds a real way */
			n = 2 * n + 1;
			lo = mid;
		} else {
			n = 2 * n;
			hi = mid;
		}
	}
	return lo;
}

static unsigned random_pick(struct ref_tlb *r)
{
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return (unsigned)(x % r->ways);
}

/* ---- operations --------------------------------------------------------------------------- */

struct tlb_entry *ref_tlb_lookup(struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	unsigned set = set_index(r, vpn);
	struct tlb_entry *s = set_base(r, set);

	for (unsigned i = 0; i < r->ways; i++) {
		if (!matches(&s[i], vpn, size, pcid))
			continue;
		if (r->policy == TLB_POLICY_LRU) {
			struct tlb_entry hit = s[i];
			list_remove(r, set, i);
			list_append(r, set, &hit);
			return &s[r->count[set] - 1];
		}
		if (r->policy == TLB_POLICY_PLRU)
			plru_use(r, set, i);
		return &s[i];
	}
	return NULL;
}

const struct tlb_entry *ref_tlb_probe(const struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	const struct tlb_entry *s = set_base(r, set_index(r, vpn));
	for (unsigned i = 0; i < r->ways; i++)
		if (matches(&s[i], vpn, size, pcid))
			return &s[i];
	return NULL;
}

bool ref_tlb_insert(struct ref_tlb *r, const struct tlb_entry *in, struct tlb_entry *victim)
{
	struct tlb_entry n = *in;
	n.valid = true;
	unsigned set = set_index(r, n.vpn);
	struct tlb_entry *s = set_base(r, set);

	if (is_list_policy(r)) {
		bool replaced = false;
		for (unsigned i = r->count[set]; i-- > 0;) {
			if (conflict(&s[i], &n)) {
				list_remove(r, set, i);
				replaced = true;
			}
		}
		bool evicted = false;
		if (!replaced && r->count[set] == r->ways) {
			if (victim)
				*victim = s[0];
			list_remove(r, set, 0);
			evicted = true;
		}
		list_append(r, set, &n);
		return evicted;
	}

	/* PLRU / RANDOM: slots have positions */
	int slot = -1;
	for (unsigned i = 0; i < r->ways; i++) {
		if (conflict(&s[i], &n)) {
			if (slot < 0)
				slot = (int)i;
			else
				s[i].valid = false;
		}
	}
	bool evicted = false;
	if (slot < 0) {
		for (unsigned i = 0; i < r->ways && slot < 0; i++)
			if (!s[i].valid)
				slot = (int)i;
	}
	if (slot < 0) {
		slot = (int)(r->policy == TLB_POLICY_PLRU ? plru_pick(r, set) : random_pick(r));
		if (victim)
			*victim = s[slot];
		evicted = true;
	}
	s[slot] = n;
	if (r->policy == TLB_POLICY_PLRU)
		plru_use(r, set, (unsigned)slot);
	return evicted;
}

/* Drops every valid entry for which hit() is true; returns how many. */
static unsigned drop_if(struct ref_tlb *r, bool (*hit)(const struct tlb_entry *, const void *), const void *arg)
{
	unsigned n = 0;
	for (unsigned set = 0; set < r->sets; set++) {
		struct tlb_entry *s = set_base(r, set);
		for (unsigned i = r->ways; i-- > 0;) {
			if (!s[i].valid || !hit(&s[i], arg))
				continue;
			n++;
			if (is_list_policy(r))
				list_remove(r, set, i);
			else
				s[i].valid = false;
		}
	}
	return n;
}

struct addr_arg { uint64_t vpn; unsigned size, pcid; };
struct pcid_arg { unsigned pcid; bool include_global; };

static bool hit_addr(const struct tlb_entry *x, const void *p)
{
	const struct addr_arg *a = p;
	return matches(x, a->vpn, a->size, a->pcid);
}

static bool hit_pcid(const struct tlb_entry *x, const void *p)
{
	const struct pcid_arg *a = p;
	return x->pcid == a->pcid && (a->include_global || !x->global);
}

static bool hit_all(const struct tlb_entry *x, const void *p)
{
	const bool *include_global = p;
	return *include_global || !x->global;
}

unsigned ref_tlb_drop(struct ref_tlb *r, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	if (!(r->sizes & TLB_SIZE_BIT(size)))
		return 0;
	struct addr_arg a = { vpn, size, pcid };
	return drop_if(r, hit_addr, &a);
}

unsigned ref_tlb_invlpg(struct ref_tlb *r, uint64_t va, unsigned pcid)
{
	unsigned n = 0;
	for (unsigned s = 0; s < TLB_NSIZES; s++)
		n += ref_tlb_drop(r, va >> r->shift[s], (enum tlb_size)s, pcid);
	return n;
}

unsigned ref_tlb_flush_pcid(struct ref_tlb *r, unsigned pcid, bool include_global)
{
	struct pcid_arg a = { pcid, include_global };
	return drop_if(r, hit_pcid, &a);
}

unsigned ref_tlb_flush_all(struct ref_tlb *r, bool include_global)
{
	return drop_if(r, hit_all, &include_global);
}

unsigned ref_tlb_entries(const struct ref_tlb *r, struct tlb_entry *out)
{
	unsigned n = 0;
	for (size_t i = 0; i < (size_t)r->sets * r->ways; i++)
		if (r->e[i].valid)
			out[n++] = r->e[i];
	return n;
}

unsigned ref_tlb_valid_entries(const struct ref_tlb *r)
{
	unsigned n = 0;
	for (size_t i = 0; i < (size_t)r->sets * r->ways; i++)
		n += r->e[i].valid;
	return n;
}
