/* config.c — CPU configuration files, overrides and printing (see config.h for the contract and
 * docs/cpus.md for every key).
 *
 * Files are read with inih through ini_parse_stream and our own line reader. The reader counts
 * lines (inih's handler is not given the line number in Debian's build), refuses lines longer
 * than inih's buffer (inih would silently split them), and recognises section headers itself,
 * so that a section with no keys is still seen and each section is finished — built, checked
 * and staged — as soon as the next header (or the end of the file) arrives. The handler only
 * collects the keys of the current section with their line numbers; finish_section applies
 * them in a fixed order of groups (base/replace, level removals, geometries, the rest), which
 * makes the result independent of the order keys are written in. Nothing reaches the registry
 * until the whole file has been read without an error.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define KEY_MAX 64
#define MSG_MAX 400

/* Defaults of a CPU defined without `base` (docs/cpus.md). */
#define DEFAULT_L1_LATENCY   1
#define DEFAULT_STLB_LATENCY 8     /* ChampSim's STLB hit */
#define DEFAULT_PWC_LATENCY  1     /* Virtuoso's page-walk-cache hit */
#define DEFAULT_PT_LATENCY   30    /* Sniper's fixed walk cost (nehalem.cfg) */

/* ------------------------------------------------------------------ key syntax -------- */

enum level_id { LV_ITLB, LV_DTLB, LV_STLB, LV_PWC, LV_N };
static const char *const level_keys[LV_N] = { "itlb", "dtlb", "stlb", "pwc" };
static const char *const level_titles[LV_N] = { "L1I", "L1D", "STLB", "PWC" };
static const char *const pwc_names[MMU_PWC_LEVELS] = { "", "pde", "pdpte", "pml4e", "pml5e" };
static const char *const ptc_keys[3] = { "pt.l1", "pt.l2", "pt.llc" };

enum key_kind {
	K_BASE, K_REPLACE,                  /* group 0 (files only) */
	K_LEVEL,                            /* group 1: LEVEL = none */
	K_ARRAY,                            /* group 2: LEVEL.SEL = geometry */
	K_SOURCE, K_ARRAY_ATTR, K_LEVEL_ATTR, K_PT_MODEL, K_PT_LATENCY, K_PT_CACHE, K_PT_DRAM,
	K_CPI, K_DIRTY_ASSIST, K_FETCH_BYTES, K_PCID, K_PDPE1GB, K_L1_UNIFIED, K_STLB_DATA_ONLY,
	K_STLB_1G_AS_2M,                    /* group 3 */
};

enum attr_id { A_LATENCY, A_POLICY, A_SEED };

struct key {
	enum key_kind kind;
	enum level_id level;   /* K_LEVEL, K_ARRAY, K_ARRAY_ATTR, K_LEVEL_ATTR */
	unsigned sel;          /* TLB levels: page-size mask; pwc: level 1..4 */
	enum attr_id attr;     /* K_ARRAY_ATTR, K_LEVEL_ATTR */
	unsigned ptc;          /* K_PT_CACHE: 0 l1, 1 l2, 2 llc */
};

static int key_group(enum key_kind k)
{
	switch (k) {
	case K_BASE: case K_REPLACE: return 0;
	case K_LEVEL: return 1;
	case K_ARRAY: return 2;
	default: return 3;
	}
}

__attribute__((format(printf, 3, 4)))
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* "4k", "2m", "4m" (= 2m), "1g" concatenated, or "all" → a TLB_SIZE_BIT mask; 0 if not. */
static unsigned parse_sizes(const char *s)
{
	if (strcmp(s, "all") == 0)
		return TLB_SIZE_BIT(TLB_4K) | TLB_SIZE_BIT(TLB_2M) | TLB_SIZE_BIT(TLB_1G);
	unsigned mask = 0;
	while (*s) {
		unsigned bit;
		if (strncmp(s, "4k", 2) == 0)
			bit = TLB_SIZE_BIT(TLB_4K);
		else if (strncmp(s, "2m", 2) == 0 || strncmp(s, "4m", 2) == 0)
			bit = TLB_SIZE_BIT(TLB_2M);
		else if (strncmp(s, "1g", 2) == 0)
			bit = TLB_SIZE_BIT(TLB_1G);
		else
			return 0;
		if (mask & bit)
			return 0;
		mask |= bit;
		s += 2;
	}
	return mask;
}

/* The canonical selector of a size mask: "4k", "2m", "1g", "4k2m", …, "all". */
static void sizes_key(unsigned mask, char *buf, size_t n)
{
	static const char *const names[TLB_NSIZES] = { "4k", "2m", "1g" };
	if (mask == (TLB_SIZE_BIT(TLB_4K) | TLB_SIZE_BIT(TLB_2M) | TLB_SIZE_BIT(TLB_1G))) {
		snprintf(buf, n, "all");
		return;
	}
	buf[0] = '\0';
	for (unsigned s = 0; s < TLB_NSIZES; s++)
		if (mask & TLB_SIZE_BIT(s))
			strncat(buf, names[s], n - strlen(buf) - 1);
}

/* The configuration key (and array name) of an array: "dtlb.4k", "stlb.4k2m", "pwc.pde". */
static void array_key(enum level_id lv, unsigned sel, char *buf, size_t n)
{
	if (lv == LV_PWC) {
		snprintf(buf, n, "pwc.%s", sel < MMU_PWC_LEVELS ? pwc_names[sel] : "?");
	} else {
		char s[8];
		sizes_key(sel, s, sizeof s);
		snprintf(buf, n, "%s.%s", level_keys[lv], s);
	}
}

static bool parse_attr(const char *s, enum attr_id *a)
{
	if (strcmp(s, "latency") == 0)
		*a = A_LATENCY;
	else if (strcmp(s, "policy") == 0)
		*a = A_POLICY;
	else if (strcmp(s, "seed") == 0)
		*a = A_SEED;
	else
		return false;
	return true;
}

