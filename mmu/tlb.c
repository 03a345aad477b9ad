/* tlb.c — one set-associative translation cache array (see tlb.h for the contract).
 *
 * Data layout. All storage is allocated once by tlb_array_new (nothing after it):
 *   e[sets × ways]         the entries (what lookup returns), set-major: way w of set s is
 *                          e[s · ways + w].
 *   key[sets × kstride]    the search tag of each entry: vpn << 2 | size when valid, KEY_FREE
 *                          when not. Rows are padded with KEY_FREE to kstride = ways rounded up
 *                          to SCAN_GROUP, so a scan compares whole groups with no tail loop. A
 *                          scan reads 8 bytes per way instead of 24 and compares one word;
 *                          pcid/global are read from e only on a key match. (So vpn must stay
 *                          below 2^62, true for any va >> 12; insert asserts it.)
 *   stamp[sets × ways]     LRU and FIFO only: a 64-bit time stamp per entry, 0 for a free way.
 *   plru[sets × words]     tree-PLRU only: the node bits of each set's tree.
 *   fill[sets]             valid entries per set; nvalid for the whole array.
 * The set of a vpn is vpn % sets, computed with a mask when sets is a power of two.
 *
 * Cost. A lookup compares SCAN_GROUP keys into a bit mask with no branch per way, then branches
 * once per group; so which way a hit lands in costs no branch misprediction. O(ways) per lookup:
 * 4 or 12 keys for real L1/STLB geometries, about 5 ns per lookup on the development machine
 * (bench/tlb_bench.c has the numbers and how to run it). A fully associative array scans all its
 * keys: for 1536 entries about 0.15 µs per hit, and about 3 µs per miss (the lookup, plus
 * insert's conflict pass and the LRU victim pass over 1536 stamps). Invalidation by address
 * scans one set; PCID and full flushes scan the whole array (skipped when it is empty).
 *
 * Replacement. An insert that matches no entry takes the lowest-numbered free (invalid) way of
 * its set; only a full set asks the policy for a victim:
 *  - LRU: a lookup hit or an insert writes stamp = ++clock (one array-wide 64-bit counter that
 *    never wraps in practice); the victim is the way with the smallest stamp. Exact true LRU.
 *  - FIFO: like LRU, but only an insert writes the stamp, so hits do not reorder.
 *  - Tree-PLRU: per set a binary tree over P = ways rounded up to a power of two leaves, stored
 *    heap-ordered (node 1 is the root, node n has children 2n and 2n+1, leaf of way w is node
 *    P + w; node 0 is unused). A node bit of 1 means "the next victim is in the right subtree".
 *    A hit or insert of way w sets every node on w's path to point away from w. The victim is
 *    found from the root following the bits, except that a right subtree whose first leaf is
 *    >= ways (only unused leaves) is never entered, so a leaf >= ways is never chosen. For
 *    P <= 64 (one word per set) a touch is one AND and one OR with masks precomputed per way.
 *  - RANDOM: victim = xorshift64() % ways, one generator per array, seeded from cfg->seed through
 *    splitmix64 (so seed 0 and neighbouring seeds are fine); drawn only when the set is full.
 *
 * Entry identity. Two valid entries of one set "conflict" when they have the same vpn and size
 * and one lookup could hit both: either is global, or their pcids are equal. Invariant: no two
 * entries of a set conflict, so a lookup hits at most one entry and its result never depends on
 * way order. An insert replaces a conflicting entry in place (it then counts as new: MRU, and for
 * FIFO the newest insertion); a new global entry also drops any further conflicting entries.
 *
 * Invalidation (Intel SDM §4.10.4.1, linux-mm-facts.md §6.5). An entry is associated with the
 * PCID it was filled under; a global entry is used by every PCID:
 *  - invlpg(va, pcid): for each size class s the array holds, vpn = va >> shift[s]; drops the
 *    entries for that vpn and size whose pcid is pcid, and global ones of any pcid.
 *  - flush_pcid(pcid, false): drops the non-global entries of pcid (MOV CR3 without NOFLUSH,
 *    INVPCID type 1); with true also the global entries associated with pcid.
 *  - flush_all(false): all non-global entries (MOV CR3 with PCIDE = 0, INVPCID type 3);
 *    flush_all(true): everything (CR4.PGE toggle, INVPCID type 2).
 * Invalidation clears valid (and the stamp); it does not touch the PLRU bits (as in hardware).
 */
