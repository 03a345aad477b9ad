/* main.c — the mmuemu command line.
 *
 *   mmuemu run [options] -- PROGRAM [ARGS...]   run a static i386/x86-64 Linux program
 *   mmuemu --help | --version
 *
 * Exit status: the guest's own (128 + signal when it was killed, 137 for the OOM killer);
 * 2 for a usage error or a program mmuemu cannot load; 1 for an emulator failure.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "engine.h"
#include "elf.h"
#include "loader.h"
#include "report.h"
#include "config.h"
#include "sweep.h"
#include "trace.h"
#include "trace_read.h"
#include "plot.h"

#ifndef MMUEMU_VERSION
#define MMUEMU_VERSION "unknown"
#endif

extern char **environ;

static const char *prog_name = "mmuemu";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: mmuemu run [OPTIONS] -- PROGRAM [ARGS...]\n"
"       mmuemu cpus [--cpu-file FILE] [NAME]   list CPU presets (or show one in detail)\n"
"       mmuemu sweep [OPTIONS] SPEC           run a grid of configurations over guests\n"
"                                             ('mmuemu sweep --help', docs/sweep.md)\n"
"       mmuemu trace dump|stats|top [OPTIONS] FILE   read a trace ('mmuemu trace --help')\n"
"       mmuemu --help | --version\n"
"\n"
"Runs a static i386 or x86-64 Linux program (ET_EXEC or static-PIE) on Unicorn, with mmuemu's\n"
"MMU model and Linux-like kernel memory manager as the only path to guest memory, and prints a\n"
"report of what address translation and the memory manager did.\n"
"\n"
"Machine:\n"
"  --paging MODE         page-table format: 2level (i386 default, 4 KiB/4 MiB pages),\n"
"                        pae (i386), 4level (x86-64 default), 5level (x86-64, LA57)\n"
"  --mem SIZE            modelled RAM, e.g. 512M, 4G (default: i386 2G, x86-64 4G)\n"
"  --lowmem SIZE         i386 lowmem/highmem boundary (default 0x377fe000, ~887 MiB)\n"
"  --movablecore SIZE    put this much of the top of RAM in ZONE_MOVABLE (default 0)\n"
"  --stack-limit SIZE    RLIMIT_STACK of the guest (default 8M)\n"
"  --hugepages KIND      none (default), 2m (PMD-size pages: 2 MiB, 4 MiB under 2level) or 1g:\n"
"                        anonymous private mappings of at least one huge page are aligned and\n"
"                        backed by huge pages (hugetlb-style; docs/kernel-model.md)\n"
"  --hugepages-1g-pool N 1 GiB pages reserved at boot for --hugepages 1g (default 1)\n"
"  --no-zero-page        anonymous read faults allocate a zeroed page instead of mapping the\n"
"                        shared zero page (as kernels with mm_forbids_zeropage do)\n"
"  --highpte             i386: PTE pages may come from HighMem and are kmapped while the\n"
"                        kernel edits them (CONFIG_HIGHPTE)\n"
"  --self-check          check the kernel model's and TLB model's invariants when the guest ends\n"
"                        (an emulator error, exit status 1, if one is broken)\n"
"  --kcost NAME=CYCLES   set one kernel cost (repeatable); names: exception, fault_base,\n"
"                        zero_page, copy_page, page_alloc, page_split, pgtable_alloc,\n"
"                        file_read_page, invlpg, tlb_flush, kmap, fault_around_page,\n"
"                        slab_fast, slab_slow (defaults: docs/kernel-model.md)\n"
"\n"
"Timing model:\n"
"  --model MODEL         timing (default): every access goes through the modelled TLBs, page-walk\n"
"                        caches and walks; functional: faults and kernel work only (fast);\n"
"                        hooks-only: functional plus per-access hooks that do nothing (the\n"
"                        benchmark floor of the timing model)\n"
"  --cpu NAME            CPU preset or a CPU defined with --cpu-file (default skylake;\n"
"                        'mmuemu cpus' lists them)\n"
"  --cpu-file FILE       INI file defining CPUs ([cpu NAME] sections, docs/cpus.md)\n"
"  --set KEY=VALUE       override one parameter of the chosen CPU (repeatable), e.g.\n"
"                        --set stlb.4k2m=2048x16 --set pwc.pde=none --set pt.latency=40\n"
"\n"
"Run:\n"
"  --no-icount           do not count instructions (functional model only; faster)\n"
"  --max-insns N         stop the guest after N instructions\n"
"  --progress            print progress (instructions, MIPS, faults) every 2 s on stderr\n"
"\n"
TRACE_RUN_HELP
RUNPLOT_RUN_HELP
"Report (printed when the guest ends):\n"
"  --report FILE         write the report to FILE instead of stderr\n"
"  --report-format FMT   text (default) or json (schema: docs/report-schema.md)\n"
"  --no-report           do not write a report\n"
"  --proc LIST           after the report, print these /proc files of the kernel model, each\n"
"                        after a line '==> /proc/NAME <==', in Linux 6.12's formats (comma-\n"
"                        separated: buddyinfo, pagetypeinfo, zoneinfo, slabinfo, meminfo; 'all');\n"
"                        they go where the text report goes (stderr unless --report)\n"
"  --proc-dir DIR        write the --proc files (default: all five) as DIR/NAME instead\n"
"\n"
"Other:\n"
"  -h, --help            this help\n"
"  -V, --version         print the version\n"
"\n"
"SIZE accepts a number of bytes with an optional K, M, G or T suffix (powers of 1024;\n"
"KiB/MiB/GiB/TiB also accepted) or a 0x hexadecimal number.\n"
"Exit status: the guest's exit status (128+N when killed by signal N: 139 for SIGSEGV, 137 when\n"
"the OOM killer ends it); 2 when the command line or the program is invalid; 1 on an emulator\n"
"error.\n");
}

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog_name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'mmuemu --help'.\n");
	exit(2);
}

/* Parses SIZE: digits with an optional binary suffix. false on anything else or overflow. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	unsigned shift = 0;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return false;
		}
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib"))
			end += strlen(end);
		if (*end)
			return false;
	}
	if (shift && v > (~0ULL >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* Finds PROGRAM like execvp does when it has no slash. */
