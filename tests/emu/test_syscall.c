/* Unit tests of the syscall layer (emu/syscall.c) without the engine: a real kernel model and
 * address space, guest memory made with km_mmap, and guest_syscall called directly with
 * uc = NULL (and a real Unicorn handle where a call touches registers). Every case runs for the
 * ABI it names, or for both; km_check runs after every case.
 *
 * Syscall numbers are looked up by name in the layer's own tables (test table_matches_headers
 * checks those tables against the installed <asm/unistd_{32,64}.h>). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"

/* The engine's guest_stop (engine.c) is not linked into this test: count the calls instead.
 * Weak, so that linking the whole emu library into the test later still works. */
static int stops;
__attribute__((weak)) void guest_stop(struct guest *g)
{
	(void)g;
	stops++;
}

static struct guest *g;
static char tmpdir[64];

static void setup_abi(bool is64)
{
	struct km_config cfg;
	char err[256];
	km_default_config(&cfg, is64 ? KM_ARCH_X86_64 : KM_ARCH_I386);
	cfg.mem_bytes = 256ULL << 20;
	if (!is64)
		cfg.lowmem_bytes = 128ULL << 20;   /* give the i386 machine some HighMem */
	g = calloc(1, sizeof *g);
	cr_assert_not_null(g);
	g->is64 = is64;
	g->km = km_new(&cfg, err, sizeof err);
	cr_assert_not_null(g->km, "km_new: %s", err);
	g->mm = km_mm_new(g->km);
	cr_assert_not_null(g->mm);
	ssize_t n = readlink("/proc/self/exe", g->exe_path, sizeof g->exe_path - 1);
	cr_assert_gt(n, 0);
	g->exe_path[n] = 0;
	guest_fds_init(g);
	stops = 0;
	strcpy(tmpdir, "/tmp/test_syscall-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void setup64(void) { setup_abi(true); }
static void setup32(void) { setup_abi(false); }

static void teardown(void)
{
	if (!g)
		return;
	const char *why = km_check(g->km, g->mm);
	cr_assert_null(why, "km_check: %s", why);
	guest_fds_close_all(g);
	km_mm_free(g->km, g->mm);
	km_free(g->km);
	free(g);
	g = NULL;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_expect_eq(system(cmd), 0);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t nr_of(const char *name)
{
	for (uint64_t nr = 0; nr < GUEST_MAX_SYSCALL; nr++) {
		const char *n = guest_syscall_name(g->is64, nr);
		if (n && strcmp(n, name) == 0)
			return nr;
	}
	cr_assert_fail("no syscall named %s for %s", name, g->is64 ? "x86-64" : "i386");
	return 0;
}

static int64_t sc6(const char *name, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5)
{
	uint64_t a[6] = { a0, a1, a2, a3, a4, a5 };
	return guest_syscall(g, nr_of(name), a);
}
#define SC(name, ...) sc6_(name, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define sc6_(name, a0, a1, a2, a3, a4, a5, ...) sc6(name, (uint64_t)(a0), (uint64_t)(a1), \
	(uint64_t)(a2), (uint64_t)(a3), (uint64_t)(a4), (uint64_t)(a5))
#define SC0(name) sc6(name, 0, 0, 0, 0, 0, 0)

/* got == want, saying what came back (a negative errno shows as such). */
#define RET(call, want) do { \
	int64_t got_ = (call), want_ = (int64_t)(want); \
	cr_assert_eq(got_, want_, "%s: got %lld, want %lld", #call, (long long)got_, (long long)want_); \
} while (0)

/* Anonymous guest memory. */
static uint64_t gmap(uint64_t len, int prot)
{
	int64_t r = km_mmap(g->km, g->mm, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	cr_assert_gt(r, 0, "km_mmap: %lld", (long long)r);
	return (uint64_t)r;
}

static void poke(uint64_t va, const void *p, size_t n) { cr_assert_eq(guest_write(g, va, p, n), 0); }
static void peek(uint64_t va, void *p, size_t n) { cr_assert_eq(guest_read(g, va, p, n), 0); }
static uint64_t gstr(uint64_t va, const char *s) { poke(va, s, strlen(s) + 1); return va; }
static uint32_t peek32(uint64_t va) { uint32_t v; peek(va, &v, 4); return v; }
static uint64_t peek64(uint64_t va) { uint64_t v; peek(va, &v, 8); return v; }

/* A guest pipe: fds[0] read end, fds[1] write end. */
static void gpipe(int fds[2])
{
	uint64_t buf = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("pipe", buf), 0);
	fds[0] = (int)peek32(buf);
	fds[1] = (int)peek32(buf + 4);
}

static const uint64_t WILD = 0x1234;
static const uint64_t AT_CWD = (uint64_t)(int64_t)AT_FDCWD;

struct abi { bool is64; };
static struct abi abis[] = { { true }, { false } };

/* ---- the tables ------------------------------------------------------------------------------ */

/* Every "#define __NR_name N" of the installed header names the same syscall in our table. */
static void check_header(bool is64, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		cr_log_warn("%s missing: table not checked", path);
		return;
	}
	char line[256], name[128];
	unsigned nr;
	int checked = 0;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "#define __NR_%127s %u", name, &nr) != 2)
			continue;
		const char *ours = guest_syscall_name(is64, nr);
		cr_expect(ours && strcmp(ours, name) == 0, "%s: %u is %s, our table says %s", path, nr,
			  name, ours ? ours : "(none)");
		checked++;
	}
	fclose(f);
	cr_expect_gt(checked, 300, "%s: only %d entries", path, checked);
}

Test(syscall_table, matches_installed_headers)
{
	check_header(true, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
	check_header(false, "/usr/include/x86_64-linux-gnu/asm/unistd_32.h");
	cr_expect_str_eq(guest_syscall_name(false, 192), "mmap2");
	cr_expect_str_eq(guest_syscall_name(false, 90), "mmap");
	cr_expect_str_eq(guest_syscall_name(true, 462), "mseal");
	cr_expect_null(guest_syscall_name(true, 400));   /* a hole in the x86-64 table */
	cr_expect_null(guest_syscall_name(true, 100000));
}

/* ---- accounting ------------------------------------------------------------------------------- */

ParameterizedTestParameters(syscall, counts_unknown_and_total) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, counts_unknown_and_total)
{
	setup_abi(p->is64);
	uint64_t fork_nr = nr_of("fork");
	RET(SC0("fork"), -ENOSYS);
	RET(SC0("getpid"), getpid());
	uint64_t a[6] = { 0 };
	cr_assert_eq(guest_syscall(g, 600, a), -ENOSYS);
	cr_assert_eq(g->unknown_count[fork_nr], 1);
	cr_assert_eq(g->syscall_count[fork_nr], 1);
	cr_assert_eq(g->syscall_other, 1);
	cr_assert_eq(g->syscalls_total, 3);
	RET(SC("uname", WILD), -EFAULT);
	cr_assert_eq(g->efaults, 1);
	teardown();
}