#include "tlb.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Upper bound on entries per array: far above any real TLB, low enough that a typo in a
 * configuration file cannot ask for gigabytes. */
#define TLB_MAX_ENTRIES (UINT32_C(1) << 22)

#define BITS_PER_WORD 64u
/* key = vpn << KEY_SIZE_BITS | size; a free way's key is KEY_FREE (its size field, 3, is no
 * enum tlb_size, so no lookup key equals it). */
#define KEY_SIZE_BITS 2
#define KEY_VPN_LIMIT (UINT64_C(1) << (BITS_PER_WORD - KEY_SIZE_BITS))
#define KEY_FREE      UINT64_MAX
_Static_assert(TLB_NSIZES <= (1 << KEY_SIZE_BITS) - 1, "a size must fit in the key below KEY_FREE's");
/* Ways compared per step of a scan before one branch on "any match". */
#define SCAN_GROUP 4
/* Seed mixing (splitmix64 constants) and the generator used by TLB_POLICY_RANDOM (xorshift64,
 * Marsaglia 2003, shifts 13/7/17). */
#define SPLITMIX_GAMMA UINT64_C(0x9E3779B97F4A7C15)
#define SPLITMIX_MUL1  UINT64_C(0xBF58476D1CE4E5B9)
#define SPLITMIX_MUL2  UINT64_C(0x94D049BB133111EB)
#define XORSHIFT_A 13
#define XORSHIFT_B 7
#define XORSHIFT_C 17

struct tlb_array {
	struct tlb_array_config cfg;   /* a copy, name NUL-terminated */
	unsigned sets;
	unsigned ways;
	bool sets_pow2;                /* set = vpn & set_mask instead of vpn % sets */
	uint64_t set_mask;
	enum tlb_policy policy;
	unsigned shift[TLB_NSIZES];    /* invlpg: vpn = va >> shift[size] */
	unsigned nvalid;               /* number of valid entries */
	unsigned *fill;                /* [sets] valid entries per set (insert skips the free-way
	                                  search in a full set) */

	struct tlb_entry *e;           /* [sets * ways], set-major */
	uint64_t *key;                 /* [sets * kstride]: key[set * kstride + w] is the key of
	                                  e[set * ways + w] (KEY_FREE when free); w >= ways: KEY_FREE */
	unsigned kstride;              /* ways rounded up to a multiple of SCAN_GROUP */

	uint64_t *stamp;               /* LRU/FIFO: [sets * ways]; 0 = free way, else last use/insert */
	uint64_t clock;                /* LRU/FIFO: last stamp handed out */

	uint64_t *plru;                /* PLRU: [sets * plru_words] node bits */
	unsigned plru_leaves;          /* PLRU: ways rounded up to a power of two */
	unsigned plru_words;           /* PLRU: words per set = ceil(plru_leaves / 64) */
	uint64_t *plru_set;            /* PLRU, one word per set: [ways] bits a touch of way w sets */
	uint64_t *plru_keep;           /* PLRU, one word per set: [ways] ~(bits it clears) */

	uint64_t rng;                  /* RANDOM: xorshift64 state, never 0 */
};

/* ---- configuration ------------------------------------------------------------------------- */

static const char *const policy_names[TLB_NPOLICIES] = {
	[TLB_POLICY_LRU] = "lru",
	[TLB_POLICY_PLRU] = "plru",
	[TLB_POLICY_FIFO] = "fifo",
	[TLB_POLICY_RANDOM] = "random",
};

bool tlb_policy_parse(const char *s, enum tlb_policy *out)
{
	if (s == NULL)
		return false;
	for (unsigned p = 0; p < TLB_NPOLICIES; p++) {
		if (strcasecmp(s, policy_names[p]) == 0) {
			*out = (enum tlb_policy)p;
			return true;
		}
	}
	if (strcasecmp(s, "tree-plru") == 0) {
		*out = TLB_POLICY_PLRU;
		return true;
	}
	return false;
}

const char *tlb_policy_name(enum tlb_policy p)
{
	return (unsigned)p < TLB_NPOLICIES ? policy_names[p] : "unknown";
}

