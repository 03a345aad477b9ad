/* trace_read.h — reading traces written by `mmuemu run --trace` (docs/trace-format.md), and the
 * `mmuemu trace dump|stats|top` commands.
 *
 * The reader checks everything it reads: the header's magic, version, checksum and record
 * layouts; each block's header checksum, sizes, zstd frame (with its content checksum) and
 * record count; every varint against the end of its block; the trailer's counts. A file that
 * ends before the trailer is reported as truncated, anything else as corrupt, always with the
 * byte offset; the reader never reads outside its buffers.
 */
#ifndef MMUEMU_TRACE_READ_H
#define MMUEMU_TRACE_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "mmu_event.h"
#include "trace.h"

#define TRACE_MAX_NAMES 32

/* One decoded record. Fields not carried by the record's kind are zero. */
struct trace_rec {
	uint8_t kind;           /* enum trace_kind */
	uint64_t insn, cycle, pc;
	uint16_t pcid;
	bool has_va, has_pa;
	uint64_t va, pa;
	uint64_t page_size;     /* bytes; 0 when not applicable */
	/* LOOKUP */
	uint8_t outcome, acc, size, array, level;
	bool supervisor, global, dirty_assist;
	uint32_t cycles, count;  /* also WALK (cycles) and FAULT (handler cycles) */
	/* WALK */
	bool walk_fault;
	uint8_t nreads, first_level, timed_reads, ad_writes;
	int8_t pwc_hit_level;
	uint64_t entry_pa[MMU_EVENT_MAX_READS], entry[MMU_EVENT_MAX_READS];
	/* FAULT */
	bool uaccess;
	uint8_t result;
	uint32_t error_code, fault_kind;
	uint64_t frames;
	/* FLUSH */
	uint8_t inv_kind;
	uint32_t entries;
	/* KERNEL */
	uint8_t km_kind, order, slowpath;
	int8_t zone, migratetype;
	uint64_t pfn, addr;
	char cache[65];
	/* SYSCALL */
	uint64_t nr, args[6];
	int64_t ret;
	char name[65];
};

struct trace_header {
	unsigned version;
	char *text;                      /* key=value lines */
	bool is64, stlb, stlb_data_only, l1_unified;
	uint64_t page_sizes[3];
	double base_cpi;
	/* Names of numbered values, from the header. */
	char *fault_kinds[TRACE_MAX_NAMES];
	unsigned nfault_kinds;
	char *zones[TRACE_MAX_NAMES];
	unsigned nzones;
	bool filtered;                   /* events, range, window or sampling limited the recording */
};

struct trace_reader;

/* Opens and checks the header. NULL with a message (offset included) in err. */
struct trace_reader *trace_reader_open(const char *path, char *err, size_t errlen);
const struct trace_header *trace_reader_header(const struct trace_reader *r);
/* The next record: 1, 0 at the trailer (the file is complete), -1 with a message
 * (trace_reader_error) when the file is truncated or corrupt. */
int trace_reader_next(struct trace_reader *r, struct trace_rec *rec);
const char *trace_reader_error(const struct trace_reader *r);
void trace_reader_close(struct trace_reader *r);

/* `mmuemu trace SUBCOMMAND ...` (argv[0] is "trace"). Exit status: 0, 1 (unreadable, truncated
 * or corrupt trace), 2 (usage). */
int trace_command(int argc, char **argv);

#endif
