/* syscall.c — the Linux system-call layer of one emulated process, for both x86 ABIs.
 *
 * The engine reads the number and six arguments from the registers of the guest's ABI and calls
 * guest_syscall(); the value returned goes back to EAX/RAX. The tables syscall_x86_64.inc and
 * syscall_i386.inc map every number of Linux 6.12 to its name and to a handler here (or to none:
 * -ENOSYS, counted in unknown_count). Handlers shared by both ABIs look at g->is64 where the
 * layouts differ; i386 arguments are truncated to 32 bits before any handler sees them.
 *
 * Rules every handler follows:
 *  - A guest address is never a host pointer. Guest memory is reached only through the kernel
 *    model's uaccess (guest_read/guest_write, km_strncpy_from_user), which walks our page tables
 *    with the kernel's rights and faults pages in like Linux's copy_{from,to}_user; a bad pointer
 *    gives -EFAULT and touches no host memory.
 *  - Lengths are bounded: data moves through one IO_CHUNK bounce buffer, never an allocation the
 *    guest sizes. Partial transfers stop at the first inaccessible page and return the bytes done
 *    (Linux's short read/write), or -EFAULT when nothing was done.
 *  - Data is never consumed from a host file unless the guest buffer can take it: the destination
 *    is checked (and faulted in) before the host read, so a read into a bad buffer leaves a pipe's
 *    data in the pipe, as on Linux.
 *  - Guest descriptors live in g->fds and map to host descriptors that are always O_CLOEXEC on the
 *    host; the guest can never name, close or dup over mmuemu's own descriptors, and paths that
 *    would reach them (/proc/self/fd/N, /dev/fd/N, /dev/std*) are translated to the guest's table.
 *    /proc/self/exe is the guest program, /proc/self/maps is produced by the kernel model, and
 *    opening /proc/<mmuemu>/mem (or anything there for writing) is refused.
 *  - Nothing the guest does may signal, limit or re-credential the host process: kill/tgkill
 *    only reach the guest itself (a fatal signal ends the guest as Linux would), setrlimit/setuid
 *    change nothing on the host, and F_SETOWN/O_ASYNC-style requests are refused.
 *  - Errors are Linux's: the same errno, checked in the same order where it is observable.
 *
 * Not emulated (the process is alone and single-threaded): fork/vfork/clone/execve, sockets,
 * signal delivery (actions and masks are recorded; a self-sent signal whose action is to
 * terminate ends the guest), timers that signal, and futex waits that could only deadlock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* meson passes it; also when compiled on its own */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#include "guest.h"

/* ---- limits (Linux's values) ----------------------------------------------------------------- */

#define IO_CHUNK        (64 * 1024)         /* bounce buffer: the most one host call moves */
#define MAX_RW_COUNT    (INT_MAX & ~(uint64_t)(PAGE_SIZE - 1))   /* fs.h: one read/write at most */
#define GUEST_UIO_MAXIOV      1024                /* iovec entries per readv/writev */
#define MAX_NON_LFS     0x7fffffffULL       /* largest offset of a 32-bit off_t */
#define NSEC_PER_SEC    1000000000LL
#define GUEST_NSIG      64                  /* _NSIG */
#define SIGSET_SIZE     8                   /* sizeof(sigset_t) in the kernel ABI, both arches */
#define OVERFLOW_UID    65534               /* high2lowuid() of an id that does not fit 16 bits */
#define MFD_NAME_MAX    249                 /* memfd_create name length */
#define RLIM64_INF      (~0ULL)             /* RLIM64_INFINITY */
#define RLIM32_INF      0xffffffffULL       /* i386 RLIM_INFINITY (ugetrlimit, setrlimit) */
#define RLIM32_OLD_INF  0x7fffffffULL       /* i386 old getrlimit clamps to this */

/* i386 thread-local storage in the GDT (arch/x86/include/asm/segment.h, 32-bit). */
#define GDT_ENTRY_TLS_MIN      6
#define GDT_ENTRY_TLS_ENTRIES  3
#define GDT_ENTRY_TLS_MAX      (GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES - 1)

/* Segment-descriptor fields (Intel SDM vol. 3 §3.4.5), as fill_ldt() builds them. */
#define DESC_LIMIT0_MASK   0x000000000000ffffULL   /* limit 15:0 */
#define DESC_BASE0_SHIFT   16                      /* base 23:0 at bits 16..39 */
#define DESC_TYPE_SHIFT    40                      /* type, 4 bits */
#define DESC_TYPE_ACCESSED 0x1                     /*   accessed */
#define DESC_TYPE_WRITABLE 0x2                     /*   data: writable (code: readable) */
#define DESC_S             (1ULL << 44)            /* code/data, not system */
#define DESC_DPL3          (3ULL << 45)            /* privilege level 3 */
#define DESC_P             (1ULL << 47)            /* present */
#define DESC_LIMIT1_SHIFT  48                      /* limit 19:16 at bits 48..51 */
#define DESC_AVL           (1ULL << 52)            /* available to software ("useable") */
#define DESC_L             (1ULL << 53)            /* 64-bit code */
#define DESC_DB            (1ULL << 54)            /* 32-bit segment */
#define DESC_G             (1ULL << 55)            /* limit in 4 KiB units */
#define DESC_BASE2_SHIFT   56                      /* base 31:24 at bits 56..63 */

/* struct user_desc flag bits (asm/ldt.h), in the 32-bit word after limit. */
#define UD_SEG_32BIT        (1u << 0)
#define UD_CONTENTS_SHIFT   1                      /* 2 bits */
#define UD_READ_EXEC_ONLY   (1u << 3)
#define UD_LIMIT_IN_PAGES   (1u << 4)
#define UD_SEG_NOT_PRESENT  (1u << 5)
#define UD_USEABLE          (1u << 6)

/* arch_prctl codes (asm/prctl.h). */
#define ARCH_SET_GS     0x1001
#define ARCH_SET_FS     0x1002
#define ARCH_GET_FS     0x1003
#define ARCH_GET_GS     0x1004
#define ARCH_GET_CPUID  0x1011
#define ARCH_SET_CPUID  0x1012

/* futex ops (linux/futex.h). */
#define FUTEX_OP_WAIT          0
#define FUTEX_OP_WAKE          1
#define FUTEX_OP_REQUEUE       3
#define FUTEX_OP_CMP_REQUEUE   4
#define FUTEX_OP_WAIT_BITSET   9
#define FUTEX_OP_WAKE_BITSET   10
#define FUTEX_CMD_MASK         0x7f         /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */
#define FUTEX_CLOCK_RT         256

/* Dynamic clock ids (include/linux/posix-timers.h): negative ids with these low bits. */
#define CLOCKFD          3
#define CLOCKFD_MASK     7

/* The host's signal numbers are Linux's; keep names for the ones the rules below use. */
#define G_SIG_DFL 0
#define G_SIG_IGN 1

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif
#ifndef F_DUPFD_QUERY
#define F_DUPFD_QUERY 1027
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#define G_MINSIGSTKSZ  2048           /* the kernel's MINSIGSTKSZ (x86), not glibc's sysconf one */
#define G_O_NOTIFICATION_PIPE O_EXCL  /* pipe2 flag, linux/watch_queue.h */

/* termios2 ioctls: _IOR/_IOW('T', 0x2a..0x2d, struct termios2), 44 bytes on both ABIs. */
#define G_TCGETS2   0x802c542aU
#define G_TCSETS2   0x402c542bU
#define G_TCSETSW2  0x402c542cU
#define G_TCSETSF2  0x402c542dU

typedef int64_t sys_fn(struct guest *g, const uint64_t *a);

/* ---- small helpers --------------------------------------------------------------------------- */

static inline int64_t host_ret(long r) { return r < 0 ? -(int64_t)errno : r; }
static inline uint64_t min_u64(uint64_t x, uint64_t y) { return x < y ? x : y; }

/* A C `int` argument: the low 32 bits, sign-extended, on both ABIs. */
static inline int arg_int(uint64_t v) { return (int)(int32_t)(uint32_t)v; }
/* A C `long` argument: 64-bit on x86-64, 32-bit signed on i386. */
static inline int64_t arg_long(const struct guest *g, uint64_t v)
{
	return g->is64 ? (int64_t)v : (int64_t)(int32_t)(uint32_t)v;
}
/* A 64-bit value the i386 ABI passes in two registers (lo, hi): loff_t of pread64, fallocate… */
static inline int64_t arg_pair(const struct guest *g, const uint64_t *a, int *i)
{
	if (g->is64)
		return (int64_t)a[(*i)++];
	uint64_t lo = a[(*i)++] & 0xffffffffULL;
	uint64_t hi = a[(*i)++] & 0xffffffffULL;
	return (int64_t)(lo | hi << 32);
}
static inline size_t long_size(const struct guest *g) { return g->is64 ? 8 : 4; }

/* Linux's access_ok(): the range lies below TASK_SIZE and does not wrap. */
static bool range_ok(struct guest *g, uint64_t va, uint64_t n)
{
	uint64_t lim = km_mm_task_size(g->mm);
	return n <= lim && va <= lim - n;
}

static int put_user(struct guest *g, uint64_t va, const void *src, size_t n)
{
	return guest_write(g, va, src, n) ? -EFAULT : 0;
}
static int get_user(struct guest *g, uint64_t va, void *dst, size_t n)
{
	return guest_read(g, va, dst, n) ? -EFAULT : 0;
}
static int put_u32(struct guest *g, uint64_t va, uint32_t v) { return put_user(g, va, &v, 4); }
static int put_u64(struct guest *g, uint64_t va, uint64_t v) { return put_user(g, va, &v, 8); }
/* An unsigned long of the guest's ABI (4 or 8 bytes). */
static int put_ulong(struct guest *g, uint64_t va, uint64_t v)
{
	return g->is64 ? put_u64(g, va, v) : put_u32(g, va, (uint32_t)v);
}
static int get_ulong(struct guest *g, uint64_t va, uint64_t *v)
{
	if (g->is64)
		return get_user(g, va, v, 8);
	uint32_t w;
	int r = get_user(g, va, &w, 4);
	*v = w;
	return r;
}

/* Bytes from va on that the kernel can write, faulting pages in (and growing the stack) as
 * Linux's copy_to_user would: stops at the first page that cannot take a write. A page outside
 * the VMAs that km_access_ok sees is probed by reading one byte and writing it back, which runs
 * the fault handler (stack growth, COW) without changing guest data. */
static uint64_t user_writable_prefix(struct guest *g, uint64_t va, uint64_t n)
{
	if (n == 0 || km_access_ok(g->km, g->mm, va, n, true))
		return n;
	uint64_t done = 0;
	while (done < n) {
		uint64_t at = va + done;
		uint64_t step = min_u64(PAGE_SIZE - (at & (PAGE_SIZE - 1)), n - done);
		if (!km_access_ok(g->km, g->mm, at, step, true)) {
			uint8_t b;
			if (guest_read(g, at, &b, 1) || guest_write(g, at, &b, 1))
				break;
		}
		done += step;
	}
	return done;
}

/* Copies up to n bytes from guest va; returns how many could be read before the first bad page. */
static uint64_t copy_in_prefix(struct guest *g, void *dst, uint64_t va, uint64_t n)
{
	if (n == 0 || guest_read(g, va, dst, n) == 0)
		return n;
	uint64_t done = 0;
	while (done < n) {
		uint64_t at = va + done;
		uint64_t step = min_u64(PAGE_SIZE - (at & (PAGE_SIZE - 1)), n - done);
		if (guest_read(g, at, (uint8_t *)dst + done, step))
			break;
		done += step;
	}
	return done;
}

/* The bounce buffer every transfer goes through (one guest runs on one thread). */
static uint8_t *bounce(void)
{
	static _Thread_local uint8_t buf[IO_CHUNK];
	return buf;
}

/* ---- descriptors ----------------------------------------------------------------------------- */

void guest_fds_init(struct guest *g)
{
	for (int i = 0; i < GUEST_MAX_FDS; i++) {
		g->fds[i].host_fd = -1;
		g->fds[i].cloexec = false;
	}
	/* Guest 0, 1, 2 stand for host 0, 1, 2 through duplicates: the same open files (offsets,
	 * terminal, flags), but a guest closing 2 leaves mmuemu's stderr open. A host stream that
	 * is closed leaves the guest slot free, as it would be natively. */
	for (int i = 0; i < 3; i++)
		g->fds[i].host_fd = fcntl(i, F_DUPFD_CLOEXEC, 3);
}

void guest_fds_close_all(struct guest *g)
{
	for (int i = 0; i < GUEST_MAX_FDS; i++) {
		if (g->fds[i].host_fd >= 0)
			close(g->fds[i].host_fd);
		g->fds[i].host_fd = -1;
		g->fds[i].cloexec = false;
	}
}

/* The host descriptor behind guest fd, or -EBADF. */
static int host_fd(struct guest *g, uint64_t gfd)
{
	int fd = arg_int(gfd);
	if (fd < 0 || fd >= GUEST_MAX_FDS || g->fds[fd].host_fd < 0)
		return -EBADF;
	return g->fds[fd].host_fd;
}

/* Lowest free guest slot >= minfd, or -EMFILE. */
static int fd_lowest_free(struct guest *g, int minfd)
{
	for (int i = minfd < 0 ? 0 : minfd; i < GUEST_MAX_FDS; i++)
		if (g->fds[i].host_fd < 0)
			return i;
	return -EMFILE;
}

/* Gives host descriptor hfd (already O_CLOEXEC on the host) the lowest free guest number
 * >= minfd; on -EMFILE closes hfd. */
static int64_t fd_install(struct guest *g, int hfd, bool cloexec, int minfd)
{
	int fd = fd_lowest_free(g, minfd);
	if (fd < 0) {
		close(hfd);
		return fd;
	}
	g->fds[fd].host_fd = hfd;
	g->fds[fd].cloexec = cloexec;
	return fd;
}

/* A new host descriptor for the same open file, O_CLOEXEC, never below 3. */
static int host_dup(int hfd)
{
	return fcntl(hfd, F_DUPFD_CLOEXEC, 3);
}

/* ---- paths ----------------------------------------------------------------------------------- */

enum path_kind {
	PATH_HOST,      /* use path as it is (possibly rewritten to a host path) */
	PATH_EXE,       /* /proc/self/exe: path now holds g->exe_path */
	PATH_MAPS,      /* /proc/self/maps: produced by the kernel model */
};

struct gpath {
	char path[PATH_MAX];
	int dirfd;              /* host directory descriptor or AT_FDCWD */
	enum path_kind kind;
};

/* If p starts with a name of this process's /proc directory ("/proc/self/", "/proc/thread-self/",
 * "/proc/<pid>/" with the pid the guest sees), returns the rest, else NULL. */
static const char *proc_self_rest(const char *p)
{
	static const char *const prefixes[] = { "/proc/self/", "/proc/thread-self/" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (strncmp(p, prefixes[i], l) == 0)
			return p + l;
	}
	if (strncmp(p, "/proc/", 6) == 0) {
		char *end;
		long pid = strtol(p + 6, &end, 10);
		if (end != p + 6 && *end == '/' && pid == (long)getpid())
			return end + 1;
	}
	return NULL;
}

