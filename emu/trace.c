/* trace.c — the trace writer (`mmuemu run --trace FILE`); the format is docs/trace-format.md.
 *
 * The guest thread does as little as it can. An event that passes the filters is copied,
 * unencoded, into a staging buffer (STAGE_BYTES) together with the instruction count, the
 * translation and kernel cycles so far, and the PC of the moment. A full staging buffer is
 * handed to the compressor thread, which encodes the staged events into the file's records and
 * blocks, compresses each block (zstd, with the frame checksum) and writes it behind a 20-byte
 * header, while the guest runs on into the other staging buffer (it waits only when both are
 * full). With lookups selected the copy would cost
 * more than the encoding (72 bytes against about 3 per lookup), so each staged event is encoded
 * on the guest thread as the next one comes, and only full blocks go to the compressor thread.
 * The writer holds three STAGE_BYTES buffers and one compressed block, whatever the length of
 * the run.
 *
 * Encoding: every numeric field is a LEB128 varint, most of them deltas against the previous
 * record of the block (instruction count, cycle, PC) or of the same kind (addresses), so that a
 * loop's records repeat byte for byte and zstd folds them. The delta state restarts at each
 * block, so each block decodes on its own. The encoder state belongs to one thread at a time
 * (the compressor thread when events are staged; the guest thread when lookups are selected, once
 * the compressor has stopped, or when it could not be started), and the output does not depend on
 * when buffers were handed over.
 *
 * Cost on the guest thread: with only walks and faults selected, the timing model's hot path
 * calls no lookup callback (the observer has none), and a walk costs one register read for the
 * PC and a copy of the walk event; with lookups selected, every modelled access costs one
 * callback, the register read and a few bytes encoded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "engine.h"
#include "trace.h"

#define TRACE_ZSTD_LEVEL 1

static const char *const kind_names[TRACE_K_NKINDS] = {
#define TRACE_KIND_NAME(id, name, desc) name,
	TRACE_KINDS(TRACE_KIND_NAME)
#undef TRACE_KIND_NAME
};

const char *trace_kind_name(enum trace_kind k)
{
	return k < TRACE_K_NKINDS ? kind_names[k] : "?";
}

uint32_t trace_crc32(const void *p, size_t n)
{
	static uint32_t table[256];
	static int init;
	if (!init) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		init = 1;
	}
	const uint8_t *b = p;
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = table[(c ^ b[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

bool trace_parse_count(const char *s, uint64_t *v)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1000, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1000000, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1000000000, end++;
	if (*end || (mul > 1 && x > UINT64_MAX / mul))
		return false;
	*v = (uint64_t)x * mul;
	return true;
}

bool trace_parse_events(const char *s, unsigned *mask, char *err, size_t errlen)
{
	unsigned m = 0;
	const char *p = s;
	if (!s || !*s) {
		snprintf(err, errlen, "empty event list");
		return false;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		unsigned bit = 0;
		if (n == 3 && !strncmp(p, "all", 3))
			bit = TRACE_SEL_ALL;
		else if (n == 4 && !strncmp(p, "miss", 4))
			bit = TRACE_SEL_MISS;
		else if (n == 6 && !strncmp(p, "misses", 6))
			bit = TRACE_SEL_MISS;
		for (unsigned k = 0; !bit && k < TRACE_K_NKINDS; k++) {
			size_t kn = strlen(kind_names[k]);
			if ((n == kn && !strncmp(p, kind_names[k], n)) ||
			    (n == kn + 1 && !strncmp(p, kind_names[k], kn) && p[kn] == 's'))
				bit = TRACE_SEL(k);
		}
		if (!bit) {
			snprintf(err, errlen, "unknown event kind '%.*s' (use lookup, miss, walk, fault, flush, kernel, syscall or all)",
				 (int)n, p);
			return false;
		}
		m |= bit;
		p += n;
		if (*p == ',') {
			p++;
			if (!*p) {
				snprintf(err, errlen, "empty event kind after ','");
				return false;
			}
		}
	}
	*mask = m;
	return true;
}

static bool parse_addr(const char *s, size_t n, uint64_t *v)
{
	char buf[40];
	if (n == 0 || n >= sizeof(buf) || *s == '-' || *s == '+')
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 0);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

bool trace_parse_range(const char *s, uint64_t *lo, uint64_t *hi, char *err, size_t errlen)
{
	const char *sep = s ? strpbrk(s, "-:+") : NULL;
	uint64_t a, b;
	if (!sep || !parse_addr(s, (size_t)(sep - s), &a) || !parse_addr(sep + 1, strlen(sep + 1), &b)) {
		snprintf(err, errlen, "invalid range '%s' (use LO-HI, LO:HI or LO+LEN, e.g. 0x400000-0x500000)",
			 s ? s : "");
		return false;
	}
	if (*sep == '+') {
		if (b == 0 || a + b < a) {
			snprintf(err, errlen, "invalid range '%s': empty or beyond 2^64", s);
			return false;
		}
		b = a + b;
	}
	if (b <= a) {
		snprintf(err, errlen, "invalid range '%s': the end must be above the start", s);
		return false;
	}
	*lo = a;
	*hi = b;
	return true;
}

bool trace_cli_option(struct trace_cli *c, int code, const char *arg, char *err, size_t errlen)
{
	switch (code - TRACE_OPT_BASE) {
	case TRACE_OPT_FILE:
		if (!*arg) {
			snprintf(err, errlen, "--trace: empty file name");
			return false;
		}
		c->path = arg;
		return true;
	case TRACE_OPT_EVENTS:
		c->limits = true;
		if (!trace_parse_events(arg, &c->flt.events, err, errlen)) {
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "--trace-events: %s", err);
			snprintf(err, errlen, "%s", tmp);
			return false;
		}
		return true;
	case TRACE_OPT_RANGE:
		c->limits = true;
		if (!trace_parse_range(arg, &c->flt.range_lo, &c->flt.range_hi, err, errlen)) {
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "--trace-range: %s", err);
			snprintf(err, errlen, "%s", tmp);
			return false;
		}
		return true;
	case TRACE_OPT_FROM:
	case TRACE_OPT_TO:
	case TRACE_OPT_SAMPLE: {
		static const char *const names[] = { "--trace-from", "--trace-to", "--trace-sample" };
		unsigned i = (unsigned)(code - TRACE_OPT_BASE - TRACE_OPT_FROM);
		uint64_t v;
		c->limits = true;
		if (!trace_parse_count(arg, &v) || (code - TRACE_OPT_BASE != TRACE_OPT_FROM && v == 0)) {
			snprintf(err, errlen, "%s: invalid count '%s'%s", names[i], arg,
				 code - TRACE_OPT_BASE == TRACE_OPT_FROM ? "" : " (at least 1)");
			return false;
		}
		if (code - TRACE_OPT_BASE == TRACE_OPT_FROM)
			c->flt.from_insn = v;
		else if (code - TRACE_OPT_BASE == TRACE_OPT_TO)
			c->flt.to_insn = v;
		else
			c->flt.sample = v;
		return true;
	}
	}
	snprintf(err, errlen, "unknown trace option");
	return false;
}

bool trace_cli_check(const struct trace_cli *c, char *err, size_t errlen)
{
	if (c->limits && !c->path) {
		snprintf(err, errlen, "--trace-events, --trace-range, --trace-from, --trace-to and --trace-sample need --trace FILE");
		return false;
	}
	if (c->flt.to_insn && c->flt.to_insn <= c->flt.from_insn) {
		snprintf(err, errlen, "--trace-to must be above --trace-from");
		return false;
	}
	return true;
}

/* ---- the writer ---------------------------------------------------------------------------- */

