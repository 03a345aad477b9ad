/* Unit tests of the VMA tree (kernel-model/vma_tree.c, the maple-tree-shaped range B-tree) and of
 * the VMA layer on it (vma.c): random stores against a brute-force list of ranges, VMAs against a
 * sorted array, neighbours and range iteration, node splits and merges at the 16-slot (leaf) and
 * 10-slot (internal) boundaries, node accounting through the callbacks (including allocation
 * failures), the gap searches and km_unmapped_area against brute force, and max_map_count. The
 * invariants (vt_check, km_vma_check) are checked after every operation. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "km_internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }
static void seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ULL + 1; }

/* Node accounting through the callbacks: objects are numbered, live ones counted, and node_alloc
 * can be made to fail. */
struct counter {
	uint64_t next_obj;
	long live, allocs, frees;
	long fail_after;      /* < 0: never fail; else fail once this many more allocs succeeded */
};

static uint64_t count_alloc(void *ctx)
{
	struct counter *c = ctx;
	if (c->fail_after == 0)
		return 0;
	if (c->fail_after > 0)
		c->fail_after--;
	c->live++;
	c->allocs++;
	return 0x1000 + 256 * c->next_obj++;
}

static void count_free(void *ctx, uint64_t obj)
{
	struct counter *c = ctx;
	cr_assert_neq(obj, 0, "node_free of an object node_alloc never gave");
	c->live--;
	c->frees++;
}

static void tree_init(struct vma_tree *t, struct counter *c)
{
	memset(c, 0, sizeof(*c));
	c->fail_after = -1;
	struct vma_tree_ops ops = { .node_alloc = count_alloc, .node_free = count_free, .ctx = c };
	vt_init(t, &ops);
}

static void assert_tree(const struct vma_tree *t, const struct counter *c, const char *where)
{
	const char *why = vt_check(t);
	cr_assert_null(why, "%s: %s", where, why);
	cr_assert_eq((size_t)c->live, vt_nodes(t), "%s: %ld live maple_node objects, %zu nodes", where,
		     c->live, vt_nodes(t));
}

/* ---- the brute-force model of the tree: ranges covering [0, VT_MAX], NULLs coalesced ----- */

struct mrange {
	uint64_t first, last;
	void *e;
};

struct model {
	struct mrange *r;
	size_t n, cap;
};

static void model_init(struct model *m)
{
	m->cap = 16;
	m->r = malloc(m->cap * sizeof(*m->r));
	m->r[0] = (struct mrange){ 0, VT_MAX, NULL };
	m->n = 1;
}

static void model_push(struct mrange *out, size_t *n, struct mrange x)
{
	if (*n && !x.e && !out[*n - 1].e) {
		out[*n - 1].last = x.last;
		return;
	}
	out[(*n)++] = x;
}

static void model_store(struct model *m, uint64_t first, uint64_t last, void *e)
{
	struct mrange *out = malloc((m->n + 3) * sizeof(*out));
	size_t n = 0;
	bool placed = false;
	for (size_t i = 0; i < m->n; i++) {
		struct mrange x = m->r[i];
		if (x.last < first) {
			model_push(out, &n, x);
			continue;
		}
		if (x.first > last) {
			if (!placed) {
				model_push(out, &n, (struct mrange){ first, last, e });
				placed = true;
			}
			model_push(out, &n, x);
			continue;
		}
		if (x.first < first)
			model_push(out, &n, (struct mrange){ x.first, first - 1, x.e });
		if (!placed) {
			model_push(out, &n, (struct mrange){ first, last, e });
			placed = true;
		}
		if (x.last > last)
			model_push(out, &n, (struct mrange){ last + 1, x.last, x.e });
	}
	free(m->r);
	m->r = out;
	m->n = n;
	m->cap = m->n + 3;
}

static void model_compare(const struct vma_tree *t, const struct model *m, const char *where)
{
	struct vt_cursor cur = { 0 };
	uint64_t index = 0;
	size_t i = 0, entries = 0;
	for (;;) {
		uint64_t first, last;
		void *e = vt_cursor_find(t, &cur, index, &first, &last);
		cr_assert_lt(i, m->n, "%s: more ranges in the tree than in the model", where);
		cr_assert(first == m->r[i].first && last == m->r[i].last && e == m->r[i].e,
			  "%s: range %zu: tree [%#llx, %#llx] %p, model [%#llx, %#llx] %p", where, i,
			  (unsigned long long)first, (unsigned long long)last, e,
			  (unsigned long long)m->r[i].first, (unsigned long long)m->r[i].last, m->r[i].e);
		entries += e != NULL;
		i++;
		if (last == VT_MAX)
			break;
		index = last + 1;
	}
	cr_assert_eq(i, m->n, "%s: fewer ranges in the tree than in the model", where);
	cr_assert_eq(entries, vt_entries(t), "%s: entry count", where);
}