/* Parses a (lower-case) key. false with "KEY: unknown key" in err. */
static bool parse_key(const char *key, struct key *k, char *err, size_t errlen)
{
	static const struct { const char *name; enum key_kind kind; } simple[] = {
		{ "base", K_BASE }, { "replace", K_REPLACE }, { "source", K_SOURCE },
		{ "pt.model", K_PT_MODEL }, { "pt.latency", K_PT_LATENCY }, { "pt.dram", K_PT_DRAM },
		{ "cpi", K_CPI }, { "dirty_assist", K_DIRTY_ASSIST }, { "fetch_bytes", K_FETCH_BYTES },
		{ "pcid", K_PCID }, { "pdpe1gb", K_PDPE1GB }, { "l1_unified", K_L1_UNIFIED },
		{ "stlb.data_only", K_STLB_DATA_ONLY }, { "stlb.1g_as_2m", K_STLB_1G_AS_2M },
	};
	memset(k, 0, sizeof *k);
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
		if (strcmp(key, simple[i].name) == 0) {
			k->kind = simple[i].kind;
			return true;
		}
	}
	for (unsigned i = 0; i < 3; i++) {
		if (strcmp(key, ptc_keys[i]) == 0) {
			k->kind = K_PT_CACHE;
			k->ptc = i;
			return true;
		}
	}
	char buf[KEY_MAX];
	snprintf(buf, sizeof buf, "%s", key);
	char *part[4] = { buf, NULL, NULL, NULL };
	unsigned nparts = 1;
	for (char *p = buf; *p; p++) {
		if (*p == '.') {
			if (nparts == 4)
				goto unknown;
			*p = '\0';
			part[nparts++] = p + 1;
		}
	}
	if (nparts > 3)
		goto unknown;
	int lv = -1;
	for (int i = 0; i < LV_N; i++)
		if (strcmp(part[0], level_keys[i]) == 0)
			lv = i;
	if (lv < 0)
		goto unknown;
	k->level = (enum level_id)lv;
	if (nparts == 1) {
		k->kind = K_LEVEL;
		return true;
	}
	if (nparts == 2 && parse_attr(part[1], &k->attr)) {
		k->kind = K_LEVEL_ATTR;
		return true;
	}
	if (lv == LV_PWC) {
		for (unsigned p = 1; p < MMU_PWC_LEVELS; p++)
			if (strcmp(part[1], pwc_names[p]) == 0)
				k->sel = p;
	} else {
		k->sel = parse_sizes(part[1]);
	}
	if (k->sel == 0)
		goto unknown;
	if (nparts == 2) {
		k->kind = K_ARRAY;
		return true;
	}
	if (parse_attr(part[2], &k->attr)) {
		k->kind = K_ARRAY_ATTR;
		return true;
	}
unknown:
	return fail(err, errlen, "%s: unknown key (docs/cpus.md lists the keys)", key);
}

/* ------------------------------------------------------------------ value syntax ------- */

