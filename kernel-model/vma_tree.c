/* vma_tree.c — the VMA tree: a range B-tree shaped like Linux 6.12's maple tree (vma_tree.h
 * describes the layout, the invariants and the differences).
 *
 * A store is built from three primitive steps on the sequence of ranges, each of which rewrites
 * one leaf and then commits upwards (split on overflow, merge or redistribute on underflow, gap
 * and pivot updates) to the root:
 *   - cut(p, e):    the range holding p, [lo, hi] with p < hi, becomes [lo, p] (entry e) and
 *                   [p + 1, hi] (its old entry);
 *   - absorb(x):    the range holding x disappears into its successor, which then starts where
 *                   it started;
 *   - set(x, e):    the range holding x gets entry e.
 * vt_store(first, last, e) = cut at first - 1 and at last if needed, set the range ending at last,
 * absorb the ranges in [first, last) into it, and coalesce NULL neighbours when e is NULL.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vma_tree.h"

#define BIG_SLOTS (2 * VT_LEAF_SLOTS + 2)

/* A node's content with explicit pivots (the last one is the node's max), as maple_big_node. */
struct big {
	unsigned n;
	uint64_t piv[BIG_SLOTS];
	void *slot[BIG_SLOTS];
	uint64_t gap[BIG_SLOTS];
};

static inline unsigned node_cap(const struct vt_node *n) { return n->leaf ? VT_LEAF_SLOTS : VT_ARANGE_SLOTS; }
static inline unsigned node_min_slots(const struct vt_node *n) { return n->leaf ? VT_LEAF_MIN : VT_ARANGE_MIN; }
static inline uint64_t slot_min(const struct vt_node *n, unsigned i, uint64_t min) { return i ? n->pivot[i - 1] + 1 : min; }
static inline uint64_t slot_max(const struct vt_node *n, unsigned i, uint64_t max) { return i < n->end ? n->pivot[i] : max; }

/* Size of [lo, hi], saturated ([0, VT_MAX] has 2^64 indexes). */
static inline uint64_t range_size(uint64_t lo, uint64_t hi) { return hi - lo == VT_MAX ? VT_MAX : hi - lo + 1; }

/* ---- nodes and their accounting ----------------------------------------------------------- */

static void node_release(struct vma_tree *t, struct vt_node *n)
{
	if (t->ops.node_free)
		t->ops.node_free(t->ops.ctx, n->obj);
	free(n);
}

/* Fills the reserve up to want nodes (mas_node_count). false when one could not be had; the
 * reserve then holds what it got (vt_release_reserve gives it back). */
static bool reserve_nodes(struct vma_tree *t, unsigned want)
{
	assert(want <= VT_RESERVE_MAX);
	while (t->nr_reserve < want) {
		struct vt_node *n = calloc(1, sizeof(*n));
		if (!n)
			return false;
		if (t->ops.node_alloc) {
			n->obj = t->ops.node_alloc(t->ops.ctx);
			if (!n->obj) {
				free(n);
				return false;
			}
		}
		t->reserve[t->nr_reserve++] = n;
		t->prealloc_nodes++;
	}
	return true;
}

static void release_reserve(struct vma_tree *t)
{
	while (t->nr_reserve)
		node_release(t, t->reserve[--t->nr_reserve]);
}

static struct vt_node *node_take(struct vma_tree *t, bool leaf)
{
	assert(t->nr_reserve > 0);
	struct vt_node *n = t->reserve[--t->nr_reserve];
	uint64_t obj = n->obj;
	memset(n, 0, sizeof(*n));
	n->obj = obj;
	n->leaf = leaf;
	t->nodes++;
	return n;
}

static void node_drop(struct vma_tree *t, struct vt_node *n)
{
	t->nodes--;
	node_release(t, n);
}

void vt_init(struct vma_tree *t, const struct vma_tree_ops *ops)
{
	memset(t, 0, sizeof(*t));
	if (ops)
		t->ops = *ops;
}