/* Writes "<name>: <message>" to err (if non-NULL) and returns false. */
__attribute__((format(printf, 4, 5)))
static bool config_error(const struct tlb_array_config *cfg, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (err == NULL || errlen == 0)
		return false;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strnlen(cfg->name, TLB_NAME_LEN);
	if (n == 0)
		snprintf(err, errlen, "TLB array: %s", msg);
	else
		snprintf(err, errlen, "%.*s: %s", (int)n, cfg->name, msg);
	return false;
}

bool tlb_array_config_valid(const struct tlb_array_config *cfg, char *err, size_t errlen)
{
	if (cfg->entries == 0)
		return true;   /* the array does not exist: nothing else to check */
	if (cfg->entries > TLB_MAX_ENTRIES)
		return config_error(cfg, err, errlen, "entries (%u) exceeds the maximum (%" PRIu32 ")",
				    cfg->entries, TLB_MAX_ENTRIES);
	if (cfg->ways == 0)
		return config_error(cfg, err, errlen, "ways must be at least 1");
	if (cfg->entries % cfg->ways != 0)
		return config_error(cfg, err, errlen, "entries (%u) must be divisible by ways (%u)",
				    cfg->entries, cfg->ways);
	if (cfg->sizes == 0)
		return config_error(cfg, err, errlen, "no page sizes");
	if (cfg->sizes & ~((1u << TLB_NSIZES) - 1))
		return config_error(cfg, err, errlen, "unknown page sizes in mask 0x%x", cfg->sizes);
	if ((unsigned)cfg->policy >= TLB_NPOLICIES)
		return config_error(cfg, err, errlen, "unknown replacement policy");
	return true;
}

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static unsigned round_up_pow2(unsigned x)
{
	unsigned p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += SPLITMIX_GAMMA);
	z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
	z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
	return z ^ (z >> 31);
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << XORSHIFT_A;
	x ^= x >> XORSHIFT_B;
	x ^= x << XORSHIFT_C;
	return *s = x;
}

/* Precomputes, for a one-word tree, what a touch of each way does: the nodes on the path whose
 * leaf lies in the left subtree get 1 (point right), those in the right subtree get 0. */
static void plru_precompute(struct tlb_array *t)
{
	for (unsigned w = 0; w < t->ways; w++) {
		uint64_t on = 0, clear = 0;
		for (unsigned n = t->plru_leaves + w; n > 1; n >>= 1) {
			uint64_t bit = UINT64_C(1) << (n >> 1);
			if (n & 1)
				clear |= bit;   /* right child touched: point left */
			else
				on |= bit;      /* left child touched: point right */
		}
		t->plru_set[w] = on;
		t->plru_keep[w] = ~clear;
	}
}

struct tlb_array *tlb_array_new(const struct tlb_array_config *cfg, char *err, size_t errlen)
{
	if (!tlb_array_config_valid(cfg, err, errlen))
		return NULL;
	if (cfg->entries == 0) {
		config_error(cfg, err, errlen, "entries is 0 (the array does not exist)");
		return NULL;
	}

	struct tlb_array *t = calloc(1, sizeof *t);
	if (t == NULL)
		goto oom;
	t->cfg = *cfg;
	t->cfg.name[TLB_NAME_LEN - 1] = '\0';
	t->ways = cfg->ways;
	t->sets = cfg->entries / cfg->ways;
	t->sets_pow2 = is_pow2(t->sets);
	t->set_mask = (uint64_t)t->sets - 1;
	t->policy = cfg->policy;
	for (unsigned s = 0; s < TLB_NSIZES; s++)
		t->shift[s] = tlb_size_shift((enum tlb_size)s);

