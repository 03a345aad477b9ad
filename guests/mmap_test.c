/* mmap_test — the address-space syscalls, with the data verified after every step.
 *
 * usage: mmap_test [SPARSE_MIB]        default: 32 (size of the sparse mapping in check "sparse")
 *
 * Prints one line per check ("ok <name>: ...") and stops at the first failure ("FAIL: ...",
 * exit 1). It never faults on purpose: whether a page is mapped, readable or writable is probed
 * through a pipe — write(2) from the page fails with EFAULT when it is not readable, read(2) into
 * it fails with EFAULT when it is not writable — so the emulator's pointer checks in the syscall
 * layer are exercised too.
 *
 * Checks: brk grow/shrink/regrow; anonymous private zero-fill; munmap of the middle, head and
 * tail of a mapping; MAP_FIXED over part of a mapping; mprotect RW→RO→RW on part of a mapping;
 * madvise(MADV_DONTNEED) on anonymous memory (reads zero); mremap grow in place, shrink, grow
 * with move, MREMAP_FIXED; file-backed private mappings of a temp file (contents, zero tail past
 * EOF, offset mapping, copy-on-write not reaching the file, MADV_DONTNEED reverting to the file);
 * a PROT_NONE reservation made accessible piecewise; a large sparse mapping touched once per
 * page; error returns (EINVAL) of malformed calls.
 */
#include "guest_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static size_t pg;
static int probe_pipe[2];

static void drain(void)
{
	char buf[64];
	while (read(probe_pipe[0], buf, sizeof buf) > 0)
		;
}

/* 1 if the kernel can read one byte at p, 0 if it reports EFAULT. */
static int readable(const void *p)
{
	ssize_t r = write(probe_pipe[1], p, 1);
	if (r == 1) {
		drain();
		return 1;
	}
	CHECK(r == -1 && errno == EFAULT, "probe write returned %ld errno %s", (long)r,
	      errno_name(errno));
	return 0;
}

/* 1 if the kernel can write one byte at p (p must be readable; its value is preserved),
 * 0 if it reports EFAULT. */
static int writable(unsigned char *p)
{
	unsigned char v = *(volatile unsigned char *)p;
	CHECK(write(probe_pipe[1], &v, 1) == 1, "probe pipe write");
	ssize_t r = read(probe_pipe[0], p, 1);
	if (r == 1) {
		CHECK(*p == v, "probe changed the byte");
		return 1;
	}
	CHECK(r == -1 && errno == EFAULT, "probe read returned %ld errno %s", (long)r,
	      errno_name(errno));
	drain();
	return 0;
}

static unsigned char pbyte(uint32_t tag, size_t off)
{
	uint32_t x = tag * 2246822519u + (uint32_t)off * 3266489917u;
	return (unsigned char)(x ^ (x >> 15) ^ (x >> 27));
}

static void fill(unsigned char *p, size_t n, uint32_t tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pbyte(tag, i);
}

/* Does [p, p+n) hold tag's pattern, as written by fill(base_of_pattern, ...) at offset off? */
static int holds(const unsigned char *p, size_t n, uint32_t tag, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pbyte(tag, off + i))
			return 0;
	return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static unsigned char *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap(%llu) failed: %s", (unsigned long long)len, errno_name(errno));
	CHECK(((uintptr_t)p & (pg - 1)) == 0, "mmap result not page aligned");
	return p;
}