static void destroy_walk(struct vma_tree *t, struct vt_node *n)
{
	if (!n->leaf)
		for (unsigned i = 0; i <= n->end; i++)
			destroy_walk(t, n->slot[i]);
	node_drop(t, n);
}

void vt_destroy(struct vma_tree *t)
{
	if (t->root)
		destroy_walk(t, t->root);
	release_reserve(t);
	t->root = NULL;
	t->height = 0;
	t->entries = 0;
	t->seq++;
}

/* ---- lookups ------------------------------------------------------------------------------ */

/* The leaf holding index, the slot in it, and the leaf's range. The tree must not be empty. */
static struct vt_node *descend(const struct vma_tree *t, uint64_t index, unsigned *slot, uint64_t *min,
			       uint64_t *max)
{
	struct vt_node *n = t->root;
	uint64_t lo = 0, hi = VT_MAX;
	for (;;) {
		unsigned i = 0;
		while (i < n->end && n->pivot[i] < index)
			i++;
		if (n->leaf) {
			*slot = i;
			*min = lo;
			*max = hi;
			return n;
		}
		uint64_t nlo = slot_min(n, i, lo), nhi = slot_max(n, i, hi);
		lo = nlo;
		hi = nhi;
		n = n->slot[i];
	}
}

/* The range of node n, from the pivots above it. */
static void node_range(const struct vt_node *n, uint64_t *min, uint64_t *max)
{
	if (!n->parent) {
		*min = 0;
		*max = VT_MAX;
		return;
	}
	uint64_t pmin, pmax;
	node_range(n->parent, &pmin, &pmax);
	*min = slot_min(n->parent, n->parent_slot, pmin);
	*max = slot_max(n->parent, n->parent_slot, pmax);
}

void *vt_find(const struct vma_tree *t, uint64_t index, uint64_t *first, uint64_t *last)
{
	if (!t->root) {
		*first = 0;
		*last = VT_MAX;
		return NULL;
	}
	unsigned i;
	uint64_t min, max;
	struct vt_node *n = descend(t, index, &i, &min, &max);
	*first = slot_min(n, i, min);
	*last = slot_max(n, i, max);
	return n->slot[i];
}

void *vt_cursor_find(const struct vma_tree *t, struct vt_cursor *c, uint64_t index, uint64_t *first,
		     uint64_t *last)
{
	if (!t->root) {
		c->node = NULL;
		*first = 0;
		*last = VT_MAX;
		return NULL;
	}
	struct vt_node *n = c->node;
	unsigned i = c->slot;
	if (n && c->seq == t->seq && index >= slot_min(n, i, c->min) && index <= c->max) {
		while (i < n->end && n->pivot[i] < index)
			i++;
	} else {
		n = descend(t, index, &i, &c->min, &c->max);
		c->node = n;
		c->seq = t->seq;
	}
	c->slot = i;
	*first = slot_min(n, i, c->min);
	*last = slot_max(n, i, c->max);
	return n->slot[i];
}

/* ---- gaps --------------------------------------------------------------------------------- */

static uint64_t leaf_gap(const struct vt_node *n, uint64_t min, uint64_t max)
{
	uint64_t g = 0;
	for (unsigned i = 0; i <= n->end; i++) {
		if (n->slot[i])
			continue;
		uint64_t s = range_size(slot_min(n, i, min), slot_max(n, i, max));
		if (s > g)
			g = s;
	}
	return g;
}

/* The largest NULL range under n, whose range is [min, max] (ma_max_gap / mas_leaf_max_gap). */
static uint64_t node_gap(const struct vt_node *n, uint64_t min, uint64_t max)
{
	if (n->leaf)
		return leaf_gap(n, min, max);
	uint64_t g = 0;
	for (unsigned i = 0; i <= n->end; i++)
		if (n->gap[i] > g)
			g = n->gap[i];
	return g;
}