/* Rewrites "fd/N[/rest]" of the guest's table into the host's /proc/self/fd/H[/rest]. */
static int64_t translate_fd_path(struct guest *g, const char *num, char *out)
{
	char *end;
	errno = 0;
	long n = strtol(num, &end, 10);
	if (end == num || errno || (*end && *end != '/'))
		return -ENOENT;
	int h = (n >= 0 && n < GUEST_MAX_FDS) ? g->fds[n].host_fd : -1;
	if (h < 0)
		return -ENOENT;
	char tmp[PATH_MAX];
	int len = snprintf(tmp, sizeof tmp, "/proc/self/fd/%d%s", h, end);
	if (len < 0 || len >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	memcpy(out, tmp, (size_t)len + 1);
	return 0;
}

/* Paths that would otherwise reach mmuemu rather than the guest. */
static int64_t translate_path(struct guest *g, struct gpath *p)
{
	const char *rest = proc_self_rest(p->path);
	if (rest) {
		if (strcmp(rest, "exe") == 0) {
			if (strlen(g->exe_path) >= sizeof p->path)
				return -ENAMETOOLONG;
			strcpy(p->path, g->exe_path);
			p->kind = PATH_EXE;
			return 0;
		}
		if (strcmp(rest, "maps") == 0) {
			p->kind = PATH_MAPS;
			return 0;
		}
		if (strncmp(rest, "fd/", 3) == 0)
			return translate_fd_path(g, rest + 3, p->path);
		return 0;
	}
	if (strncmp(p->path, "/dev/fd/", 8) == 0)
		return translate_fd_path(g, p->path + 8, p->path);
	static const char *const std[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
	for (int i = 0; i < 3; i++) {
		if (strcmp(p->path, std[i]) == 0) {
			char n[2] = { (char)('0' + i), 0 };
			return translate_fd_path(g, n, p->path);
		}
	}
	return 0;
}

/* Copies a guest path (Linux getname: -EFAULT, -ENAMETOOLONG beyond PATH_MAX - 1 bytes, -ENOENT
 * for "" unless empty_ok) and translates it. A NULL pointer with empty_ok is "" (6.11+ for
 * AT_EMPTY_PATH). */
static int64_t get_path(struct guest *g, uint64_t upath, struct gpath *p, bool empty_ok)
{
	p->kind = PATH_HOST;
	p->dirfd = AT_FDCWD;
	if (upath == 0 && empty_ok) {
		p->path[0] = 0;
		return 0;
	}
	int64_t r = km_strncpy_from_user(g->km, g->mm, p->path, upath, sizeof p->path);
	if (r < 0)
		return r;
	if (r == 0)
		return empty_ok ? 0 : -ENOENT;
	return translate_path(g, p);
}

/* get_path, then the directory a relative (or, with empty_ok, empty) path starts from: the
 * guest's dirfd (-EBADF if it is not open) or the current directory. Absolute paths ignore
 * dirfd, as Linux does. */
static int64_t get_at_path(struct guest *g, uint64_t gdirfd, uint64_t upath, struct gpath *p,
			   bool empty_ok)
{
	int64_t r = get_path(g, upath, p, empty_ok);
	if (r < 0)
		return r;
	if (p->path[0] == '/')
		return 0;
	if (arg_int(gdirfd) == AT_FDCWD)
		return 0;
	int h = host_fd(g, gdirfd);
	if (h < 0)
		return h;
	p->dirfd = h;
	return 0;
}

/* After a host open: refuse what would let the guest reach into mmuemu itself through procfs
 * (a symlink or a relative path can get there without the names translate_path knows): the
 * process's memory, its map_files, and anything in its /proc directory opened for writing. */
static int64_t proc_guard(int hfd, int flags)
{
	struct statfs sf;
	if (fstatfs(hfd, &sf) != 0 || sf.f_type != PROC_SUPER_MAGIC)
		return 0;
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", hfd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0)
		return 0;
	target[n] = 0;
	char self[32];
	int sl = snprintf(self, sizeof self, "/proc/%ld/", (long)getpid());
	if (strncmp(target, self, (size_t)sl) != 0 && strncmp(target, "/proc/self/", 11) != 0)
		return 0;
	const char *base = strrchr(target, '/');
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if (writes || strcmp(base, "/mem") == 0 || strstr(target, "/map_files") ||
	    strstr(target, "/pagemap"))
		return -EACCES;
	return 0;
}

/* ---- the process's end and its signals ------------------------------------------------------- */

static void guest_pc(struct guest *g, uint64_t *pc)
{
	*pc = 0;
	if (!g->uc)
		return;
	if (g->is64) {
		if (uc_reg_read(g->uc, UC_X86_REG_RIP, pc) != UC_ERR_OK)
			*pc = 0;
	} else {
		uint32_t eip = 0;
		if (uc_reg_read(g->uc, UC_X86_REG_EIP, &eip) == UC_ERR_OK)
			*pc = eip;
	}
}

/* Ends the guest with signal sig (the lead's report computes status 128 + sig). */
static void guest_kill(struct guest *g, int sig, int si_code, const char *why)
{
	if (g->fatal_signal == 0) {
		g->fatal_signal = sig;
		g->fatal_si_code = si_code;
		g->fatal_addr = 0;
		guest_pc(g, &g->fatal_pc);
		snprintf(g->fatal_reason, sizeof g->fatal_reason, "%s", why);
	}
	guest_stop(g);
}

/* Signals whose default action is to ignore, and to stop (kernel/signal.c sig_kernel_*). */
static bool sig_default_ignored(int sig)
{
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}
static bool sig_default_stops(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A signal the guest sends itself. Signals are not delivered: one whose action is to terminate
 * ends the guest now (whatever the mask: glibc's raise() and abort() block signals around
 * tgkill and the signal would arrive when they unblock); an ignored one, or one whose default is
 * to ignore or to stop (we continue at once), does nothing. A signal with a handler ends the
 * guest too, with a reason saying so, rather than continue as if the handler had run. */
static int64_t signal_self(struct guest *g, int sig, int si_code, const char *how)
{
	if (sig == 0)
		return 0;
	uint64_t h = g->sigactions[sig].handler;
	char why[160];
	if (sig != SIGKILL && sig != SIGSTOP) {
		if (h == G_SIG_IGN)
			return 0;
		if (h == G_SIG_DFL && (sig_default_ignored(sig) || sig_default_stops(sig)))
			return 0;
	} else if (sig == SIGSTOP) {
		return 0;
	}
	if (h > G_SIG_IGN && sig != SIGKILL)
		snprintf(why, sizeof why, "signal %d sent to itself (%s) has a handler; signal delivery "
			 "is not emulated", sig, how);
	else
		snprintf(why, sizeof why, "signal %d sent to itself (%s)", sig, how);
	guest_kill(g, sig, si_code, why);
	return 0;
}

/* A write to a pipe or socket with no reader: Linux sends SIGPIPE, which kills unless it is
 * ignored or handled (mmuemu itself must ignore SIGPIPE on the host). */
static void broken_pipe(struct guest *g)
{
	if (g->sigactions[SIGPIPE].handler == G_SIG_DFL)
		guest_kill(g, SIGPIPE, 0 /* SI_USER */, "SIGPIPE: write to a pipe with no reader");
}

static int64_t sys_exit(struct guest *g, const uint64_t *a)
{
	g->exited = true;
	g->exit_code = arg_int(a[0]) & 0xff;
	guest_stop(g);
	return 0;
}

static int64_t sys_exit_group(struct guest *g, const uint64_t *a)
{
	return sys_exit(g, a);
}

/* ---- read and write -------------------------------------------------------------------------- */

struct uiov {
	uint64_t base, len;
};

/* One host read of n bytes into buf: at pos (pos >= 0), at the file position (pos < 0), or
 * with preadv2 flags (rwf != 0; pos -1 is the file position). */
static ssize_t host_read_at(int hfd, void *buf, size_t n, int64_t pos, int rwf)
{
	if (rwf) {
		struct iovec hv = { buf, n };
		return preadv2(hfd, &hv, 1, pos, rwf);
	}
	return pos < 0 ? read(hfd, buf, n) : pread(hfd, buf, n, pos);
}

static ssize_t host_write_at(int hfd, const void *buf, size_t n, int64_t pos, int rwf)
{
	if (rwf) {
		struct iovec hv = { (void *)buf, n };
		return pwritev2(hfd, &hv, 1, pos, rwf);
	}
	return pos < 0 ? write(hfd, buf, n) : pwrite(hfd, buf, n, pos);
}

/* Reads from the host into the guest segments v[0..n), total bytes at most (already clamped
 * to MAX_RW_COUNT). pos < 0: the file position; else that offset. rwf: preadv2 flags.
 * Checks (and faults in) each chunk's destination before reading it from the host. Regular files
 * are read chunk after chunk; anything else (pipe, tty, socket) gets exactly one host read, so
 * that it returns what is there and never blocks for more. */
static int64_t iov_read(struct guest *g, int hfd, const struct uiov *v, unsigned n,
			uint64_t total, int64_t pos, int rwf)
{
	uint8_t *buf = bounce();
	bool loop = false;
	if (total > IO_CHUNK) {
		struct stat st;
		loop = fstat(hfd, &st) == 0 && S_ISREG(st.st_mode);
	}
	unsigned i = 0;         /* current segment and offset in it */
	uint64_t off = 0;
	int64_t done = 0;
	for (;;) {
		/* Plan the next chunk: as much of the destination as can take a write, up to
		 * IO_CHUNK bytes, from (i, off) on. */
		uint64_t want = 0;
		bool stop = false;
		for (unsigned j = i; j < n && want < IO_CHUNK; j++) {
			uint64_t start = j == i ? off : 0;
			uint64_t seg = min_u64(v[j].len - start, IO_CHUNK - want);
			uint64_t ok = user_writable_prefix(g, v[j].base + start, seg);
			want += ok;
			if (ok < seg) {
				stop = true;
				break;
			}
		}
		if (want == 0) {
			if (done)
				return done;
			/* Nothing can be transferred: a zero-byte host read still reports what Linux
			 * checks before the buffer (EBADF for a write-only descriptor, EISDIR…). */
			if (host_read_at(hfd, buf, 0, pos, rwf) < 0)
				return -errno;
			return stop ? -EFAULT : 0;
		}
		ssize_t r = host_read_at(hfd, buf, want, pos, rwf);
		if (r < 0)
			return done ? done : -errno;
		/* Scatter what arrived. The destination was checked, so a failure here is the
		 * model running out of memory while faulting a page in. */
		uint64_t left = (uint64_t)r, from = 0;
		while (left) {
			uint64_t c = min_u64(v[i].len - off, left);
			if (c && guest_write(g, v[i].base + off, buf + from, c)) {
				done += (int64_t)from;
				return done ? done : -EFAULT;
			}
			left -= c;
			from += c;
			off += c;
			if (off == v[i].len) {
				i++;
				off = 0;
			}
		}
		done += r;
		if (pos >= 0)
			pos += r;
		if ((uint64_t)r < want || stop || !loop || (uint64_t)done >= total)
			return done;
	}
}

/* Writes the guest segments v[0..n) to the host, chunk by chunk, stopping at the first bad page
 * (bytes before it are written) or a short host write. */
static int64_t iov_write(struct guest *g, int hfd, const struct uiov *v, unsigned n,
			 int64_t pos, int rwf)
{
	uint8_t *buf = bounce();
	unsigned i = 0;
	uint64_t off = 0;
	int64_t done = 0;
	for (;;) {
		/* Gather up to IO_CHUNK bytes, stopping at the first page that cannot be read. */
		uint64_t have = 0;
		bool stop = false;
		while (i < n && have < IO_CHUNK) {
			uint64_t seg = min_u64(v[i].len - off, IO_CHUNK - have);
			uint64_t got = copy_in_prefix(g, buf + have, v[i].base + off, seg);
			have += got;
			off += got;
			if (got < seg) {
				stop = true;
				break;
			}
			if (off == v[i].len) {
				i++;
				off = 0;
			}
		}
		if (have == 0 && done)
			return done;
		/* have == 0 and nothing done: a zero-byte write still checks the descriptor. */
		ssize_t r = host_write_at(hfd, buf, have, pos, rwf);
		if (r < 0) {
			if (errno == EPIPE)
				broken_pipe(g);
			return done ? done : -errno;
		}
		if (have == 0)
			return stop ? -EFAULT : 0;
		done += r;
		if (pos >= 0)
			pos += r;
		if ((uint64_t)r < have || stop || i >= n)
			return done;
	}
}

/* Reads a guest iovec array (Linux import_iovec): -EINVAL beyond GUEST_UIO_MAXIOV or for a negative
 * length, -EFAULT for an unreadable array or a segment outside the address space; lengths are
 * clamped so that the total stays within MAX_RW_COUNT. */
static int64_t import_iovec(struct guest *g, uint64_t uvec, uint64_t cnt, struct uiov *v,
			    uint64_t *total)
{
	*total = 0;
	if (cnt == 0)
		return 0;
	if (cnt > GUEST_UIO_MAXIOV)
		return -EINVAL;
	size_t esz = 2 * long_size(g);
	uint8_t raw[GUEST_UIO_MAXIOV * 16];
	if (get_user(g, uvec, raw, cnt * esz))
		return -EFAULT;
	for (uint64_t k = 0; k < cnt; k++) {
		int64_t len;
		if (g->is64) {
			memcpy(&v[k].base, raw + k * 16, 8);
			memcpy(&len, raw + k * 16 + 8, 8);
		} else {
			uint32_t b;
			int32_t l;
			memcpy(&b, raw + k * 8, 4);
			memcpy(&l, raw + k * 8 + 4, 4);
			v[k].base = b;
			len = l;
		}
		if (len < 0)
			return -EINVAL;
		if (!range_ok(g, v[k].base, (uint64_t)len))
			return -EFAULT;
		if ((uint64_t)len > MAX_RW_COUNT - *total)
			len = (int64_t)(MAX_RW_COUNT - *total);
		v[k].len = (uint64_t)len;
		*total += (uint64_t)len;
	}
	return 0;
}

static int64_t sys_read(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	if (!range_ok(g, a[1], a[2]))
		return -EFAULT;
	struct uiov v = { a[1], min_u64(a[2], MAX_RW_COUNT) };
	return iov_read(g, h, &v, 1, v.len, -1, 0);
}

static int64_t sys_write(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	if (!range_ok(g, a[1], a[2]))
		return -EFAULT;
	struct uiov v = { a[1], min_u64(a[2], MAX_RW_COUNT) };
	return iov_write(g, h, &v, 1, -1, 0);
}

/* pread64/pwrite64: fd, buf, count, pos (i386: pos in two registers). */
static int64_t sys_pread64(struct guest *g, const uint64_t *a)
{
	int i = 3;
	int64_t pos = arg_pair(g, a, &i);
	if (pos < 0)
		return -EINVAL;
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	if (!range_ok(g, a[1], a[2]))
		return -EFAULT;
	struct uiov v = { a[1], min_u64(a[2], MAX_RW_COUNT) };
	return iov_read(g, h, &v, 1, v.len, pos, 0);
}

static int64_t sys_pwrite64(struct guest *g, const uint64_t *a)
{
	int i = 3;
	int64_t pos = arg_pair(g, a, &i);
	if (pos < 0)
		return -EINVAL;
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	if (!range_ok(g, a[1], a[2]))
		return -EFAULT;
	struct uiov v = { a[1], min_u64(a[2], MAX_RW_COUNT) };
	return iov_write(g, h, &v, 1, pos, 0);
}

/* readv/writev/preadv/pwritev/preadv2/pwritev2. has_pos: the call takes an offset (pos_l, pos_h
 * in a[3], a[4]; on x86-64 pos_l is the whole offset); flags in a[5] for the *2 calls. */
static int64_t vec_io(struct guest *g, const uint64_t *a, bool write, bool has_pos, bool v2)
{
	int64_t pos = -1;
	if (has_pos) {
		pos = g->is64 ? (int64_t)a[3]
			      : (int64_t)((a[3] & 0xffffffffULL) | (a[4] & 0xffffffffULL) << 32);
		if (pos < 0 && !(v2 && pos == -1))
			return -EINVAL;
	}
	int rwf = v2 ? arg_int(a[5]) : 0;
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	static _Thread_local struct uiov v[GUEST_UIO_MAXIOV];
	uint64_t total;
	int64_t r = import_iovec(g, a[1], a[2], v, &total);
	if (r < 0)
		return r;
	if (a[2] == 0) {
		/* Nothing to move: the host still checks the descriptor and the flags. */
		ssize_t z = write ? host_write_at(h, bounce(), 0, pos, rwf)
				  : host_read_at(h, bounce(), 0, pos, rwf);
		return z < 0 ? -errno : 0;
	}
	return write ? iov_write(g, h, v, (unsigned)a[2], pos, rwf)
		     : iov_read(g, h, v, (unsigned)a[2], total, pos, rwf);
}

static int64_t sys_readv(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, false, false, false);
}
static int64_t sys_writev(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, true, false, false);
}
static int64_t sys_preadv(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, false, true, false);
}
static int64_t sys_pwritev(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, true, true, false);
}
static int64_t sys_preadv2(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, false, true, true);
}
static int64_t sys_pwritev2(struct guest *g, const uint64_t *a)
{
	return vec_io(g, a, true, true, true);
}

/* Directory positions of an i386 guest. ext4 (hash2pos in fs/ext4/dir.c; NFS does the same) gives
 * a 32-bit task the cookie major_hash >> 1 and a 64-bit task (major_hash >> 1) << 32 | minor_hash;
 * the host process is 64-bit. An i386 guest therefore sees the high half (the htree end-of-dir
 * 0x7fffffffffffffff becomes 0x7fffffff, EXT4_HTREE_EOF_32BIT) and a 32-bit cookie it seeks to
 * goes back as cookie << 32 (minor hash 0, which is what pos2min_hash gives a 32-bit task).
 * Positions that fit 32 bits already (linear directories, tmpfs, btrfs) are left alone; without
 * this, glibc's non-LFS readdir on i386 fails with EOVERFLOW where Linux would not. */
#define DIR_EOF_64  0x7fffffffffffffffULL
#define DIR_EOF_32  0x7fffffffULL

static uint64_t dir_pos_to_guest32(uint64_t pos)
{
	return pos > 0xffffffffULL ? pos >> 32 : pos;
}

/* Whether the host directory hands out 64-bit hash cookies (its end is beyond 32 bits). */
static bool dir_hashed(int hfd)
{
	off_t cur = lseek(hfd, 0, SEEK_CUR);
	off_t end = lseek(hfd, 0, SEEK_END);
	if (cur >= 0)
		lseek(hfd, cur, SEEK_SET);
	return end > 0 && (uint64_t)end > 0xffffffffULL;
}