static void check_brk(void)
{
	/* Raw brk: musl's sbrk() refuses non-zero increments. Restore the break afterwards so the
	 * libc's allocator (which may use brk) sees what it left. */
	uintptr_t cur = (uintptr_t)syscall(SYS_brk, 0);
	size_t len = 16 * pg;
	CHECK(cur != 0, "brk(0) returned 0");
	uintptr_t r = (uintptr_t)syscall(SYS_brk, cur + len);
	CHECK(r == cur + len, "brk grow by %llu failed", (unsigned long long)len);
	unsigned char *b = (unsigned char *)cur;
	/* Whole pages above the old break are new and zero (the partial page below may not be). */
	uintptr_t fresh = (cur + pg - 1) & ~(uintptr_t)(pg - 1);
	CHECK(all_zero((unsigned char *)fresh, cur + len - fresh), "new brk memory not zero");
	fill(b, len, 1);
	CHECK(holds(b, len, 1, 0), "brk memory lost data");
	r = (uintptr_t)syscall(SYS_brk, cur + len / 2);
	CHECK(r == cur + len / 2, "brk shrink failed");
	CHECK(holds(b, len / 2, 1, 0), "brk shrink lost the lower half");
	r = (uintptr_t)syscall(SYS_brk, cur + len);
	CHECK(r == cur + len, "brk regrow failed");
	/* Pages freed by the shrink come back zeroed; the partial page at the old break keeps
	 * its data up to the page boundary, so check only whole pages above it. */
	uintptr_t whole = (cur + len / 2 + pg - 1) & ~(uintptr_t)(pg - 1);
	CHECK(all_zero((unsigned char *)whole, cur + len - whole), "regrown brk memory not zero");
	r = (uintptr_t)syscall(SYS_brk, cur);
	CHECK(r == cur, "brk restore failed");
	printf("ok brk: grow 16 pages, shrink 8, regrow reads zero, restore\n");
}

