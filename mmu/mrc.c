/* mrc.c — one-pass miss-rate curves (see mrc.h for the contract and the definition).
 *
 * The stack of one size class is a sequence of *slots*, most recent first: entries (pages) and
 * holes (entries that were invalidated). A slot's depth is its position from the top, holes
 * included. Why holes: take a fully associative LRU TLB of N entries. Invalidating an entry frees
 * its way; the next miss fills a free way before it evicts anything. So for every N at once:
 *   - an entry at depth d is in the TLBs of N >= d entries (the stack-inclusion property);
 *   - a hole at depth k is a free way in the TLBs of N >= k entries;
 *   - a reference to the entry at depth d (or a cold one, d = infinity) whose topmost hole above
 *     it is at depth k: TLBs with N < k evict their LRU entry (the slot at depth N moves to N+1:
 *     the slots above k shift down by one), TLBs with k <= N < d miss and fill their free way
 *     (the hole at k is consumed, nothing below k moves), TLBs with N >= d hit and keep their
 *     free way, which is now at the referenced entry's old depth d (that slot becomes a hole).
 *     With no hole above, it is Mattson's move-to-front: the slots above d shift down by one.
 * Depths therefore never decrease; a slot that falls below the maximum depth is forgotten.
 *
 * Representation: every slot has a position (a time stamp within a window of W positions; the
 * stack order is decreasing position). A Fenwick tree over positions counts the occupied ones,
 * so depth(p) = live - (occupied positions <= p) + 1. owner[p] says what occupies p (nothing, a
 * hole, or an entry); a hash maps a page to its entry; a max-heap holds hole positions (stale
 * ones, of holes that fell off the bottom, are skipped when they surface). Slots are only ever
 * added at the top (position `next`), so the lowest occupied position only grows and the bottom
 * slot is found by a forward scan. When `next` reaches W, the live slots (at most max) are
 * renumbered 0..live-1 and the tree and heap rebuilt: O(W) every W - max references.
 */
#include "mrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

#define POS_FREE 0u
#define POS_HOLE UINT32_MAX
#define NO_POS UINT32_MAX
#define KEY_GLOBAL 0x1000u          /* key = vpn << KEY_VPN_SHIFT | (global ? KEY_GLOBAL : pcid) */
#define KEY_VPN_SHIFT 13
#define PCID_MASK 0xfffu
#define HASH_MUL UINT64_C(0x9E3779B97F4A7C15)
#define WINDOW_SLACK 1024u

struct mrc_item {
	uint64_t key;
	uint32_t pos;        /* its slot's position */
	bool used;
	bool global;
	uint16_t pcid;
};

struct mrc_stack {
	uint32_t W;          /* positions in the window */
	uint32_t next;       /* next position handed out (the top is next - 1) */
	uint32_t low;        /* every occupied position is >= low */
	uint32_t live;       /* occupied slots (entries + holes), <= max */
	uint32_t *fen;       /* [W + 1] Fenwick tree (1-based) of occupied positions */
	uint32_t *owner;     /* [W]: POS_FREE, POS_HOLE, or entry index + 1 */
	uint32_t *heap;      /* max-heap of hole positions (possibly stale) */
	uint32_t nheap, heap_cap;
	struct mrc_item *items;   /* [max + 1] */
	uint32_t *free_items;     /* stack of unused item indices */
	uint32_t nfree;
	uint32_t *ht;        /* open addressing: item index + 1, 0 empty */
	uint32_t ht_mask;
	unsigned ht_bits;
	uint64_t *hist;      /* [max + 1]: hist[d] = references found at depth d */
	uint64_t refs, cold;
};

struct mrc {
	unsigned max;
	unsigned level;
	unsigned shift[TLB_NSIZES];
	unsigned configured[TLB_NSIZES];
	struct mrc_stack *st[TLB_NSIZES];   /* allocated at the first reference of the class */
	bool oom;                           /* an allocation failed: references are dropped */
};

/* ---- Fenwick tree ------------------------------------------------------------------------ */

static inline void fen_add(struct mrc_stack *s, uint32_t pos, int32_t d)
{
	for (uint32_t i = pos + 1; i <= s->W; i += i & (0u - i))
		s->fen[i] += (uint32_t)d;
}

/* Occupied positions <= pos. */
static inline uint32_t fen_prefix(const struct mrc_stack *s, uint32_t pos)
{
	uint32_t n = 0;
	for (uint32_t i = pos + 1; i > 0; i -= i & (0u - i))
		n += s->fen[i];
	return n;
}