/* ---- read and write --------------------------------------------------------------------------- */

ParameterizedTestParameters(syscall, pipe_round_trip) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, pipe_round_trip)
{
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	cr_assert_geq(fds[0], 3);
	uint64_t buf = gmap(8192, PROT_READ | PROT_WRITE);
	gstr(buf, "hello, pipe");
	RET(SC("write", fds[1], buf, 11), 11);
	RET(SC("read", fds[0], buf + 4096, 100), 11);
	char out[12] = { 0 };
	peek(buf + 4096, out, 11);
	cr_assert_str_eq(out, "hello, pipe");
	RET(SC("close", fds[0]), 0);
	RET(SC("close", fds[0]), -EBADF);
	RET(SC("read", 5000, buf, 1), -EBADF);
	RET(SC("read", (uint64_t)-1, buf, 1), -EBADF);
	teardown();
}

/* A bad destination must not consume the pipe's data (the efault guest checks this natively). */
ParameterizedTestParameters(syscall, read_into_bad_buffer_leaves_pipe_data) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, read_into_bad_buffer_leaves_pipe_data)
{
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	uint64_t buf = gmap(4096, PROT_READ | PROT_WRITE);
	uint64_t ro = gmap(4096, PROT_READ);
	gstr(buf, "0123456789abcdef");
	RET(SC("write", fds[1], buf, 16), 16);
	RET(SC("read", fds[0], WILD, 16), -EFAULT);
	RET(SC("read", fds[0], ro, 16), -EFAULT);
	RET(SC("read", fds[0], p->is64 ? 0xffff800000001000ULL : 0xfffff000ULL, 16), -EFAULT);
	RET(SC("read", fds[0], buf + 100, 64), 16);
	char out[17] = { 0 };
	peek(buf + 100, out, 16);
	cr_assert_str_eq(out, "0123456789abcdef");
	teardown();
}

/* A write from a buffer whose second page is unmapped writes the first page and stops. */
ParameterizedTestParameters(syscall, write_stops_at_bad_page) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, write_stops_at_bad_page)
{
	setup_abi(p->is64);
	char path[128];
	snprintf(path, sizeof path, "%s/f", tmpdir);
	uint64_t s = gmap(4096, PROT_READ | PROT_WRITE);
	uint64_t two = gmap(3 * 4096, PROT_READ | PROT_WRITE);
	cr_assert_eq(km_munmap(g->km, g->mm, two + 4096, 4096), 0);   /* a hole after page one */
	gstr(s, path);
	int fd = (int)SC("open", s, O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 3);
	RET(SC("write", fd, two + 4000, 200), 96);
	RET(SC("write", fd, two + 4096, 200), -EFAULT);
	/* A write-only problem is reported before the buffer: EBADF beats EFAULT. */
	int ro = (int)SC("open", s, O_RDONLY);
	RET(SC("write", ro, WILD, 16), -EBADF);
	teardown();
}

/* A huge count is bounded by the file, never by a host allocation of that size; a range past
 * the end of the address space is -EFAULT before anything happens. */
ParameterizedTestParameters(syscall, huge_counts_are_bounded) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, huge_counts_are_bounded)
{
	setup_abi(p->is64);
	char path[128];
	snprintf(path, sizeof path, "%s/big", tmpdir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 300000; i++)
		fputc('a' + i % 26, f);
	fclose(f);
	uint64_t s = gmap(4096, PROT_READ | PROT_WRITE);
	gstr(s, path);
	int fd = (int)SC("open", s, O_RDONLY);
	cr_assert_geq(fd, 3);
	uint64_t buf = gmap((1 << 20) + 4096, PROT_READ | PROT_WRITE);
	cr_assert_eq(km_munmap(g->km, g->mm, buf + (1 << 20), 4096), 0);   /* a hole after 1 MiB */
	/* A range past TASK_SIZE is -EFAULT (access_ok); up to the very top of the user address
	 * space it is valid, and the read gets the whole file (300000 bytes fit in 1 MiB). */
	RET(SC("read", fd, buf, p->is64 ? 1ULL << 47 : 0xc0000000ULL), -EFAULT);
	RET(SC("read", fd, buf, km_mm_task_size(g->mm) - buf), 300000);
	char c[2];
	peek(buf + 299998, c, 2);
	cr_assert(c[0] == 'a' + 299998 % 26 && c[1] == 'a' + 299999 % 26);
	/* A read larger than the mapping stops at its end: 1 MiB mapped, the file is re-read
	 * from 0, only 4096 bytes of room left before the unmapped gap. */
	SC(p->is64 ? "lseek" : "lseek", fd, 0, SEEK_SET);
	RET(SC("read", fd, buf + (1 << 20) - 4096, 1 << 24), 4096);
	/* getrandom with a huge length fills what is mapped and stops. */
	RET(SC("getrandom", buf, 1 << 24, 0), 1 << 20);
	teardown();
}

ParameterizedTestParameters(syscall, iovecs) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, iovecs)
{
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	uint64_t vec = m + 1024;
	gstr(m, "abc");
	gstr(m + 16, "defgh");
	/* struct iovec: two longs. */
	if (p->is64) {
		uint64_t v[4] = { m, 3, m + 16, 5 };
		poke(vec, v, sizeof v);
	} else {
		uint32_t v[4] = { (uint32_t)m, 3, (uint32_t)m + 16, 5 };
		poke(vec, v, sizeof v);
	}
	RET(SC("writev", fds[1], vec, 2), 8);
	RET(SC("readv", fds[0], vec, 2), 8);   /* back into the same two segments */
	char out[9] = { 0 };
	peek(m, out, 3);
	peek(m + 16, out + 3, 5);
	cr_assert_str_eq(out, "abcdefgh");
	RET(SC("writev", fds[1], vec, 1025), -EINVAL);
	RET(SC("writev", fds[1], vec, 0), 0);
	RET(SC("readv", fds[0], WILD, 1), -EFAULT);
	/* [zero-length, wild]: nothing can be written -> EFAULT (the efault guest's case). */
	if (p->is64) {
		uint64_t v[4] = { m, 0, WILD, 8 };
		poke(vec, v, sizeof v);
	} else {
		uint32_t v[4] = { (uint32_t)m, 0, (uint32_t)WILD, 8 };
		poke(vec, v, sizeof v);
	}
	RET(SC("writev", fds[1], vec, 2), -EFAULT);
	/* A negative length is -EINVAL. */
	if (p->is64) {
		uint64_t v[2] = { m, (uint64_t)-1 };
		poke(vec, v, sizeof v);
	} else {
		uint32_t v[2] = { (uint32_t)m, 0x80000000u };
		poke(vec, v, sizeof v);
	}
	RET(SC("writev", fds[1], vec, 1), -EINVAL);
	teardown();
}