	t->e = calloc(cfg->entries, sizeof *t->e);
	t->fill = calloc(t->sets, sizeof *t->fill);
	t->kstride = (t->ways + SCAN_GROUP - 1) / SCAN_GROUP * SCAN_GROUP;
	size_t nkeys = (size_t)t->sets * t->kstride;
	t->key = malloc(nkeys * sizeof *t->key);
	if (t->e == NULL || t->key == NULL || t->fill == NULL)
		goto oom;
	for (size_t i = 0; i < nkeys; i++)
		t->key[i] = KEY_FREE;
	switch (t->policy) {
	case TLB_POLICY_LRU:
	case TLB_POLICY_FIFO:
		t->stamp = calloc(cfg->entries, sizeof *t->stamp);
		if (t->stamp == NULL)
			goto oom;
		break;
	case TLB_POLICY_PLRU:
		t->plru_leaves = round_up_pow2(t->ways);
		t->plru_words = (t->plru_leaves + BITS_PER_WORD - 1) / BITS_PER_WORD;
		t->plru = calloc((size_t)t->sets * t->plru_words, sizeof *t->plru);
		if (t->plru == NULL)
			goto oom;
		if (t->plru_words == 1) {
			t->plru_set = calloc(t->ways, sizeof *t->plru_set);
			t->plru_keep = calloc(t->ways, sizeof *t->plru_keep);
			if (t->plru_set == NULL || t->plru_keep == NULL)
				goto oom;
			plru_precompute(t);
		}
		break;
	case TLB_POLICY_RANDOM: {
		uint64_t s = cfg->seed;
		t->rng = splitmix64(&s);
		if (t->rng == 0)
			t->rng = SPLITMIX_GAMMA;   /* xorshift64 must not start at 0 */
		break;
	}
	case TLB_NPOLICIES:
		break;
	}
	return t;

oom:
	tlb_array_free(t);
	config_error(cfg, err, errlen, "out of memory for %u entries", cfg->entries);
	return NULL;
}

void tlb_array_free(struct tlb_array *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t->key);
	free(t->fill);
	free(t->stamp);
	free(t->plru);
	free(t->plru_set);
	free(t->plru_keep);
	free(t);
}

const struct tlb_array_config *tlb_array_config_of(const struct tlb_array *t)
{
	return &t->cfg;
}

void tlb_array_set_page_shift(struct tlb_array *t, enum tlb_size size, unsigned shift)
{
	assert((unsigned)size < TLB_NSIZES && shift < BITS_PER_WORD);
	t->shift[size] = shift;
}

/* ---- replacement state ------------------------------------------------------------------- */

static inline size_t set_of(const struct tlb_array *t, uint64_t vpn)
{
	return t->sets_pow2 ? (size_t)(vpn & t->set_mask) : (size_t)(vpn % t->sets);
}

static inline bool plru_bit(const uint64_t *tree, unsigned node)
{
	return (tree[node / BITS_PER_WORD] >> (node % BITS_PER_WORD)) & 1;
}

/* Points every node on way w's path away from w: the general case (more than 64 leaves). */
__attribute__((noinline))
static void plru_touch_long(struct tlb_array *t, uint64_t *tree, unsigned w)
{
	for (unsigned n = t->plru_leaves + w; n > 1; n >>= 1) {
		unsigned parent = n >> 1;
		uint64_t bit = UINT64_C(1) << (parent % BITS_PER_WORD);
		if (n & 1)
			tree[parent / BITS_PER_WORD] &= ~bit;
		else
			tree[parent / BITS_PER_WORD] |= bit;
	}
}

/* Points every node on way w's path away from w (one AND and one OR for a one-word tree). */
static inline void plru_touch(struct tlb_array *t, size_t set, unsigned w)
{
	uint64_t *tree = t->plru + set * t->plru_words;

	if (t->plru_words == 1)
		tree[0] = (tree[0] & t->plru_keep[w]) | t->plru_set[w];
	else
		plru_touch_long(t, tree, w);
}

/* Follows the bits from the root; never enters a subtree made only of unused leaves. */
static unsigned plru_victim(const struct tlb_array *t, size_t set)
{
	const uint64_t *tree = t->plru + set * t->plru_words;
	unsigned node = 1, first = 0, span = t->plru_leaves;

	while (node < t->plru_leaves) {
		span /= 2;
		if (plru_bit(tree, node) && first + span < t->ways) {
			node = 2 * node + 1;
			first += span;
		} else {
			node = 2 * node;
		}
	}
	return node - t->plru_leaves;
}

/* Records a use of way w of set (base = set * ways). fill: the use is an insert. */
static inline void touch(struct tlb_array *t, size_t set, size_t base, unsigned w, bool fill)
{
	switch (t->policy) {
	case TLB_POLICY_LRU:
		t->stamp[base + w] = ++t->clock;
		break;
	case TLB_POLICY_FIFO:
		if (fill)
			t->stamp[base + w] = ++t->clock;
		break;
	case TLB_POLICY_PLRU:
		plru_touch(t, set, w);
		break;
	default:
		break;
	}
}