static bool is_dir_fd(int hfd)
{
	struct stat st;
	return fstat(hfd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* lseek on a directory for an i386 guest: 32-bit cookies in and out (see above). */
static off_t dir_lseek32(int hfd, int64_t off, int whence)
{
	bool hashed = dir_hashed(hfd);
	if (hashed && whence == SEEK_SET && off > 0)
		off = (uint64_t)off == DIR_EOF_32 ? (int64_t)DIR_EOF_64 : (int64_t)((uint64_t)off << 32);
	off_t r = lseek(hfd, off, whence);
	if (r < 0 || !hashed)
		return r;
	return (off_t)dir_pos_to_guest32((uint64_t)r);
}

/* lseek(fd, off_t, whence). On i386 off_t is 32-bit: a result beyond it is -EOVERFLOW (after
 * the move, as Linux). */
static int64_t sys_lseek(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	off_t off = (off_t)arg_long(g, a[1]);
	int whence = arg_int(a[2]);
	off_t r = !g->is64 && is_dir_fd(h) ? dir_lseek32(h, off, whence) : lseek(h, off, whence);
	if (r < 0)
		return -errno;
	if (!g->is64 && (uint64_t)r > MAX_NON_LFS)
		return -EOVERFLOW;
	return r;
}

/* i386 _llseek(fd, offset_high, offset_low, loff_t *result, whence). */
static int64_t sys_llseek(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	int64_t off = (int64_t)((a[1] & 0xffffffffULL) << 32 | (a[2] & 0xffffffffULL));
	int whence = arg_int(a[4]);
	off_t r = is_dir_fd(h) ? dir_lseek32(h, off, whence) : lseek(h, off, whence);
	if (r < 0)
		return -errno;
	return put_u64(g, a[3], (uint64_t)r);
}

/* sendfile(out_fd, in_fd, off_t *offset, count): the host moves the data itself. off64: the
 * offset is a loff_t (x86-64 sendfile, i386 sendfile64), else a 32-bit off_t. */
static int64_t do_sendfile(struct guest *g, const uint64_t *a, bool off64)
{
	uint64_t count = min_u64(a[3], MAX_RW_COUNT);
	off_t off = 0;
	if (a[2]) {
		if (off64) {
			int64_t o;
			if (get_user(g, a[2], &o, 8))
				return -EFAULT;
			off = o;
		} else {
			int32_t o;
			if (get_user(g, a[2], &o, 4))
				return -EFAULT;
			off = o;
			if (off < 0)
				return -EINVAL;
			if ((uint64_t)off >= MAX_NON_LFS && count)
				return -EOVERFLOW;
			count = min_u64(count, MAX_NON_LFS - (uint64_t)off);
		}
	}
	int out = host_fd(g, a[0]), in = host_fd(g, a[1]);
	if (in < 0)
		return in;
	if (out < 0)
		return out;
	ssize_t r = sendfile(out, in, a[2] ? &off : NULL, count);
	if (r < 0) {
		if (errno == EPIPE)
			broken_pipe(g);
		return -errno;
	}
	if (a[2]) {
		int e = off64 ? put_u64(g, a[2], (uint64_t)off) : put_u32(g, a[2], (uint32_t)off);
		if (e)
			return e;
	}
	return r;
}

static int64_t sys_sendfile64(struct guest *g, const uint64_t *a)
{
	return do_sendfile(g, a, true);
}
static int64_t sys_sendfile32(struct guest *g, const uint64_t *a)
{
	return do_sendfile(g, a, false);
}

/* ---- open, close, dup ------------------------------------------------------------------------ */

/* /proc/self/maps: the kernel model's VMA list, in a memfd the guest reads like the real file. */
static int64_t open_maps(struct guest *g, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	km_dump_vmas(g->km, g->mm, f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	int h = memfd_create("maps", MFD_CLOEXEC);
	if (h < 0) {
		free(text);
		return -errno;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(h, text + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(text);
	lseek(h, 0, SEEK_SET);
	return fd_install(g, h, (flags & O_CLOEXEC) != 0, 0);
}

static int64_t do_openat(struct guest *g, uint64_t gdirfd, uint64_t upath, int flags, int mode)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, false);
	if (r < 0)
		return r;
	if (p.kind == PATH_MAPS)
		return open_maps(g, flags);
	/* Same fd-table check as Linux's get_unused_fd_flags, which runs before the lookup. */
	if (fd_lowest_free(g, 0) < 0)
		return -EMFILE;
	int h = (int)syscall(SYS_openat, p.dirfd, p.path, flags | O_CLOEXEC, mode);
	if (h < 0)
		return -errno;
	if ((r = proc_guard(h, flags)) < 0) {
		close(h);
		return r;
	}
	return fd_install(g, h, (flags & O_CLOEXEC) != 0, 0);
}

static int64_t sys_open(struct guest *g, const uint64_t *a)
{
	return do_openat(g, (uint64_t)(int64_t)AT_FDCWD, a[0], arg_int(a[1]), arg_int(a[2]));
}

static int64_t sys_openat(struct guest *g, const uint64_t *a)
{
	return do_openat(g, a[0], a[1], arg_int(a[2]), arg_int(a[3]));
}

static int64_t sys_creat(struct guest *g, const uint64_t *a)
{
	return do_openat(g, (uint64_t)(int64_t)AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC,
			 arg_int(a[1]));
}

/* openat2(dirfd, path, struct open_how *how, size): how is { u64 flags, mode, resolve }. */
static int64_t sys_openat2(struct guest *g, const uint64_t *a)
{
	struct { uint64_t flags, mode, resolve; } how;
	uint64_t usize = a[3];
	if (usize < sizeof how)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	if (get_user(g, a[2], &how, sizeof how))
		return -EFAULT;
	for (uint64_t o = sizeof how; o < usize; o++) {   /* copy_struct_from_user: zero tail */
		uint8_t b;
		if (get_user(g, a[2] + o, &b, 1))
			return -EFAULT;
		if (b)
			return -E2BIG;
	}
	struct gpath p;
	int64_t r = get_at_path(g, a[0], a[1], &p, false);
	if (r < 0)
		return r;
	if (p.kind == PATH_MAPS)
		return open_maps(g, (int)how.flags);
	if (fd_lowest_free(g, 0) < 0)
		return -EMFILE;
	bool cloexec = how.flags & O_CLOEXEC;
	how.flags |= O_CLOEXEC;
	int h = (int)syscall(SYS_openat2, p.dirfd, p.path, &how, sizeof how);
	if (h < 0)
		return -errno;
	if ((r = proc_guard(h, (int)how.flags)) < 0) {
		close(h);
		return r;
	}
	return fd_install(g, h, cloexec, 0);
}

static int64_t sys_close(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	int fd = arg_int(a[0]);
	g->fds[fd].host_fd = -1;
	g->fds[fd].cloexec = false;
	/* The slot is free whatever close says (Linux: the descriptor is gone even on EINTR/EIO). */
	return host_ret(close(h));
}

/* close_range(first, last, flags): only the guest's table. */
static int64_t sys_close_range(struct guest *g, const uint64_t *a)
{
	uint32_t first = (uint32_t)a[0], last = (uint32_t)a[1], flags = (uint32_t)a[2];
	if (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC))
		return -EINVAL;
	if (first > last)
		return -EINVAL;
	for (uint64_t fd = first; fd <= last && fd < GUEST_MAX_FDS; fd++) {
		if (g->fds[fd].host_fd < 0)
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC) {
			g->fds[fd].cloexec = true;
		} else {
			close(g->fds[fd].host_fd);
			g->fds[fd].host_fd = -1;
			g->fds[fd].cloexec = false;
		}
	}
	return 0;
}

static int64_t sys_dup(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	if (fd_lowest_free(g, 0) < 0)
		return -EMFILE;
	int n = host_dup(h);
	if (n < 0)
		return -errno;
	return fd_install(g, n, false, 0);
}

/* dup2/dup3 onto newfd of the guest's table: the old host descriptor behind newfd (if any) is
 * closed, a fresh host duplicate of oldfd takes the slot. */
static int64_t do_dup3(struct guest *g, uint64_t oldfd, uint64_t newfd, int flags, bool is_dup2)
{
	if (flags & ~O_CLOEXEC)
		return -EINVAL;
	int nfd = arg_int(newfd);
	if (is_dup2 && arg_int(oldfd) == nfd) {
		int h = host_fd(g, oldfd);
		return h < 0 ? h : nfd;
	}
	if (!is_dup2 && arg_int(oldfd) == nfd)
		return -EINVAL;
	if ((uint32_t)newfd >= GUEST_MAX_FDS)
		return -EBADF;
	int h = host_fd(g, oldfd);
	if (h < 0)
		return h;
	int n = host_dup(h);
	if (n < 0)
		return -errno;
	if (g->fds[nfd].host_fd >= 0)
		close(g->fds[nfd].host_fd);
	g->fds[nfd].host_fd = n;
	g->fds[nfd].cloexec = (flags & O_CLOEXEC) != 0;
	return nfd;
}

static int64_t sys_dup2(struct guest *g, const uint64_t *a)
{
	return do_dup3(g, a[0], a[1], 0, true);
}
static int64_t sys_dup3(struct guest *g, const uint64_t *a)
{
	return do_dup3(g, a[0], a[1], arg_int(a[2]), false);
}

static int64_t do_pipe2(struct guest *g, uint64_t ufds, int flags)
{
	if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT | G_O_NOTIFICATION_PIPE))
		return -EINVAL;
	int first = fd_lowest_free(g, 0);
	if (first < 0)
		return first;
	if (fd_lowest_free(g, first + 1) < 0)
		return -EMFILE;
	int hp[2];
	if (pipe2(hp, (flags & ~O_CLOEXEC) | O_CLOEXEC) < 0)
		return -errno;
	bool ce = (flags & O_CLOEXEC) != 0;
	int r0 = (int)fd_install(g, hp[0], ce, 0);
	int r1 = (int)fd_install(g, hp[1], ce, 0);
	int32_t gfds[2] = { r0, r1 };
	if (put_user(g, ufds, gfds, sizeof gfds)) {
		/* Linux releases both descriptors when it cannot store them. */
		for (int i = 0; i < 2; i++) {
			close(g->fds[gfds[i]].host_fd);
			g->fds[gfds[i]].host_fd = -1;
		}
		return -EFAULT;
	}
	return 0;
}

static int64_t sys_pipe(struct guest *g, const uint64_t *a) { return do_pipe2(g, a[0], 0); }
static int64_t sys_pipe2(struct guest *g, const uint64_t *a)
{
	return do_pipe2(g, a[0], arg_int(a[1]));
}

static int64_t sys_memfd_create(struct guest *g, const uint64_t *a)
{
	char name[MFD_NAME_MAX + 2];
	int64_t r = km_strncpy_from_user(g->km, g->mm, name, a[0], sizeof name);
	if (r == -ENAMETOOLONG)
		return -EINVAL;
	if (r < 0)
		return r;
	unsigned flags = (unsigned)a[1];
	if (fd_lowest_free(g, 0) < 0)
		return -EMFILE;
	int h = memfd_create(name, flags | MFD_CLOEXEC);
	if (h < 0)
		return -errno;
	return fd_install(g, h, (flags & MFD_CLOEXEC) != 0, 0);
}

/* ---- fcntl and ioctl ------------------------------------------------------------------------- */

/* struct flock layouts: x86-64 flock (32 bytes), i386 flock (16) and flock64 (24, packed). */
struct flock_x86_64 {
	int16_t l_type, l_whence;
	int32_t pad;
	int64_t l_start, l_len;
	int32_t l_pid, pad2;
};
struct flock_i386 {
	int16_t l_type, l_whence;
	int32_t l_start, l_len;
	int32_t l_pid;
};
struct __attribute__((packed)) flock64_i386 {
	int16_t l_type, l_whence;
	int64_t l_start, l_len;
	int32_t l_pid;
};
_Static_assert(sizeof(struct flock_x86_64) == 32, "x86-64 struct flock");
_Static_assert(sizeof(struct flock_i386) == 16, "i386 struct flock");
_Static_assert(sizeof(struct flock64_i386) == 24, "i386 struct flock64");

/* Record locks: layout 0 = x86-64 flock, 1 = i386 flock, 2 = i386 flock64. */
static int64_t fcntl_lock(struct guest *g, int h, int hcmd, uint64_t uarg, int layout)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	if (layout == 0) {
		struct flock_x86_64 u;
		if (get_user(g, uarg, &u, sizeof u))
			return -EFAULT;
		fl.l_type = u.l_type; fl.l_whence = u.l_whence;
		fl.l_start = u.l_start; fl.l_len = u.l_len; fl.l_pid = u.l_pid;
	} else if (layout == 1) {
		struct flock_i386 u;
		if (get_user(g, uarg, &u, sizeof u))
			return -EFAULT;
		fl.l_type = u.l_type; fl.l_whence = u.l_whence;
		fl.l_start = u.l_start; fl.l_len = u.l_len; fl.l_pid = u.l_pid;
	} else {
		struct flock64_i386 u;
		if (get_user(g, uarg, &u, sizeof u))
			return -EFAULT;
		fl.l_type = u.l_type; fl.l_whence = u.l_whence;
		fl.l_start = u.l_start; fl.l_len = u.l_len; fl.l_pid = u.l_pid;
	}
	if (fcntl(h, hcmd, &fl) < 0)
		return -errno;
	if (hcmd != F_GETLK && hcmd != F_OFD_GETLK)
		return 0;
	if (layout == 0) {
		struct flock_x86_64 u = { fl.l_type, fl.l_whence, 0, fl.l_start, fl.l_len, fl.l_pid, 0 };
		return put_user(g, uarg, &u, sizeof u);
	}
	if (layout == 1) {
		if ((uint64_t)fl.l_start > MAX_NON_LFS || (fl.l_len && (uint64_t)fl.l_len > MAX_NON_LFS))
			return -EOVERFLOW;
		struct flock_i386 u = { fl.l_type, fl.l_whence, (int32_t)fl.l_start,
					(int32_t)fl.l_len, fl.l_pid };
		return put_user(g, uarg, &u, sizeof u);
	}
	struct flock64_i386 u = { fl.l_type, fl.l_whence, fl.l_start, fl.l_len, fl.l_pid };
	return put_user(g, uarg, &u, sizeof u);
}

/* fcntl, and i386 fcntl64 (fl64: the *LK64 commands and the OFD locks take struct flock64). */
static int64_t do_fcntl(struct guest *g, const uint64_t *a, bool fl64)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	int fd = arg_int(a[0]);
	int cmd = arg_int(a[1]);
	uint64_t arg = a[2];
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		uint64_t minfd = g->is64 ? arg : (uint32_t)arg;
		if (minfd >= GUEST_MAX_FDS)
			return -EINVAL;
		if (fd_lowest_free(g, (int)minfd) < 0)
			return -EMFILE;
		int n = host_dup(h);
		if (n < 0)
			return -errno;
		return fd_install(g, n, cmd == F_DUPFD_CLOEXEC, (int)minfd);
	}
	case F_GETFD:
		return g->fds[fd].cloexec ? FD_CLOEXEC : 0;
	case F_SETFD:
		g->fds[fd].cloexec = (arg & FD_CLOEXEC) != 0;
		return 0;
	case F_GETFL:
		return host_ret(fcntl(h, F_GETFL));
	case F_SETFL:
		/* O_ASYNC without an owner signals nobody, and F_SETOWN is refused below. */
		return host_ret(fcntl(h, F_SETFL, arg_int(arg)));
	case F_GETPIPE_SZ:
	case F_GET_SEALS:
	case F_GETLEASE:
		return host_ret(fcntl(h, cmd));
	case F_SETPIPE_SZ:
	case F_ADD_SEALS:
		return host_ret(fcntl(h, cmd, arg_int(arg)));
	case F_DUPFD_QUERY: {
		int o = host_fd(g, arg);
		if (o < 0)
			return o;
		return host_ret(fcntl(h, F_DUPFD_QUERY, o));
	}
	case 5:  /* F_GETLK */
	case 6:  /* F_SETLK */
	case 7:  /* F_SETLKW */
		return fcntl_lock(g, h, cmd == 5 ? F_GETLK : cmd == 6 ? F_SETLK : F_SETLKW, arg,
				  g->is64 ? 0 : 1);
	case 12: /* i386 F_GETLK64 */
	case 13: /* i386 F_SETLK64 */
	case 14: /* i386 F_SETLKW64 */
		if (g->is64 || !fl64)
			return -EINVAL;
		return fcntl_lock(g, h, cmd == 12 ? F_GETLK : cmd == 13 ? F_SETLK : F_SETLKW, arg, 2);
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return fcntl_lock(g, h, cmd, arg, g->is64 ? 0 : fl64 ? 2 : 1);
	default:
		/* F_SETOWN(_EX), F_SETSIG, F_NOTIFY, F_SETLEASE would make the host signal mmuemu;
		 * the rest take pointers we do not convert. */
		return -EINVAL;
	}
}

static int64_t sys_fcntl(struct guest *g, const uint64_t *a) { return do_fcntl(g, a, false); }
static int64_t sys_fcntl64(struct guest *g, const uint64_t *a) { return do_fcntl(g, a, true); }

/* Terminal and descriptor ioctls with a known argument size; the same numbers on both ABIs.
 * dir: 0 = argument by value, 1 = the kernel writes size bytes, 2 = it reads them. */
static const struct {
	uint32_t req;
	uint8_t dir;
	uint8_t size;
} ioctl_table[] = {
	{ TCGETS, 1, 36 },          /* struct termios (kernel layout: 17 + NCCS 19) */
	{ TCSETS, 2, 36 },
	{ TCSETSW, 2, 36 },
	{ TCSETSF, 2, 36 },
	{ G_TCGETS2, 1, 44 },       /* struct termios2 */
	{ G_TCSETS2, 2, 44 },
	{ G_TCSETSW2, 2, 44 },
	{ G_TCSETSF2, 2, 44 },
	{ TIOCGWINSZ, 1, 8 },       /* struct winsize */
	{ TIOCSWINSZ, 2, 8 },
	{ TIOCGPGRP, 1, 4 },        /* pid_t */
	{ TIOCSPGRP, 2, 4 },
	{ TIOCGSID, 1, 4 },
	{ FIONREAD, 1, 4 },         /* int (also TIOCINQ) */
	{ TIOCOUTQ, 1, 4 },
	{ FIONBIO, 2, 4 },
	{ TCFLSH, 0, 0 },
	{ TCXONC, 0, 0 },
	{ TCSBRK, 0, 0 },
	{ TCSBRKP, 0, 0 },
};

static int64_t sys_ioctl(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	int fd = arg_int(a[0]);
	uint32_t req = (uint32_t)a[1];
	if (req == FIOCLEX || req == FIONCLEX) {
		g->fds[fd].cloexec = req == FIOCLEX;
		return 0;
	}
	for (size_t i = 0; i < sizeof ioctl_table / sizeof ioctl_table[0]; i++) {
		if (ioctl_table[i].req != req)
			continue;
		if (ioctl_table[i].dir == 0)
			return host_ret(ioctl(h, req, (unsigned long)arg_int(a[2])));
		uint8_t buf[64];
		memset(buf, 0, sizeof buf);
		size_t n = ioctl_table[i].size;
		if (ioctl_table[i].dir == 2 && get_user(g, a[2], buf, n))
			return -EFAULT;
		if (ioctl(h, req, buf) < 0)
			return -errno;
		if (ioctl_table[i].dir == 1 && put_user(g, a[2], buf, n))
			return -EFAULT;
		return 0;
	}
	/* Unknown request: Linux's answer for a descriptor that does not implement it. */
	return -ENOTTY;
}

/* ---- stat and friends ------------------------------------------------------------------------ */

