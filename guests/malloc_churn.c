/* malloc_churn — many malloc/calloc/realloc/free of random sizes, contents verified.
 *
 * usage: malloc_churn [OPS [SEED [SLOTS]]]      defaults: 50000 1 2048
 *
 * SLOTS live blocks are kept; each operation picks a random slot and (re)allocates, reallocates or
 * frees it. Sizes: 90% small (1..512 bytes), 9.5% medium (512 bytes..32 KiB) and 0.5% large
 * (128 KiB..1 MiB, above both libcs' mmap threshold), so the heap grows and shrinks through brk
 * and large blocks come and go through mmap/munmap (glibc's realloc also uses mremap; musl's
 * allocator also releases pages with madvise(MADV_FREE)).
 *
 * Every block is filled with a pattern derived from its generation number — all of its first
 * 1 KiB, then every 61st byte — and checked before it is freed or reallocated; realloc must
 * preserve the old prefix; calloc must return zeroes (same sampling); aligned_alloc must honour
 * the alignment. The digest hashes operations, slots and sizes only (never addresses), so it is
 * the same on every architecture and libc.
 */
#include "guest_util.h"

struct slot {
	unsigned char *p;
	size_t size;
	uint32_t gen;	/* pattern seed of the current contents */
};

static unsigned char pat_byte(uint32_t gen, size_t i)
{
	uint32_t x = gen * 2654435761u + (uint32_t)i * 40503u;
	return (unsigned char)(x ^ (x >> 13) ^ (x >> 24));
}

/* Which bytes carry the pattern: all of the first 1 KiB, then every 61st byte (which still
 * touches every page). The set does not depend on the block size, so a realloc'd prefix can be
 * checked with the same rule. Unsampled bytes hold whatever the allocator left there. */
#define DENSE_BYTES 1024
#define SAMPLE_STEP 61

static void fill(unsigned char *p, size_t n, uint32_t gen)
{
	size_t dense = n < DENSE_BYTES ? n : DENSE_BYTES;
	for (size_t i = 0; i < dense; i++)
		p[i] = pat_byte(gen, i);
	for (size_t i = (DENSE_BYTES + SAMPLE_STEP - 1) / SAMPLE_STEP * SAMPLE_STEP; i < n;
	     i += SAMPLE_STEP)
		p[i] = pat_byte(gen, i);
}

/* Do the sampled bytes of the first n carry gen's pattern? */
static int verify(const unsigned char *p, size_t n, uint32_t gen)
{
	size_t dense = n < DENSE_BYTES ? n : DENSE_BYTES;
	for (size_t i = 0; i < dense; i++)
		if (p[i] != pat_byte(gen, i))
			return 0;
	for (size_t i = (DENSE_BYTES + SAMPLE_STEP - 1) / SAMPLE_STEP * SAMPLE_STEP; i < n;
	     i += SAMPLE_STEP)
		if (p[i] != pat_byte(gen, i))
			return 0;
	return 1;
}

/* Are the sampled bytes of the first n zero? */
static int zero_sampled(const unsigned char *p, size_t n)
{
	size_t dense = n < DENSE_BYTES ? n : DENSE_BYTES;
	for (size_t i = 0; i < dense; i++)
		if (p[i])
			return 0;
	for (size_t i = (DENSE_BYTES + SAMPLE_STEP - 1) / SAMPLE_STEP * SAMPLE_STEP; i < n;
	     i += SAMPLE_STEP)
		if (p[i])
			return 0;
	return p[n - 1] == 0;
}

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = rand_below(rng, 1000);
	if (r < 900)
		return 1 + (size_t)rand_below(rng, 512);
	if (r < 995)
		return 512 + (size_t)rand_below(rng, 32 * 1024 - 512);
	return 128 * 1024 + (size_t)rand_below(rng, 896 * 1024);
}

