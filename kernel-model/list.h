/*
 * list.h — a tiny intrusive, circular, doubly-linked list with Linux's names
 * (include/linux/list.h, Linux 6.12).
 *
 * A list is a `struct list_head` used as a sentinel: an empty list points at itself. Objects embed
 * their own `struct list_head` and are found again with list_entry()/container_of(), so putting
 * an object on a list never allocates. One link can be on at most one list at a time; the owner
 * of the object decides which (struct page's link is used by the buddy free lists while the page
 * is free and by LRU, slab or page-cache lists while it is allocated, as in Linux).
 *
 * Differences from Linux, none of which change behaviour for correct code:
 *   - list_del() sets the removed entry's pointers to NULL instead of LIST_POISON1/2, so a
 *     use-after-delete crashes on a NULL dereference, and a calloc'd (never linked) entry looks
 *     the same as a deleted one;
 *   - no RCU, hlist or list_lru variants.
 *
 * Header-only, libc only.
 */
#ifndef MMUEMU_KERNEL_MODEL_LIST_H
#define MMUEMU_KERNEL_MODEL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_head {
	struct list_head *next;	/* next entry, or the sentinel after the last entry */
	struct list_head *prev;	/* previous entry, or the sentinel before the first entry */
};

/* container_of: the struct of `type` whose member `member` is at `ptr`. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)

/* Make `list` an empty list (a sentinel pointing at itself). */
static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}

/* Insert `entry` between the two known-consecutive entries `prev` and `next`. */
static inline void __list_add(struct list_head *entry, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = entry;
	entry->next = next;
	entry->prev = prev;
	prev->next = entry;
}

/* Add `entry` right after `head` (at the front: stack order). */
static inline void list_add(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head, head->next);
}

/* Add `entry` right before `head` (at the back: queue order). */
static inline void list_add_tail(struct list_head *entry, struct list_head *head)
{
	__list_add(entry, head->prev, head);
}

/* Unlink whatever lies between `prev` and `next`. */
static inline void __list_del(struct list_head *prev, struct list_head *next)
{
	next->prev = prev;
	prev->next = next;
}

/* Remove `entry` from its list; its links become NULL (see the note at the top). */
static inline void list_del(struct list_head *entry)
{
	__list_del(entry->prev, entry->next);
	entry->next = NULL;
	entry->prev = NULL;
}

/* Remove `entry` from its list and make it an empty list of its own. */
static inline void list_del_init(struct list_head *entry)
{
	__list_del(entry->prev, entry->next);
	INIT_LIST_HEAD(entry);
}

/* Move `entry` from its list to the front of `head`. */
static inline void list_move(struct list_head *entry, struct list_head *head)
{
	__list_del(entry->prev, entry->next);
	list_add(entry, head);
}

/* Move `entry` from its list to the back of `head`. */
static inline void list_move_tail(struct list_head *entry, struct list_head *head)
{
	__list_del(entry->prev, entry->next);
	list_add_tail(entry, head);
}

static inline bool list_empty(const struct list_head *head)
{
	return head->next == head;
}

/* True if the list holds exactly one entry. */
static inline bool list_is_singular(const struct list_head *head)
{
	return !list_empty(head) && head->next == head->prev;
}

/* True if `entry` is the first entry of `head`. */
static inline bool list_is_first(const struct list_head *entry, const struct list_head *head)
{
	return entry->prev == head;
}

/* True if `entry` is the last entry of `head`. */
static inline bool list_is_last(const struct list_head *entry, const struct list_head *head)
{
	return entry->next == head;
}

/* Number of entries (walks the list). */
static inline size_t list_count_nodes(const struct list_head *head)
{
	size_t n = 0;
	for (const struct list_head *pos = head->next; pos != head; pos = pos->next)
		n++;
	return n;
}

/* Move all entries of `list` to the front of `head`; `list` is left empty. */
static inline void list_splice_init(struct list_head *list, struct list_head *head)
{
	if (list_empty(list))
		return;
	struct list_head *first = list->next, *last = list->prev, *at = head->next;
	first->prev = head;
	head->next = first;
	last->next = at;
	at->prev = last;
	INIT_LIST_HEAD(list);
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)
#define list_first_entry_or_null(head, type, member) \
	(list_empty(head) ? (type *)NULL : list_first_entry(head, type, member))
#define list_next_entry(pos, member) list_entry((pos)->member.next, __typeof__(*(pos)), member)

#define list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

#define list_for_each_entry(pos, head, member)                                  \
	for ((pos) = list_first_entry(head, __typeof__(*(pos)), member);        \
	     &(pos)->member != (head); (pos) = list_next_entry(pos, member))

/* Like list_for_each_entry, but `pos` may be removed from the list inside the loop. */
#define list_for_each_entry_safe(pos, n, head, member)                          \
	for ((pos) = list_first_entry(head, __typeof__(*(pos)), member),        \
	     (n) = list_next_entry(pos, member);                                \
	     &(pos)->member != (head); (pos) = (n), (n) = list_next_entry(n, member))

#endif /* MMUEMU_KERNEL_MODEL_LIST_H */
