/* sweep.c — `mmuemu sweep SPEC`: runs a grid of paging configurations over guest command lines
 * and tabulates the reports (docs/sweep.md is the user's reference).
 *
 * The spec is read with inih into axes (one per [grid] key, each a list of values) and guests.
 * Everything is checked before any job runs: keys, values of the machine axes, every cpu × set
 * combination as a CPU (config_apply_overrides + mmu_config_valid, as `mmuemu run` does), guest
 * binaries and their ELF class against the paging modes.
 *
 * Jobs. Configuration c (a mixed-radix number over the axes, last axis fastest) and guest g make
 * job c × nguests + g. Its command line is fixed by the spec alone, and its row file is named
 * after the guest, the axis values and a hash of the command line (without the mmuemu path and
 * the report path), so a changed spec never reuses a row that belongs to other options. A job is
 * done when its row file parses as a complete mmuemu report. The sweep runs the jobs that are not
 * done, N at a time, by fork/exec of its own binary (/proc/self/exe) with the report written to
 * ROW.tmp.PID and renamed when the run ended with a report: a killed job never leaves a half
 * row. Children die with the sweep (PR_SET_PDEATHSIG); SIGINT/SIGTERM stop them and remove their
 * temporary files. --emit-jobs prints the same command lines (with the final row path: a
 * half-written row is invalid JSON and is simply run again) for GNU parallel or Slurm.
 *
 * Collecting reads every row into OUTPUT/results.csv and OUTPUT/results.json (written to a
 * temporary name and renamed). Plots: .dat and .gp files in DIR, drawn by gnuplot as SVG and PNG.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnuplot.h"
#include "sweep.h"

#define MAX_AXES    16
#define MAX_VALUES  256          /* values of one axis */
#define MAX_GUESTS  64
#define MAX_OPTIONS 64           /* words of [sweep] options */
#define MAX_JOBS    100000
#define MAX_ARGS    (MAX_OPTIONS + 3 * MAX_AXES + 64)

static const char *const sw_name = "mmuemu sweep";

enum axis_kind { AX_CPU, AX_SET, AX_KCOST, AX_PAGING, AX_MEM, AX_HUGEPAGES, AX_MODEL };

struct axis {
	enum axis_kind kind;
	char *key;                   /* as written in [grid]: "cpu", "set.stlb.4k2m", ... */
	const char *param;           /* key after "set." / "kcost." (else = key) */
	char *vals[MAX_VALUES];
	unsigned nvals;
};

struct guest {
	char *name;                  /* [guests] key: a file-name-safe word */
	char *words[MAX_ARGS];       /* PROGRAM ARGS as split */
	unsigned nwords;
	char *path;                  /* PROGRAM resolved to an absolute path */
	int elf_class;               /* 1 = i386 (ELFCLASS32), 2 = x86-64 */
};

struct spec {
	char *path, *dir;            /* the spec file and its directory (absolute) */
	char *name, *output, *guests_dir, *cpu_file;
	char *options[MAX_OPTIONS];
	unsigned noptions;
	struct axis axes[MAX_AXES];
	unsigned naxes;
	struct guest guests[MAX_GUESTS];
	unsigned nguests;
	char section[32];            /* parser state */
	char err[512];               /* first handler error */
	bool failed;
};

struct job {
	unsigned cfg, guest;
	char **argv;                 /* argc words and a NULL */
	unsigned argc;
	unsigned report_arg;         /* index of the --report value in argv */
	char *row;                   /* absolute row path */
	char *label;                 /* "v1/v2/..." (axis values) */
	bool done, failed;
	pid_t pid;
	double t0;
	char *tmp;                   /* ROW.tmp.PID while running */
};

/* ------------------------------------------------------------------ small helpers ----- */

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		exit(1);
	}
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		exit(1);
	}
	return s;
}

static void spec_fail(struct spec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void spec_fail(struct spec *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	s->failed = true;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

/* Joins dir and path unless path is absolute. */
static char *path_join(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir)
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return xstrdup(path);
	return xasprintf("%s/%s", cwd, path);
}

/* Splits a command line into words: whitespace separates, '...' and "..." quote, backslash
 * escapes one character (outside single quotes). false on an unterminated quote. */
static bool split_words(const char *s, char **out, unsigned max, unsigned *n, char *why, size_t whylen)
{
	*n = 0;
	size_t len = strlen(s);
	char *buf = malloc(len + 1);
	if (!buf) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	const char *p = s;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t k = 0;
		while (*p && !isspace((unsigned char)*p)) {
			if (*p == '\'' || *p == '"') {
				char q = *p++;
				while (*p && *p != q) {
					if (q == '"' && *p == '\\' && p[1])
						p++;
					buf[k++] = *p++;
				}
				if (!*p) {
					snprintf(why, whylen, "unterminated %c quote", q);
					free(buf);
					return false;
				}
				p++;
			} else if (*p == '\\' && p[1]) {
				buf[k++] = p[1];
				p += 2;
			} else {
				buf[k++] = *p++;
			}
		}
		buf[k] = 0;
		if (*n == max) {
			snprintf(why, whylen, "too many words (at most %u)", max);
			free(buf);
			return false;
		}
		out[(*n)++] = xstrdup(buf);
	}
	free(buf);
	return true;
}

/* Prints one word for a POSIX shell: as is when it is made of safe characters, else in single
 * quotes. */
