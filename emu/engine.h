/* engine.h — runs one guest on Unicorn through the MMU and kernel models (see engine.c). */
#ifndef MMUEMU_ENGINE_H
#define MMUEMU_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <capstone/capstone.h>

#include "guest.h"
#include "walk.h"
#include "timing.h"
#include "mmu_event.h"
#include "kmodel.h"

#define ENGINE_MAX_OBSERVERS 4

/* The zero window: 16 GiB of read-only physical address space, one slot per zero-page mapping. */
#define ZERO_WINDOW_BYTES (16ULL << 30)
#define ZERO_WINDOW_SLOTS (ZERO_WINDOW_BYTES >> 12)

struct engine;

struct engine_options {
	bool count_insns;     /* block hook + decoded-block cache */
	uint64_t max_insns;   /* stop after this many instructions (0: no limit) */
	bool progress;        /* periodic progress lines on stderr */
	const struct mmu_config *cpu;  /* timing model of this CPU; NULL: functional only */
	bool empty_hooks;     /* benchmark floor: per-access hooks that return at once */
	/* Called by engine_init as soon as the timing model exists, before any modelled access
	 * (the trace writer attaches here: trace_engine_attach). -1 fails engine_init. */
	int (*attach)(void *ctx, struct engine *e, char *err, size_t errlen);
	void *attach_ctx;
};

/* Decoded-block cache entry: how many instructions the block at addr of size bytes holds. */
struct block_entry {
	uint64_t addr;
	uint32_t size;        /* 0: empty slot */
	uint32_t ninsns;
};

struct engine {
	struct guest g;       /* first member: hooks and the syscall layer see &e->g */
	struct engine_options opts;
	struct mmu_regs regs;
	struct mmu_phys pm;
	csh cs;
	csh cs_detail;               /* with operand details: read faults of RMW instructions */
	struct block_entry *bc;
	size_t bc_cap, bc_used;
	uint64_t insns, blocks, fills, faults, tlb_flushes;
	uint64_t kernel_tlb_cycles;
	uint64_t rmw_faults;          /* read faults raised as write faults (RMW instruction) */   /* translation cycles of the kernel's own kmap accesses */
	bool stopped_at_limit;
	uint64_t hole_pa, hole_va;   /* physical hole used to learn the exact fault address */
	/* Timing model (NULL in functional mode). */
	struct mmu_timing *timing;
	uint64_t *rmap;              /* pfn -> vpn of the current address space */
	uint64_t nframes;
	uint64_t zero_pfn;
	uint64_t fetch_bytes;
	uint64_t zw_base;            /* physical base of the zero window */
	void *zw_host;
	uint64_t *zw_vpn;            /* slot -> vpn */
	uint64_t *zw_key;            /* vpn + 1 -> slot hash */
	uint32_t *zw_val;
	size_t zw_cap, zw_used;
	uint64_t zw_next, zero_aliases;
	double start_time, end_time, last_progress;
	/* Observers of the MMU's events (trace writer, miss-rate curves...): engine_add_observer. */
	struct mmu_observer obs[ENGINE_MAX_OBSERVERS];
	unsigned nobs;
	/* Listeners of the kernel model's events (km_event): engine_add_km_listener. */
	struct { void (*fn)(void *ctx, const struct km_event *ev); void *ctx; } kml[ENGINE_MAX_OBSERVERS];
	unsigned nkml;
	/* Trace hooks (emu/trace.c), NULL when off: each page fault the fill hook handled (CR2,
	 * error code, enum km_fault_result, frames the buddy allocator handed out meanwhile) and
	 * each syscall once it returned. */
	void (*fault_fn)(void *ctx, uint64_t cr2, uint32_t ec, int result, const struct km_fault_info *info,
			 uint64_t frames);
	void (*syscall_fn)(void *ctx, uint64_t nr, const uint64_t *args, int64_t ret);
	void *trace_ctx;
	/* Faults over time (engine_sample_faults), NULL when off: a sample every ts_every
	 * instructions, thinned to every other one (and ts_every doubled) when ts_cap are taken. */
	struct engine_sample *ts;
	size_t ts_n, ts_cap;
	uint64_t ts_every, ts_next;
};

/* One point of the fault time series: cumulative page faults and frames in use after insns. */
struct engine_sample {
	uint64_t insns, faults, frames;
};

/* Opens Unicorn for g->is64, maps modelled RAM, installs the hooks and (i386) the GDT. g->km
 * and g->mm must be set. 0, or -1 with a message in err. */
int engine_init(struct engine *e, const struct engine_options *opts, char *err, size_t errlen);
/* Runs the guest from entry with the given stack pointer until it exits or is killed.
 * 0 when the guest ended (see g.exited / g.fatal_signal), -1 on an emulator error (message). */
int engine_run(struct engine *e, uint64_t entry, uint64_t sp, char *err, size_t errlen);
void engine_close(struct engine *e);
/* Adds an observer of the timing model's lookups, walks and invalidations (timing mode only).
 * After engine_init it sees events from now on; before engine_init (on a zeroed engine) it is
 * installed as soon as engine_init creates the timing model, so it also sees the set-up's own
 * accesses (the i386 GDT loads), and is ignored if there is none. With one observer the timing
 * model calls it directly; with more, through a fan-out. -1 when ENGINE_MAX_OBSERVERS are
 * already installed, or after engine_init without a timing model. */
int engine_add_observer(struct engine *e, const struct mmu_observer *obs);
/* Adds a listener of the kernel model's events (buddy, slab, kmap). -1 when full. */
int engine_add_km_listener(struct engine *e, void (*fn)(void *ctx, const struct km_event *ev),
			   void *ctx);
/* The exit status a shell would see: the exit code, or 128 + the fatal signal. */
int engine_exit_status(const struct engine *e);
void engine_progress(struct engine *e, bool final);
/* Records cumulative page faults and frames in use against instructions during engine_run (at
 * most max_samples points, at least 16; the last one when the guest ends). -1 out of memory. */
int engine_sample_faults(struct engine *e, size_t max_samples);

#endif
