/* timing.c — the timed translation path (see timing.h for the contract).
 *
 * Per access: look up the L1 TLB of the access kind (ITLB for fetches, DTLB otherwise): each of
 * its arrays is probed for every page-size class it holds (vpn = va >> shift of the class), as
 * the hardware probes its per-size arrays in parallel. An L1 miss probes the STLB (cost: the STLB
 * array's hit latency) and refills L1 from it. An STLB miss walks the page tables:
 *
 *   - the page-walk caches are probed from the deepest level up (PDE cache, tag = va >> PDE
 *     shift; then the PDPTE cache; then PML4E; then PML5E); the first hit skips every read above
 *     and including that level (SDM §4.10.3);
 *   - the remaining entries are read from modelled memory by mmu_walk (WALK_SET_AD: the walk sets
 *     Accessed in every entry and Dirty in the leaf on a write, in the guest's real PTEs), each
 *     read costed by the fixed latency or by the page-table cache model;
 *   - the non-leaf entries read (never one that maps a large page; only with Accessed set, which
 *     the walk guarantees) are inserted in their level's page-walk cache, and the leaf in the
 *     STLB and L1 arrays that hold its page size.
 *
 * A write through a TLB entry whose Dirty bit is clear takes the Dirty assist: a locked update
 * of the PTE (here a write walk) charged cfg.dirty_assist cycles. An entry whose permissions no
 * longer allow the access (a stale entry: the kernel model flushes on every change, so this
 * should not happen) is dropped and the access re-walked, as the CPU re-walks after a fault.
 */
#include <stdlib.h>
#include <string.h>

#include "timing.h"
#include "mmu_event.h"

#define PT_LINE_SHIFT 6   /* 64-byte cache lines */
#define WALK_HIST_BUCKETS 16

struct pt_cache_level {
	unsigned sets, ways, latency;
	uint64_t *tag;        /* line address + 1; 0 = empty */
	uint64_t *stamp;      /* LRU timestamps */
};


/* Per-set most-recently-used entry of an L1 level's 4 KiB array (the first array holding 4 KiB
 * pages). While an entry is the last one touched in its set, a repeated hit on it changes no
 * replacement state under any policy (LRU re-stamps the newest entry, tree-PLRU re-points the
 * same path, FIFO and random ignore hits), so the hit can be counted without a lookup. Any
 * insert or invalidation in the level clears the table. */
struct l1_mru {
	struct tlb_array *a;      /* NULL: the level has no 4 KiB array */
	unsigned idx;             /* its index in the level */
	unsigned sets;
	uint64_t mask;            /* sets - 1 when a power of two, else 0 */
	uint64_t *page;           /* [sets]: (vpn + 1) << 16 | pcid << 4 | dirty << 3 | perms
	                             (MMU_PERM_*); 0 = empty. One load answers the fast path. */
	struct tlb_entry **e;     /* [sets] */
};

struct mmu_timing {
	struct l1_mru mru[MMU_NLEVELS];
	struct tlb_entry scratch;      /* the translation a walk just produced */
	unsigned present[MMU_NLEVELS]; /* TLB_SIZE_BIT()s ever inserted into the level: a lookup
	                                  need not probe a size class no entry can have */
	struct paging_format fmt;
	struct mmu_config cfg;
	unsigned shift[TLB_NSIZES];
	struct tlb_array *arr[MMU_NLEVELS][MMU_MAX_ARRAYS];
	unsigned narr[MMU_NLEVELS];
	unsigned arr_latency[MMU_NLEVELS][MMU_MAX_ARRAYS];
	unsigned arr_sizes[MMU_NLEVELS][MMU_MAX_ARRAYS];   /* each array's TLB_SIZE_BIT mask */
	struct tlb_array *pwc[MMU_PWC_LEVELS];
	struct pt_cache_level ptc[3];
	uint64_t ptc_clock;
	struct mmu_timing_stats st;
	struct mmu_observer obs;       /* events (mmu_event.h); obs_on when a lookup callback is set
	                                  (walk and invalidation events are rare: their callbacks
	                                  are tested where they happen) */
	bool obs_on;
	struct mmu_walk_event last_walk;   /* filled by walk_and_fill while observing */
};

static const char *const level_names[MMU_NLEVELS] = { "ITLB", "DTLB", "STLB" };
static const char *const flush_names[FLUSH_NKINDS] = { "invlpg", "pcid", "all", "all_global" };

const char *mmu_level_name(enum mmu_level_id l) { return l < MMU_NLEVELS ? level_names[l] : "?"; }
const char *mmu_flush_kind_name(enum mmu_flush_kind k) { return k < FLUSH_NKINDS ? flush_names[k] : "?"; }