static void shell_quote(FILE *f, const char *w)
{
	bool safe = *w != 0;
	for (const char *p = w; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_@%+=:,./-", *p))
			safe = false;
	if (safe) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

static bool safe_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	return true;
}

static void sanitize(char *s)
{
	for (char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			*p = '_';
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff;                   /* word separator */
	h *= 0x100000001b3ULL;
	return h;
}

/* Size syntax of `mmuemu run` (digits with K/M/G/T, optional iB/B, or 0x...). */
static bool valid_size(const char *s)
{
	char *end;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	if (!*end)
		return v > 0;
	if (!strchr("kKmMgGtT", *end))
		return false;
	end++;
	return !*end || !strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib");
}

static const char *axis_kind_key(enum axis_kind k)
{
	switch (k) {
	case AX_CPU: return "cpu";
	case AX_SET: return "set";
	case AX_KCOST: return "kcost";
	case AX_PAGING: return "paging";
	case AX_MEM: return "mem";
	case AX_HUGEPAGES: return "hugepages";
	case AX_MODEL: return "model";
	}
	return "?";
}

/* ------------------------------------------------------------------ the spec ----------- */

/* Adds one value to an axis, expanding ranges LO..HI, LO..HI+STEP and LO..HI*FACTOR. */
static void axis_add(struct spec *s, struct axis *a, const char *v)
{
	const char *dots = strstr(v, "..");
	if (dots && isdigit((unsigned char)v[0])) {
		char *end;
		errno = 0;
		unsigned long long lo = strtoull(v, &end, 0);
		bool ok = end == dots && !errno;
		unsigned long long hi = ok ? strtoull(dots + 2, &end, 0) : 0;
		ok = ok && !errno && end != dots + 2;
		char op = '+';
		unsigned long long step = 1;
		if (ok && (*end == '+' || *end == '*')) {
			op = *end;
			const char *st = end + 1;
			step = strtoull(st, &end, 0);
			ok = end != st && !errno;
		}
		ok = ok && !*end && lo <= hi && (op == '+' ? step >= 1 : step >= 2 && lo >= 1);
		if (!ok) {
			spec_fail(s, "[grid] %s: bad range '%s' (use LO..HI, LO..HI+STEP or LO..HI*FACTOR)", a->key, v);
			return;
		}
		for (unsigned long long x = lo; x <= hi;) {
			if (a->nvals == MAX_VALUES) {
				spec_fail(s, "[grid] %s: more than %u values", a->key, MAX_VALUES);
				return;
			}
			a->vals[a->nvals++] = xasprintf("%llu", x);
			unsigned long long nx = op == '+' ? x + step : x * step;
			if (nx <= x)
				break;
			x = nx;
		}
		return;
	}
	if (a->nvals == MAX_VALUES) {
		spec_fail(s, "[grid] %s: more than %u values", a->key, MAX_VALUES);
		return;
	}
	for (unsigned i = 0; i < a->nvals; i++)
		if (!strcmp(a->vals[i], v)) {
			spec_fail(s, "[grid] %s: value '%s' given twice", a->key, v);
			return;
		}
	a->vals[a->nvals++] = xstrdup(v);
}

/* Splits an axis list: commas and/or whitespace separate; a token "full" joins the token before
 * it ("1536,full" is one fully associative geometry). */
static void axis_parse(struct spec *s, struct axis *a, const char *value)
{
	char *copy = xstrdup(value);
	char *toks[MAX_VALUES * 2];
	unsigned nt = 0;
	for (char *t = strtok(copy, ", \t"); t; t = strtok(NULL, ", \t")) {
		if (nt == MAX_VALUES * 2) {
			spec_fail(s, "[grid] %s: too many values", a->key);
			break;
		}
		toks[nt++] = t;
	}
	for (unsigned i = 0; i < nt && !s->failed; i++) {
		if (i + 1 < nt && !strcasecmp(toks[i + 1], "full")) {
			char *v = xasprintf("%s,%s", toks[i], toks[i + 1]);
			axis_add(s, a, v);
			free(v);
			i++;
		} else if (!strcasecmp(toks[i], "full")) {
			spec_fail(s, "[grid] %s: 'full' must follow an entry count (ENTRIES,full)", a->key);
		} else {
			axis_add(s, a, toks[i]);
		}
	}
	if (!s->failed && a->nvals == 0)
		spec_fail(s, "[grid] %s: empty axis (give at least one value)", a->key);
	free(copy);
}

static int spec_handler(void *user, const char *section, const char *name, const char *value)
{
	struct spec *s = user;
	if (s->failed)
		return 1;        /* report the first error only */
	char why[200];
	if (!strcmp(section, "sweep")) {
		char **slot = NULL;
		if (!strcmp(name, "name")) slot = &s->name;
		else if (!strcmp(name, "output")) slot = &s->output;
		else if (!strcmp(name, "guests_dir")) slot = &s->guests_dir;
		else if (!strcmp(name, "cpu_file")) slot = &s->cpu_file;
		else if (!strcmp(name, "options")) {
			if (s->noptions) {
				spec_fail(s, "[sweep] options: given twice");
				return 0;
			}
			if (!split_words(value, s->options, MAX_OPTIONS, &s->noptions, why, sizeof why)) {
				spec_fail(s, "[sweep] options: %s", why);
				return 0;
			}
			for (unsigned i = 0; i < s->noptions; i++) {
				const char *o = s->options[i];
				if (!strcmp(o, "--") || !strncmp(o, "--report", 8) || !strcmp(o, "--no-report") ||
				    !strcmp(o, "--cpu-file") || !strcmp(o, "-h") || !strcmp(o, "--help")) {
					spec_fail(s, "[sweep] options: '%s' is set by the sweep itself (use cpu_file for --cpu-file)", o);
					return 0;
				}
			}
			return 1;
		} else {
			spec_fail(s, "[sweep] unknown key '%s' (known: name, output, guests_dir, cpu_file, options)", name);
			return 0;
		}
		if (*slot) {
			spec_fail(s, "[sweep] %s: given twice", name);
			return 0;
		}
		if (!*value) {
			spec_fail(s, "[sweep] %s: empty value", name);
			return 0;
		}
		*slot = xstrdup(value);
		return 1;
	}
	if (!strcmp(section, "guests")) {
		if (!safe_name(name)) {
			spec_fail(s, "[guests] '%s': a guest name is 1-64 letters, digits, '.', '_' or '-'", name);
			return 0;
		}
		for (unsigned i = 0; i < s->nguests; i++)
			if (!strcmp(s->guests[i].name, name)) {
				spec_fail(s, "[guests] %s: given twice", name);
				return 0;
			}
		if (s->nguests == MAX_GUESTS) {
			spec_fail(s, "[guests]: more than %u guests", MAX_GUESTS);
			return 0;
		}
		struct guest *g = &s->guests[s->nguests];
		memset(g, 0, sizeof *g);
		if (!split_words(value, g->words, MAX_ARGS - MAX_OPTIONS - 3 * MAX_AXES - 16, &g->nwords, why, sizeof why)) {
			for (unsigned i = 0; i < g->nwords; i++)
				free(g->words[i]);
			spec_fail(s, "[guests] %s: %s", name, why);
			return 0;
		}
		if (g->nwords == 0) {
			spec_fail(s, "[guests] %s: no program given (name = PROGRAM ARGS)", name);
			return 0;
		}
		g->name = xstrdup(name);
		s->nguests++;
		return 1;
	}
	if (!strcmp(section, "grid")) {
		enum axis_kind k;
		const char *param = name;
		if (!strcmp(name, "cpu")) k = AX_CPU;
		else if (!strncmp(name, "set.", 4) && name[4]) { k = AX_SET; param = name + 4; }
		else if (!strncmp(name, "kcost.", 6) && name[6]) { k = AX_KCOST; param = name + 6; }
		else if (!strcmp(name, "paging")) k = AX_PAGING;
		else if (!strcmp(name, "mem")) k = AX_MEM;
		else if (!strcmp(name, "hugepages")) k = AX_HUGEPAGES;
		else if (!strcmp(name, "model")) k = AX_MODEL;
		else {
			spec_fail(s, "[grid] unknown key '%s' (known: cpu, set.KEY, kcost.NAME, paging, mem, hugepages, model)", name);
			return 0;
		}
		for (unsigned i = 0; i < s->naxes; i++)
			if (!strcmp(s->axes[i].key, name)) {
				spec_fail(s, "[grid] %s: given twice", name);
				return 0;
			}
		if (s->naxes == MAX_AXES) {
			spec_fail(s, "[grid]: more than %u axes", MAX_AXES);
			return 0;
		}
		struct axis *a = &s->axes[s->naxes++];
		memset(a, 0, sizeof *a);
		a->kind = k;
		a->key = xstrdup(name);
		a->param = a->key + (param - name);
		axis_parse(s, a, value);
		return !s->failed;
	}
	spec_fail(s, "unknown section [%s] (known: [sweep], [guests], [grid])", section);
	return 0;
}

#define ELF_PT_INTERP 3           /* program header naming a dynamic loader */

/* Reads the ELF class of a file: 1 (32-bit), 2 (64-bit), 0 when it is not ELF, -1 when it
 * cannot be read. *dynamic: it has a PT_INTERP header (mmuemu runs static programs only). */
static int elf_class(const char *path, bool *dynamic)
{
	unsigned char eh[64];
	*dynamic = false;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t n = fread(eh, 1, sizeof eh, f);
	if (n < 52 || memcmp(eh, "\177ELF", 4) || (eh[4] != 1 && eh[4] != 2) || eh[5] != 1) {
		fclose(f);
		return 0;
	}
	int cls = eh[4];
	uint64_t phoff = 0;
	unsigned phentsize, phnum;
	if (cls == 2) {      /* Elf64_Ehdr: e_phoff at 32, e_phentsize at 54, e_phnum at 56 */
		for (int i = 7; i >= 0; i--)
			phoff = phoff << 8 | eh[32 + i];
		phentsize = eh[54] | eh[55] << 8;
		phnum = eh[56] | eh[57] << 8;
	} else {             /* Elf32_Ehdr: e_phoff at 28, e_phentsize at 42, e_phnum at 44 */
		phoff = (uint32_t)eh[28] | (uint32_t)eh[29] << 8 | (uint32_t)eh[30] << 16 | (uint32_t)eh[31] << 24;
		phentsize = eh[42] | eh[43] << 8;
		phnum = eh[44] | eh[45] << 8;
	}
	for (unsigned i = 0; i < phnum && i < 256 && phentsize >= 4; i++) {
		unsigned char t[4];
		if (fseek(f, (long)(phoff + (uint64_t)i * phentsize), SEEK_SET) != 0 || fread(t, 1, 4, f) != 4)
			break;
		if ((uint32_t)t[0] == ELF_PT_INTERP && !t[1] && !t[2] && !t[3])
			*dynamic = true;
	}
	fclose(f);
	return cls;
}

/* Finds a guest's program: absolute as is; a relative path against the guests directory (or
 * the spec's); a bare name there first, then on PATH. */
static char *find_program(const struct spec *s, const char *prog)
{
	const char *base = s->guests_dir ? s->guests_dir : s->dir;
	if (prog[0] == '/')
		return xstrdup(prog);
	char *p = path_join(base, prog);
	if (strchr(prog, '/') || access(p, F_OK) == 0)
		return p;
	free(p);
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		char *c = xasprintf("%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(c, X_OK) == 0) {
			char *abs = absolute(c);
			free(c);
			return abs;
		}
		free(c);
		path += n + (colon ? 1 : 0);
	}
	return path_join(base, prog);
}

static const struct axis *find_axis(const struct spec *s, enum axis_kind k)
{
	for (unsigned i = 0; i < s->naxes; i++)
		if (s->axes[i].kind == k)
			return &s->axes[i];
	return NULL;
}

static bool option_given(const struct spec *s, const char *opt, const char **val)
{
	size_t n = strlen(opt);
	for (unsigned i = 0; i < s->noptions; i++) {
		if (!strcmp(s->options[i], opt)) {
			*val = i + 1 < s->noptions ? s->options[i + 1] : "";
			return true;
		}
		if (!strncmp(s->options[i], opt, n) && s->options[i][n] == '=') {
			*val = s->options[i] + n + 1;
			return true;
		}
	}
	return false;
}

/* Checks everything that can be checked before a job runs; prints the first problem. */
static bool spec_check(struct spec *s, struct config_registry *reg)
{
	const char *sp = s->path;
	if (s->nguests == 0) {
		fprintf(stderr, "%s: %s: [guests] lists no guest (name = PROGRAM ARGS)\n", sw_name, sp);
		return false;
	}
	uint64_t ncfg = 1;
	for (unsigned i = 0; i < s->naxes; i++) {
		ncfg *= s->axes[i].nvals;
		if (ncfg * s->nguests > MAX_JOBS) {
			fprintf(stderr, "%s: %s: the grid has more than %u jobs\n", sw_name, sp, MAX_JOBS);
			return false;
		}
	}
	char err[400];
	if (s->cpu_file) {
		char *cf = path_join(s->dir, s->cpu_file);
		free(s->cpu_file);
		s->cpu_file = cf;
		if (!config_load_file(reg, cf, err, sizeof err)) {
			fprintf(stderr, "%s: %s: cpu_file: %s\n", sw_name, sp, err);
			return false;
		}
	}
	/* Machine axes. */
	for (unsigned i = 0; i < s->naxes; i++) {
		const struct axis *a = &s->axes[i];
		for (unsigned v = 0; v < a->nvals; v++) {
			const char *x = a->vals[v];
			bool ok = true;
			const char *hint = "";
			switch (a->kind) {
			case AX_PAGING:
				ok = !strcmp(x, "2level") || !strcmp(x, "pae") || !strcmp(x, "4level") || !strcmp(x, "5level");
				hint = " (use 2level, pae, 4level or 5level)";
				break;
			case AX_MEM:
				ok = valid_size(x);
				hint = " (examples: 512M, 4G)";
				break;
			case AX_HUGEPAGES:
				ok = !strcmp(x, "none") || !strcmp(x, "2m") || !strcmp(x, "1g");
				hint = " (use none, 2m or 1g)";
				break;
			case AX_MODEL:
				ok = !strcmp(x, "timing") || !strcmp(x, "functional") || !strcmp(x, "hooks-only");
				hint = " (use timing, functional or hooks-only)";
				break;
			case AX_CPU:
				ok = config_find_cpu(reg, x) != NULL;
				hint = " (see 'mmuemu cpus', or define it in cpu_file)";
				break;
			case AX_KCOST: {
				char *end;
				errno = 0;
				unsigned long long c = strtoull(x, &end, 0);
				ok = *x && *x != '-' && !*end && !errno && c <= 1000000000ULL;
				hint = " (a number of cycles)";
				break;
			}
			case AX_SET:
				break;   /* checked below, as whole CPUs */
			}
			if (!ok) {
				fprintf(stderr, "%s: %s: [grid] %s: invalid value '%s'%s\n", sw_name, sp, a->key, x, hint);
				return false;
			}
		}
	}
	/* A functional or hooks-only model has no CPU: no cpu or set axes with it. */
	const struct axis *model = find_axis(s, AX_MODEL);
	const char *mv = NULL;
	bool any_untimed = false, opt_model = option_given(s, "--model", &mv);
	if (model) {
		for (unsigned v = 0; v < model->nvals; v++)
			any_untimed |= strcmp(model->vals[v], "timing") != 0;
	} else if (opt_model) {
		any_untimed = strcmp(mv, "timing") != 0;
	}
	if (any_untimed) {
		for (unsigned i = 0; i < s->naxes; i++)
			if (s->axes[i].kind == AX_CPU || s->axes[i].kind == AX_SET) {
				fprintf(stderr, "%s: %s: [grid] %s: a functional or hooks-only model has no CPU; "
					"sweep cpu and set.* axes with model = timing only\n", sw_name, sp, s->axes[i].key);
				return false;
			}
	}
	/* Every cpu × set combination must be a valid CPU. */
	const struct axis *cpu = find_axis(s, AX_CPU);
	const struct axis *sets[MAX_AXES];
	unsigned nsets = 0;
	for (unsigned i = 0; i < s->naxes; i++)
		if (s->axes[i].kind == AX_SET)
			sets[nsets++] = &s->axes[i];
	const char *ocpu = NULL;
	bool have_ocpu = option_given(s, "--cpu", &ocpu);
	if (!any_untimed) {
		unsigned idx[MAX_AXES] = { 0 };
		unsigned ncpu = cpu ? cpu->nvals : 1;
		for (unsigned c = 0; c < ncpu; c++) {
			const char *nm = cpu ? cpu->vals[c] : have_ocpu ? ocpu : mmu_default_preset();
			const struct mmu_config *base = config_find_cpu(reg, nm);
			if (!base) {
				fprintf(stderr, "%s: %s: [sweep] options: unknown CPU '%s'\n", sw_name, sp, nm);
				return false;
			}
			memset(idx, 0, sizeof idx);
			for (;;) {
				struct mmu_config m = *base;
				char *kvs[MAX_AXES];
				for (unsigned k = 0; k < nsets; k++)
					kvs[k] = xasprintf("%s=%s", sets[k]->param, sets[k]->vals[idx[k]]);
				bool ok = config_apply_overrides(&m, (const char *const *)kvs, nsets, err, sizeof err) &&
					mmu_config_valid(&m, err, sizeof err);
				if (!ok) {
					fprintf(stderr, "%s: %s: [grid] CPU %s with", sw_name, sp, nm);
					for (unsigned k = 0; k < nsets; k++)
						fprintf(stderr, " %s", kvs[k]);
					fprintf(stderr, ": %s\n", err);
				}
				for (unsigned k = 0; k < nsets; k++)
					free(kvs[k]);
				if (!ok)
					return false;
				unsigned k = nsets;
				while (k > 0 && ++idx[k - 1] == sets[k - 1]->nvals)
					idx[--k] = 0;
				if (k == 0)
					break;
			}
		}
	}
	/* Guests: programs exist, are ELF, and fit the paging modes. */
	const struct axis *paging = find_axis(s, AX_PAGING);
	const char *opg = NULL;
	bool have_opg = option_given(s, "--paging", &opg);
	for (unsigned g = 0; g < s->nguests; g++) {
		struct guest *gu = &s->guests[g];
		gu->path = find_program(s, gu->words[0]);
		bool dynamic;
		gu->elf_class = elf_class(gu->path, &dynamic);
		if (gu->elf_class < 0) {
			fprintf(stderr, "%s: %s: [guests] %s: cannot open '%s': %s\n", sw_name, sp, gu->name, gu->path, strerror(errno));
			return false;
		}
		if (gu->elf_class == 0) {
			fprintf(stderr, "%s: %s: [guests] %s: '%s' is not an ELF program\n", sw_name, sp, gu->name, gu->path);
			return false;
		}
		if (dynamic) {
			fprintf(stderr, "%s: %s: [guests] %s: '%s' is dynamically linked; mmuemu runs static programs\n",
				sw_name, sp, gu->name, gu->path);
			return false;
		}
		unsigned np = paging ? paging->nvals : have_opg ? 1 : 0;
		for (unsigned v = 0; v < np; v++) {
			const char *m = paging ? paging->vals[v] : opg;
			bool is32 = !strcmp(m, "2level") || !strcmp(m, "pae");
			bool is64 = !strcmp(m, "4level") || !strcmp(m, "5level");
			if ((is32 && gu->elf_class != 1) || (is64 && gu->elf_class != 2)) {
				fprintf(stderr, "%s: %s: paging %s needs an %s guest; guest %s is %s\n", sw_name, sp, m,
					is32 ? "i386" : "x86-64", gu->name, gu->elf_class == 1 ? "i386" : "x86-64");
				return false;
			}
		}
	}
	return true;
}

static bool spec_load(struct spec *s, const char *path, const char *output, const char *guests_dir)
{
	memset(s, 0, sizeof *s);
	s->path = absolute(path);
	char *slash = strrchr(s->path, '/');
	s->dir = slash == s->path ? xstrdup("/") : xasprintf("%.*s", (int)(slash - s->path), s->path);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, path, strerror(errno));
		return false;
	}
	int rc = ini_parse_file(f, spec_handler, s);
	fclose(f);
	if (s->failed) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, path, s->err);
		return false;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: %s:%d: syntax error (expected [section], KEY = VALUE or a comment)\n", sw_name, path, rc);
		return false;
	}
	if (!s->name) {
		const char *b = strrchr(s->path, '/') + 1;
		const char *dot = strrchr(b, '.');
		s->name = xasprintf("%.*s", (int)(dot && dot != b ? dot - b : (long)strlen(b)), b);
	}
	char *out;
	if (output)
		out = absolute(output);
	else if (s->output)
		out = path_join(s->dir, s->output);
	else
		out = xasprintf("%s/%s.sweep", s->dir, s->name);
	free(s->output);
	s->output = out;
	if (guests_dir) {
		free(s->guests_dir);
		s->guests_dir = absolute(guests_dir);
	} else if (s->guests_dir) {
		char *gd = path_join(s->dir, s->guests_dir);
		free(s->guests_dir);
		s->guests_dir = gd;
	}
	return true;
}