/* The brute-force gap searches over the model. */
static bool model_gap(const struct model *m, uint64_t min, uint64_t max, uint64_t size, bool rev,
		      uint64_t *first, uint64_t *last)
{
	for (size_t k = 0; k < m->n; k++) {
		size_t i = rev ? m->n - 1 - k : k;
		if (m->r[i].e)
			continue;
		uint64_t lo = m->r[i].first > min ? m->r[i].first : min;
		uint64_t hi = m->r[i].last < max ? m->r[i].last : max;
		if (lo > hi || hi - lo < size - 1)
			continue;
		*first = lo;
		*last = hi;
		return true;
	}
	return false;
}

/* An index: mostly small, sometimes at the top of the index space. */
static uint64_t rnd_index(uint64_t span)
{
	uint64_t r = rnd_below(16);
	if (r == 0)
		return VT_MAX - rnd_below(span / 8 + 1);
	if (r == 1)
		return rnd_below(8);
	return rnd_below(span);
}

static void *rnd_entry(void)
{
	if (rnd_below(3) == 0)
		return NULL;
	return (void *)(uintptr_t)(8 * (1 + rnd_below(1000)));
}

/* ---- generic tree against the model ------------------------------------------------------- */

Test(vma_tree, random_stores_match_brute_force)
{
	for (uint64_t s = 1; s <= 40; s++) {
		seed(s);
		struct vma_tree t;
		struct counter c;
		struct model m;
		tree_init(&t, &c);
		model_init(&m);
		uint64_t span = s % 4 == 0 ? 400 : 20000;
		unsigned ops = 3000;
		size_t max_nodes = 0;
		for (unsigned op = 0; op < ops; op++) {
			uint64_t a = rnd_index(span), b;
			/* Mostly short ranges, so the tree grows; sometimes long ones that span leaves. */
			uint64_t r = rnd_below(20);
			if (r == 0)
				b = a + rnd_below(span);
			else
				b = a + rnd_below(r < 10 ? 4 : 40);
			if (b < a)
				b = VT_MAX;
			void *e = op < ops / 2 ? rnd_entry() : (rnd_below(2) ? NULL : rnd_entry());
			char where[96];
			snprintf(where, sizeof(where), "seed %llu op %u store [%#llx, %#llx]", (unsigned long long)s,
				 op, (unsigned long long)a, (unsigned long long)b);
			cr_assert(vt_store(&t, a, b, e), "%s failed", where);
			model_store(&m, a, b, e);
			assert_tree(&t, &c, where);
			if (op % 7 == 0 || op == ops - 1)
				model_compare(&t, &m, where);
			if (vt_nodes(&t) > max_nodes)
				max_nodes = vt_nodes(&t);
			/* Point lookups. */
			for (int q = 0; q < 4; q++) {
				uint64_t x = rnd_index(span), f, l;
				void *got = vt_find(&t, x, &f, &l);
				size_t i = 0;
				while (m.r[i].last < x)
					i++;
				cr_assert(got == m.r[i].e && f == m.r[i].first && l == m.r[i].last, "%s: find %#llx",
					  where, (unsigned long long)x);
			}
			/* Gap searches both ways. */
			if (op % 3 == 0) {
				uint64_t min = rnd_index(span), max = min + rnd_below(span);
				if (max < min)
					max = VT_MAX;
				uint64_t size = 1 + rnd_below(rnd_below(2) ? 8 : 200);
				for (int rev = 0; rev < 2; rev++) {
					uint64_t f1 = 0, l1 = 0, f2 = 0, l2 = 0;
					bool g1 = rev ? vt_gap_rev(&t, min, max, size, &f1, &l1)
						      : vt_gap_fwd(&t, min, max, size, &f1, &l1);
					bool g2 = model_gap(&m, min, max, size, rev, &f2, &l2);
					cr_assert(g1 == g2 && (!g1 || (f1 == f2 && l1 == l2)),
						  "%s: gap %s [%#llx, %#llx] size %llu: tree %d [%#llx, %#llx], model %d [%#llx, %#llx]",
						  where, rev ? "rev" : "fwd", (unsigned long long)min,
						  (unsigned long long)max, (unsigned long long)size, g1,
						  (unsigned long long)f1, (unsigned long long)l1, g2,
						  (unsigned long long)f2, (unsigned long long)l2);
				}
			}
		}
		cr_assert_geq(max_nodes, 3, "seed %llu: the tree never split", (unsigned long long)s);
		/* Clear everything: the tree is empty again and every node went back. */
		cr_assert(vt_store(&t, 0, VT_MAX, NULL));
		assert_tree(&t, &c, "after clearing");
		cr_assert_eq(vt_nodes(&t), 0);
		cr_assert_eq(c.live, 0);
		cr_assert_eq(c.allocs, c.frees);
		vt_destroy(&t);
		free(m.r);
	}
}

