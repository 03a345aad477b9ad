/* fileio — the file system calls an emulator passes to the host, checked.
 *
 * usage: fileio [FILE_BYTES]          default: 1M (size of the data file written and read back)
 *
 * Works in a fresh directory made with mkdtemp under $TMPDIR (or /tmp) and removes it at the end.
 * Prints only deterministic facts: names relative to that directory, sizes, file types, flags,
 * errno names — never inode numbers, times, pids or absolute paths.
 *
 * Covers: mkdir/chdir/getcwd, openat (O_CREAT|O_EXCL, O_APPEND, O_DIRECTORY), write/pwrite,
 * read/pread, lseek (SEEK_SET/CUR/END, ESPIPE on a pipe), fstat/stat/lstat, ftruncate,
 * readdir (getdents64), rename, link, symlink/readlink, unlink/unlinkat/rmdir, access,
 * dup/dup2/fcntl(F_DUPFD, F_GETFD/F_SETFD, F_GETFL/F_SETFL), isatty and ioctl(TCGETS) on a file
 * (ENOTTY), readlink("/proc/self/exe") (only whether it ends with argv[0]'s basename), writev/readv.
 */
#include "guest_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

static unsigned char dbyte(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;
	return (unsigned char)(x >> 24 ^ x >> 8);
}