/* The kernel's struct stat of each ABI, and i386 struct stat64 (arch/x86/include/uapi/asm/stat.h). */
struct stat_x86_64 {
	uint64_t st_dev, st_ino, st_nlink;
	uint32_t st_mode, st_uid, st_gid, pad0;
	uint64_t st_rdev;
	int64_t st_size, st_blksize, st_blocks;
	uint64_t st_atime_, st_atime_nsec, st_mtime_, st_mtime_nsec, st_ctime_, st_ctime_nsec;
	int64_t unused[3];
};
struct stat_i386 {
	uint32_t st_dev, st_ino;
	uint16_t st_mode, st_nlink, st_uid, st_gid;
	uint32_t st_rdev, st_size, st_blksize, st_blocks;
	uint32_t st_atime_, st_atime_nsec, st_mtime_, st_mtime_nsec, st_ctime_, st_ctime_nsec;
	uint32_t unused4, unused5;
};
struct __attribute__((packed)) stat64_i386 {
	uint64_t st_dev;
	uint8_t pad0[4];
	uint32_t st_ino32;
	uint32_t st_mode, st_nlink, st_uid, st_gid;
	uint64_t st_rdev;
	uint8_t pad3[4];
	int64_t st_size;
	uint32_t st_blksize;
	uint64_t st_blocks;
	uint32_t st_atime_, st_atime_nsec, st_mtime_, st_mtime_nsec, st_ctime_, st_ctime_nsec;
	uint64_t st_ino;
};
_Static_assert(sizeof(struct stat_x86_64) == 144, "x86-64 struct stat");
_Static_assert(sizeof(struct stat_i386) == 64, "i386 struct stat");
_Static_assert(sizeof(struct stat64_i386) == 96, "i386 struct stat64");
_Static_assert(offsetof(struct stat64_i386, st_size) == 44, "i386 struct stat64 layout");
_Static_assert(offsetof(struct stat64_i386, st_ino) == 88, "i386 struct stat64 layout");

enum stat_layout { STAT_NATIVE, STAT64 };   /* NATIVE: the ABI's struct stat */

/* Linux's 32-bit old_encode/new_encode_dev validity for the i386 struct stat. */
static bool dev_fits_old(uint64_t dev)
{
	return major(dev) < 256 * 16 && minor(dev) < (1u << 20);
}
static uint32_t new_encode_dev32(uint64_t dev)
{
	unsigned ma = major(dev), mi = minor(dev);
	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
}
static uint16_t low16_id(uint32_t id) { return id > 0xffff ? OVERFLOW_UID : (uint16_t)id; }

static int64_t put_stat(struct guest *g, uint64_t ua, const struct stat *st, enum stat_layout lay)
{
	if (g->is64) {
		struct stat_x86_64 s = {
			.st_dev = st->st_dev, .st_ino = st->st_ino, .st_nlink = st->st_nlink,
			.st_mode = st->st_mode, .st_uid = st->st_uid, .st_gid = st->st_gid,
			.st_rdev = st->st_rdev, .st_size = st->st_size, .st_blksize = st->st_blksize,
			.st_blocks = st->st_blocks,
			.st_atime_ = (uint64_t)st->st_atim.tv_sec,
			.st_atime_nsec = (uint64_t)st->st_atim.tv_nsec,
			.st_mtime_ = (uint64_t)st->st_mtim.tv_sec,
			.st_mtime_nsec = (uint64_t)st->st_mtim.tv_nsec,
			.st_ctime_ = (uint64_t)st->st_ctim.tv_sec,
			.st_ctime_nsec = (uint64_t)st->st_ctim.tv_nsec,
		};
		return put_user(g, ua, &s, sizeof s);
	}
	if (lay == STAT64) {
		struct stat64_i386 s;
		memset(&s, 0, sizeof s);
		s.st_dev = st->st_dev;
		s.st_ino32 = (uint32_t)st->st_ino;
		s.st_mode = st->st_mode;
		s.st_nlink = (uint32_t)st->st_nlink;
		s.st_uid = st->st_uid;
		s.st_gid = st->st_gid;
		s.st_rdev = st->st_rdev;
		s.st_size = st->st_size;
		s.st_blksize = (uint32_t)st->st_blksize;
		s.st_blocks = (uint64_t)st->st_blocks;
		s.st_atime_ = (uint32_t)st->st_atim.tv_sec;
		s.st_atime_nsec = (uint32_t)st->st_atim.tv_nsec;
		s.st_mtime_ = (uint32_t)st->st_mtim.tv_sec;
		s.st_mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
		s.st_ctime_ = (uint32_t)st->st_ctim.tv_sec;
		s.st_ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
		s.st_ino = st->st_ino;
		return put_user(g, ua, &s, sizeof s);
	}
	/* i386 struct stat (cp_new_stat): everything must fit or -EOVERFLOW. */
	if (!dev_fits_old(st->st_dev) || !dev_fits_old(st->st_rdev))
		return -EOVERFLOW;
	if ((uint64_t)st->st_size > MAX_NON_LFS || st->st_ino > 0xffffffffULL || st->st_nlink > 0xffff)
		return -EOVERFLOW;
	struct stat_i386 s = {
		.st_dev = new_encode_dev32(st->st_dev), .st_ino = (uint32_t)st->st_ino,
		.st_mode = (uint16_t)st->st_mode, .st_nlink = (uint16_t)st->st_nlink,
		.st_uid = low16_id(st->st_uid), .st_gid = low16_id(st->st_gid),
		.st_rdev = new_encode_dev32(st->st_rdev), .st_size = (uint32_t)st->st_size,
		.st_blksize = (uint32_t)st->st_blksize, .st_blocks = (uint32_t)st->st_blocks,
		.st_atime_ = (uint32_t)st->st_atim.tv_sec,
		.st_atime_nsec = (uint32_t)st->st_atim.tv_nsec,
		.st_mtime_ = (uint32_t)st->st_mtim.tv_sec,
		.st_mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
		.st_ctime_ = (uint32_t)st->st_ctim.tv_sec,
		.st_ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
	};
	return put_user(g, ua, &s, sizeof s);
}

/* fstatat on the host for a guest (dirfd, path, flags), then the guest's layout. */
static int64_t do_fstatat(struct guest *g, uint64_t gdirfd, uint64_t upath, uint64_t ubuf,
			  int flags, enum stat_layout lay)
{
	struct gpath p;   /* flags are checked by the host's fstatat (vfs_statx) */
	int64_t r = get_at_path(g, gdirfd, upath, &p, (flags & AT_EMPTY_PATH) != 0);
	if (r < 0)
		return r;
	struct stat st;
	if (fstatat(p.dirfd, p.path, &st, flags) < 0)
		return -errno;
	return put_stat(g, ubuf, &st, lay);
}

static int64_t do_fstat(struct guest *g, uint64_t gfd, uint64_t ubuf, enum stat_layout lay)
{
	int h = host_fd(g, gfd);
	if (h < 0)
		return h;
	struct stat st;
	if (fstat(h, &st) < 0)
		return -errno;
	return put_stat(g, ubuf, &st, lay);
}

#define ATFDCWD_ARG ((uint64_t)(int64_t)AT_FDCWD)

static int64_t sys_stat(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, ATFDCWD_ARG, a[0], a[1], 0, STAT_NATIVE);
}
static int64_t sys_lstat(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, ATFDCWD_ARG, a[0], a[1], AT_SYMLINK_NOFOLLOW, STAT_NATIVE);
}
static int64_t sys_fstat(struct guest *g, const uint64_t *a)
{
	return do_fstat(g, a[0], a[1], STAT_NATIVE);
}
static int64_t sys_newfstatat(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, a[0], a[1], a[2], arg_int(a[3]), STAT_NATIVE);
}
static int64_t sys_stat64(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, ATFDCWD_ARG, a[0], a[1], 0, STAT64);
}
static int64_t sys_lstat64(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, ATFDCWD_ARG, a[0], a[1], AT_SYMLINK_NOFOLLOW, STAT64);
}
static int64_t sys_fstat64(struct guest *g, const uint64_t *a)
{
	return do_fstat(g, a[0], a[1], STAT64);
}
static int64_t sys_fstatat64(struct guest *g, const uint64_t *a)
{
	return do_fstatat(g, a[0], a[1], a[2], arg_int(a[3]), STAT64);
}

/* statx(dirfd, path, flags, mask, buf): struct statx (256 bytes) is the same on both ABIs. */
static int64_t sys_statx(struct guest *g, const uint64_t *a)
{
	int flags = arg_int(a[2]);
	struct gpath p;
	int64_t r = get_at_path(g, a[0], a[1], &p, (flags & AT_EMPTY_PATH) != 0);
	if (r < 0)
		return r;
	uint8_t buf[256];
	if (syscall(SYS_statx, p.dirfd, p.path, flags, (unsigned)a[3], buf) < 0)
		return -errno;
	return put_user(g, a[4], buf, sizeof buf);
}

/* struct statfs: x86-64 (120 bytes, the host's), i386 statfs (64) and statfs64 (84). */
struct statfs_i386 {
	uint32_t f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree;
	int32_t f_fsid[2];
	uint32_t f_namelen, f_frsize, f_flags, f_spare[4];
};
struct __attribute__((packed, aligned(4))) statfs64_i386 {
	uint32_t f_type, f_bsize;
	uint64_t f_blocks, f_bfree, f_bavail, f_files, f_ffree;
	int32_t f_fsid[2];
	uint32_t f_namelen, f_frsize, f_flags, f_spare[4];
};
_Static_assert(sizeof(struct statfs_i386) == 64, "i386 struct statfs");
_Static_assert(sizeof(struct statfs64_i386) == 84, "i386 struct statfs64");
_Static_assert(sizeof(struct statfs) == 120, "host struct statfs is the x86-64 kernel's");

static int64_t put_statfs(struct guest *g, uint64_t ua, const struct statfs *s, bool is64layout)
{
	if (g->is64)
		return put_user(g, ua, s, sizeof *s);
	int32_t fsid[2];
	memcpy(fsid, &s->f_fsid, sizeof fsid);
	if (is64layout) {
		struct statfs64_i386 o = {
			(uint32_t)s->f_type, (uint32_t)s->f_bsize, s->f_blocks, s->f_bfree, s->f_bavail,
			s->f_files, s->f_ffree, { fsid[0], fsid[1] }, (uint32_t)s->f_namelen,
			(uint32_t)s->f_frsize, (uint32_t)s->f_flags, { 0, 0, 0, 0 } };
		return put_user(g, ua, &o, sizeof o);
	}
	/* do_statfs_native on a 32-bit kernel. */
	const uint64_t hi = 0xffffffff00000000ULL;
	if ((s->f_blocks | s->f_bfree | s->f_bavail | (uint64_t)s->f_bsize | (uint64_t)s->f_frsize) & hi)
		return -EOVERFLOW;
	if ((s->f_files != (fsfilcnt_t)-1 && (s->f_files & hi)) ||
	    (s->f_ffree != (fsfilcnt_t)-1 && (s->f_ffree & hi)))
		return -EOVERFLOW;
	struct statfs_i386 o = {
		(uint32_t)s->f_type, (uint32_t)s->f_bsize, (uint32_t)s->f_blocks, (uint32_t)s->f_bfree,
		(uint32_t)s->f_bavail, (uint32_t)s->f_files, (uint32_t)s->f_ffree, { fsid[0], fsid[1] },
		(uint32_t)s->f_namelen, (uint32_t)s->f_frsize, (uint32_t)s->f_flags, { 0, 0, 0, 0 } };
	return put_user(g, ua, &o, sizeof o);
}

static int64_t do_statfs(struct guest *g, uint64_t upath, uint64_t ubuf, bool l64)
{
	struct gpath p;
	int64_t r = get_path(g, upath, &p, false);
	if (r < 0)
		return r;
	struct statfs s;
	if (statfs(p.path, &s) < 0)
		return -errno;
	return put_statfs(g, ubuf, &s, l64);
}

static int64_t do_fstatfs(struct guest *g, uint64_t gfd, uint64_t ubuf, bool l64)
{
	int h = host_fd(g, gfd);
	if (h < 0)
		return h;
	struct statfs s;
	if (fstatfs(h, &s) < 0)
		return -errno;
	return put_statfs(g, ubuf, &s, l64);
}

static int64_t sys_statfs(struct guest *g, const uint64_t *a)
{
	return do_statfs(g, a[0], a[1], false);
}
static int64_t sys_fstatfs(struct guest *g, const uint64_t *a)
{
	return do_fstatfs(g, a[0], a[1], false);
}
/* i386 statfs64(path, size, buf) / fstatfs64(fd, size, buf): size must be sizeof(statfs64). */
static int64_t sys_statfs64(struct guest *g, const uint64_t *a)
{
	if (a[1] != sizeof(struct statfs64_i386))
		return -EINVAL;
	return do_statfs(g, a[0], a[2], true);
}
static int64_t sys_fstatfs64(struct guest *g, const uint64_t *a)
{
	if (a[1] != sizeof(struct statfs64_i386))
		return -EINVAL;
	return do_fstatfs(g, a[0], a[2], true);
}

/* ---- directories and names ------------------------------------------------------------------- */

/* getdents64: struct linux_dirent64 is the same on both ABIs. The destination is checked
 * before the host reads entries, so none are lost to a bad buffer. */
static int64_t sys_getdents64(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	uint64_t count = min_u64((uint32_t)a[2], IO_CHUNK);
	if (!range_ok(g, a[1], (uint32_t)a[2]))
		return -EFAULT;
	uint64_t ok = user_writable_prefix(g, a[1], count);
	if (ok == 0 && count)
		return -EFAULT;
	uint8_t *buf = bounce();
	long n = syscall(SYS_getdents64, h, buf, ok);
	if (n < 0)   /* an entry that did not fit the writable part would have faulted */
		return errno == EINVAL && ok < count ? -EFAULT : -errno;
	for (long i = 0; !g->is64 && i < n;) {   /* d_off at 8, d_reclen at 16 */
		uint64_t off;
		uint16_t reclen;
		memcpy(&off, buf + i + 8, 8);
		off = dir_pos_to_guest32(off);
		memcpy(buf + i + 8, &off, 8);
		memcpy(&reclen, buf + i + 16, 2);
		i += reclen;
	}
	if (n && put_user(g, a[1], buf, (size_t)n))
		return -EFAULT;
	return n;
}

/* Old getdents: struct linux_dirent { ulong d_ino, d_off; u16 d_reclen; char name[]; pad;
 * u8 d_type } converted from dirent64. A converted record is never longer than its dirent64
 * (x86-64: the same length, i386: shorter), so what the host returns always fits. */
static int64_t sys_getdents(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	uint64_t count = min_u64((uint32_t)a[2], IO_CHUNK);
	if (!range_ok(g, a[1], (uint32_t)a[2]))
		return -EFAULT;
	uint64_t ok = user_writable_prefix(g, a[1], count);
	if (ok == 0 && count)
		return -EFAULT;
	static _Thread_local uint8_t in[IO_CHUNK];
	off_t start = lseek(h, 0, SEEK_CUR);
	long n = syscall(SYS_getdents64, h, in, ok);
	if (n < 0)
		return errno == EINVAL && ok < count ? -EFAULT : -errno;
	off_t last = start;
	uint8_t *out = bounce();
	size_t lsz = long_size(g), o = 0;
	for (long i = 0; i < n;) {
		uint64_t ino, off;
		uint16_t reclen;
		memcpy(&ino, in + i, 8);
		memcpy(&off, in + i + 8, 8);
		memcpy(&reclen, in + i + 16, 2);
		uint8_t type = in[i + 18];
		const char *name = (const char *)in + i + 19;
		size_t nl = strlen(name);
		if (!g->is64 && (ino > 0xffffffffULL)) {
			/* filldir: -EOVERFLOW, or the entries before this one; the directory
			 * position is left at this entry, as Linux leaves it. */
			lseek(h, last, SEEK_SET);
			if (o == 0)
				return -EOVERFLOW;
			break;
		}
		last = (off_t)off;
		size_t rl = (2 * lsz + 2 + nl + 2 + lsz - 1) & ~(lsz - 1);
		memcpy(out + o, &ino, lsz);
		uint64_t noff = g->is64 ? off : dir_pos_to_guest32(off);
		memcpy(out + o + lsz, &noff, lsz);
		uint16_t rl16 = (uint16_t)rl;
		memcpy(out + o + 2 * lsz, &rl16, 2);
		memcpy(out + o + 2 * lsz + 2, name, nl + 1);
		memset(out + o + 2 * lsz + 2 + nl + 1, 0, rl - (2 * lsz + 2 + nl + 1));
		out[o + rl - 1] = type;
		o += rl;
		i += reclen;
	}
	if (o && put_user(g, a[1], out, o))
		return -EFAULT;
	return (int64_t)o;
}

/* readlink of a translated path: /proc/self/exe answers the guest program itself. */
static int64_t do_readlinkat(struct guest *g, uint64_t gdirfd, uint64_t upath, uint64_t ubuf,
			     int64_t bufsiz)
{
	if (bufsiz <= 0)
		return -EINVAL;
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, true);
	if (r < 0)
		return r;
	char target[PATH_MAX];
	ssize_t n;
	if (p.kind == PATH_EXE) {
		n = (ssize_t)strlen(g->exe_path);
		memcpy(target, g->exe_path, (size_t)n);
	} else if (p.kind == PATH_MAPS) {
		return -EINVAL;   /* not a symlink */
	} else {
		/* readlinkat(fd, "") reads the link an O_PATH descriptor stands for; the current
		 * directory is never a link. */
		if (p.path[0] == 0 && arg_int(gdirfd) == AT_FDCWD)
			return -ENOENT;
		n = readlinkat(p.dirfd, p.path, target, sizeof target);
		if (n < 0)
			return -errno;
	}
	size_t c = min_u64((uint64_t)n, (uint64_t)bufsiz);
	if (put_user(g, ubuf, target, c))
		return -EFAULT;
	return (int64_t)c;
}

static int64_t sys_readlink(struct guest *g, const uint64_t *a)
{
	return do_readlinkat(g, ATFDCWD_ARG, a[0], a[1], arg_int(a[2]));
}
static int64_t sys_readlinkat(struct guest *g, const uint64_t *a)
{
	return do_readlinkat(g, a[0], a[1], a[2], arg_int(a[3]));
}