static void fen_rebuild(struct mrc_stack *s)
{
	memset(s->fen, 0, (size_t)(s->W + 1) * sizeof(*s->fen));
	for (uint32_t p = 0; p < s->W; p++)
		if (s->owner[p] != POS_FREE)
			s->fen[p + 1] = 1;
	for (uint32_t i = 1; i <= s->W; i++) {
		uint32_t j = i + (i & (0u - i));
		if (j <= s->W)
			s->fen[j] += s->fen[i];
	}
}

/* ---- hole heap --------------------------------------------------------------------------- */

static void heap_sift_down(struct mrc_stack *s, uint32_t i)
{
	uint32_t n = s->nheap, *h = s->heap;
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, big = i;
		if (l < n && h[l] > h[big])
			big = l;
		if (r < n && h[r] > h[big])
			big = r;
		if (big == i)
			return;
		uint32_t t = h[i];
		h[i] = h[big];
		h[big] = t;
		i = big;
	}
}

/* Rebuilds the heap from the live holes (positions in decreasing order form a valid max-heap). */
static void heap_rebuild(struct mrc_stack *s)
{
	s->nheap = 0;
	for (uint32_t p = s->next; p-- > s->low;)
		if (s->owner[p] == POS_HOLE)
			s->heap[s->nheap++] = p;
}

static void heap_push(struct mrc_stack *s, uint32_t pos)
{
	if (s->nheap == s->heap_cap)
		heap_rebuild(s);   /* drops stale entries; live holes <= max < heap_cap */
	uint32_t i = s->nheap++, *h = s->heap;
	h[i] = pos;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (h[p] >= h[i])
			break;
		uint32_t t = h[p];
		h[p] = h[i];
		h[i] = t;
		i = p;
	}
}

/* The position of the topmost live hole, or NO_POS. */
static uint32_t heap_top(struct mrc_stack *s)
{
	while (s->nheap && s->owner[s->heap[0]] != POS_HOLE) {
		s->heap[0] = s->heap[--s->nheap];
		heap_sift_down(s, 0);
	}
	return s->nheap ? s->heap[0] : NO_POS;
}

static void heap_pop(struct mrc_stack *s)
{
	s->heap[0] = s->heap[--s->nheap];
	heap_sift_down(s, 0);
}

/* ---- page hash --------------------------------------------------------------------------- */

static inline uint32_t ht_home(const struct mrc_stack *s, uint64_t key)
{
	return (uint32_t)((key * HASH_MUL) >> (64 - s->ht_bits)) & s->ht_mask;
}

/* The item index of key, or NO_POS. */
static inline uint32_t ht_find(const struct mrc_stack *s, uint64_t key)
{
	for (uint32_t h = ht_home(s, key);; h = (h + 1) & s->ht_mask) {
		uint32_t v = s->ht[h];
		if (!v)
			return NO_POS;
		if (s->items[v - 1].key == key)
			return v - 1;
	}
}

static void ht_insert(struct mrc_stack *s, uint32_t idx)
{
	uint32_t h = ht_home(s, s->items[idx].key);
	while (s->ht[h])
		h = (h + 1) & s->ht_mask;
	s->ht[h] = idx + 1;
}

/* Removes item idx (present) with backward-shift deletion: no tombstones. */
static void ht_remove(struct mrc_stack *s, uint32_t idx)
{
	uint32_t h = ht_home(s, s->items[idx].key);
	while (s->ht[h] != idx + 1)
		h = (h + 1) & s->ht_mask;
	uint32_t hole = h;
	for (uint32_t j = (hole + 1) & s->ht_mask; s->ht[j]; j = (j + 1) & s->ht_mask) {
		uint32_t home = ht_home(s, s->items[s->ht[j] - 1].key);
		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!stays) {
			s->ht[hole] = s->ht[j];
			hole = j;
		}
	}
	s->ht[hole] = 0;
}

/* ---- stacks ------------------------------------------------------------------------------ */

static void stack_free(struct mrc_stack *s)
{
	if (!s)
		return;
	free(s->fen);
	free(s->owner);
	free(s->heap);
	free(s->items);
	free(s->free_items);
	free(s->ht);
	free(s->hist);
	free(s);
}

