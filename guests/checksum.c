/* checksum — fill a large heap array and checksum it sequentially and with a large stride.
 *
 * usage: checksum [MIB [STRIDE_BYTES]]      defaults: 64 MiB, stride 4160 bytes (a page + a line)
 *
 * The array holds 64-bit words w[i] = pattern(i). Passes:
 *   1. fill sequentially;
 *   2. sequential pass: a word-wise FNV-1a hash (h = (h ^ w) * prime) over every word in order,
 *      plus sum and xor;
 *   3. strided pass: visits every word exactly once, in the order i = k*S mod N with
 *      gcd(S, N) = 1 (S is the stride in words, bumped until coprime), adding k+1 to each word
 *      (read-modify-write) and summing the original values;
 *   4. verify, in the same strided order: word i must equal pattern(i) + k(i) + 1, where k(i) is
 *      the step that visited it;
 *   5. a final sequential FNV-1a over the modified array.
 * Self-checks: sum and xor of pass 2 equal those computed while filling; the strided walk is one
 * cycle and its sum equals the sequential sum; pass 4 finds every word as expected.
 */
#include "guest_util.h"

static uint64_t pattern(uint64_t i)
{
	uint64_t s = i * 0x2545f4914f6cdd1dULL;
	return splitmix64(&s);
}

/* FNV-1a applied to whole 64-bit words (byte-wise FNV would dominate the run time). */
static inline uint64_t hash_word(uint64_t h, uint64_t v)
{
	return (h ^ v) * FNV64_PRIME;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int main(int argc, char **argv)
{
	uint64_t mib = arg_size(argc, argv, 1, 64, "MiB");
	uint64_t stride_bytes = arg_size(argc, argv, 2, 4160, "stride");
	CHECK(mib >= 1 && mib <= 2048, "MiB must be in 1..2048");
	uint64_t bytes = mib << 20;
	size_t n = (size_t)(bytes / sizeof(uint64_t));
	CHECK((uint64_t)n * sizeof(uint64_t) == bytes, "size does not fit the address space");

	uint64_t *w = malloc((size_t)bytes);
	CHECK(w != NULL, "malloc(%llu MiB) failed", (unsigned long long)mib);

	/* 1. fill */
	uint64_t ref_sum = 0, ref_xor = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = pattern(i);
		w[i] = v;
		ref_sum += v;
		ref_xor ^= v;
	}

	/* 2. sequential */
	uint64_t h1 = FNV64_OFFSET, seq_sum = 0, seq_xor = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = w[i];
		h1 = hash_word(h1, v);
		seq_sum += v;
		seq_xor ^= v;
	}
	CHECK(seq_sum == ref_sum && seq_xor == ref_xor, "sequential pass read wrong data");

	/* 3. strided read-modify-write */
	uint64_t s = stride_bytes / sizeof(uint64_t);
	if (s == 0)
		s = 1;
	while (gcd64(s, n) != 1)
		s++;
	uint64_t str_sum = 0, h2 = FNV64_OFFSET;
	size_t idx = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t v = w[idx];
		str_sum += v;
		h2 = hash_word(h2, v);
		w[idx] = v + k + 1;
		idx += (size_t)s;
		if (idx >= n)
			idx -= n;
	}
	CHECK(idx == 0, "strided walk did not return to 0");
	CHECK(str_sum == seq_sum, "strided sum %016llx != sequential sum %016llx",
	      (unsigned long long)str_sum, (unsigned long long)seq_sum);

	/* 4. verify the strided writes, walking the same order again (instead of inverting s). */
	idx = 0;
	for (size_t k = 0; k < n; k++) {
		CHECK(w[idx] == pattern(idx) + k + 1, "word %llu wrong after strided pass",
		      (unsigned long long)idx);
		idx += (size_t)s;
		if (idx >= n)
			idx -= n;
	}
	/* 5. final sequential hash */
	uint64_t h3 = FNV64_OFFSET;
	for (size_t i = 0; i < n; i++)
		h3 = hash_word(h3, w[i]);

	printf("checksum: %llu MiB, %llu words, stride %llu words\n", (unsigned long long)mib,
	       (unsigned long long)n, (unsigned long long)s);
	printf("sequential hash %016llx sum %016llx xor %016llx\n", (unsigned long long)h1,
	       (unsigned long long)seq_sum, (unsigned long long)seq_xor);
	printf("strided    hash %016llx sum %016llx\n", (unsigned long long)h2,
	       (unsigned long long)str_sum);
	printf("after rmw  hash %016llx\n", (unsigned long long)h3);
	free(w);
	printf("checksum ok\n");
	return 0;
}