/* getcwd(buf, size): the length including the NUL, -ERANGE if it does not fit. */
static int64_t sys_getcwd(struct guest *g, const uint64_t *a)
{
	char cwd[PATH_MAX];
	long n = syscall(SYS_getcwd, cwd, sizeof cwd);
	if (n < 0)
		return -errno;
	uint64_t size = g->is64 ? a[1] : (uint32_t)a[1];
	if ((uint64_t)n > size)
		return -ERANGE;
	if (put_user(g, a[0], cwd, (size_t)n))
		return -EFAULT;
	return n;
}

static int64_t sys_chdir(struct guest *g, const uint64_t *a)
{
	struct gpath p;
	int64_t r = get_path(g, a[0], &p, false);
	if (r < 0)
		return r;
	/* The guest's working directory is the host process's (mmuemu opens its own output files
	 * before the guest runs, or by absolute path). */
	return host_ret(chdir(p.path));
}

static int64_t sys_fchdir(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	return host_ret(fchdir(h));
}

/* The path calls below go to the host's raw system call with the guest's flags, so flag
 * validation and errors are the kernel's own. */

static int64_t do_faccessat(struct guest *g, uint64_t gdirfd, uint64_t upath, int mode, int flags,
			    bool v2)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, v2 && (flags & AT_EMPTY_PATH));
	if (r < 0)
		return r;
	if (v2)
		return host_ret(syscall(SYS_faccessat2, p.dirfd, p.path, mode, flags));
	return host_ret(syscall(SYS_faccessat, p.dirfd, p.path, mode));
}

static int64_t sys_access(struct guest *g, const uint64_t *a)
{
	return do_faccessat(g, ATFDCWD_ARG, a[0], arg_int(a[1]), 0, false);
}
static int64_t sys_faccessat(struct guest *g, const uint64_t *a)
{
	return do_faccessat(g, a[0], a[1], arg_int(a[2]), 0, false);
}
static int64_t sys_faccessat2(struct guest *g, const uint64_t *a)
{
	return do_faccessat(g, a[0], a[1], arg_int(a[2]), arg_int(a[3]), true);
}

static int64_t do_unlinkat(struct guest *g, uint64_t gdirfd, uint64_t upath, int flags)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, false);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_unlinkat, p.dirfd, p.path, flags));
}

static int64_t sys_unlink(struct guest *g, const uint64_t *a)
{
	return do_unlinkat(g, ATFDCWD_ARG, a[0], 0);
}
static int64_t sys_rmdir(struct guest *g, const uint64_t *a)
{
	return do_unlinkat(g, ATFDCWD_ARG, a[0], AT_REMOVEDIR);
}
static int64_t sys_unlinkat(struct guest *g, const uint64_t *a)
{
	return do_unlinkat(g, a[0], a[1], arg_int(a[2]));
}

static int64_t do_mkdirat(struct guest *g, uint64_t gdirfd, uint64_t upath, int mode)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, false);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_mkdirat, p.dirfd, p.path, mode));
}

static int64_t sys_mkdir(struct guest *g, const uint64_t *a)
{
	return do_mkdirat(g, ATFDCWD_ARG, a[0], arg_int(a[1]));
}
static int64_t sys_mkdirat(struct guest *g, const uint64_t *a)
{
	return do_mkdirat(g, a[0], a[1], arg_int(a[2]));
}

/* Two paths (rename, link): both copied before any lookup, as Linux does. */
static int64_t two_paths(struct guest *g, uint64_t d1, uint64_t u1, uint64_t d2, uint64_t u2,
			 struct gpath *p1, struct gpath *p2, bool empty1)
{
	int64_t r = get_at_path(g, d1, u1, p1, empty1);
	if (r < 0)
		return r;
	r = get_at_path(g, d2, u2, p2, false);
	if (r < 0)
		return r;
	return 0;
}

static int64_t do_renameat2(struct guest *g, uint64_t d1, uint64_t u1, uint64_t d2, uint64_t u2,
			    unsigned flags)
{
	static _Thread_local struct gpath p1, p2;
	int64_t r = two_paths(g, d1, u1, d2, u2, &p1, &p2, false);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_renameat2, p1.dirfd, p1.path, p2.dirfd, p2.path, flags));
}

static int64_t sys_rename(struct guest *g, const uint64_t *a)
{
	return do_renameat2(g, ATFDCWD_ARG, a[0], ATFDCWD_ARG, a[1], 0);
}
static int64_t sys_renameat(struct guest *g, const uint64_t *a)
{
	return do_renameat2(g, a[0], a[1], a[2], a[3], 0);
}
static int64_t sys_renameat2(struct guest *g, const uint64_t *a)
{
	return do_renameat2(g, a[0], a[1], a[2], a[3], (unsigned)a[4]);
}

static int64_t do_linkat(struct guest *g, uint64_t d1, uint64_t u1, uint64_t d2, uint64_t u2,
			 int flags)
{
	static _Thread_local struct gpath p1, p2;
	int64_t r = two_paths(g, d1, u1, d2, u2, &p1, &p2, (flags & AT_EMPTY_PATH) != 0);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_linkat, p1.dirfd, p1.path, p2.dirfd, p2.path, flags));
}

static int64_t sys_link(struct guest *g, const uint64_t *a)
{
	return do_linkat(g, ATFDCWD_ARG, a[0], ATFDCWD_ARG, a[1], 0);
}
static int64_t sys_linkat(struct guest *g, const uint64_t *a)
{
	return do_linkat(g, a[0], a[1], a[2], a[3], arg_int(a[4]));
}

/* symlink(target, linkpath): the target is stored as text, never translated. */
static int64_t do_symlinkat(struct guest *g, uint64_t utarget, uint64_t gdirfd, uint64_t upath)
{
	static _Thread_local char target[PATH_MAX];
	int64_t r = km_strncpy_from_user(g->km, g->mm, target, utarget, sizeof target);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	struct gpath p;
	r = get_at_path(g, gdirfd, upath, &p, false);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_symlinkat, target, p.dirfd, p.path));
}

static int64_t sys_symlink(struct guest *g, const uint64_t *a)
{
	return do_symlinkat(g, a[0], ATFDCWD_ARG, a[1]);
}
static int64_t sys_symlinkat(struct guest *g, const uint64_t *a)
{
	return do_symlinkat(g, a[0], a[1], a[2]);
}

static int64_t do_fchmodat(struct guest *g, uint64_t gdirfd, uint64_t upath, unsigned mode)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, false);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_fchmodat, p.dirfd, p.path, mode));
}

static int64_t sys_chmod(struct guest *g, const uint64_t *a)
{
	return do_fchmodat(g, ATFDCWD_ARG, a[0], (unsigned)a[1]);
}
static int64_t sys_fchmodat(struct guest *g, const uint64_t *a)
{
	return do_fchmodat(g, a[0], a[1], (unsigned)a[2]);
}
static int64_t sys_fchmod(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(fchmod(h, (mode_t)a[1]));
}

/* chown family; uid16: the i386 16-bit calls, where 0xffff means "unchanged". */
static uint32_t id_arg(uint64_t v, bool uid16)
{
	if (uid16)
		return (uint16_t)v == 0xffff ? (uint32_t)-1 : (uint16_t)v;
	return (uint32_t)v;
}

static int64_t do_fchownat(struct guest *g, uint64_t gdirfd, uint64_t upath, uint32_t uid,
			   uint32_t gid, int flags)
{
	struct gpath p;
	int64_t r = get_at_path(g, gdirfd, upath, &p, (flags & AT_EMPTY_PATH) != 0);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_fchownat, p.dirfd, p.path, uid, gid, flags));
}

static int64_t sys_chown(struct guest *g, const uint64_t *a)
{
	return do_fchownat(g, ATFDCWD_ARG, a[0], id_arg(a[1], false), id_arg(a[2], false), 0);
}
static int64_t sys_lchown(struct guest *g, const uint64_t *a)
{
	return do_fchownat(g, ATFDCWD_ARG, a[0], id_arg(a[1], false), id_arg(a[2], false),
			   AT_SYMLINK_NOFOLLOW);
}
static int64_t sys_chown16(struct guest *g, const uint64_t *a)
{
	return do_fchownat(g, ATFDCWD_ARG, a[0], id_arg(a[1], true), id_arg(a[2], true), 0);
}
static int64_t sys_lchown16(struct guest *g, const uint64_t *a)
{
	return do_fchownat(g, ATFDCWD_ARG, a[0], id_arg(a[1], true), id_arg(a[2], true),
			   AT_SYMLINK_NOFOLLOW);
}
static int64_t sys_fchownat(struct guest *g, const uint64_t *a)
{
	return do_fchownat(g, a[0], a[1], id_arg(a[2], false), id_arg(a[3], false), arg_int(a[4]));
}
static int64_t sys_fchown(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(fchown(h, id_arg(a[1], false), id_arg(a[2], false)));
}
static int64_t sys_fchown16(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(fchown(h, id_arg(a[1], true), id_arg(a[2], true)));
}

static int64_t sys_umask(struct guest *g, const uint64_t *a)
{
	(void)g;
	return umask((mode_t)(a[0] & 0777));
}

static int64_t do_truncate(struct guest *g, uint64_t upath, int64_t len)
{
	if (len < 0)
		return -EINVAL;
	struct gpath p;
	int64_t r = get_path(g, upath, &p, false);
	if (r < 0)
		return r;
	return host_ret(truncate(p.path, len));
}

static int64_t do_ftruncate(struct guest *g, uint64_t gfd, int64_t len)
{
	if (len < 0)
		return -EINVAL;
	int h = host_fd(g, gfd);
	if (h < 0)
		return h;
	return host_ret(ftruncate(h, len));
}

static int64_t sys_truncate(struct guest *g, const uint64_t *a)
{
	return do_truncate(g, a[0], arg_long(g, a[1]));
}
static int64_t sys_ftruncate(struct guest *g, const uint64_t *a)
{
	return do_ftruncate(g, a[0], arg_long(g, a[1]));
}
static int64_t sys_truncate64(struct guest *g, const uint64_t *a)
{
	int i = 1;
	return do_truncate(g, a[0], arg_pair(g, a, &i));
}
static int64_t sys_ftruncate64(struct guest *g, const uint64_t *a)
{
	int i = 1;
	return do_ftruncate(g, a[0], arg_pair(g, a, &i));
}

static int64_t sys_fsync(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(fsync(h));
}
static int64_t sys_fdatasync(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(fdatasync(h));
}
static int64_t sys_flock(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	return h < 0 ? h : host_ret(flock(h, arg_int(a[1])));
}

/* fadvise64: x86-64 (fd, offset, len, advice); i386 fadvise64 (fd, off_lo, off_hi, u32 len,
 * advice) and fadvise64_64 (fd, off_lo, off_hi, len_lo, len_hi, advice). */
static int64_t do_fadvise(struct guest *g, uint64_t gfd, int64_t off, int64_t len, int advice)
{
	int h = host_fd(g, gfd);
	if (h < 0)
		return h;
	return host_ret(syscall(SYS_fadvise64, h, off, len, advice));
}
static int64_t sys_fadvise64(struct guest *g, const uint64_t *a)
{
	return do_fadvise(g, a[0], (int64_t)a[1], (int64_t)a[2], arg_int(a[3]));
}
static int64_t sys_fadvise64_i386(struct guest *g, const uint64_t *a)
{
	int i = 1;
	int64_t off = arg_pair(g, a, &i);
	return do_fadvise(g, a[0], off, (int64_t)(uint32_t)a[3], arg_int(a[4]));
}
static int64_t sys_fadvise64_64(struct guest *g, const uint64_t *a)
{
	int i = 1;
	int64_t off = arg_pair(g, a, &i);
	int64_t len = arg_pair(g, a, &i);
	return do_fadvise(g, a[0], off, len, arg_int(a[5]));
}

/* fallocate(fd, mode, offset, len); i386 passes offset and len in register pairs. */
static int64_t sys_fallocate(struct guest *g, const uint64_t *a)
{
	int h = host_fd(g, a[0]);
	if (h < 0)
		return h;
	int i = 2;
	int64_t off = arg_pair(g, a, &i);
	int64_t len = arg_pair(g, a, &i);
	return host_ret(fallocate(h, arg_int(a[1]), off, len));
}

/* ---- time ------------------------------------------------------------------------------------ */

/* A guest struct timespec: 16 bytes on x86-64 and for the i386 *_time64 calls (wide), else
 * 8 bytes. i386 time64: the kernel ignores the upper half of tv_nsec (32-bit long). */
static int get_timespec(struct guest *g, uint64_t va, bool wide, struct timespec *ts)
{
	if (wide) {
		int64_t v[2];
		if (get_user(g, va, v, sizeof v))
			return -EFAULT;
		ts->tv_sec = v[0];
		ts->tv_nsec = g->is64 ? v[1] : (int32_t)v[1];
	} else {
		int32_t v[2];
		if (get_user(g, va, v, sizeof v))
			return -EFAULT;
		ts->tv_sec = v[0];
		ts->tv_nsec = v[1];
	}
	return 0;
}

static int put_timespec(struct guest *g, uint64_t va, bool wide, const struct timespec *ts)
{
	if (wide) {
		int64_t v[2] = { ts->tv_sec, ts->tv_nsec };
		return put_user(g, va, v, sizeof v);
	}
	int32_t v[2] = { (int32_t)ts->tv_sec, (int32_t)ts->tv_nsec };
	return put_user(g, va, v, sizeof v);
}

static bool timespec_valid(const struct timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < NSEC_PER_SEC;
}

/* tmo - (now - start) on CLOCK_MONOTONIC, at least zero; no overflow for any valid tmo. */
static struct timespec time_left(const struct timespec *tmo, const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t es = now.tv_sec - start->tv_sec, ens = now.tv_nsec - start->tv_nsec;
	if (ens < 0) {
		es--;
		ens += NSEC_PER_SEC;
	}
	int64_t ls = tmo->tv_sec - es, lns = tmo->tv_nsec - ens;
	if (lns < 0) {
		ls--;
		lns += NSEC_PER_SEC;
	}
	if (ls < 0)
		ls = lns = 0;
	return (struct timespec){ ls, lns };
}

/* Clock ids the host may read for the guest: the static ones and CPU clocks of a pid; not the
 * dynamic clocks that name a descriptor (they would name the host's). */
static bool clock_ok(int clk)
{
	return clk >= 0 || (clk & CLOCKFD_MASK) != CLOCKFD;
}

static int64_t do_clock_gettime(struct guest *g, const uint64_t *a, bool wide)
{
	int clk = arg_int(a[0]);
	if (!clock_ok(clk))
		return -EINVAL;
	struct timespec ts;
	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	return put_timespec(g, a[1], wide, &ts);
}

static int64_t do_clock_getres(struct guest *g, const uint64_t *a, bool wide)
{
	int clk = arg_int(a[0]);
	if (!clock_ok(clk))
		return -EINVAL;
	struct timespec ts;
	if (clock_getres(clk, &ts) < 0)
		return -errno;
	return a[1] ? put_timespec(g, a[1], wide, &ts) : 0;
}

static int64_t sys_clock_gettime(struct guest *g, const uint64_t *a)
{
	return do_clock_gettime(g, a, g->is64);
}
static int64_t sys_clock_gettime64(struct guest *g, const uint64_t *a)
{
	return do_clock_gettime(g, a, true);
}
static int64_t sys_clock_getres(struct guest *g, const uint64_t *a)
{
	return do_clock_getres(g, a, g->is64);
}
static int64_t sys_clock_getres_time64(struct guest *g, const uint64_t *a)
{
	return do_clock_getres(g, a, true);
}

/* Sleeps on the host for real. An interrupted sleep (a host signal) returns -EINTR and the time
 * left, as Linux does for a relative sleep. */
static int64_t do_clock_nanosleep(struct guest *g, int clk, int flags, uint64_t ureq, uint64_t urem,
				  bool wide)
{
	struct timespec req, rem = { 0, 0 };
	if (get_timespec(g, ureq, wide, &req))
		return -EFAULT;
	if (!timespec_valid(&req))
		return -EINVAL;
	if (!clock_ok(clk))
		return -EINVAL;
	if (syscall(SYS_clock_nanosleep, clk, flags, &req, &rem) == 0)
		return 0;
	int e = errno;
	if (e == EINTR && urem && !(flags & TIMER_ABSTIME) && put_timespec(g, urem, wide, &rem))
		return -EFAULT;
	return -e;
}

static int64_t sys_nanosleep(struct guest *g, const uint64_t *a)
{
	return do_clock_nanosleep(g, CLOCK_MONOTONIC, 0, a[0], a[1], g->is64);
}
static int64_t sys_clock_nanosleep(struct guest *g, const uint64_t *a)
{
	return do_clock_nanosleep(g, arg_int(a[0]), arg_int(a[1]), a[2], a[3], g->is64);
}
static int64_t sys_clock_nanosleep_time64(struct guest *g, const uint64_t *a)
{
	return do_clock_nanosleep(g, arg_int(a[0]), arg_int(a[1]), a[2], a[3], true);
}

static int64_t sys_gettimeofday(struct guest *g, const uint64_t *a)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (a[0]) {
		int64_t w[2] = { tv.tv_sec, tv.tv_usec };
		int32_t n[2] = { (int32_t)tv.tv_sec, (int32_t)tv.tv_usec };
		int r = g->is64 ? put_user(g, a[0], w, sizeof w) : put_user(g, a[0], n, sizeof n);
		if (r)
			return r;
	}
	if (a[1]) {
		int32_t tz[2] = { 0, 0 };   /* struct timezone: minuteswest, dsttime (UTC) */
		if (put_user(g, a[1], tz, sizeof tz))
			return -EFAULT;
	}
	return 0;
}

static int64_t sys_time(struct guest *g, const uint64_t *a)
{
	time_t t = time(NULL);
	if (a[0] && put_ulong(g, a[0], (uint64_t)t))
		return -EFAULT;
	return g->is64 ? (int64_t)t : (int64_t)(int32_t)t;
}

