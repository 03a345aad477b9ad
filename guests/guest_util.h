/* guest_util.h — small helpers shared by the guest workloads.
 *
 * Guests are built static for i386 and x86-64, with glibc and with musl, so everything here is
 * portable C plus POSIX. Rules every guest follows:
 *   - output depends only on argv (and, for hello, one environment variable): no addresses,
 *     inode numbers, times, pids or errno strings (glibc and musl word them differently; use
 *     errno_name() instead);
 *   - the same arguments print the same bytes on every architecture and libc;
 *   - the guest checks its own work and exits 1 (after printing "FAIL: ...") when a check fails.
 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64 (Steele, Lea, Flood 2014): the PRNG of every guest; 64-bit on both arches. */
static inline uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform-enough value in [0, n) for n > 0 (modulo bias is irrelevant here). */
static inline uint64_t rand_below(uint64_t *state, uint64_t n)
{
	return splitmix64(state) % n;
}

/* FNV-1a, 64-bit. */
#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

static inline uint64_t fnv1a_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV64_PRIME;
	}
	return h;
}

/* Mix one 64-bit word into an FNV-1a hash, byte by byte (little-endian order). */
static inline uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= FNV64_PRIME;
	}
	return h;
}

static inline void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void fail(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(1);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

/* errno names, so output does not depend on the libc's strerror wording. */
static inline const char *errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ESPIPE: return "ESPIPE";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOTSUP: return "ENOTSUP";
	default: return "E?";
	}
}

/* Parse a non-negative size with an optional K/M/G suffix (powers of 1024). Exits 2 on junk. */
static inline uint64_t parse_size(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0')
		goto bad;
	return v;
bad:
	fprintf(stderr, "bad %s: '%s'\n", what, s);
	exit(2);
}

/* argv[i] parsed as a size if present, else dflt. */
static inline uint64_t arg_size(int argc, char **argv, int i, uint64_t dflt, const char *what)
{
	return i < argc ? parse_size(argv[i], what) : dflt;
}

#endif