Test(syscall, i386_pread64_and_llseek_split_offsets, .init = setup32, .fini = teardown)
{
	char path[128];
	snprintf(path, sizeof path, "%s/off", tmpdir);
	uint64_t m = gmap(8192, PROT_READ | PROT_WRITE);
	gstr(m, path);
	int fd = (int)SC("open", m, O_CREAT | O_RDWR, 0600);
	gstr(m + 4096, "XYZ");
	/* pwrite64(fd, buf, 3, pos = 0x1_0000_0005): lo in esi, hi in edi. */
	RET(SC("pwrite64", fd, m + 4096, 3, 5, 1), 3);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 0x100000008LL);
	/* _llseek(fd, hi, lo, &result, SEEK_SET) */
	RET(SC("_llseek", fd, 1, 5, m + 100, SEEK_SET), 0);
	cr_assert_eq(peek64(m + 100), 0x100000005ULL);
	RET(SC("read", fd, m + 200, 10), 3);
	/* lseek's 32-bit off_t cannot hold the position: EOVERFLOW. */
	RET(SC("lseek", fd, 0, SEEK_CUR), -EOVERFLOW);
	RET(SC("pread64", fd, m + 300, 3, 5, 1), 3);
	char out[4] = { 0 };
	peek(m + 300, out, 3);
	cr_assert_str_eq(out, "XYZ");
	RET(SC("pread64", fd, m + 300, 3, 0, 0x80000000u), -EINVAL);
	RET(SC("ftruncate64", fd, 16, 0), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 16);
}

/* ---- paths ------------------------------------------------------------------------------------ */

ParameterizedTestParameters(syscall, path_errors) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, path_errors)
{
	setup_abi(p->is64);
	uint64_t m = gmap(3 * 4096, PROT_READ | PROT_WRITE);
	char *longp = malloc(PATH_MAX + 10);
	memset(longp, 'x', PATH_MAX + 9);
	longp[0] = '/';
	longp[PATH_MAX + 9] = 0;
	poke(m, longp, PATH_MAX + 10);
	free(longp);
	RET(SC("openat", AT_CWD, m, O_RDONLY), -ENAMETOOLONG);
	RET(SC("openat", AT_CWD, WILD, O_RDONLY), -EFAULT);
	gstr(m, "");
	RET(SC("openat", AT_CWD, m, O_RDONLY), -ENOENT);
	gstr(m, "relative");
	RET(SC("openat", 777, m, O_RDONLY), -EBADF);
	gstr(m, "/nonexistent/x");
	RET(SC("openat", 777, m, O_RDONLY), -ENOENT);   /* absolute: dirfd ignored */
	teardown();
}

ParameterizedTestParameters(syscall, proc_self_is_the_guest) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, proc_self_is_the_guest)
{
	setup_abi(p->is64);
	strcpy(g->exe_path, "/bin/sh");   /* pretend the guest is /bin/sh */
	char sh[PATH_MAX];
	cr_assert_not_null(realpath("/bin/sh", sh));
	uint64_t m = gmap(8192, PROT_READ | PROT_WRITE);
	gstr(m, "/proc/self/exe");
	RET(SC("readlink", m, m + 4096, 4096), 7);
	char out[PATH_MAX] = { 0 };
	peek(m + 4096, out, 7);
	cr_assert_str_eq(out, "/bin/sh");
	RET(SC("readlink", m, m + 4096, 3), 3);      /* truncated, no NUL */
	RET(SC("readlink", m, m + 4096, 0), -EINVAL);
	int fd = (int)SC("open", m, O_RDONLY);
	cr_assert_geq(fd, 0);
	struct stat want;
	cr_assert_eq(stat("/bin/sh", &want), 0);
	RET(SC(p->is64 ? "fstat" : "fstat64", fd, m + 4096), 0);
	uint64_t ino = p->is64 ? peek64(m + 4096 + 8) : peek64(m + 4096 + 88);
	cr_assert_eq(ino, want.st_ino);

	/* /proc/self/fd/N is the guest's N. */
	int fds[2];
	gpipe(fds);
	char name[64];
	snprintf(name, sizeof name, "/proc/self/fd/%d", fds[0]);
	gstr(m, name);
	int64_t n = SC("readlink", m, m + 4096, 100);
	cr_assert_gt(n, 5);
	memset(out, 0, sizeof out);
	peek(m + 4096, out, (size_t)n);
	cr_assert(strncmp(out, "pipe:[", 6) == 0, "%s", out);
	gstr(m, "/proc/self/fd/999");
	RET(SC("readlink", m, m + 4096, 100), -ENOENT);

	/* /proc/self/maps comes from the kernel model. */
	gstr(m, "/proc/self/maps");
	fd = (int)SC("open", m, O_RDONLY);
	cr_assert_geq(fd, 0);
	n = SC("read", fd, m + 4096, 4000);
	cr_assert_gt(n, 10);
	memset(out, 0, sizeof out);
	peek(m + 4096, out, (size_t)n);
	cr_assert_null(strstr(out, "[vdso]"), "host maps leaked: %s", out);
	RET(SC("open", m, O_RDWR), -EACCES);

	/* mmuemu's own memory is out of reach. */
	gstr(m, "/proc/self/mem");
	RET(SC("open", m, O_RDONLY), -EACCES);
	snprintf(name, sizeof name, "/proc/%d/mem", getpid());
	gstr(m, name);
	RET(SC("open", m, O_RDWR), -EACCES);
	teardown();
}

/* ---- descriptors ------------------------------------------------------------------------------ */