/* Recomputes the gap of the leaf holding index and the gaps above it (mas_update_gap). */
static void refresh_gaps(struct vma_tree *t, uint64_t index)
{
	unsigned i;
	uint64_t min, max;
	struct vt_node *n = descend(t, index, &i, &min, &max);
	uint64_t g = leaf_gap(n, min, max);
	for (struct vt_node *p = n->parent; p; n = p, p = p->parent) {
		p->gap[n->parent_slot] = g;
		g = node_gap(p, 0, 0);
	}
}

static bool gap_rev(const struct vt_node *n, uint64_t nmin, uint64_t nmax, uint64_t min, uint64_t max,
		    uint64_t size, uint64_t *first, uint64_t *last)
{
	for (unsigned k = n->end + 1; k-- > 0;) {
		uint64_t smin = slot_min(n, k, nmin), smax = slot_max(n, k, nmax);
		if (smin > max)
			continue;
		if (smax < min)
			return false;
		uint64_t lo = smin > min ? smin : min, hi = smax < max ? smax : max;
		if (hi - lo < size - 1)
			continue;
		if (n->leaf) {
			if (!n->slot[k]) {
				*first = lo;
				*last = hi;
				return true;
			}
		} else if (n->gap[k] >= size && gap_rev(n->slot[k], smin, smax, min, max, size, first, last)) {
			return true;
		}
	}
	return false;
}

static bool gap_fwd(const struct vt_node *n, uint64_t nmin, uint64_t nmax, uint64_t min, uint64_t max,
		    uint64_t size, uint64_t *first, uint64_t *last)
{
	for (unsigned k = 0; k <= n->end; k++) {
		uint64_t smin = slot_min(n, k, nmin), smax = slot_max(n, k, nmax);
		if (smax < min)
			continue;
		if (smin > max)
			return false;
		uint64_t lo = smin > min ? smin : min, hi = smax < max ? smax : max;
		if (hi - lo < size - 1)
			continue;
		if (n->leaf) {
			if (!n->slot[k]) {
				*first = lo;
				*last = hi;
				return true;
			}
		} else if (n->gap[k] >= size && gap_fwd(n->slot[k], smin, smax, min, max, size, first, last)) {
			return true;
		}
	}
	return false;
}

bool vt_gap_rev(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size, uint64_t *first,
		uint64_t *last)
{
	if (min > max || size == 0 || max - min < size - 1)
		return false;
	if (!t->root) {
		*first = min;
		*last = max;
		return true;
	}
	return gap_rev(t->root, 0, VT_MAX, min, max, size, first, last);
}

bool vt_gap_fwd(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size, uint64_t *first,
		uint64_t *last)
{
	if (min > max || size == 0 || max - min < size - 1)
		return false;
	if (!t->root) {
		*first = min;
		*last = max;
		return true;
	}
	return gap_fwd(t->root, 0, VT_MAX, min, max, size, first, last);
}

/* ---- writing nodes ------------------------------------------------------------------------ */

static void big_from_node(const struct vt_node *n, uint64_t max, struct big *b)
{
	b->n = n->end + 1u;
	for (unsigned i = 0; i < b->n; i++) {
		b->piv[i] = slot_max(n, i, max);
		b->slot[i] = n->slot[i];
		b->gap[i] = n->leaf ? 0 : n->gap[i];
	}
}

/* Appends entries [from, to) of src to b. */
static void big_append(struct big *b, const struct big *src, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		b->piv[b->n] = src->piv[i];
		b->slot[b->n] = src->slot[i];
		b->gap[b->n] = src->gap[i];
		b->n++;
	}
}

static void big_insert(struct big *b, unsigned at, uint64_t piv, void *slot, uint64_t gap)
{
	assert(b->n < BIG_SLOTS);
	memmove(&b->piv[at + 1], &b->piv[at], (b->n - at) * sizeof(b->piv[0]));
	memmove(&b->slot[at + 1], &b->slot[at], (b->n - at) * sizeof(b->slot[0]));
	memmove(&b->gap[at + 1], &b->gap[at], (b->n - at) * sizeof(b->gap[0]));
	b->piv[at] = piv;
	b->slot[at] = slot;
	b->gap[at] = gap;
	b->n++;
}