static void spec_free(struct spec *s)
{
	free(s->path);
	free(s->dir);
	free(s->name);
	free(s->output);
	free(s->guests_dir);
	free(s->cpu_file);
	for (unsigned i = 0; i < s->noptions; i++)
		free(s->options[i]);
	for (unsigned i = 0; i < s->naxes; i++) {
		free(s->axes[i].key);
		for (unsigned v = 0; v < s->axes[i].nvals; v++)
			free(s->axes[i].vals[v]);
	}
	for (unsigned g = 0; g < s->nguests; g++) {
		free(s->guests[g].name);
		free(s->guests[g].path);
		for (unsigned i = 0; i < s->guests[g].nwords; i++)
			free(s->guests[g].words[i]);
	}
	free(s);
}

/* ------------------------------------------------------------------ jobs --------------- */

static unsigned ncfgs(const struct spec *s)
{
	unsigned n = 1;
	for (unsigned i = 0; i < s->naxes; i++)
		n *= s->axes[i].nvals;
	return n;
}

/* Value index of axis i in configuration c (last axis fastest). */
static unsigned cfg_value(const struct spec *s, unsigned c, unsigned i)
{
	for (unsigned k = s->naxes; k-- > i + 1;)
		c /= s->axes[k].nvals;
	return c % s->axes[i].nvals;
}