ParameterizedTestParameters(syscall, dup2_over_stdout_keeps_host_stdout) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, dup2_over_stdout_keeps_host_stdout)
{
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("dup2", fds[1], 1), 1);
	gstr(m, "to pipe");
	RET(SC("write", 1, m, 7), 7);
	RET(SC("read", fds[0], m + 100, 100), 7);
	cr_assert_neq(fcntl(1, F_GETFD), -1, "the host's stdout was closed");
	RET(SC("close", 1), 0);
	cr_assert_neq(fcntl(1, F_GETFD), -1, "the host's stdout was closed");
	RET(SC("write", 1, m, 7), -EBADF);
	RET(SC("dup2", fds[1], 1024), -EBADF);
	RET(SC("dup2", 900, 5), -EBADF);
	RET(SC("dup2", fds[0], fds[0]), fds[0]);
	RET(SC("dup3", fds[0], fds[0], 0), -EINVAL);
	RET(SC("dup3", fds[0], 50, O_CLOEXEC), 50);
	RET(SC("fcntl", 50, F_GETFD), FD_CLOEXEC);
	RET(SC("fcntl", 50, F_SETFD, 0), 0);
	RET(SC("fcntl", 50, F_GETFD), 0);
	RET(SC("fcntl", 50, F_DUPFD, 40), 40);
	RET(SC("fcntl", 50, F_DUPFD_CLOEXEC, 40), 41);
	RET(SC("fcntl", 41, F_GETFD), FD_CLOEXEC);
	RET(SC("fcntl", 50, F_DUPFD, 1024), -EINVAL);
	RET(SC("fcntl", 50, F_GETFL), O_RDONLY);
	RET(SC("fcntl", 50, F_SETOWN, getpid()), -EINVAL);
	RET(SC("ioctl", 50, FIOCLEX), 0);
	RET(SC("fcntl", 50, F_GETFD), FD_CLOEXEC);
	/* ioctl: FIONREAD on a pipe, TCGETS on a pipe is ENOTTY, unknown is ENOTTY. */
	RET(SC("write", fds[1], m, 5), 5);
	RET(SC("ioctl", fds[0], FIONREAD, m + 200), 0);
	cr_assert_eq(peek32(m + 200), 5);
	RET(SC("ioctl", fds[0], FIONREAD, WILD), -EFAULT);
	RET(SC("ioctl", fds[0], TCGETS, m + 200), -ENOTTY);
	RET(SC("ioctl", fds[0], 0x12345678, m + 200), -ENOTTY);
	/* The table fills up at GUEST_MAX_FDS. */
	int64_t last = 0;
	for (int i = 0; i < GUEST_MAX_FDS + 5 && last >= 0; i++)
		last = SC("dup", fds[0]);
	cr_assert_eq(last, -EMFILE);
	RET(SC("pipe", m), -EMFILE);
	teardown();
}

ParameterizedTestParameters(syscall, pipe_with_bad_array_leaks_nothing) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, pipe_with_bad_array_leaks_nothing)
{
	setup_abi(p->is64);
	RET(SC("pipe", WILD), -EFAULT);
	for (int i = 3; i < GUEST_MAX_FDS; i++)
		cr_assert_lt(g->fds[i].host_fd, 0, "guest fd %d left open", i);
	RET(SC("pipe2", WILD, 0x4000000), -EINVAL);
	teardown();
}

/* ---- stat layouts --------------------------------------------------------------------------- */

Test(syscall, stat_x86_64_layout, .init = setup64, .fini = teardown)
{
	uint64_t m = gmap(8192, PROT_READ | PROT_WRITE);
	gstr(m, "/bin/sh");
	struct stat st;
	cr_assert_eq(stat("/bin/sh", &st), 0);
	RET(SC("stat", m, m + 4096), 0);
	cr_assert_eq(peek64(m + 4096 + 8), st.st_ino);
	cr_assert_eq(peek64(m + 4096 + 48), (uint64_t)st.st_size);    /* st_size at 48 */
	cr_assert_eq(peek32(m + 4096 + 24), st.st_mode);              /* st_mode at 24 */
	RET(SC("newfstatat", AT_CWD, m, m + 4096, 0x12345), -EINVAL);
	RET(SC("newfstatat", AT_CWD, m, WILD, 0), -EFAULT);
	/* statx */
	RET(SC("statx", AT_CWD, m, 0, 0x7ff, m + 4096), 0);
	cr_assert_eq(peek64(m + 4096 + 32), st.st_ino);               /* stx_ino at 32 */
	cr_assert_eq(peek64(m + 4096 + 40), (uint64_t)st.st_size);    /* stx_size at 40 */
}

Test(syscall, stat_i386_layouts, .init = setup32, .fini = teardown)
{
	uint64_t m = gmap(8192, PROT_READ | PROT_WRITE);
	char path[128];
	snprintf(path, sizeof path, "%s/sized", tmpdir);
	FILE *f = fopen(path, "w");
	fputs("twelve bytes", f);
	fclose(f);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	gstr(m, path);
	/* struct stat64: st_mode 16, st_size 44, st_ino 88; 96 bytes */
	RET(SC("stat64", m, m + 4096), 0);
	cr_assert_eq(peek32(m + 4096 + 16), st.st_mode);
	cr_assert_eq(peek64(m + 4096 + 44), 12);
	cr_assert_eq(peek64(m + 4096 + 88), st.st_ino);
	cr_assert_eq(peek32(m + 4096 + 12), (uint32_t)st.st_ino);
	int fd = (int)SC("open", m, O_RDONLY);
	RET(SC("fstatat64", fd, m + 4000, m + 4096, AT_EMPTY_PATH), 0);  /* "" + EMPTY_PATH */
	cr_assert_eq(peek64(m + 4096 + 44), 12);
	/* old struct stat (nr 106): st_size at 20 */
	RET(SC("stat", m, m + 4096), 0);
	cr_assert_eq(peek32(m + 4096 + 20), 12);
	/* statfs64 wants its own size */
	RET(SC("statfs64", m, 84, m + 4096), 0);
	RET(SC("statfs64", m, 88, m + 4096), -EINVAL);
}