Test(vma_tree, destroy_frees_every_node)
{
	seed(7);
	struct vma_tree t;
	struct counter c;
	tree_init(&t, &c);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert(vt_store(&t, i * 3, i * 3 + 1, (void *)(uintptr_t)(8 + 8 * i)));
	assert_tree(&t, &c, "filled");
	cr_assert_geq(vt_height(&t), 3);
	cr_assert_gt(c.live, 600);
	vt_destroy(&t);
	cr_assert_eq(c.live, 0, "node_free for every node_alloc");
	cr_assert_eq(vt_nodes(&t), 0);
	assert_tree(&t, &c, "destroyed");
}

/* Exact node counts at the slot boundaries: adjacent ranges from 0, so the tree holds k entries
 * and one NULL range up to VT_MAX. */
Test(vma_tree, leaf_and_internal_splits_and_merges)
{
	struct vma_tree t;
	struct counter c;
	tree_init(&t, &c);
	cr_assert_eq(vt_nodes(&t), 0, "an empty tree has no node");
	unsigned k = 0;
	/* 15 entries + the trailing NULL = 16 ranges: one full leaf. */
	for (; k < 15; k++)
		cr_assert(vt_store(&t, k * 16, k * 16 + 15, (void *)(uintptr_t)(8 + 8 * k)));
	assert_tree(&t, &c, "16 ranges");
	cr_assert_eq(vt_height(&t), 1);
	cr_assert_eq(vt_nodes(&t), 1);
	/* The 17th range splits the leaf under a new root. */
	cr_assert(vt_store(&t, k * 16, k * 16 + 15, (void *)(uintptr_t)(8 + 8 * k)));
	k++;
	assert_tree(&t, &c, "17 ranges");
	cr_assert_eq(vt_height(&t), 2);
	cr_assert_eq(vt_nodes(&t), 3);
	/* Grow until the root (10 children at most) splits: height 3. */
	unsigned height2_max = 0;
	while (vt_height(&t) < 3) {
		cr_assert(vt_store(&t, k * 16, k * 16 + 15, (void *)(uintptr_t)(8 + 8 * k)));
		k++;
		assert_tree(&t, &c, "growing");
		if (vt_height(&t) == 2)
			height2_max = k + 1;
		cr_assert_leq(k, 200);
	}
	/* Leaves of at least 6 and at most 16 ranges under a root of at most 10 children. */
	cr_assert_geq(height2_max, 10 * 6, "root split before it had 10 children");
	cr_assert_leq(height2_max, 10 * 16);
	cr_assert_eq(t.root->end + 1, 2, "the new root has two children");
	/* Remove from the front (each removal merges the range into the NULL before it). */
	unsigned first = 0;
	while (first < k) {
		cr_assert(vt_store(&t, first * 16, first * 16 + 15, NULL));
		first++;
		assert_tree(&t, &c, "shrinking");
		size_t ranges = (k - first) + (first ? 2 : 1);
		if (ranges > VT_LEAF_SLOTS)
			cr_assert_geq(vt_height(&t), 2, "%zu ranges in one leaf", ranges);
		if (ranges < 2 * VT_LEAF_MIN)
			cr_assert_leq(vt_height(&t), 1, "%zu ranges cannot fill two leaves", ranges);
	}
	cr_assert_eq(vt_nodes(&t), 0);
	cr_assert_eq(c.live, 0);
	vt_destroy(&t);
}