/* A staged record: what the guest thread appends, fixed-size and unencoded. The compressor
 * thread turns it into the file's varint record (encode_*). */
#define PCID_SAME 0xffffu          /* the record has the previous record's PCID */
#define STAGE_BYTES (1u << 20)     /* one staging buffer */

struct stage_hdr {
	uint64_t insn;
	uint64_t tk_cycles;            /* translation + kernel cycles; the encoder adds insn × CPI */
	uint64_t pc;
	uint16_t pcid;
	uint8_t kind, bits;
	uint32_t size;                 /* header + body, a multiple of 8 */
};

struct stage_km {                  /* the event kind is the header's bits */
	uint64_t pfn, addr;
	uint8_t order, slowpath, cache_len;
	int8_t zone, migratetype;
	char cache[64];
};

struct stage_fault {
	uint64_t cr2, cycles, frames;
	uint32_t ec, kind;
};

struct stage_syscall {
	uint64_t nr;
	int64_t ret;
	uint64_t args[6];
	const char *name;              /* a static string (guest_syscall_name) */
};

struct trace_writer {
	struct engine *e;
	FILE *f;
	struct trace_filter flt;
	bool want_lookup;              /* all lookups or misses selected */
	/* Guest thread: the staging buffer being filled. */
	uint8_t *stage;
	size_t slen;
	/* The compressor thread owns `spare` while job_ready is set. The encoder fields below
	 * belong to whichever thread encodes (see the top of the file). */
	pthread_t thr;
	bool thr_on, job_ready, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *spare;
	size_t job_len;
	uint32_t job_records;
	bool job_encoded;              /* the job is an encoded block to compress, not staged events */
	/* Lookups selected: records are encoded on the guest thread as they come (a staged lookup
	 * is 72 bytes, an encoded one about 3) and the compressor thread only compresses. */
	bool inline_enc;
	uint64_t records, bytes;
	uint64_t sample_ctr;
	bool failed, closed;
	bool running;                  /* between trace_open's success and trace_close */
	char errmsg[256];
	/* Cycle of a record: instructions × base CPI + translation cycles + kernel cycles. */
	double cpi;
	const struct mmu_timing_stats *st;
	int pc_reg;
	bool is64;
	/* Faults already recorded per kind (user faults through the fill hook, and uaccess faults
	 * found by comparing with the kernel model's counters). */
	uint64_t fk_seen[KM_FK_COUNT];
	/* ---- encoder: the block being encoded, its compression, and its delta state ---- */
	ZSTD_CCtx *cctx;
	uint8_t *raw;                  /* the block being encoded (at most TRACE_BLOCK_RAW bytes) */
	size_t len;
	uint8_t *comp;
	size_t comp_cap;
	uint32_t block_records;
	uint64_t blocks;
	uint64_t p_insn, p_cycle, p_pc;
	uint16_t p_pcid;
	uint32_t p_lflags;             /* flags of the previous lookup; UINT32_MAX: none */
	uint64_t p_va[3], p_pdelta[3];
	uint64_t p_walk_va, p_walk_pa[MMU_EVENT_MAX_READS], p_walk_ent[MMU_EVENT_MAX_READS];
	uint64_t p_fault_va, p_flush_va, p_pfn, p_kaddr;
};