/* utimensat(dirfd, path, times[2], flags): path may be NULL (then dirfd itself, Linux's
 * futimens). */
static int64_t do_utimensat(struct guest *g, const uint64_t *a, bool wide)
{
	struct timespec ts[2], *tsp = NULL;
	if (a[2]) {
		if (get_timespec(g, a[2], wide, &ts[0]) ||
		    get_timespec(g, a[2] + (wide ? 16 : 8), wide, &ts[1]))
			return -EFAULT;
		tsp = ts;
	}
	int flags = arg_int(a[3]);
	if (a[1] == 0) {
		/* do_utimes_fd: no flags allowed; AT_FDCWD with no path is a bad path. */
		if (arg_int(a[0]) == AT_FDCWD)
			return -EFAULT;
		if (flags)
			return -EINVAL;
		int h = host_fd(g, a[0]);
		if (h < 0)
			return h;
		return host_ret(syscall(SYS_utimensat, h, NULL, tsp, 0));
	}
	struct gpath p;
	int64_t r = get_at_path(g, a[0], a[1], &p, (flags & AT_EMPTY_PATH) != 0);
	if (r < 0)
		return r;
	return host_ret(syscall(SYS_utimensat, p.dirfd, p.path, tsp, flags));
}

static int64_t sys_utimensat(struct guest *g, const uint64_t *a)
{
	return do_utimensat(g, a, g->is64);
}
static int64_t sys_utimensat_time64(struct guest *g, const uint64_t *a)
{
	return do_utimensat(g, a, true);
}

static int64_t sys_getrandom(struct guest *g, const uint64_t *a)
{
	unsigned flags = (unsigned)a[2];
	if (flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	if ((flags & (GRND_INSECURE | GRND_RANDOM)) == (GRND_INSECURE | GRND_RANDOM))
		return -EINVAL;
	uint64_t len = min_u64(g->is64 ? a[1] : (uint32_t)a[1], INT_MAX);
	if (!range_ok(g, a[0], len))
		return -EFAULT;
	uint8_t *buf = bounce();
	int64_t done = 0;
	while ((uint64_t)done < len) {
		uint64_t want = min_u64(len - (uint64_t)done, IO_CHUNK);
		uint64_t ok = user_writable_prefix(g, a[0] + (uint64_t)done, want);
		if (ok == 0)
			return done ? done : -EFAULT;
		ssize_t r = getrandom(buf, ok, flags);
		if (r < 0)
			return done ? done : -errno;
		if (put_user(g, a[0] + (uint64_t)done, buf, (size_t)r))
			return done ? done : -EFAULT;
		done += r;
		if ((uint64_t)r < ok)
			break;
	}
	return done;
}

/* ---- poll and select ------------------------------------------------------------------------- */

/* Polls guest pollfds through the host. Entries with a negative fd are ignored; a closed guest
 * fd reports POLLNVAL (and makes the call return at once, as it counts as ready). timeout_ms < 0
 * waits forever. */
static int64_t do_poll(struct guest *g, uint64_t ufds, uint64_t nfds, int timeout_ms,
		       const struct timespec *deadline_ts)
{
	if (nfds > GUEST_MAX_FDS)
		return -EINVAL;
	static _Thread_local struct pollfd pf[GUEST_MAX_FDS], hp[GUEST_MAX_FDS];
	if (nfds && get_user(g, ufds, pf, nfds * sizeof pf[0]))
		return -EFAULT;
	int nval = 0;
	for (uint64_t i = 0; i < nfds; i++) {
		hp[i].events = pf[i].events | POLLERR | POLLHUP;
		hp[i].revents = 0;
		if (pf[i].fd < 0) {
			hp[i].fd = -1;
		} else {
			int h = host_fd(g, (uint64_t)(int64_t)pf[i].fd);
			hp[i].fd = h < 0 ? -1 : h;
			if (h < 0)
				nval++;
		}
	}
	int r;
	if (deadline_ts && !nval) {
		r = ppoll(hp, nfds, deadline_ts, NULL);
	} else {
		r = poll(hp, nfds, nval ? 0 : timeout_ms);
	}
	if (r < 0)
		return -errno;
	for (uint64_t i = 0; i < nfds; i++) {
		if (pf[i].fd >= 0 && hp[i].fd < 0)
			pf[i].revents = POLLNVAL;
		else
			pf[i].revents = hp[i].revents & (pf[i].events | POLLERR | POLLHUP | POLLNVAL);
	}
	if (nfds && put_user(g, ufds, pf, nfds * sizeof pf[0]))
		return -EFAULT;
	return r + nval;
}

static int64_t sys_poll(struct guest *g, const uint64_t *a)
{
	return do_poll(g, a[0], g->is64 ? a[1] : (uint32_t)a[1], arg_int(a[2]), NULL);
}

/* ppoll(fds, nfds, timeout timespec*, sigmask*, sigsetsize): the mask is checked, not applied
 * (no signal is ever delivered). The time left is written back as Linux does. */
static int64_t do_ppoll(struct guest *g, const uint64_t *a, bool wide)
{
	struct timespec ts, *tsp = NULL, start;
	if (a[2]) {
		if (get_timespec(g, a[2], wide, &ts))
			return -EFAULT;
		if (!timespec_valid(&ts))
			return -EINVAL;
		tsp = &ts;
		clock_gettime(CLOCK_MONOTONIC, &start);
	}
	if (a[3] && a[4] != SIGSET_SIZE)
		return -EINVAL;
	int64_t r = do_poll(g, a[0], g->is64 ? a[1] : (uint32_t)a[1], -1, tsp);
	if (tsp) {
		struct timespec left = time_left(&ts, &start);
		put_timespec(g, a[2], wide, &left);   /* a fault here is ignored, as in Linux */
	}
	return r;
}

static int64_t sys_ppoll(struct guest *g, const uint64_t *a) { return do_ppoll(g, a, g->is64); }
static int64_t sys_ppoll_time64(struct guest *g, const uint64_t *a) { return do_ppoll(g, a, true); }

/* select through poll: the fd_sets are bitmaps of longs of the guest's ABI; fds above the
 * guest's table are cut off (Linux caps n at the table size). timeout: NULL, or a relative time
 * (written back with the time left). */
static int64_t do_select(struct guest *g, int64_t n, uint64_t uin, uint64_t uout, uint64_t uex,
			 struct timespec *tmo, uint64_t utmo, bool tmo_is_timeval, bool wide)
{
	if (n < 0)
		return -EINVAL;
	if (n > GUEST_MAX_FDS)
		n = GUEST_MAX_FDS;
	size_t lbits = 8 * long_size(g);
	size_t bytes = (size_t)((n + (int64_t)lbits - 1) / (int64_t)lbits) * long_size(g);
	uint8_t in[GUEST_MAX_FDS / 8] = { 0 }, out[GUEST_MAX_FDS / 8] = { 0 };
	uint8_t ex[GUEST_MAX_FDS / 8] = { 0 };
	if ((uin && get_user(g, uin, in, bytes)) || (uout && get_user(g, uout, out, bytes)) ||
	    (uex && get_user(g, uex, ex, bytes)))
		return -EFAULT;
	static _Thread_local struct pollfd hp[GUEST_MAX_FDS];
	static _Thread_local int gfd[GUEST_MAX_FDS];
	int np = 0;
	for (int fd = 0; fd < n; fd++) {
		uint8_t bit = (uint8_t)(1u << (fd & 7));
		bool r = in[fd / 8] & bit, w = out[fd / 8] & bit, e = ex[fd / 8] & bit;
		if (!r && !w && !e)
			continue;
		int h = host_fd(g, (uint64_t)fd);
		if (h < 0)
			return -EBADF;
		hp[np].fd = h;
		hp[np].events = (short)((r ? POLLIN | POLLRDNORM | POLLRDBAND : 0) |
					(w ? POLLOUT | POLLWRNORM | POLLWRBAND : 0) | (e ? POLLPRI : 0));
		hp[np].revents = 0;
		gfd[np++] = fd;
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int r = ppoll(hp, (nfds_t)np, tmo, NULL);
	if (r < 0)
		return -errno;
	uint8_t rin[GUEST_MAX_FDS / 8] = { 0 }, rout[GUEST_MAX_FDS / 8] = { 0 };
	uint8_t rex[GUEST_MAX_FDS / 8] = { 0 };
	int count = 0;
	for (int i = 0; i < np; i++) {
		int fd = gfd[i];
		uint8_t bit = (uint8_t)(1u << (fd & 7));
		short ev = hp[i].revents;
		/* Linux's POLLIN_SET, POLLOUT_SET and POLLEX_SET. */
		if ((in[fd / 8] & bit) &&
		    (ev & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR))) {
			rin[fd / 8] |= bit;
			count++;
		}
		if ((out[fd / 8] & bit) && (ev & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR))) {
			rout[fd / 8] |= bit;
			count++;
		}
		if ((ex[fd / 8] & bit) && (ev & POLLPRI)) {
			rex[fd / 8] |= bit;
			count++;
		}
	}
	if ((uin && put_user(g, uin, rin, bytes)) || (uout && put_user(g, uout, rout, bytes)) ||
	    (uex && put_user(g, uex, rex, bytes)))
		return -EFAULT;
	if (tmo) {
		struct timespec left = time_left(tmo, &start);
		/* A fault writing the time left is ignored, as in Linux. */
		if (tmo_is_timeval) {
			int64_t w[2] = { left.tv_sec, left.tv_nsec / 1000 };
			int32_t w32[2] = { (int32_t)w[0], (int32_t)w[1] };
			if (wide)
				put_user(g, utmo, w, sizeof w);
			else
				put_user(g, utmo, w32, sizeof w32);
		} else {
			put_timespec(g, utmo, wide, &left);
		}
	}
	return count;
}

/* select(n, in, out, ex, struct timeval *) (x86-64 select, i386 _newselect). */
static int64_t sys_select(struct guest *g, const uint64_t *a)
{
	struct timespec ts, *tsp = NULL;
	if (a[4]) {
		int64_t sec, usec;
		if (g->is64) {
			int64_t v[2];
			if (get_user(g, a[4], v, sizeof v))
				return -EFAULT;
			sec = v[0];
			usec = v[1];
		} else {
			int32_t v[2];
			if (get_user(g, a[4], v, sizeof v))
				return -EFAULT;
			sec = v[0];
			usec = v[1];
		}
		if (sec < 0 || usec < 0 || usec >= 1000000)
			return -EINVAL;
		ts.tv_sec = sec;
		ts.tv_nsec = usec * 1000;
		tsp = &ts;
	}
	return do_select(g, arg_int(a[0]), a[1], a[2], a[3], tsp, a[4], true, g->is64);
}

/* i386 old select(struct sel_arg_struct *): { n, inp, outp, exp, tvp }, all 32-bit. */
static int64_t sys_old_select(struct guest *g, const uint64_t *a)
{
	uint32_t s[5];
	if (get_user(g, a[0], s, sizeof s))
		return -EFAULT;
	uint64_t b[6] = { s[0], s[1], s[2], s[3], s[4], 0 };
	return sys_select(g, b);
}

/* pselect6(n, in, out, ex, timespec *, { const sigset_t *ss; size_t ss_len } *). */
static int64_t do_pselect6(struct guest *g, const uint64_t *a, bool wide)
{
	struct timespec ts, *tsp = NULL;
	if (a[4]) {
		if (get_timespec(g, a[4], wide, &ts))
			return -EFAULT;
		if (!timespec_valid(&ts))
			return -EINVAL;
		tsp = &ts;
	}
	if (a[5]) {
		uint64_t ss, len;
		if (get_ulong(g, a[5], &ss) || get_ulong(g, a[5] + long_size(g), &len))
			return -EFAULT;
		if (ss && len != SIGSET_SIZE)
			return -EINVAL;
	}
	return do_select(g, arg_int(a[0]), a[1], a[2], a[3], tsp, a[4], false, wide);
}

static int64_t sys_pselect6(struct guest *g, const uint64_t *a)
{
	return do_pselect6(g, a, g->is64);
}
static int64_t sys_pselect6_time64(struct guest *g, const uint64_t *a)
{
	return do_pselect6(g, a, true);
}

/* ---- memory: the kernel model ---------------------------------------------------------------- */

static int64_t sys_brk(struct guest *g, const uint64_t *a)
{
	return (int64_t)km_brk(g->km, g->mm, a[0]);
}

/* mmap with a byte offset (already checked page-aligned). File mappings go through the page
 * cache of the kernel model: guest fd -> host fd -> km_file (the VMA takes its own reference). */
static int64_t do_mmap(struct guest *g, uint64_t addr, uint64_t len, int prot, int flags,
		       uint64_t gfd, uint64_t offset)
{
	if (flags & MAP_ANONYMOUS)
		return km_mmap(g->km, g->mm, addr, len, prot, flags, NULL, offset);
	int h = host_fd(g, gfd);
	if (h < 0)
		return h;
	int fl = fcntl(h, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fl & O_PATH)
		return -EBADF;
	if (flags & MAP_HUGETLB)
		return -EINVAL;
	int acc = fl & O_ACCMODE;
	if (acc == O_WRONLY)
		return -EACCES;
	int type = flags & MAP_TYPE;
	if ((type == MAP_SHARED || type == MAP_SHARED_VALIDATE) && (prot & PROT_WRITE) && acc != O_RDWR)
		return -EACCES;
	struct stat st;
	if (fstat(h, &st) < 0)
		return -errno;
	if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 5)
		/* /dev/zero: a private mapping of it is anonymous memory (drivers/char/mem.c). */
		return km_mmap(g->km, g->mm, addr, len, prot, flags | MAP_ANONYMOUS, NULL, 0);
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	struct km_file *f = km_file_get(g->km, h);
	if (!f)
		return -(errno ? errno : ENOMEM);
	int64_t r = km_mmap(g->km, g->mm, addr, len, prot, flags, f, offset);
	km_file_put(g->km, f);
	return r;
}

/* x86-64 mmap(addr, len, prot, flags, fd, off): off in bytes. */
static int64_t sys_mmap(struct guest *g, const uint64_t *a)
{
	if (a[5] & (PAGE_SIZE - 1))
		return -EINVAL;
	return do_mmap(g, a[0], a[1], arg_int(a[2]), arg_int(a[3]), a[4], a[5]);
}

/* i386 mmap2(addr, len, prot, flags, fd, pgoff): offset in 4 KiB units. */
static int64_t sys_mmap2(struct guest *g, const uint64_t *a)
{
	uint64_t offset = (uint64_t)(uint32_t)a[5] << PAGE_SHIFT;
	return do_mmap(g, a[0], a[1], arg_int(a[2]), arg_int(a[3]), a[4], offset);
}

/* i386 old mmap (nr 90): one pointer to struct mmap_arg_struct { addr, len, prot, flags, fd,
 * offset }, 32-bit each; the offset in bytes must be page-aligned. */
static int64_t sys_old_mmap(struct guest *g, const uint64_t *a)
{
	uint32_t m[6];
	if (get_user(g, a[0], m, sizeof m))
		return -EFAULT;
	if (m[5] & (PAGE_SIZE - 1))
		return -EINVAL;
	return do_mmap(g, m[0], m[1], (int)m[2], (int)m[3], m[4], m[5]);
}

static int64_t sys_munmap(struct guest *g, const uint64_t *a)
{
	return km_munmap(g->km, g->mm, a[0], a[1]);
}
static int64_t sys_mprotect(struct guest *g, const uint64_t *a)
{
	return km_mprotect(g->km, g->mm, a[0], a[1], arg_int(a[2]));
}
static int64_t sys_mremap(struct guest *g, const uint64_t *a)
{
	return km_mremap(g->km, g->mm, a[0], a[1], a[2], arg_int(a[3]), a[4]);
}
static int64_t sys_madvise(struct guest *g, const uint64_t *a)
{
	return km_madvise(g->km, g->mm, a[0], a[1], arg_int(a[2]));
}

/* msync: only private mappings exist in the model, so there is nothing to write back; the
 * arguments are checked as Linux checks them (the range itself is not). */
static int64_t sys_msync(struct guest *g, const uint64_t *a)
{
	(void)g;
	int flags = arg_int(a[2]);
	if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC))
		return -EINVAL;
	if (a[0] & (PAGE_SIZE - 1))
		return -EINVAL;
	if ((flags & MS_ASYNC) && (flags & MS_SYNC))
		return -EINVAL;
	uint64_t len = (a[1] + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	if (a[0] + len < a[0])
		return -ENOMEM;
	return 0;
}

/* ---- identity -------------------------------------------------------------------------------- */

static int64_t sys_getpid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return getpid(); }
static int64_t sys_gettid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return getpid(); }
static int64_t sys_getppid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return getppid();
}
static int64_t sys_getpgrp(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return getpgrp();
}

/* The only process in the guest's world is itself: other pids do not exist. */
static bool is_self(int pid) { return pid == 0 || pid == getpid(); }

static int64_t sys_getpgid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return is_self(arg_int(a[0])) ? host_ret(getpgid(0)) : -ESRCH;
}
static int64_t sys_getsid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return is_self(arg_int(a[0])) ? host_ret(getsid(0)) : -ESRCH;
}
static int64_t sys_setpgid(struct guest *g, const uint64_t *a)
{
	(void)g;
	int pid = arg_int(a[0]), pgid = arg_int(a[1]);
	if (pgid < 0)
		return -EINVAL;
	if (!is_self(pid))
		return -ESRCH;
	return host_ret(setpgid(0, pgid));
}
static int64_t sys_setsid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return host_ret(setsid());
}

static int64_t sys_getuid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return getuid(); }
static int64_t sys_geteuid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return geteuid();
}
static int64_t sys_getgid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return getgid(); }
static int64_t sys_getegid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return getegid();
}
static int64_t sys_getuid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(getuid());
}
static int64_t sys_geteuid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(geteuid());
}
static int64_t sys_getgid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(getgid());
}
static int64_t sys_getegid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(getegid());
}