static void job_build(const struct spec *s, const char *exe, struct job *j, unsigned cfg, unsigned g)
{
	const struct guest *gu = &s->guests[g];
	memset(j, 0, sizeof *j);
	j->cfg = cfg;
	j->guest = g;
	j->pid = -1;
	unsigned n = 0;
	j->argv = calloc(2 + 2 + s->noptions + 2 * s->naxes + 6 + gu->nwords + 1, sizeof *j->argv);
	if (!j->argv) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		exit(1);
	}
	j->argv[n++] = xstrdup(exe);
	j->argv[n++] = xstrdup("run");
	if (s->cpu_file) {
		j->argv[n++] = xstrdup("--cpu-file");
		j->argv[n++] = xstrdup(s->cpu_file);
	}
	for (unsigned i = 0; i < s->noptions; i++)
		j->argv[n++] = xstrdup(s->options[i]);
	size_t lablen = 1;
	for (unsigned i = 0; i < s->naxes; i++)
		lablen += strlen(s->axes[i].vals[cfg_value(s, cfg, i)]) + 1;
	j->label = calloc(1, lablen + 8);
	if (!j->label) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		exit(1);
	}
	for (unsigned i = 0; i < s->naxes; i++) {
		const struct axis *a = &s->axes[i];
		const char *v = a->vals[cfg_value(s, cfg, i)];
		if (i)
			strcat(j->label, "/");
		strcat(j->label, v);
		switch (a->kind) {
		case AX_CPU:
			j->argv[n++] = xstrdup("--cpu");
			j->argv[n++] = xstrdup(v);
			break;
		case AX_SET:
			j->argv[n++] = xstrdup("--set");
			j->argv[n++] = xasprintf("%s=%s", a->param, v);
			break;
		case AX_KCOST:
			j->argv[n++] = xstrdup("--kcost");
			j->argv[n++] = xasprintf("%s=%s", a->param, v);
			break;
		default:
			j->argv[n++] = xasprintf("--%s", axis_kind_key(a->kind));
			j->argv[n++] = xstrdup(v);
			break;
		}
	}
	if (s->naxes == 0)
		strcpy(j->label, "base");
	j->argv[n++] = xstrdup("--report-format");
	j->argv[n++] = xstrdup("json");
	j->argv[n++] = xstrdup("--report");
	j->report_arg = n;
	j->argv[n++] = NULL;   /* filled below */
	j->argv[n++] = xstrdup("--");
	j->argv[n++] = xstrdup(gu->path);
	for (unsigned i = 1; i < gu->nwords; i++)
		j->argv[n++] = xstrdup(gu->words[i]);
	j->argc = n;
	j->argv[n] = NULL;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned i = 1; i < n; i++)
		if (i != j->report_arg)
			h = fnv1a(h, j->argv[i]);
	char *lab = xasprintf("%.80s", j->label);
	sanitize(lab);
	j->row = xasprintf("%s/runs/%s__%s__%08x.json", s->output, gu->name, lab, (unsigned)(h ^ (h >> 32)));
	free(lab);
	j->argv[j->report_arg] = xstrdup(j->row);
}

static void job_free(struct job *j)
{
	for (unsigned i = 0; i < j->argc; i++)
		free(j->argv[i]);
	free(j->argv);
	free(j->tmp);
	free(j->row);
	free(j->label);
}

/* A row is complete when it parses as an mmuemu report with an instruction count. Returns the
 * parsed report (caller puts it) or NULL. */