int main(int argc, char **argv)
{
	uint64_t ops = arg_size(argc, argv, 1, 50000, "ops");
	uint64_t seed = arg_size(argc, argv, 2, 1, "seed");
	uint64_t nslots = arg_size(argc, argv, 3, 2048, "slots");
	CHECK(nslots >= 1 && nslots <= 1 << 20, "slots must be in 1..1048576");

	struct slot *slots = calloc((size_t)nslots, sizeof *slots);
	CHECK(slots != NULL, "calloc(slots) failed");

	uint64_t rng = seed, digest = FNV64_OFFSET;
	uint32_t gen = 0;
	uint64_t n_malloc = 0, n_calloc = 0, n_realloc = 0, n_free = 0, n_aligned = 0, n_large = 0;
	uint64_t bytes_checked = 0, live_peak = 0, live = 0;

	for (uint64_t op = 0; op < ops; op++) {
		size_t k = (size_t)rand_below(&rng, nslots);
		struct slot *s = &slots[k];
		uint64_t what = rand_below(&rng, 100);

		if (s->p) {
			CHECK(verify(s->p, s->size, s->gen), "op %llu: slot %llu (%llu bytes) corrupted",
			      (unsigned long long)op, (unsigned long long)k,
			      (unsigned long long)s->size);
			bytes_checked += s->size;
		}
		if (s->p && what < 45) {
			free(s->p);
			live -= s->size;
			s->p = NULL;
			s->size = 0;
			n_free++;
			digest = fnv1a_u64(digest, 0xf000000000000000ULL | k);
			continue;
		}
		if (s->p && what < 75) {
			size_t nsz = pick_size(&rng);
			unsigned char *q = realloc(s->p, nsz);
			CHECK(q != NULL, "realloc(%llu) failed", (unsigned long long)nsz);
			size_t keep = nsz < s->size ? nsz : s->size;
			CHECK(verify(q, keep, s->gen), "op %llu: realloc lost the old contents",
			      (unsigned long long)op);
			live = live - s->size + nsz;
			s->p = q;
			s->size = nsz;
			s->gen = ++gen;
			fill(q, nsz, s->gen);
			n_realloc++;
			n_large += nsz >= 128 * 1024;
			if (live > live_peak)
				live_peak = live;
			digest = fnv1a_u64(digest, 0xe000000000000000ULL | ((uint64_t)nsz << 20) | k);
			continue;
		}
		if (s->p) {
			free(s->p);
			live -= s->size;
			n_free++;
		}
		size_t sz = pick_size(&rng);
		unsigned char *q;
		if (what < 85) {
			q = calloc(1, sz);
			CHECK(q != NULL, "calloc(%llu) failed", (unsigned long long)sz);
			CHECK(zero_sampled(q, sz), "calloc(%llu) returned non-zero memory",
			      (unsigned long long)sz);
			n_calloc++;
		} else if (what < 90) {
			size_t align = (size_t)16 << rand_below(&rng, 9);	/* 16 .. 4096 */
			size_t asz = (sz + align - 1) / align * align;		/* C11 wants a multiple */
			q = aligned_alloc(align, asz);
			CHECK(q != NULL, "aligned_alloc(%llu, %llu) failed", (unsigned long long)align,
			      (unsigned long long)asz);
			CHECK(((uintptr_t)q & (align - 1)) == 0, "aligned_alloc(%llu) misaligned",
			      (unsigned long long)align);
			sz = asz;
			n_aligned++;
		} else {
			q = malloc(sz);
			CHECK(q != NULL, "malloc(%llu) failed", (unsigned long long)sz);
			n_malloc++;
		}
		s->p = q;
		s->size = sz;
		s->gen = ++gen;
		fill(q, sz, s->gen);
		live += sz;
		n_large += sz >= 128 * 1024;
		digest = fnv1a_u64(digest, 0xd000000000000000ULL | ((uint64_t)sz << 20) | k);
		if (live > live_peak)
			live_peak = live;
	}

	uint64_t live_blocks = 0;
	for (size_t k = 0; k < nslots; k++) {
		struct slot *s = &slots[k];
		if (!s->p)
			continue;
		CHECK(verify(s->p, s->size, s->gen), "final: slot %llu corrupted", (unsigned long long)k);
		digest = fnv1a_u64(digest, s->size);
		free(s->p);
		live_blocks++;
	}
	free(slots);

	printf("malloc_churn: %llu ops, seed %llu, %llu slots\n", (unsigned long long)ops,
	       (unsigned long long)seed, (unsigned long long)nslots);
	printf("malloc %llu calloc %llu aligned_alloc %llu realloc %llu free %llu large %llu\n",
	       (unsigned long long)n_malloc, (unsigned long long)n_calloc,
	       (unsigned long long)n_aligned, (unsigned long long)n_realloc,
	       (unsigned long long)n_free, (unsigned long long)n_large);
	printf("live at end %llu blocks, peak %llu bytes, %llu bytes verified\n",
	       (unsigned long long)live_blocks, (unsigned long long)live_peak,
	       (unsigned long long)bytes_checked);
	printf("digest %016llx\n", (unsigned long long)digest);
	printf("malloc_churn ok\n");
	return 0;
}