static bool ptc_level_init(struct pt_cache_level *l, const struct pt_cache_level_config *c)
{
	memset(l, 0, sizeof(*l));
	if (!c->lines)
		return true;
	unsigned ways = c->ways ? c->ways : 1;
	l->ways = ways;
	l->sets = c->lines / ways ? c->lines / ways : 1;
	l->latency = c->latency;
	l->tag = calloc((size_t)l->sets * ways, sizeof(uint64_t));
	l->stamp = calloc((size_t)l->sets * ways, sizeof(uint64_t));
	return l->tag && l->stamp;
}

struct mmu_timing *mmu_timing_new(const struct mmu_config *cfg, const struct paging_format *fmt, char *err,
				  size_t errlen)
{
	unsigned large_shift = fmt->shift[1];
	if (!mmu_config_valid(cfg, err, errlen))
		return NULL;
	struct mmu_timing *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cfg = *cfg;
	t->shift[TLB_4K] = 12;
	t->shift[TLB_2M] = large_shift;
	t->shift[TLB_1G] = 30;
	t->fmt = *fmt;
	const struct tlb_level_config *lv[MMU_NLEVELS] = { &cfg->itlb, &cfg->dtlb, &cfg->stlb };
	for (int l = 0; l < MMU_NLEVELS; l++) {
		for (unsigned i = 0; i < lv[l]->narrays; i++) {
			if (!lv[l]->arrays[i].entries)
				continue;
			struct tlb_array *a = tlb_array_new(&lv[l]->arrays[i], err, errlen);
			if (!a) {
				mmu_timing_free(t);
				return NULL;
			}
			tlb_array_set_page_shift(a, TLB_2M, large_shift);   /* 4 MiB under 2-level paging */
			t->arr_latency[l][t->narr[l]] = lv[l]->arrays[i].latency;
			t->arr_sizes[l][t->narr[l]] = lv[l]->arrays[i].sizes;
			t->arr[l][t->narr[l]++] = a;
		}
	}
	for (int l = 0; l < MMU_NLEVELS; l++) {
		for (unsigned i = 0; i < t->narr[l]; i++) {
			if (!(tlb_array_config_of(t->arr[l][i])->sizes & TLB_SIZE_BIT(TLB_4K)))
				continue;
			struct l1_mru *m = &t->mru[l];
			m->a = t->arr[l][i];
			m->idx = i;
			m->sets = tlb_array_sets(m->a);
			m->mask = (m->sets & (m->sets - 1)) == 0 ? m->sets - 1 : 0;
			m->page = calloc(m->sets, sizeof(uint64_t));
			m->e = calloc(m->sets, sizeof(struct tlb_entry *));
			if (!m->page || !m->e) {
				snprintf(err, errlen, "out of memory");
				mmu_timing_free(t);
				return NULL;
			}
			break;
		}
	}
	for (int p = 1; p < MMU_PWC_LEVELS; p++) {
		if (!cfg->pwc[p].entries)
			continue;
		struct tlb_array_config pc = cfg->pwc[p];
		pc.sizes = TLB_SIZE_BIT(TLB_4K);
		t->pwc[p] = tlb_array_new(&pc, err, errlen);
		if (!t->pwc[p]) {
			mmu_timing_free(t);
			return NULL;
		}
	}
	if (cfg->pt_model == PT_LATENCY_CACHE) {
		const struct pt_cache_level_config *pcl[3] = { &cfg->pt_cache.l1, &cfg->pt_cache.l2, &cfg->pt_cache.llc };
		for (int i = 0; i < 3; i++) {
			if (!ptc_level_init(&t->ptc[i], pcl[i])) {
				snprintf(err, errlen, "out of memory");
				mmu_timing_free(t);
				return NULL;
			}
		}
	}
	return t;
}

void mmu_timing_free(struct mmu_timing *t)
{
	if (!t)
		return;
	for (int l = 0; l < MMU_NLEVELS; l++)
		for (unsigned i = 0; i < t->narr[l]; i++)
			tlb_array_free(t->arr[l][i]);
	for (int p = 0; p < MMU_PWC_LEVELS; p++)
		tlb_array_free(t->pwc[p]);
	for (int l = 0; l < MMU_NLEVELS; l++) {
		free(t->mru[l].page);
		free(t->mru[l].e);
	}
	for (int i = 0; i < 3; i++) {
		free(t->ptc[i].tag);
		free(t->ptc[i].stamp);
	}
	free(t);
}