static void reset_deltas(struct trace_writer *tw)
{
	tw->p_insn = tw->p_cycle = tw->p_pc = 0;
	tw->p_pcid = 0;
	tw->p_lflags = UINT32_MAX;
	memset(tw->p_va, 0, sizeof(tw->p_va));
	memset(tw->p_pdelta, 0, sizeof(tw->p_pdelta));
	tw->p_walk_va = 0;
	memset(tw->p_walk_pa, 0, sizeof(tw->p_walk_pa));
	memset(tw->p_walk_ent, 0, sizeof(tw->p_walk_ent));
	tw->p_fault_va = tw->p_flush_va = tw->p_pfn = tw->p_kaddr = 0;
}

static inline uint8_t *put_uv(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_sv(uint8_t *p, int64_t v)
{
	return put_uv(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline uint8_t *put_dv(uint8_t *p, uint64_t v, uint64_t *prev)
{
	p = put_sv(p, (int64_t)(v - *prev));
	*prev = v;
	return p;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Records the first failure. During the run it is also said at once on stderr (a long run
 * should not learn at its end that its trace was lost); the run goes on. */
static void fail_msg(struct trace_writer *tw, const char *what, const char *why)
{
	if (tw->failed)
		return;
	snprintf(tw->errmsg, sizeof(tw->errmsg), "%s: %s", what, why);
	tw->failed = true;
	if (tw->running)
		fprintf(stderr, "mmuemu: warning: --trace: %s; the run goes on without its trace\n", tw->errmsg);
}

static void fail(struct trace_writer *tw, const char *what)
{
	fail_msg(tw, what, errno ? strerror(errno) : "failed");
}

static void write_bytes(struct trace_writer *tw, const void *p, size_t n)
{
	if (tw->failed)
		return;
	if (fwrite(p, 1, n, tw->f) != n)
		fail(tw, "writing the trace");
	tw->bytes += n;
}

/* ---- encoder (the compressor thread; the guest thread with lookups selected or no thread) ---- */

static void submit(struct trace_writer *tw, uint8_t **buf, size_t len, uint32_t nrec, bool encoded);

/* Compresses and writes one encoded block. */
static void compress_block(struct trace_writer *tw, const uint8_t *raw, size_t len, uint32_t nrec)
{
	if (tw->failed)
		return;
	size_t n = ZSTD_compress2(tw->cctx, tw->comp, tw->comp_cap, raw, len);
	if (ZSTD_isError(n)) {
		fail_msg(tw, "zstd", ZSTD_getErrorName(n));
		return;
	}
	uint8_t h[20];
	put_le32(h, TRACE_BLOCK_MAGIC);
	put_le32(h + 4, (uint32_t)len);
	put_le32(h + 8, (uint32_t)n);
	put_le32(h + 12, nrec);
	put_le32(h + 16, trace_crc32(h, 16));
	write_bytes(tw, h, sizeof(h));
	write_bytes(tw, tw->comp, n);
	tw->blocks++;
}

/* Ends the block being encoded and starts a new one (the delta state restarts): compresses it
 * here, or, when encoding runs on the guest thread, hands it to the compressor thread. */
static void write_block(struct trace_writer *tw)
{
	if (!tw->len)
		return;
	size_t len = tw->len;
	uint32_t nrec = tw->block_records;
	tw->len = 0;
	tw->block_records = 0;
	reset_deltas(tw);
	if (tw->inline_enc && tw->thr_on)
		submit(tw, &tw->raw, len, nrec, true);
	else
		compress_block(tw, tw->raw, len, nrec);
}

/* The tag and the common fields (instruction count, cycle, PC as deltas; the PCID when it
 * changed). Returns where the kind's own fields go. */
static uint8_t *enc_common(struct trace_writer *tw, const struct stage_hdr *h)
{
	unsigned pcid = h->pcid == PCID_SAME ? tw->p_pcid : h->pcid;
	bool newpcid = (uint16_t)pcid != tw->p_pcid;
	uint8_t *p = tw->raw + tw->len;
	*p++ = (uint8_t)(h->kind | (h->bits & 7u) << 4 | (newpcid ? 0x80 : 0));
	p = put_uv(p, h->insn - tw->p_insn);
	tw->p_insn = h->insn;
	p = put_dv(p, (uint64_t)((double)h->insn * tw->cpi) + h->tk_cycles, &tw->p_cycle);
	p = put_dv(p, h->pc, &tw->p_pc);
	if (newpcid) {
		p = put_uv(p, pcid);
		tw->p_pcid = (uint16_t)pcid;
	}
	return p;
}

static uint8_t *enc_lookup(struct trace_writer *tw, uint8_t *p, const struct mmu_lookup_event *ev)
{
	/* flags: acc 0-1, size 2-3, array 4-5, supervisor 6, global 7, dirty assist 8. Omitted
	 * (tag bit 6) when equal to the previous lookup's. */
	uint32_t fl = (ev->acc & 3u) | (ev->size & 3u) << 2 | (ev->array & 3u) << 4 | (ev->user ? 0 : 1u << 6) |
		      (ev->global ? 1u << 7 : 0) | (ev->dirty_assist ? 1u << 8 : 0);
	if (fl == tw->p_lflags)
		tw->raw[tw->len] |= 0x40;
	else
		p = put_uv(p, fl);
	tw->p_lflags = fl;
	unsigned a = ev->acc < 3 ? ev->acc : 0;
	p = put_dv(p, ev->va, &tw->p_va[a]);
	if (ev->outcome != MMU_OUT_FAULT)
		p = put_dv(p, ev->pa - ev->va, &tw->p_pdelta[a]);
	p = put_uv(p, ev->cycles);
	return put_uv(p, ev->count);
}

static uint8_t *enc_walk(struct trace_writer *tw, uint8_t *p, const struct mmu_walk_event *w)
{
	*p++ = (uint8_t)((w->acc & 3u) | (w->size & 3u) << 2);
	*p++ = w->nreads;
	*p++ = w->first_level;
	*p++ = w->timed_reads;
	*p++ = (uint8_t)(w->pwc_hit_level + 1);
	*p++ = w->ad_writes;
	p = put_uv(p, w->cycles);
	p = put_dv(p, w->va, &tw->p_walk_va);
	/* Each entry after the first lies in the table the previous entry points to: only its
	 * offset from that frame is stored; the page base likewise relative to the leaf's frame. */
	for (unsigned i = 0; i < w->nreads && i < MMU_EVENT_MAX_READS; i++) {
		if (i == 0)
			p = put_dv(p, w->entry_pa[0], &tw->p_walk_pa[0]);
		else
			p = put_sv(p, (int64_t)(w->entry_pa[i] - (w->entry[i - 1] & TRACE_FRAME_MASK)));
		p = put_dv(p, w->entry[i], &tw->p_walk_ent[i]);
	}
	if (!w->fault)
		p = put_sv(p, (int64_t)(w->page_base - (w->nreads ? w->entry[w->nreads - 1] & TRACE_FRAME_MASK : 0)));
	return p;
}

static uint8_t *enc_inv(struct trace_writer *tw, uint8_t *p, const struct mmu_inv_event *ev)
{
	p = put_dv(p, ev->va, &tw->p_flush_va);
	return put_uv(p, ev->entries);
}

static uint8_t *enc_km(struct trace_writer *tw, uint8_t *p, const struct stage_km *k)
{
	*p++ = k->order;
	*p++ = (uint8_t)k->zone;
	*p++ = (uint8_t)k->migratetype;
	*p++ = k->slowpath;
	p = put_dv(p, k->pfn, &tw->p_pfn);
	p = put_dv(p, k->addr, &tw->p_kaddr);
	p = put_uv(p, k->cache_len);
	memcpy(p, k->cache, k->cache_len);
	return p + k->cache_len;
}

static uint8_t *enc_fault(struct trace_writer *tw, uint8_t *p, const struct stage_fault *f)
{
	p = put_dv(p, f->cr2, &tw->p_fault_va);
	p = put_uv(p, f->ec);
	p = put_uv(p, f->kind);
	p = put_uv(p, f->cycles);
	return put_uv(p, f->frames);
}

static uint8_t *enc_syscall(uint8_t *p, const struct stage_syscall *s)
{
	p = put_uv(p, s->nr);
	p = put_sv(p, s->ret);
	for (int i = 0; i < 6; i++)
		p = put_uv(p, s->args[i]);
	size_t n = strlen(s->name);
	p = put_uv(p, n);
	memcpy(p, s->name, n);
	return p + n;
}

/* Encodes a staging buffer's records into blocks, writing each block as it fills. */
static void encode_stage(struct trace_writer *tw, const uint8_t *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		const struct stage_hdr *h = (const struct stage_hdr *)(const void *)(buf + off);
		const void *body = h + 1;
		off += h->size;
		if (tw->len + TRACE_RECORD_MAX > TRACE_BLOCK_RAW)
			write_block(tw);
		uint8_t *p = enc_common(tw, h);
		switch (h->kind) {
		case TRACE_K_LOOKUP: p = enc_lookup(tw, p, body); break;
		case TRACE_K_WALK: p = enc_walk(tw, p, body); break;
		case TRACE_K_FLUSH: p = enc_inv(tw, p, body); break;
		case TRACE_K_KERNEL: p = enc_km(tw, p, body); break;
		case TRACE_K_FAULT: p = enc_fault(tw, p, body); break;
		case TRACE_K_SYSCALL: p = enc_syscall(p, body); break;
		default: break;
		}
		tw->len = (size_t)(p - tw->raw);
		tw->block_records++;
	}
}

static void *compressor(void *arg)
{
	struct trace_writer *tw = arg;
	pthread_mutex_lock(&tw->mu);
	for (;;) {
		while (!tw->job_ready && !tw->stop)
			pthread_cond_wait(&tw->cv, &tw->mu);
		if (!tw->job_ready)
			break;
		pthread_mutex_unlock(&tw->mu);
		if (tw->job_encoded)
			compress_block(tw, tw->spare, tw->job_len, tw->job_records);
		else
			encode_stage(tw, tw->spare, tw->job_len);
		pthread_mutex_lock(&tw->mu);
		tw->job_ready = false;
		pthread_cond_broadcast(&tw->cv);
	}
	pthread_mutex_unlock(&tw->mu);
	return NULL;
}

/* ---- staging (the guest thread) ---- */

/* Gives *buf (len bytes: staged events, or an encoded block of nrec records) to the compressor
 * thread, waiting for it to finish the previous job; *buf becomes the buffer it gave back. */
static void submit(struct trace_writer *tw, uint8_t **buf, size_t len, uint32_t nrec, bool encoded)
{
	pthread_mutex_lock(&tw->mu);
	while (tw->job_ready)
		pthread_cond_wait(&tw->cv, &tw->mu);
	uint8_t *t = tw->spare;
	tw->spare = *buf;
	*buf = t;
	tw->job_len = len;
	tw->job_records = nrec;
	tw->job_encoded = encoded;
	tw->job_ready = true;
	pthread_cond_broadcast(&tw->cv);
	pthread_mutex_unlock(&tw->mu);
}

/* Passes the staged events on: to the compressor thread, or encoded here when encoding runs on
 * the guest thread (or there is no thread). */
static void hand_off(struct trace_writer *tw)
{
	if (!tw->slen)
		return;
	if (tw->thr_on && !tw->inline_enc)
		submit(tw, &tw->stage, tw->slen, 0, false);
	else
		encode_stage(tw, tw->stage, tw->slen);
	tw->slen = 0;
}

/* Lets the compressor finish its buffer and stop. */
static void stop_compressor(struct trace_writer *tw)
{
	if (!tw->thr_on)
		return;
	pthread_mutex_lock(&tw->mu);
	tw->stop = true;
	pthread_cond_broadcast(&tw->cv);
	pthread_mutex_unlock(&tw->mu);
	pthread_join(tw->thr, NULL);
	tw->thr_on = false;
}

/* Starts a staged record of kind with the tag's kind-specific bits (0..7) and a body of `body`
 * bytes: stamps the instruction count, cycle and PC. Returns where the body goes. */
static void *stage(struct trace_writer *tw, enum trace_kind kind, unsigned bits, unsigned pcid, size_t body)
{
	uint32_t size = (uint32_t)((sizeof(struct stage_hdr) + body + 7) & ~(size_t)7);
	if (tw->slen + size > STAGE_BYTES || tw->inline_enc)
		hand_off(tw);   /* inline: the previous record is encoded now, while cache-hot */
	struct engine *e = tw->e;
	struct stage_hdr *h = (struct stage_hdr *)(void *)(tw->stage + tw->slen);
	tw->slen += size;
	tw->records++;
	uint64_t pc = 0;
	uc_reg_read(e->g.uc, tw->pc_reg, &pc);
	h->pc = tw->is64 ? pc : pc & 0xffffffffULL;
	h->insn = e->insns;
	h->tk_cycles = tw->st->translation_cycles + km_cycles(e->g.km);
	h->pcid = (uint16_t)pcid;
	h->kind = (uint8_t)kind;
	h->bits = (uint8_t)bits;
	h->size = size;
	return h + 1;
}

static inline bool in_window(const struct trace_writer *tw)
{
	uint64_t n = tw->e->insns;
	return n >= tw->flt.from_insn && (!tw->flt.to_insn || n < tw->flt.to_insn);
}

static inline bool in_range(const struct trace_writer *tw, uint64_t va)
{
	return !tw->flt.range_hi || (va >= tw->flt.range_lo && va < tw->flt.range_hi);
}

static void on_lookup(void *ctx, const struct mmu_lookup_event *ev)
{
	struct trace_writer *tw = ctx;
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_LOOKUP)) &&
	    (ev->outcome == MMU_OUT_L1_HIT || !(tw->flt.events & TRACE_SEL_MISS)))
		return;   /* misses only, or closed */
	if (!in_window(tw) || !in_range(tw, ev->va))
		return;
	if (tw->flt.sample > 1 && tw->sample_ctr++ % tw->flt.sample)
		return;
	memcpy(stage(tw, TRACE_K_LOOKUP, ev->outcome, ev->pcid, sizeof(*ev)), ev, sizeof(*ev));
}

