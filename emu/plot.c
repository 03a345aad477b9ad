/* plot.c — `--mrc`, `--mrc-csv` and `--plot DIR` of `mmuemu run` (see plot.h).
 *
 * The gnuplot driver writes each drawing as NAME.dat (the numbers), NAME.gp (a script that draws
 * NAME.svg with the svg terminal and NAME.png with pngcairo, or png when gnuplot lacks cairo)
 * and runs `gnuplot NAME.gp` in DIR, then checks that both pictures exist and look like what
 * they claim to be (an SVG with path elements, a PNG signature).
 */
#include "plot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAULT_SAMPLES 2048
#define MIN_SVG_BYTES 400
#define MIN_PNG_BYTES 1000
#define WALK_BUCKETS 16

static const char *const size_names[TLB_NSIZES] = { "4K", "2M", "1G" };

struct runplot {
	struct runplot_cli cli;
	struct mrc *mrc;
};

/* ---- options ------------------------------------------------------------------------------ */

bool runplot_cli_option(struct runplot_cli *c, int opt, const char *arg, char *err, size_t errlen)
{
	switch (opt - RUNPLOT_OPT_BASE) {
	case RUNPLOT_OPT_MRC:
		c->mrc = true;
		return true;
	case RUNPLOT_OPT_MRC_MAX: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(arg, &end, 0);
		if (!*arg || *arg == '-' || *end || errno || v < 1 || v > MRC_MAX_LIMIT) {
			snprintf(err, errlen, "--mrc-max: invalid size '%s' (1..%u entries)", arg, MRC_MAX_LIMIT);
			return false;
		}
		c->mrc_max = (unsigned)v;
		return true;
	}
	case RUNPLOT_OPT_MRC_CSV:
		if (!*arg) {
			snprintf(err, errlen, "--mrc-csv: empty file name");
			return false;
		}
		c->csv = arg;
		return true;
	case RUNPLOT_OPT_PLOT:
		if (!*arg) {
			snprintf(err, errlen, "--plot: empty directory name");
			return false;
		}
		c->plot_dir = arg;
		return true;
	}
	snprintf(err, errlen, "unknown option");
	return false;
}

int plot_mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char ch = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -1;
		buf[i] = ch;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[4096];
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(buf, X_OK) == 0)
			return true;
		path += n + (colon ? 1 : 0);
	}
	return false;
}

bool runplot_cli_check(struct runplot_cli *c, bool functional, bool count_insns, char *err, size_t errlen)
{
	if (c->plot_dir && !count_insns) {
		snprintf(err, errlen, "--plot draws faults against instructions; it needs instruction counting (drop --no-icount)");
		return false;
	}
	if (functional && (c->mrc || c->csv)) {
		snprintf(err, errlen, "--mrc and --mrc-csv need the timing model; they make no sense with --model functional");
		return false;
	}
	if (c->csv && !c->mrc && !c->plot_dir)
		c->mrc = true;   /* --mrc-csv alone asks for the curve */
	if (c->plot_dir && !functional)
		c->mrc = true;
	if (c->plot_dir) {
		if (plot_mkdirs(c->plot_dir) != 0) {
			snprintf(err, errlen, "--plot %s: cannot create the directory: %s", c->plot_dir, strerror(errno));
			return false;
		}
		if (access(c->plot_dir, W_OK | X_OK) != 0) {
			snprintf(err, errlen, "--plot %s: directory not writable: %s", c->plot_dir, strerror(errno));
			return false;
		}
		if (!on_path("gnuplot")) {
			snprintf(err, errlen, "--plot: gnuplot not found in PATH (Debian: apt-get install gnuplot-nox)");
			return false;
		}
	}
	return true;
}

/* ---- collection --------------------------------------------------------------------------- */