static void big_delete(struct big *b, unsigned at)
{
	memmove(&b->piv[at], &b->piv[at + 1], (b->n - at - 1) * sizeof(b->piv[0]));
	memmove(&b->slot[at], &b->slot[at + 1], (b->n - at - 1) * sizeof(b->slot[0]));
	memmove(&b->gap[at], &b->gap[at + 1], (b->n - at - 1) * sizeof(b->gap[0]));
	b->n--;
}

/* Writes entries [from, to) of b into n (the last one's pivot is implied by n's max). */
static void node_write(struct vt_node *n, const struct big *b, unsigned from, unsigned to)
{
	unsigned cnt = to - from;
	assert(cnt >= 1 && cnt <= node_cap(n));
	n->end = (uint8_t)(cnt - 1);
	memset(n->pivot, 0, sizeof(n->pivot));
	memset(n->slot, 0, sizeof(n->slot));
	memset(n->gap, 0, sizeof(n->gap));
	for (unsigned k = 0; k < cnt; k++) {
		if (k < cnt - 1)
			n->pivot[k] = b->piv[from + k];
		n->slot[k] = b->slot[from + k];
		if (!n->leaf) {
			struct vt_node *c = b->slot[from + k];
			n->gap[k] = b->gap[from + k];
			c->parent = n;
			c->parent_slot = (uint8_t)k;
		}
	}
}

/* Where to split b between two nodes: the number of entries of the left one. mab_calc_split:
 * the midpoint, moved right (or left) by one so that a leaf does not end on a NULL range. */
static unsigned split_point(const struct big *b, bool leaf)
{
	unsigned split = b->n / 2;   /* last entry of the left node */
	unsigned min = leaf ? VT_LEAF_MIN : VT_ARANGE_MIN, cap = leaf ? VT_LEAF_SLOTS : VT_ARANGE_SLOTS;
	if (leaf && !b->slot[split]) {
		if (split + 1 < cap && b->n - (split + 1) >= min)
			split++;
		else if (split > 0)
			split--;
	}
	unsigned left = split + 1;
	/* Both halves must fit and be sufficient. */
	if (b->n - left > cap)
		left = b->n - cap;
	if (left > cap)
		left = cap;
	return left;
}

/* Commits new content b for node n, whose range becomes [min, b->piv[b->n - 1]] (the max may
 * differ from the old one: then the parent's pivot moves). Splits, rebalances, updates the parent
 * and commits it, up to the root. */