static json_object *row_load(const char *path)
{
	if (access(path, R_OK) != 0)
		return NULL;
	json_object *o = json_object_from_file(path);
	if (!o)
		return NULL;
	json_object *schema, *run, *insns;
	if (!json_object_object_get_ex(o, "schema", &schema) ||
	    strcmp(json_object_get_string(schema), "mmuemu-report") != 0 ||
	    !json_object_object_get_ex(o, "run", &run) ||
	    !json_object_object_get_ex(run, "instructions", &insns)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static bool row_valid(const char *path)
{
	json_object *o = row_load(path);
	if (o)
		json_object_put(o);
	return o != NULL;
}

/* ------------------------------------------------------------------ running ------------ */
/* Runs the first configuration of every guest for one instruction (`--max-insns 1
 * --no-report`), so that what only `mmuemu run` checks — the words of [sweep] options, a
 * program it cannot load — fails here, once, before any job. Returns false (after printing
 * mmuemu's message) when a run exits with status 2. */
static bool preflight(const struct spec *s, const struct job *jobs, const char *exe)
{
	const char *dummy;
	if (option_given(s, "--no-icount", &dummy) || option_given(s, "--max-insns", &dummy))
		return true;
	for (unsigned g = 0; g < s->nguests; g++) {
		const struct job *j = &jobs[g];
		char *argv[MAX_ARGS + 2];
		unsigned n = 0;
		for (unsigned i = 0; i < j->argc; i++) {
			if (i + 3 == j->report_arg) {         /* "--report-format json --report ROW" */
				argv[n++] = (char *)"--no-report";
				argv[n++] = (char *)"--max-insns";
				argv[n++] = (char *)"1";
				i += 3;
				continue;
			}
			argv[n++] = j->argv[i];
		}
		argv[n] = NULL;
		int pipefd[2];
		if (pipe(pipefd) != 0)
			return true;
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			close(pipefd[0]);
			close(pipefd[1]);
			return true;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
			}
			dup2(pipefd[1], 2);
			close(pipefd[0]);
			execv(exe, argv);
			_exit(127);
		}
		close(pipefd[1]);
		char msg[2048];
		size_t len = 0;
		ssize_t r;
		while ((r = read(pipefd[0], msg + len, sizeof msg - 1 - len)) > 0 || (r < 0 && errno == EINTR))
			if (r > 0)
				len += (size_t)r;
		msg[len] = 0;
		close(pipefd[0]);
		int st;
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR)
				return true;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
			fprintf(stderr, "%s: cannot run %s\n", sw_name, exe);
			return false;
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
			fprintf(stderr, "%s: %s: guest %s: mmuemu run refuses the job:\n%s", sw_name, s->path,
				s->guests[g].name, msg);
			return false;
		}
	}
	return true;
}


static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t tick;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void on_alarm(int sig)
{
	(void)sig;
	tick = 1;
}

static void fmt_duration(char *buf, size_t len, double s)
{
	if (s < 0)
		s = 0;
	unsigned long t = (unsigned long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

struct runner {
	struct job *jobs;
	unsigned njobs, jobs_par;
	unsigned todo, started, finished, failed, running;
	double t_start, busy;        /* busy: sum of finished jobs' durations */
	bool tty, quiet;
};

static void progress(struct runner *r, const struct job *last)
{
	char el[32], eta[32];
	if (r->quiet)
		return;
	double elapsed = now_seconds() - r->t_start;
	fmt_duration(el, sizeof el, elapsed);
	if (r->finished) {
		double mean = r->busy / r->finished;
		double left = mean * (r->todo - r->finished) / r->jobs_par;
		fmt_duration(eta, sizeof eta, left);
	} else {
		snprintf(eta, sizeof eta, "?");
	}
	if (r->tty) {
		fprintf(stderr, "\r\033[K[sweep] %u/%u done, %u running, %s elapsed, ETA %s",
			r->finished, r->todo, r->running, el, eta);
		if (r->failed)
			fprintf(stderr, ", %u failed", r->failed);
	} else if (last) {
		fprintf(stderr, "[sweep] %u/%u done, %s elapsed, ETA %s: %s %s%s\n", r->finished, r->todo, el, eta,
			last->label, strrchr(last->argv[last->report_arg], '/') + 1, last->failed ? " FAILED" : "");
	}
	fflush(stderr);
}

static const char *exe_path;

static void job_start(struct runner *r, struct job *j)
{
	free(j->tmp);
	j->tmp = xasprintf("%s.tmp.%d", j->row, (int)getpid());
	char *log = xasprintf("%.*s.log", (int)(strlen(j->row) - 5), j->row);
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", sw_name, strerror(errno));
		j->failed = true;
		free(log);
		return;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int in = open("/dev/null", O_RDONLY);
		int out = open("/dev/null", O_WRONLY);
		int err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (in < 0 || out < 0 || err < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		char *argv[MAX_ARGS + 1];
		memcpy(argv, j->argv, sizeof(char *) * (j->argc + 1));
		argv[j->report_arg] = j->tmp;
		execv(exe_path, argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", sw_name, exe_path, strerror(errno));
		_exit(127);
	}
	free(log);
	j->pid = pid;
	j->t0 = now_seconds();
	r->started++;
	r->running++;
}

/* The last non-empty line of a job's log, for a failure message. */
static void log_tail(const char *row, char *buf, size_t len)
{
	char *log = xasprintf("%.*s.log", (int)(strlen(row) - 5), row);
	buf[0] = 0;
	FILE *f = fopen(log, "r");
	free(log);
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char *t = trim(line);
		if (*t)
			snprintf(buf, len, "%s", t);
	}
	fclose(f);
}

static void job_reaped(struct runner *r, struct job *j, int status)
{
	double dt = now_seconds() - j->t0;
	j->pid = -1;
	r->running--;
	r->finished++;
	r->busy += dt;
	if (row_valid(j->tmp) && rename(j->tmp, j->row) == 0) {
		j->done = true;
		char *log = xasprintf("%.*s.log", (int)(strlen(j->row) - 5), j->row);
		struct stat st;
		if (stat(log, &st) == 0 && st.st_size == 0)
			unlink(log);
		free(log);
	} else {
		unlink(j->tmp);
		j->failed = true;
		r->failed++;
		char tail[400];
		log_tail(j->row, tail, sizeof tail);
		if (r->tty)
			fprintf(stderr, "\r\033[K");
		if (WIFSIGNALED(status))
			fprintf(stderr, "%s: job %s (%s) killed by signal %d without a report: %s\n", sw_name,
				j->label, strrchr(j->row, '/') + 1, WTERMSIG(status), tail);
		else
			fprintf(stderr, "%s: job %s (%s) exited %d without a report: %s\n", sw_name,
				j->label, strrchr(j->row, '/') + 1, WEXITSTATUS(status), tail);
	}
	if (!r->tty)
		progress(r, j);    /* a terminal's line is refreshed once the next jobs started */
}

/* Runs every job that is not done, jobs_par at a time. Returns 0, or the signal that stopped
 * the sweep. */
static int run_jobs(struct runner *r)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;          /* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	if (r->tty) {
		struct itimerval it = { { 1, 0 }, { 1, 0 } };
		setitimer(ITIMER_REAL, &it, NULL);
	}
	r->t_start = now_seconds();
	unsigned next = 0;
	progress(r, NULL);
	while (!stop_signal) {
		while (r->running < r->jobs_par && next < r->njobs && !stop_signal) {
			struct job *j = &r->jobs[next++];
			if (j->done)
				continue;
			job_start(r, j);
		}
		if (r->tty)
			progress(r, NULL);
		if (r->running == 0)
			break;
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR) {
				if (tick) {
					tick = 0;
					progress(r, NULL);
				}
				continue;
			}
			fprintf(stderr, "%s: waitpid: %s\n", sw_name, strerror(errno));
			break;
		}
		for (unsigned i = 0; i < r->njobs; i++)
			if (r->jobs[i].pid == pid) {
				job_reaped(r, &r->jobs[i], status);
				break;
			}
	}
	if (r->tty) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
		fprintf(stderr, "\n");
	}
	if (stop_signal) {
		for (unsigned i = 0; i < r->njobs; i++)
			if (r->jobs[i].pid > 0)
				kill(r->jobs[i].pid, SIGTERM);
		for (unsigned i = 0; i < r->njobs; i++) {
			struct job *j = &r->jobs[i];
			if (j->pid > 0) {
				while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
					;
				unlink(j->tmp);
				j->pid = -1;
			}
		}
		return stop_signal;
	}
	return 0;
}

/* ------------------------------------------------------------------ tables ------------- */

struct field {
	const char *col;
	const char *path;            /* dotted path in the report */
	bool real;
};

static const struct field fields[] = {
	{ "exit_status", "end.exit_status", false },
	{ "instructions", "run.instructions", false },
	{ "cycles", "timing.cycles.total", false },
	{ "translation_cycles", "timing.cycles.translation", false },
	{ "translation_share", "timing.cycles.translation_share", true },
	{ "translation_and_fault_share", "timing.cycles.translation_and_fault_share", true },
	{ "kernel_cycles", "timing.cycles.kernel", false },
	{ "itlb_accesses", "timing.tlb.ITLB.accesses", false },
	{ "itlb_misses", "timing.tlb.ITLB.misses", false },
	{ "itlb_miss_rate", "timing.tlb.ITLB.miss_rate", true },
	{ "dtlb_accesses", "timing.tlb.DTLB.accesses", false },
	{ "dtlb_misses", "timing.tlb.DTLB.misses", false },
	{ "dtlb_miss_rate", "timing.tlb.DTLB.miss_rate", true },
	{ "stlb_accesses", "timing.tlb.STLB.accesses", false },
	{ "stlb_misses", "timing.tlb.STLB.misses", false },
	{ "stlb_miss_rate", "timing.tlb.STLB.miss_rate", true },
	{ "walks", "timing.walks.count", false },
	{ "walk_cycles", "timing.walks.cycles", false },
	{ "walk_mean_cycles", "timing.walks.mean_cycles", true },
	{ "walks_faulted", "timing.walks.faulted", false },
	{ "page_faults", "page_faults.total", false },
	{ "page_faults_major", "page_faults.major", false },
	{ "wall_seconds", "run.wall_seconds", true },
	{ "mips", "run.mips", true },
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* Follows a dotted path; NULL when a member is missing or null. */
static json_object *jpath(json_object *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	char *save = NULL;
	for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
		json_object *next = NULL;
		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, t, &next))
			return NULL;
		o = next;
	}
	return o && !json_object_is_type(o, json_type_null) ? o : NULL;
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void fmt_value(char *buf, size_t len, json_object *v, bool real)
{
	if (!v)
		buf[0] = 0;
	else if (real)
		snprintf(buf, len, "%.10g", json_object_get_double(v));
	else
		snprintf(buf, len, "%lld", (long long)json_object_get_int64(v));
}

static FILE *open_tmp(const char *path, char *tmp, size_t len)
{
	snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		fprintf(stderr, "%s: %s: %s\n", sw_name, tmp, strerror(errno));
	return f;
}

static bool close_rename(FILE *f, const char *tmp, const char *path)
{
	bool ok = !ferror(f);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", sw_name, path, strerror(errno));
		unlink(tmp);
		return false;
	}
	return true;
}

