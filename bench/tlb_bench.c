/* tlb_bench.c — micro-benchmark of mmu/tlb.c: nanoseconds per modelled access (one
 * tlb_array_lookup, plus a tlb_array_insert on a miss, as the timing model does it) for a few
 * geometries and traces. Time is this thread's CPU time (not wall time), and each case runs
 * REPEATS times with the fastest run reported, so that other work on a busy host inflates the
 * numbers as little as possible.
 *
 * Traces (page numbers, precomputed so the generator's cost is not measured):
 *   random-fit    uniform over half as many pages as the array holds      (nearly all hits)
 *   random-2x     uniform over twice as many pages as the array holds     (about half misses)
 *   stride-1      pages 0, 1, 2, … cycling over half the capacity          (all hits)
 *   set-thrash    ways + 1 pages that map to one set, cycled               (all misses under LRU)
 *
 * Usage: tlb_bench [--policy=lru|plru|fifo|random|all] [--accesses=N] [--only=TEXT]
 *   --only (repeatable) runs the cases whose "geometry trace" label contains every TEXT given.
 * Build: ninja -C build bench/tlb_bench   (the executable is not built by default)
 */
#include "tlb.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_ACCESSES (UINT64_C(4) * 1000 * 1000)   /* per repetition */
#define REPEATS          5       /* the fastest repetition is reported (the host may be busy) */
#define TRACE_LEN        (1u << 20)       /* page numbers per precomputed trace (a power of two) */
#define NS_PER_S         1000000000.0
#define ERR_LEN          160
#define MAX_FILTERS      4
#define LABEL_LEN        64

struct geometry {
	const char *what;
	unsigned entries, ways;
};

static const struct geometry geometries[] = {
	{ "L1 DTLB 64x4", 64, 4 },
	{ "L1 48x4 (12 sets)", 48, 4 },
	{ "FA 64", 64, 64 },
	{ "STLB 1536x12", 1536, 12 },
	{ "STLB 2048x16", 2048, 16 },
	{ "FA 1536", 1536, 1536 },
};

enum trace_kind { TRACE_RANDOM_FIT, TRACE_RANDOM_2X, TRACE_STRIDE_1, TRACE_SET_THRASH, NTRACES };

static const char *const trace_names[NTRACES] = { "random-fit", "random-2x", "stride-1", "set-thrash" };

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static void make_trace(uint64_t *trace, enum trace_kind kind, const struct geometry *g)
{
	uint64_t seed = 12345;
	unsigned sets = g->entries / g->ways;
	/* a base far from 0 so that vpns look like user addresses */
	const uint64_t base = UINT64_C(0x7f0000000);

	for (unsigned i = 0; i < TRACE_LEN; i++) {
		uint64_t v;
		switch (kind) {
		case TRACE_RANDOM_FIT: v = splitmix64(&seed) % (g->entries / 2); break;
		case TRACE_RANDOM_2X:  v = splitmix64(&seed) % (2 * (uint64_t)g->entries); break;
		case TRACE_STRIDE_1:   v = i % (g->entries / 2); break;
		default:               v = (uint64_t)(i % (g->ways + 1)) * sets; break;
		}
		trace[i] = base - base % sets + v;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / NS_PER_S;
}

static void run(const struct geometry *g, enum tlb_policy policy, enum trace_kind kind, uint64_t accesses,
		uint64_t *trace)
{
	struct tlb_array_config c = { .entries = g->entries, .ways = g->ways, .sizes = TLB_SIZE_BIT(TLB_4K),
				      .policy = policy, .latency = 1, .seed = 1 };
	char err[ERR_LEN];
	snprintf(c.name, sizeof c.name, "bench");
	struct tlb_array *t = tlb_array_new(&c, err, sizeof err);
	if (t == NULL) {
		fprintf(stderr, "tlb_bench: %s\n", err);
		exit(1);
	}
	make_trace(trace, kind, g);

	/* warm up, then time */
	uint64_t hits = 0, sum = 0;
	for (unsigned i = 0; i < TRACE_LEN && i < accesses; i++) {
		struct tlb_entry e = { .vpn = trace[i], .pfn = trace[i], .size = TLB_4K };
		if (!tlb_array_lookup(t, trace[i], TLB_4K, 0))
			tlb_array_insert(t, &e, NULL);
	}
	double best = 0;
	for (unsigned r = 0; r < REPEATS; r++) {
		hits = 0;
		double t0 = now();
		for (uint64_t i = 0; i < accesses; i++) {
			uint64_t vpn = trace[i & (TRACE_LEN - 1)];
			struct tlb_entry *h = tlb_array_lookup(t, vpn, TLB_4K, 0);
			if (h) {
				hits++;
				sum += h->pfn;
			} else {
				struct tlb_entry e = { .vpn = vpn, .pfn = vpn, .size = TLB_4K };
				tlb_array_insert(t, &e, NULL);
			}
		}
		double dt = now() - t0;
		if (r == 0 || dt < best)
			best = dt;
	}
	double dt = best;
	printf("%-20s %-7s %-11s %6.1f%% %8.2f ns/access   (checksum %" PRIx64 ")\n", g->what,
	       tlb_policy_name(policy), trace_names[kind], 100.0 * hits / accesses, dt * NS_PER_S / accesses,
	       sum & 0xffff);
	tlb_array_free(t);
}

int main(int argc, char **argv)
{
	uint64_t accesses = DEFAULT_ACCESSES;
	int policy = TLB_POLICY_LRU;   /* -1 = all */
	const char *only[MAX_FILTERS];
	unsigned nonly = 0;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--policy=", 9) == 0) {
			enum tlb_policy p;
			if (strcmp(argv[i] + 9, "all") == 0) {
				policy = -1;
			} else if (tlb_policy_parse(argv[i] + 9, &p)) {
				policy = p;
			} else {
				fprintf(stderr, "tlb_bench: unknown policy %s\n", argv[i] + 9);
				return 2;
			}
		} else if (strncmp(argv[i], "--only=", 7) == 0 && nonly < MAX_FILTERS) {
			only[nonly++] = argv[i] + 7;
		} else if (strncmp(argv[i], "--accesses=", 11) == 0) {
			accesses = strtoull(argv[i] + 11, NULL, 0);
		} else {
			fprintf(stderr, "usage: %s [--policy=lru|plru|fifo|random|all] [--accesses=N] [--only=TEXT]\n",
				argv[0]);
			return 2;
		}
	}

	uint64_t *trace = malloc(TRACE_LEN * sizeof *trace);
	if (trace == NULL)
		return 1;
	printf("%-20s %-7s %-11s %7s %8s\n", "geometry", "policy", "trace", "hits", "cost");
	for (unsigned g = 0; g < sizeof geometries / sizeof geometries[0]; g++) {
		for (int p = 0; p < TLB_NPOLICIES; p++) {
			if (policy >= 0 && p != policy)
				continue;
			for (unsigned k = 0; k < NTRACES; k++) {
				char label[LABEL_LEN];
				snprintf(label, sizeof label, "%s %s", geometries[g].what, trace_names[k]);
				bool wanted = true;
				for (unsigned f = 0; f < nonly; f++)
					wanted = wanted && strstr(label, only[f]) != NULL;
				if (!wanted)
					continue;
				/* a fully associative 1536-entry array is slow: fewer accesses */
				uint64_t n = geometries[g].ways > 64 ? accesses / 10 : accesses;
				run(&geometries[g], (enum tlb_policy)p, (enum trace_kind)k, n, trace);
			}
		}
	}
	free(trace);
	return 0;
}