const struct mmu_config *mmu_timing_config(const struct mmu_timing *t) { return &t->cfg; }
/* The hot paths count only per-array hits and per-level misses; accesses and hits by size are
 * derived here: accesses = hits + misses, hits by size = the arrays' hits. */
const struct mmu_timing_stats *mmu_timing_stats(struct mmu_timing *t)
{
	for (int l = 0; l < MMU_NLEVELS; l++) {
		struct tlb_level_stats *ls = &t->st.level[l];
		for (int a = 0; a < 3; a++)
			ls->accesses[a] = ls->misses[a];
		for (int s = 0; s < TLB_NSIZES; s++)
			ls->hits_by_size[s] = 0;
		for (unsigned i = 0; i < MMU_MAX_ARRAYS; i++)
			for (int s = 0; s < TLB_NSIZES; s++)
				for (int a = 0; a < 3; a++) {
					ls->accesses[a] += ls->arrays[i].hits[s][a];
					ls->hits_by_size[s] += ls->arrays[i].hits[s][a];
				}
	}
	return &t->st;
}

#define MRU_FLAG_BITS 4
#define MRU_DIRTY (1u << 3)

static inline uint64_t mru_key(uint64_t vpn, unsigned pcid)
{
	return ((vpn + 1) << 16) | ((uint64_t)(pcid & 0xfff) << MRU_FLAG_BITS);
}

/* True when the MRU word k is the page of key and allows the access. */
static inline bool mru_hit(uint64_t k, uint64_t key, enum mmu_access acc)
{
	return (k & ~(uint64_t)((1u << MRU_FLAG_BITS) - 1)) == key && ((k >> acc) & 1) &&
	       (acc != MMU_WRITE || (k & MRU_DIRTY));
}

static inline size_t mru_set(const struct l1_mru *m, uint64_t vpn)
{
	return m->mask ? (size_t)(vpn & m->mask) : m->sets == 1 ? 0 : (size_t)(vpn % m->sets);
}

static void mru_clear(struct mmu_timing *t, enum mmu_level_id l)
{
	if (t->mru[l].a)
		memset(t->mru[l].page, 0, t->mru[l].sets * sizeof(uint64_t));
}

/* After a touch of set s of array a in level l (a hit or an insert of entry e). */
static inline void mru_note(struct mmu_timing *t, enum mmu_level_id l, unsigned idx, const struct tlb_entry *e,
			    struct tlb_entry *ptr, unsigned pcid)
{
	struct l1_mru *m = &t->mru[l];
	if (!m->a || idx != m->idx)
		return;
	if (e->size == TLB_4K) {
		size_t s = mru_set(m, e->vpn);
		m->page[s] = ptr ? mru_key(e->vpn, pcid) | (ptr->dirty ? MRU_DIRTY : 0) | (ptr->perms & 7u) : 0;
		m->e[s] = ptr;
	} else {
		m->page[tlb_array_set_index(m->a, e->vpn)] = 0;
	}
}

/* One page-table read through the cache model: returns its latency and fills the levels. */
static unsigned ptc_read(struct mmu_timing *t, uint64_t pa)
{
	uint64_t line = (pa >> PT_LINE_SHIFT) + 1;
	uint64_t now = ++t->ptc_clock;
	unsigned cost = t->cfg.pt_cache.dram_latency;
	int hit_level = 3;
	for (int i = 0; i < 3; i++) {
		struct pt_cache_level *l = &t->ptc[i];
		if (!l->tag)
			continue;
		size_t base = (size_t)(line % l->sets) * l->ways;
		for (unsigned w = 0; w < l->ways; w++) {
			if (l->tag[base + w] == line) {
				l->stamp[base + w] = now;
				cost = l->latency;
				hit_level = i;
				goto found;
			}
		}
	}
found:
	t->st.pt_cache_hits[hit_level]++;
	/* Fill the levels above the one that hit (inclusive hierarchy), evicting their LRU line. */
	for (int i = 0; i < hit_level && i < 3; i++) {
		struct pt_cache_level *l = &t->ptc[i];
		if (!l->tag)
			continue;
		size_t base = (size_t)(line % l->sets) * l->ways, victim = base;
		for (unsigned w = 0; w < l->ways; w++) {
			if (l->tag[base + w] == line) {
				victim = base + w;
				break;
			}
			if (l->stamp[base + w] < l->stamp[victim])
				victim = base + w;
		}
		l->tag[victim] = line;
		l->stamp[victim] = now;
	}
	return cost;
}

static inline unsigned read_cost(struct mmu_timing *t, uint64_t pa)
{
	return t->cfg.pt_model == PT_LATENCY_CACHE ? ptc_read(t, pa) : t->cfg.pt_read_latency;
}