static void commit(struct vma_tree *t, struct vt_node *n, struct big *b, uint64_t min)
{
	uint64_t max = b->piv[b->n - 1];
	unsigned cap = node_cap(n);
	struct vt_node *p = n->parent;

	if (!p) {
		assert(min == 0 && max == VT_MAX);
		if (b->n <= cap) {
			if (!n->leaf && b->n == 1) {
				/* A root with one child: the child becomes the root. */
				struct vt_node *c = b->slot[0];
				c->parent = NULL;
				c->parent_slot = 0;
				t->root = c;
				t->height--;
				node_drop(t, n);
				return;
			}
			node_write(n, b, 0, b->n);
			return;
		}
		/* The root splits: a new root above two nodes (mas_split at the top). */
		unsigned left = split_point(b, n->leaf);
		struct vt_node *m = node_take(t, n->leaf), *r = node_take(t, false);
		node_write(n, b, 0, left);
		node_write(m, b, left, b->n);
		uint64_t sep = b->piv[left - 1];
		struct big rb = { .n = 0 };
		big_insert(&rb, 0, sep, n, node_gap(n, 0, sep));
		big_insert(&rb, 1, VT_MAX, m, node_gap(m, sep + 1, VT_MAX));
		node_write(r, &rb, 0, 2);
		r->parent = NULL;
		t->root = r;
		t->height++;
		return;
	}

	unsigned s = n->parent_slot;
	uint64_t pmin, pmax;
	node_range(p, &pmin, &pmax);
	struct big pb;
	big_from_node(p, pmax, &pb);

	if (b->n > cap) {
		/* Split (mas_split): n keeps the left part, a new node the right one. */
		unsigned left = split_point(b, n->leaf);
		struct vt_node *m = node_take(t, n->leaf);
		node_write(n, b, 0, left);
		node_write(m, b, left, b->n);
		uint64_t sep = b->piv[left - 1];
		pb.piv[s] = sep;
		pb.gap[s] = node_gap(n, min, sep);
		big_insert(&pb, s + 1, max, m, node_gap(m, sep + 1, max));
	} else if (b->n < node_min_slots(n)) {
		/* Rebalance (mas_rebalance) with the right sibling, or the left one for a last child. */
		struct big c = { .n = 0 };
		unsigned ls;              /* parent slot of the left node of the pair */
		uint64_t lmin;
		struct vt_node *l, *r;
		if (s < p->end) {
			ls = s;
			l = n;
			r = p->slot[s + 1];
			lmin = min;
			struct big rb;
			big_from_node(r, pb.piv[s + 1], &rb);
			big_append(&c, b, 0, b->n);
			big_append(&c, &rb, 0, rb.n);
		} else {
			ls = s - 1;
			l = p->slot[s - 1];
			r = n;
			lmin = slot_min(p, s - 1, pmin);
			struct big lb;
			big_from_node(l, pb.piv[s - 1], &lb);
			big_append(&c, &lb, 0, lb.n);
			big_append(&c, b, 0, b->n);
		}
		uint64_t rmax = c.piv[c.n - 1];
		if (c.n <= cap) {
			/* Merge into the left node; the right one goes. */
			node_write(l, &c, 0, c.n);
			pb.piv[ls] = rmax;
			pb.slot[ls] = l;
			pb.gap[ls] = node_gap(l, lmin, rmax);
			big_delete(&pb, ls + 1);
			node_drop(t, r);
		} else {
			unsigned left = split_point(&c, n->leaf);
			node_write(l, &c, 0, left);
			node_write(r, &c, left, c.n);
			uint64_t sep = c.piv[left - 1];
			pb.piv[ls] = sep;
			pb.gap[ls] = node_gap(l, lmin, sep);
			pb.piv[ls + 1] = rmax;
			pb.gap[ls + 1] = node_gap(r, sep + 1, rmax);
		}
	} else {
		node_write(n, b, 0, b->n);
		pb.piv[s] = max;
		pb.gap[s] = node_gap(n, min, max);
	}
	commit(t, p, &pb, pmin);
}

/* ---- the primitive steps ------------------------------------------------------------------ */

/* cut: the range [lo, hi] holding p (p < hi) becomes [lo, p] = e and [p + 1, hi] = its entry. */
static void cut(struct vma_tree *t, uint64_t p, void *e)
{
	unsigned i;
	uint64_t min, max;
	struct vt_node *n = descend(t, p, &i, &min, &max);
	assert(p < slot_max(n, i, max));
	struct big b;
	big_from_node(n, max, &b);
	big_insert(&b, i, p, e, 0);
	if (e)
		t->entries++;
	commit(t, n, &b, min);
}

/* set: the range holding x gets entry e. */
static void set_entry(struct vma_tree *t, uint64_t x, void *e)
{
	unsigned i;
	uint64_t min, max;
	struct vt_node *n = descend(t, x, &i, &min, &max);
	if (n->slot[i])
		t->entries--;
	if (e)
		t->entries++;
	bool gap_changed = !n->slot[i] != !e;
	n->slot[i] = e;
	if (gap_changed)
		refresh_gaps(t, x);
}