struct runplot *runplot_start(struct engine *e, const struct runplot_cli *c, const struct mmu_config *cpu, char *err,
			      size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!c->mrc && !c->plot_dir)
		return NULL;
	struct runplot *rp = calloc(1, sizeof(*rp));
	if (!rp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rp->cli = *c;
	if (c->mrc && cpu) {
		const struct paging_format *f = km_format(e->g.km);
		rp->mrc = mrc_new(c->mrc_max, MMU_DTLB, f->shift[1], err, errlen);
		if (!rp->mrc) {
			free(rp);
			return NULL;
		}
		/* The configured size of the DTLB array holding each page size (the L1 that answers
		 * data accesses, also fetches under l1_unified). */
		const struct tlb_level_config *lv = &cpu->dtlb;
		for (unsigned i = 0; i < lv->narrays; i++)
			for (int s = 0; s < TLB_NSIZES; s++)
				if (lv->arrays[i].entries && (lv->arrays[i].sizes & TLB_SIZE_BIT(s)) &&
				    !mrc_configured(rp->mrc, (enum tlb_size)s))
					mrc_set_configured(rp->mrc, (enum tlb_size)s, lv->arrays[i].entries);
		struct mmu_observer o = mrc_observer(rp->mrc);
		if (engine_add_observer(e, &o) != 0) {
			snprintf(err, errlen, "--mrc: cannot attach to the timing model (too many observers)");
			runplot_free(rp);
			return NULL;
		}
	}
	if (c->plot_dir && engine_sample_faults(e, FAULT_SAMPLES) != 0) {
		snprintf(err, errlen, "out of memory");
		runplot_free(rp);
		return NULL;
	}
	return rp;
}

const struct mrc *runplot_mrc(const struct runplot *rp) { return rp ? rp->mrc : NULL; }

void runplot_free(struct runplot *rp)
{
	if (!rp)
		return;
	mrc_free(rp->mrc);
	free(rp);
}

/* ---- output ------------------------------------------------------------------------------- */

static int write_csv(const struct mrc *m, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "--mrc-csv %s: %s", path, strerror(errno));
		return -1;
	}
	unsigned max = mrc_max(m);
	uint64_t *curve = malloc(((size_t)max + 1) * sizeof(*curve));
	if (!curve) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(f, "page_size,entries,misses,miss_rate\n");
	for (int s = 0; s < TLB_NSIZES; s++) {
		if (!mrc_refs(m, (enum tlb_size)s))
			continue;
		mrc_curve(m, (enum tlb_size)s, curve);
		for (unsigned n = 1; n <= max; n++)
			fprintf(f, "%s,%u,%" PRIu64 ",%.9g\n", size_names[s], n, curve[n],
				(double)curve[n] / (double)curve[0]);
	}
	free(curve);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		snprintf(err, errlen, "--mrc-csv %s: write failed", path);
		return -1;
	}
	return 0;
}

static FILE *open_in(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		snprintf(err, errlen, "--plot: %s: %s", path, strerror(errno));
	return f;
}

static int close_checked(FILE *f, const char *dir, const char *name, char *err, size_t errlen)
{
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		snprintf(err, errlen, "--plot: writing %s/%s failed", dir, name);
		return -1;
	}
	return 0;
}

void plot_gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* The terminal preamble and epilogue of every script: draw once as SVG, replot as PNG. */
static void gp_begin(FILE *f, const char *stem, const char *title)
{
	fprintf(f, "# Written by mmuemu run --plot; redraw with: gnuplot %s.gp (in this directory)\n", stem);
	fprintf(f, "set terminal svg size 900,540 dynamic enhanced font 'sans,12' background rgb 'white'\n");
	fprintf(f, "set output '%s.svg'\n", stem);
	fprintf(f, "set title ");
	plot_gp_quote(f, title);
	fprintf(f, " noenhanced\nset grid\n");
}

static void gp_end(FILE *f, const char *stem)
{
	fprintf(f, "unset output\n");
	fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size 900,540 enhanced font 'sans,10' background rgb 'white'\n"
		   "} else {\n"
		   "  set terminal png size 900,540 background rgb 'white'\n"
		   "}\n");
	fprintf(f, "set output '%s.png'\nreplot\nunset output\n", stem);
}

int plot_run_gnuplot(const char *dir, const char *script, char *err, size_t errlen)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "--plot: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "--plot: waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		snprintf(err, errlen, "--plot: gnuplot not found (Debian: apt-get install gnuplot-nox); the data and scripts are in %s",
			 dir);
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "--plot: 'gnuplot %s' in %s failed (status %d)", script, dir,
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -1;
	}
	return 0;
}