static bool resolve_program(const char *prog, char *out, size_t outlen)
{
	if (strchr(prog, '/')) {
		snprintf(out, outlen, "%s", prog);
		return true;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(out, outlen, "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(out, X_OK) == 0)
			return true;
		path += n + (colon ? 1 : 0);
	}
	snprintf(out, outlen, "%s", prog);
	return false;
}

static const char *paging_name(enum paging_mode m)
{
	switch (m) {
	case PAGING_2LEVEL: return "2level";
	case PAGING_PAE: return "pae";
	case PAGING_4LEVEL: return "4level";
	case PAGING_5LEVEL: return "5level";
	}
	return "?";
}

enum {
	OPT_PAGING = 256, OPT_MEM, OPT_LOWMEM, OPT_MOVABLECORE, OPT_STACK_LIMIT, OPT_NO_ICOUNT,
	OPT_MAX_INSNS, OPT_PROGRESS, OPT_REPORT, OPT_REPORT_FORMAT, OPT_NO_REPORT,
	OPT_MODEL, OPT_CPU, OPT_CPU_FILE, OPT_SET, OPT_HUGEPAGES, OPT_HUGEPAGES_POOL, OPT_HIGHPTE, OPT_KCOST, OPT_SELF_CHECK, OPT_NO_ZERO_PAGE,
};

#define MAX_OVERRIDES 64

enum { OPT_PROC = 0x4000, OPT_PROC_DIR };

/* Checks a --proc list: names of kernel-model /proc files, comma-separated, or "all". */
static void check_proc_list(const char *list)
{
	char buf[256];
	if (!*list || strlen(list) >= sizeof(buf))
		die_usage("--proc: invalid list '%s' (e.g. buddyinfo,meminfo or all)", list);
	if (!strcmp(list, "all"))
		return;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!km_proc_known(t))
			die_usage("--proc: unknown /proc file '%s' (use buddyinfo, pagetypeinfo, zoneinfo, "
				  "slabinfo, meminfo or all)", t);
	if (strstr(list, ",,") || list[0] == ',' || list[strlen(list) - 1] == ',')
		die_usage("--proc: empty name in '%s'", list);
}