ParameterizedTestParameters(syscall, directory_calls) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, directory_calls)
{
	setup_abi(p->is64);
	uint64_t m = gmap(3 * 4096, PROT_READ | PROT_WRITE);
	gstr(m, tmpdir);
	RET(SC("mkdirat", AT_CWD, gstr(m + 1024, "/tmp/..")), -EEXIST);
	int dfd = (int)SC("open", m, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	RET(SC("mkdirat", dfd, gstr(m + 1024, "sub"), 0755), 0);
	RET(SC("mkdirat", dfd, m + 1024, 0755), -EEXIST);
	int fd = (int)SC("openat", dfd, gstr(m + 1024, "file"), O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	RET(SC("renameat", dfd, m + 1024, dfd, gstr(m + 2048, "renamed")), 0);
	RET(SC("faccessat", dfd, m + 2048, R_OK), 0);
	RET(SC("faccessat", dfd, m + 1024, R_OK), -ENOENT);
	RET(SC("symlinkat", gstr(m + 1024, "renamed"), dfd, gstr(m + 2048, "link")), 0);
	RET(SC("readlinkat", dfd, m + 2048, m + 3000, 100), 7);
	int64_t n = SC("getdents64", dfd, m + 4096, 8192);
	cr_assert_gt(n, 0);
	/* walk linux_dirent64 records */
	int seen = 0;
	for (int64_t off = 0; off < n;) {
		uint8_t hdr[19];
		peek(m + 4096 + (uint64_t)off, hdr, sizeof hdr);
		uint16_t reclen;
		memcpy(&reclen, hdr + 16, 2);
		char name[256] = { 0 };
		peek(m + 4096 + (uint64_t)off + 19, name, reclen - 19);
		seen += !strcmp(name, "sub") + !strcmp(name, "renamed") + !strcmp(name, "link");
		off += reclen;
	}
	cr_assert_eq(seen, 3);
	RET(SC("getdents64", dfd, WILD, 8192), -EFAULT);
	RET(SC("unlinkat", dfd, gstr(m + 1024, "sub"), AT_REMOVEDIR), 0);
	/* getcwd */
	RET(SC("getcwd", m, 2), -ERANGE);
	RET(SC("getcwd", WILD, 4096), -EFAULT);
	n = SC("getcwd", m, 4096);
	char cwd[PATH_MAX];
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	cr_assert_eq(n, (int64_t)strlen(cwd) + 1);
	teardown();
}

/* ---- memory ----------------------------------------------------------------------------------- */

ParameterizedTestParameters(syscall, mmap_family_goes_to_the_model) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, mmap_family_goes_to_the_model)
{
	setup_abi(p->is64);
	const char *mm = p->is64 ? "mmap" : "mmap2";
	int64_t a = SC(mm, 0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_gt(a, 0);
	poke((uint64_t)a + 5000, "x", 1);
	RET(SC("mprotect", a, 4096, PROT_READ), 0);
	int pfd[2];
	gpipe(pfd);
	RET(SC("read", pfd[0], a, 1), -EFAULT);   /* read-only now: a kernel write faults */
	RET(SC("munmap", a, 3 * 4096), 0);
	uint8_t b;
	cr_assert_neq(guest_read(g, (uint64_t)a + 5000, &b, 1), 0);
	RET(SC(mm, 0, 4096, PROT_READ, MAP_PRIVATE, 999, 0), -EBADF);
	/* file-backed: guest fd -> page cache */
	char path[128];
	snprintf(path, sizeof path, "%s/mapped", tmpdir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 3 * 4096; i++)
		fputc('A' + i / 4096, f);
	fclose(f);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	gstr(m, path);
	int fd = (int)SC("open", m, O_RDONLY);
	/* offset one page: x86-64 in bytes, mmap2 in pages */
	a = SC(mm, 0, 4096, PROT_READ, MAP_PRIVATE, fd, p->is64 ? 4096 : 1);
	cr_assert_gt(a, 0);
	char c;
	peek((uint64_t)a + 10, &c, 1);
	cr_assert_eq(c, 'B');
	RET(SC("close", fd), 0);   /* the mapping keeps its own reference */
	peek((uint64_t)a + 20, &c, 1);
	cr_assert_eq(c, 'B');
	if (p->is64) {
		RET(SC("mmap", 0, 4096, PROT_READ, MAP_PRIVATE, fd, 100), -EINVAL);
	} else {
		/* old mmap (nr 90): one pointer to six 32-bit arguments */
		fd = (int)SC("open", m, O_RDONLY);
		uint32_t args[6] = { 0, 4096, PROT_READ, MAP_PRIVATE, (uint32_t)fd, 2 * 4096 };
		poke(m + 1024, args, sizeof args);
		a = SC("mmap", m + 1024);
		cr_assert_gt(a, 0);
		peek((uint64_t)a, &c, 1);
		cr_assert_eq(c, 'C');
		RET(SC("mmap", WILD), -EFAULT);
	}
	/* brk */
	km_mm_set_brk(g->mm, 0x01000000);
	RET(SC("brk", 0), 0x01000000);
	RET(SC("brk", 0x01002000), 0x01002000);
	poke(0x01001000, "y", 1);
	teardown();
}

/* ---- process, time, resources ----------------------------------------------------------------- */

ParameterizedTestParameters(syscall, uname_machine) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, uname_machine)
{
	setup_abi(p->is64);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("uname", m), 0);
	char machine[65];
	peek(m + 4 * 65, machine, 65);
	cr_assert_str_eq(machine, p->is64 ? "x86_64" : "i686");
	char sysname[65];
	peek(m, sysname, 65);
	cr_assert_str_eq(sysname, "Linux");
	teardown();
}

Test(syscall, i386_time_layouts, .init = setup32, .fini = teardown)
{
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	poke(m, (char[64]){ 0 }, 64);
	RET(SC("clock_gettime", CLOCK_REALTIME, m), 0);
	uint32_t sec32 = peek32(m), nsec32 = peek32(m + 4);
	cr_assert_gt(sec32, 1577836800u);
	cr_assert_lt(nsec32, 1000000000u);
	cr_assert_eq(peek32(m + 8), 0, "the old timespec is 8 bytes");
	RET(SC("clock_gettime64", CLOCK_REALTIME, m + 16), 0);
	cr_assert_geq(peek64(m + 16), sec32);
	cr_assert_lt(peek64(m + 24), 1000000000u);
	RET(SC("clock_gettime", CLOCK_REALTIME, WILD), -EFAULT);
	RET(SC("clock_gettime", (uint64_t)(int64_t)-5, m), -EINVAL);  /* a CLOCKFD id */
	int64_t t = SC("time", m + 40);
	cr_assert_eq(peek32(m + 40), (uint32_t)t);
	RET(SC("gettimeofday", m + 48, 0), 0);
	cr_assert_gt(peek32(m + 48), 1577836800u);
	/* nanosleep: 1 ms, and an invalid one */
	uint32_t ts[2] = { 0, 1000000 };
	poke(m + 64, ts, 8);
	RET(SC("nanosleep", m + 64, 0), 0);
	ts[1] = 1000000000;
	poke(m + 64, ts, 8);
	RET(SC("nanosleep", m + 64, 0), -EINVAL);
}

