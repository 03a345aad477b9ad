/* trace_read.c — the trace reader and `mmuemu trace dump|stats|top` (docs/trace-format.md).
 *
 * trace_reader_next() decodes one block at a time into a buffer of at most the header's
 * block_raw_max bytes, so reading is bounded in memory like writing. The delta state of the
 * varint fields restarts at each block, mirroring the writer (trace.c).
 *
 * `trace stats` recomputes the report's translation totals from lookup, walk and fault records
 * and prints them under the same JSON paths as `mmuemu run --report-format json`
 * (timing.tlb.<level>..., timing.walks..., timing.flushes..., page_faults...), so the two can be
 * compared field by field. The derivation follows mmu/timing.c: an L1 lookup counts `count`
 * accesses; a lookup not answered by the L1 is one L1 miss and, when the STLB serves the access
 * (the CPU has one and it is not an ITLB miss of a data-only STLB), one STLB access, a miss
 * unless the outcome is stlb_hit.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "timing.h"
#include "trace_read.h"

#define TRACE_HEADER_MAX (1u << 20)
#define TRACE_RAW_LIMIT (64u << 20)

struct trace_reader {
	FILE *f;
	char path[512];
	struct trace_header h;
	uint64_t block_raw_max;
	ZSTD_DCtx *dctx;
	uint8_t *raw, *comp;
	size_t raw_cap, comp_cap;
	size_t raw_len, pos;
	uint32_t block_left, block_records;
	uint64_t block_off;             /* file offset of the current block's header */
	uint64_t off;                   /* file offset of the next block */
	uint64_t records, blocks;
	bool done;
	char err[512];
	/* Delta state (trace.c's, mirrored). */
	uint64_t p_insn, p_cycle, p_pc;
	uint16_t p_pcid;
	uint32_t p_lflags;
	uint64_t p_va[3], p_pdelta[3];
	uint64_t p_walk_va, p_walk_pa[MMU_EVENT_MAX_READS], p_walk_ent[MMU_EVENT_MAX_READS];
	uint64_t p_fault_va, p_flush_va, p_pfn, p_kaddr;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const char *hdr_get(const struct trace_header *h, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = h->text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		if (ll > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = ll - kl - 1;
			if (vl >= len)
				vl = len - 1;
			memcpy(buf, p + kl + 1, vl);
			buf[vl] = 0;
			return buf;
		}
		p = nl ? nl + 1 : p + ll;
	}
	return NULL;
}

static unsigned split_names(const char *v, char **out)
{
	unsigned n = 0;
	while (v && *v && n < TRACE_MAX_NAMES) {
		const char *c = strchr(v, ',');
		size_t l = c ? (size_t)(c - v) : strlen(v);
		out[n] = strndup(v, l);
		if (!out[n])
			break;
		n++;
		v = c ? c + 1 : v + l;
	}
	return n;
}

static void reset_deltas(struct trace_reader *r)
{
	r->p_insn = r->p_cycle = r->p_pc = 0;
	r->p_pcid = 0;
	r->p_lflags = UINT32_MAX;
	memset(r->p_va, 0, sizeof(r->p_va));
	memset(r->p_pdelta, 0, sizeof(r->p_pdelta));
	r->p_walk_va = 0;
	memset(r->p_walk_pa, 0, sizeof(r->p_walk_pa));
	memset(r->p_walk_ent, 0, sizeof(r->p_walk_ent));
	r->p_fault_va = r->p_flush_va = r->p_pfn = r->p_kaddr = 0;
}

static void free_header(struct trace_header *h)
{
	free(h->text);
	for (unsigned i = 0; i < h->nfault_kinds; i++)
		free(h->fault_kinds[i]);
	for (unsigned i = 0; i < h->nzones; i++)
		free(h->zones[i]);
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free_header(&r->h);
	ZSTD_freeDCtx(r->dctx);
	free(r->raw);
	free(r->comp);
	free(r);
}