/* The set*id calls never change mmuemu's credentials: a request that keeps the ids as they are
 * succeeds, anything else is refused with -EPERM (what an unprivileged process gets). */
static bool id_keeps(uint32_t want, uint32_t r, uint32_t e, uint32_t s)
{
	return want == (uint32_t)-1 || want == r || want == e || want == s;
}

static int64_t do_setresid(uint32_t r, uint32_t e, uint32_t s, bool gid)
{
	uid_t cr, ce, cs;
	gid_t gr, ge, gs;
	if (gid) {
		getresgid(&gr, &ge, &gs);
		cr = gr; ce = ge; cs = gs;
	} else {
		getresuid(&cr, &ce, &cs);
	}
	if (id_keeps(r, cr, ce, cs) && id_keeps(e, cr, ce, cs) && id_keeps(s, cr, ce, cs) &&
	    (r == (uint32_t)-1 || r == cr) && (e == (uint32_t)-1 || e == ce) &&
	    (s == (uint32_t)-1 || s == cs))
		return 0;
	return -EPERM;
}

static int64_t sys_setuid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return (uint32_t)a[0] == getuid() && getuid() == geteuid() ? 0 : -EPERM;
}
static int64_t sys_setgid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return (uint32_t)a[0] == getgid() && getgid() == getegid() ? 0 : -EPERM;
}
static int64_t sys_setreuid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], false), id_arg(a[1], false), (uint32_t)-1, false);
}
static int64_t sys_setregid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], false), id_arg(a[1], false), (uint32_t)-1, true);
}
static int64_t sys_setresuid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], false), id_arg(a[1], false), id_arg(a[2], false), false);
}
static int64_t sys_setresgid(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], false), id_arg(a[1], false), id_arg(a[2], false), true);
}
static int64_t sys_setuid16(struct guest *g, const uint64_t *a)
{
	uint64_t b[1] = { id_arg(a[0], true) };
	return sys_setuid(g, b);
}
static int64_t sys_setgid16(struct guest *g, const uint64_t *a)
{
	uint64_t b[1] = { id_arg(a[0], true) };
	return sys_setgid(g, b);
}
static int64_t sys_setreuid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], true), id_arg(a[1], true), (uint32_t)-1, false);
}
static int64_t sys_setregid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], true), id_arg(a[1], true), (uint32_t)-1, true);
}
static int64_t sys_setresuid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], true), id_arg(a[1], true), id_arg(a[2], true), false);
}
static int64_t sys_setresgid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	return do_setresid(id_arg(a[0], true), id_arg(a[1], true), id_arg(a[2], true), true);
}
/* setfsuid/setfsgid return the old value and never fail; ours never changes (it is euid). */
static int64_t sys_setfsuid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return geteuid();
}
static int64_t sys_setfsgid(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return getegid();
}
static int64_t sys_setfsuid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(geteuid());
}
static int64_t sys_setfsgid16(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return low16_id(getegid());
}

static int64_t do_getresid(struct guest *g, const uint64_t *a, bool gid, bool id16)
{
	uint32_t v[3];
	if (gid) {
		gid_t r, e, s;
		getresgid(&r, &e, &s);
		v[0] = r; v[1] = e; v[2] = s;
	} else {
		uid_t r, e, s;
		getresuid(&r, &e, &s);
		v[0] = r; v[1] = e; v[2] = s;
	}
	for (int i = 0; i < 3; i++) {
		uint16_t v16 = low16_id(v[i]);
		int e = id16 ? put_user(g, a[i], &v16, 2) : put_u32(g, a[i], v[i]);
		if (e)
			return e;
	}
	return 0;
}

static int64_t sys_getresuid(struct guest *g, const uint64_t *a)
{
	return do_getresid(g, a, false, false);
}
static int64_t sys_getresgid(struct guest *g, const uint64_t *a)
{
	return do_getresid(g, a, true, false);
}
static int64_t sys_getresuid16(struct guest *g, const uint64_t *a)
{
	return do_getresid(g, a, false, true);
}
static int64_t sys_getresgid16(struct guest *g, const uint64_t *a)
{
	return do_getresid(g, a, true, true);
}

static int64_t do_getgroups(struct guest *g, const uint64_t *a, bool id16)
{
	int size = arg_int(a[0]);
	if (size < 0)
		return -EINVAL;
	int n = getgroups(0, NULL);
	if (n < 0)
		return -errno;
	if (size == 0)
		return n;
	if (size < n)
		return -EINVAL;
	gid_t *list = calloc((size_t)n + 1, sizeof *list);
	if (!list)
		return -ENOMEM;
	n = getgroups(n, list);
	int64_t r = n;
	for (int i = 0; n >= 0 && i < n && r >= 0; i++) {
		uint16_t v16 = low16_id(list[i]);
		int e = id16 ? put_user(g, a[1] + 2 * (uint64_t)i, &v16, 2)
			     : put_u32(g, a[1] + 4 * (uint64_t)i, list[i]);
		if (e)
			r = -EFAULT;
	}
	free(list);
	return n < 0 ? -errno : r;
}

static int64_t sys_getgroups(struct guest *g, const uint64_t *a)
{
	return do_getgroups(g, a, false);
}
static int64_t sys_getgroups16(struct guest *g, const uint64_t *a)
{
	return do_getgroups(g, a, true);
}
static int64_t sys_setgroups(struct guest *g, const uint64_t *a)
{
	(void)g;
	(void)a;
	return -EPERM;
}

/* uname: the host's, except machine, which is the guest's architecture. */
static int64_t sys_uname(struct guest *g, const uint64_t *a)
{
	struct utsname u;
	_Static_assert(sizeof u == 6 * 65, "struct new_utsname");
	if (uname(&u) < 0)
		return -errno;
	memset(u.machine, 0, sizeof u.machine);
	strcpy(u.machine, g->is64 ? "x86_64" : "i686");
	return put_user(g, a[0], &u, sizeof u);
}

static int64_t sys_getcpu(struct guest *g, const uint64_t *a)
{
	if (a[0] && put_u32(g, a[0], 0))
		return -EFAULT;
	if (a[1] && put_u32(g, a[1], 0))
		return -EFAULT;
	return 0;
}

/* prctl: the name of the task and dumpable flag; the rest is -EINVAL. */
static int64_t sys_prctl(struct guest *g, const uint64_t *a)
{
	switch (arg_int(a[0])) {
	case PR_SET_NAME: {
		char name[16];
		int64_t r = km_strncpy_from_user(g->km, g->mm, name, a[1], sizeof name);
		return r == -EFAULT ? -EFAULT : 0;
	}
	case PR_GET_NAME: {
		char name[16] = { 0 };   /* TASK_COMM_LEN: the program's base name, truncated */
		const char *base = strrchr(g->exe_path, '/');
		snprintf(name, sizeof name, "%.15s", base ? base + 1 : g->exe_path);
		return put_user(g, a[1], name, sizeof name);
	}
	case PR_GET_DUMPABLE:
		return 1;
	case PR_SET_DUMPABLE:
		return a[1] <= 1 ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

/* ---- resources ------------------------------------------------------------------------------- */

/* The limits the guest sees: RLIMIT_STACK from the kernel model's configuration, RLIMIT_NOFILE
 * the guest fd table, the rest the host's. */
static int64_t guest_getrlimit(struct guest *g, unsigned res, uint64_t *cur, uint64_t *max)
{
	*cur = *max = 0;
	if (res >= RLIM_NLIMITS)
		return -EINVAL;
	if (res == RLIMIT_STACK) {
		*cur = km_get_config(g->km)->rlimit_stack;
		*max = RLIM64_INF;
		return 0;
	}
	if (res == RLIMIT_NOFILE) {
		*cur = *max = GUEST_MAX_FDS;
		return 0;
	}
	struct rlimit rl;
	if (getrlimit((int)res, &rl) < 0)
		return -errno;
	*cur = rl.rlim_cur == RLIM_INFINITY ? RLIM64_INF : rl.rlim_cur;
	*max = rl.rlim_max == RLIM_INFINITY ? RLIM64_INF : rl.rlim_max;
	return 0;
}

/* A new limit is checked as Linux checks it (cur <= max; raising max needs CAP_SYS_RESOURCE,
 * which the guest does not have) and then accepted without effect: the host's limits are
 * mmuemu's and are never changed, and struct guest has no place to keep the guest's. */
static int64_t guest_setrlimit(struct guest *g, unsigned res, uint64_t cur, uint64_t max)
{
	if (res >= RLIM_NLIMITS)
		return -EINVAL;
	if (cur > max)
		return -EINVAL;
	uint64_t ocur, omax;
	int64_t r = guest_getrlimit(g, res, &ocur, &omax);
	if (r < 0)
		return r;
	if (max > omax)
		return -EPERM;
	return 0;
}

/* prlimit64(pid, resource, new, old): struct rlimit64 (two u64) on both ABIs. */
static int64_t sys_prlimit64(struct guest *g, const uint64_t *a)
{
	unsigned res = (unsigned)a[1];
	uint64_t nl[2];
	if (a[2] && get_user(g, a[2], nl, sizeof nl))
		return -EFAULT;
	if (!is_self(arg_int(a[0])))
		return -ESRCH;
	if (res >= RLIM_NLIMITS)
		return -EINVAL;
	uint64_t cur, max;
	int64_t r = guest_getrlimit(g, res, &cur, &max);
	if (r < 0)
		return r;
	if (a[2] && (r = guest_setrlimit(g, res, nl[0], nl[1])) < 0)
		return r;
	if (a[3]) {
		uint64_t ol[2] = { cur, max };
		if (put_user(g, a[3], ol, sizeof ol))
			return -EFAULT;
	}
	return 0;
}

/* getrlimit (x86-64) and i386 ugetrlimit: struct rlimit of unsigned longs; values that do not
 * fit an i386 long are RLIM_INFINITY. */
static int64_t sys_getrlimit(struct guest *g, const uint64_t *a)
{
	uint64_t cur, max;
	int64_t r = guest_getrlimit(g, (unsigned)a[0], &cur, &max);
	if (r < 0)
		return r;
	if (!g->is64) {
		cur = cur > RLIM32_INF ? RLIM32_INF : cur;
		max = max > RLIM32_INF ? RLIM32_INF : max;
	}
	if (put_ulong(g, a[1], cur) || put_ulong(g, a[1] + long_size(g), max))
		return -EFAULT;
	return 0;
}

/* i386 old getrlimit (nr 76): clamps to 0x7fffffff. */
static int64_t sys_old_getrlimit(struct guest *g, const uint64_t *a)
{
	uint64_t cur, max;
	int64_t r = guest_getrlimit(g, (unsigned)a[0], &cur, &max);
	if (r < 0)
		return r;
	uint32_t v[2] = { (uint32_t)min_u64(cur, RLIM32_OLD_INF),
			  (uint32_t)min_u64(max, RLIM32_OLD_INF) };
	return put_user(g, a[1], v, sizeof v);
}

static int64_t sys_setrlimit(struct guest *g, const uint64_t *a)
{
	uint64_t cur, max;
	if (g->is64) {
		uint64_t v[2];
		if (get_user(g, a[1], v, sizeof v))
			return -EFAULT;
		cur = v[0];
		max = v[1];
	} else {
		uint32_t v[2];
		if (get_user(g, a[1], v, sizeof v))
			return -EFAULT;
		cur = v[0] == RLIM32_INF ? RLIM64_INF : v[0];
		max = v[1] == RLIM32_INF ? RLIM64_INF : v[1];
	}
	return guest_setrlimit(g, (unsigned)a[0], cur, max);
}

/* getrusage: CPU times are the host's (they include the emulation); the memory figures are the
 * kernel model's: maxrss from its peak of frames in use, faults from its counters. */
static int64_t sys_getrusage(struct guest *g, const uint64_t *a)
{
	int who = arg_int(a[0]);
	if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD)
		return -EINVAL;
	int64_t f[18];   /* utime sec/usec, stime sec/usec, then 14 longs */
	memset(f, 0, sizeof f);
	if (who != RUSAGE_CHILDREN) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		const struct km_stats *s = km_stats(g->km);
		f[0] = ru.ru_utime.tv_sec; f[1] = ru.ru_utime.tv_usec;
		f[2] = ru.ru_stime.tv_sec; f[3] = ru.ru_stime.tv_usec;
		f[4] = (int64_t)(km_frames_peak(g->km) * (PAGE_SIZE / 1024));   /* ru_maxrss, KiB */
		f[8] = (int64_t)(s->pgfault - s->pgmajfault);                   /* ru_minflt */
		f[9] = (int64_t)s->pgmajfault;                                  /* ru_majflt */
		f[16] = ru.ru_nvcsw;
		f[17] = ru.ru_nivcsw;
	}
	if (g->is64)
		return put_user(g, a[1], f, sizeof f);
	int32_t f32[18];
	for (int i = 0; i < 18; i++)
		f32[i] = (int32_t)f[i];
	return put_user(g, a[1], f32, sizeof f32);
}

static int64_t sys_times(struct guest *g, const uint64_t *a)
{
	struct tms t;
	clock_t now = times(&t);
	if (a[0]) {
		uint64_t v[4] = { (uint64_t)t.tms_utime, (uint64_t)t.tms_stime, (uint64_t)t.tms_cutime,
				  (uint64_t)t.tms_cstime };
		for (int i = 0; i < 4; i++)
			if (put_ulong(g, a[0] + i * long_size(g), v[i]))
				return -EFAULT;
	}
	return g->is64 ? (int64_t)now : (int64_t)(int32_t)now;
}

/* sysinfo as si_meminfo and do_sysinfo compute it, over the kernel model's zones: totalram the
 * managed pages, freeram NR_FREE_PAGES, high memory the HighMem zone (i386). Memory is in bytes
 * (mem_unit 1) when the total fits the ABI's unsigned long, else in pages. */
static int64_t sys_sysinfo(struct guest *g, const uint64_t *a)
{
	struct sysinfo host;
	sysinfo(&host);
	const struct pglist_data *pgdat = km_pgdat(g->km);
	uint64_t total = 0, freep = 0, totalhigh = 0, freehigh = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &pgdat->node_zones[z];
		uint64_t managed = zone_managed_pages(zone);
		uint64_t fr = zone_page_state(zone, NR_FREE_PAGES);
		total += managed;
		freep += fr;
		if (z == ZONE_HIGHMEM) {
			totalhigh += managed;
			freehigh += fr;
		}
	}
	uint64_t v[8] = { total, freep, 0, 0, 0, 0, totalhigh, freehigh };  /* ram, free, shared,
		buffer, totalswap, freeswap, totalhigh, freehigh (in pages) */
	uint64_t unit = PAGE_SIZE;
	uint64_t lmax = g->is64 ? ~0ULL : 0xffffffffULL;
	int bits = 0;
	for (uint64_t u = unit; u > 1; u >>= 1)
		bits++;
	if (total <= (lmax >> bits)) {
		for (int i = 0; i < 8; i++)
			v[i] <<= bits;
		unit = 1;
	}
	uint8_t buf[112];
	memset(buf, 0, sizeof buf);
	size_t l = long_size(g), o = 0;
	int64_t uptime = host.uptime;
	memcpy(buf + o, &uptime, l); o += l;
	for (int i = 0; i < 3; i++) {
		uint64_t ld = host.loads[i];
		memcpy(buf + o, &ld, l); o += l;
	}
	for (int i = 0; i < 6; i++) {
		memcpy(buf + o, &v[i], l); o += l;
	}
	uint16_t procs = 1;            /* the guest is the only process of its machine */
	memcpy(buf + o, &procs, 2);
	o += 4;                        /* procs, pad */
	o = (o + l - 1) & ~(l - 1);
	memcpy(buf + o, &v[6], l); o += l;
	memcpy(buf + o, &v[7], l); o += l;
	uint32_t mu = (uint32_t)unit;
	memcpy(buf + o, &mu, 4); o += 4;
	size_t size = g->is64 ? 112 : 64;
	return put_user(g, a[0], buf, size);
}

/* ---- signals --------------------------------------------------------------------------------- */

/* rt_sigaction(sig, act, oact, sigsetsize): struct sigaction { handler, flags, restorer, mask }
 * with the ABI's longs and a 64-bit mask. Recorded, never delivered. */
static int64_t sys_rt_sigaction(struct guest *g, const uint64_t *a)
{
	int sig = arg_int(a[0]);
	if (a[3] != SIGSET_SIZE)
		return -EINVAL;
	struct guest_signal_action act = { 0, 0, 0, 0 };
	if (a[1]) {
		if (g->is64) {
			uint64_t v[4];
			if (get_user(g, a[1], v, sizeof v))
				return -EFAULT;
			act = (struct guest_signal_action){ v[0], v[1], v[2], v[3] };
		} else {
			uint32_t v[5];
			if (get_user(g, a[1], v, sizeof v))
				return -EFAULT;
			uint64_t mask = v[3] | (uint64_t)v[4] << 32;
			act = (struct guest_signal_action){ v[0], v[1], v[2], mask };
		}
	}
	if (sig < 1 || sig > GUEST_NSIG || (a[1] && (sig == SIGKILL || sig == SIGSTOP)))
		return -EINVAL;
	struct guest_signal_action old = g->sigactions[sig];
	if (a[1]) {
		act.mask &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
		g->sigactions[sig] = act;
	}
	if (a[2]) {
		int e;
		if (g->is64) {
			uint64_t v[4] = { old.handler, old.flags, old.restorer, old.mask };
			e = put_user(g, a[2], v, sizeof v);
		} else {
			uint32_t v[5] = { (uint32_t)old.handler, (uint32_t)old.flags,
					  (uint32_t)old.restorer, (uint32_t)old.mask,
					  (uint32_t)(old.mask >> 32) };
			e = put_user(g, a[2], v, sizeof v);
		}
		if (e)
			return e;
	}
	return 0;
}