static struct mrc_stack *stack_new(unsigned max)
{
	struct mrc_stack *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->W = 2 * max + WINDOW_SLACK;
	s->heap_cap = s->W;
	unsigned bits = 4;
	while ((1u << bits) < 2 * (max + 1))
		bits++;
	s->ht_bits = bits;
	s->ht_mask = (1u << bits) - 1;
	s->fen = calloc((size_t)s->W + 1, sizeof(*s->fen));
	s->owner = calloc(s->W, sizeof(*s->owner));
	s->heap = calloc(s->heap_cap, sizeof(*s->heap));
	s->items = calloc((size_t)max + 1, sizeof(*s->items));
	s->free_items = calloc((size_t)max + 1, sizeof(*s->free_items));
	s->ht = calloc((size_t)1 << bits, sizeof(*s->ht));
	s->hist = calloc((size_t)max + 1, sizeof(*s->hist));
	if (!s->fen || !s->owner || !s->heap || !s->items || !s->free_items || !s->ht || !s->hist) {
		stack_free(s);
		return NULL;
	}
	for (uint32_t i = 0; i <= max; i++)
		s->free_items[i] = max - i;
	s->nfree = max + 1;
	return s;
}

/* Renumbers the live slots 0..live-1 (same order) and rebuilds the tree and the heap. */
static void stack_compact(struct mrc_stack *s)
{
	uint32_t n = 0;
	for (uint32_t p = s->low; p < s->next; p++) {
		uint32_t o = s->owner[p];
		if (o == POS_FREE)
			continue;
		s->owner[p] = POS_FREE;
		s->owner[n] = o;
		if (o != POS_HOLE)
			s->items[o - 1].pos = n;
		n++;
	}
	s->low = 0;
	s->next = n;
	fen_rebuild(s);
	heap_rebuild(s);
}

/* Puts item idx in a new slot on top. */
static void stack_place(struct mrc_stack *s, uint32_t idx)
{
	if (s->next == s->W)
		stack_compact(s);
	uint32_t p = s->next++;
	s->owner[p] = idx + 1;
	fen_add(s, p, 1);
	s->items[idx].pos = p;
}

static void stack_forget_item(struct mrc_stack *s, uint32_t idx)
{
	ht_remove(s, idx);
	s->items[idx].used = false;
	s->free_items[s->nfree++] = idx;
}

/* Empties slot p (an entry's or a hole's): the stack loses one slot. */
static void stack_clear_slot(struct mrc_stack *s, uint32_t p)
{
	s->owner[p] = POS_FREE;
	fen_add(s, p, -1);
	s->live--;
}

static void stack_ref(struct mrc_stack *s, unsigned max, uint64_t key, bool global, unsigned pcid,
		      uint64_t count)
{
	s->refs += count;
	uint32_t idx = ht_find(s, key);
	if (idx != NO_POS) {
		uint32_t p = s->items[idx].pos;
		s->items[idx].global = global;
		if (p == s->next - 1) {
			/* Already the top slot: depth 1, nothing moves. */
			s->hist[1] += count;
			return;
		}
		uint32_t depth = s->live - fen_prefix(s, p) + 1;
		s->hist[depth]++;
		uint32_t h = heap_top(s);
		if (h != NO_POS && h > p) {
			/* The shift stops at the topmost hole; the old slot becomes the free way of
			 * the TLBs that hit. */
			heap_pop(s);
			s->owner[h] = POS_FREE;
			fen_add(s, h, -1);
			s->owner[p] = POS_HOLE;
			heap_push(s, p);
		} else {
			s->owner[p] = POS_FREE;
			fen_add(s, p, -1);
		}
		stack_place(s, idx);
	} else {
		s->cold++;
		uint32_t h = heap_top(s);
		if (h != NO_POS) {
			heap_pop(s);
			stack_clear_slot(s, h);
		}
		idx = s->free_items[--s->nfree];
		struct mrc_item *it = &s->items[idx];
		it->key = key;
		it->used = true;
		it->global = global;
		it->pcid = (uint16_t)pcid;
		ht_insert(s, idx);
		stack_place(s, idx);
		s->live++;
		if (s->live > max) {
			/* The bottom slot is now deeper than any TLB we report: forget it. */
			while (s->owner[s->low] == POS_FREE)
				s->low++;
			uint32_t o = s->owner[s->low];
			if (o != POS_HOLE)
				stack_forget_item(s, o - 1);
			stack_clear_slot(s, s->low);
		}
	}
	s->hist[1] += count - 1;
}

/* The entry of item idx is invalidated: its slot becomes a hole. */
static void stack_inv_item(struct mrc_stack *s, uint32_t idx)
{
	uint32_t p = s->items[idx].pos;
	s->owner[p] = POS_HOLE;
	heap_push(s, p);
	stack_forget_item(s, idx);
}

static inline uint64_t make_key(uint64_t vpn, unsigned pcid, bool global)
{
	return vpn << KEY_VPN_SHIFT | (global ? KEY_GLOBAL : (pcid & PCID_MASK));
}