static bool parse_uint(const char *s, unsigned *out)
{
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long long v;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool is_none(const char *s)
{
	return strcasecmp(s, "none") == 0;
}

/* Trims s in place; returns the start. */
static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* "ENTRIESxWAYS", "ENTRIES,full" (or "none": *entries = 0). Messages start with the key. */
static bool parse_geometry(const char *key, const char *value, unsigned *entries, unsigned *ways, char *err,
			   size_t errlen)
{
	if (is_none(value)) {
		*entries = *ways = 0;
		return true;
	}
	char buf[64];
	if (strlen(value) >= sizeof buf)
		goto syntax;
	snprintf(buf, sizeof buf, "%s", value);
	char *sep = strpbrk(buf, "xX,");
	if (sep == NULL)
		goto syntax;
	bool full = *sep == ',';
	*sep = '\0';
	char *e = trim(buf), *w = trim(sep + 1);
	if (!parse_uint(e, entries))
		goto syntax;
	if (full) {
		if (strcasecmp(w, "full") != 0)
			goto syntax;
		*ways = *entries;
	} else if (!parse_uint(w, ways)) {
		goto syntax;
	}
	if (*entries == 0)
		return fail(err, errlen, "%s: entries must be at least 1 (got \"%s\"; write none to remove the array)",
			    key, value);
	if (*ways == 0)
		return fail(err, errlen, "%s: ways must be at least 1 (got \"%s\")", key, value);
	if (*entries % *ways != 0)
		return fail(err, errlen, "%s: entries (%u) must be divisible by ways (%u)", key, *entries, *ways);
	return true;
syntax:
	return fail(err, errlen, "%s: bad geometry \"%s\" (expected ENTRIESxWAYS, ENTRIES,full or none)", key, value);
}

/* "LINESxWAYS@LATENCY" or "none". */
static bool parse_pt_cache(const char *key, const char *value, struct pt_cache_level_config *l, char *err,
			   size_t errlen)
{
	if (is_none(value)) {
		memset(l, 0, sizeof *l);
		return true;
	}
	char buf[64];
	if (strlen(value) >= sizeof buf)
		goto syntax;
	snprintf(buf, sizeof buf, "%s", value);
	char *x = strpbrk(buf, "xX"), *at = strchr(buf, '@');
	if (x == NULL || at == NULL || at < x)
		goto syntax;
	*x = *at = '\0';
	unsigned lines, ways, lat;
	if (!parse_uint(trim(buf), &lines) || !parse_uint(trim(x + 1), &ways) || !parse_uint(trim(at + 1), &lat))
		goto syntax;
	if (lines == 0)
		return fail(err, errlen, "%s: lines must be at least 1 (got \"%s\"; write none to remove the level)",
			    key, value);
	if (ways == 0)
		return fail(err, errlen, "%s: ways must be at least 1 (got \"%s\")", key, value);
	if (lines % ways != 0)
		return fail(err, errlen, "%s: lines (%u) must be divisible by ways (%u)", key, lines, ways);
	l->lines = lines;
	l->ways = ways;
	l->latency = lat;
	return true;
syntax:
	return fail(err, errlen, "%s: bad cache level \"%s\" (expected LINESxWAYS@LATENCY or none)", key, value);
}

/* ------------------------------------------------------------------ applying keys ------ */

static struct tlb_level_config *tlb_level(struct mmu_config *c, enum level_id lv)
{
	switch (lv) {
	case LV_ITLB: return &c->itlb;
	case LV_DTLB: return &c->dtlb;
	case LV_STLB: return &c->stlb;
	default: return NULL;
	}
}

static const struct tlb_level_config *tlb_level_c(const struct mmu_config *c, enum level_id lv)
{
	return tlb_level((struct mmu_config *)c, lv);
}

/* The array a key designates, or NULL if it does not exist. */
static struct tlb_array_config *find_array(struct mmu_config *c, enum level_id lv, unsigned sel)
{
	if (lv == LV_PWC)
		return c->pwc[sel].entries ? &c->pwc[sel] : NULL;
	struct tlb_level_config *l = tlb_level(c, lv);
	for (unsigned i = 0; i < l->narrays && i < MMU_MAX_ARRAYS; i++)
		if (l->arrays[i].sizes == sel)
			return &l->arrays[i];
	return NULL;
}

/* The array whose latency and policy a new array of the level inherits, or NULL. */
static const struct tlb_array_config *first_array(const struct mmu_config *c, enum level_id lv)
{
	if (lv == LV_PWC) {
		for (unsigned p = 1; p < MMU_PWC_LEVELS; p++)
			if (c->pwc[p].entries)
				return &c->pwc[p];
		return NULL;
	}
	const struct tlb_level_config *l = tlb_level_c(c, lv);
	return l->narrays ? &l->arrays[0] : NULL;
}

static bool set_geometry(struct mmu_config *c, const struct key *k, const char *key, const char *value, char *err,
			 size_t errlen)
{
	unsigned entries = 0, ways = 0;
	if (!parse_geometry(key, value, &entries, &ways, err, errlen))
		return false;
	struct tlb_array_config *a = find_array(c, k->level, k->sel);
	if (entries == 0) {                         /* none: remove */
		if (a == NULL)
			return true;
		if (k->level == LV_PWC) {
			memset(a, 0, sizeof *a);
		} else {
			struct tlb_level_config *l = tlb_level(c, k->level);
			unsigned i = (unsigned)(a - l->arrays);
			memmove(&l->arrays[i], &l->arrays[i + 1], (l->narrays - i - 1) * sizeof l->arrays[0]);
			l->narrays--;
			memset(&l->arrays[l->narrays], 0, sizeof l->arrays[0]);
		}
		return true;
	}
	if (a == NULL) {                            /* create */
		const struct tlb_array_config *proto = first_array(c, k->level);
		if (k->level == LV_PWC) {
			a = &c->pwc[k->sel];
		} else {
			struct tlb_level_config *l = tlb_level(c, k->level);
			if (l->narrays >= MMU_MAX_ARRAYS)
				return fail(err, errlen, "%s: %s already has %d arrays (the most a level can have)", key,
					    level_keys[k->level], MMU_MAX_ARRAYS);
			a = &l->arrays[l->narrays++];
		}
		struct tlb_array_config n;
		memset(&n, 0, sizeof n);
		array_key(k->level, k->sel, n.name, sizeof n.name);
		n.sizes = k->level == LV_PWC ? TLB_SIZE_BIT(TLB_4K) : k->sel;
		if (proto != NULL) {
			n.latency = proto->latency;
			n.policy = proto->policy;
		} else {
			n.latency = k->level == LV_STLB ? DEFAULT_STLB_LATENCY
				    : k->level == LV_PWC ? DEFAULT_PWC_LATENCY : DEFAULT_L1_LATENCY;
			n.policy = TLB_POLICY_LRU;
		}
		*a = n;
	}
	a->entries = entries;
	a->ways = ways;
	return true;
}

static bool set_attr(struct tlb_array_config *a, const struct key *k, const char *key, const char *value, char *err,
		     size_t errlen)
{
	switch (k->attr) {
	case A_LATENCY:
		if (!parse_uint(value, &a->latency))
			return fail(err, errlen, "%s: bad number \"%s\" (expected cycles, e.g. 1)", key, value);
		return true;
	case A_POLICY:
		if (!tlb_policy_parse(value, &a->policy))
			return fail(err, errlen, "%s: unknown policy \"%s\" (expected lru, plru, fifo or random)", key,
				    value);
		return true;
	case A_SEED:
		if (!parse_u64(value, &a->seed))
			return fail(err, errlen, "%s: bad number \"%s\" (expected a seed, e.g. 1 or 0x2a)", key, value);
		return true;
	}
	return fail(err, errlen, "%s: unknown attribute", key);
}

/* Applies one key of group 1–3 to c. Messages start with the key. */
static bool apply_key(struct mmu_config *c, const struct key *k, const char *key, const char *value, char *err,
		      size_t errlen)
{
	bool b;
	switch (k->kind) {
	case K_BASE:
	case K_REPLACE:
		return fail(err, errlen, "%s: only valid in a [cpu NAME] section of a configuration file", key);
	case K_SOURCE:
		if (strlen(value) >= MMU_CPU_SOURCE_LEN)
			return fail(err, errlen, "source: longer than %d characters", MMU_CPU_SOURCE_LEN - 1);
		snprintf(c->source, sizeof c->source, "%s", value);
		return true;
	case K_LEVEL:
		if (!is_none(value))
			return fail(err, errlen, "%s: only `%s = none` (remove every array) is possible here; "
				    "arrays are set with %s.SIZES = ENTRIESxWAYS", key, key, key);
		if (k->level == LV_PWC) {
			memset(c->pwc, 0, sizeof c->pwc);
		} else {
			struct tlb_level_config *l = tlb_level(c, k->level);
			memset(l, 0, sizeof *l);
		}
		return true;
	case K_ARRAY:
		return set_geometry(c, k, key, value, err, errlen);
	case K_ARRAY_ATTR: {
		struct tlb_array_config *a = find_array(c, k->level, k->sel);
		if (a == NULL) {
			char ak[TLB_NAME_LEN];
			array_key(k->level, k->sel, ak, sizeof ak);
			return fail(err, errlen, "%s: there is no array %s (define it with %s = ENTRIESxWAYS)", key, ak,
				    ak);
		}
		return set_attr(a, k, key, value, err, errlen);
	}
	case K_LEVEL_ATTR: {
		unsigned n = 0;
		if (k->level == LV_PWC) {
			for (unsigned p = 1; p < MMU_PWC_LEVELS; p++)
				if (c->pwc[p].entries) {
					if (!set_attr(&c->pwc[p], k, key, value, err, errlen))
						return false;
					n++;
				}
		} else {
			struct tlb_level_config *l = tlb_level(c, k->level);
			for (unsigned i = 0; i < l->narrays && i < MMU_MAX_ARRAYS; i++) {
				if (!set_attr(&l->arrays[i], k, key, value, err, errlen))
					return false;
				n++;
			}
		}
		if (n == 0)
			return fail(err, errlen, "%s: %s has no arrays", key, level_keys[k->level]);
		return true;
	}
	case K_PT_MODEL:
		if (strcasecmp(value, "fixed") == 0)
			c->pt_model = PT_LATENCY_FIXED;
		else if (strcasecmp(value, "cache") == 0)
			c->pt_model = PT_LATENCY_CACHE;
		else
			return fail(err, errlen, "%s: unknown model \"%s\" (expected fixed or cache)", key, value);
		return true;
	case K_PT_LATENCY:
		if (!parse_uint(value, &c->pt_read_latency))
			return fail(err, errlen, "%s: bad number \"%s\" (expected cycles)", key, value);
		return true;
	case K_PT_CACHE: {
		struct pt_cache_level_config *l = k->ptc == 0 ? &c->pt_cache.l1 : k->ptc == 1 ? &c->pt_cache.l2
											    : &c->pt_cache.llc;
		return parse_pt_cache(key, value, l, err, errlen);
	}
	case K_PT_DRAM:
		if (!parse_uint(value, &c->pt_cache.dram_latency))
			return fail(err, errlen, "%s: bad number \"%s\" (expected cycles)", key, value);
		return true;
	case K_CPI: {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (value[0] == '\0' || *end || errno || !isfinite(v))
			return fail(err, errlen, "%s: bad number \"%s\" (expected cycles per instruction, e.g. 1.0)", key,
				    value);
		c->base_cpi = v;
		return true;
	}
	case K_DIRTY_ASSIST:
		if (!parse_uint(value, &c->dirty_assist))
			return fail(err, errlen, "%s: bad number \"%s\" (expected cycles)", key, value);
		return true;
	case K_FETCH_BYTES:
		if (!parse_uint(value, &c->itlb_fetch_bytes))
			return fail(err, errlen, "%s: bad number \"%s\" (expected bytes, e.g. 16)", key, value);
		return true;
	case K_PCID:
	case K_PDPE1GB:
	case K_L1_UNIFIED:
	case K_STLB_DATA_ONLY:
	case K_STLB_1G_AS_2M:
		if (!parse_bool(value, &b))
			return fail(err, errlen, "%s: expected yes or no (got \"%s\")", key, value);
		*(k->kind == K_PCID ? &c->pcid : k->kind == K_PDPE1GB ? &c->pdpe1gb : k->kind == K_L1_UNIFIED
		  ? &c->l1_unified : k->kind == K_STLB_DATA_ONLY ? &c->stlb_data_only : &c->stlb_1g_as_2m) = b;
		return true;
	}
	return fail(err, errlen, "%s: unknown key", key);
}

/* Lower-cases and trims a key into out. false if empty or too long. */
static bool normalize_key(const char *in, char *out, size_t n)
{
	while (isspace((unsigned char)*in))
		in++;
	size_t len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len == 0 || len >= n)
		return false;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return true;
}