/* The way to evict from a full set. */
static unsigned victim_way(struct tlb_array *t, size_t set, size_t base)
{
	switch (t->policy) {
	case TLB_POLICY_LRU:
	case TLB_POLICY_FIFO: {
		/* the smallest stamp; written so that it compiles to conditional moves */
		const uint64_t *st = t->stamp + base;
		uint64_t oldest = st[0];
		unsigned best = 0;
		for (unsigned w = 1; w < t->ways; w++) {
			bool older = st[w] < oldest;
			oldest = older ? st[w] : oldest;
			best = older ? w : best;
		}
		return best;
	}
	case TLB_POLICY_PLRU:
		return plru_victim(t, set);
	case TLB_POLICY_RANDOM:
		return (unsigned)(xorshift64(&t->rng) % t->ways);
	default:
		assert(!"unknown policy");
		return 0;
	}
}

static inline void invalidate(struct tlb_array *t, size_t set, unsigned w)
{
	size_t i = set * t->ways + w;
	assert(t->e[i].valid && t->nvalid > 0);
	t->e[i].valid = false;
	t->key[set * t->kstride + w] = KEY_FREE;
	if (t->stamp)
		t->stamp[i] = 0;
	t->nvalid--;
	t->fill[set]--;
}

/* ---- lookup and insert ------------------------------------------------------------------- */

static inline uint64_t key_of(uint64_t vpn, unsigned size)
{
	return vpn << KEY_SIZE_BITS | size;
}

/* Whether (vpn, size) can be in an array at all; key_of is only meaningful when it can. */
static inline bool storable(uint64_t vpn, unsigned size)
{
	return vpn < KEY_VPN_LIMIT && size < TLB_NSIZES;
}

/* Two valid entries conflict when one lookup could hit both (see the top of this file). */
static inline bool conflicts(const struct tlb_entry *x, const struct tlb_entry *y)
{
	return x->valid && y->valid && x->vpn == y->vpn && x->size == y->size &&
	       (x->global || y->global || x->pcid == y->pcid);
}

/* Bit j set when k[j] == key, for j < SCAN_GROUP. Branch-free. */
static inline unsigned group_match(const uint64_t *k, uint64_t key)
{
	unsigned m = 0;
	for (unsigned j = 0; j < SCAN_GROUP; j++)
		m |= (unsigned)(k[j] == key) << j;
	return m;
}

/* The way of `set` that a lookup of (key, pcid) hits, or t->ways. The key row is padded with
 * KEY_FREE to a multiple of SCAN_GROUP, so whole groups are compared without a tail loop; only
 * a key match (rare on a miss, once on a hit) reads the entry for global/pcid. Used by probe
 * and invalidation; tlb_array_lookup has its own copy of the loop, tuned for the hot path. */
static inline unsigned find(const struct tlb_array *t, size_t set, uint64_t key, unsigned pcid)
{
	const uint64_t *k = t->key + set * t->kstride;
	const struct tlb_entry *e = t->e + set * t->ways;

	for (unsigned w = 0; w < t->kstride; w += SCAN_GROUP) {
		for (unsigned m = group_match(k + w, key); m != 0; m &= m - 1) {
			unsigned v = w + (unsigned)__builtin_ctz(m);
			if (e[v].global || e[v].pcid == pcid)
				return v;
		}
	}
	return t->ways;
}

/* The hot path: find() written out with pointers, so that it needs few registers. */
struct tlb_entry *tlb_array_lookup(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	if (__builtin_expect(!storable(vpn, size), 0))
		return NULL;   /* never inserted (tlb_array_insert asserts it) */
	size_t set = set_of(t, vpn);
	uint64_t key = key_of(vpn, size);
	const uint64_t *k = t->key + set * t->kstride, *end = k + t->kstride;
	size_t base = set * t->ways;
	struct tlb_entry *e = t->e + base;

	for (const uint64_t *g = k; g < end; g += SCAN_GROUP) {
		unsigned m = group_match(g, key);
		if (__builtin_expect(m == 0, 1))
			continue;
		do {
			unsigned w = (unsigned)(g - k) + (unsigned)__builtin_ctz(m);
			if (e[w].global || e[w].pcid == pcid) {
				touch(t, set, base, w, false);
				return &e[w];
			}
			m &= m - 1;
		} while (m != 0);
	}
	return NULL;
}