static void on_walk(void *ctx, const struct mmu_walk_event *w)
{
	struct trace_writer *tw = ctx;
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_WALK)) || !in_window(tw) || !in_range(tw, w->va))
		return;
	memcpy(stage(tw, TRACE_K_WALK, w->fault ? 1 : 0, w->pcid, sizeof(*w)), w, sizeof(*w));
}

static void on_inv(void *ctx, const struct mmu_inv_event *ev)
{
	struct trace_writer *tw = ctx;
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_FLUSH)) || !in_window(tw))
		return;
	bool has_va = ev->kind == MMU_INV_INVLPG || ev->kind == MMU_INV_FAULT || ev->kind == MMU_INV_DROP;
	if (has_va && !in_range(tw, ev->va))
		return;
	memcpy(stage(tw, TRACE_K_FLUSH, ev->kind, ev->pcid, sizeof(*ev)), ev, sizeof(*ev));
}

static void on_km(void *ctx, const struct km_event *ev)
{
	struct trace_writer *tw = ctx;
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_KERNEL)) || !in_window(tw))
		return;
	struct stage_km *k = stage(tw, TRACE_K_KERNEL, ev->kind, PCID_SAME, sizeof(*k));
	k->pfn = ev->pfn;
	k->addr = ev->addr;
	k->order = ev->order;
	k->slowpath = ev->slowpath ? 1 : 0;
	k->zone = ev->zone;
	k->migratetype = ev->migratetype;
	size_t n = ev->cache ? strlen(ev->cache) : 0;
	if (n > sizeof(k->cache))
		n = sizeof(k->cache);
	k->cache_len = (uint8_t)n;
	memcpy(k->cache, ev->cache ? ev->cache : "", n);
}