struct trace_reader *trace_reader_open(const char *path, char *err, size_t errlen)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->f = fopen(path, "rb");
	if (!r->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	uint8_t pre[16];
	size_t n = fread(pre, 1, sizeof(pre), r->f);
	if (n < 8 || memcmp(pre, TRACE_MAGIC, 8)) {
		snprintf(err, errlen, "%s: not an mmuemu trace (bad magic at offset 0)", path);
		goto fail;
	}
	if (n < sizeof(pre)) {
		snprintf(err, errlen, "%s: truncated at offset %zu: the header is incomplete", path, n);
		goto fail;
	}
	r->h.version = le32(pre + 8);
	if (r->h.version != TRACE_VERSION) {
		snprintf(err, errlen, "%s: trace format version %u, this mmuemu reads version %d (offset 8)", path,
			 r->h.version, TRACE_VERSION);
		goto fail;
	}
	uint32_t hl = le32(pre + 12);
	if (hl == 0 || hl > TRACE_HEADER_MAX) {
		snprintf(err, errlen, "%s: corrupt header at offset 12: header length %u", path, hl);
		goto fail;
	}
	r->h.text = malloc((size_t)hl + 1);
	if (!r->h.text) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	uint8_t crc[4];
	if (fread(r->h.text, 1, hl, r->f) != hl || fread(crc, 1, 4, r->f) != 4) {
		snprintf(err, errlen, "%s: truncated at offset %ld: the header is incomplete", path, ftell(r->f));
		goto fail;
	}
	r->h.text[hl] = 0;
	if (trace_crc32(r->h.text, hl) != le32(crc) || strlen(r->h.text) != hl) {
		snprintf(err, errlen, "%s: corrupt header at offset 16: checksum mismatch", path);
		goto fail;
	}
	r->off = 16 + (uint64_t)hl + 4;
	char v[1024];
	struct trace_header *h = &r->h;
	if (!hdr_get(h, "format", v, sizeof(v)) || strcmp(v, "mmuemu-trace")) {
		snprintf(err, errlen, "%s: corrupt header at offset 16: no format=mmuemu-trace line", path);
		goto fail;
	}
	/* The record layouts must be exactly the ones this reader decodes. */
	for (unsigned k = 0; k <= TRACE_K_NKINDS; k++) {
		char key[64];
		snprintf(key, sizeof(key), "layout.%s", k ? trace_kind_name((enum trace_kind)(k - 1)) : "common");
		if (!hdr_get(h, key, v, sizeof(v)) || strcmp(v, trace_layouts[k])) {
			snprintf(err, errlen, "%s: header at offset 16: record layout '%s' differs from this reader's", path, key);
			goto fail;
		}
	}
	h->is64 = hdr_get(h, "arch", v, sizeof(v)) && !strcmp(v, "x86_64");
	h->stlb = hdr_get(h, "stlb", v, sizeof(v)) && !strcmp(v, "1");
	h->stlb_data_only = hdr_get(h, "stlb_data_only", v, sizeof(v)) && !strcmp(v, "1");
	h->l1_unified = hdr_get(h, "l1_unified", v, sizeof(v)) && !strcmp(v, "1");
	h->base_cpi = hdr_get(h, "base_cpi", v, sizeof(v)) ? strtod(v, NULL) : 0;
	h->page_sizes[0] = 4096;
	if (hdr_get(h, "page_sizes", v, sizeof(v)))
		sscanf(v, "%" SCNu64 ",%" SCNu64 ",%" SCNu64, &h->page_sizes[0], &h->page_sizes[1], &h->page_sizes[2]);
	if (hdr_get(h, "fault_kinds", v, sizeof(v)))
		h->nfault_kinds = split_names(v, h->fault_kinds);
	if (hdr_get(h, "zones", v, sizeof(v)))
		h->nzones = split_names(v, h->zones);
	char ev[256], rg[256], wd[256], sm[64];
	if (hdr_get(h, "events", ev, sizeof(ev)) && hdr_get(h, "range", rg, sizeof(rg)) &&
	    hdr_get(h, "window", wd, sizeof(wd)) && hdr_get(h, "sample", sm, sizeof(sm)))
		h->filtered = strcmp(ev, "lookup,walk,fault,flush,kernel,syscall") || strcmp(rg, "all") ||
			      strcmp(wd, "0-0") || strcmp(sm, "1");
	else
		h->filtered = true;
	r->block_raw_max = TRACE_BLOCK_RAW;
	if (hdr_get(h, "block_raw_max", v, sizeof(v)))
		r->block_raw_max = strtoull(v, NULL, 10);
	if (r->block_raw_max == 0 || r->block_raw_max > TRACE_RAW_LIMIT) {
		snprintf(err, errlen, "%s: corrupt header at offset 16: block_raw_max %" PRIu64, path, r->block_raw_max);
		goto fail;
	}
	r->raw_cap = r->block_raw_max;
	r->comp_cap = ZSTD_compressBound(r->raw_cap);
	r->raw = malloc(r->raw_cap);
	r->comp = malloc(r->comp_cap);
	r->dctx = ZSTD_createDCtx();
	if (!r->raw || !r->comp || !r->dctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return r;
fail:
	trace_reader_close(r);
	return NULL;
}

const struct trace_header *trace_reader_header(const struct trace_reader *r) { return &r->h; }
const char *trace_reader_error(const struct trace_reader *r) { return r->err; }

static int rerr(struct trace_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rerr(struct trace_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads the next block (or the trailer). 1: a block is loaded; 0: the trailer; -1: error. */
static int load_block(struct trace_reader *r)
{
	uint8_t h[28];
	if (fseek(r->f, (long)r->off, SEEK_SET) != 0)
		return rerr(r, "%s: cannot seek to offset %" PRIu64 ": %s", r->path, r->off, strerror(errno));
	size_t n = fread(h, 1, 4, r->f);
	if (n == 0)
		return rerr(r, "%s: truncated at offset %" PRIu64 ": the trace ends without its end marker "
			    "(%" PRIu64 " complete blocks, %" PRIu64 " records read)", r->path, r->off, r->blocks, r->records);
	if (n < 4)
		return rerr(r, "%s: truncated at offset %" PRIu64 ": incomplete block header", r->path, r->off);
	uint32_t magic = le32(h);
	if (magic == TRACE_END_MAGIC) {
		if (fread(h + 4, 1, 24, r->f) != 24)
			return rerr(r, "%s: truncated at offset %" PRIu64 ": incomplete end marker", r->path, r->off);
		if (trace_crc32(h, 24) != le32(h + 24))
			return rerr(r, "%s: corrupt end marker at offset %" PRIu64 ": checksum mismatch", r->path, r->off);
		uint64_t nrec = le64(h + 8), nblk = le64(h + 16);
		if (nrec != r->records || nblk != r->blocks)
			return rerr(r, "%s: corrupt trace: the end marker at offset %" PRIu64 " counts %" PRIu64 " records in %"
				    PRIu64 " blocks, the file holds %" PRIu64 " in %" PRIu64, r->path, r->off, nrec, nblk,
				    r->records, r->blocks);
		int c = fgetc(r->f);
		if (c != EOF)
			return rerr(r, "%s: corrupt trace: data after the end marker at offset %" PRIu64, r->path, r->off + 28);
		return 0;
	}
	if (magic != TRACE_BLOCK_MAGIC)
		return rerr(r, "%s: corrupt trace at offset %" PRIu64 ": no block or end marker (bytes %02x %02x %02x %02x)",
			    r->path, r->off, h[0], h[1], h[2], h[3]);
	if (fread(h + 4, 1, 16, r->f) != 16)
		return rerr(r, "%s: truncated at offset %" PRIu64 ": incomplete block header", r->path, r->off);
	if (trace_crc32(h, 16) != le32(h + 16))
		return rerr(r, "%s: corrupt block header at offset %" PRIu64 ": checksum mismatch", r->path, r->off);
	uint32_t raw_len = le32(h + 4), comp_len = le32(h + 8), nrec = le32(h + 12);
	if (raw_len == 0 || raw_len > r->raw_cap || comp_len == 0 || comp_len > r->comp_cap || nrec == 0 || nrec > raw_len)
		return rerr(r, "%s: corrupt block header at offset %" PRIu64 ": sizes %u/%u, %u records", r->path, r->off,
			    raw_len, comp_len, nrec);
	size_t got = fread(r->comp, 1, comp_len, r->f);
	if (got != comp_len)
		return rerr(r, "%s: truncated at offset %" PRIu64 ": the block at offset %" PRIu64 " needs %u bytes, %zu left",
			    r->path, r->off + 20 + got, r->off, comp_len, got);
	size_t d = ZSTD_decompressDCtx(r->dctx, r->raw, r->raw_cap, r->comp, comp_len);
	if (ZSTD_isError(d))
		return rerr(r, "%s: corrupt block at offset %" PRIu64 ": zstd: %s", r->path, r->off, ZSTD_getErrorName(d));
	if (d != raw_len)
		return rerr(r, "%s: corrupt block at offset %" PRIu64 ": %zu bytes decompressed, header says %u", r->path,
			    r->off, d, raw_len);
	r->block_off = r->off;
	r->off += 20 + comp_len;
	r->raw_len = raw_len;
	r->pos = 0;
	r->block_left = nrec;
	r->block_records = nrec;
	r->blocks++;
	reset_deltas(r);
	return 1;
}

/* Bounds-checked field readers: on running past the block they set *bad. */
struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get_uv(struct cur *c)
{
	uint64_t v = 0;
	for (unsigned s = 0; s < 64; s += 7) {
		if (c->p >= c->end) {
			c->bad = true;
			return 0;
		}
		uint8_t b = *c->p++;
		v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return v;
	}
	c->bad = true;
	return 0;
}

static int64_t get_sv(struct cur *c)
{
	uint64_t u = get_uv(c);
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

static uint64_t get_dv(struct cur *c, uint64_t *prev)
{
	*prev += (uint64_t)get_sv(c);
	return *prev;
}

static uint8_t get_u8(struct cur *c)
{
	if (c->p >= c->end) {
		c->bad = true;
		return 0;
	}
	return *c->p++;
}

static void get_str(struct cur *c, char *out, size_t cap)
{
	uint64_t n = get_uv(c);
	if (c->bad || n >= cap || n > (uint64_t)(c->end - c->p)) {
		c->bad = true;
		out[0] = 0;
		return;
	}
	memcpy(out, c->p, (size_t)n);
	out[n] = 0;
	for (uint64_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == '"' || out[i] == '\\' || out[i] == ',')
			c->bad = true;   /* the writer never emits these */
	c->p += n;
}

int trace_reader_next(struct trace_reader *r, struct trace_rec *rec)
{
	if (r->done)
		return 0;
	if (r->err[0])
		return -1;
	if (!r->block_left) {
		if (r->pos != r->raw_len)
			return rerr(r, "%s: corrupt block at offset %" PRIu64 ": %zu bytes after its last record", r->path,
				    r->block_off, r->raw_len - r->pos);
		int b = load_block(r);
		if (b <= 0) {
			if (b == 0)
				r->done = true;
			return b;
		}
	}
	struct cur c = { r->raw + r->pos, r->raw + r->raw_len, false };
	memset(rec, 0, sizeof(*rec));
	uint8_t tag = get_u8(&c);
	unsigned kind = tag & 15, bits = (tag >> 4) & 7;
	if (kind >= TRACE_K_NKINDS)
		return rerr(r, "%s: corrupt block at offset %" PRIu64 ": record %u has unknown kind %u", r->path, r->block_off,
			    r->block_records - r->block_left, kind);
	rec->kind = (uint8_t)kind;
	r->p_insn += get_uv(&c);
	rec->insn = r->p_insn;
	rec->cycle = get_dv(&c, &r->p_cycle);
	rec->pc = get_dv(&c, &r->p_pc);
	if (tag & 0x80)
		r->p_pcid = (uint16_t)get_uv(&c);
	rec->pcid = r->p_pcid;
	switch (kind) {
	case TRACE_K_LOOKUP: {
		rec->outcome = (uint8_t)(bits & 3);
		uint32_t fl = (bits & 4) ? r->p_lflags : (uint32_t)get_uv(&c);
		if (fl == UINT32_MAX || fl >= (1u << 9)) {
			c.bad = true;
			break;
		}
		r->p_lflags = fl;
		rec->acc = fl & 3;
		rec->size = (fl >> 2) & 3;
		rec->array = (fl >> 4) & 3;
		rec->supervisor = (fl >> 6) & 1;
		rec->global = (fl >> 7) & 1;
		rec->dirty_assist = (fl >> 8) & 1;
		if (rec->acc > 2 || rec->size > 2) {
			c.bad = true;
			break;
		}
		rec->level = rec->acc == 2 && !r->h.l1_unified ? MMU_ITLB : MMU_DTLB;
		rec->has_va = true;
		rec->va = get_dv(&c, &r->p_va[rec->acc]);
		if (rec->outcome != MMU_OUT_FAULT) {
			rec->has_pa = true;
			rec->pa = rec->va + get_dv(&c, &r->p_pdelta[rec->acc]);
			rec->page_size = r->h.page_sizes[rec->size];
		}
		rec->cycles = (uint32_t)get_uv(&c);
		rec->count = (uint32_t)get_uv(&c);
		break;
	}
	case TRACE_K_WALK: {
		rec->walk_fault = bits & 1;
		uint8_t as = get_u8(&c);
		rec->acc = as & 3;
		rec->size = (as >> 2) & 3;
		rec->nreads = get_u8(&c);
		rec->first_level = get_u8(&c);
		rec->timed_reads = get_u8(&c);
		rec->pwc_hit_level = (int8_t)(get_u8(&c) - 1);
		rec->ad_writes = get_u8(&c);
		if (rec->acc > 2 || rec->size > 2 || rec->nreads > MMU_EVENT_MAX_READS || rec->first_level > 4 ||
		    rec->timed_reads > rec->nreads) {
			c.bad = true;
			break;
		}
		rec->cycles = (uint32_t)get_uv(&c);
		rec->has_va = true;
		rec->va = get_dv(&c, &r->p_walk_va);
		for (unsigned i = 0; i < rec->nreads; i++) {
			if (i == 0)
				rec->entry_pa[0] = get_dv(&c, &r->p_walk_pa[0]);
			else
				rec->entry_pa[i] = (rec->entry[i - 1] & TRACE_FRAME_MASK) + (uint64_t)get_sv(&c);
			rec->entry[i] = get_dv(&c, &r->p_walk_ent[i]);
		}
		if (!rec->walk_fault) {
			rec->has_pa = true;
			uint64_t base = (uint64_t)get_sv(&c) +
					(rec->nreads ? rec->entry[rec->nreads - 1] & TRACE_FRAME_MASK : 0);
			rec->page_size = r->h.page_sizes[rec->size];
			rec->pa = base + (rec->va & (rec->page_size - 1));
		}
		break;
	}
	case TRACE_K_FAULT:
		rec->uaccess = bits & 1;
		rec->result = (uint8_t)((bits >> 1) & 3);
		rec->va = get_dv(&c, &r->p_fault_va);
		rec->has_va = !rec->uaccess;
		rec->error_code = (uint32_t)get_uv(&c);
		rec->fault_kind = (uint32_t)get_uv(&c);
		rec->cycles = (uint32_t)get_uv(&c);
		rec->frames = get_uv(&c);
		if (rec->fault_kind >= TRACE_MAX_NAMES)
			c.bad = true;
		break;
	case TRACE_K_FLUSH:
		rec->inv_kind = (uint8_t)bits;
		if (bits >= MMU_INV_NKINDS)
			c.bad = true;
		rec->va = get_dv(&c, &r->p_flush_va);
		rec->has_va = bits == MMU_INV_INVLPG || bits == MMU_INV_FAULT || bits == MMU_INV_DROP;
		rec->entries = (uint32_t)get_uv(&c);
		break;
	case TRACE_K_KERNEL:
		rec->km_kind = (uint8_t)bits;
		rec->order = get_u8(&c);
		rec->zone = (int8_t)get_u8(&c);
		rec->migratetype = (int8_t)get_u8(&c);
		rec->slowpath = get_u8(&c);
		rec->pfn = get_dv(&c, &r->p_pfn);
		rec->addr = get_dv(&c, &r->p_kaddr);
		get_str(&c, rec->cache, sizeof(rec->cache));
		if (rec->km_kind == 0 || rec->km_kind == 1) {   /* buddy: pa and size of the block */
			rec->has_pa = true;
			rec->pa = rec->pfn << 12;
			rec->page_size = rec->order < 40 ? 4096ULL << rec->order : 0;
		}
		if (rec->km_kind >= 4) {   /* kmap, kunmap: kernel virtual address */
			rec->has_va = true;
			rec->va = rec->addr;
			if (rec->km_kind == 4) {
				rec->has_pa = true;
				rec->pa = rec->pfn << 12;
				rec->page_size = 4096;
			}
		}
		break;
	case TRACE_K_SYSCALL:
		rec->nr = get_uv(&c);
		rec->ret = get_sv(&c);
		for (int i = 0; i < 6; i++)
			rec->args[i] = get_uv(&c);
		get_str(&c, rec->name, sizeof(rec->name));
		break;
	}
	if (c.bad)
		return rerr(r, "%s: corrupt block at offset %" PRIu64 ": record %u (%s) is malformed", r->path, r->block_off,
			    r->block_records - r->block_left, trace_kind_name((enum trace_kind)kind));
	r->pos = (size_t)(c.p - r->raw);
	r->block_left--;
	r->records++;
	return 1;
}

/* ---- the commands ---------------------------------------------------------------------------- */

static const char *const outcome_names[] = { "l1_hit", "stlb_hit", "walk", "fault" };
static const char *const acc_names[] = { "read", "write", "fetch" };
static const char *const level_names[] = { "ITLB", "DTLB", "STLB" };
static const char *const inv_names[] = { "invlpg", "pcid", "all", "all_global", "fault", "drop" };
static const char *const km_names[] = { "page_alloc", "page_free", "slab_alloc", "slab_free", "kmap", "kunmap",
					"kmap_flush", "?" };
static const char *const result_names[] = { "ok", "sigsegv", "sigbus", "oom" };
static const char *const mt_names[] = { "Unmovable", "Movable", "Reclaimable", "HighAtomic" };
static const char *const size_names[] = { "4K", "2M", "1G" };

struct read_filter {
	unsigned events;
	uint64_t lo, hi, from, to;
};

static bool rec_selected(const struct read_filter *f, const struct trace_rec *rec)
{
	if (rec->kind == TRACE_K_LOOKUP) {
		if (!(f->events & TRACE_SEL(TRACE_K_LOOKUP)) &&
		    (!(f->events & TRACE_SEL_MISS) || rec->outcome == MMU_OUT_L1_HIT))
			return false;
	} else if (!(f->events & TRACE_SEL(rec->kind))) {
		return false;
	}
	if (rec->insn < f->from || (f->to && rec->insn >= f->to))
		return false;
	if (f->hi && rec->kind != TRACE_K_KERNEL && rec->kind != TRACE_K_SYSCALL && rec->has_va &&
	    (rec->va < f->lo || rec->va >= f->hi))
		return false;
	return true;
}

static const char *fault_kind_name(const struct trace_header *h, unsigned k)
{
	return k < h->nfault_kinds ? h->fault_kinds[k] : "?";
}

static const char *zone_name(const struct trace_header *h, int z)
{
	return z >= 0 && (unsigned)z < h->nzones ? h->zones[z] : "-";
}

/* Kind-specific fields as "key=value" pairs separated by spaces (CSV's detail column) or as
 * JSON members. */
static void put_detail(FILE *o, const struct trace_header *h, const struct trace_rec *rec, bool json)
{
	const char *fmt_s = json ? ",\"%s\":\"%s\"" : "%s%s=%s";
	const char *fmt_u = json ? ",\"%s\":%" PRIu64 : "%s%s=%" PRIu64;
	const char *fmt_x = json ? ",\"%s\":\"0x%" PRIx64 "\"" : "%s%s=0x%" PRIx64;
	const char *fmt_d = json ? ",\"%s\":%" PRId64 : "%s%s=%" PRId64;
	int n = 0;
#define S(k, v) (json ? fprintf(o, fmt_s, k, v) : fprintf(o, fmt_s, n++ ? " " : "", k, v))
#define U(k, v) (json ? fprintf(o, fmt_u, k, (uint64_t)(v)) : fprintf(o, fmt_u, n++ ? " " : "", k, (uint64_t)(v)))
#define X(k, v) (json ? fprintf(o, fmt_x, k, (uint64_t)(v)) : fprintf(o, fmt_x, n++ ? " " : "", k, (uint64_t)(v)))
#define D(k, v) (json ? fprintf(o, fmt_d, k, (int64_t)(v)) : fprintf(o, fmt_d, n++ ? " " : "", k, (int64_t)(v)))
	switch (rec->kind) {
	case TRACE_K_LOOKUP:
		S("acc", acc_names[rec->acc]);
		S("level", level_names[rec->level]);
		S("outcome", outcome_names[rec->outcome]);
		U("array", rec->array);
		U("cycles", rec->cycles);
		U("count", rec->count);
		U("global", rec->global);
		U("user", !rec->supervisor);
		U("dirty_assist", rec->dirty_assist);
		break;
	case TRACE_K_WALK: {
		S("acc", acc_names[rec->acc]);
		U("fault", rec->walk_fault);
		U("levels", rec->nreads);
		U("timed_reads", rec->timed_reads);
		D("pwc_hit_level", rec->pwc_hit_level);
		U("ad_writes", rec->ad_writes);
		U("cycles", rec->cycles);
		/* reads: level@entry_pa=entry, top level first */
		if (json) {
			fprintf(o, ",\"reads\":[");
			for (unsigned i = 0; i < rec->nreads; i++)
				fprintf(o, "%s{\"level\":%u,\"entry_pa\":\"0x%" PRIx64 "\",\"entry\":\"0x%" PRIx64 "\"}",
					i ? "," : "", rec->first_level - i, rec->entry_pa[i], rec->entry[i]);
			fprintf(o, "]");
		} else {
			fprintf(o, " reads=");
			for (unsigned i = 0; i < rec->nreads; i++)
				fprintf(o, "%sL%u@0x%" PRIx64 "=0x%" PRIx64, i ? "|" : "", rec->first_level - i,
					rec->entry_pa[i], rec->entry[i]);
		}
		break;
	}
	case TRACE_K_FAULT:
		S("fault_kind", fault_kind_name(h, rec->fault_kind));
		X("error_code", rec->error_code);
		U("uaccess", rec->uaccess);
		S("result", result_names[rec->result & 3]);
		U("handler_cycles", rec->cycles);
		U("frames", rec->frames);
		break;
	case TRACE_K_FLUSH:
		S("flush_kind", inv_names[rec->inv_kind % MMU_INV_NKINDS]);
		U("entries", rec->entries);
		break;
	case TRACE_K_KERNEL:
		S("event", km_names[rec->km_kind & 7]);
		X("pfn", rec->pfn);
		U("order", rec->order);
		S("zone", zone_name(h, rec->zone));
		S("migratetype", rec->migratetype >= 0 && rec->migratetype < 4 ? mt_names[rec->migratetype] : "-");
		U("slowpath", rec->slowpath);
		X("addr", rec->addr);
		S("cache", rec->cache[0] ? rec->cache : "-");
		break;
	case TRACE_K_SYSCALL:
		S("name", rec->name);
		U("nr", rec->nr);
		D("ret", rec->ret);
		if (json) {
			fprintf(o, ",\"args\":[");
			for (int i = 0; i < 6; i++)
				fprintf(o, "%s\"0x%" PRIx64 "\"", i ? "," : "", rec->args[i]);
			fprintf(o, "]");
		} else {
			fprintf(o, " args=");
			for (int i = 0; i < 6; i++)
				fprintf(o, "%s0x%" PRIx64, i ? "|" : "", rec->args[i]);
		}
		break;
	}
#undef S
#undef U
#undef X
#undef D
}

static void dump_record(FILE *o, const struct trace_header *h, const struct trace_rec *rec, bool json)
{
	if (json) {
		fprintf(o, "{\"kind\":\"%s\",\"insn\":%" PRIu64 ",\"cycle\":%" PRIu64 ",\"pc\":\"0x%" PRIx64 "\",\"pcid\":%u",
			trace_kind_name((enum trace_kind)rec->kind), rec->insn, rec->cycle, rec->pc, rec->pcid);
		if (rec->has_va)
			fprintf(o, ",\"va\":\"0x%" PRIx64 "\"", rec->va);
		if (rec->has_pa)
			fprintf(o, ",\"pa\":\"0x%" PRIx64 "\"", rec->pa);
		if (rec->page_size)
			fprintf(o, ",\"page_size\":%" PRIu64, rec->page_size);
		put_detail(o, h, rec, true);
		fprintf(o, "}\n");
	} else {
		fprintf(o, "%s,%" PRIu64 ",%" PRIu64 ",0x%" PRIx64 ",%u,", trace_kind_name((enum trace_kind)rec->kind),
			rec->insn, rec->cycle, rec->pc, rec->pcid);
		if (rec->has_va)
			fprintf(o, "0x%" PRIx64, rec->va);
		fputc(',', o);
		if (rec->has_pa)
			fprintf(o, "0x%" PRIx64, rec->pa);
		fputc(',', o);
		if (rec->page_size)
			fprintf(o, "%" PRIu64, rec->page_size);
		fputc(',', o);
		put_detail(o, h, rec, false);
		fputc('\n', o);
	}
}

/* Totals recomputed from the records (see the top of this file). */
struct trace_totals {
	uint64_t acc[MMU_NLEVELS][3], miss[MMU_NLEVELS][3];
	uint64_t hits_by_size[MMU_NLEVELS][3], misses_by_size[MMU_NLEVELS][3];
	uint64_t walks, walk_cycles, walk_refs, walk_faults;
	uint64_t flushes[4], flushed[4];
	uint64_t faults, faults_user, faults_kernel;
	uint64_t by_kind[TRACE_MAX_NAMES];
	uint64_t records[TRACE_K_NKINDS];
};

static void totals_add(struct trace_totals *t, const struct trace_header *h, const struct trace_rec *rec)
{
	t->records[rec->kind]++;
	switch (rec->kind) {
	case TRACE_K_LOOKUP: {
		unsigned l = rec->level, a = rec->acc;
		t->acc[l][a] += rec->count;
		if (rec->outcome == MMU_OUT_L1_HIT) {
			t->hits_by_size[l][rec->size] += rec->count;
			break;
		}
		t->miss[l][a]++;
		bool stlb = h->stlb && !(a == MMU_FETCH && h->stlb_data_only);
		if (rec->outcome != MMU_OUT_FAULT)
			t->misses_by_size[l][rec->size]++;
		if (!stlb)
			break;
		t->acc[MMU_STLB][a]++;
		if (rec->outcome == MMU_OUT_STLB_HIT) {
			t->hits_by_size[MMU_STLB][rec->size]++;
		} else {
			t->miss[MMU_STLB][a]++;
			if (rec->outcome == MMU_OUT_WALK)
				t->misses_by_size[MMU_STLB][rec->size]++;
		}
		break;
	}
	case TRACE_K_WALK:
		if (rec->walk_fault) {
			t->walk_faults++;
		} else {
			t->walks++;
			t->walk_cycles += rec->cycles;
			t->walk_refs += rec->timed_reads;
		}
		break;
	case TRACE_K_FAULT:
		t->faults++;
		if (rec->uaccess)
			t->faults_kernel++;
		else
			t->faults_user++;
		if (rec->fault_kind < TRACE_MAX_NAMES)
			t->by_kind[rec->fault_kind]++;
		break;
	case TRACE_K_FLUSH:
		if (rec->inv_kind < 4) {
			t->flushes[rec->inv_kind]++;
			t->flushed[rec->inv_kind] += rec->entries;
		}
		break;
	}
}

static void print_stats_json(FILE *o, const struct trace_header *h, const struct trace_totals *t, uint64_t nrec)
{
	fprintf(o, "{\n  \"records\": %" PRIu64 ",\n  \"filtered\": %s,\n  \"records_by_kind\": {", nrec,
		h->filtered ? "true" : "false");
	for (unsigned k = 0; k < TRACE_K_NKINDS; k++)
		fprintf(o, "%s\"%s\": %" PRIu64, k ? ", " : " ", trace_kind_name((enum trace_kind)k), t->records[k]);
	fprintf(o, " },\n  \"timing\": {\n    \"tlb\": {\n");
	for (unsigned l = 0; l < MMU_NLEVELS; l++) {
		uint64_t acc = t->acc[l][0] + t->acc[l][1] + t->acc[l][2];
		uint64_t miss = t->miss[l][0] + t->miss[l][1] + t->miss[l][2];
		fprintf(o, "      \"%s\": { \"accesses\": %" PRIu64 ", \"hits\": %" PRIu64 ", \"misses\": %" PRIu64 ",\n",
			level_names[l], acc, acc - miss, miss);
		fprintf(o, "        \"by_access\": {");
		for (unsigned a = 0; a < 3; a++)
			fprintf(o, "%s\"%s\": { \"accesses\": %" PRIu64 ", \"misses\": %" PRIu64 " }", a ? ", " : " ",
				acc_names[a], t->acc[l][a], t->miss[l][a]);
		fprintf(o, " },\n        \"by_page_size\": {");
		for (unsigned s = 0; s < 3; s++)
			fprintf(o, "%s\"%s\": { \"hits\": %" PRIu64 ", \"misses\": %" PRIu64 " }", s ? ", " : " ", size_names[s],
				t->hits_by_size[l][s], t->misses_by_size[l][s]);
		fprintf(o, " } }%s\n", l + 1 < MMU_NLEVELS ? "," : "");
	}
	fprintf(o, "    },\n    \"walks\": { \"count\": %" PRIu64 ", \"cycles\": %" PRIu64 ", \"memory_refs\": %" PRIu64
		", \"faulted\": %" PRIu64 " },\n", t->walks, t->walk_cycles, t->walk_refs, t->walk_faults);
	fprintf(o, "    \"flushes\": {");
	for (unsigned k = 0; k < 4; k++)
		fprintf(o, "%s\"%s\": { \"count\": %" PRIu64 ", \"entries\": %" PRIu64 " }", k ? ", " : " ",
			mmu_flush_kind_name((enum mmu_flush_kind)k), t->flushes[k], t->flushed[k]);
	fprintf(o, " }\n  },\n  \"page_faults\": { \"total\": %" PRIu64 ", \"user\": %" PRIu64 ", \"kernel\": %" PRIu64
		",\n    \"by_kind\": {", t->faults, t->faults_user, t->faults_kernel);
	for (unsigned k = 0; k < h->nfault_kinds; k++)
		fprintf(o, "%s\"%s\": %" PRIu64, k ? ", " : " ", h->fault_kinds[k], t->by_kind[k]);
	fprintf(o, " } }\n}\n");
}

static void print_stats_text(FILE *o, const struct trace_header *h, const struct trace_totals *t, uint64_t nrec)
{
	fprintf(o, "records        %" PRIu64 " (", nrec);
	for (unsigned k = 0; k < TRACE_K_NKINDS; k++)
		fprintf(o, "%s%s %" PRIu64, k ? ", " : "", trace_kind_name((enum trace_kind)k), t->records[k]);
	fprintf(o, ")%s\n", h->filtered ? "\nnote           the recording was filtered: totals cover what was recorded" : "");
	for (unsigned l = 0; l < MMU_NLEVELS; l++) {
		uint64_t acc = t->acc[l][0] + t->acc[l][1] + t->acc[l][2];
		uint64_t miss = t->miss[l][0] + t->miss[l][1] + t->miss[l][2];
		if (!acc)
			continue;
		fprintf(o, "%-5s          %" PRIu64 " accesses, %" PRIu64 " hits, %" PRIu64 " misses (%.3f%%)\n",
			level_names[l], acc, acc - miss, miss, 100.0 * (double)miss / (double)acc);
	}
	fprintf(o, "page walks     %" PRIu64 ", %" PRIu64 " cycles (mean %.1f), %" PRIu64 " memory references, %" PRIu64
		" faulted\n", t->walks, t->walk_cycles, t->walks ? (double)t->walk_cycles / (double)t->walks : 0.0,
		t->walk_refs, t->walk_faults);
	fprintf(o, "page faults    %" PRIu64 " (user %" PRIu64 ", kernel uaccess %" PRIu64 ")\n", t->faults, t->faults_user,
		t->faults_kernel);
	for (unsigned k = 0; k < h->nfault_kinds; k++)
		if (t->by_kind[k])
			fprintf(o, "  %-12s %12" PRIu64 "\n", h->fault_kinds[k], t->by_kind[k]);
	fprintf(o, "TLB flushes   ");
	for (unsigned k = 0; k < 4; k++)
		fprintf(o, " %s %" PRIu64 " (%" PRIu64 " entries)", mmu_flush_kind_name((enum mmu_flush_kind)k), t->flushes[k],
			t->flushed[k]);
	fprintf(o, "\n");
}

/* ---- top: open-addressing tables of PCs and pages ------------------------------------------- */

struct top_ent {
	uint64_t key;           /* PC or page number + 1; 0: empty */
	uint64_t misses, walks, walk_cycles;
};

struct top_tab {
	struct top_ent *e;
	size_t cap, used;
};

static struct top_ent *top_get(struct top_tab *t, uint64_t key)
{
	key++;
	if ((t->used + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 1024;
		struct top_ent *ne = calloc(ncap, sizeof(*ne));
		if (!ne)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->e[i].key)
				continue;
			size_t hh = (t->e[i].key * 0x9E3779B97F4A7C15ULL >> 20) & (ncap - 1);
			while (ne[hh].key)
				hh = (hh + 1) & (ncap - 1);
			ne[hh] = t->e[i];
		}
		free(t->e);
		t->e = ne;
		t->cap = ncap;
	}
	size_t hh = (key * 0x9E3779B97F4A7C15ULL >> 20) & (t->cap - 1);
	while (t->e[hh].key && t->e[hh].key != key)
		hh = (hh + 1) & (t->cap - 1);
	if (!t->e[hh].key) {
		t->e[hh].key = key;
		t->used++;
	}
	return &t->e[hh];
}

static int top_cmp(const void *a, const void *b)
{
	const struct top_ent *x = a, *y = b;
	if (x->walk_cycles != y->walk_cycles)
		return x->walk_cycles < y->walk_cycles ? 1 : -1;
	if (x->misses != y->misses)
		return x->misses < y->misses ? 1 : -1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static void top_print(FILE *o, struct top_tab *t, const char *what, unsigned n, bool page)
{
	size_t m = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].key)
			t->e[m++] = t->e[i];
	qsort(t->e, m, sizeof(*t->e), top_cmp);
	fprintf(o, "%-20s %12s %12s %14s\n", what, "l1_misses", "walks", "walk_cycles");
	for (size_t i = 0; i < m && i < n; i++)
		fprintf(o, "0x%-18" PRIx64 " %12" PRIu64 " %12" PRIu64 " %14" PRIu64 "\n",
			page ? (t->e[i].key - 1) << 12 : t->e[i].key - 1, t->e[i].misses, t->e[i].walks, t->e[i].walk_cycles);
	t->cap = t->used = 0;
	free(t->e);
	t->e = NULL;
}

static void trace_usage(FILE *o)
{
	fprintf(o,
"Usage: mmuemu trace dump  [--format csv|jsonl] [FILTERS] [-o OUT] FILE\n"
"       mmuemu trace stats [--format text|json] FILE\n"
"       mmuemu trace top   [-n N] [FILTERS] FILE\n"
"\n"
"dump   writes the records as CSV (columns kind,insn,cycle,pc,pcid,va,pa,page_size,detail; detail\n"
"       holds the kind's own fields as key=value pairs) or as JSON Lines.\n"
"stats  recomputes the run's TLB, page-walk, flush and page-fault totals from the records, under\n"
"       the JSON paths of 'mmuemu run --report-format json' (timing.tlb..., page_faults...).\n"
"top    lists the guest PCs and the 4 KiB virtual pages with the most walk cycles and L1 TLB\n"
"       misses (-n rows each, default 10).\n"
"\n"
"FILTERS (as when recording): --trace-events LIST, --trace-range LO-HI, --trace-from N,\n"
"--trace-to N (also spelled --events, --range, --from, --to).\n"
"Exit status: 0; 1 when the trace cannot be read or is truncated or corrupt (the message gives the\n"
"byte offset; dump has written the records before it); 2 for a usage error.\n");
}

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "mmuemu trace: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'mmuemu trace --help'.\n");
	return 2;
}