/* A CPU defined without `base`. */
static void empty_cpu(struct mmu_config *c)
{
	memset(c, 0, sizeof *c);
	c->pt_model = PT_LATENCY_FIXED;
	c->pt_read_latency = DEFAULT_PT_LATENCY;
	c->pt_cache.l1 = (struct pt_cache_level_config){ 64, 8, 4 };
	c->pt_cache.l2 = (struct pt_cache_level_config){ 512, 8, 12 };
	c->pt_cache.llc = (struct pt_cache_level_config){ 8192, 16, 40 };
	c->pt_cache.dram_latency = 200;
	c->base_cpi = 1.0;
	c->dirty_assist = 30;
	c->itlb_fetch_bytes = 16;
}

/* ------------------------------------------------------------------ overrides ---------- */

struct override {
	char key[KEY_MAX];
	char value[MMU_CPU_SOURCE_LEN + 8];
	struct key k;
};

static bool parse_override(const char *kv, struct override *o, char *err, size_t errlen)
{
	const char *eq = kv ? strchr(kv, '=') : NULL;
	if (eq == NULL)
		return fail(err, errlen, "override \"%s\": expected KEY=VALUE", kv ? kv : "(null)");
	char raw[KEY_MAX];
	size_t klen = (size_t)(eq - kv);
	if (klen >= sizeof raw)
		return fail(err, errlen, "override \"%.*s\": key too long", (int)klen, kv);
	memcpy(raw, kv, klen);
	raw[klen] = '\0';
	if (!normalize_key(raw, o->key, sizeof o->key))
		return fail(err, errlen, "override \"%s\": expected KEY=VALUE", kv);
	if (strlen(eq + 1) >= sizeof o->value)
		return fail(err, errlen, "%s: value too long", o->key);
	snprintf(o->value, sizeof o->value, "%s", eq + 1);
	char *v = trim(o->value);
	memmove(o->value, v, strlen(v) + 1);
	if (!parse_key(o->key, &o->k, err, errlen))
		return false;
	if (key_group(o->k.kind) == 0)
		return fail(err, errlen, "%s: only valid in a [cpu NAME] section of a configuration file", o->key);
	return true;
}

bool config_apply_overrides(struct mmu_config *c, const char *const *kvs, unsigned n, char *err, size_t errlen)
{
	struct override *o = calloc(n ? n : 1, sizeof *o);
	if (o == NULL)
		return fail(err, errlen, "out of memory");
	bool ok = true;
	struct mmu_config copy = *c;
	for (unsigned i = 0; ok && i < n; i++)
		ok = parse_override(kvs[i], &o[i], err, errlen);
	for (int g = 1; ok && g <= 3; g++)
		for (unsigned i = 0; ok && i < n; i++)
			if (key_group(o[i].k.kind) == g)
				ok = apply_key(&copy, &o[i].k, o[i].key, o[i].value, err, errlen);
	if (ok) {
		char msg[MSG_MAX];
		if (!mmu_config_valid(&copy, msg, sizeof msg)) {
			if (n == 1)
				fail(err, errlen, "%s: the result is not a valid CPU: %s", o[0].key, msg);
			else
				fail(err, errlen, "the overrides make an invalid CPU: %s", msg);
			ok = false;
		}
	}
	if (ok)
		*c = copy;
	free(o);
	return ok;
}

