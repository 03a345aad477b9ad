/* ptrchase — random pointer chase over a working set: the TLB-stress workload.
 *
 * usage: ptrchase [WORKING_SET_BYTES [STEPS [SEED]]]   defaults: 16M 2000000 1 (K/M/G suffixes ok)
 *
 * The working set is an array of 64-byte nodes (one cache line each, same layout on i386 and
 * x86-64). Sattolo's algorithm, driven by splitmix64(SEED), turns the identity into a random
 * cyclic permutation, so following node->next visits every node once before returning to node 0.
 * Consecutive steps land on unrelated pages: once the working set exceeds the TLB reach nearly
 * every step is a TLB miss.
 *
 * Self-checks: every node's index field is intact, the cycle has length N and its index sum is
 * N(N-1)/2. Output: the node reached after STEPS steps from node 0 and the sum of the indices of
 * the nodes visited.
 */
#include "guest_util.h"

#define NODE_BYTES 64

struct node {
	struct node *next;
	uint32_t idx;
	uint32_t check;		/* idx ^ 0x5a5a5a5a: catches a node read from the wrong frame */
	unsigned char pad[NODE_BYTES - sizeof(struct node *) - 2 * sizeof(uint32_t)];
};

_Static_assert(sizeof(struct node) == NODE_BYTES, "node must be one cache line");

int main(int argc, char **argv)
{
	uint64_t ws = arg_size(argc, argv, 1, 16 << 20, "working-set bytes");
	uint64_t steps = arg_size(argc, argv, 2, 2000000, "steps");
	uint64_t seed = arg_size(argc, argv, 3, 1, "seed");
	uint64_t n64 = ws / NODE_BYTES;
	CHECK(n64 >= 2, "working set must hold at least 2 nodes of %d bytes", NODE_BYTES);
	CHECK(n64 <= UINT32_MAX && n64 * NODE_BYTES <= (uint64_t)(SIZE_MAX / 2),
	      "working set too large");
	size_t n = (size_t)n64;

	struct node *nodes = malloc(n * sizeof *nodes);
	uint32_t *perm = malloc(n * sizeof *perm);
	CHECK(nodes && perm, "malloc failed");

	/* Sattolo: a uniformly random n-cycle. */
	uint64_t rng = seed;
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand_below(&rng, i);	/* j < i, never i itself */
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		nodes[i].next = &nodes[perm[i]];
		nodes[i].idx = (uint32_t)i;
		nodes[i].check = (uint32_t)i ^ 0x5a5a5a5aU;
		memset(nodes[i].pad, (int)(i & 0xff), sizeof nodes[i].pad);
	}
	free(perm);

	/* Verify: one cycle through all n nodes. */
	struct node *p = &nodes[0];
	uint64_t cyc_sum = 0;
	size_t len = 0;
	do {
		CHECK(p->check == (p->idx ^ 0x5a5a5a5aU) && p == &nodes[p->idx],
		      "node %llu corrupted", (unsigned long long)(p - nodes));
		cyc_sum += p->idx;
		p = p->next;
		len++;
	} while (p != &nodes[0] && len <= n);
	CHECK(len == n, "cycle length %llu != %llu", (unsigned long long)len, (unsigned long long)n);
	CHECK(cyc_sum == (uint64_t)n * (n - 1) / 2, "cycle index sum wrong");

	/* The chase itself. */
	uint64_t sum = 0;
	p = &nodes[0];
	for (uint64_t s = 0; s < steps; s++) {
		sum += p->idx;
		p = p->next;
	}
	CHECK(p->check == (p->idx ^ 0x5a5a5a5aU), "final node corrupted");
	/* Steps that are a multiple of n end where they started. */
	CHECK(steps % n != 0 || p == &nodes[0], "full cycles did not return to node 0");

	printf("ptrchase: %llu nodes of %d bytes (%llu KiB), %llu steps, seed %llu\n",
	       (unsigned long long)n, NODE_BYTES, (unsigned long long)(n * NODE_BYTES / 1024),
	       (unsigned long long)steps, (unsigned long long)seed);
	printf("final index %lu\n", (unsigned long)p->idx);
	printf("index sum %llu\n", (unsigned long long)sum);
	free(nodes);
	printf("ptrchase ok\n");
	return 0;
}