/* A store that needs nodes either completes or changes nothing. */
Test(vma_tree, allocation_failure_changes_nothing)
{
	for (uint64_t s = 1; s <= 10; s++) {
		seed(100 + s);
		struct vma_tree t;
		struct counter c;
		struct model m;
		tree_init(&t, &c);
		model_init(&m);
		unsigned failures = 0;
		for (unsigned op = 0; op < 3000; op++) {
			uint64_t a = rnd_below(30000), b = a + rnd_below(8);
			void *e = rnd_entry();
			c.fail_after = rnd_below(4) == 0 ? (long)rnd_below(3) : -1;
			bool ok = vt_store(&t, a, b, e);
			c.fail_after = -1;
			if (ok)
				model_store(&m, a, b, e);
			else
				failures++;
			assert_tree(&t, &c, ok ? "store" : "failed store");
			if (!ok || op % 16 == 0)
				model_compare(&t, &m, ok ? "store" : "failed store");
		}
		cr_assert_gt(failures, 0, "no store failed");
		vt_destroy(&t);
		cr_assert_eq(c.live, 0);
		free(m.r);
	}
}

/* ---- VMAs on the tree ----------------------------------------------------------------------- */

static struct counter mm_counter;

static void mm_init(struct mm_struct *mm)
{
	memset(mm, 0, sizeof(*mm));
	tree_init(&mm->mm_mt, &mm_counter);
	mm->task_size = 0xC0000000ULL;
	mm->mmap_base = 0xB8000000ULL;
}

static void mm_check(struct mm_struct *mm, const char *where)
{
	const char *why = km_vma_check(mm);
	cr_assert_null(why, "%s: %s", where, why);
	cr_assert_eq((size_t)mm_counter.live, vt_nodes(&mm->mm_mt), "%s: live nodes", where);
}

static uint64_t vma_serial;

static struct vm_area_struct *new_vma(uint64_t start, uint64_t end, uint64_t flags)
{
	struct vm_area_struct *v = calloc(1, sizeof(*v));
	v->vm_start = start;
	v->vm_end = end;
	/* Distinct flags above bit 40 keep neighbours unmergeable (km_vma_check would object). */
	v->vm_flags = flags | (++vma_serial << 40);
	return v;
}

/* The reference: VMAs in a sorted array. */
struct arr {
	struct vm_area_struct **v;
	size_t n;
};

static size_t arr_index(const struct arr *a, uint64_t addr)   /* first with end > addr */
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->v[mid]->vm_end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static bool arr_free(const struct arr *a, uint64_t start, uint64_t end)
{
	size_t i = arr_index(a, start);
	return i == a->n || a->v[i]->vm_start >= end;
}

static void arr_insert(struct arr *a, struct vm_area_struct *v)
{
	size_t i = arr_index(a, v->vm_start);
	memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(a->v[0]));
	a->v[i] = v;
	a->n++;
}

static void arr_remove(struct arr *a, size_t i)
{
	memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(a->v[0]));
	a->n--;
}

/* The placement of the array-based kernel model this tree replaced (vma.c before the tree). */
static uint64_t ref_unmapped_area(const struct mm_struct *mm, const struct arr *a, uint64_t len, uint64_t hint,
				  bool topdown, uint64_t align, uint64_t align_offset)
{
	if (len > mm->task_size)
		return 0;
	if (hint) {
		hint = PAGE_ALIGN(hint);
		if (hint >= MMAP_MIN_ADDR && hint + len >= hint && hint + len <= mm->task_size) {
			size_t i = arr_index(a, hint);
			if (i == a->n || hint + len <= vm_start_gap(a->v[i]))
				return hint;
		}
	}
	uint64_t mask = align > PAGE_SIZE ? align - 1 : 0;
	uint64_t need = len + (align > PAGE_SIZE ? align - PAGE_SIZE : 0);
	if (need < len || need > mm->task_size)
		return 0;
	uint64_t low_limit = PAGE_SIZE > MMAP_MIN_ADDR ? PAGE_SIZE : MMAP_MIN_ADDR;
	if (topdown) {
		uint64_t high_limit = mm->mmap_base;
		for (size_t i = a->n + 1; i-- > 0;) {
			uint64_t gap_end = i < a->n ? vm_start_gap(a->v[i]) : mm->task_size;
			uint64_t gap_start = i > 0 ? a->v[i - 1]->vm_end : low_limit;
			if (gap_start < low_limit)
				gap_start = low_limit;
			if (gap_end > high_limit)
				gap_end = high_limit;
			if (gap_end > gap_start && gap_end - gap_start >= need) {
				uint64_t addr = (gap_end - len) & PAGE_MASK;
				return addr - ((addr - align_offset) & mask);
			}
			if (i > 0 && a->v[i - 1]->vm_end <= low_limit)
				break;
		}
	}
	uint64_t addr = PAGE_ALIGN(mm->task_size / 3);
	for (;;) {
		addr += (align_offset - addr) & mask;
		if (addr + len > mm->task_size || addr + len < addr)
			return 0;
		size_t i = arr_index(a, addr);
		if (i == a->n || addr + len <= vm_start_gap(a->v[i]))
			return addr;
		addr = a->v[i]->vm_end;
	}
}