/* One fault record. uaccess: a fault the kernel took touching user memory (no CR2 known: the
 * kernel model handles it inside the copy routine), found through the per-kind counters. */
static void put_fault(struct trace_writer *tw, bool uaccess, int result, uint64_t cr2, uint32_t ec, unsigned kind,
		      uint64_t cycles, uint64_t frames)
{
	/* Under a range limit, a uaccess fault (no address) is left out. */
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_FAULT)) || !in_window(tw) ||
	    (uaccess ? tw->flt.range_hi != 0 : !in_range(tw, cr2)))
		return;
	struct stage_fault *f = stage(tw, TRACE_K_FAULT, (uaccess ? 1u : 0u) | (unsigned)(result & 3) << 1, PCID_SAME,
				      sizeof(*f));
	f->cr2 = cr2;
	f->ec = ec;
	f->kind = kind;
	f->cycles = cycles;
	f->frames = frames;
}

/* Records the faults the kernel model counted that no fill-hook fault accounts for. */
static void sync_faults(struct trace_writer *tw)
{
	struct km *km = tw->e->g.km;
	for (unsigned k = 0; k < KM_FK_COUNT; k++) {
		uint64_t n = km_fault_kind_count(km, (enum km_fault_kind)k);
		while (tw->fk_seen[k] < n) {
			tw->fk_seen[k]++;
			put_fault(tw, true, 0, 0, 0, k, 0, 0);
		}
	}
}