/* The pictures gnuplot drew are there and plausible. */
static int check_outputs(const char *dir, const char *stem, char *err, size_t errlen)
{
	static const char png_sig[8] = { (char)0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	char path[4096];
	for (int png = 0; png < 2; png++) {
		snprintf(path, sizeof(path), "%s/%s.%s", dir, stem, png ? "png" : "svg");
		FILE *f = fopen(path, "rb");
		if (!f) {
			snprintf(err, errlen, "--plot: gnuplot did not write %s", path);
			return -1;
		}
		char buf[8192];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		fclose(f);
		buf[n] = '\0';
		bool ok = png ? n >= 8 && !memcmp(buf, png_sig, 8) && size >= MIN_PNG_BYTES
			      : size >= MIN_SVG_BYTES && strstr(buf, "<svg");
		if (!ok) {
			snprintf(err, errlen, "--plot: %s is not a plausible %s (%ld bytes)", path, png ? "PNG" : "SVG", size);
			return -1;
		}
	}
	return 0;
}

static int plot_mrc(const struct mrc *m, const char *dir, const char *title, char *err, size_t errlen)
{
	FILE *f = open_in(dir, "mrc.dat", err, errlen);
	if (!f)
		return -1;
	unsigned max = mrc_max(m);
	uint64_t *curve = malloc(((size_t)max + 1) * sizeof(*curve));
	if (!curve) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int sizes[TLB_NSIZES], nsz = 0;
	fprintf(f, "# DTLB miss rate of a fully associative LRU TLB of N entries (mmuemu run --mrc)\n");
	for (int s = 0; s < TLB_NSIZES; s++) {
		if (!mrc_refs(m, (enum tlb_size)s))
			continue;
		mrc_curve(m, (enum tlb_size)s, curve);
		if (nsz)
			fprintf(f, "\n\n");
		fprintf(f, "# index %d: %s pages, %" PRIu64 " lookups\n# entries misses miss_rate_percent\n", nsz,
			size_names[s], curve[0]);
		for (unsigned n = 1; n <= max; n++)
			fprintf(f, "%u %" PRIu64 " %.6f\n", n, curve[n], 100.0 * (double)curve[n] / (double)curve[0]);
		sizes[nsz++] = s;
	}
	free(curve);
	if (close_checked(f, dir, "mrc.dat", err, errlen))
		return -1;
	f = open_in(dir, "mrc.gp", err, errlen);
	if (!f)
		return -1;
	char t[600];
	snprintf(t, sizeof(t), "DTLB miss rate vs. entries (fully associative LRU): %s", title);
	gp_begin(f, "mrc", t);
	fprintf(f, "set logscale x 2\nset xrange [1:%u]\nset yrange [0:*]\n", max);
	fprintf(f, "set xlabel 'TLB entries'\nset ylabel 'miss rate (%%)'\nset key top right\n");
	/* The configured sizes, as arrows at the bottom. */
	for (int i = 0; i < nsz; i++) {
		unsigned conf = mrc_configured(m, (enum tlb_size)sizes[i]);
		if (conf && conf <= max)
			fprintf(f, "set arrow from %u, graph 0 to %u, graph 1 nohead dashtype 2 lc %d\n"
				   "set label 'configured %s: %u' at %u, graph 0.95 offset 0.5,-%d font ',9'\n",
				conf, conf, i + 1, size_names[sizes[i]], conf, conf, 1 + i);
	}
	if (!nsz)
		fprintf(f, "set label 'no DTLB lookups' at graph 0.4, graph 0.5\nplot NaN notitle\n");
	else {
		fprintf(f, "plot ");
		for (int i = 0; i < nsz; i++)
			fprintf(f, "%s'mrc.dat' index %d using 1:3 with lines lw 2 lc %d title '%s pages'", i ? ", \\\n     " : "",
				i, i + 1, size_names[sizes[i]]);
		fprintf(f, "\n");
	}
	gp_end(f, "mrc");
	if (close_checked(f, dir, "mrc.gp", err, errlen))
		return -1;
	if (plot_run_gnuplot(dir, "mrc.gp", err, errlen))
		return -1;
	return check_outputs(dir, "mrc", err, errlen);
}

static int plot_walks(const struct engine *e, const char *dir, const char *title, char *err, size_t errlen)
{
	const struct mmu_timing_stats *st = mmu_timing_stats(e->timing);
	FILE *f = open_in(dir, "walk_latency.dat", err, errlen);
	if (!f)
		return -1;
	fprintf(f, "# page walks by walk cycles, log2 buckets (report: timing.walks.cycles_log2_histogram)\n"
		   "# bucket low_cycles high_cycles walks label\n");
	int last = 0;
	for (int i = 0; i < WALK_BUCKETS; i++)
		if (st->walk_hist[i])
			last = i;
	for (int i = 0; i <= last || i < 8; i++) {
		unsigned lo = i ? 1u << i : 0, hi = 1u << (i + 1);
		if (i == WALK_BUCKETS - 1)
			fprintf(f, "%d %u inf %" PRIu64 " \">=%u\"\n", i, lo, st->walk_hist[i], lo);
		else
			fprintf(f, "%d %u %u %" PRIu64 " \"%u-%u\"\n", i, lo, hi - 1, st->walk_hist[i], lo, hi - 1);
		if (i == WALK_BUCKETS - 1)
			break;
	}
	if (close_checked(f, dir, "walk_latency.dat", err, errlen))
		return -1;
	f = open_in(dir, "walk_latency.gp", err, errlen);
	if (!f)
		return -1;
	char t[600];
	snprintf(t, sizeof(t), "Page-walk latency (%" PRIu64 " walks, mean %.1f cycles): %s", st->walks,
		 st->walks ? (double)st->walk_cycles / (double)st->walks : 0.0, title);
	gp_begin(f, "walk_latency", t);
	uint64_t top = 0;
	for (int i = 0; i < WALK_BUCKETS; i++)
		if (st->walk_hist[i] > top)
			top = st->walk_hist[i];
	fprintf(f, "set style fill solid 0.7 border -1\nset boxwidth 0.8\nset yrange [0:%.0f]\n"
		   "set xlabel 'walk cycles'\nset ylabel 'page walks'\nset xtics rotate by -30 font ',9'\n"
		   "set format y '%s'\nunset key\n"
		   "plot 'walk_latency.dat' using 1:4:xtic(5) with boxes lc rgb '#4477aa', \\\n"
		   "     '' using 1:4:(($4 > 0) ? sprintf('%%d', $4) : '') with labels offset 0,0.7 font ',9'\n",
		   top ? (double)top * 1.12 : 1.0, top >= 100000 ? "%.1s%c" : "%.0f");
	gp_end(f, "walk_latency");
	if (close_checked(f, dir, "walk_latency.gp", err, errlen))
		return -1;
	if (plot_run_gnuplot(dir, "walk_latency.gp", err, errlen))
		return -1;
	return check_outputs(dir, "walk_latency", err, errlen);
}

static int plot_faults(const struct engine *e, const char *dir, const char *title, char *err, size_t errlen)
{
	FILE *f = open_in(dir, "faults.dat", err, errlen);
	if (!f)
		return -1;
	fprintf(f, "# cumulative page faults and frames in use against guest instructions\n"
		   "# instructions faults frames\n");
	for (size_t i = 0; i < e->ts_n; i++)
		fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", e->ts[i].insns, e->ts[i].faults, e->ts[i].frames);
	if (close_checked(f, dir, "faults.dat", err, errlen))
		return -1;
	f = open_in(dir, "faults.gp", err, errlen);
	if (!f)
		return -1;
	char t[600];
	snprintf(t, sizeof(t), "Page faults over time: %s", title);
	gp_begin(f, "faults", t);
	fprintf(f, "set xlabel 'instructions'\nset ylabel 'page faults (cumulative)'\n"
		   "set y2label 'frames in use (MiB)'\nset ytics nomirror\nset y2tics\n"
		   "set format x '%%.0s%%c'\nset yrange [0:*]\nset y2range [0:*]\nset key top left\n");
	if (e->ts_n < 2)
		fprintf(f, "set xrange [0:1]\n");
	fprintf(f, "plot 'faults.dat' using 1:2 with lines lw 2 lc rgb '#cc3311' title 'page faults', \\\n"
		   "     'faults.dat' using 1:($3*4096/1048576.0) axes x1y2 with lines lw 1 dt 2 lc rgb '#0077bb' title 'frames in use'\n");
	gp_end(f, "faults");
	if (close_checked(f, dir, "faults.gp", err, errlen))
		return -1;
	if (plot_run_gnuplot(dir, "faults.gp", err, errlen))
		return -1;
	return check_outputs(dir, "faults", err, errlen);
}

int runplot_finish(struct runplot *rp, const struct engine *e, const char *title, char *err, size_t errlen)
{
	if (!rp)
		return 0;
	if (rp->mrc) {
		const char *why = mrc_check(rp->mrc);
		if (why) {
			snprintf(err, errlen, "--mrc: %s", why);
			return -1;
		}
	}
	if (rp->cli.csv && rp->mrc && write_csv(rp->mrc, rp->cli.csv, err, errlen))
		return -1;
	const char *dir = rp->cli.plot_dir;
	if (!dir)
		return 0;
	const char *base = strrchr(title, '/');
	base = base ? base + 1 : title;
	if (rp->mrc && plot_mrc(rp->mrc, dir, base, err, errlen))
		return -1;
	if (e->timing && plot_walks(e, dir, base, err, errlen))
		return -1;
	return plot_faults(e, dir, base, err, errlen);
}