/* Probes every array of a level; on a hit returns the entry and its array index. */
static struct tlb_entry *level_lookup(struct mmu_timing *t, enum mmu_level_id l, uint64_t va, unsigned pcid,
				      unsigned *idx)
{
	unsigned present = t->present[l];
	for (unsigned i = 0; i < t->narr[l]; i++) {
		unsigned sizes = t->arr_sizes[l][i] & present;
		for (unsigned s = 0; s < TLB_NSIZES; s++) {
			if (!(sizes & TLB_SIZE_BIT(s)))
				continue;
			struct tlb_entry *e = tlb_array_lookup(t->arr[l][i], va >> t->shift[s], s, pcid);
			if (e) {
				*idx = i;
				return e;
			}
		}
	}
	return NULL;
}

/* Inserts e into the first array of level l that holds its page size. Returns that array's index,
 * or -1 when no array of the level holds the size (the translation is then not cached there). */
static int level_insert(struct mmu_timing *t, enum mmu_level_id l, const struct tlb_entry *e)
{
	t->present[l] |= TLB_SIZE_BIT(e->size);
	for (unsigned i = 0; i < t->narr[l]; i++) {
		if (!(t->arr_sizes[l][i] & TLB_SIZE_BIT(e->size)))
			continue;
		if (tlb_array_insert(t->arr[l][i], e, NULL))
			t->st.level[l].arrays[i].evictions++;
		t->st.level[l].arrays[i].fills[e->size]++;
		mru_note(t, l, i, e, NULL, e->pcid);   /* the set's order changed */
		return (int)i;
	}
	return -1;
}

/* The same, returning the inserted entry (for callers that update it), now the newest of its set. */
static struct tlb_entry *level_fill(struct mmu_timing *t, enum mmu_level_id l, const struct tlb_entry *e)
{
	int i = level_insert(t, l, e);
	if (i < 0)
		return NULL;
	struct tlb_entry *p = tlb_array_lookup(t->arr[l][i], e->vpn, e->size, e->pcid);
	mru_note(t, l, (unsigned)i, e, p, e->pcid);
	return p;
}

static enum tlb_size size_class(unsigned page_shift)
{
	return page_shift == 12 ? TLB_4K : page_shift >= 30 ? TLB_1G : TLB_2M;
}

/* Observer: a walk event (r == NULL: the walk faulted; its reads are not reported). */
/* Called only with a walk observer installed (the callers test t->obs.walk). */
static void emit_walk(struct mmu_timing *t, uint64_t va, enum mmu_access acc, unsigned pcid, int hit_level,
		      uint32_t cycles, const struct walk_result *r, unsigned timed_reads, enum tlb_size sz)
{
	/* No memset and no per-entry loop (both measurable in traced runs): the entry arrays are
	 * copied whole, and entries beyond nreads are not part of the event. */
	struct mmu_walk_event *w = &t->last_walk;
	w->va = va;
	w->acc = (uint8_t)acc;
	w->pcid = (uint16_t)pcid;
	w->pwc_hit_level = (int8_t)hit_level;
	w->cycles = cycles;
	if (r) {
		_Static_assert(sizeof(w->entry) == sizeof(r->entry) && sizeof(w->entry_pa) == sizeof(r->entry_pa),
			       "walk event and walk result hold the same number of entries");
		w->fault = false;
		w->nreads = (uint8_t)(r->nreads < MMU_EVENT_MAX_READS ? r->nreads : MMU_EVENT_MAX_READS);
		w->first_level = (uint8_t)r->first_level;
		memcpy(w->entry_pa, r->entry_pa, sizeof(w->entry_pa));
		memcpy(w->entry, r->entry, sizeof(w->entry));
		w->page_base = r->page_base;
		w->timed_reads = (uint8_t)timed_reads;
		w->ad_writes = (uint8_t)r->nwrites;
		w->size = (uint8_t)sz;
	} else {
		w->fault = true;
		w->nreads = 0;
		w->first_level = 0;
		w->page_base = 0;
		w->timed_reads = 0;
		w->ad_writes = 0;
		w->size = 0;
	}
	t->obs.walk(t->obs.ctx, w);
}

static void emit_inv(struct mmu_timing *t, enum mmu_inv_kind kind, uint64_t va, unsigned pcid, unsigned n)
{
	if (!t->obs.inv)
		return;
	struct mmu_inv_event ev = { .va = va, .entries = n, .pcid = (uint16_t)pcid, .kind = (uint8_t)kind };
	t->obs.inv(t->obs.ctx, &ev);
}