/* Writes OUTPUT/results.csv and OUTPUT/results.json from every complete row; reports is
 * filled with each job's parsed report (NULL when missing). Returns false on a write error. */
static bool write_tables(const struct spec *s, struct job *jobs, unsigned njobs, json_object **reports, unsigned *nrows)
{
	char *csv = xasprintf("%s/results.csv", s->output);
	char *js = xasprintf("%s/results.json", s->output);
	char tcsv[PATH_MAX + 32], tjs[PATH_MAX + 32];
	FILE *fc = open_tmp(csv, tcsv, sizeof tcsv);
	if (!fc) {
		free(csv);
		free(js);
		return false;
	}
	fputs("guest,config", fc);
	for (unsigned i = 0; i < s->naxes; i++) {
		fputc(',', fc);
		csv_field(fc, s->axes[i].key);
	}
	for (unsigned k = 0; k < NFIELDS; k++)
		fprintf(fc, ",%s", fields[k].col);
	fputs(",report\n", fc);

	json_object *root = json_object_new_object();
	json_object_object_add(root, "schema", json_object_new_string("mmuemu-sweep"));
	json_object_object_add(root, "schema_version", json_object_new_int(1));
	json_object_object_add(root, "name", json_object_new_string(s->name));
	json_object_object_add(root, "spec", json_object_new_string(s->path));
	json_object *axes = json_object_new_array();
	for (unsigned i = 0; i < s->naxes; i++) {
		json_object *a = json_object_new_object();
		json_object_object_add(a, "key", json_object_new_string(s->axes[i].key));
		json_object *vals = json_object_new_array();
		for (unsigned v = 0; v < s->axes[i].nvals; v++)
			json_object_array_add(vals, json_object_new_string(s->axes[i].vals[v]));
		json_object_object_add(a, "values", vals);
		json_object_array_add(axes, a);
	}
	json_object_object_add(root, "axes", axes);
	json_object *guests = json_object_new_object();
	for (unsigned g = 0; g < s->nguests; g++) {
		json_object *w = json_object_new_array();
		json_object_array_add(w, json_object_new_string(s->guests[g].path));
		for (unsigned i = 1; i < s->guests[g].nwords; i++)
			json_object_array_add(w, json_object_new_string(s->guests[g].words[i]));
		json_object_object_add(guests, s->guests[g].name, w);
	}
	json_object_object_add(root, "guests", guests);
	json_object *rows = json_object_new_array();
	unsigned missing = 0;
	*nrows = 0;
	for (unsigned i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		reports[i] = row_load(j->row);
		if (!reports[i]) {
			missing++;
			continue;
		}
		(*nrows)++;
		const char *gname = s->guests[j->guest].name;
		csv_field(fc, gname);
		fputc(',', fc);
		csv_field(fc, j->label);
		json_object *row = json_object_new_object();
		json_object_object_add(row, "guest", json_object_new_string(gname));
		json_object_object_add(row, "config", json_object_new_string(j->label));
		json_object *params = json_object_new_object();
		for (unsigned a = 0; a < s->naxes; a++) {
			const char *v = s->axes[a].vals[cfg_value(s, j->cfg, a)];
			fputc(',', fc);
			csv_field(fc, v);
			json_object_object_add(params, s->axes[a].key, json_object_new_string(v));
		}
		json_object_object_add(row, "params", params);
		for (unsigned k = 0; k < NFIELDS; k++) {
			char buf[64];
			json_object *v = jpath(reports[i], fields[k].path);
			fmt_value(buf, sizeof buf, v, fields[k].real);
			fprintf(fc, ",%s", buf);
			json_object_object_add(row, fields[k].col, !v ? NULL : fields[k].real ?
				json_object_new_double(json_object_get_double(v)) :
				json_object_new_int64(json_object_get_int64(v)));
		}
		fputc(',', fc);
		csv_field(fc, j->row);
		fputc('\n', fc);
		json_object_object_add(row, "report", json_object_new_string(j->row));
		json_object *cmd = json_object_new_array();
		for (unsigned a = 0; a < j->argc; a++)
			json_object_array_add(cmd, json_object_new_string(j->argv[a]));
		json_object_object_add(row, "command", cmd);
		json_object_array_add(rows, row);
	}
	json_object_object_add(root, "rows", rows);
	json_object_object_add(root, "rows_missing", json_object_new_int((int)missing));
	bool ok = close_rename(fc, tcsv, csv);
	FILE *fj = ok ? open_tmp(js, tjs, sizeof tjs) : NULL;
	if (fj) {
		fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), fj);
		fputc('\n', fj);
		ok = close_rename(fj, tjs, js);
	} else {
		ok = false;
	}
	json_object_put(root);
	free(csv);
	free(js);
	return ok;
}

/* ------------------------------------------------------------------ plots -------------- */

/* Entries of a TLB geometry value (ENTRIESxWAYS or ENTRIES,full), 0 when it is not one. */
static unsigned long geometry_entries(const char *v)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return 0;
	unsigned long e = strtoul(v, &end, 10);
	if ((*end == 'x' || *end == 'X') && isdigit((unsigned char)end[1]))
		return e;
	if (!strcasecmp(end, ",full"))
		return e;
	return 0;
}

/* The first set.{itlb,dtlb,stlb}.SIZES axis whose values are all geometries, or -1. */
static int tlb_size_axis(const struct spec *s, int *level)
{
	static const char *const lv[3] = { "itlb.", "dtlb.", "stlb." };
	for (unsigned i = 0; i < s->naxes; i++) {
		const struct axis *a = &s->axes[i];
		if (a->kind != AX_SET)
			continue;
		for (int l = 0; l < 3; l++) {
			if (strncmp(a->param, lv[l], 5) || strchr(a->param + 5, '.'))
				continue;
			bool all = true;
			for (unsigned v = 0; v < a->nvals; v++)
				all = all && geometry_entries(a->vals[v]) > 0;
			if (all && a->nvals >= 2) {
				*level = l;
				return (int)i;
			}
		}
	}
	return -1;
}