ParameterizedTestParameters(syscall, sysinfo_from_the_model) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, sysinfo_from_the_model)
{
	setup_abi(p->is64);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("sysinfo", m), 0);
	uint64_t total, freer, totalhigh, unit;
	uint16_t procs;
	if (p->is64) {
		total = peek64(m + 32);
		freer = peek64(m + 40);
		peek(m + 80, &procs, 2);
		totalhigh = peek64(m + 88);
		unit = peek32(m + 104);
	} else {
		total = peek32(m + 16);
		freer = peek32(m + 20);
		peek(m + 40, &procs, 2);
		totalhigh = peek32(m + 44);
		unit = peek32(m + 52);
	}
	cr_assert_eq(unit, 1);
	cr_assert_leq(total, 256ULL << 20);
	cr_assert_gt(total, 200ULL << 20);
	cr_assert_lt(freer, total);
	cr_assert_eq(procs, 1);
	if (p->is64)
		cr_assert_eq(totalhigh, 0);
	else
		cr_assert_gt(totalhigh, 100ULL << 20, "i386: 128 MiB of HighMem, got %llu",
			     (unsigned long long)totalhigh);
	teardown();
}

ParameterizedTestParameters(syscall, rlimits) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, rlimits)
{
	setup_abi(p->is64);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("prlimit64", 0, RLIMIT_STACK, 0, m), 0);
	cr_assert_eq(peek64(m), km_get_config(g->km)->rlimit_stack);
	cr_assert_eq(peek64(m + 8), ~0ULL);
	RET(SC("prlimit64", 0, RLIMIT_NOFILE, 0, m), 0);
	cr_assert_eq(peek64(m), GUEST_MAX_FDS);
	RET(SC(p->is64 ? "getrlimit" : "ugetrlimit", RLIMIT_STACK, m), 0);
	if (p->is64) {
		cr_assert_eq(peek64(m + 8), ~0ULL);
	} else {
		cr_assert_eq(peek32(m + 4), 0xffffffffu);
		RET(SC("getrlimit", RLIMIT_STACK, m), 0);    /* the old one clamps */
		cr_assert_eq(peek32(m + 4), 0x7fffffffu);
	}
	RET(SC("prlimit64", 0, 99, 0, m), -EINVAL);
	RET(SC("prlimit64", 1, RLIMIT_STACK, 0, m), -ESRCH);
	uint64_t bad[2] = { 10, 5 };
	poke(m + 100, bad, 16);
	RET(SC("prlimit64", 0, RLIMIT_CORE, m + 100, 0), -EINVAL);
	struct rlimit host_before;
	getrlimit(RLIMIT_CORE, &host_before);
	uint64_t lower[2] = { 0, 0 };
	poke(m + 100, lower, 16);
	RET(SC("prlimit64", 0, RLIMIT_CORE, m + 100, 0), 0);
	struct rlimit host_after;
	getrlimit(RLIMIT_CORE, &host_after);
	cr_assert_eq(host_after.rlim_max, host_before.rlim_max, "the host's limit changed");
	teardown();
}

ParameterizedTestParameters(syscall, signals_recorded) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, signals_recorded)
{
	setup_abi(p->is64);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	size_t sz = p->is64 ? 32 : 20;
	uint8_t act[32] = { 0 };
	uint64_t handler = 0x401000, mask = 1ULL << (SIGUSR2 - 1);
	memcpy(act, &handler, p->is64 ? 8 : 4);
	memcpy(act + (p->is64 ? 24 : 12), &mask, 8);
	poke(m, act, sz);
	RET(SC("rt_sigaction", SIGUSR1, m, 0, 8), 0);
	RET(SC("rt_sigaction", SIGUSR1, 0, m + 100, 8), 0);
	uint8_t back[32];
	peek(m + 100, back, sz);
	cr_assert_eq(memcmp(back, act, sz), 0);
	RET(SC("rt_sigaction", SIGKILL, m, 0, 8), -EINVAL);
	RET(SC("rt_sigaction", SIGUSR1, m, 0, 4), -EINVAL);
	RET(SC("rt_sigaction", 65, m, 0, 8), -EINVAL);
	uint64_t set = 1ULL << (SIGUSR1 - 1) | 1ULL << (SIGKILL - 1);
	poke(m + 200, &set, 8);
	RET(SC("rt_sigprocmask", SIG_BLOCK, m + 200, m + 208, 8), 0);
	RET(SC("rt_sigprocmask", SIG_BLOCK, 0, m + 208, 8), 0);
	cr_assert_eq(peek64(m + 208), 1ULL << (SIGUSR1 - 1), "SIGKILL cannot be blocked");
	RET(SC("rt_sigprocmask", 7, m + 200, 0, 8), -EINVAL);
	teardown();
}

ParameterizedTestParameters(syscall, self_signals_and_exit) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, self_signals_and_exit)
{
	setup_abi(p->is64);
	int pid = getpid();
	RET(SC("kill", pid, 0), 0);
	RET(SC("kill", 1, SIGTERM), -ESRCH);
	RET(SC("kill", pid, 99), -EINVAL);
	RET(SC("kill", pid, SIGCHLD), 0);      /* default: ignored */
	cr_assert_eq(stops, 0);
	cr_assert_eq(g->fatal_signal, 0);
	RET(SC("tgkill", pid, pid, SIGABRT), 0);
	cr_assert_eq(stops, 1);
	cr_assert_eq(g->fatal_signal, SIGABRT);
	cr_assert_eq(g->fatal_si_code, SI_TKILL);
	RET(SC("exit_group", 300), 0);
	cr_assert(g->exited);
	cr_assert_eq(g->exit_code, 300 & 0xff);
	cr_assert_eq(stops, 2);
	teardown();
}