/* ---- public ------------------------------------------------------------------------------ */

struct mrc *mrc_new(unsigned max_entries, unsigned level, unsigned large_shift, char *err, size_t errlen)
{
	if (max_entries < 1 || max_entries > MRC_MAX_LIMIT) {
		snprintf(err, errlen, "maximum TLB size %u out of range (1..%u)", max_entries, MRC_MAX_LIMIT);
		return NULL;
	}
	if (level != MMU_ITLB && level != MMU_DTLB) {
		snprintf(err, errlen, "miss-rate curves are for an L1 level (ITLB or DTLB)");
		return NULL;
	}
	if (large_shift != 21 && large_shift != 22) {
		snprintf(err, errlen, "large-page shift %u is neither 21 nor 22", large_shift);
		return NULL;
	}
	struct mrc *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->max = max_entries;
	m->level = level;
	m->shift[TLB_4K] = 12;
	m->shift[TLB_2M] = large_shift;
	m->shift[TLB_1G] = 30;
	return m;
}

void mrc_free(struct mrc *m)
{
	if (!m)
		return;
	for (int s = 0; s < TLB_NSIZES; s++)
		stack_free(m->st[s]);
	free(m);
}

void mrc_ref(struct mrc *m, enum tlb_size size, uint64_t vpn, unsigned pcid, bool global, uint64_t count)
{
	if ((unsigned)size >= TLB_NSIZES || count == 0)
		return;
	struct mrc_stack *s = m->st[size];
	if (!s) {
		s = m->st[size] = stack_new(m->max);
		if (!s) {
			m->oom = true;
			return;
		}
	}
	stack_ref(s, m->max, make_key(vpn, pcid, global), global, pcid, count);
}

void mrc_inv_page(struct mrc *m, enum tlb_size size, uint64_t vpn, unsigned pcid)
{
	struct mrc_stack *s = (unsigned)size < TLB_NSIZES ? m->st[size] : NULL;
	if (!s)
		return;
	uint32_t idx = ht_find(s, make_key(vpn, pcid, false));
	if (idx != NO_POS)
		stack_inv_item(s, idx);
	idx = ht_find(s, make_key(vpn, pcid, true));
	if (idx != NO_POS)
		stack_inv_item(s, idx);
}

void mrc_inv_addr(struct mrc *m, uint64_t va, unsigned pcid)
{
	for (int s = 0; s < TLB_NSIZES; s++)
		mrc_inv_page(m, (enum tlb_size)s, va >> m->shift[s], pcid);
}

/* Invalidates every entry for which drop(item) holds. */
static void inv_where(struct mrc *m, bool all, bool include_global, unsigned pcid)
{
	for (int sz = 0; sz < TLB_NSIZES; sz++) {
		struct mrc_stack *s = m->st[sz];
		if (!s)
			continue;
		for (uint32_t i = 0; i <= m->max; i++) {
			const struct mrc_item *it = &s->items[i];
			if (!it->used)
				continue;
			if (it->global ? include_global : (all || it->pcid == (pcid & PCID_MASK)))
				stack_inv_item(s, i);
		}
	}
}

void mrc_inv_pcid(struct mrc *m, unsigned pcid) { inv_where(m, false, false, pcid); }
void mrc_inv_all(struct mrc *m, bool include_global) { inv_where(m, true, include_global, 0); }

static void obs_lookup(void *ctx, const struct mmu_lookup_event *ev)
{
	struct mrc *m = ctx;
	if (ev->level != m->level || ev->outcome == MMU_OUT_FAULT || ev->size >= TLB_NSIZES)
		return;
	mrc_ref(m, (enum tlb_size)ev->size, ev->va >> m->shift[ev->size], ev->pcid, ev->global,
		ev->count ? ev->count : 1);
}

static void obs_inv(void *ctx, const struct mmu_inv_event *ev)
{
	struct mrc *m = ctx;
	switch ((enum mmu_inv_kind)ev->kind) {
	case MMU_INV_INVLPG:
	case MMU_INV_FAULT:
	case MMU_INV_DROP:
		mrc_inv_addr(m, ev->va, ev->pcid);
		break;
	case MMU_INV_PCID: mrc_inv_pcid(m, ev->pcid); break;
	case MMU_INV_ALL: mrc_inv_all(m, false); break;
	case MMU_INV_ALL_GLOBAL: mrc_inv_all(m, true); break;
	case MMU_INV_NKINDS: break;
	}
}

struct mmu_observer mrc_observer(struct mrc *m)
{
	struct mmu_observer o = { .lookup = obs_lookup, .walk = NULL, .inv = obs_inv, .ctx = m };
	return o;
}