static void gp_terminals(FILE *f, const char *stem, const char *plotcmd_file, unsigned w, unsigned h)
{
	fprintf(f, "set terminal svg size %u,%u dynamic font 'sans,11' background rgb 'white'\n", w, h);
	fprintf(f, "set output '%s.svg'\nload '%s'\nunset output\n", stem, plotcmd_file);
	fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size %u,%u font 'sans,10' background rgb 'white'\n"
		   "} else {\n  set terminal png size %u,%u\n}\n", w, h, w, h);
	fprintf(f, "set output '%s.png'\nload '%s'\nunset output\n", stem, plotcmd_file);
}

static int run_gnuplot(const char *dir, const char *script)
{
	char err[512];
	if (plot_run_gnuplot(dir, script, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", sw_name, err);
		return 1;
	}
	return 0;
}

/* Draws translation overhead by configuration (clustered bars, one per guest) and, when an axis
 * varies a TLB's size, that level's miss rate against its entries (one line per guest and
 * combination of the other axes). Returns 0 or 1. */
static int write_plots(const struct spec *s, const char *dir, struct job *jobs, unsigned njobs, json_object **reports)
{
	if (plot_mkdirs(dir) != 0) {
		fprintf(stderr, "%s: --plot %s: %s\n", sw_name, dir, strerror(errno));
		return 1;
	}
	unsigned nc = ncfgs(s), ng = s->nguests;
	unsigned timed_rows = 0;
	for (unsigned i = 0; i < njobs; i++)
		timed_rows += reports[i] && jpath(reports[i], "timing.cycles.total") != NULL;
	if (timed_rows == 0) {
		fprintf(stderr, "%s: --plot: no row has timing data (model functional or hooks-only): nothing to draw\n", sw_name);
		return 1;
	}
	char *p = xasprintf("%s/overhead.dat", dir);
	FILE *f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		return 1;
	}
	fprintf(f, "# translation cycles as %% of all cycles; one row per configuration, one column per guest\n# config");
	for (unsigned g = 0; g < ng; g++)
		fprintf(f, "\t%s", s->guests[g].name);
	fputc('\n', f);
	for (unsigned c = 0; c < nc; c++) {
		fprintf(f, "%s", jobs[c * ng].label);
		for (unsigned g = 0; g < ng; g++) {
			json_object *v = reports[c * ng + g] ? jpath(reports[c * ng + g], "timing.cycles.translation_share") : NULL;
			if (v)
				fprintf(f, "\t%.6f", 100.0 * json_object_get_double(v));
			else
				fprintf(f, "\tNaN");
		}
		fputc('\n', f);
	}
	fclose(f);
	free(p);
	p = xasprintf("%s/overhead-plot.gp", dir);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		return 1;
	}
	fprintf(f, "# the plot commands of overhead.{svg,png}; overhead.gp sets the terminals\n"
		   "set datafile separator '\\t'\nset datafile missing 'NaN'\n"
		   "set title ");
	char *t = xasprintf("%s: translation overhead by configuration", s->name);
	plot_gp_quote(f, t);
	free(t);
	fprintf(f, " noenhanced\nset style data histograms\nset style histogram clustered gap 1\n"
		   "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset grid ytics\n"
		   "set yrange [0:*]\nset ylabel 'translation cycles (%% of all cycles)'\n"
		   "set xtics rotate by -40 scale 0 noenhanced font ',9'\nset key outside right top noenhanced\n"
		   "set bmargin 7\nplot ");
	for (unsigned g = 0; g < ng; g++) {
		fprintf(f, "%s'overhead.dat' using %u%s title ", g ? ", " : "", g + 2, g ? "" : ":xtic(1)");
		plot_gp_quote(f, s->guests[g].name);
	}
	fputc('\n', f);
	fclose(f);
	free(p);
	unsigned width = 640 + nc * ng * 12;
	if (width > 2400)
		width = 2400;
	p = xasprintf("%s/overhead.gp", dir);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		return 1;
	}
	gp_terminals(f, "overhead", "overhead-plot.gp", width, 560);
	fclose(f);
	free(p);
	int rc = run_gnuplot(dir, "overhead.gp");
	if (rc)
		return rc;

	int level;
	int ax = tlb_size_axis(s, &level);
	if (ax < 0)
		return 0;
	static const char *const lvname[3] = { "ITLB", "DTLB", "STLB" };
	static const char *const lvpath[3] = { "timing.tlb.ITLB.miss_rate", "timing.tlb.DTLB.miss_rate", "timing.tlb.STLB.miss_rate" };
	const struct axis *a = &s->axes[ax];
	/* Series: guest × configurations of the other axes (c with axis ax at value 0). */
	p = xasprintf("%s/missrate.dat", dir);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		return 1;
	}
	fprintf(f, "# %s miss rate (%%) against %s entries; one block per series\n", lvname[level], a->key);
	unsigned stride = 1;
	for (unsigned k = (unsigned)ax + 1; k < s->naxes; k++)
		stride *= s->axes[k].nvals;
	char **titles = calloc((size_t)nc * ng, sizeof *titles);
	unsigned nser = 0;
	for (unsigned g = 0; g < ng; g++) {
		for (unsigned c = 0; c < nc; c++) {
			if (cfg_value(s, c, (unsigned)ax) != 0)
				continue;
			char other[512] = "";
			for (unsigned k = 0; k < s->naxes; k++) {
				if (k == (unsigned)ax)
					continue;
				size_t l = strlen(other);
				snprintf(other + l, sizeof other - l, " %s", s->axes[k].vals[cfg_value(s, c, k)]);
			}
			titles[nser] = xasprintf("%s%s", s->guests[g].name, other);
			fprintf(f, "# %s\n", titles[nser]);
			for (unsigned v = 0; v < a->nvals; v++) {
				unsigned cc = c + v * stride;
				json_object *r = reports[cc * ng + g];
				json_object *m = r ? jpath(r, lvpath[level]) : NULL;
				fprintf(f, "%lu\t", geometry_entries(a->vals[v]));
				if (m)
					fprintf(f, "%.6f\n", 100.0 * json_object_get_double(m));
				else
					fprintf(f, "NaN\n");
			}
			fprintf(f, "\n\n");
			nser++;
		}
	}
	fclose(f);
	free(p);
	p = xasprintf("%s/missrate-plot.gp", dir);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		for (unsigned i = 0; i < nser; i++)
			free(titles[i]);
		free(titles);
		return 1;
	}
	fprintf(f, "# the plot commands of missrate.{svg,png}; missrate.gp sets the terminals\n"
		   "set datafile separator '\\t'\nset datafile missing 'NaN'\nset title ");
	t = xasprintf("%s: %s miss rate against %s entries", s->name, lvname[level], a->key);
	plot_gp_quote(f, t);
	free(t);
	fprintf(f, " noenhanced\nset logscale x 2\nset grid\nset yrange [0:*]\nset xlabel ");
	t = xasprintf("%s entries", a->key);
	plot_gp_quote(f, t);
	free(t);
	fprintf(f, " noenhanced\nset ylabel '%s miss rate (%%)'\nset key outside right top noenhanced\nplot ", lvname[level]);
	for (unsigned i = 0; i < nser; i++) {
		fprintf(f, "%s'missrate.dat' index %u using 1:2 with linespoints pt 7 title ", i ? ", \\\n     " : "", i);
		plot_gp_quote(f, titles[i]);
		free(titles[i]);
	}
	free(titles);
	fputc('\n', f);
	fclose(f);
	free(p);
	p = xasprintf("%s/missrate.gp", dir);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", sw_name, p, strerror(errno));
		free(p);
		return 1;
	}
	gp_terminals(f, "missrate", "missrate-plot.gp", 900, 520);
	fclose(f);
	free(p);
	return run_gnuplot(dir, "missrate.gp");
}

/* ------------------------------------------------------------------ the command -------- */