static void on_fault(void *ctx, uint64_t cr2, uint32_t ec, int result, const struct km_fault_info *info,
		     uint64_t frames)
{
	struct trace_writer *tw = ctx;
	if ((unsigned)info->kind < KM_FK_COUNT)
		tw->fk_seen[info->kind]++;
	sync_faults(tw);
	put_fault(tw, false, result, cr2, ec, info->kind, info->cycles, frames);
}

static bool memory_syscall(const char *name)
{
	static const char *const names[] = { "mmap", "mmap2", "munmap", "mprotect", "mremap", "brk", "madvise" };
	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static void on_syscall(void *ctx, uint64_t nr, const uint64_t *args, int64_t ret)
{
	struct trace_writer *tw = ctx;
	sync_faults(tw);
	if (!(tw->flt.events & TRACE_SEL(TRACE_K_SYSCALL)) || !in_window(tw))
		return;
	const char *name = guest_syscall_name(tw->is64, nr);
	if (!memory_syscall(name))
		return;
	struct stage_syscall *s = stage(tw, TRACE_K_SYSCALL, 0, PCID_SAME, sizeof(*s));
	s->nr = nr;
	s->ret = ret;
	memcpy(s->args, args, sizeof(s->args));
	s->name = name;
}

/* ---- header --------------------------------------------------------------------------------- */

/* Record layouts, written into the header and checked by the reader (docs/trace-format.md). */
const char *const trace_layouts[TRACE_K_NKINDS + 1] = {
	"tag:u8(kind:0-3,bits:4-6,pcid_follows:7) insn:uv(delta) cycle:sv(delta) pc:sv(delta) [pcid:uv]",
	"bits=outcome [flags:uv(acc:0-1,size:2-3,array:4-5,supervisor:6,global:7,dirty_assist:8) unless bit6] "
	"va:sv(delta,per-acc) [pa_minus_va:sv(delta,per-acc) unless outcome=fault] cycles:uv count:uv",
	"bits=fault acc_size:u8(acc:0-1,size:2-3) nreads:u8 first_level:u8 timed_reads:u8 pwc_hit_level_plus1:u8 "
	"ad_writes:u8 cycles:uv va:sv(delta) {entry_pa:sv(i=0:delta;i>0:minus_frame_of_entry[i-1]) "
	"entry:sv(delta,per-index)}*nreads [page_base:sv(minus_frame_of_last_entry) unless fault]",
	"bits=uaccess:0,result:1-2 cr2:sv(delta) error_code:uv kind:uv cycles:uv frames:uv",
	"bits=inv_kind va:sv(delta) entries:uv",
	"bits=km_kind order:u8 zone:i8 migratetype:i8 slowpath:u8 pfn:sv(delta) addr:sv(delta) cache:uv+bytes",
	"nr:uv ret:sv args:uv*6 name:uv+bytes",
};

static void hdr_add(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
	size_t need = strlen(key) + strlen(val) + 3;
	if (*len + need + 1 > *cap) {
		size_t ncap = (*cap + need) * 2;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return;
		*buf = nb;
		*cap = ncap;
	}
	/* Values are one line: control characters become spaces. */
	*len += (size_t)sprintf(*buf + *len, "%s=", key);
	for (const char *s = val; *s; s++)
		(*buf)[(*len)++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = 0;
}

static char *build_header(struct trace_writer *tw, const struct trace_run_desc *run, size_t *lenp)
{
	struct engine *e = tw->e;
	const struct mmu_config *cfg = mmu_timing_config(e->timing);
	char *buf = NULL, v[512];
	size_t len = 0, cap = 0;
	hdr_add(&buf, &len, &cap, "format", "mmuemu-trace");
	snprintf(v, sizeof(v), "%d", TRACE_VERSION);
	hdr_add(&buf, &len, &cap, "version", v);
	hdr_add(&buf, &len, &cap, "program", run->program ? run->program : "");
	char args[2048] = "";
	size_t al = 0;
	for (int i = 0; i < run->argc && al + 2 < sizeof(args); i++)
		al += (size_t)snprintf(args + al, sizeof(args) - al, "%s%s", i ? " " : "", run->argv[i]);
	hdr_add(&buf, &len, &cap, "argv", args);
	hdr_add(&buf, &len, &cap, "arch", e->g.is64 ? "x86_64" : "i386");
	hdr_add(&buf, &len, &cap, "paging", run->paging ? run->paging : "");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)run->mem_bytes);
	hdr_add(&buf, &len, &cap, "mem_bytes", v);
	hdr_add(&buf, &len, &cap, "cpu", cfg->name);
	snprintf(v, sizeof(v), "%.17g", cfg->base_cpi);
	hdr_add(&buf, &len, &cap, "base_cpi", v);
	hdr_add(&buf, &len, &cap, "stlb", cfg->stlb.narrays ? "1" : "0");
	hdr_add(&buf, &len, &cap, "stlb_data_only", cfg->stlb_data_only ? "1" : "0");
	hdr_add(&buf, &len, &cap, "l1_unified", cfg->l1_unified ? "1" : "0");
	snprintf(v, sizeof(v), "%u", cfg->itlb_fetch_bytes ? cfg->itlb_fetch_bytes : 16);
	hdr_add(&buf, &len, &cap, "fetch_bytes", v);
	bool two = run->paging && !strcmp(run->paging, "2level");
	hdr_add(&buf, &len, &cap, "page_sizes", two ? "4096,4194304,1073741824" : "4096,2097152,1073741824");
	/* What was selected. */
	v[0] = 0;
	size_t vl = 0;
	for (unsigned k = 0; k < TRACE_K_NKINDS; k++)
		if (tw->flt.events & TRACE_SEL(k))
			vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%s%s", vl ? "," : "", kind_names[k]);
	if ((tw->flt.events & TRACE_SEL_MISS) && !(tw->flt.events & TRACE_SEL(TRACE_K_LOOKUP)))
		vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%smiss", vl ? "," : "");
	hdr_add(&buf, &len, &cap, "events", v);
	if (tw->flt.range_hi)
		snprintf(v, sizeof(v), "0x%llx-0x%llx", (unsigned long long)tw->flt.range_lo,
			 (unsigned long long)tw->flt.range_hi);
	else
		snprintf(v, sizeof(v), "all");
	hdr_add(&buf, &len, &cap, "range", v);
	snprintf(v, sizeof(v), "%llu-%llu", (unsigned long long)tw->flt.from_insn, (unsigned long long)tw->flt.to_insn);
	hdr_add(&buf, &len, &cap, "window", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)tw->flt.sample);
	hdr_add(&buf, &len, &cap, "sample", v);
	snprintf(v, sizeof(v), "%u", TRACE_BLOCK_RAW);
	hdr_add(&buf, &len, &cap, "block_raw_max", v);
	/* Names of the enumerations records carry as numbers. */
	vl = 0;
	for (unsigned k = 0; k < TRACE_K_NKINDS; k++)
		vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%s%s", k ? "," : "", kind_names[k]);
	hdr_add(&buf, &len, &cap, "kinds", v);
	vl = 0;
	for (unsigned k = 0; k < KM_FK_COUNT; k++)
		vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%s%s", k ? "," : "",
				       km_fault_kind_name((enum km_fault_kind)k));
	hdr_add(&buf, &len, &cap, "fault_kinds", v);
	hdr_add(&buf, &len, &cap, "lookup_outcomes", "l1_hit,stlb_hit,walk,fault");
	hdr_add(&buf, &len, &cap, "levels", "ITLB,DTLB,STLB");
	hdr_add(&buf, &len, &cap, "accesses", "read,write,fetch");
	hdr_add(&buf, &len, &cap, "inv_kinds", "invlpg,pcid,all,all_global,fault,drop");
	hdr_add(&buf, &len, &cap, "kernel_kinds", "page_alloc,page_free,slab_alloc,slab_free,kmap,kunmap,kmap_flush");
	hdr_add(&buf, &len, &cap, "fault_results", "ok,sigsegv,sigbus,oom");
	vl = 0;
	struct pglist_data *pgdat = km_pgdat(e->g.km);
	for (int z = 0; z < MAX_NR_ZONES; z++)
		vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%s%s", z ? "," : "",
				       pgdat->node_zones[z].name ? pgdat->node_zones[z].name : "?");
	hdr_add(&buf, &len, &cap, "zones", v);
	hdr_add(&buf, &len, &cap, "migratetypes", "Unmovable,Movable,Reclaimable,HighAtomic");
	hdr_add(&buf, &len, &cap, "layout.common", trace_layouts[0]);
	for (unsigned k = 0; k < TRACE_K_NKINDS; k++) {
		char key[64];
		snprintf(key, sizeof(key), "layout.%s", kind_names[k]);
		hdr_add(&buf, &len, &cap, key, trace_layouts[k + 1]);
	}
	*lenp = len;
	return buf;
}