static const char *ftype(mode_t m)
{
	return S_ISREG(m) ? "regular" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" :
	       S_ISFIFO(m) ? "fifo" : S_ISCHR(m) ? "chardev" : "other";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List a directory, sorted, skipping "." and "..". */
static void list_dir(const char *path, const char *label)
{
	DIR *d = opendir(path);
	CHECK(d != NULL, "opendir %s: %s", label, errno_name(errno));
	char *names[64];
	int n = 0, dots = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			dots++;
			continue;
		}
		CHECK(n < 64, "too many entries");
		names[n] = strdup(e->d_name);
		CHECK(names[n] != NULL, "strdup");
		n++;
	}
	CHECK(errno == 0, "readdir: %s", errno_name(errno));
	CHECK(closedir(d) == 0, "closedir");
	CHECK(dots == 2, "%s: expected . and .., saw %d", label, dots);
	qsort(names, (size_t)n, sizeof names[0], cmp_str);
	printf("%s: %d entries:", label, n);
	for (int i = 0; i < n; i++) {
		struct stat st;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", path, names[i]);
		CHECK(lstat(p, &st) == 0, "lstat %s", names[i]);
		printf(" %s(%s)", names[i], ftype(st.st_mode));
		free(names[i]);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	uint64_t fbytes = arg_size(argc, argv, 1, 1 << 20, "file bytes");
	CHECK(fbytes >= 16 && fbytes <= (256u << 20), "file bytes must be in 16..256M");
	size_t n = (size_t)fbytes;

	const char *tmp = getenv("TMPDIR");
	char top[4096];
	snprintf(top, sizeof top, "%s/fileio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(top) != NULL, "mkdtemp: %s", errno_name(errno));
	char oldcwd[4096];
	CHECK(getcwd(oldcwd, sizeof oldcwd) != NULL, "getcwd");
	CHECK(chdir(top) == 0, "chdir: %s", errno_name(errno));

	/* getcwd must name the directory we are in (compare with the mkdtemp name's last part). */
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd: %s", errno_name(errno));
	const char *want = strrchr(top, '/') + 1;
	size_t cl = strlen(cwd), wl = strlen(want);
	CHECK(cl > wl && strcmp(cwd + cl - wl, want) == 0 && cwd[cl - wl - 1] == '/',
	      "getcwd does not end with the temp dir name");
	errno = 0;
	CHECK(getcwd(cwd, 2) == NULL && errno == ERANGE, "getcwd(size 2) should be ERANGE");
	printf("getcwd: ends with the temp dir name; ERANGE for a short buffer\n");

	CHECK(mkdir("sub", 0755) == 0, "mkdir: %s", errno_name(errno));
	errno = 0;
	CHECK(mkdir("sub", 0755) == -1 && errno == EEXIST, "mkdir twice should be EEXIST");
	int dfd = open("sub", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0, "open dir: %s", errno_name(errno));
	printf("mkdir sub: ok, EEXIST the second time\n");

	/* Write the data file through openat relative to the directory fd. */
	unsigned char *data = malloc(n), *back = malloc(n);
	CHECK(data && back, "malloc");
	for (size_t i = 0; i < n; i++)
		data[i] = dbyte(i);
	int fd = openat(dfd, "data.bin", O_CREAT | O_EXCL | O_RDWR, 0644);
	CHECK(fd >= 0, "openat O_CREAT: %s", errno_name(errno));
	errno = 0;
	CHECK(openat(dfd, "data.bin", O_CREAT | O_EXCL | O_RDWR, 0644) == -1 && errno == EEXIST,
	      "O_EXCL on an existing file should be EEXIST");
	size_t done = 0;
	while (done < n) {	/* uneven chunks */
		size_t c = n - done < 10007 ? n - done : 10007;
		ssize_t w = write(fd, data + done, c);
		CHECK(w > 0, "write: %s", errno_name(errno));
		done += (size_t)w;
	}
	struct stat st;
	CHECK(fstat(fd, &st) == 0, "fstat");
	printf("data.bin: wrote %llu bytes; fstat: %s, size %llu, nlink %lu, mode %03o\n",
	       (unsigned long long)n, ftype(st.st_mode), (unsigned long long)st.st_size,
	       (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 0777 & ~022));

	/* lseek + read, pread, pwrite. */
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)n, "lseek SEEK_CUR");
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)n, "lseek SEEK_END");
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek SEEK_SET");
	done = 0;
	while (done < n) {
		ssize_t r = read(fd, back + done, n - done < 65536 ? n - done : 65536);
		CHECK(r > 0, "read: %s", errno_name(errno));
		done += (size_t)r;
	}
	CHECK(read(fd, back, 1) == 0, "read at EOF should return 0");
	CHECK(memcmp(data, back, n) == 0, "read back differs");
	size_t mid = n / 3;
	CHECK(pread(fd, back, 16, (off_t)mid) == 16 && memcmp(back, data + mid, 16) == 0, "pread");
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)n, "pread moved the file offset");
	CHECK(pwrite(fd, "PWRITE", 6, (off_t)mid) == 6, "pwrite");
	memcpy(data + mid, "PWRITE", 6);
	CHECK(pread(fd, back, 16, (off_t)mid) == 16 && memcmp(back, data + mid, 16) == 0,
	      "pread after pwrite");
	uint64_t h = fnv1a_bytes(FNV64_OFFSET, data, n);
	printf("read/lseek/pread/pwrite: ok, fnv1a %016llx\n", (unsigned long long)h);

	/* writev/readv */
	struct iovec wv[3] = { { "abc", 3 }, { "", 0 }, { "defgh", 5 } };
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)n, "lseek end");
	CHECK(writev(fd, wv, 3) == 8, "writev");
	char r1[4] = { 0 }, r2[6] = { 0 };
	struct iovec rv[2] = { { r1, 3 }, { r2, 5 } };
	CHECK(lseek(fd, (off_t)n, SEEK_SET) == (off_t)n, "lseek");
	CHECK(readv(fd, rv, 2) == 8 && strcmp(r1, "abc") == 0 && strcmp(r2, "defgh") == 0, "readv");
	CHECK(ftruncate(fd, (off_t)n) == 0, "ftruncate");
	CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)n, "size after ftruncate");
	printf("writev/readv/ftruncate: ok\n");

	/* dup, dup2, fcntl */
	int d1 = dup(fd);
	CHECK(d1 >= 0 && d1 != fd, "dup");
	CHECK(lseek(d1, 5, SEEK_SET) == 5 && lseek(fd, 0, SEEK_CUR) == 5, "dup shares the offset");
	CHECK(dup2(fd, 42) == 42, "dup2");
	CHECK(fcntl(42, F_GETFD) == 0, "dup2 result should not be close-on-exec");
	CHECK(fcntl(42, F_SETFD, FD_CLOEXEC) == 0 && fcntl(42, F_GETFD) == FD_CLOEXEC, "F_SETFD");
	int d3 = fcntl(fd, F_DUPFD, 100);
	CHECK(d3 >= 100, "F_DUPFD");
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && (fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND), "F_GETFL");
	CHECK(fcntl(fd, F_SETFL, fl | O_APPEND) == 0 && (fcntl(d1, F_GETFL) & O_APPEND),
	      "F_SETFL O_APPEND (shared through dup)");
	CHECK(write(d1, "TAIL", 4) == 4 && lseek(fd, 0, SEEK_CUR) == (off_t)n + 4,
	      "O_APPEND write did not go to the end");
	CHECK(close(d1) == 0 && close(42) == 0 && close(d3) == 0, "close dups");
	errno = 0;
	CHECK(close(42) == -1 && errno == EBADF, "close twice should be EBADF");
	printf("dup/dup2/fcntl: offsets shared, FD_CLOEXEC, F_DUPFD>=100, O_APPEND, EBADF\n");

	/* Not a terminal. */
	errno = 0;
	CHECK(isatty(fd) == 0 && errno == ENOTTY, "isatty on a file");
	struct termios tio;
	errno = 0;
	CHECK(ioctl(fd, TCGETS, &tio) == -1 && errno == ENOTTY, "ioctl(TCGETS) on a file");
	int pp[2];
	CHECK(pipe(pp) == 0, "pipe");
	errno = 0;
	CHECK(lseek(pp[0], 0, SEEK_CUR) == -1 && errno == ESPIPE, "lseek on a pipe");
	close(pp[0]);
	close(pp[1]);
	printf("isatty/ioctl on a file: ENOTTY; lseek on a pipe: ESPIPE\n");
	CHECK(close(fd) == 0, "close");

	/* Names: rename, link, symlink, readlink, access, stat vs lstat. */
	CHECK(renameat(dfd, "data.bin", AT_FDCWD, "moved.bin") == 0, "renameat: %s",
	      errno_name(errno));
	CHECK(link("moved.bin", "hard.bin") == 0, "link: %s", errno_name(errno));
	CHECK(symlink("moved.bin", "soft.lnk") == 0, "symlink: %s", errno_name(errno));
	char lt[64];
	ssize_t ll = readlink("soft.lnk", lt, sizeof lt);
	CHECK(ll == 9 && memcmp(lt, "moved.bin", 9) == 0, "readlink");
	struct stat s1, s2;
	CHECK(stat("soft.lnk", &s1) == 0 && lstat("soft.lnk", &s2) == 0, "stat/lstat");
	CHECK(S_ISREG(s1.st_mode) && S_ISLNK(s2.st_mode) && s1.st_size == (off_t)n + 4 &&
	      s1.st_nlink == 2, "stat through the symlink");
	CHECK(access("moved.bin", R_OK | W_OK) == 0, "access");
	errno = 0;
	CHECK(access("sub/data.bin", F_OK) == -1 && errno == ENOENT, "old name still exists");
	CHECK(open("sub/none", O_RDONLY) == -1 && errno == ENOENT, "ENOENT");
	printf("rename/link/symlink/readlink/access: ok, nlink 2, symlink -> moved.bin\n");

	int sf = openat(dfd, "small.txt", O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(sf >= 0 && write(sf, "x\n", 2) == 2 && close(sf) == 0, "small.txt");
	list_dir(".", "top");
	list_dir("sub", "sub");

	/* /proc/self/exe names the guest binary. */
	char exe[4096];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	CHECK(el > 0, "readlink /proc/self/exe: %s", errno_name(errno));
	exe[el] = '\0';
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	size_t bl = strlen(base);
	int ends = (size_t)el >= bl && strcmp(exe + el - bl, base) == 0 &&
		   ((size_t)el == bl || exe[el - bl - 1] == '/');
	printf("/proc/self/exe ends with argv[0]'s basename: %s\n", ends ? "yes" : "no");

	/* Clean up. */
	errno = 0;
	CHECK(rmdir("sub") == -1 && errno == ENOTEMPTY, "rmdir of a non-empty directory");
	CHECK(unlinkat(dfd, "small.txt", 0) == 0, "unlinkat");
	CHECK(unlink("moved.bin") == 0 && unlink("hard.bin") == 0 && unlink("soft.lnk") == 0,
	      "unlink: %s", errno_name(errno));
	CHECK(close(dfd) == 0, "close dir");
	CHECK(unlinkat(AT_FDCWD, "sub", AT_REMOVEDIR) == 0, "unlinkat AT_REMOVEDIR: %s",
	      errno_name(errno));
	CHECK(chdir(oldcwd) == 0, "chdir back");
	CHECK(rmdir(top) == 0, "rmdir temp dir: %s", errno_name(errno));
	printf("cleanup: ENOTEMPTY, then everything removed\n");
	free(data);
	free(back);
	printf("fileio ok\n");
	return ends ? 0 : 1;
}
