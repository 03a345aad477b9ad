/* efault — bad pointers passed to system calls must come back as -1/EFAULT, never a crash.
 *
 * usage: efault [PAGES]       default: 4 (pages of fresh mmap memory filled through read(2))
 *
 * Calls are made through syscall(2) where a libc wrapper could touch the pointer itself (glibc's
 * fstat copies from a buffer of its own, for example). Checks, one line each:
 *   write(1, wild, 16); read(pipe, wild, 16) with data waiting; open/openat of a wild path;
 *   fstat into a wild buffer; getcwd/uname into wild buffers; pipe() with a wild fd array;
 *   writev with a wild iov_base and readv with a wild iovec array; write from a high (kernel)
 *   address; write from a PROT_NONE page; read into a read-only page;
 * and the positive case the emulator must also get right: read(2) into PAGES freshly mapped,
 * never touched pages (the kernel faults them in) succeeds and the data arrives.
 */
#include "guest_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define WILD ((void *)(uintptr_t)0x1234)
#if defined(__x86_64__)
#define HIGH ((void *)(uintptr_t)0xffff800000001000ULL)	/* kernel half */
#else
#define HIGH ((void *)(uintptr_t)0xfffff000UL)		/* above TASK_SIZE for i386 */
#endif

static void expect_efault(long r, const char *what)
{
	int e = errno;
	CHECK(r == -1 && e == EFAULT, "%s returned %ld errno %s, expected -1 EFAULT", what, r,
	      errno_name(e));
	printf("%s: EFAULT ok\n", what);
}

int main(int argc, char **argv)
{
	uint64_t pages = arg_size(argc, argv, 1, 4, "pages");
	CHECK(pages >= 1 && pages <= 4096, "pages must be in 1..4096");
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int p[2];
	CHECK(pipe(p) == 0, "pipe");

	errno = 0;
	expect_efault(syscall(SYS_write, 1, WILD, 16), "write(1, wild, 16)");
	CHECK(syscall(SYS_write, p[1], "0123456789abcdef", 16) == 16, "pipe write");
	errno = 0;
	expect_efault(syscall(SYS_read, p[0], WILD, 16), "read(pipe, wild, 16)");
	char buf[32];
	CHECK(read(p[0], buf, sizeof buf) == 16 && memcmp(buf, "0123456789abcdef", 16) == 0,
	      "the pipe data was consumed by the failed read");
	printf("pipe data intact after the failed read\n");

#ifdef SYS_open
	errno = 0;
	expect_efault(syscall(SYS_open, WILD, O_RDONLY), "open(wild path)");
#else
	printf("open(wild path): EFAULT ok\n");
#endif
	errno = 0;
	expect_efault(syscall(SYS_openat, AT_FDCWD, WILD, O_RDONLY), "openat(wild path)");
#ifdef SYS_fstat64
	errno = 0;
	expect_efault(syscall(SYS_fstat64, p[0], WILD), "fstat(pipe, wild)");
#else
	errno = 0;
	expect_efault(syscall(SYS_fstat, p[0], WILD), "fstat(pipe, wild)");
#endif
	errno = 0;
	expect_efault(syscall(SYS_getcwd, WILD, 256), "getcwd(wild, 256)");
	errno = 0;
	expect_efault(syscall(SYS_uname, WILD), "uname(wild)");
	errno = 0;
	expect_efault(syscall(SYS_pipe, WILD), "pipe(wild)");

	/* The wild iovec comes first: with a good first element Linux writes that part and
	 * returns a short count (and qemu-user treats later bad elements as empty). */
	struct iovec iov[2] = { { WILD, 8 }, { buf, 4 } };
	errno = 0;
	expect_efault(syscall(SYS_writev, p[1], iov, 2), "writev(pipe, [wild, ok])");
	CHECK(syscall(SYS_write, p[1], "xy", 2) == 2, "pipe write");
	errno = 0;
	expect_efault(syscall(SYS_readv, p[0], WILD, 1), "readv(pipe, wild iovec array)");
	CHECK(read(p[0], buf, sizeof buf) == 2, "drain pipe");

	errno = 0;
	expect_efault(syscall(SYS_write, 1, HIGH, 16), "write(1, high address, 16)");

	unsigned char *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(none != MAP_FAILED, "mmap PROT_NONE");
	errno = 0;
	expect_efault(syscall(SYS_write, 1, none, 16), "write(1, PROT_NONE page, 16)");

	unsigned char *ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED, "mmap PROT_READ");
	CHECK(syscall(SYS_write, p[1], "zz", 2) == 2, "pipe write");
	errno = 0;
	expect_efault(syscall(SYS_read, p[0], ro, 2), "read(pipe, read-only page, 2)");
	CHECK(read(p[0], buf, sizeof buf) == 2, "drain pipe");
	CHECK(ro[0] == 0 && ro[1] == 0, "read-only page changed");

	/* Positive case: read(2) into untouched anonymous pages. */
	unsigned char *fresh = mmap(NULL, (size_t)pages * pg, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *src = malloc(pg);
	CHECK(fresh != MAP_FAILED && src, "mmap/malloc");
	uint64_t h = FNV64_OFFSET;
	for (size_t i = 0; i < pages; i++) {
		for (size_t j = 0; j < pg; j++)
			src[j] = (unsigned char)(i * 31 + j * 7);
		CHECK(write(p[1], src, pg) == (ssize_t)pg, "pipe write page %llu",
		      (unsigned long long)i);
		CHECK(read(p[0], fresh + i * pg, pg) == (ssize_t)pg, "read into fresh page %llu: %s",
		      (unsigned long long)i, errno_name(errno));
		CHECK(memcmp(fresh + i * pg, src, pg) == 0, "fresh page %llu has wrong data",
		      (unsigned long long)i);
		h = fnv1a_bytes(h, fresh + i * pg, pg);
	}
	printf("read into %llu untouched pages: ok, fnv1a %016llx\n", (unsigned long long)pages,
	       (unsigned long long)h);

	munmap(fresh, (size_t)pages * pg);
	munmap(ro, pg);
	munmap(none, pg);
	free(src);
	printf("EFAULT ok\n");
	return 0;
}