struct trace_writer *trace_open(struct engine *e, const char *path, const struct trace_filter *f,
				const struct trace_run_desc *run, char *err, size_t errlen)
{
	if (!e->timing) {
		snprintf(err, errlen, "--trace needs the timing model (drop --model functional)");
		return NULL;
	}
	struct trace_writer *tw = calloc(1, sizeof(*tw));
	if (!tw) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tw->e = e;
	tw->flt = *f;
	if (!tw->flt.sample)
		tw->flt.sample = 1;
	tw->want_lookup = (f->events & (TRACE_SEL(TRACE_K_LOOKUP) | TRACE_SEL_MISS)) != 0;
	tw->inline_enc = (f->events & TRACE_SEL(TRACE_K_LOOKUP)) != 0;
	tw->is64 = e->g.is64;
	tw->pc_reg = e->g.is64 ? UC_X86_REG_RIP : UC_X86_REG_EIP;
	tw->cpi = mmu_timing_config(e->timing)->base_cpi;
	tw->st = mmu_timing_stats(e->timing);
	tw->stage = malloc(STAGE_BYTES);
	tw->spare = malloc(STAGE_BYTES);
	tw->raw = malloc(STAGE_BYTES);   /* swaps with spare when blocks are encoded inline */
	tw->comp_cap = ZSTD_compressBound(TRACE_BLOCK_RAW);
	tw->comp = malloc(tw->comp_cap);
	tw->cctx = ZSTD_createCCtx();
	if (!tw->stage || !tw->spare || !tw->raw || !tw->comp || !tw->cctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ZSTD_CCtx_setParameter(tw->cctx, ZSTD_c_compressionLevel, TRACE_ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(tw->cctx, ZSTD_c_checksumFlag, 1);
	reset_deltas(tw);
	tw->f = fopen(path, "wb");
	if (!tw->f) {
		snprintf(err, errlen, "--trace %s: %s", path, strerror(errno));
		goto fail;
	}
	size_t hlen = 0;
	char *hdr = build_header(tw, run, &hlen);
	if (!hdr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	uint8_t pre[16];
	memcpy(pre, TRACE_MAGIC, 8);
	put_le32(pre + 8, TRACE_VERSION);
	put_le32(pre + 12, (uint32_t)hlen);
	uint8_t crc[4];
	put_le32(crc, trace_crc32(hdr, hlen));
	write_bytes(tw, pre, sizeof(pre));
	write_bytes(tw, hdr, hlen);
	write_bytes(tw, crc, sizeof(crc));
	free(hdr);
	if (tw->failed) {
		snprintf(err, errlen, "--trace %s: %s", path, tw->errmsg);
		goto fail;
	}
	struct mmu_observer obs = { .ctx = tw };
	if (tw->want_lookup)
		obs.lookup = on_lookup;
	if (f->events & TRACE_SEL(TRACE_K_WALK))
		obs.walk = on_walk;
	if (f->events & TRACE_SEL(TRACE_K_FLUSH))
		obs.inv = on_inv;
	if ((obs.lookup || obs.walk || obs.inv) && engine_add_observer(e, &obs) != 0) {
		snprintf(err, errlen, "--trace: no observer slot left in the engine");
		goto fail;
	}
	if ((f->events & TRACE_SEL(TRACE_K_KERNEL)) && engine_add_km_listener(e, on_km, tw) != 0) {
		snprintf(err, errlen, "--trace: no kernel-event listener slot left in the engine");
		goto fail;
	}
	pthread_mutex_init(&tw->mu, NULL);
	pthread_cond_init(&tw->cv, NULL);
	tw->running = true;
	/* Without a thread the blocks are compressed inline: slower, same file. */
	tw->thr_on = pthread_create(&tw->thr, NULL, compressor, tw) == 0;
	e->trace_ctx = tw;
	e->fault_fn = on_fault;
	e->syscall_fn = on_syscall;
	return tw;
fail:
	if (tw->f)
		fclose(tw->f);
	ZSTD_freeCCtx(tw->cctx);
	free(tw->stage);
	free(tw->spare);
	free(tw->raw);
	free(tw->comp);
	free(tw);
	return NULL;
}

int trace_engine_attach(void *ctx, struct engine *e, char *err, size_t errlen)
{
	struct trace_attach *ta = ctx;
	ta->tw = trace_open(e, ta->path, &ta->flt, &ta->run, err, errlen);
	return ta->tw ? 0 : -1;
}

uint64_t trace_records(const struct trace_writer *tw) { return tw->records; }
uint64_t trace_bytes(const struct trace_writer *tw) { return tw->bytes; }

int trace_close(struct trace_writer *tw, char *err, size_t errlen)
{
	if (!tw || tw->closed)
		return 0;
	struct engine *e = tw->e;
	sync_faults(tw);
	hand_off(tw);
	stop_compressor(tw);
	tw->running = false;   /* failures from here on are the error trace_close returns */
	write_block(tw);
	uint8_t t[28];
	put_le32(t, TRACE_END_MAGIC);
	put_le32(t + 4, 0);
	put_le64(t + 8, tw->records);
	put_le64(t + 16, tw->blocks);
	put_le32(t + 24, trace_crc32(t, 24));
	write_bytes(tw, t, sizeof(t));
	if (fclose(tw->f) != 0)
		fail(tw, "closing the trace");
	e->fault_fn = NULL;
	e->syscall_fn = NULL;
	e->trace_ctx = NULL;
	/* The observer and the kernel listener stay installed until the engine closes: with no
	 * event selected they return at once. */
	tw->flt.events = 0;
	tw->closed = true;
	if (tw->failed) {
		snprintf(err, errlen, "%s", tw->errmsg);
		return -1;
	}
	return 0;
}

void trace_free(struct trace_writer *tw)
{
	if (!tw)
		return;
	stop_compressor(tw);
	if (!tw->closed && tw->f)
		fclose(tw->f);
	pthread_mutex_destroy(&tw->mu);
	pthread_cond_destroy(&tw->cv);
	ZSTD_freeCCtx(tw->cctx);
	free(tw->stage);
	free(tw->spare);
	free(tw->raw);
	free(tw->comp);
	free(tw);
}