static void check_anon_and_munmap(void)
{
	size_t n = 16;
	unsigned char *a = map_anon(n * pg, PROT_READ | PROT_WRITE);
	CHECK(all_zero(a, n * pg), "fresh anonymous mapping not zero");
	fill(a, n * pg, 2);
	CHECK(holds(a, n * pg, 2, 0), "anonymous mapping lost data");
	printf("ok anon-private: 16 pages zero-filled, written, verified\n");

	/* Middle, then head and tail. */
	CHECK(munmap(a + 6 * pg, 2 * pg) == 0, "munmap middle: %s", errno_name(errno));
	CHECK(!readable(a + 6 * pg) && !readable(a + 7 * pg + pg - 1), "munmapped middle readable");
	CHECK(holds(a, 6 * pg, 2, 0) && holds(a + 8 * pg, 8 * pg, 2, 8 * pg),
	      "munmap of the middle damaged the rest");
	CHECK(munmap(a, pg) == 0 && munmap(a + 15 * pg, pg) == 0, "munmap head/tail");
	CHECK(!readable(a) && !readable(a + 15 * pg), "munmapped head/tail readable");
	CHECK(holds(a + pg, 5 * pg, 2, pg) && holds(a + 8 * pg, 7 * pg, 2, 8 * pg),
	      "munmap of head/tail damaged the rest");
	printf("ok munmap: middle 2 pages, head and tail page; rest intact, holes unmapped\n");

	/* MAP_FIXED over pages 2..3 (inside the first remaining piece, pages 1..5). */
	void *f = mmap(a + 2 * pg, 2 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(f == a + 2 * pg, "MAP_FIXED did not map at the requested address");
	CHECK(all_zero(a + 2 * pg, 2 * pg), "MAP_FIXED replacement not zero");
	CHECK(holds(a + pg, pg, 2, pg) && holds(a + 4 * pg, 2 * pg, 2, 4 * pg),
	      "MAP_FIXED damaged its neighbours");
	fill(a + 2 * pg, 2 * pg, 3);
	CHECK(holds(a + 2 * pg, 2 * pg, 3, 0), "MAP_FIXED pages lost data");
	printf("ok map-fixed: 2 pages replaced inside a mapping, neighbours intact\n");

	/* mprotect pages 9..11 of the second piece (pages 8..14): RW -> RO -> RW. */
	unsigned char *m = a + 9 * pg;
	CHECK(mprotect(m, 3 * pg, PROT_READ) == 0, "mprotect RO: %s", errno_name(errno));
	CHECK(holds(m, 3 * pg, 2, 9 * pg), "mprotect RO changed data");
	CHECK(readable(m) && !writable(m) && !writable(m + 3 * pg - 1),
	      "read-only pages writable by the kernel");
	CHECK(writable(a + 8 * pg) && writable(a + 12 * pg), "neighbours of the RO range not writable");
	CHECK(mprotect(m, 3 * pg, PROT_READ | PROT_WRITE) == 0, "mprotect RW: %s", errno_name(errno));
	CHECK(writable(m + pg), "RW again but not writable");
	fill(m, 3 * pg, 4);
	CHECK(holds(m, 3 * pg, 4, 0) && holds(a + 8 * pg, pg, 2, 8 * pg) &&
	      holds(a + 12 * pg, 3 * pg, 2, 12 * pg), "data wrong after RW -> RO -> RW");
	printf("ok mprotect: RW -> RO -> RW on 3 pages inside a mapping, data preserved\n");

	/* madvise(MADV_DONTNEED) on pages 10..11: private anonymous memory reads zero again. */
	CHECK(madvise(a + 10 * pg, 2 * pg, MADV_DONTNEED) == 0, "madvise: %s", errno_name(errno));
	CHECK(all_zero(a + 10 * pg, 2 * pg), "MADV_DONTNEED pages not zero");
	CHECK(holds(a + 9 * pg, pg, 4, 0) && holds(a + 12 * pg, 3 * pg, 2, 12 * pg),
	      "MADV_DONTNEED damaged its neighbours");
	fill(a + 10 * pg, 2 * pg, 5);
	CHECK(holds(a + 10 * pg, 2 * pg, 5, 0), "rewritten MADV_DONTNEED pages lost data");
	printf("ok madvise-dontneed: 2 anonymous pages read zero, neighbours intact\n");

	CHECK(munmap(a, 16 * pg) == 0, "munmap of a range with holes");
	CHECK(!readable(a + pg) && !readable(a + 14 * pg), "pages still readable after munmap");
	printf("ok munmap-holes: one munmap over pieces and holes\n");
}

static void check_mremap(void)
{
	/* Reserve 16 pages so that growing 8 -> 16 in place has room, then free the top half. */
	unsigned char *r = map_anon(16 * pg, PROT_READ | PROT_WRITE);
	CHECK(munmap(r + 8 * pg, 8 * pg) == 0, "munmap top half");
	fill(r, 8 * pg, 6);
	void *g = mremap(r, 8 * pg, 16 * pg, 0);
	CHECK(g == r, "mremap grow in place moved or failed (%s)", errno_name(errno));
	CHECK(holds(r, 8 * pg, 6, 0) && all_zero(r + 8 * pg, 8 * pg), "mremap grow: data wrong");
	fill(r + 8 * pg, 8 * pg, 7);
	printf("ok mremap-grow-in-place: 8 -> 16 pages at the same address\n");

	g = mremap(r, 16 * pg, 4 * pg, 0);
	CHECK(g == r, "mremap shrink failed (%s)", errno_name(errno));
	CHECK(holds(r, 4 * pg, 6, 0) && !readable(r + 4 * pg) && !readable(r + 15 * pg),
	      "mremap shrink: data or tail wrong");
	printf("ok mremap-shrink: 16 -> 4 pages\n");

	/* Block in-place growth with a one-page mapping right after, then grow with MAYMOVE. */
	void *blk = mmap(r + 4 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(blk == r + 4 * pg, "blocker mapping");
	CHECK(mremap(r, 4 * pg, 12 * pg, 0) == MAP_FAILED && errno == ENOMEM,
	      "mremap without MAYMOVE should fail with ENOMEM when blocked");
	unsigned char *mv = mremap(r, 4 * pg, 12 * pg, MREMAP_MAYMOVE);
	CHECK(mv != MAP_FAILED && mv != r, "mremap MAYMOVE did not move (%s)", errno_name(errno));
	CHECK(holds(mv, 4 * pg, 6, 0) && all_zero(mv + 4 * pg, 8 * pg), "moved data wrong");
	CHECK(!readable(r) && !readable(r + 3 * pg), "old range still mapped after move");
	CHECK(all_zero(r + 4 * pg, pg), "blocker disturbed");
	munmap(blk, pg);
	fill(mv + 4 * pg, 8 * pg, 8);
	printf("ok mremap-move: 4 -> 12 pages with MREMAP_MAYMOVE past a blocker\n");

	/* MREMAP_FIXED onto a range we own (mremap unmaps whatever is there). */
	unsigned char *dst = map_anon(12 * pg, PROT_READ);
	unsigned char *fx = mremap(mv, 12 * pg, 12 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(fx == dst, "MREMAP_FIXED returned another address (%s)", errno_name(errno));
	CHECK(holds(fx, 4 * pg, 6, 0) && holds(fx + 4 * pg, 8 * pg, 8, 0), "MREMAP_FIXED data wrong");
	CHECK(writable(fx + 5 * pg), "MREMAP_FIXED did not keep the source protection");
	CHECK(!readable(mv) && !readable(mv + 11 * pg), "MREMAP_FIXED source still mapped");
	CHECK(munmap(fx, 12 * pg) == 0, "munmap");
	printf("ok mremap-fixed: 12 pages moved onto a chosen range\n");
}

static void check_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/mmap_test-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp in %s: %s", dir && *dir ? "$TMPDIR" : "/tmp", errno_name(errno));

	/* 3.5 pages of data. */
	size_t flen = 3 * pg + pg / 2;
	unsigned char *buf = malloc(flen);
	CHECK(buf != NULL, "malloc");
	fill(buf, flen, 9);
	CHECK(write(fd, buf, flen) == (ssize_t)flen, "write temp file");

	unsigned char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED, "file mmap: %s", errno_name(errno));
	CHECK(holds(m, flen, 9, 0), "file mapping contents differ from the file");
	CHECK(all_zero(m + flen, 4 * pg - flen), "file mapping tail past EOF not zero");
	printf("ok file-private: 3.5-page file mapped, contents match, tail past EOF zero\n");

	unsigned char *o = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, fd, (off_t)pg);
	CHECK(o != MAP_FAILED, "file mmap at offset: %s", errno_name(errno));
	CHECK(holds(o, 2 * pg, 9, pg), "offset mapping contents wrong");
	CHECK(!writable(o), "read-only file mapping writable by the kernel");
	CHECK(munmap(o, 2 * pg) == 0, "munmap");
	printf("ok file-offset: 2 pages at file offset 1 page, read-only\n");

	/* Copy-on-write: writing the private mapping must not reach the file. */
	memset(m + pg, 0xab, pg);
	CHECK(m[pg] == 0xab && m[2 * pg - 1] == 0xab, "write to private file mapping lost");
	unsigned char *chk = malloc(pg);
	CHECK(chk != NULL, "malloc");
	CHECK(pread(fd, chk, pg, (off_t)pg) == (ssize_t)pg, "pread");
	CHECK(holds(chk, pg, 9, pg), "write to a private mapping reached the file");
	CHECK(holds(m, pg, 9, 0) && holds(m + 2 * pg, pg, 9, 2 * pg), "COW damaged other pages");
	printf("ok file-cow: private write stays private, file unchanged\n");

	/* MADV_DONTNEED on a private file page drops the private copy: the file shows through. */
	CHECK(madvise(m + pg, pg, MADV_DONTNEED) == 0, "madvise: %s", errno_name(errno));
	CHECK(holds(m + pg, pg, 9, pg), "MADV_DONTNEED on a private file page did not revert");
	printf("ok file-dontneed: private copy dropped, file contents back\n");

	CHECK(munmap(m, 4 * pg) == 0, "munmap");
	CHECK(close(fd) == 0, "close");
	CHECK(unlink(path) == 0, "unlink: %s", errno_name(errno));
	free(chk);
	free(buf);
}