/* absorb: the range holding x (which must not end at VT_MAX) merges into its successor. */
static void absorb(struct vma_tree *t, uint64_t x)
{
	unsigned i;
	uint64_t min, max;
	struct vt_node *n = descend(t, x, &i, &min, &max);
	assert(slot_max(n, i, max) != VT_MAX);
	if (n->slot[i])
		t->entries--;
	struct big b;
	big_from_node(n, max, &b);
	bool last = i == n->end;
	assert(b.n >= 2);   /* a non-root leaf has >= VT_LEAF_MIN; the root's last range ends at VT_MAX */
	big_delete(&b, i);
	uint64_t newmax = b.piv[b.n - 1];
	commit(t, n, &b, min);
	/* The successor was the first range of the next leaf: that leaf now starts lower. */
	if (last)
		refresh_gaps(t, newmax + 1);
}

/* ---- stores ------------------------------------------------------------------------------- */

static unsigned leaf_count(const struct vma_tree *t, uint64_t index, const struct vt_node **leaf)
{
	unsigned i;
	uint64_t min, max;
	*leaf = descend(t, index, &i, &min, &max);
	return (*leaf)->end + 1u;
}

bool vt_store(struct vma_tree *t, uint64_t first, uint64_t last, void *entry)
{
	assert(first <= last);
	if (!t->root) {
		if (!entry)
			return true;
		/* The first range: a root leaf (mas_new_root). */
		if (!reserve_nodes(t, 1)) {
			release_reserve(t);
			return false;
		}
		struct vt_node *n = node_take(t, true);
		struct big b = { .n = 0 };
		if (first > 0)
			big_insert(&b, b.n, first - 1, NULL, 0);
		big_insert(&b, b.n, last, entry, 0);
		if (last < VT_MAX)
			big_insert(&b, b.n, VT_MAX, NULL, 0);
		node_write(n, &b, 0, b.n);
		t->root = n;
		t->height = 1;
		t->entries = 1;
		t->seq++;
		release_reserve(t);
		return true;
	}

	uint64_t lo_a, hi_a, lo_b, hi_b;
	void *ea = vt_find(t, first, &lo_a, &hi_a);
	void *eb = vt_find(t, last, &lo_b, &hi_b);
	/* Nothing to do when [first, last] already is one range holding the entry, or lies in a
	 * gap and is cleared. */
	if (lo_a == lo_b && ea == entry && (!entry || (lo_a == first && hi_a == last)))
		return true;
	/* A NULL store takes a gap at either end in whole: no cut, it coalesces at once. (Equal
	 * non-NULL entries side by side stay separate ranges, as in the maple tree.) */
	if (!entry && !ea)
		first = lo_a;
	if (!entry && !eb)
		last = hi_b;
	bool cut_a = lo_a < first, cut_b = hi_b > last;
	/* Preallocation (mas_preallocate): a cut adds a range to a leaf; when that may overflow it,
	 * the split may climb to the root and add a level. */
	unsigned cuts = (unsigned)cut_a + (unsigned)cut_b;
	if (cuts) {
		const struct vt_node *la, *lb;
		unsigned na = leaf_count(t, first, &la), nb = leaf_count(t, last, &lb);
		bool overflow = la == lb ? na + cuts > VT_LEAF_SLOTS
					 : (cut_a && na + 1 > VT_LEAF_SLOTS) || (cut_b && nb + 1 > VT_LEAF_SLOTS);
		if (overflow && !reserve_nodes(t, cuts * (t->height + 2))) {
			release_reserve(t);
			return false;
		}
	}
	t->seq++;
	if (cut_a)
		cut(t, first - 1, ea);
	if (cut_b)
		cut(t, last, eb);
	set_entry(t, last, entry);
	for (;;) {
		uint64_t lo, hi;
		vt_find(t, first, &lo, &hi);
		assert(lo == first);
		if (hi == last)
			break;
		absorb(t, first);
	}
	if (!entry) {
		/* Keep NULL ranges coalesced. */
		uint64_t lo, hi;
		if (first > 0 && !vt_find(t, first - 1, &lo, &hi))
			absorb(t, first - 1);
		if (last < VT_MAX && !vt_find(t, last + 1, &lo, &hi))
			absorb(t, last);
		if (t->height == 1 && t->root->end == 0) {
			/* Only [0, VT_MAX] = NULL is left: the tree is empty again. */
			assert(!t->root->slot[0]);
			node_drop(t, t->root);
			t->root = NULL;
			t->height = 0;
		}
	}
	release_reserve(t);
	return true;
}