static void compare_vmas(struct mm_struct *mm, const struct arr *a, const char *where)
{
	cr_assert_eq((size_t)vma_count(mm), a->n, "%s: map_count", where);
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *v;
	size_t i = 0;
	for_each_vma(vmi, v) {
		cr_assert_lt(i, a->n, "%s: more VMAs than expected", where);
		cr_assert_eq(v, a->v[i], "%s: VMA %zu", where, i);
		cr_assert_eq(vma_prev(mm, v), i ? a->v[i - 1] : NULL, "%s: vma_prev of %zu", where, i);
		cr_assert_eq(vma_next(mm, v), i + 1 < a->n ? a->v[i + 1] : NULL, "%s: vma_next of %zu", where, i);
		i++;
	}
	cr_assert_eq(i, a->n, "%s: fewer VMAs than expected", where);
}

/* Random VMAs: a few thousand, inserted and removed in random order; find_vma, the neighbours,
 * range iteration and placement against the sorted array, with km_vma_check after every step. */
Test(vma_tree, vmas_against_sorted_array)
{
	unsigned insert_failures = 0;
	for (uint64_t s = 1; s <= 12; s++) {
		seed(1000 + s);
		struct mm_struct mm;
		mm_init(&mm);
		struct arr a = { calloc(8192, sizeof(struct vm_area_struct *)), 0 };
		const uint64_t pages = s % 3 == 0 ? 6000 : 60000;   /* the dense seeds fill the space */
		unsigned target = 300 + (unsigned)rnd_below(2500);
		for (unsigned op = 0; op < 8000; op++) {
			char where[64];
			snprintf(where, sizeof(where), "seed %llu op %u", (unsigned long long)s, op);
			bool grow = op < 4000 ? a.n < target || rnd_below(4) == 0 : rnd_below(2);
			if (grow || !a.n) {
				uint64_t start = (16 + rnd_below(pages)) << PAGE_SHIFT;
				uint64_t len = (1 + rnd_below(rnd_below(4) ? 4 : 64)) << PAGE_SHIFT;
				if (start + len > mm.task_size || !arr_free(&a, start, start + len))
					continue;
				uint64_t flags = VM_READ | (rnd_below(40) == 0 ? VM_GROWSDOWN : 0);
				struct vm_area_struct *v = new_vma(start, start + len, flags);
				/* Sometimes node_alloc fails: vma_insert then changes nothing. */
				bool fail = rnd_below(8) == 0;
				mm_counter.fail_after = fail ? 0 : -1;
				bool ok = vma_insert(&mm, v);
				mm_counter.fail_after = -1;
				if (ok) {
					arr_insert(&a, v);
				} else {
					cr_assert(fail, "%s: vma_insert failed", where);
					insert_failures++;
					cr_assert_null(find_vma(&mm, start) == v ? v : NULL, "%s: failed insert linked", where);
					free(v);
				}
			} else {
				size_t i = rnd_below(a.n);
				struct vm_area_struct *v = a.v[i];
				long allocs = mm_counter.allocs;
				vma_remove(&mm, v);
				cr_assert_eq(mm_counter.allocs, allocs, "%s: vma_remove allocated a node", where);
				arr_remove(&a, i);
				free(v);
			}
			mm_check(&mm, where);
			if (op % 50 == 0)
				compare_vmas(&mm, &a, where);
			/* find_vma at random addresses, at VMA edges and in gaps. */
			for (int q = 0; q < 4; q++) {
				uint64_t addr = (rnd_below(pages + 32) << PAGE_SHIFT) + rnd_below(3) - 1;
				if (q == 0 && a.n)
					addr = a.v[rnd_below(a.n)]->vm_end - rnd_below(2);
				size_t i = arr_index(&a, addr);
				cr_assert_eq(find_vma(&mm, addr), i < a.n ? a.v[i] : NULL, "%s: find_vma(%#llx)", where,
					     (unsigned long long)addr);
			}
			/* Range iteration over [start, end). */
			if (op % 5 == 0) {
				uint64_t start = rnd_below(pages + 32) << PAGE_SHIFT;
				uint64_t end = start + (rnd_below(2000) << PAGE_SHIFT) + rnd_below(2) * PAGE_SIZE / 2;
				size_t i = arr_index(&a, start);
				VMA_ITERATOR(vmi, &mm, start);
				struct vm_area_struct *v;
				for_each_vma_range(vmi, v, end) {
					cr_assert(i < a.n && a.v[i] == v && v->vm_start < end, "%s: iteration", where);
					i++;
				}
				cr_assert(i == a.n || a.v[i]->vm_start >= end, "%s: iteration stopped early", where);
			}
			/* Placement, both directions, with and without alignment and hints. */
			if (op % 3 == 0) {
				uint64_t len = (1 + rnd_below(rnd_below(3) ? 16 : 4096)) << PAGE_SHIFT;
				uint64_t align = rnd_below(3) == 0 ? PAGE_SIZE << rnd_below(11) : PAGE_SIZE;
				uint64_t off = rnd_below(4) << PAGE_SHIFT;
				uint64_t hint = rnd_below(4) == 0 ? rnd_below(pages + 32) << PAGE_SHIFT : 0;
				bool topdown = rnd_below(5) != 0;
				uint64_t got = km_unmapped_area_aligned(&mm, len, hint, topdown, align, off);
				uint64_t want = ref_unmapped_area(&mm, &a, len, hint, topdown, align, off);
				cr_assert_eq(got, want, "%s: unmapped area len %#llx align %#llx off %#llx hint %#llx %s: %#llx, expected %#llx",
					     where, (unsigned long long)len, (unsigned long long)align,
					     (unsigned long long)off, (unsigned long long)hint,
					     topdown ? "top-down" : "bottom-up", (unsigned long long)got,
					     (unsigned long long)want);
			}
		}
		compare_vmas(&mm, &a, "end");
		/* Remove everything in random order: no node is left. */
		while (a.n) {
			size_t i = rnd_below(a.n);
			struct vm_area_struct *v = a.v[i];
			vma_remove(&mm, v);
			arr_remove(&a, i);
			free(v);
			mm_check(&mm, "emptying");
		}
		cr_assert_eq(vt_nodes(&mm.mm_mt), 0);
		cr_assert_eq(mm_counter.live, 0);
		vt_destroy(&mm.mm_mt);
		free(a.v);
	}
	cr_assert_gt(insert_failures, 10, "node_alloc failures made no vma_insert fail");
}