static void check_prot_none_reservation(void)
{
	unsigned char *res = map_anon(32 * pg, PROT_NONE);
	CHECK(!readable(res) && !readable(res + 31 * pg), "PROT_NONE readable");
	CHECK(mprotect(res + 8 * pg, 4 * pg, PROT_READ | PROT_WRITE) == 0, "mprotect: %s",
	      errno_name(errno));
	CHECK(all_zero(res + 8 * pg, 4 * pg), "committed pages not zero");
	fill(res + 8 * pg, 4 * pg, 10);
	CHECK(mprotect(res + 12 * pg, 4 * pg, PROT_READ | PROT_WRITE) == 0, "mprotect 2");
	fill(res + 12 * pg, 4 * pg, 11);
	CHECK(holds(res + 8 * pg, 4 * pg, 10, 0) && holds(res + 12 * pg, 4 * pg, 11, 0),
	      "committed pages lost data");
	CHECK(!readable(res + 7 * pg) && !readable(res + 16 * pg), "reservation edges readable");
	CHECK(munmap(res, 32 * pg) == 0, "munmap");
	printf("ok prot-none-reservation: 32 pages reserved, 8 made RW in two steps\n");
}

static void check_sparse(uint64_t mib)
{
	size_t len = (size_t)(mib << 20);
	unsigned char *s = map_anon(len, PROT_READ | PROT_WRITE);
	size_t pages = len / pg;
	for (size_t i = 0; i < pages; i += 3)
		s[i * pg + (i * 64) % pg] = (unsigned char)(i * 7 + 1);
	uint64_t sum = 0;
	for (size_t i = 0; i < pages; i++) {
		unsigned char want = i % 3 == 0 ? (unsigned char)(i * 7 + 1) : 0;
		CHECK(s[i * pg + (i * 64) % pg] == want, "sparse page %llu wrong",
		      (unsigned long long)i);
		sum += s[i * pg + (i * 64) % pg];
	}
	CHECK(munmap(s, len) == 0, "munmap");
	printf("ok sparse: %llu MiB, every 3rd page written, every page read, sum %llu\n",
	       (unsigned long long)mib, (unsigned long long)sum);
}