static void sweep_usage(FILE *out)
{
	fprintf(out,
"Usage: mmuemu sweep [OPTIONS] SPEC\n"
"\n"
"Runs a grid of paging configurations (the [grid] of the INI file SPEC) over its guest command\n"
"lines ([guests]), one `mmuemu run` per point and guest, and writes one row per run to\n"
"OUTPUT/results.csv and OUTPUT/results.json. Rows already present are not run again, so an\n"
"interrupted sweep resumes where it stopped. docs/sweep.md describes the spec.\n"
"\n"
"  -j, --jobs N          run N jobs at a time (default: the number of online CPUs)\n"
"  -o, --output DIR      output directory (default: the spec's 'output', else SPEC's name + .sweep)\n"
"  --guests-dir DIR      resolve relative guest programs against DIR (overrides 'guests_dir')\n"
"  --emit-jobs           print every job's command line (shell-quoted, one per line) and exit;\n"
"                        run them anywhere (GNU parallel, a Slurm array), then --collect\n"
"  --pending             with --emit-jobs: only the jobs whose row is missing\n"
"  --collect             run nothing: tabulate the rows that exist (exit 1 if some are missing)\n"
"  --plot DIR            draw the results with gnuplot into DIR (SVG and PNG)\n"
"  --mmuemu PATH         the mmuemu binary the jobs run (default: this one)\n"
"  -q, --quiet           no progress output\n"
"  -h, --help            this help\n"
"\n"
"Exit status: 0 when every row exists; 1 when a job failed or rows are missing; 2 for a bad\n"
"command line or spec; 128+N when stopped by signal N (finished rows are kept).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", sw_name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'mmuemu sweep --help'.\n");
	return 2;
}

enum { OPT_GUESTS_DIR = 300, OPT_EMIT, OPT_PENDING, OPT_COLLECT, OPT_PLOT, OPT_MMUEMU };

int sweep_main(int argc, char **argv, struct config_registry *reg)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "guests-dir", required_argument, NULL, OPT_GUESTS_DIR },
		{ "emit-jobs", no_argument, NULL, OPT_EMIT },
		{ "pending", no_argument, NULL, OPT_PENDING },
		{ "collect", no_argument, NULL, OPT_COLLECT },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "mmuemu", required_argument, NULL, OPT_MMUEMU },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long jobs_par = sysconf(_SC_NPROCESSORS_ONLN);
	const char *output = NULL, *guests_dir = NULL, *plot = NULL, *mmuemu = NULL;
	bool emit = false, pending = false, collect = false, quiet = false;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:j:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			char *end;
			errno = 0;
			jobs_par = strtol(optarg, &end, 10);
			if (errno || *end || jobs_par < 1 || jobs_par > 1024)
				return usage_error("-j: invalid job count '%s' (1..1024)", optarg);
			break;
		}
		case 'o': output = optarg; break;
		case OPT_GUESTS_DIR: guests_dir = optarg; break;
		case OPT_EMIT: emit = true; break;
		case OPT_PENDING: pending = true; break;
		case OPT_COLLECT: collect = true; break;
		case OPT_PLOT: plot = optarg; break;
		case OPT_MMUEMU: mmuemu = optarg; break;
		case 'q': quiet = true; break;
		case 'h': sweep_usage(stdout); return 0;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (jobs_par < 1)
		jobs_par = 1;
	if (optind != argc - 1)
		return usage_error("%s", optind >= argc ? "no spec file given (usage: mmuemu sweep [OPTIONS] SPEC)" :
			"exactly one spec file expected");
	if (pending && !emit)
		return usage_error("%s", "--pending goes with --emit-jobs");
	if (emit && (collect || plot))
		return usage_error("%s", "--emit-jobs runs nothing: no --collect or --plot with it");

	char self[PATH_MAX];
	if (mmuemu) {
		if (access(mmuemu, X_OK) != 0)
			return usage_error("--mmuemu: '%s' is not an executable", mmuemu);
		char *abs = absolute(mmuemu);
		snprintf(self, sizeof self, "%s", abs);
		free(abs);
	} else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0) {
			fprintf(stderr, "%s: cannot find my own binary (/proc/self/exe): %s\n", sw_name, strerror(errno));
			return 1;
		}
		self[n] = 0;
	}
	exe_path = self;

	struct spec *s = calloc(1, sizeof *s);
	if (!s) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		return 1;
	}
	if (!spec_load(s, argv[optind], output, guests_dir) || !spec_check(s, reg)) {
		spec_free(s);
		return 2;
	}
	unsigned nc = ncfgs(s), nj = nc * s->nguests;
	struct job *jobs = calloc(nj, sizeof *jobs);
	json_object **reports = calloc(nj, sizeof *reports);
	if (!jobs || !reports) {
		fprintf(stderr, "%s: out of memory\n", sw_name);
		exit(1);
	}
	for (unsigned cfg = 0; cfg < nc; cfg++)
		for (unsigned g = 0; g < s->nguests; g++)
			job_build(s, self, &jobs[cfg * s->nguests + g], cfg, g);
	int status = 0;
	char *runs = xasprintf("%s/runs", s->output);
	if (plot_mkdirs(runs) != 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", sw_name, runs, strerror(errno));
		free(runs);
		status = 1;
		goto out;
	}
	free(runs);
	if (!collect && !preflight(s, jobs, self)) {
		status = 2;
		goto out;
	}
	unsigned ndone = 0;
	struct runner r;
	memset(&r, 0, sizeof r);
	for (unsigned i = 0; i < nj; i++) {
		jobs[i].done = row_valid(jobs[i].row);
		ndone += jobs[i].done;
	}

	if (emit) {
		for (unsigned i = 0; i < nj; i++) {
			if (pending && jobs[i].done)
				continue;
			for (unsigned a = 0; a < jobs[i].argc; a++) {
				if (a)
					putchar(' ');
				shell_quote(stdout, jobs[i].argv[a]);
			}
			putchar('\n');
		}
		fflush(stdout);
		goto out;
	}

	r.jobs = jobs;
	r.njobs = nj;
	r.jobs_par = (unsigned)jobs_par;
	r.todo = nj - ndone;
	r.tty = !quiet && isatty(2);
	r.quiet = quiet;
	double t0 = now_seconds();
	if (!collect && r.todo) {
		if (!quiet)
			fprintf(stderr, "[sweep] %s: %u jobs (%u configurations x %u guests), %u done before, %u to run, -j %u\n",
				s->name, nj, nc, s->nguests, ndone, r.todo, r.jobs_par);
		int sig = run_jobs(&r);
		if (sig) {
			unsigned have = 0;
			for (unsigned i = 0; i < nj; i++)
				have += row_valid(jobs[i].row);
			fprintf(stderr, "%s: stopped by signal %d: %u of %u rows done; run the same command again to resume\n",
				sw_name, sig, have, nj);
			status = 128 + sig;
			goto out;
		}
	}
	unsigned nrows = 0;
	if (!write_tables(s, jobs, nj, reports, &nrows)) {
		status = 1;
		goto out;
	}
	if (!quiet || nrows < nj)
		fprintf(stderr, "[sweep] %s: %u of %u rows (%u run now, %u reused, %u failed) in %.1f s -> %s/results.csv, results.json\n",
			s->name, nrows, nj, collect ? 0 : r.finished - r.failed, ndone, r.failed, now_seconds() - t0, s->output);
	if (nrows < nj) {
		if (collect)
			fprintf(stderr, "%s: %u rows missing (run the sweep, or its --emit-jobs lines, to make them)\n", sw_name, nj - nrows);
		status = 1;
	}
	if (plot && nrows > 0) {
		char *pd = absolute(plot);
		if (write_plots(s, pd, jobs, nj, reports) != 0)
			status = 1;
		else if (!quiet)
			fprintf(stderr, "[sweep] plots in %s\n", pd);
		free(pd);
	}
out:
	for (unsigned i = 0; i < nj; i++) {
		if (reports[i])
			json_object_put(reports[i]);
		job_free(&jobs[i]);
	}
	free(reports);
	free(jobs);
	spec_free(s);
	return status;
}
