/* sysquery — process and system queries; prints only facts that do not vary between runs.
 *
 * usage: sysquery [RANDOM_BYTES [CLOCK_SAMPLES]]      defaults: 32 1000
 *
 * Checks: uname (sysname "Linux", release starts with a digit), pid/ppid/tid, uid/euid and
 * gid/egid agree, the auxiliary vector as libc sees it (AT_PAGESZ 4096, AT_CLKTCK 100,
 * AT_SECURE 0, AT_UID = getuid, AT_ENTRY/AT_PHDR/AT_RANDOM present, AT_EXECFN names the binary),
 * CLOCK_MONOTONIC never goes back over CLOCK_SAMPLES reads and advances across a 1 ms nanosleep,
 * CLOCK_REALTIME / gettimeofday / time agree and lie after 2020, getrandom fills RANDOM_BYTES,
 * sysinfo is sane, sysconf, getrlimit(RLIMIT_STACK), getrusage, times, sched_yield, umask round
 * trip, sigaction/sigprocmask set and read back (no signal is delivered).
 */
#include "guest_util.h"

#include <signal.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static void on_usr1(int sig)
{
	(void)sig;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t nrand = arg_size(argc, argv, 1, 32, "random bytes");
	uint64_t samples = arg_size(argc, argv, 2, 1000, "clock samples");
	CHECK(nrand >= 1 && nrand <= 256, "random bytes must be in 1..256 (one getrandom call)");

	struct utsname u;
	CHECK(uname(&u) == 0, "uname");
	CHECK(strcmp(u.sysname, "Linux") == 0, "sysname is '%s'", u.sysname);
	CHECK(u.release[0] >= '0' && u.release[0] <= '9', "release '%s'", u.release);
	CHECK(u.machine[0] != '\0' && u.nodename[0] != '\0', "machine/nodename empty");
	printf("uname: sysname %s, release starts with a digit, machine and nodename set\n",
	       u.sysname);

	pid_t pid = getpid();
	CHECK(pid > 0 && getppid() > 0, "pid %ld ppid %ld", (long)pid, (long)getppid());
	CHECK((pid_t)syscall(SYS_gettid) == pid, "gettid != getpid in a single thread");
	CHECK(getuid() == geteuid() && getgid() == getegid(), "uid/gid differ from effective");
	printf("ids: pid > 0, ppid > 0, tid == pid, uid == euid, gid == egid\n");

	CHECK(getauxval(AT_PAGESZ) == 4096, "AT_PAGESZ %lu", getauxval(AT_PAGESZ));
	CHECK(getauxval(AT_CLKTCK) == 100, "AT_CLKTCK %lu", getauxval(AT_CLKTCK));
	CHECK(getauxval(AT_SECURE) == 0, "AT_SECURE");
	CHECK(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid() &&
	      getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid(), "AT_*UID/GID");
	CHECK(getauxval(AT_ENTRY) != 0 && getauxval(AT_PHDR) != 0 && getauxval(AT_RANDOM) != 0,
	      "AT_ENTRY/AT_PHDR/AT_RANDOM missing");
	CHECK(getauxval(AT_PHENT) == (sizeof(void *) == 8 ? 56 : 32), "AT_PHENT");
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	CHECK(execfn != NULL && strcmp(execfn, argv[0]) == 0, "AT_EXECFN is not argv[0]");
	CHECK(sysconf(_SC_PAGESIZE) == 4096 && sysconf(_SC_CLK_TCK) == 100, "sysconf");
	CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "sysconf(_SC_NPROCESSORS_ONLN)");
	printf("auxv: AT_PAGESZ 4096, AT_CLKTCK 100, AT_SECURE 0, ids match, AT_EXECFN == argv[0]\n");

	struct timespec t0, t1, res;
	CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && ts_ns(&res) > 0 &&
	      ts_ns(&res) <= 1000000, "clock_getres");
	CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0, "clock_gettime");
	struct timespec prev = t0;
	for (uint64_t i = 0; i < samples; i++) {
		CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0, "clock_gettime");
		CHECK(ts_ns(&t1) >= ts_ns(&prev), "CLOCK_MONOTONIC went backwards");
		prev = t1;
	}
	struct timespec nap = { 0, 1000000 };
	CHECK(nanosleep(&nap, NULL) == 0, "nanosleep");
	CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0, "clock_gettime");
	CHECK(ts_ns(&t1) - ts_ns(&prev) >= 1000000, "nanosleep(1 ms) returned early");
	printf("clock: CLOCK_MONOTONIC monotonic over %llu reads, advanced >= 1 ms across nanosleep\n",
	       (unsigned long long)samples);

	struct timespec rt;
	struct timeval tv;
	CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0 && gettimeofday(&tv, NULL) == 0, "realtime");
	time_t now = time(NULL);
	CHECK(rt.tv_sec > 1577836800, "CLOCK_REALTIME before 2020");
	/* time() reads the coarse clock (the seconds of the last tick), which may trail
	 * CLOCK_REALTIME by one second just after a second boundary. */
	CHECK(tv.tv_sec - rt.tv_sec <= 5 && now - rt.tv_sec <= 5 && now >= rt.tv_sec - 1,
	      "realtime clocks disagree");
	printf("realtime: after 2020, clock_gettime/gettimeofday/time agree\n");

	unsigned char rnd[256];
	memset(rnd, 0, sizeof rnd);
	ssize_t got = getrandom(rnd, (size_t)nrand, 0);
	CHECK(got == (ssize_t)nrand, "getrandom returned %ld", (long)got);
	int nonzero = 0;
	for (size_t i = 0; i < nrand; i++)
		nonzero += rnd[i] != 0;
	CHECK(nrand < 16 || nonzero > 0, "getrandom returned only zeroes");
	printf("getrandom: %llu bytes\n", (unsigned long long)nrand);

	struct sysinfo si;
	CHECK(sysinfo(&si) == 0, "sysinfo");
	CHECK(si.mem_unit >= 1 && si.totalram > 0 && si.freeram <= si.totalram && si.procs >= 1,
	      "sysinfo not sane");
	printf("sysinfo: totalram > 0, freeram <= totalram, procs >= 1\n");

	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur > 0, "getrlimit(RLIMIT_STACK)");
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
	struct tms tm;
	CHECK(times(&tm) != (clock_t)-1, "times");
	CHECK(sched_yield() == 0, "sched_yield");
	mode_t old = umask(027);
	CHECK(umask(old) == 027, "umask round trip");
	printf("rlimit/rusage/times/sched_yield/umask: ok\n");

	struct sigaction sa, back;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction set");
	CHECK(sigaction(SIGUSR1, NULL, &back) == 0 && back.sa_handler == on_usr1 &&
	      sigismember(&back.sa_mask, SIGUSR2), "sigaction read back");
	sigset_t set, cur;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask block");
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && sigismember(&cur, SIGUSR1),
	      "sigprocmask read back");
	CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0, "sigprocmask unblock");
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && !sigismember(&cur, SIGUSR1),
	      "sigprocmask unblocked read back");
	printf("signals: sigaction and sigprocmask set and read back\n");
	printf("sysquery ok\n");
	return 0;
}