/* The top-down search with stack guard gaps (VM_GROWSDOWN) right above small gaps, including a
 * VMA sitting inside a stack's guard gap, against the array search. */
Test(vma_tree, unmapped_area_with_guard_gaps)
{
	for (uint64_t s = 1; s <= 30; s++) {
		seed(5000 + s);
		struct mm_struct mm;
		mm_init(&mm);
		mm.task_size = 0x10000000ULL;
		mm.mmap_base = 0x0F000000ULL;
		struct arr a = { calloc(4096, sizeof(struct vm_area_struct *)), 0 };
		for (unsigned k = 0; k < 400; k++) {
			uint64_t start = (16 + rnd_below(0xF000)) << PAGE_SHIFT;
			uint64_t len = (1 + rnd_below(300)) << PAGE_SHIFT;
			if (start + len > mm.task_size || !arr_free(&a, start, start + len))
				continue;
			uint64_t flags = VM_READ | (rnd_below(3) == 0 ? VM_GROWSDOWN : 0);
			struct vm_area_struct *v = new_vma(start, start + len, flags);
			cr_assert(vma_insert(&mm, v));
			arr_insert(&a, v);
		}
		mm_check(&mm, "filled");
		for (unsigned q = 0; q < 2000; q++) {
			uint64_t len = (1 + rnd_below(rnd_below(2) ? 64 : 2048)) << PAGE_SHIFT;
			uint64_t align = rnd_below(3) == 0 ? PAGE_SIZE << rnd_below(10) : PAGE_SIZE;
			uint64_t off = rnd_below(8) << PAGE_SHIFT;
			bool topdown = rnd_below(4) != 0;
			uint64_t got = km_unmapped_area_aligned(&mm, len, 0, topdown, align, off);
			uint64_t want = ref_unmapped_area(&mm, &a, len, 0, topdown, align, off);
			cr_assert_eq(got, want, "seed %llu: len %#llx align %#llx off %#llx %s: %#llx, expected %#llx",
				     (unsigned long long)s, (unsigned long long)len, (unsigned long long)align,
				     (unsigned long long)off, topdown ? "top-down" : "bottom-up",
				     (unsigned long long)got, (unsigned long long)want);
		}
		for (size_t i = 0; i < a.n; i++) {
			vma_remove(&mm, a.v[i]);
			free(a.v[i]);
		}
		mm_check(&mm, "emptied");
		cr_assert_eq(mm_counter.live, 0);
		vt_destroy(&mm.mm_mt);
		free(a.v);
	}
}

