/* vma_tree.h — the range B-tree that holds an address space's VMAs, shaped like Linux 6.12's
 * maple tree in its VMA configuration (mm->mm_mt, MT_FLAGS_ALLOC_RANGE; lib/maple_tree.c,
 * include/linux/maple_tree.h).
 *
 * The tree maps every index of [0, VT_MAX] to an entry: the index space is cut into ranges
 * [first, last], each holding a pointer (a VMA) or NULL (a gap). Adjacent NULL ranges are always
 * coalesced, so each free range of the address space is exactly one NULL range, as in the maple
 * tree. Two node types, with the maple tree's sizes on 64-bit:
 *   - leaves (maple_leaf_64 / maple_range_64): up to VT_LEAF_SLOTS (16) entries and 15 pivots;
 *   - internal nodes (maple_arange_64, the "allocation range" node): up to VT_ARANGE_SLOTS (10)
 *     children, 9 pivots and, per child, the largest NULL range below it (gap[]).
 * Pivot i is the last index of slot i; the last used slot ends at the node's max, which the
 * node does not store (its parent's pivot does, or VT_MAX at the root), so each boundary between
 * two ranges is stored exactly once. Every node but the root holds at least mt_min_slots
 * entries (6 in a leaf, 4 in an internal node); the root is a leaf or has >= 2 children; all
 * leaves are at the same depth.
 *
 * The gap tracking is what makes placement fast: vt_gap_rev (mas_empty_area_rev) finds the
 * highest free range of a given size inside [min, max] top-down in O(log n), vt_gap_fwd
 * (mas_empty_area) the lowest.
 *
 * Differences from the maple tree:
 *   - no RCU: nodes are written in place (the VMA tree runs in RCU mode in Linux, where every
 *     node store copies the node and frees the old one after a grace period), so the model
 *     allocates a maple_node only when a node splits or the tree grows;
 *   - a store is done as a few primitive steps (cut a range in two, merge a range into its
 *     successor, set a range's entry), each rebalancing at once, instead of the maple tree's big
 *     node, spanning store and 3-way split; node splits use mab_calc_split's midpoint and its
 *     "do not end a leaf on NULL" nudge, underflows merge with or borrow from the right sibling
 *     (the left one for a last child), as mas_rebalance does; the resulting shapes are close to
 *     but not always identical with Linux's;
 *   - no dense nodes, no root-pointer entry (a tree with a single range [0, 0] still gets a
 *     leaf), no node metadata (the end of data is kept as a byte beside the slots), and the
 *     host struct is larger than 256 bytes (it carries its modelled object and parent slot);
 *   - an empty tree has no node (root NULL), as an empty mm_mt.
 *
 * Node accounting. Each node is host memory (malloc) plus one modelled "maple_node" object from
 * ops.node_alloc, freed with ops.node_free when the node goes: live objects == vt_nodes() between
 * operations. Like mas_preallocate, a store that may split nodes first takes its worst case
 * from node_alloc (per cut of a full leaf, height + 2: every level splits and a new root is
 * added, possibly after the other cut added one), so it either fails before changing anything
 * or completes; the unused objects are given back with node_free when the store ends
 * (mas_destroy). A store that cannot split a node (no cut, or room in the leaves) allocates
 * nothing: clearing a whole VMA, merging neighbours, or growing a VMA into a gap it fills.
 */
#ifndef MMUEMU_VMA_TREE_H
#define MMUEMU_VMA_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_MAX UINT64_MAX
#define VT_LEAF_SLOTS 16        /* MAPLE_RANGE64_SLOTS */
#define VT_ARANGE_SLOTS 10      /* MAPLE_ARANGE64_SLOTS */
#define VT_LEAF_MIN 6           /* mt_min_slots[maple_leaf_64] = 16 / 2 - 2 */
#define VT_ARANGE_MIN 4         /* mt_min_slots[maple_arange_64] = 10 / 2 - 1 */
#define VT_HEIGHT_MAX 31        /* MAPLE_HEIGHT_MAX */
#define VT_RESERVE_MAX (2 * (VT_HEIGHT_MAX + 2))