const struct tlb_entry *tlb_array_probe(const struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	if (!storable(vpn, size))
		return NULL;
	size_t set = set_of(t, vpn);
	unsigned w = find(t, set, key_of(vpn, size), pcid);
	return w == t->ways ? NULL : &t->e[set * t->ways + w];
}

bool tlb_array_insert(struct tlb_array *t, const struct tlb_entry *in, struct tlb_entry *victim)
{
	struct tlb_entry ne = *in;
	ne.valid = true;
	assert(storable(ne.vpn, ne.size) && (t->cfg.sizes & TLB_SIZE_BIT(ne.size)));

	size_t set = set_of(t, ne.vpn);
	size_t base = set * t->ways;
	struct tlb_entry *e = t->e + base;
	uint64_t *k = t->key + set * t->kstride;
	uint64_t nk = key_of(ne.vpn, ne.size);
	unsigned slot = t->ways;
	unsigned free_way = t->ways;   /* t->ways: none found (yet) */
	bool look_for_free = t->fill[set] < t->ways;
	bool evicted = false;

	/* one pass over the key row: conflicting entries, and the first free way if the set has one
	 * (padding keys are free too, hence the w < ways test) */
	for (unsigned w = 0; w < t->kstride; w += SCAN_GROUP) {
		for (unsigned m = group_match(k + w, nk); m != 0; m &= m - 1) {
			unsigned v = w + (unsigned)__builtin_ctz(m);
			if (!conflicts(&e[v], &ne))
				continue;                  /* same page, another PCID: both stay */
			if (slot == t->ways)
				slot = v;                  /* replaced in place */
			else
				invalidate(t, set, v);     /* a new global entry shadows it */
		}
		if (look_for_free && free_way == t->ways) {
			unsigned f = group_match(k + w, KEY_FREE);
			if (f != 0 && w + (unsigned)__builtin_ctz(f) < t->ways)
				free_way = w + (unsigned)__builtin_ctz(f);
		}
	}
	if (slot == t->ways) {
		if (free_way < t->ways) {
			slot = free_way;
		} else {
			slot = victim_way(t, set, base);
			if (victim)
				*victim = e[slot];
			evicted = true;
		}
	}
	if (!e[slot].valid) {
		t->nvalid++;
		t->fill[set]++;
	}
	e[slot] = ne;
	k[slot] = nk;
	touch(t, set, base, slot, true);
	return evicted;
}

/* ---- invalidation ------------------------------------------------------------------------ */

/* Drops the entry a lookup of (vpn, size, pcid) would hit (at most one, see insert). */
static unsigned drop_hits(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	if (!storable(vpn, size))
		return 0;
	size_t set = set_of(t, vpn);
	unsigned w = find(t, set, key_of(vpn, size), pcid);
	if (w == t->ways)
		return 0;
	invalidate(t, set, w);
	return 1;
}

unsigned tlb_array_invlpg(struct tlb_array *t, uint64_t va, unsigned pcid)
{
	unsigned n = 0;

	for (unsigned s = 0; s < TLB_NSIZES; s++)
		if (t->cfg.sizes & TLB_SIZE_BIT(s))
			n += drop_hits(t, va >> t->shift[s], (enum tlb_size)s, pcid);
	return n;
}

unsigned tlb_array_drop(struct tlb_array *t, uint64_t vpn, enum tlb_size size, unsigned pcid)
{
	if ((unsigned)size >= TLB_NSIZES || !(t->cfg.sizes & TLB_SIZE_BIT(size)))
		return 0;
	return drop_hits(t, vpn, size, pcid);
}

/* Drops every valid entry with pcid (if only_pcid) whose global bit allows it. */
static unsigned flush(struct tlb_array *t, bool only_pcid, unsigned pcid, bool include_global)
{
	unsigned n = 0;

	if (t->nvalid == 0)
		return 0;
	for (size_t set = 0; set < t->sets; set++) {
		const struct tlb_entry *e = t->e + set * t->ways;
		for (unsigned w = 0; w < t->ways; w++) {
			if (e[w].valid && (!only_pcid || e[w].pcid == pcid) && (include_global || !e[w].global)) {
				invalidate(t, set, w);
				n++;
			}
		}
	}
	return n;
}