static int64_t sys_rt_sigprocmask(struct guest *g, const uint64_t *a)
{
	if (a[3] != SIGSET_SIZE)
		return -EINVAL;
	uint64_t old = g->sigmask;
	if (a[1]) {
		uint64_t set;
		if (get_user(g, a[1], &set, 8))
			return -EFAULT;
		set &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
		switch (arg_int(a[0])) {
		case SIG_BLOCK: g->sigmask |= set; break;
		case SIG_UNBLOCK: g->sigmask &= ~set; break;
		case SIG_SETMASK: g->sigmask = set; break;
		default: return -EINVAL;
		}
	}
	if (a[2] && put_u64(g, a[2], old))
		return -EFAULT;
	return 0;
}

static int64_t sys_rt_sigpending(struct guest *g, const uint64_t *a)
{
	if (a[1] > SIGSET_SIZE)
		return -EINVAL;
	uint64_t none = 0;
	return put_user(g, a[0], &none, a[1]);
}

/* sigaltstack(ss, old_ss): stack_t { sp; int flags; size } (x86-64 24 bytes, i386 12). The
 * alternate stack is checked, not kept (no signal is delivered): old_ss always says disabled. */
static int64_t sys_sigaltstack(struct guest *g, const uint64_t *a)
{
	if (a[0]) {
		uint64_t sp, size;
		int32_t flags;
		if (get_ulong(g, a[0], &sp) || get_user(g, a[0] + long_size(g), &flags, 4) ||
		    get_ulong(g, a[0] + 2 * long_size(g), &size))
			return -EFAULT;
		int mode = flags & ~SS_AUTODISARM;
		if (mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0)
			return -EINVAL;
		if (mode != SS_DISABLE && size < G_MINSIGSTKSZ)
			return -ENOMEM;
	}
	if (a[1]) {
		uint8_t o[24] = { 0 };
		int32_t dis = SS_DISABLE;
		memcpy(o + long_size(g), &dis, 4);
		if (put_user(g, a[1], o, 3 * long_size(g)))
			return -EFAULT;
	}
	return 0;
}

static int64_t sys_kill(struct guest *g, const uint64_t *a)
{
	int pid = arg_int(a[0]), sig = arg_int(a[1]);
	if (sig < 0 || sig > GUEST_NSIG)
		return -EINVAL;
	if (pid == getpid() || pid == 0 || pid == -(int)getpgrp())
		return signal_self(g, sig, 0 /* SI_USER */, "kill");
	return -ESRCH;
}

static int64_t sys_tgkill(struct guest *g, const uint64_t *a)
{
	int tgid = arg_int(a[0]), tid = arg_int(a[1]), sig = arg_int(a[2]);
	if (tgid <= 0 || tid <= 0 || sig < 0 || sig > GUEST_NSIG)
		return -EINVAL;
	if (tgid != getpid() || tid != getpid())
		return -ESRCH;
	return signal_self(g, sig, SI_TKILL, "tgkill");
}

static int64_t sys_tkill(struct guest *g, const uint64_t *a)
{
	int tid = arg_int(a[0]), sig = arg_int(a[1]);
	if (tid <= 0 || sig < 0 || sig > GUEST_NSIG)
		return -EINVAL;
	if (tid != getpid())
		return -ESRCH;
	return signal_self(g, sig, SI_TKILL, "tkill");
}

/* No children are ever created. */
static int64_t sys_wait4(struct guest *g, const uint64_t *a) { (void)g; (void)a; return -ECHILD; }
static int64_t sys_waitpid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return -ECHILD; }
static int64_t sys_waitid(struct guest *g, const uint64_t *a) { (void)g; (void)a; return -ECHILD; }

/* ---- threads, TLS, scheduling ---------------------------------------------------------------- */

static int64_t sys_set_tid_address(struct guest *g, const uint64_t *a)
{
	g->clear_child_tid = a[0];
	return getpid();
}

/* set_robust_list(head, len): len must be sizeof(struct robust_list_head) (3 longs). */
static int64_t sys_set_robust_list(struct guest *g, const uint64_t *a)
{
	if (a[1] != 3 * long_size(g))
		return -EINVAL;
	g->robust_list = a[0];
	g->robust_list_len = a[1];
	return 0;
}

static int64_t sys_get_robust_list(struct guest *g, const uint64_t *a)
{
	if (!is_self(arg_int(a[0])))
		return -ESRCH;
	if (put_ulong(g, a[2], g->robust_list_len) || put_ulong(g, a[1], g->robust_list))
		return -EFAULT;
	return 0;
}

/* rseq is answered as a kernel built without CONFIG_RSEQ: glibc and musl then go on without. */
static int64_t sys_rseq(struct guest *g, const uint64_t *a) { (void)g; (void)a; return -ENOSYS; }

static int64_t sys_sched_yield(struct guest *g, const uint64_t *a) { (void)g; (void)a; return 0; }

/* One CPU. Linux returns the size of its cpumask (a whole number of longs), after checking that
 * the buffer holds nr_cpu_ids bits and is a multiple of a long. */
static int64_t sys_sched_getaffinity(struct guest *g, const uint64_t *a)
{
	uint64_t len = g->is64 ? a[1] : (uint32_t)a[1];
	size_t l = long_size(g);
	if (len * 8 < 1 || (len & (l - 1)))
		return -EINVAL;
	if (!is_self(arg_int(a[0])))
		return -ESRCH;
	uint64_t mask = 1;
	if (put_user(g, a[2], &mask, l))
		return -EFAULT;
	return (int64_t)l;
}

static int64_t sys_sched_setaffinity(struct guest *g, const uint64_t *a)
{
	if (!is_self(arg_int(a[0])))
		return -ESRCH;
	uint8_t b = 0;
	uint64_t len = g->is64 ? a[1] : (uint32_t)a[1];
	if (len && get_user(g, a[2], &b, 1))
		return -EFAULT;
	return (b & 1) ? 0 : -EINVAL;
}

/* x86-64 arch_prctl: FS and GS bases live in Unicorn's registers. On i386 only the CPUID
 * codes exist. */
static int64_t sys_arch_prctl(struct guest *g, const uint64_t *a)
{
	int code = arg_int(a[0]);
	if (code == ARCH_GET_CPUID)
		return 1;
	if (code == ARCH_SET_CPUID)
		return -ENODEV;   /* CPUID faulting is not available */
	if (!g->is64)
		return -EINVAL;
	int reg = (code == ARCH_SET_FS || code == ARCH_GET_FS) ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE;
	switch (code) {
	case ARCH_SET_FS:
	case ARCH_SET_GS: {
		if (a[1] >= km_mm_task_size(g->mm))
			return -EPERM;
		if (!g->uc)
			return -EINVAL;
		uint64_t v = a[1];
		uc_err err = uc_reg_write(g->uc, reg, &v);
		if (err != UC_ERR_OK) {
			fprintf(stderr, "mmuemu: arch_prctl: uc_reg_write: %s\n", uc_strerror(err));
			return -EINVAL;
		}
		return 0;
	}
	case ARCH_GET_FS:
	case ARCH_GET_GS: {
		uint64_t v = 0;
		if (!g->uc)
			return -EINVAL;
		uc_err err = uc_reg_read(g->uc, reg, &v);
		if (err != UC_ERR_OK) {
			fprintf(stderr, "mmuemu: arch_prctl: uc_reg_read: %s\n", uc_strerror(err));
			return -EINVAL;
		}
		return put_u64(g, a[1], v);
	}
	default:
		return -EINVAL;
	}
}

/* struct user_desc (asm/ldt.h): entry_number, base_addr, limit, then the flag bits. */
struct user_desc_raw {
	uint32_t entry_number, base_addr, limit, flags;
};

static bool ud_empty(const struct user_desc_raw *u)   /* LDT_empty */
{
	return u->base_addr == 0 && u->limit == 0 &&
	       (u->flags & 0x7f) == (UD_READ_EXEC_ONLY | UD_SEG_NOT_PRESENT);
}
static bool ud_zero(const struct user_desc_raw *u)    /* LDT_zero */
{
	return u->base_addr == 0 && u->limit == 0 && (u->flags & 0x7f) == 0;
}

/* fill_ldt(): the 8-byte descriptor for a TLS user_desc. */
static uint64_t tls_descriptor(const struct user_desc_raw *u)
{
	if (ud_empty(u) || ud_zero(u))
		return 0;
	uint64_t type = DESC_TYPE_ACCESSED |
			((u->flags & UD_READ_EXEC_ONLY) ? 0 : DESC_TYPE_WRITABLE) |
			(((u->flags >> UD_CONTENTS_SHIFT) & 3) << 2);
	uint64_t d = (u->limit & DESC_LIMIT0_MASK) |
		     ((uint64_t)(u->base_addr & 0xffffff) << DESC_BASE0_SHIFT) |
		     (type << DESC_TYPE_SHIFT) | DESC_S | DESC_DPL3 |
		     ((u->flags & UD_SEG_NOT_PRESENT) ? 0 : DESC_P) |
		     ((uint64_t)((u->limit >> 16) & 0xf) << DESC_LIMIT1_SHIFT) |
		     ((u->flags & UD_USEABLE) ? DESC_AVL : 0) |
		     ((u->flags & UD_SEG_32BIT) ? DESC_DB : 0) |
		     ((u->flags & UD_LIMIT_IN_PAGES) ? DESC_G : 0) |
		     ((uint64_t)(u->base_addr >> 24) << DESC_BASE2_SHIFT);
	return d;
}

/* tls_desc_okay(): empty/zero descriptors clear the slot; otherwise only present 32-bit data. */
static bool tls_desc_okay(const struct user_desc_raw *u)
{
	if (ud_empty(u) || ud_zero(u))
		return true;
	if (!(u->flags & UD_SEG_32BIT))
		return false;
	if (((u->flags >> UD_CONTENTS_SHIFT) & 3) > 1)
		return false;
	if (u->flags & UD_SEG_NOT_PRESENT)
		return false;
	return true;
}

/* i386 set_thread_area(struct user_desc *): writes the descriptor into the guest's GDT (one of
 * the TLS entries 6..8; entry_number -1 picks the first empty one and is written back), then
 * reloads any segment register holding that selector so Unicorn sees the new base. */
static int64_t sys_set_thread_area(struct guest *g, const uint64_t *a)
{
	struct user_desc_raw u;
	if (get_user(g, a[0], &u, sizeof u))
		return -EFAULT;
	if (!tls_desc_okay(&u))
		return -EINVAL;
	if (!g->gdt || g->gdt_entries <= GDT_ENTRY_TLS_MAX)
		return -ENOSYS;
	int idx = (int)u.entry_number;
	if (idx == -1) {
		for (idx = GDT_ENTRY_TLS_MIN; idx <= GDT_ENTRY_TLS_MAX; idx++) {
			uint64_t d;
			memcpy(&d, g->gdt + 8 * idx, 8);
			if (d == 0)
				break;
		}
		if (idx > GDT_ENTRY_TLS_MAX)
			return -ESRCH;
		if (put_u32(g, a[0], (uint32_t)idx))
			return -EFAULT;
	}
	if (idx < GDT_ENTRY_TLS_MIN || idx > GDT_ENTRY_TLS_MAX)
		return -EINVAL;
	uint64_t d = tls_descriptor(&u);
	memcpy(g->gdt + 8 * idx, &d, 8);
	if (g->uc) {
		static const int segs[] = { UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS };
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
			uint32_t sel = 0;
			if (uc_reg_read(g->uc, segs[i], &sel) != UC_ERR_OK)
				continue;
			if ((sel & 0xffff) >> 3 == (unsigned)idx && !(sel & 4)) {
				uc_err err = uc_reg_write(g->uc, segs[i], &sel);
				if (err != UC_ERR_OK)
					fprintf(stderr, "mmuemu: set_thread_area: reloading a segment "
						"register: %s\n", uc_strerror(err));
			}
		}
	}
	return 0;
}

/* i386 get_thread_area(struct user_desc *): fill_user_desc() from the GDT entry. */
static int64_t sys_get_thread_area(struct guest *g, const uint64_t *a)
{
	uint32_t idx;
	if (get_user(g, a[0], &idx, 4))
		return -EFAULT;
	if ((int)idx < GDT_ENTRY_TLS_MIN || idx > GDT_ENTRY_TLS_MAX)
		return -EINVAL;
	if (!g->gdt || g->gdt_entries <= GDT_ENTRY_TLS_MAX)
		return -ENOSYS;
	uint64_t d;
	memcpy(&d, g->gdt + 8 * idx, 8);
	uint32_t type = (uint32_t)(d >> DESC_TYPE_SHIFT) & 0xf;
	struct user_desc_raw u = {
		.entry_number = idx,
		.base_addr = (uint32_t)(((d >> DESC_BASE0_SHIFT) & 0xffffff) |
					((d >> DESC_BASE2_SHIFT) << 24)),
		.limit = (uint32_t)((d & DESC_LIMIT0_MASK) | (((d >> DESC_LIMIT1_SHIFT) & 0xf) << 16)),
		.flags = ((d & DESC_DB) ? UD_SEG_32BIT : 0) | ((type >> 2) << UD_CONTENTS_SHIFT) |
			 ((type & DESC_TYPE_WRITABLE) ? 0 : UD_READ_EXEC_ONLY) |
			 ((d & DESC_G) ? UD_LIMIT_IN_PAGES : 0) | ((d & DESC_P) ? 0 : UD_SEG_NOT_PRESENT) |
			 ((d & DESC_AVL) ? UD_USEABLE : 0),
	};
	return put_user(g, a[0], &u, sizeof u);
}

/* futex for a single-threaded process: nobody ever waits, so wakes wake nobody; a wait whose
 * value differs returns -EAGAIN, one with a timeout sleeps it out (-ETIMEDOUT), and one without
 * could never return: the guest ends with a deadlock reason rather than hang mmuemu. */
static int64_t do_futex(struct guest *g, const uint64_t *a, bool wide)
{
	uint64_t uaddr = a[0];
	int op = arg_int(a[1]), cmd = op & FUTEX_CMD_MASK;
	uint32_t val = (uint32_t)a[2];
	switch (cmd) {
	case FUTEX_OP_WAKE:
	case FUTEX_OP_WAKE_BITSET:
		if (uaddr & 3)
			return -EINVAL;
		if (cmd == FUTEX_OP_WAKE_BITSET && (uint32_t)a[5] == 0)
			return -EINVAL;
		return 0;
	case FUTEX_OP_REQUEUE:
	case FUTEX_OP_CMP_REQUEUE: {
		if ((uaddr & 3) || (a[4] & 3))
			return -EINVAL;
		if (cmd == FUTEX_OP_CMP_REQUEUE) {
			uint32_t cur;
			if (get_user(g, uaddr, &cur, 4))
				return -EFAULT;
			if (cur != (uint32_t)a[5])
				return -EAGAIN;
		}
		return 0;
	}
	case FUTEX_OP_WAIT:
	case FUTEX_OP_WAIT_BITSET: {
		if (uaddr & 3)
			return -EINVAL;
		if (cmd == FUTEX_OP_WAIT_BITSET && (uint32_t)a[5] == 0)
			return -EINVAL;
		struct timespec ts;
		bool timed = a[3] != 0;
		if (timed) {
			if (get_timespec(g, a[3], wide, &ts))
				return -EFAULT;
			if (!timespec_valid(&ts))
				return -EINVAL;
		}
		uint32_t cur;
		if (get_user(g, uaddr, &cur, 4))
			return -EFAULT;
		if (cur != val)
			return -EAGAIN;
		if (!timed) {
			guest_kill(g, SIGKILL, 0, "deadlock: FUTEX_WAIT without a timeout in a "
				   "single-threaded guest would never return");
			return -EINTR;
		}
		if (cmd == FUTEX_OP_WAIT)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		else
			clock_nanosleep((op & FUTEX_CLOCK_RT) ? CLOCK_REALTIME : CLOCK_MONOTONIC,
					TIMER_ABSTIME, &ts, NULL);
		return -ETIMEDOUT;
	}
	default:
		return -ENOSYS;
	}
}

static int64_t sys_futex(struct guest *g, const uint64_t *a) { return do_futex(g, a, g->is64); }
static int64_t sys_futex_time64(struct guest *g, const uint64_t *a) { return do_futex(g, a, true); }

/* ---- the tables and the entry point ---------------------------------------------------------- */

struct syscall_desc {
	const char *name;
	sys_fn *fn;       /* NULL: not implemented */
};

static const struct syscall_desc table_x86_64[] = {
#define SC(nr, name, fn) [nr] = { #name, fn },
#include "syscall_x86_64.inc"
#undef SC
};

static const struct syscall_desc table_i386[] = {
#define SC(nr, name, fn) [nr] = { #name, fn },
#include "syscall_i386.inc"
#undef SC
};

static const struct syscall_desc *syscall_lookup(bool is64, uint64_t nr)
{
	const struct syscall_desc *t = is64 ? table_x86_64 : table_i386;
	size_t n = is64 ? sizeof table_x86_64 / sizeof table_x86_64[0]
			: sizeof table_i386 / sizeof table_i386[0];
	if (nr >= n || !t[nr].name)
		return NULL;
	return &t[nr];
}

const char *guest_syscall_name(bool is64, uint64_t nr)
{
	const struct syscall_desc *d = syscall_lookup(is64, nr);
	return d ? d->name : NULL;
}

int64_t guest_syscall(struct guest *g, uint64_t nr, const uint64_t a[6])
{
	g->syscalls_total++;
	if (nr < GUEST_MAX_SYSCALL)
		g->syscall_count[nr]++;
	else
		g->syscall_other++;

	uint64_t args[6];
	for (int i = 0; i < 6; i++)
		args[i] = g->is64 ? a[i] : (a[i] & 0xffffffffULL);
	if (!g->is64)
		nr &= 0xffffffffULL;

	const struct syscall_desc *d = syscall_lookup(g->is64, nr);
	int64_t r;
	if (!d || !d->fn) {
		if (nr < GUEST_MAX_SYSCALL)
			g->unknown_count[nr]++;
		r = -ENOSYS;
	} else {
		r = d->fn(g, args);
	}
	if (r == -EFAULT)
		g->efaults++;
	return r;
}