/* STLB miss: walk, cost it, fill the page-walk caches, STLB and L1. Returns the L1 (or STLB)
 * entry now holding the translation, or NULL if the walk faulted. */
static struct tlb_entry *walk_and_fill(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
				       uint64_t va, enum mmu_access acc, bool user, unsigned pcid,
				       enum mmu_level_id l1, uint64_t *cycles)
{
	const struct paging_format *f = &regs->fmt;
	/* Page-walk caches, deepest first. */
	int hit_level = -1;
	unsigned pwc_latency = 0;
	for (unsigned p = 1; p < f->levels && p < MMU_PWC_LEVELS; p++) {
		if (!t->pwc[p])
			continue;
		if (f->mode == PAGING_PAE && p == 2)
			continue;   /* PDPTEs are registers under PAE */
		t->st.pwc_lookups[p]++;
		pwc_latency = tlb_array_config_of(t->pwc[p])->latency;
		if (tlb_array_lookup(t->pwc[p], va >> f->shift[p], TLB_4K, pcid)) {
			t->st.pwc_hits[p]++;
			hit_level = (int)p;
			break;
		}
	}
	struct walk_req req = { .va = va, .access = acc, .user = user };
	struct walk_result r;
	struct mmu_fault flt;
	if (!mmu_walk(regs, pm, &req, WALK_SET_AD, &r, &flt)) {
		t->st.walk_faults++;
		if (t->obs.walk)
			emit_walk(t, va, acc, pcid, hit_level, pwc_latency, NULL, 0, 0);
		return NULL;
	}
	uint64_t wc = pwc_latency;
	unsigned reads = 0;
	for (unsigned i = 0; i < r.nreads; i++) {
		unsigned level = r.first_level - i;
		if (hit_level >= 0 && (int)level >= hit_level)
			continue;   /* skipped thanks to the page-walk cache */
		wc += read_cost(t, r.entry_pa[i]);
		reads++;
	}
	/* Cache the non-leaf entries this walk read (Accessed is set: the walk set it). Levels the
	 * page-walk-cache hit skipped were not read and are not inserted. */
	for (unsigned i = 0; i < r.nreads; i++) {
		unsigned level = r.first_level - i;
		if (level == r.leaf_level || level >= MMU_PWC_LEVELS || !t->pwc[level])
			continue;
		if (hit_level >= 0 && (int)level >= hit_level)
			continue;
		if (f->mode == PAGING_PAE && level == 2)
			continue;
		struct tlb_entry pe = { .vpn = va >> f->shift[level], .pfn = r.entry[i], .pcid = (uint16_t)pcid,
					.size = TLB_4K, .valid = true };
		tlb_array_insert(t->pwc[level], &pe, NULL);
	}
	enum tlb_size sz = size_class(r.page_shift);
	bool fetch = acc == MMU_FETCH;
	bool leaf_was_dirty = (r.entry[r.nreads ? r.nreads - 1 : 0] & PTE_D) != 0;
	if (acc == MMU_WRITE && !leaf_was_dirty)
		t->st.dirty_set++;
	if (r.nwrites > (acc == MMU_WRITE && !leaf_was_dirty ? 1u : 0u))
		t->st.accessed_set += r.nwrites - (acc == MMU_WRITE && !leaf_was_dirty ? 1u : 0u);
	t->st.walks++;
	t->st.walks_by_size[sz]++;
	t->st.walk_reads += reads;
	t->st.walk_cycles += wc;
	unsigned b = wc < 2 ? 0 : 63 - (unsigned)__builtin_clzll(wc);
	if (b >= WALK_HIST_BUCKETS)
		b = WALK_HIST_BUCKETS - 1;
	t->st.walk_hist[b]++;
	*cycles += wc;
	if (t->obs.walk)
		emit_walk(t, va, acc, pcid, hit_level, (uint32_t)wc, &r, reads, sz);