/* ---- self-check --------------------------------------------------------------------------- */

struct check_state {
	size_t nodes, entries;
	bool have_prev;
	bool prev_null;
	uint64_t next_index;     /* the first index the next range must start at */
};

static const char *check_node(const struct vma_tree *t, const struct vt_node *n, const struct vt_node *parent,
			      unsigned pslot, unsigned depth, uint64_t min, uint64_t max, struct check_state *st,
			      uint64_t *gap_out)
{
	st->nodes++;
	if (n->parent != parent)
		return "vma tree: wrong parent link";
	if (parent && n->parent_slot != pslot)
		return "vma tree: wrong parent slot";
	if ((depth == t->height) != !!n->leaf)
		return "vma tree: leaves not all at the same depth";
	unsigned cnt = n->end + 1u;
	if (cnt > node_cap(n))
		return "vma tree: node over capacity";
	if (parent && cnt < node_min_slots(n))
		return "vma tree: node below its minimum occupancy";
	if (!parent && !n->leaf && cnt < 2)
		return "vma tree: internal root with one child";
	for (unsigned i = 0; i < n->end; i++) {
		if (n->pivot[i] < slot_min(n, i, min))
			return "vma tree: pivots not increasing";
		if (n->pivot[i] >= max)
			return "vma tree: pivot beyond the node's range";
	}
	for (unsigned i = cnt; i < VT_LEAF_SLOTS; i++)
		if (n->slot[i])
			return "vma tree: slot used beyond the end";
	uint64_t g = 0;
	for (unsigned i = 0; i < cnt; i++) {
		uint64_t smin = slot_min(n, i, min), smax = slot_max(n, i, max);
		if (n->leaf) {
			if (smin != st->next_index)
				return "vma tree: ranges do not follow each other";
			bool null = !n->slot[i];
			if (null && st->have_prev && st->prev_null)
				return "vma tree: two adjacent NULL ranges";
			st->have_prev = true;
			st->prev_null = null;
			st->next_index = smax + 1;
			if (null) {
				if (range_size(smin, smax) > g)
					g = range_size(smin, smax);
			} else {
				st->entries++;
			}
		} else {
			if (!n->slot[i])
				return "vma tree: internal node with an empty slot";
			uint64_t cg;
			const char *why = check_node(t, n->slot[i], n, i, depth + 1, smin, smax, st, &cg);
			if (why)
				return why;
			if (n->gap[i] != cg)
				return "vma tree: gap of a child is wrong";
			if (cg > g)
				g = cg;
		}
	}
	*gap_out = g;
	return NULL;
}

const char *vt_check(const struct vma_tree *t)
{
	if (t->nr_reserve)
		return "vma tree: preallocated nodes left over";
	if (!t->root) {
		if (t->height || t->nodes || t->entries)
			return "vma tree: empty tree with a height, nodes or entries";
		return NULL;
	}
	if (t->height < 1 || t->height > VT_HEIGHT_MAX)
		return "vma tree: bad height";
	struct check_state st = { 0 };
	uint64_t g;
	const char *why = check_node(t, t->root, NULL, 0, 1, 0, VT_MAX, &st, &g);
	if (why)
		return why;
	if (st.next_index != 0)   /* wrapped past VT_MAX: the ranges cover the whole index space */
		return "vma tree: ranges do not reach the end of the index space";
	if (st.nodes != t->nodes)
		return "vma tree: node count differs from the nodes in the tree";
	if (st.entries != t->entries)
		return "vma tree: entry count differs from the entries in the tree";
	if (t->root->leaf && t->root->end == 0 && !t->root->slot[0])
		return "vma tree: a root leaf holding only NULL (should be empty)";
	return NULL;
}