/* Prints the --proc files to out (each after "==> /proc/NAME <=="), or writes DIR/NAME files.
 * false with a message on a file error. */
static bool write_proc_files(struct km *km, struct mm_struct *mm, const char *list, const char *dir,
			     FILE *out)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list && strcmp(list, "all") ? list :
		 "buddyinfo,pagetypeinfo,zoneinfo,slabinfo,meminfo");
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!dir) {
			fprintf(out, "==> /proc/%s <==\n", t);
			km_proc_show(km, mm, t, out);
			continue;
		}
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, t);
		FILE *f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "%s: --proc-dir: %s: %s\n", prog_name, path, strerror(errno));
			return false;
		}
		km_proc_show(km, mm, t, f);
		if (fclose(f) != 0) {
			fprintf(stderr, "%s: --proc-dir: writing %s failed\n", prog_name, path);
			return false;
		}
	}
	if (out)
		fflush(out);
	return true;
}

static struct config_registry cpu_registry;

static int cmd_cpus(int argc, char **argv)
{
	char err[512];
	const char *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cpu-file") && i + 1 < argc) {
			if (!config_load_file(&cpu_registry, argv[++i], err, sizeof(err))) {
				fprintf(stderr, "%s: %s\n", prog_name, err);
				return 2;
			}
		} else if (!strncmp(argv[i], "--cpu-file=", 11)) {
			if (!config_load_file(&cpu_registry, argv[i] + 11, err, sizeof(err))) {
				fprintf(stderr, "%s: %s\n", prog_name, err);
				return 2;
			}
		} else if (argv[i][0] == '-') {
			die_usage("cpus: unknown option '%s'", argv[i]);
		} else {
			name = argv[i];
		}
	}
	if (name) {
		const struct mmu_config *c = config_find_cpu(&cpu_registry, name);
		if (!c) {
			fprintf(stderr, "%s: unknown CPU '%s' (see 'mmuemu cpus')\n", prog_name, name);
			return 2;
		}
		config_print_cpu(stdout, c, true);
		return 0;
	}
	const struct mmu_config *all[128];
	unsigned n = config_list_cpus(&cpu_registry, all, 128);
	printf("CPUs (default: %s; 'mmuemu cpus NAME' shows one in detail):\n\n", mmu_default_preset());
	for (unsigned i = 0; i < n && i < 128; i++)
		config_print_cpu(stdout, all[i], false);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "paging", required_argument, NULL, OPT_PAGING },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "lowmem", required_argument, NULL, OPT_LOWMEM },
		{ "movablecore", required_argument, NULL, OPT_MOVABLECORE },
		{ "stack-limit", required_argument, NULL, OPT_STACK_LIMIT },
		{ "no-icount", no_argument, NULL, OPT_NO_ICOUNT },
		{ "max-insns", required_argument, NULL, OPT_MAX_INSNS },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "report-format", required_argument, NULL, OPT_REPORT_FORMAT },
		{ "no-report", no_argument, NULL, OPT_NO_REPORT },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "cpu-file", required_argument, NULL, OPT_CPU_FILE },
		{ "set", required_argument, NULL, OPT_SET },
		{ "hugepages", required_argument, NULL, OPT_HUGEPAGES },
		{ "hugepages-1g-pool", required_argument, NULL, OPT_HUGEPAGES_POOL },
		{ "highpte", no_argument, NULL, OPT_HIGHPTE },
		{ "kcost", required_argument, NULL, OPT_KCOST },
		{ "self-check", no_argument, NULL, OPT_SELF_CHECK },
		{ "no-zero-page", no_argument, NULL, OPT_NO_ZERO_PAGE },
		{ "proc", required_argument, NULL, OPT_PROC },
		{ "proc-dir", required_argument, NULL, OPT_PROC_DIR },
		TRACE_LONG_OPTIONS,
		RUNPLOT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *paging = NULL, *report_path = NULL;
	uint64_t mem = 0, lowmem = 0, movable = 0, stack_limit = 0;
	bool have_lowmem = false;
	struct engine_options eo = { .count_insns = true };
	enum report_format rfmt = REPORT_TEXT;
	bool no_report = false;
	bool functional = false;
	enum km_hugepages huge = KM_HUGE_NONE;
	uint64_t huge_pool = 0;
	bool have_pool = false;
	bool highpte = false, self_check = false, no_zero_page = false;
	const char *proc_list = NULL, *proc_dir = NULL;
	const char *kcosts[MAX_OVERRIDES];
	unsigned nkcosts = 0;
	const char *cpu_name = NULL;
	const char *overrides[MAX_OVERRIDES];
	unsigned noverrides = 0;
	char cerr[512];
	static struct mmu_config cpu;
	struct trace_cli tcli = TRACE_CLI_INIT;
	struct runplot_cli pcli = RUNPLOT_CLI_INIT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c >= RUNPLOT_OPT_BASE && c < RUNPLOT_OPT_BASE + RUNPLOT_OPT_N) {
			if (!runplot_cli_option(&pcli, c, optarg, cerr, sizeof(cerr)))
				die_usage("%s", cerr);
			continue;
		}
		if (c >= TRACE_OPT_BASE && c < TRACE_OPT_BASE + TRACE_OPT_N) {
			if (!trace_cli_option(&tcli, c, optarg, cerr, sizeof(cerr)))
				die_usage("%s", cerr);
			continue;
		}
		switch (c) {
		case OPT_PAGING:
			if (strcmp(optarg, "2level") && strcmp(optarg, "pae") && strcmp(optarg, "4level") &&
			    strcmp(optarg, "5level"))
				die_usage("--paging: unknown mode '%s' (use 2level, pae, 4level or 5level)", optarg);
			paging = optarg;
			break;
		case OPT_MEM:
			if (!parse_size(optarg, &mem) || mem == 0)
				die_usage("--mem: invalid size '%s' (examples: 512M, 4G)", optarg);
			break;
		case OPT_LOWMEM:
			if (!parse_size(optarg, &lowmem) || lowmem == 0)
				die_usage("--lowmem: invalid size '%s'", optarg);
			have_lowmem = true;
			break;
		case OPT_MOVABLECORE:
			if (!parse_size(optarg, &movable))
				die_usage("--movablecore: invalid size '%s'", optarg);
			break;
		case OPT_STACK_LIMIT:
			if (!parse_size(optarg, &stack_limit) || stack_limit < 65536)
				die_usage("--stack-limit: invalid size '%s' (at least 64K)", optarg);
			break;
		case OPT_NO_ICOUNT: eo.count_insns = false; break;
		case OPT_MAX_INSNS:
			if (!parse_u64(optarg, &eo.max_insns) || eo.max_insns == 0)
				die_usage("--max-insns: invalid count '%s'", optarg);
			break;
		case OPT_PROGRESS: eo.progress = true; break;
		case OPT_REPORT: report_path = optarg; break;
		case OPT_REPORT_FORMAT:
			if (!strcmp(optarg, "text"))
				rfmt = REPORT_TEXT;
			else if (!strcmp(optarg, "json"))
				rfmt = REPORT_JSON;
			else
				die_usage("--report-format: unknown format '%s' (use text or json)", optarg);
			break;
		case OPT_NO_REPORT: no_report = true; break;
		case OPT_MODEL:
			if (!strcmp(optarg, "functional"))
				functional = true;
			else if (!strcmp(optarg, "timing"))
				functional = false;
			else if (!strcmp(optarg, "hooks-only"))
				functional = eo.empty_hooks = true;
			else
				die_usage("--model: unknown model '%s' (use timing, functional or hooks-only)", optarg);
			break;
		case OPT_CPU: cpu_name = optarg; break;
		case OPT_HUGEPAGES:
			if (!strcmp(optarg, "none"))
				huge = KM_HUGE_NONE;
			else if (!strcmp(optarg, "2m") || !strcmp(optarg, "2M"))
				huge = KM_HUGE_2M;
			else if (!strcmp(optarg, "1g") || !strcmp(optarg, "1G"))
				huge = KM_HUGE_1G;
			else
				die_usage("--hugepages: unknown kind '%s' (use none, 2m or 1g)", optarg);
			break;
		case OPT_HUGEPAGES_POOL:
			if (!parse_u64(optarg, &huge_pool) || huge_pool == 0 || huge_pool > 1024)
				die_usage("--hugepages-1g-pool: invalid count '%s' (1..1024)", optarg);
			have_pool = true;
			break;
		case OPT_HIGHPTE: highpte = true; break;
		case OPT_SELF_CHECK: self_check = true; break;
		case OPT_NO_ZERO_PAGE: no_zero_page = true; break;
		case OPT_PROC: check_proc_list(optarg); proc_list = optarg; break;
		case OPT_PROC_DIR: {
			/* Created when missing (like --plot DIR), so a script can name a fresh directory
			 * per run. */
			if (plot_mkdirs(optarg) != 0)
				die_usage("--proc-dir: '%s' is not a directory and cannot be created", optarg);
			proc_dir = optarg;
			break;
		}
		case OPT_KCOST:
			if (nkcosts == MAX_OVERRIDES)
				die_usage("%s", "--kcost: too many costs");
			kcosts[nkcosts++] = optarg;
			break;
		case OPT_CPU_FILE:
			if (!config_load_file(&cpu_registry, optarg, cerr, sizeof(cerr))) {
				fprintf(stderr, "%s: %s\n", prog_name, cerr);
				exit(2);
			}
			break;
		case OPT_SET:
			if (noverrides == MAX_OVERRIDES)
				die_usage("%s", "--set: too many overrides");
			if (!strchr(optarg, '='))
				die_usage("--set: expected KEY=VALUE, got '%s'", optarg);
			overrides[noverrides++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		case ':':
			die_usage("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (eo.max_insns && !eo.count_insns)
		die_usage("%s", "--max-insns needs instruction counting (drop --no-icount)");
	if (!eo.count_insns && !functional)
		die_usage("%s", "--no-icount is only available with --model functional");
	if (!trace_cli_check(&tcli, cerr, sizeof(cerr)))
		die_usage("%s", cerr);
	if (!runplot_cli_check(&pcli, functional, eo.count_insns, cerr, sizeof(cerr)))
		die_usage("%s", cerr);
	if (functional && tcli.path)
		die_usage("%s", "--trace records the timing model's events; it makes no sense with --model functional");
	if (functional && (cpu_name || noverrides))
		die_usage("%s", "--cpu and --set choose the timing model; they make no sense with --model functional");
	if (!functional) {
		const char *nm = cpu_name ? cpu_name : mmu_default_preset();
		const struct mmu_config *base = config_find_cpu(&cpu_registry, nm);
		if (!base)
			die_usage("--cpu: unknown CPU '%s' (see 'mmuemu cpus')", nm);
		cpu = *base;
		/* All overrides at once: intermediate states need not be valid CPUs. */
		if (noverrides && !config_apply_overrides(&cpu, overrides, noverrides, cerr, sizeof(cerr))) {
			fprintf(stderr, "%s: --set: %s\nTry 'mmuemu --help'.\n", prog_name, cerr);
			exit(2);
		}
		if (!mmu_config_valid(&cpu, cerr, sizeof(cerr))) {
			fprintf(stderr, "%s: CPU '%s': %s\n", prog_name, cpu.name, cerr);
			exit(2);
		}
		eo.cpu = &cpu;
	}
	if (optind >= argc)
		die_usage("%s", "run: no program given (usage: mmuemu run [OPTIONS] -- PROGRAM [ARGS...])");
	const char *prog = argv[optind];
	char path[PATH_MAX];
	if (!resolve_program(prog, path, sizeof(path))) {
		fprintf(stderr, "%s: %s: program not found in PATH\n", prog_name, prog);
		return 2;
	}

	char err[512] = "";
	struct elf_file ef;
	struct elf_image img;
	enum elf_status es = elf_file_open(path, &ef, &img, err, sizeof(err));
	if (es != ELF_OK) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		return 2;
	}

	struct km_config kc;
	km_default_config(&kc, img.is64 ? KM_ARCH_X86_64 : KM_ARCH_I386);
	if (paging) {
		enum paging_mode pm = !strcmp(paging, "2level") ? PAGING_2LEVEL : !strcmp(paging, "pae") ? PAGING_PAE
				    : !strcmp(paging, "4level") ? PAGING_4LEVEL : PAGING_5LEVEL;
		bool ok = img.is64 ? (pm == PAGING_4LEVEL || pm == PAGING_5LEVEL) : (pm == PAGING_2LEVEL || pm == PAGING_PAE);
		if (!ok) {
			fprintf(stderr, "%s: --paging %s is not available for an %s program (%s)\n", prog_name, paging,
				img.is64 ? "x86-64" : "i386", img.is64 ? "use 4level or 5level" : "use 2level or pae");
			elf_file_close(&ef);
			return 2;
		}
		kc.paging = pm;
	}
	if (mem)
		kc.mem_bytes = mem;
	if (have_lowmem)
		kc.lowmem_bytes = lowmem;
	kc.movablecore_bytes = movable;
	kc.hugepages = huge;
	if (huge == KM_HUGE_1G)
		kc.hugepages_1g_pool = have_pool ? huge_pool : 1;
	else if (have_pool) {
		fprintf(stderr, "%s: --hugepages-1g-pool needs --hugepages 1g\n", prog_name);
		elf_file_close(&ef);
		return 2;
	}
	if (stack_limit)
		kc.rlimit_stack = stack_limit;
	if (highpte && img.is64) {
		fprintf(stderr, "%s: --highpte is for i386 programs (x86-64 has no HighMem)\n", prog_name);
		elf_file_close(&ef);
		return 2;
	}
	kc.highpte = highpte;
	kc.no_zero_page = no_zero_page;
	for (unsigned i = 0; i < nkcosts; i++) {
		if (!km_cost_set(&kc.costs, kcosts[i], cerr, sizeof(cerr))) {
			fprintf(stderr, "%s: --kcost: %s\n", prog_name, cerr);
			elf_file_close(&ef);
			return 2;
		}
	}

	FILE *rout = NULL;
	if (!no_report) {
		if (report_path && strcmp(report_path, "-")) {
			rout = fopen(report_path, "w");
			if (!rout) {
				fprintf(stderr, "%s: --report %s: %s\n", prog_name, report_path, strerror(errno));
				elf_file_close(&ef);
				return 2;
			}
		} else {
			rout = report_path ? stdout : stderr;
		}
	}

	struct km *km = km_new(&kc, err, sizeof(err));
	if (!km) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		elf_file_close(&ef);
		return 2;
	}
	static struct engine e;   /* large (descriptor and syscall tables): not on the stack */
	memset(&e, 0, sizeof(e));
	struct guest *g = &e.g;
	g->is64 = img.is64;
	g->km = km;
	g->mm = km_mm_new(km);
	if (!realpath(path, g->exe_path))
		snprintf(g->exe_path, sizeof(g->exe_path), "%s", path);
	guest_fds_init(g);
	struct km_file *kf = km_file_get(km, ef.fd);
	int status = 1;
	struct trace_writer *tracer = NULL;
	struct runplot *rplot = NULL;
	if (!g->mm || !kf) {
		fprintf(stderr, "%s: cannot set up the address space: %s\n", prog_name, strerror(errno ? errno : ENOMEM));
		goto out;
	}
	struct trace_attach ta = { tcli.path, tcli.flt, { path, argc - optind, argv + optind, paging_name(kc.paging),
							    kc.mem_bytes }, NULL };
	if (tcli.path) {
		eo.attach = trace_engine_attach;
		eo.attach_ctx = &ta;
	}
	rplot = runplot_start(&e, &pcli, eo.cpu, err, sizeof(err));   /* before engine_init: sees every lookup */
	if (!rplot && err[0]) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	int ei = engine_init(&e, &eo, err, sizeof(err));
	tracer = ta.tw;
	if (ei != 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		goto out;
	}
	struct loader_result lr;
	int r = loader_load(&lr, km, g->mm, &img, kf, prog, argc - optind, argv + optind, environ, err, sizeof(err));
	km_file_put(km, kf);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, path, err);
		status = 2;
		goto out;
	}
	elf_file_close(&ef);
	if (engine_run(&e, lr.entry, lr.sp, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		status = 1;
	} else {
		status = engine_exit_status(&e);
	}
	if (self_check) {
		/* The model's own invariants after the run (buddy lists, page tables and reference
		 * counts, VMAs, TLB arrays): a violation is an emulator error. */
		const char *why = km_check(km, g->mm);
		if (!why && e.timing)
			why = mmu_timing_check(e.timing);
		if (why) {
			fprintf(stderr, "%s: self-check failed after the run: %s\n", prog_name, why);
			status = 1;
		}
	}
	if (rplot && runplot_finish(rplot, &e, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog_name, err);
		status = 1;
	}
	if (tracer && trace_close(tracer, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: --trace %s: %s\n", prog_name, tcli.path, err);
		status = 1;
	}
	fflush(stdout);
	if (g->fatal_signal == SIGSEGV || g->fatal_signal == SIGBUS) {
		fprintf(stderr, "%s: killed by %s at %#llx (pc %#llx)\n", path, g->fatal_signal == SIGSEGV ? "SIGSEGV" : "SIGBUS",
			(unsigned long long)g->fatal_addr, (unsigned long long)g->fatal_pc);
	} else if (g->fatal_signal == SIGKILL) {
		fprintf(stderr, "%s: %s\n", path, g->fatal_reason);
	} else if (g->fatal_signal) {
		fprintf(stderr, "%s: killed by signal %d (%s) at pc %#llx\n", path, g->fatal_signal,
			g->fatal_reason[0] ? g->fatal_reason : "fatal", (unsigned long long)g->fatal_pc);
	}
	if (rout) {
		struct run_info ri = { path, argc - optind, argv + optind, "", kc.mem_bytes, status, NULL };
		ri.paging = paging_name(kc.paging);
		ri.mrc = runplot_mrc(rplot);
		if (report_write(rout, rfmt, &e, &ri) != 0)
			fprintf(stderr, "%s: writing the report failed\n", prog_name);
	}
	/* --proc: the kernel model's /proc files at exit, after the report (to where the text report
	 * goes; stderr with --no-report or a JSON report), or as files in --proc-dir. */
	if ((proc_list || proc_dir) &&
	    !write_proc_files(km, g->mm, proc_list, proc_dir, rout && rfmt == REPORT_TEXT ? rout : stderr))
		status = 1;
out:
	if (rout && rout != stderr && rout != stdout)
		fclose(rout);
	guest_fds_close_all(g);
	engine_close(&e);
	trace_free(tracer);
	runplot_free(rplot);
	if (g->mm)
		km_mm_free(km, g->mm);
	km_free(km);
	elf_file_close(&ef);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
		unsigned maj, min;
		uc_version(&maj, &min);
		printf("mmuemu %s (Unicorn %u.%u, Capstone %d.%d)\n", MMUEMU_VERSION, maj, min, CS_API_MAJOR, CS_API_MINOR);
		return 0;
	}
	config_registry_init(&cpu_registry);
	if (!strcmp(argv[1], "cpus"))
		return cmd_cpus(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sweep"))
		return sweep_main(argc - 1, argv + 1, &cpu_registry);
	if (!strcmp(argv[1], "trace"))
		return trace_command(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run")) {
		/* A guest writing to a closed pipe gets EPIPE (and its own SIGPIPE from the syscall
		 * layer); mmuemu itself must not die of it. */
		signal(SIGPIPE, SIG_IGN);
		return cmd_run(argc - 1, argv + 1);
	}
	fprintf(stderr, "%s: unknown command '%s'\nTry 'mmuemu --help'.\n", prog_name, argv[1]);
	return 2;
}