bool config_apply_override(struct mmu_config *c, const char *kv, char *err, size_t errlen)
{
	return config_apply_overrides(c, &kv, 1, err, errlen);
}

/* ------------------------------------------------------------------ registry ----------- */

void config_registry_init(struct config_registry *reg)
{
	memset(reg, 0, sizeof *reg);
}

static int registry_index(const struct config_registry *reg, const char *name)
{
	if (reg == NULL)
		return -1;
	for (unsigned i = 0; i < reg->n; i++)
		if (strcasecmp(reg->cpu[i].name, name) == 0)
			return (int)i;
	return -1;
}

const struct mmu_config *config_find_cpu(const struct config_registry *reg, const char *name)
{
	if (name == NULL)
		return NULL;
	int i = registry_index(reg, name);
	return i >= 0 ? &reg->cpu[i] : mmu_preset(name);
}

unsigned config_list_cpus(const struct config_registry *reg, const struct mmu_config **out, unsigned max)
{
	unsigned np, n = 0;
	const struct mmu_config *p = mmu_presets(&np);
	for (unsigned i = 0; i < np; i++, n++)
		if (n < max)
			out[n] = config_find_cpu(reg, p[i].name);
	for (unsigned i = 0; reg != NULL && i < reg->n; i++) {
		if (mmu_preset(reg->cpu[i].name) != NULL)
			continue;
		if (n < max)
			out[n] = &reg->cpu[i];
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------ files -------------- */

struct kv {
	char key[KEY_MAX];
	char *value;
	unsigned line;
	struct key k;
};

struct load_ctx {
	const char *path;
	FILE *f;
	char *buf;
	size_t bufcap;
	unsigned lineno;
	bool continuation;              /* the current line is indented: inih continues a value */

	bool in_section;
	char sec_name[MMU_CPU_NAME_LEN];
	unsigned sec_line;
	struct kv *kv;
	unsigned nkv, capkv;

	bool failed;
	unsigned err_line;
	char msg[MSG_MAX];

	const struct config_registry *reg;
	struct mmu_config *staged;      /* CONFIG_MAX_CPUS */
	unsigned *staged_line;
	unsigned nstaged;
};

__attribute__((format(printf, 3, 4)))
static void fail_at(struct load_ctx *x, unsigned line, const char *fmt, ...)
{
	if (x->failed)
		return;
	x->failed = true;
	x->err_line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof x->msg, fmt, ap);
	va_end(ap);
}

static void free_kvs(struct load_ctx *x)
{
	for (unsigned i = 0; i < x->nkv; i++)
		free(x->kv[i].value);
	x->nkv = 0;
}

static int staged_index(const struct load_ctx *x, const char *name)
{
	for (unsigned i = 0; i < x->nstaged; i++)
		if (strcasecmp(x->staged[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Builds, checks and stages the CPU of the section that just ended. */
static void finish_section(struct load_ctx *x)
{
	if (!x->in_section)
		return;
	x->in_section = false;
	if (x->failed) {
		free_kvs(x);
		return;
	}
	char err[MSG_MAX];
	const char *name = x->sec_name;
	for (unsigned i = 0; i < x->nkv; i++) {
		if (!parse_key(x->kv[i].key, &x->kv[i].k, err, sizeof err)) {
			fail_at(x, x->kv[i].line, "%s", err);
			goto out;
		}
	}

	/* Group 0: replace, base. */
	bool replace = false;
	struct mmu_config c;
	empty_cpu(&c);
	for (unsigned i = 0; i < x->nkv; i++) {
		struct kv *kv = &x->kv[i];
		if (kv->k.kind == K_REPLACE && !parse_bool(kv->value, &replace)) {
			fail_at(x, kv->line, "replace: expected yes or no (got \"%s\")", kv->value);
			goto out;
		}
		if (kv->k.kind == K_BASE) {
			int s = staged_index(x, kv->value);
			const struct mmu_config *b = s >= 0 ? &x->staged[s] : config_find_cpu(x->reg, kv->value);
			if (b == NULL) {
				fail_at(x, kv->line, "base: unknown CPU \"%s\" (a preset, or a CPU defined earlier)",
					kv->value);
				goto out;
			}
			c = *b;
			/* "based on NAME: SOURCE", cut to fit (a `source` key replaces it) */
			char src[MMU_CPU_NAME_LEN + MMU_CPU_SOURCE_LEN + 16];
			snprintf(src, sizeof src, "based on %s: %s", b->name, b->source);
			snprintf(c.source, sizeof c.source, "%.*s", MMU_CPU_SOURCE_LEN - 1, src);
		}
	}
	snprintf(c.name, sizeof c.name, "%s", name);

	/* Groups 1–3. */
	for (int g = 1; g <= 3; g++) {
		for (unsigned i = 0; i < x->nkv; i++) {
			struct kv *kv = &x->kv[i];
			if (key_group(kv->k.kind) != g)
				continue;
			if (!apply_key(&c, &kv->k, kv->key, kv->value, err, sizeof err)) {
				fail_at(x, kv->line, "%s", err);
				goto out;
			}
		}
	}

	int s = staged_index(x, name);
	int r = registry_index(x->reg, name);
	if (!replace) {
		if (s >= 0) {
			fail_at(x, x->sec_line, "[cpu %s]: already defined at line %u; add `replace = yes` to redefine it",
				name, x->staged_line[s]);
			goto out;
		}
		if (r >= 0 || mmu_preset(name) != NULL) {
			fail_at(x, x->sec_line, "[cpu %s]: already defined (%s); add `replace = yes` to redefine it", name,
				r >= 0 ? "by a configuration file loaded earlier" : "a built-in preset");
			goto out;
		}
	}
	if (!mmu_config_valid(&c, err, sizeof err)) {
		fail_at(x, x->sec_line, "[cpu %s]: %s", name, err);
		goto out;
	}
	if (s >= 0) {
		x->staged[s] = c;
		x->staged_line[s] = x->sec_line;
		goto out;
	}
	unsigned total = x->reg ? x->reg->n : 0;
	for (unsigned i = 0; i < x->nstaged; i++)
		if (registry_index(x->reg, x->staged[i].name) < 0)
			total++;
	if (r < 0)
		total++;
	if (total > CONFIG_MAX_CPUS || x->nstaged >= CONFIG_MAX_CPUS) {
		fail_at(x, x->sec_line, "[cpu %s]: too many CPUs (a registry holds at most %d)", name, CONFIG_MAX_CPUS);
		goto out;
	}
	x->staged[x->nstaged] = c;
	x->staged_line[x->nstaged++] = x->sec_line;
out:
	free_kvs(x);
}

static bool valid_cpu_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= MMU_CPU_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_-.+", s[i]))
			return false;
	return true;
}

/* A section header line "[...]": ends the current section and starts the new one. */
static void section_header(struct load_ctx *x, const char *p)
{
	finish_section(x);
	const char *end = strchr(p, ']');
	if (end == NULL) {
		fail_at(x, x->lineno, "section header without ']'");
		return;
	}
	char buf[128];
	snprintf(buf, sizeof buf, "%.*s", (int)(end - p - 1), p + 1);
	char *save = NULL;
	char *w1 = strtok_r(buf, " \t", &save);
	char *w2 = w1 ? strtok_r(NULL, " \t", &save) : NULL;
	char *w3 = w2 ? strtok_r(NULL, " \t", &save) : NULL;
	if (w1 == NULL || strcmp(w1, "cpu") != 0) {
		fail_at(x, x->lineno, "unknown section [%.*s] (only [cpu NAME] sections exist)", (int)(end - p - 1), p + 1);
		return;
	}
	if (w2 == NULL || w3 != NULL || !valid_cpu_name(w2)) {
		fail_at(x, x->lineno,
			"bad section [%.*s]: expected [cpu NAME], NAME of letters, digits, '_', '-', '.', '+' "
			"(at most %d)", (int)(end - p - 1), p + 1, MMU_CPU_NAME_LEN - 1);
		return;
	}
	x->in_section = true;
	snprintf(x->sec_name, sizeof x->sec_name, "%s", w2);
	x->sec_line = x->lineno;
}

/* inih's line reader: one line per call, counted; headers handled here (see the top). */
static char *reader(char *str, int num, void *stream)
{
	struct load_ctx *x = stream;
	if (x->failed)
		return NULL;
	ssize_t n = getline(&x->buf, &x->bufcap, x->f);
	if (n < 0)
		return NULL;
	x->lineno++;
	if (memchr(x->buf, '\0', (size_t)n) != NULL) {
		fail_at(x, x->lineno, "NUL byte in the line");
		return NULL;
	}
	size_t len = (size_t)n;
	while (len > 0 && (x->buf[len - 1] == '\n' || x->buf[len - 1] == '\r'))
		len--;
	if (num < 4 || len > (size_t)num - 3 || (size_t)n + 1 > (size_t)num) {
		fail_at(x, x->lineno, "line too long (%zu characters; at most %d)", len, num - 3);
		return NULL;
	}
	const char *p = x->buf;
	if (x->lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
		p += 3;
	x->continuation = false;
	if (*p == '[') {
		section_header(x, p);
		if (x->failed)
			return NULL;
	} else if (isspace((unsigned char)*p)) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '[') {
			fail_at(x, x->lineno, "a section header must start at the beginning of its line");
			return NULL;
		}
		x->continuation = *p != '\0' && *p != ';' && *p != '#';
	}
	memcpy(str, x->buf, (size_t)n + 1);
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *x = user;
	(void)section;
	if (x->failed)
		return 0;
	char key[KEY_MAX];
	if (!normalize_key(name, key, sizeof key)) {
		fail_at(x, x->lineno, "key \"%s\" is empty or too long", name);
		return 0;
	}
	if (!x->in_section) {
		fail_at(x, x->lineno, "%s: key outside a [cpu NAME] section", key);
		return 0;
	}
	for (unsigned i = 0; i < x->nkv; i++) {
		struct kv *kv = &x->kv[i];
		if (strcmp(kv->key, key) != 0)
			continue;
		if (strcmp(key, "source") == 0) {            /* repeated or continued: joined */
			size_t a = strlen(kv->value), b = strlen(value);
			char *v = realloc(kv->value, a + b + 2);
			if (v == NULL) {
				fail_at(x, x->lineno, "out of memory");
				return 0;
			}
			v[a] = ' ';
			memcpy(v + a + 1, value, b + 1);
			kv->value = v;
			return 1;
		}
		if (x->continuation)
			fail_at(x, x->lineno, "%s: an indented line continues the value of %s; only `source` may go "
				"on over several lines", key, key);
		else
			fail_at(x, x->lineno, "%s: given twice in this section (first at line %u)", key, kv->line);
		return 0;
	}
	if (x->nkv == x->capkv) {
		unsigned cap = x->capkv ? 2 * x->capkv : 16;
		struct kv *kv = realloc(x->kv, cap * sizeof *kv);
		if (kv == NULL) {
			fail_at(x, x->lineno, "out of memory");
			return 0;
		}
		x->kv = kv;
		x->capkv = cap;
	}
	struct kv *kv = &x->kv[x->nkv];
	memset(kv, 0, sizeof *kv);
	snprintf(kv->key, sizeof kv->key, "%s", key);
	kv->value = strdup(value);
	kv->line = x->lineno;
	if (kv->value == NULL) {
		fail_at(x, x->lineno, "out of memory");
		return 0;
	}
	x->nkv++;
	return 1;
}

bool config_load_stream(struct config_registry *reg, FILE *f, const char *name, char *err, size_t errlen)
{
	struct load_ctx x;
	memset(&x, 0, sizeof x);
	x.path = name ? name : "(config)";
	x.f = f;
	x.reg = reg;
	x.staged = calloc(CONFIG_MAX_CPUS, sizeof *x.staged);
	x.staged_line = calloc(CONFIG_MAX_CPUS, sizeof *x.staged_line);
	if (x.staged == NULL || x.staged_line == NULL) {
		free(x.staged);
		free(x.staged_line);
		return fail(err, errlen, "%s: out of memory", x.path);
	}
	int rc = ini_parse_stream(reader, &x, handler, &x);
	if (!x.failed && ferror(f))
		fail_at(&x, x.lineno, "read error: %s", strerror(errno));
	if (!x.failed && rc == 0)
		finish_section(&x);
	bool ok;
	if (rc > 0 && (!x.failed || (unsigned)rc < x.err_line)) {
		ok = fail(err, errlen, "%s:%d: syntax error (expected [cpu NAME], KEY = VALUE or a comment)", x.path, rc);
	} else if (rc < 0 && !x.failed) {
		ok = fail(err, errlen, "%s: cannot parse (inih error %d)", x.path, rc);
	} else if (x.failed) {
		ok = fail(err, errlen, "%s:%u: %s", x.path, x.err_line, x.msg);
	} else {
		for (unsigned i = 0; i < x.nstaged; i++) {
			int r = registry_index(reg, x.staged[i].name);
			if (r >= 0)
				reg->cpu[r] = x.staged[i];
			else
				reg->cpu[reg->n++] = x.staged[i];
		}
		ok = true;
	}
	free_kvs(&x);
	free(x.kv);
	free(x.buf);
	free(x.staged);
	free(x.staged_line);
	return ok;
}

bool config_load_file(struct config_registry *reg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	bool ok = config_load_stream(reg, f, path, err, errlen);
	fclose(f);
	return ok;
}

/* ------------------------------------------------------------------ printing ----------- */

static void size_list(unsigned mask, char *buf, size_t n)
{
	static const char *const names[TLB_NSIZES] = { "4K", "2M/4M", "1G" };
	buf[0] = '\0';
	for (unsigned s = 0; s < TLB_NSIZES; s++) {
		if (!(mask & TLB_SIZE_BIT(s)))
			continue;
		if (buf[0])
			strncat(buf, " ", n - strlen(buf) - 1);
		strncat(buf, names[s], n - strlen(buf) - 1);
	}
}

/* "64x4" or "64,full" */
static void geometry(const struct tlb_array_config *a, char *buf, size_t n)
{
	if (a->ways == a->entries)
		snprintf(buf, n, "%u,full", a->entries);
	else
		snprintf(buf, n, "%ux%u", a->entries, a->ways);
}

static void ptc_text(const struct pt_cache_level_config *l, char *buf, size_t n)
{
	if (l->lines == 0)
		snprintf(buf, n, "none");
	else
		snprintf(buf, n, "%ux%u@%u", l->lines, l->ways, l->latency);
}

static void print_array_row(FILE *out, const char *level, const struct tlb_array_config *a, const char *what)
{
	unsigned sets = a->ways ? a->entries / a->ways : 0;
	char ways[16];
	if (a->ways == a->entries)
		snprintf(ways, sizeof ways, "full");
	else
		snprintf(ways, sizeof ways, "%u", a->ways);
	fprintf(out, "  %-5s %-11s %7u %5s %5u  %-6s %7u  %s\n", level, a->name, a->entries, ways, sets,
		tlb_policy_name(a->policy), a->latency, what);
}

static void summary_level(FILE *out, const char *title, const struct tlb_level_config *l, bool lat)
{
	fprintf(out, " %s", title);
	if (l->narrays == 0)
		fprintf(out, " none");
	for (unsigned i = 0; i < l->narrays && i < MMU_MAX_ARRAYS; i++) {
		char sz[8], g[24];
		sizes_key(l->arrays[i].sizes, sz, sizeof sz);
		for (char *p = sz; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		geometry(&l->arrays[i], g, sizeof g);
		if (lat)
			fprintf(out, " %s:%s@%u", sz, g, l->arrays[i].latency);
		else
			fprintf(out, " %s:%s", sz, g);
	}
}

void config_print_cpu(FILE *out, const struct mmu_config *c, bool verbose)
{
	bool is_default = strcasecmp(c->name, mmu_default_preset()) == 0;
	if (!verbose) {
		fprintf(out, "%-10s", c->name);
		summary_level(out, "L1D", &c->dtlb, false);
		fprintf(out, " |");
		if (c->l1_unified)
			fprintf(out, " L1I = L1D");
		else
			summary_level(out, "L1I", &c->itlb, false);
		fprintf(out, " |");
		summary_level(out, "STLB", &c->stlb, true);
		fprintf(out, " | PWC");
		bool any = false;
		for (unsigned p = 1; p < MMU_PWC_LEVELS; p++)
			if (c->pwc[p].entries) {
				fprintf(out, " %s:%u", pwc_names[p], c->pwc[p].entries);
				any = true;
			}
		if (!any)
			fprintf(out, " none");
		fprintf(out, "%s\n", is_default ? "  (default)" : "");
		return;
	}

	fprintf(out, "cpu %s%s\n", c->name, is_default ? " (the default)" : "");
	fprintf(out, "  source: %s\n", c->source[0] ? c->source : "(none given)");
	fprintf(out, "  %-5s %-11s %7s %5s %5s  %-6s %7s  %s\n", "level", "array", "entries", "ways", "sets", "policy",
		"latency", "holds");
	const struct tlb_level_config *lv[3] = { &c->itlb, &c->dtlb, &c->stlb };
	for (int l = 0; l < 3; l++) {
		for (unsigned i = 0; i < lv[l]->narrays && i < MMU_MAX_ARRAYS; i++) {
			char what[64];
			size_list(lv[l]->arrays[i].sizes, what, sizeof what);
			if (l == LV_ITLB && c->l1_unified)
				strncat(what, " (unused: l1_unified)", sizeof what - strlen(what) - 1);
			print_array_row(out, level_titles[l], &lv[l]->arrays[i], what);
		}
		if (lv[l]->narrays == 0)
			fprintf(out, "  %-5s %s\n", level_titles[l],
				l == LV_ITLB && c->l1_unified ? "(fetches use the L1D)" : "none");
	}
	static const char *const pwc_what[MMU_PWC_LEVELS] = { "", "PDEs", "PDPTEs", "PML4Es", "PML5Es" };
	bool any = false;
	for (unsigned p = 1; p < MMU_PWC_LEVELS; p++) {
		if (!c->pwc[p].entries)
			continue;
		print_array_row(out, "PWC", &c->pwc[p], pwc_what[p]);
		any = true;
	}
	if (!any)
		fprintf(out, "  %-5s none\n", "PWC");
	char l1[32], l2[32], llc[32];
	ptc_text(&c->pt_cache.l1, l1, sizeof l1);
	ptc_text(&c->pt_cache.l2, l2, sizeof l2);
	ptc_text(&c->pt_cache.llc, llc, sizeof llc);
	if (c->pt_model == PT_LATENCY_FIXED)
		fprintf(out, "  page-table reads: fixed, %u cycles each (cache model, unused: L1 %s, L2 %s, LLC %s, DRAM %u)\n",
			c->pt_read_latency, l1, l2, llc, c->pt_cache.dram_latency);
	else
		fprintf(out, "  page-table reads: cache model, lines x ways @ cycles: L1 %s, L2 %s, LLC %s, DRAM %u "
			"(fixed latency, unused: %u)\n", l1, l2, llc, c->pt_cache.dram_latency, c->pt_read_latency);
	fprintf(out, "  base CPI %g, Dirty assist %u cycles, one ITLB access per %u fetched bytes\n", c->base_cpi,
		c->dirty_assist, c->itlb_fetch_bytes);
	fprintf(out, "  PCID %s, 1 GiB pages %s", c->pcid ? "yes" : "no", c->pdpe1gb ? "yes" : "no");
	if (c->l1_unified)
		fprintf(out, ", one L1 TLB for fetches and data");
	if (c->stlb_data_only)
		fprintf(out, ", STLB for data only (ITLB misses walk)");
	if (c->stlb_1g_as_2m)
		fprintf(out, ", STLB holds 1G pages as 2M entries");
	fprintf(out, "\n");
}

void config_registry_print(const struct config_registry *reg, FILE *out)
{
	if (reg == NULL || reg->n == 0)
		return;
	fprintf(out, "\nCPUs from configuration files:\n\n");
	for (unsigned i = 0; i < reg->n; i++) {
		config_print_cpu(out, &reg->cpu[i], false);
		if (mmu_preset(reg->cpu[i].name) != NULL)
			fprintf(out, "%-10s (replaces the preset)\n", "");
	}
}

/* Shortest decimal that reads back as the same double. */
static void print_double(FILE *out, double v)
{
	char buf[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

static void write_array(FILE *out, const struct tlb_array_config *a, const char *key)
{
	char g[24];
	geometry(a, g, sizeof g);
	fprintf(out, "%s = %s\n", key, g);
	fprintf(out, "%s.latency = %u\n", key, a->latency);
	fprintf(out, "%s.policy = %s\n", key, tlb_policy_name(a->policy));
	if (a->seed != 0 || a->policy == TLB_POLICY_RANDOM)
		fprintf(out, "%s.seed = %" PRIu64 "\n", key, a->seed);
}

void config_write_cpu(FILE *out, const struct mmu_config *c)
{
	fprintf(out, "[cpu %s]\n", c->name);
	/* inih reads at most 197 characters a line: long sources go on over several `source` lines,
	 * split at spaces (rejoined with one space). */
	const char *s = c->source;
	while (*s) {
		size_t n = strlen(s);
		if (n > 100) {
			const char *sp = s + 100;
			while (sp > s && *sp != ' ')
				sp--;
			if (sp == s)
				sp = strchr(s + 100, ' ');
			n = sp ? (size_t)(sp - s) : n;
		}
		fprintf(out, "source = %.*s\n", (int)n, s);
		s += n;
		while (*s == ' ')
			s++;
	}
	const struct tlb_level_config *lv[3] = { &c->itlb, &c->dtlb, &c->stlb };
	for (int l = 0; l < 3; l++) {
		for (unsigned i = 0; i < lv[l]->narrays && i < MMU_MAX_ARRAYS; i++) {
			char key[TLB_NAME_LEN];
			array_key((enum level_id)l, lv[l]->arrays[i].sizes, key, sizeof key);
			write_array(out, &lv[l]->arrays[i], key);
		}
	}
	for (unsigned p = 1; p < MMU_PWC_LEVELS; p++) {
		if (!c->pwc[p].entries)
			continue;
		char key[TLB_NAME_LEN];
		array_key(LV_PWC, p, key, sizeof key);
		write_array(out, &c->pwc[p], key);
	}
	char l1[32], l2[32], llc[32];
	ptc_text(&c->pt_cache.l1, l1, sizeof l1);
	ptc_text(&c->pt_cache.l2, l2, sizeof l2);
	ptc_text(&c->pt_cache.llc, llc, sizeof llc);
	fprintf(out, "pt.model = %s\n", c->pt_model == PT_LATENCY_CACHE ? "cache" : "fixed");
	fprintf(out, "pt.latency = %u\n", c->pt_read_latency);
	fprintf(out, "pt.l1 = %s\npt.l2 = %s\npt.llc = %s\n", l1, l2, llc);
	fprintf(out, "pt.dram = %u\n", c->pt_cache.dram_latency);
	fprintf(out, "cpi = ");
	print_double(out, c->base_cpi);
	fprintf(out, "\ndirty_assist = %u\n", c->dirty_assist);
	fprintf(out, "fetch_bytes = %u\n", c->itlb_fetch_bytes);
	fprintf(out, "pcid = %s\n", c->pcid ? "yes" : "no");
	fprintf(out, "pdpe1gb = %s\n", c->pdpe1gb ? "yes" : "no");
	fprintf(out, "l1_unified = %s\n", c->l1_unified ? "yes" : "no");
	fprintf(out, "stlb.data_only = %s\n", c->stlb_data_only ? "yes" : "no");
	fprintf(out, "stlb.1g_as_2m = %s\n", c->stlb_1g_as_2m ? "yes" : "no");
}