	struct tlb_entry e = { .vpn = va >> t->shift[sz], .pfn = r.page_base >> 12, .pcid = (uint16_t)pcid,
			       .size = (uint8_t)sz, .perms = (uint8_t)r.perms, .global = r.global,
			       .dirty = r.dirty, .user = r.user, .valid = true };
	t->st.level[l1].misses_by_size[sz]++;
	if (t->narr[MMU_STLB] && !(fetch && t->cfg.stlb_data_only)) {
		t->st.level[MMU_STLB].misses_by_size[sz]++;
		if (sz == TLB_1G && t->cfg.stlb_1g_as_2m) {
			/* AMD: the STLB keeps a 1 GiB translation as the 2 MiB piece that covers va. */
			uint64_t off = va & ((1ULL << 30) - 1) & ~((1ULL << t->shift[TLB_2M]) - 1);
			struct tlb_entry s2 = e;
			s2.size = TLB_2M;
			s2.vpn = va >> t->shift[TLB_2M];
			s2.pfn = (r.page_base + off) >> 12;
			level_insert(t, MMU_STLB, &s2);
		} else {
			level_insert(t, MMU_STLB, &e);
		}
	}
	level_insert(t, l1, &e);
	/* The caller only needs the translation's Dirty and permission state, which e holds (a write
	 * walk has just set Dirty); a page size no array holds is simply not cached. */
	t->scratch = e;
	return &t->scratch;
}

static bool perms_allow(const struct tlb_entry *e, enum mmu_access acc)
{
	return (e->perms >> acc) & 1;
}

/* Observer: one lookup event. e is the entry that answered (NULL on a fault). */
static void emit_lookup(struct mmu_timing *t, uint64_t va, enum mmu_access acc, bool user, unsigned pcid,
			enum mmu_level_id l1, enum mmu_lookup_outcome out, unsigned array,
			const struct tlb_entry *e, uint64_t cycles, bool assist, uint32_t count)
{
	if (!t->obs.lookup)
		return;
	struct mmu_lookup_event ev = { .va = va, .cycles = (uint32_t)cycles, .count = count,
				       .pcid = (uint16_t)pcid, .acc = (uint8_t)acc, .level = (uint8_t)l1,
				       .outcome = (uint8_t)out, .array = (uint8_t)array, .user = user,
				       .dirty_assist = assist };
	if (e) {
		ev.size = e->size;
		ev.global = e->global;
		ev.pa = (e->pfn << 12) + (va & ((1ULL << t->shift[e->size]) - 1));
	}
	t->obs.lookup(t->obs.ctx, &ev);
}

/* The timed access. `observe` is a compile-time constant at both call sites: the unobserved
 * instance has no event code at all. */
static inline __attribute__((always_inline)) uint64_t
access_impl(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm, uint64_t va,
	    enum mmu_access acc, bool user, const bool observe)
{
	unsigned pcid = mmu_pcid(regs);
	/* i486-style unified L1: fetches look up the data TLB. */
	enum mmu_level_id l1 = acc == MMU_FETCH && !t->cfg.l1_unified ? MMU_ITLB : MMU_DTLB;
	struct l1_mru *m = &t->mru[l1];
	if (m->a) {
		uint64_t vpn = va >> 12;
		size_t set = mru_set(m, vpn);
		if (mru_hit(m->page[set], mru_key(vpn, pcid), acc)) {
			t->st.level[l1].arrays[m->idx].hits[TLB_4K][acc]++;
			if (observe)
				emit_lookup(t, va, acc, user, pcid, l1, MMU_OUT_L1_HIT, m->idx, m->e[set], 0, false, 1);
			return 0;
		}
	}
	bool use_stlb = t->narr[MMU_STLB] && !(acc == MMU_FETCH && t->cfg.stlb_data_only);
	uint64_t cycles = 0;
	unsigned idx = 0;
	enum mmu_lookup_outcome out = MMU_OUT_L1_HIT;
	struct tlb_entry *e = level_lookup(t, l1, va, pcid, &idx);
	if (e && !perms_allow(e, acc)) {
		tlb_array_drop(t->arr[l1][idx], e->vpn, e->size, pcid);
		mru_clear(t, l1);
		if (t->obs.inv)
			emit_inv(t, MMU_INV_DROP, va, pcid, 1);
		e = NULL;
	}
	if (e) {
		t->st.level[l1].arrays[idx].hits[e->size][acc]++;
		mru_note(t, l1, idx, e, e, pcid);
	} else {
		t->st.level[l1].misses[acc]++;
		if (use_stlb) {
			unsigned sidx = 0;
			struct tlb_entry *se = level_lookup(t, MMU_STLB, va, pcid, &sidx);
			if (se && !perms_allow(se, acc)) {
				tlb_array_drop(t->arr[MMU_STLB][sidx], se->vpn, se->size, pcid);
				if (t->obs.inv)
					emit_inv(t, MMU_INV_DROP, va, pcid, 1);
				se = NULL;
			}
			if (se) {
				unsigned lat = t->arr_latency[MMU_STLB][sidx];
				cycles += lat;
				t->st.stlb_cycles += lat;
				t->st.level[l1].misses_by_size[se->size]++;
				t->st.level[MMU_STLB].arrays[sidx].hits[se->size][acc]++;
				struct tlb_entry copy = *se;
				e = level_fill(t, l1, &copy);
				if (!e)
					e = se;
				out = MMU_OUT_STLB_HIT;
				idx = sidx;
			} else {
				t->st.level[MMU_STLB].misses[acc]++;
			}
		}
		if (!e) {
			e = walk_and_fill(t, regs, pm, va, acc, user, pcid, l1, &cycles);
			out = MMU_OUT_WALK;
			idx = 0;
			if (!e) {
				t->st.translation_cycles += cycles;
				if (observe)
					emit_lookup(t, va, acc, user, pcid, l1, MMU_OUT_FAULT, 0, NULL, cycles, false, 1);
				return cycles;
			}
		}
	}
	bool assist = false;
	if (acc == MMU_WRITE && !e->dirty) {
		/* Dirty assist: the CPU re-walks with a locked update to set D in the leaf. */
		struct walk_req req = { .va = va, .access = MMU_WRITE, .user = user };
		struct walk_result r;
		struct mmu_fault flt;
		if (mmu_walk(regs, pm, &req, WALK_SET_AD, &r, &flt)) {
			e->dirty = true;
			unsigned sidx;
			struct tlb_entry *se = use_stlb ? level_lookup(t, MMU_STLB, va, pcid, &sidx) : NULL;
			if (se)
				se->dirty = true;
			if (r.nwrites)
				t->st.dirty_set++;
		}
		t->st.dirty_assists++;
		t->st.assist_cycles += t->cfg.dirty_assist;
		cycles += t->cfg.dirty_assist;
		assist = true;
	}
	t->st.translation_cycles += cycles;
	if (observe)
		emit_lookup(t, va, acc, user, pcid, l1, out, idx, e, cycles, assist, 1);
	return cycles;
}

