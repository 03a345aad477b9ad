/* trace.h — recording TLB, page-walk, fault, flush, kernel and memory-syscall events of a run
 * (`mmuemu run --trace FILE`) in the block-compressed binary format of docs/trace-format.md.
 *
 * The writer is an observer of the timing model (mmu_event.h), a listener of the kernel model's
 * events (km_event) and the engine's fault and syscall hook. Records are encoded into a raw block
 * of bounded size; a full block is compressed with zstd and written, so memory stays bounded
 * however long the guest runs. The reader (trace_read.h) decodes the same records.
 *
 * The record kinds, their names and the bit each has in an event mask are declared once here
 * (TRACE_KINDS) and shared by the writer, the reader and the option parser.
 */
#ifndef MMUEMU_TRACE_H
#define MMUEMU_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_MAGIC "MMUTRACE"        /* 8 bytes at offset 0 */
#define TRACE_VERSION 1
#define TRACE_BLOCK_MAGIC 0x4b4c4254u  /* "TBLK" little-endian: a compressed block follows */
#define TRACE_END_MAGIC 0x444e4554u    /* "TEND": the trailer, written when the trace is closed */
#define TRACE_BLOCK_RAW 262144u        /* raw (uncompressed) bytes per block, at most */
#define TRACE_RECORD_MAX 512u          /* a record's encoded size, at most */
#define TRACE_FRAME_MASK 0x000ffffffffff000ULL  /* frame bits of a page-table entry (walk records) */

/* X(ID, name, description): the record kinds in the order of their 4-bit tag codes. */
#define TRACE_KINDS(X)                                                                         \
	X(LOOKUP,  "lookup",  "a TLB lookup and where it was answered")                        \
	X(WALK,    "walk",    "a page walk: entries read, page-walk-cache hit, A/D updates, cycles") \
	X(FAULT,   "fault",   "a page fault: CR2, error code, kind, handler cycles, frames")   \
	X(FLUSH,   "flush",   "a TLB invalidation: kind and entries dropped")                  \
	X(KERNEL,  "kernel",  "a kernel-model event: buddy, slab, kmap")                       \
	X(SYSCALL, "syscall", "a memory syscall: number, arguments, result")

enum trace_kind {
#define TRACE_KIND_ENUM(id, name, desc) TRACE_K_##id,
	TRACE_KINDS(TRACE_KIND_ENUM)
#undef TRACE_KIND_ENUM
	TRACE_K_NKINDS
};

/* Event-selection bits (--trace-events): one per kind, plus MISS = lookups that missed the L1
 * TLB (a subset of LOOKUP). */
#define TRACE_SEL(k) (1u << (k))
#define TRACE_SEL_MISS (1u << TRACE_K_NKINDS)
#define TRACE_SEL_ALL ((1u << TRACE_K_NKINDS) - 1u)

const char *trace_kind_name(enum trace_kind k);

/* Parses a comma-separated list of kinds ("lookup", "miss", "walk", "fault", "flush",
 * "kernel", "syscall", "all") into a selection mask. false with a message on an unknown name. */
bool trace_parse_events(const char *s, unsigned *mask, char *err, size_t errlen);
/* Parses "LO-HI" or "LO:HI" (byte addresses, decimal or 0x hex; HI exclusive, > LO) or
 * "LO+LEN". false with a message on bad input. */
bool trace_parse_range(const char *s, uint64_t *lo, uint64_t *hi, char *err, size_t errlen);
/* Parses an unsigned count (decimal or 0x hex, optional K/M/G suffix = powers of 1000 for
 * counts). false on bad input. */
bool trace_parse_count(const char *s, uint64_t *v);

/* What to record: everything selected and inside all the limits. */
struct trace_filter {
	unsigned events;          /* TRACE_SEL_* mask */
	uint64_t range_lo, range_hi;   /* virtual-address range [lo, hi); hi == 0: all */
	uint64_t from_insn, to_insn;   /* instruction window [from, to); to == 0: no end */
	uint64_t sample;          /* keep one lookup in this many (1: all) */
};

/* The run a trace belongs to, written into the header. */
struct trace_run_desc {
	const char *program;
	int argc;
	char **argv;
	const char *paging;
	uint64_t mem_bytes;
};

