/* stackgrow — grows the stack well past its initial pages, by recursion and by one big jump.
 *
 * usage: stackgrow [DEPTH_KIB [JUMP_KIB]]        defaults: 2048 512
 *
 * Part 1: recursion DEPTH_KIB levels deep, each frame holding a 1 KiB buffer it fills on the way
 * down and verifies on the way up: the stack VMA grows one page fault at a time.
 * Part 2: a JUMP_KIB variable-length array whose lowest byte is touched first: the first fault
 * lands far below the lowest mapped stack page (Linux expands the stack VMA for any fault within
 * the stack rlimit, whatever the stack pointer).
 * Both stay below the usual 8 MiB RLIMIT_STACK. Prints hashes of the data seen on the way back.
 */
#include "guest_util.h"

#define FRAME_BYTES 1024

static uint64_t recurse(uint64_t depth, uint64_t h)
{
	volatile unsigned char buf[FRAME_BYTES];
	for (int i = 0; i < FRAME_BYTES; i++)
		buf[i] = (unsigned char)(depth * 131 + (uint64_t)i * 7);
	uint64_t below = depth > 1 ? recurse(depth - 1, h) : h;
	for (int i = 0; i < FRAME_BYTES; i++)
		CHECK(buf[i] == (unsigned char)(depth * 131 + (uint64_t)i * 7),
		      "frame at depth %llu corrupted", (unsigned long long)depth);
	return fnv1a_u64(below, depth ^ buf[FRAME_BYTES - 1]);
}

static uint64_t jump(size_t bytes)
{
	volatile unsigned char big[bytes];
	/* Lowest address first: the deepest untouched page of the array. */
	for (size_t i = 0; i < bytes; i += 4096)
		big[i] = (unsigned char)(i >> 12);
	big[bytes - 1] = 0x5a;
	uint64_t h = FNV64_OFFSET;
	for (size_t i = 0; i < bytes; i += 4096) {
		CHECK(big[i] == (unsigned char)(i >> 12), "jump page %llu corrupted",
		      (unsigned long long)(i >> 12));
		h = fnv1a_u64(h, big[i]);
	}
	return fnv1a_u64(h, big[bytes - 1]);
}

int main(int argc, char **argv)
{
	uint64_t depth_kib = arg_size(argc, argv, 1, 2048, "depth KiB");
	uint64_t jump_kib = arg_size(argc, argv, 2, 512, "jump KiB");
	CHECK(depth_kib >= 1 && depth_kib <= 6144, "depth KiB must be in 1..6144");
	CHECK(jump_kib >= 4 && jump_kib <= 6144, "jump KiB must be in 4..6144");

	uint64_t h = recurse(depth_kib, FNV64_OFFSET);
	printf("stackgrow: recursion %llu KiB deep, fnv1a %016llx\n", (unsigned long long)depth_kib,
	       (unsigned long long)h);
	uint64_t j = jump((size_t)jump_kib * 1024);
	printf("stackgrow: jump %llu KiB, fnv1a %016llx\n", (unsigned long long)jump_kib,
	       (unsigned long long)j);
	printf("stackgrow ok\n");
	return 0;
}