unsigned mrc_max(const struct mrc *m) { return m->max; }
unsigned mrc_level(const struct mrc *m) { return m->level; }

uint64_t mrc_refs(const struct mrc *m, enum tlb_size size)
{
	return (unsigned)size < TLB_NSIZES && m->st[size] ? m->st[size]->refs : 0;
}

uint64_t mrc_cold(const struct mrc *m, enum tlb_size size)
{
	return (unsigned)size < TLB_NSIZES && m->st[size] ? m->st[size]->cold : 0;
}

uint64_t mrc_misses(const struct mrc *m, enum tlb_size size, unsigned entries)
{
	const struct mrc_stack *s = (unsigned)size < TLB_NSIZES ? m->st[size] : NULL;
	if (!s)
		return 0;
	uint64_t n = s->cold;
	for (unsigned d = entries + 1; d <= m->max; d++)
		n += s->hist[d];
	return n;
}

void mrc_curve(const struct mrc *m, enum tlb_size size, uint64_t *out)
{
	const struct mrc_stack *s = (unsigned)size < TLB_NSIZES ? m->st[size] : NULL;
	if (!s) {
		memset(out, 0, ((size_t)m->max + 1) * sizeof(*out));
		return;
	}
	out[0] = s->refs;
	uint64_t n = s->cold;
	for (unsigned d = m->max; d >= 1; d--) {
		out[d] = n;
		n += s->hist[d];
	}
}

void mrc_set_configured(struct mrc *m, enum tlb_size size, unsigned entries)
{
	if ((unsigned)size < TLB_NSIZES)
		m->configured[size] = entries;
}

unsigned mrc_configured(const struct mrc *m, enum tlb_size size)
{
	return (unsigned)size < TLB_NSIZES ? m->configured[size] : 0;
}

unsigned mrc_report_sizes(const struct mrc *m, enum tlb_size size, unsigned *out, unsigned cap)
{
	unsigned n = 0, max = mrc_max(m), conf = mrc_configured(m, size);
	unsigned cand[40], nc = 0;
	for (uint64_t p = 1; p <= max && nc < 32; p *= 2)
		cand[nc++] = (unsigned)p;
	if (conf && conf <= max)
		cand[nc++] = conf;
	cand[nc++] = max;
	/* Ascending, without duplicates (insertion sort: a few dozen values). */
	for (unsigned i = 1; i < nc; i++)
		for (unsigned j = i; j > 0 && cand[j - 1] > cand[j]; j--) {
			unsigned t = cand[j];
			cand[j] = cand[j - 1];
			cand[j - 1] = t;
		}
	for (unsigned i = 0; i < nc && n < cap; i++)
		if (!n || out[n - 1] != cand[i])
			out[n++] = cand[i];
	return n;
}

const char *mrc_check(const struct mrc *m)
{
	static _Thread_local char why[160];
	if (m->oom)
		return "out of memory: references were dropped";
	for (int sz = 0; sz < TLB_NSIZES; sz++) {
		const struct mrc_stack *s = m->st[sz];
		if (!s)
			continue;
		uint32_t live = 0, items = 0;
		for (uint32_t p = 0; p < s->W; p++) {
			uint32_t o = s->owner[p];
			if (o == POS_FREE)
				continue;
			if (p < s->low || p >= s->next) {
				snprintf(why, sizeof(why), "mrc: slot %u outside [%u, %u)", p, s->low, s->next);
				return why;
			}
			live++;
			if (o != POS_HOLE) {
				items++;
				const struct mrc_item *it = &s->items[o - 1];
				if (!it->used || it->pos != p || ht_find(s, it->key) != o - 1) {
					snprintf(why, sizeof(why), "mrc: entry at slot %u inconsistent", p);
					return why;
				}
			}
		}
		if (live != s->live || live > m->max || (s->next && fen_prefix(s, s->next - 1) != live)) {
			snprintf(why, sizeof(why), "mrc: %u live slots, counted %u (max %u)", live, s->live, m->max);
			return why;
		}
		if (items + s->nfree != m->max + 1) {
			snprintf(why, sizeof(why), "mrc: %u entries + %u free != %u", items, s->nfree, m->max + 1);
			return why;
		}
		uint64_t sum = s->cold;
		for (unsigned d = 1; d <= m->max; d++)
			sum += s->hist[d];
		if (sum != s->refs) {
			snprintf(why, sizeof(why), "mrc: histogram sums to %llu, %llu references",
				 (unsigned long long)sum, (unsigned long long)s->refs);
			return why;
		}
	}
	return NULL;
}