/* ---- the options of `mmuemu run` ------------------------------------------------------------ */

enum { TRACE_OPT_FILE, TRACE_OPT_EVENTS, TRACE_OPT_RANGE, TRACE_OPT_FROM, TRACE_OPT_TO, TRACE_OPT_SAMPLE,
       TRACE_OPT_N };
#define TRACE_OPT_BASE 0x7000   /* getopt_long codes TRACE_OPT_BASE + TRACE_OPT_* */
/* Entries of a struct option array (needs <getopt.h>). */
#define TRACE_LONG_OPTIONS                                                                     \
	{ "trace", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_FILE },                 \
	{ "trace-events", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_EVENTS },        \
	{ "trace-range", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_RANGE },          \
	{ "trace-from", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_FROM },            \
	{ "trace-to", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_TO },                \
	{ "trace-sample", required_argument, NULL, TRACE_OPT_BASE + TRACE_OPT_SAMPLE }
#define TRACE_RUN_HELP                                                                         \
"Trace (docs/trace-format.md; read back with 'mmuemu trace dump|stats|top FILE'):\n"          \
"  --trace FILE          record TLB lookups, walks, faults, flushes, kernel events and memory\n" \
"                        syscalls as they happen (timing model only)\n"                         \
"  --trace-events LIST   kinds to record, comma-separated: lookup, miss (lookups that missed\n" \
"                        the L1 TLB), walk, fault, flush, kernel, syscall, all (default all)\n" \
"  --trace-range LO-HI   only lookups, walks, faults and flushes of addresses in [LO, HI)\n"     \
"  --trace-from N        only events from instruction N on\n"                                   \
"  --trace-to N          only events before instruction N\n"                                   \
"  --trace-sample N      keep one lookup in N\n"                                               \
"\n"

struct trace_cli {
	const char *path;
	struct trace_filter flt;
	bool limits;              /* some --trace-* option other than --trace was given */
};
#define TRACE_CLI_INIT { NULL, { TRACE_SEL_ALL, 0, 0, 0, 0, 1 }, false }
/* Handles one option code of TRACE_LONG_OPTIONS. false with a message on a bad value. */
bool trace_cli_option(struct trace_cli *c, int code, const char *arg, char *err, size_t errlen);
/* Checks the options together (a limit without --trace, an empty window). */
bool trace_cli_check(const struct trace_cli *c, char *err, size_t errlen);

struct engine;
struct trace_writer;

/* Creates path, writes the header (configuration of the run, record layouts) and attaches the
 * writer to e: the timing model's observer (only the callbacks the filter needs), the kernel
 * event listener, and the engine's fault and syscall hooks. e must use the timing model. NULL
 * with a message in err (cannot create the file, no timing model, no observer slot left). */
struct trace_writer *trace_open(struct engine *e, const char *path, const struct trace_filter *f,
				const struct trace_run_desc *run, char *err, size_t errlen);
/* engine_options.attach for a trace: ctx is a struct trace_attach; on success tw is the writer. */
struct trace_attach {
	const char *path;
	struct trace_filter flt;
	struct trace_run_desc run;
	struct trace_writer *tw;
};
int trace_engine_attach(void *ctx, struct engine *e, char *err, size_t errlen);
/* Writes the records still buffered and the trailer and closes the file; the writer then
 * ignores events. Call once the guest has ended. 0, or -1 with a message (a write failed at any
 * point of the run). */
int trace_close(struct trace_writer *tw, char *err, size_t errlen);
/* Frees the writer: after engine_close (the engine holds its callbacks until then). */
void trace_free(struct trace_writer *tw);
/* The record layouts of this version: [0] the common prefix, [1 + kind] each kind's fields. */
extern const char *const trace_layouts[TRACE_K_NKINDS + 1];
/* Records written so far and compressed bytes written (header included). */
uint64_t trace_records(const struct trace_writer *tw);
uint64_t trace_bytes(const struct trace_writer *tw);

/* ---- encoding helpers shared with the reader ----------------------------------------------- */

uint32_t trace_crc32(const void *p, size_t n);

#endif