/* Raw system calls: musl's mprotect() rounds the start down to a page boundary itself. */
static void check_errors(void)
{
	unsigned char *a = map_anon(2 * pg, PROT_READ | PROT_WRITE);
	errno = 0;
	CHECK(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
	      errno == EINVAL, "mmap(len 0) should fail with EINVAL");
	errno = 0;
	CHECK(syscall(SYS_munmap, a + 1, pg) == -1 && errno == EINVAL,
	      "munmap(unaligned) should be EINVAL");
	errno = 0;
	CHECK(syscall(SYS_mprotect, a + 1, pg, PROT_READ) == -1 && errno == EINVAL,
	      "mprotect(unaligned) should be EINVAL");
	errno = 0;
	CHECK(syscall(SYS_mremap, a + 1, pg, 2 * pg, MREMAP_MAYMOVE) == -1 && errno == EINVAL,
	      "mremap(unaligned) should be EINVAL");
	errno = 0;
	CHECK(syscall(SYS_madvise, a + 1, pg, MADV_DONTNEED) == -1 && errno == EINVAL,
	      "madvise(unaligned) should be EINVAL");
	CHECK(a[0] == 0, "a failed call changed memory");
	CHECK(munmap(a, 2 * pg) == 0, "munmap");
	CHECK(munmap(a, 2 * pg) == 0, "munmap of an unmapped range should succeed");
	printf("ok errors: EINVAL for length 0 and unaligned addresses; munmap of a hole is fine\n");
}

int main(int argc, char **argv)
{
	uint64_t mib = arg_size(argc, argv, 1, 32, "sparse MiB");
	CHECK(mib >= 1 && mib <= 1024, "sparse MiB must be in 1..1024");
	pg = (size_t)sysconf(_SC_PAGESIZE);
	CHECK(pg == 4096, "page size %llu, expected 4096", (unsigned long long)pg);
	CHECK(pipe(probe_pipe) == 0, "pipe");
	CHECK(fcntl(probe_pipe[0], F_SETFL, O_NONBLOCK) == 0, "fcntl O_NONBLOCK");

	check_brk();
	check_anon_and_munmap();
	check_mremap();
	check_file();
	check_prot_none_reservation();
	check_sparse(mib);
	check_errors();
	printf("mmap_test ok\n");
	return 0;
}