static uint64_t access_observed(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
				uint64_t va, enum mmu_access acc, bool user)
{
	return access_impl(t, regs, pm, va, acc, user, true);
}

uint64_t mmu_timing_access(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
			   uint64_t va, enum mmu_access acc, bool user)
{
	if (__builtin_expect(t->obs_on, 0))
		return access_observed(t, regs, pm, va, acc, user);
	return access_impl(t, regs, pm, va, acc, user, false);
}

void mmu_timing_set_observer(struct mmu_timing *t, const struct mmu_observer *obs)
{
	if (obs)
		t->obs = *obs;
	else
		memset(&t->obs, 0, sizeof(t->obs));
	t->obs_on = t->obs.lookup != NULL;
}

void mmu_timing_invlpg(struct mmu_timing *t, uint64_t va, unsigned pcid, bool fault)
{
	unsigned n = 0;
	for (int l = 0; l < MMU_NLEVELS; l++)
		mru_clear(t, l);
	for (int l = 0; l < MMU_NLEVELS; l++)
		for (unsigned i = 0; i < t->narr[l]; i++)
			n += tlb_array_invlpg(t->arr[l][i], va, pcid);
	/* INVLPG also drops every paging-structure-cache entry of the current PCID; a #PF only those
	 * that would be used to translate va (SDM §4.10.4.1). */
	for (unsigned p = 0; p < MMU_PWC_LEVELS; p++) {
		if (!t->pwc[p])
			continue;
		if (fault) {
			if (p < t->fmt.levels)
				tlb_array_drop(t->pwc[p], va >> t->fmt.shift[p], TLB_4K, pcid);
		} else {
			tlb_array_flush_pcid(t->pwc[p], pcid, true);
		}
	}
	if (!fault) {
		t->st.flushes[FLUSH_INVLPG]++;
		t->st.flushed_entries[FLUSH_INVLPG] += n;
	}
	if (t->obs.inv)
		emit_inv(t, fault ? MMU_INV_FAULT : MMU_INV_INVLPG, va, pcid, n);
}