unsigned tlb_array_flush_pcid(struct tlb_array *t, unsigned pcid, bool include_global)
{
	return flush(t, true, pcid, include_global);
}

unsigned tlb_array_flush_all(struct tlb_array *t, bool include_global)
{
	return flush(t, false, 0, include_global);
}

unsigned tlb_array_valid_entries(const struct tlb_array *t)
{
	return t->nvalid;
}

/* ---- self-check -------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2)))
static const char *reason(const char *fmt, ...)
{
	static _Thread_local char buf[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return buf;
}

const char *tlb_array_check(const struct tlb_array *t)
{
	unsigned count = 0;

	if (t->sets * t->ways != t->cfg.entries)
		return reason("geometry: %u sets x %u ways != %u entries", t->sets, t->ways, t->cfg.entries);
	for (size_t set = 0; set < t->sets; set++) {
		size_t base = set * t->ways;
		unsigned in_set = 0;
		for (unsigned w = 0; w < t->ways; w++) {
			const struct tlb_entry *x = &t->e[base + w];
			if (t->stamp) {
				uint64_t st = t->stamp[base + w];
				if (x->valid ? (st == 0 || st > t->clock) : st != 0)
					return reason("set %zu way %u: stamp %" PRIu64 " (clock %" PRIu64 ") for a %s entry",
						      set, w, st, t->clock, x->valid ? "valid" : "free");
			}
			uint64_t want = x->valid ? key_of(x->vpn, x->size) : KEY_FREE;
			uint64_t have = t->key[set * t->kstride + w];
			if (have != want)
				return reason("set %zu way %u: key 0x%" PRIx64 " for a %s entry (expected 0x%" PRIx64 ")",
					      set, w, have, x->valid ? "valid" : "free", want);
			if (!x->valid)
				continue;
			count++;
			in_set++;
			if ((unsigned)x->size >= TLB_NSIZES || !(t->cfg.sizes & TLB_SIZE_BIT(x->size)))
				return reason("set %zu way %u: page size %u not held by this array", set, w, x->size);
			if (set_of(t, x->vpn) != set)
				return reason("set %zu way %u: vpn 0x%" PRIx64 " belongs to set %zu", set, w, x->vpn,
					      set_of(t, x->vpn));
			for (unsigned v = w + 1; v < t->ways; v++) {
				const struct tlb_entry *y = &t->e[base + v];
				if (conflicts(x, y))
					return reason("set %zu: ways %u and %u both match vpn 0x%" PRIx64 " size %u (pcids %u, %u)",
						      set, w, v, x->vpn, x->size, x->pcid, y->pcid);
				if (t->stamp && y->valid && t->stamp[base + v] == t->stamp[base + w])
					return reason("set %zu: ways %u and %u have the same stamp", set, w, v);
			}
		}
		if (in_set != t->fill[set])
			return reason("set %zu: %u valid entries, fill count %u", set, in_set, t->fill[set]);
		for (unsigned w = t->ways; w < t->kstride; w++)
			if (t->key[set * t->kstride + w] != KEY_FREE)
				return reason("set %zu: padding key %u is not free", set, w);
		if (t->plru) {
			/* node 0 and bits past the last node (P - 1) are never used */
			const uint64_t *tree = t->plru + set * t->plru_words;
			for (unsigned b = 0; b < t->plru_words * BITS_PER_WORD; b++)
				if ((b == 0 || b >= t->plru_leaves) && plru_bit(tree, b))
					return reason("set %zu: PLRU bit %u outside the tree is set", set, b);
		}
	}
	if (count != t->nvalid)
		return reason("%u valid entries counted, %u recorded", count, t->nvalid);
	if (t->policy == TLB_POLICY_RANDOM && t->rng == 0)
		return reason("random generator state is 0");
	return NULL;
}

unsigned tlb_array_sets(const struct tlb_array *t)
{
	return t->sets;
}

size_t tlb_array_set_index(const struct tlb_array *t, uint64_t vpn)
{
	return set_of(t, vpn);
}