/* A VMA inside a stack's guard gap: the free range between them is long enough but the guard gap
 * covers it, so the search goes on below that VMA, up to its own start (the array search's
 * rule; Linux would lower high_limit to the stack's vm_start_gap, below that VMA). */
Test(vma_tree, unmapped_area_vma_inside_guard_gap)
{
	struct mm_struct mm;
	mm_init(&mm);
	const uint64_t P = PAGE_SIZE, X = 0x08000000ULL;
	mm.mmap_base = X + 20 * P;
	struct arr a = { calloc(8, sizeof(struct vm_area_struct *)), 0 };
	struct vm_area_struct *vs[] = {
		new_vma(X + 10 * P, X + 20 * P, VM_READ),                 /* up to mmap_base */
		new_vma(X, X + 10 * P, VM_READ | VM_GROWSDOWN),           /* the stack */
		new_vma(X - 100 * P, X - 90 * P, VM_READ),                /* inside its guard gap */
		new_vma(MMAP_MIN_ADDR, X - 400 * P, VM_READ),             /* everything below */
	};
	for (unsigned i = 0; i < 4; i++) {
		cr_assert(vma_insert(&mm, vs[i]));
		arr_insert(&a, vs[i]);
	}
	mm_check(&mm, "layout");
	uint64_t got = km_unmapped_area_aligned(&mm, 50 * P, 0, true, P, 0);
	cr_assert_eq(got, X - 150 * P, "placed at %#llx", (unsigned long long)got);
	cr_assert_eq(got, ref_unmapped_area(&mm, &a, 50 * P, 0, true, P, 0));
	/* 80 pages fit under the stack's raw gap (90) but not its guard gap: same answer. */
	got = km_unmapped_area_aligned(&mm, 80 * P, 0, true, P, 0);
	cr_assert_eq(got, X - 180 * P);
	for (unsigned i = 0; i < 4; i++) {
		vma_remove(&mm, vs[i]);
		free(vs[i]);
	}
	mm_check(&mm, "emptied");
	vt_destroy(&mm.mm_mt);
	free(a.v);
}

/* The iterator stays usable when the loop body changes the tree (it finds its place again). */
Test(vma_tree, iterator_survives_tree_changes)
{
	struct mm_struct mm;
	mm_init(&mm);
	for (uint64_t i = 0; i < 200; i++)
		cr_assert(vma_insert(&mm, new_vma((i * 3 + 16) << PAGE_SHIFT, (i * 3 + 18) << PAGE_SHIFT, VM_READ)));
	VMA_ITERATOR(vmi, &mm, 0);
	struct vm_area_struct *v;
	unsigned seen = 0;
	for_each_vma(vmi, v) {
		seen++;
		/* Remove the next VMA while standing on this one. */
		struct vm_area_struct *n = vma_next(&mm, v);
		if (n) {
			vma_remove(&mm, n);
			free(n);
		}
		mm_check(&mm, "iterating");
	}
	cr_assert_eq(seen, 100);
	cr_assert_eq(vma_count(&mm), 100);
	for_each_vma(vmi, v)
		cr_assert_fail("the iterator is at the end");
	vma_iter_init(&vmi, &mm, 0);
	while ((v = vma_iter_next(&vmi))) {
		vma_remove(&mm, v);
		free(v);
	}
	mm_check(&mm, "emptied");
	cr_assert_eq(vma_count(&mm), 0);
	cr_assert_eq(vt_nodes(&mm.mm_mt), 0);
	vt_destroy(&mm.mm_mt);
}

/* ---- through the kernel model's system calls ---------------------------------------------- */