void mmu_timing_flush(struct mmu_timing *t, enum mmu_flush_kind kind, unsigned pcid)
{
	unsigned n = 0;
	for (int l = 0; l < MMU_NLEVELS; l++)
		mru_clear(t, l);
	for (int l = 0; l < MMU_NLEVELS; l++) {
		for (unsigned i = 0; i < t->narr[l]; i++) {
			switch (kind) {
			case FLUSH_PCID: n += tlb_array_flush_pcid(t->arr[l][i], pcid, false); break;
			case FLUSH_ALL: n += tlb_array_flush_all(t->arr[l][i], false); break;
			case FLUSH_ALL_GLOBAL: n += tlb_array_flush_all(t->arr[l][i], true); break;
			case FLUSH_INVLPG: case FLUSH_NKINDS: break;
			}
		}
	}
	for (int p = 0; p < MMU_PWC_LEVELS; p++) {
		if (!t->pwc[p])
			continue;
		if (kind == FLUSH_PCID)
			tlb_array_flush_pcid(t->pwc[p], pcid, true);
		else
			tlb_array_flush_all(t->pwc[p], true);
	}
	if (kind < FLUSH_NKINDS) {
		t->st.flushes[kind]++;
		t->st.flushed_entries[kind] += n;
	}
	if (t->obs.inv && kind != FLUSH_INVLPG && kind < FLUSH_NKINDS) {
		static const enum mmu_inv_kind map[FLUSH_NKINDS] = {
			[FLUSH_PCID] = MMU_INV_PCID, [FLUSH_ALL] = MMU_INV_ALL,
			[FLUSH_ALL_GLOBAL] = MMU_INV_ALL_GLOBAL };
		emit_inv(t, map[kind], 0, pcid, n);
	}
}

const char *mmu_timing_check(const struct mmu_timing *t)
{
	for (int l = 0; l < MMU_NLEVELS; l++)
		for (unsigned i = 0; i < t->narr[l]; i++) {
			const char *why = tlb_array_check(t->arr[l][i]);
			if (why)
				return why;
		}
	for (int p = 0; p < MMU_PWC_LEVELS; p++)
		if (t->pwc[p]) {
			const char *why = tlb_array_check(t->pwc[p]);
			if (why)
				return why;
		}
	return NULL;
}

uint64_t mmu_timing_fetch(struct mmu_timing *t, const struct mmu_regs *regs, const struct mmu_phys *pm,
			  uint64_t addr, uint32_t size, unsigned fetch_bytes)
{
	uint64_t fb = fetch_bytes ? fetch_bytes : 16;
	uint64_t end = addr + (size ? size : 1);
	uint64_t cycles = 0;
	unsigned pcid = mmu_pcid(regs);
	enum mmu_level_id l1 = t->cfg.l1_unified ? MMU_DTLB : MMU_ITLB;
	struct l1_mru *m = &t->mru[l1];
	uint64_t a = addr & ~(fb - 1);
	while (a < end) {
		/* The fetch blocks of [a, min(end, page end)) all translate through one page. */
		uint64_t page_end = (a & ~0xfffULL) + 0x1000;
		uint64_t stop = end < page_end ? end : page_end;
		uint64_t blocks = (stop - a + fb - 1) / fb;
		uint64_t vpn = a >> 12;
		if (m->a && mru_hit(m->page[mru_set(m, vpn)], mru_key(vpn, pcid), MMU_FETCH)) {
			/* Every block hits the entry that is already the newest of its set. */
			t->st.level[l1].arrays[m->idx].hits[TLB_4K][MMU_FETCH] += blocks;
			if (__builtin_expect(t->obs_on, 0))
				emit_lookup(t, a < addr ? addr : a, MMU_FETCH, true, pcid, l1, MMU_OUT_L1_HIT, m->idx,
					    m->e[mru_set(m, vpn)], 0, false, (uint32_t)blocks);
		} else {
			cycles += mmu_timing_access(t, regs, pm, a < addr ? addr : a, MMU_FETCH, true);
			uint64_t left = blocks - 1;
			if (left && m->a && mru_hit(m->page[mru_set(m, vpn)], mru_key(vpn, pcid), MMU_FETCH)) {
				t->st.level[l1].arrays[m->idx].hits[TLB_4K][MMU_FETCH] += left;
				if (__builtin_expect(t->obs_on, 0))
					emit_lookup(t, a + fb, MMU_FETCH, true, pcid, l1, MMU_OUT_L1_HIT, m->idx,
						    m->e[mru_set(m, vpn)], 0, false, (uint32_t)left);
			} else
				for (uint64_t b = 1; b <= left; b++)
					cycles += mmu_timing_access(t, regs, pm, a + b * fb, MMU_FETCH, true);
		}
		a = stop == end ? end : page_end;
	}
	return cycles;
}

unsigned mmu_timing_cr3_write(struct mmu_timing *t, uint64_t new_cr3, bool pcide)
{
	unsigned pcid = pcide ? (unsigned)(new_cr3 & CR3_PCID_MASK) : 0;
	if (!pcide)
		mmu_timing_flush(t, FLUSH_ALL, 0);
	else if (!(new_cr3 & CR3_NOFLUSH))
		mmu_timing_flush(t, FLUSH_PCID, pcid);
	return pcid;
}