/* Where tree nodes come from: node_alloc returns the modelled maple_node object (for example a
 * slab address from kmem_cache_alloc of the "maple_node" cache), 0 when out of memory; node_free
 * gives one back. Both may be NULL: then nodes are host memory only (objects are 0). */
struct vma_tree_ops {
	uint64_t (*node_alloc)(void *ctx);
	void (*node_free)(void *ctx, uint64_t obj);
	void *ctx;
};

struct vt_node {
	struct vt_node *parent;            /* NULL at the root */
	uint64_t obj;                      /* the modelled maple_node (ops.node_alloc) */
	uint8_t parent_slot;               /* this node's slot in parent */
	uint8_t leaf;                      /* maple_leaf_64, else maple_arange_64 */
	uint8_t end;                       /* last used slot (ma_data_end) */
	uint64_t pivot[VT_LEAF_SLOTS - 1]; /* pivot[i]: last index of slot i, for i < end */
	void *slot[VT_LEAF_SLOTS];         /* entries (leaf) or children (internal) */
	uint64_t gap[VT_ARANGE_SLOTS];     /* internal: size of the largest NULL range under child i */
};

struct vma_tree {
	struct vt_node *root;              /* NULL: the whole index space is one NULL range */
	unsigned height;                   /* levels; 0 when empty, 1 for a root leaf */
	size_t nodes;                      /* nodes in the tree (== live node_alloc objects) */
	size_t entries;                    /* non-NULL ranges */
	uint64_t seq;                      /* changes with every store (cursors re-find after it) */
	struct vma_tree_ops ops;
	struct vt_node *reserve[VT_RESERVE_MAX];   /* preallocated nodes of the store in progress */
	unsigned nr_reserve;
	uint64_t prealloc_nodes;           /* nodes taken from node_alloc ahead of a store, in all */
};

/* A position in the tree for walking ranges in order. Valid across stores: after the tree
 * changed (seq), the next lookup descends again from the root. */
struct vt_cursor {
	struct vt_node *node;              /* leaf of the last lookup, NULL before the first */
	unsigned slot;
	uint64_t min, max;                 /* the leaf's range */
	uint64_t seq;
};

void vt_init(struct vma_tree *t, const struct vma_tree_ops *ops);   /* ops may be NULL */
/* Frees every node (node_free for each); the entries are the caller's. The tree is empty after. */
void vt_destroy(struct vma_tree *t);

/* The entry of the range holding index (NULL in a gap), and that range in *first and *last. */
void *vt_find(const struct vma_tree *t, uint64_t index, uint64_t *first, uint64_t *last);
/* The same through a cursor: O(1) when index lies in the cursor's leaf and the tree is unchanged. */
void *vt_cursor_find(const struct vma_tree *t, struct vt_cursor *c, uint64_t index, uint64_t *first,
		     uint64_t *last);

/* Stores entry over [first, last] (first <= last), overwriting whatever was there (mas_store_gfp).
 * entry NULL clears the range. false when a node could not be allocated: nothing changed. */
bool vt_store(struct vma_tree *t, uint64_t first, uint64_t last, void *entry);

/* The highest (vt_gap_rev) or lowest (vt_gap_fwd) NULL range whose part inside [min, max] is at
 * least size (>= 1) indexes long; that part in *first and *last. false if none. O(log n). */
bool vt_gap_rev(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size, uint64_t *first,
		uint64_t *last);
bool vt_gap_fwd(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size, uint64_t *first,
		uint64_t *last);

static inline size_t vt_nodes(const struct vma_tree *t) { return t->nodes; }
static inline size_t vt_entries(const struct vma_tree *t) { return t->entries; }
static inline unsigned vt_height(const struct vma_tree *t) { return t->height; }

/* The structural invariants: ranges cover [0, VT_MAX] in order, pivots strictly increasing and
 * inside each node's range, occupancy bounds (except the root), every leaf at the same depth,
 * parent links and slots, gap[] equal to the largest NULL range under each child, no two adjacent
 * NULL ranges, node and entry counts. NULL when consistent, else what is wrong. */
const char *vt_check(const struct vma_tree *t);

#endif