Test(syscall, set_thread_area_builds_tls_descriptors, .init = setup32, .fini = teardown)
{
	uint8_t gdt[32 * 8] = { 0 };
	g->gdt = gdt;
	g->gdt_entries = 32;
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	/* entry -1, base 0x12345678, limit 0xfffff, seg_32bit | limit_in_pages | useable */
	uint32_t ud[4] = { 0xffffffffu, 0x12345678u, 0xfffffu, 1u | 1u << 4 | 1u << 6 };
	poke(m, ud, sizeof ud);
	RET(SC("set_thread_area", m), 0);
	cr_assert_eq(peek32(m), 6, "the first TLS entry is GDT 6");
	uint64_t d;
	memcpy(&d, gdt + 6 * 8, 8);
	/* base 31:24 = 0x12 | G D/B AVL | limit 19:16 f | P DPL3 S type 0011 (data RW accessed) |
	 * base 23:0 0x345678 | limit 15:0 0xffff */
	cr_assert_eq(d, 0x12dff3345678ffffULL, "descriptor %#llx", (unsigned long long)d);
	poke(m, ud, sizeof ud);
	RET(SC("set_thread_area", m), 0);
	cr_assert_eq(peek32(m), 7);
	poke(m, ud, sizeof ud);
	RET(SC("set_thread_area", m), 0);
	poke(m, ud, sizeof ud);
	RET(SC("set_thread_area", m), -ESRCH);
	/* get_thread_area gives back what was set */
	uint32_t q[4] = { 6, 0, 0, 0 };
	poke(m + 64, q, sizeof q);
	RET(SC("get_thread_area", m + 64), 0);
	peek(m + 64, q, sizeof q);
	cr_assert_eq(q[1], 0x12345678u);
	cr_assert_eq(q[2], 0xfffffu);
	cr_assert_eq(q[3], 1u | 1u << 4 | 1u << 6);
	/* a 16-bit segment is refused; entry 5 is not a TLS entry; an empty one clears */
	uint32_t bad[4] = { 6, 0x1000, 0xfff, 0 };
	poke(m, bad, sizeof bad);
	RET(SC("set_thread_area", m), -EINVAL);
	uint32_t e5[4] = { 5, 0x1000, 0xfff, 1 };
	poke(m, e5, sizeof e5);
	RET(SC("set_thread_area", m), -EINVAL);
	uint32_t clear[4] = { 7, 0, 0, 1u << 3 | 1u << 5 };
	poke(m, clear, sizeof clear);
	RET(SC("set_thread_area", m), 0);
	memcpy(&d, gdt + 7 * 8, 8);
	cr_assert_eq(d, 0);
	RET(SC("set_thread_area", WILD), -EFAULT);
}

Test(syscall, arch_prctl_sets_fs_base_in_unicorn, .init = setup64, .fini = teardown)
{
	uc_engine *uc;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	g->uc = uc;
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("arch_prctl", 0x1002 /* ARCH_SET_FS */, 0x7f0000001000ULL), 0);
	uint64_t fs = 0;
	cr_assert_eq(uc_reg_read(uc, UC_X86_REG_FS_BASE, &fs), UC_ERR_OK);
	cr_assert_eq(fs, 0x7f0000001000ULL);
	RET(SC("arch_prctl", 0x1003 /* ARCH_GET_FS */, m), 0);
	cr_assert_eq(peek64(m), 0x7f0000001000ULL);
	RET(SC("arch_prctl", 0x1003, WILD), -EFAULT);
	RET(SC("arch_prctl", 0x1002, 0xffff800000000000ULL), -EPERM);
	RET(SC("arch_prctl", 0x9999, 0), -EINVAL);
	g->uc = NULL;
	uc_close(uc);
}

ParameterizedTestParameters(syscall, small_process_queries) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, small_process_queries)
{
	setup_abi(p->is64);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("set_tid_address", m), getpid());
	RET(SC0("gettid"), getpid());
	RET(SC("sched_getaffinity", 0, 128, m), p->is64 ? 8 : 4);
	cr_assert_eq(peek32(m) & 1, 1);
	RET(SC("sched_getaffinity", 0, 3, m), -EINVAL);
	RET(SC("set_robust_list", m, p->is64 ? 24 : 12), 0);
	RET(SC("set_robust_list", m, 7), -EINVAL);
	RET(SC("rseq", m, 32, 0, 0), -ENOSYS);
	cr_assert_eq(g->unknown_count[nr_of("rseq")], 0, "rseq is answered, not unknown");
	RET(SC("wait4", -1, 0, 0, 0), -ECHILD);
	RET(SC0(p->is64 ? "getuid" : "getuid32"), getuid());
	RET(SC(p->is64 ? "setuid" : "setuid32", getuid() + 1), -EPERM);
	RET(SC(p->is64 ? "setuid" : "setuid32", getuid()), getuid() == geteuid() ? 0 : -EPERM);
	int64_t old = SC("umask", 022);
	RET(SC("umask", old), 022);
	/* futex on a single thread */
	uint32_t word = 5;
	poke(m + 100, &word, 4);
	RET(SC("futex", m + 100, 0x80 /* WAIT|PRIVATE */, 4, 0), -EAGAIN);
	RET(SC("futex", m + 100, 0x81 /* WAKE|PRIVATE */, 1), 0);
	RET(SC("futex", m + 101, 0x81, 1), -EINVAL);
	RET(SC("getrandom", m, 16, 0x8), -EINVAL);
	RET(SC("getrandom", m, 16, 0), 16);
	teardown();
}

ParameterizedTestParameters(syscall, poll_on_a_pipe) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, poll_on_a_pipe)
{
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	struct { int32_t fd; int16_t ev, rev; } pf[3] = {
		{ fds[0], POLLIN, 0 }, { fds[1], POLLOUT, 0 }, { 700, POLLIN, 0 } };
	poke(m, pf, sizeof pf);
	RET(SC("poll", m, 3, 1000), 2);   /* write end ready, 700 is POLLNVAL */
	peek(m, pf, sizeof pf);
	cr_assert_eq(pf[0].rev, 0);
	cr_assert_eq(pf[1].rev, POLLOUT);
	cr_assert_eq(pf[2].rev, POLLNVAL);
	RET(SC("poll", m, 5000, 0), -EINVAL);
	/* select on the read end after a write */
	RET(SC("write", fds[1], m, 1), 1);
	uint8_t set[128] = { 0 };
	set[fds[0] / 8] |= (uint8_t)(1u << (fds[0] % 8));
	poke(m + 1024, set, sizeof set);
	RET(SC(p->is64 ? "select" : "_newselect", fds[0] + 1, m + 1024, 0, 0, 0), 1);
	set[0] = 1;   /* fd 0 .. maybe open; fd 9 is not */
	set[1] = 2;
	poke(m + 1024, set, sizeof set);
	RET(SC(p->is64 ? "select" : "_newselect", 16, m + 1024, 0, 0, 0), -EBADF);
	teardown();
}