/* Random mmap/munmap/mprotect/mremap/brk on a real address space, km_check after each. */
Test(vma_tree, syscalls_keep_the_tree_consistent)
{
	for (int mode = 0; mode < 2; mode++) {
		struct km_config cfg;
		char err[256];
		km_default_config(&cfg, mode ? KM_ARCH_X86_64 : KM_ARCH_I386);
		cfg.paging = mode ? PAGING_4LEVEL : PAGING_PAE;
		struct km *km = km_new(&cfg, err, sizeof(err));
		cr_assert_not_null(km, "km_new: %s", err);
		struct mm_struct *mm = km_mm_new(km);
		cr_assert_not_null(mm);
		cr_assert_eq(km_setup_stack(km, mm, 128 << 10, false), 0);
		km_mm_set_brk(mm, 0x10000000);
		seed(77 + mode);
		uint64_t base = km_mm_mmap_base(mm);
		for (unsigned op = 0; op < 1500; op++) {
			uint64_t addr = base - ((1 + rnd_below(2048)) << PAGE_SHIFT);
			uint64_t len = (1 + rnd_below(rnd_below(4) ? 8 : 256)) << PAGE_SHIFT;
			int prot = (int)rnd_below(4) == 0 ? PROT_NONE : PROT_READ | (rnd_below(2) ? PROT_WRITE : 0);
			switch (rnd_below(6)) {
			case 0:
				km_mmap(km, mm, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
				break;
			case 1:
				km_mmap(km, mm, addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
				break;
			case 2:
				km_munmap(km, mm, addr, len);
				break;
			case 3:
				km_mprotect(km, mm, addr, len, prot);
				break;
			case 4:
				km_mremap(km, mm, addr, PAGE_SIZE, len, MREMAP_MAYMOVE, 0);
				break;
			default:
				km_brk(km, mm, 0x10000000 + (rnd_below(64) << PAGE_SHIFT));
				break;
			}
			const char *why = km_check(km, mm);
			cr_assert_null(why, "op %u: %s", op, why);
		}
		cr_assert_gt(vma_count(mm), 20);
		cr_assert_gt(vt_height(&mm->mm_mt), 1);
		km_mm_free(km, mm);
		cr_assert_null(km_check(km, NULL));
		km_free(km);
	}
}

/* max_map_count: mmap refuses a new VMA once map_count is above 65530 (do_mmap's test is
 * map_count > sysctl_max_map_count), and mprotect will not split past it. */
Test(vma_tree, max_map_count)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, KM_ARCH_X86_64);
	cfg.paging = PAGING_4LEVEL;
	struct km *km = km_new(&cfg, err, sizeof(err));
	cr_assert_not_null(km, "km_new: %s", err);
	struct mm_struct *mm = km_mm_new(km);
	cr_assert_not_null(mm);
	int64_t r = 0;
	unsigned n = 0;
	for (; n < 70000; n++) {
		/* Alternate protections so that neighbours do not merge. */
		r = km_mmap(km, mm, 0, PAGE_SIZE, n % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
		if (r < 0)
			break;
	}
	cr_assert_eq(r, -ENOMEM);
	cr_assert_eq(vma_count(mm), DEFAULT_MAX_MAP_COUNT + 1);
	cr_assert_null(km_check(km, mm));
	cr_assert_gt(vt_height(&mm->mm_mt), 3);
	/* One VMA fewer (65530): one more mmap fits, then mprotect cannot split it. */
	struct vm_area_struct *last = find_vma(mm, 0);
	cr_assert_eq(km_munmap(km, mm, last->vm_start, PAGE_SIZE), 0);
	int64_t a = km_mmap(km, mm, 0, 4 * PAGE_SIZE, PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(vma_count(mm), DEFAULT_MAX_MAP_COUNT + 1);
	cr_assert_eq(km_mprotect(km, mm, a + PAGE_SIZE, PAGE_SIZE, PROT_READ), -ENOMEM);
	cr_assert_eq(km_mprotect(km, mm, a + PAGE_SIZE, PAGE_SIZE, PROT_EXEC), 0, "no change, no limit");
	cr_assert_eq(km_munmap(km, mm, a + PAGE_SIZE, PAGE_SIZE), -ENOMEM, "a hole would add a VMA");
	cr_assert_eq(km_munmap(km, mm, a, PAGE_SIZE), 0, "trimming an end adds none");
	cr_assert_null(km_check(km, mm));
	km_mm_free(km, mm);
	cr_assert_null(km_check(km, NULL));
	km_free(km);
}