int trace_command(int argc, char **argv)
{
	if (argc < 2) {
		trace_usage(stderr);
		return 2;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		trace_usage(stdout);
		return 0;
	}
	enum { DUMP, STATS, TOP } cmd;
	if (!strcmp(sub, "dump"))
		cmd = DUMP;
	else if (!strcmp(sub, "stats"))
		cmd = STATS;
	else if (!strcmp(sub, "top"))
		cmd = TOP;
	else
		return usage_err("unknown subcommand '%s' (use dump, stats or top)", sub);
	enum { O_FORMAT = 300, O_EVENTS, O_RANGE, O_FROM, O_TO };
	static const struct option opts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "trace-events", required_argument, NULL, O_EVENTS },
		{ "events", required_argument, NULL, O_EVENTS },
		{ "trace-range", required_argument, NULL, O_RANGE },
		{ "range", required_argument, NULL, O_RANGE },
		{ "trace-from", required_argument, NULL, O_FROM },
		{ "from", required_argument, NULL, O_FROM },
		{ "trace-to", required_argument, NULL, O_TO },
		{ "to", required_argument, NULL, O_TO },
		{ "output", required_argument, NULL, 'o' },
		{ "top", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct read_filter f = { TRACE_SEL_ALL, 0, 0, 0, 0 };
	bool json = false, filters = false;
	const char *outpath = NULL;
	uint64_t topn = 10;
	char err[512];
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case O_FORMAT:
			if (cmd == DUMP && (!strcmp(optarg, "csv") || !strcmp(optarg, "jsonl")))
				json = !strcmp(optarg, "jsonl");
			else if (cmd == STATS && (!strcmp(optarg, "text") || !strcmp(optarg, "json")))
				json = !strcmp(optarg, "json");
			else
				return usage_err(cmd == DUMP ? "--format: unknown format '%s' (use csv or jsonl)"
					       : cmd == STATS ? "--format: unknown format '%s' (use text or json)"
					       : "--format '%s': top has only one format", optarg);
			break;
		case O_EVENTS:
			filters = true;
			if (!trace_parse_events(optarg, &f.events, err, sizeof(err)))
				return usage_err("--trace-events: %s", err);
			break;
		case O_RANGE:
			filters = true;
			if (!trace_parse_range(optarg, &f.lo, &f.hi, err, sizeof(err)))
				return usage_err("--trace-range: %s", err);
			break;
		case O_FROM:
		case O_TO: {
			uint64_t v;
			filters = true;
			if (!trace_parse_count(optarg, &v) || (c == O_TO && !v))
				return usage_err(c == O_FROM ? "--trace-from: invalid count '%s'" : "--trace-to: invalid count '%s'",
						 optarg);
			if (c == O_FROM)
				f.from = v;
			else
				f.to = v;
			break;
		}
		case 'o':
			if (cmd != DUMP)
				return usage_err("%s", "-o/--output is for dump");
			outpath = optarg;
			break;
		case 'n':
			if (cmd != TOP || !trace_parse_count(optarg, &topn) || !topn)
				return usage_err("-n '%s': a positive count, for top", optarg);
			break;
		case 'h':
			trace_usage(stdout);
			return 0;
		case ':':
			return usage_err("option '%s' needs a value", argv[optind]);
		default:
			return usage_err("unknown option '%s'", argv[optind]);
		}
	}
	if (cmd == STATS && filters)
		return usage_err("%s", "stats takes no filters: it totals the whole trace");
	if (f.to && f.to <= f.from)
		return usage_err("%s", "--trace-to must be above --trace-from");
	if (optind + 1 != argc - 1)
		return usage_err("%s", optind + 1 > argc - 1 ? "no trace file given" : "more than one trace file given");
	const char *path = argv[optind + 1];
	struct trace_reader *r = trace_reader_open(path, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "mmuemu trace: %s\n", err);
		return 1;
	}
	const struct trace_header *h = trace_reader_header(r);
	FILE *o = stdout;
	if (outpath && strcmp(outpath, "-")) {
		o = fopen(outpath, "w");
		if (!o) {
			fprintf(stderr, "mmuemu trace: -o %s: %s\n", outpath, strerror(errno));
			trace_reader_close(r);
			return 1;
		}
	}
	struct trace_rec rec;
	struct trace_totals *tot = cmd == STATS ? calloc(1, sizeof(*tot)) : NULL;
	struct top_tab pcs = { 0 }, pages = { 0 };
	uint64_t nrec = 0;
	int rc;
	if (cmd == DUMP && !json)
		fprintf(o, "kind,insn,cycle,pc,pcid,va,pa,page_size,detail\n");
	while ((rc = trace_reader_next(r, &rec)) == 1) {
		nrec++;
		if (cmd == STATS) {
			if (tot)
				totals_add(tot, h, &rec);
			continue;
		}
		if (!rec_selected(&f, &rec))
			continue;
		if (cmd == DUMP) {
			dump_record(o, h, &rec, json);
			continue;
		}
		/* top */
		bool miss = rec.kind == TRACE_K_LOOKUP && rec.outcome != MMU_OUT_L1_HIT;
		bool walk = rec.kind == TRACE_K_WALK && !rec.walk_fault;
		if (!miss && !walk)
			continue;
		struct top_ent *pe = top_get(&pcs, rec.pc), *ge = top_get(&pages, rec.va >> 12);
		if (!pe || !ge)
			continue;
		pe->misses += miss;
		ge->misses += miss;
		if (walk) {
			pe->walks++;
			ge->walks++;
			pe->walk_cycles += rec.cycles;
			ge->walk_cycles += rec.cycles;
		}
	}
	if (rc == 0 || cmd == DUMP) {
		if (cmd == STATS && tot) {
			if (json)
				print_stats_json(o, h, tot, nrec);
			else
				print_stats_text(o, h, tot, nrec);
		} else if (cmd == TOP) {
			top_print(o, &pcs, "guest pc", (unsigned)topn, false);
			fprintf(o, "\n");
			top_print(o, &pages, "virtual page", (unsigned)topn, true);
		}
	}
	free(pcs.e);
	free(pages.e);
	free(tot);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "mmuemu trace: %s\n", trace_reader_error(r));
		status = 1;
	}
	if (o != stdout) {
		if (fclose(o) != 0)
			status = 1;
	} else if (fflush(o) != 0 || ferror(o)) {
		status = 1;
	}
	trace_reader_close(r);
	return status;
}