/* Old getdents: struct linux_dirent { ulong d_ino, d_off; u16 d_reclen; name; pad; d_type }. */
ParameterizedTestParameters(syscall, old_getdents_layout) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, old_getdents_layout)
{
	setup_abi(p->is64);
	char path[128];
	snprintf(path, sizeof path, "%s/a_file", tmpdir);
	fclose(fopen(path, "w"));
	uint64_t m = gmap(3 * 4096, PROT_READ | PROT_WRITE);
	gstr(m, tmpdir);
	int dfd = (int)SC("open", m, O_RDONLY | O_DIRECTORY);
	int64_t n = SC("getdents", dfd, m + 4096, 8192);
	cr_assert_gt(n, 0);
	size_t l = p->is64 ? 8 : 4;
	int found = 0, entries = 0;
	for (int64_t off = 0; off < n;) {
		uint8_t rec[300];
		uint16_t reclen;
		peek(m + 4096 + (uint64_t)off + 2 * l, &reclen, 2);
		cr_assert(reclen % l == 0 && reclen > 2 * l + 2, "reclen %u", reclen);
		peek(m + 4096 + (uint64_t)off, rec, reclen);
		const char *name = (const char *)rec + 2 * l + 2;
		if (strcmp(name, "a_file") == 0) {
			found = 1;
			cr_assert_eq(rec[reclen - 1], DT_REG, "d_type %u", rec[reclen - 1]);
		}
		entries++;
		off += reclen;
	}
	cr_assert(found);
	cr_assert_eq(entries, 3);   /* ".", "..", "a_file" */
	RET(SC("getdents", dfd, m + 4096, 8192), 0);   /* at the end */
	teardown();
}

/* A write to a pipe without a reader: EPIPE, and SIGPIPE ends the guest unless ignored. */
ParameterizedTestParameters(syscall, broken_pipe_raises_sigpipe) { return cr_make_param_array(struct abi, abis, 2); }
ParameterizedTest(struct abi *p, syscall, broken_pipe_raises_sigpipe)
{
	signal(SIGPIPE, SIG_IGN);   /* mmuemu must do the same on the host */
	setup_abi(p->is64);
	int fds[2];
	gpipe(fds);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("close", fds[0]), 0);
	uint64_t ign[4] = { 1 /* SIG_IGN */, 0, 0, 0 };
	poke(m + 100, ign, sizeof ign);
	RET(SC("rt_sigaction", SIGPIPE, m + 100, 0, 8), 0);
	RET(SC("write", fds[1], m, 10), -EPIPE);
	cr_assert_eq(g->fatal_signal, 0);
	memset(ign, 0, sizeof ign);
	poke(m + 100, ign, sizeof ign);
	RET(SC("rt_sigaction", SIGPIPE, m + 100, 0, 8), 0);
	RET(SC("write", fds[1], m, 10), -EPIPE);
	cr_assert_eq(g->fatal_signal, SIGPIPE);
	cr_assert_eq(stops, 1);
	teardown();
}

/* /dev/stdout and /dev/fd/N are the guest's descriptors, not mmuemu's. */
Test(syscall, dev_fd_names_are_the_guests, .init = setup64, .fini = teardown)
{
	int fds[2];
	gpipe(fds);
	uint64_t m = gmap(4096, PROT_READ | PROT_WRITE);
	RET(SC("dup2", fds[1], 1), 1);
	int fd = (int)SC("open", gstr(m, "/dev/stdout"), O_WRONLY);
	cr_assert_geq(fd, 3);
	RET(SC("write", fd, gstr(m + 100, "via /dev/stdout"), 15), 15);
	RET(SC("read", fds[0], m + 200, 100), 15);
	char name[32];
	snprintf(name, sizeof name, "/dev/fd/%d", fds[1]);
	fd = (int)SC("open", gstr(m, name), O_WRONLY);
	cr_assert_geq(fd, 3);
	RET(SC("write", fd, m + 100, 3), 3);
	RET(SC("read", fds[0], m + 200, 100), 3);
	RET(SC("open", gstr(m, "/dev/fd/900"), O_RDONLY), -ENOENT);
}

/* i386 directory positions fit 32 bits (ext4 gives a 32-bit task 32-bit hash cookies), and
 * seeking to one resumes after that entry, as telldir/seekdir need. */
Test(syscall, i386_directory_cookies_fit_and_seek, .init = setup32, .fini = teardown)
{
	char path[160];
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof path, "%s/entry%02d", tmpdir, i);
		fclose(fopen(path, "w"));
	}
	uint64_t m = gmap(4 * 4096, PROT_READ | PROT_WRITE);
	gstr(m, tmpdir);
	int dfd = (int)SC("open", m, O_RDONLY | O_DIRECTORY);
	int64_t n = SC("getdents64", dfd, m + 4096, 8192);
	cr_assert_gt(n, 0);
	uint64_t offs[32];
	char names[32][32];
	int k = 0;
	for (int64_t off = 0; off < n && k < 32; k++) {
		uint16_t reclen;
		peek(m + 4096 + (uint64_t)off + 8, &offs[k], 8);
		peek(m + 4096 + (uint64_t)off + 16, &reclen, 2);
		peek(m + 4096 + (uint64_t)off + 19, names[k], 32);
		cr_assert_leq(offs[k], 0x7fffffffULL, "d_off %#llx does not fit an i386 off_t",
			      (unsigned long long)offs[k]);
		off += reclen;
	}
	cr_assert_eq(k, 22);
	/* seekdir to the position after entry 5 (via _llseek) and read on. */
	RET(SC("_llseek", dfd, 0, offs[5], m + 100, SEEK_SET), 0);
	cr_assert_eq(peek64(m + 100), offs[5]);
	n = SC("getdents64", dfd, m + 4096, 8192);
	cr_assert_gt(n, 0);
	char first[32];
	peek(m + 4096 + 19, first, sizeof first);
	cr_assert_str_eq(first, names[6]);
	/* lseek reports the same cookies; the end is the 32-bit end. */
	RET(SC("lseek", dfd, offs[5], SEEK_SET), (int64_t)offs[5]);
	RET(SC("getdents64", dfd, m + 4096, 8192), n);
	RET(SC("getdents64", dfd, m + 4096, 8192), 0);
}
