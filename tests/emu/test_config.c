/* test_config.c — CPU configuration files, overrides and printing (emu/config.c, compiled into
 * this test). Files come from strings through fmemopen (named "test.ini" in messages) or from a
 * temporary file for config_load_file. Every error case asserts the "file:line:" prefix and the
 * key or parameter the message must name. config.h is included first: it compiles on its own. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S4K TLB_SIZE_BIT(TLB_4K)
#define S2M TLB_SIZE_BIT(TLB_2M)
#define S1G TLB_SIZE_BIT(TLB_1G)

static struct config_registry reg;
static char err[512];

static void setup(void)
{
	config_registry_init(&reg);
	err[0] = '\0';
}

TestSuite(config_file, .init = setup);
TestSuite(config_error, .init = setup);
TestSuite(config_override, .init = setup);
TestSuite(config_print, .init = setup);

static bool load(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	cr_assert_not_null(f);
	bool ok = config_load_stream(&reg, f, "test.ini", err, sizeof err);
	fclose(f);
	return ok;
}

static void load_ok(const char *text)
{
	cr_assert(load(text), "load failed: %s", err);
}

/* Loading fails and the message contains every fragment. */
#define EXPECT_LOAD_ERROR(text, ...)                                                            \
	do {                                                                                    \
		unsigned n_before_ = reg.n;                                                     \
		cr_assert_not(load(text), "loaded");                                            \
		cr_expect_eq(reg.n, n_before_, "registry changed on error");                    \
		const char *frags_[] = { __VA_ARGS__ };                                         \
		for (size_t i_ = 0; i_ < sizeof frags_ / sizeof frags_[0]; i_++)                \
			cr_expect_not_null(strstr(err, frags_[i_]), "message \"%s\" lacks \"%s\"", \
					   err, frags_[i_]);                                    \
	} while (0)

static const struct mmu_config *cpu(const char *name)
{
	const struct mmu_config *c = config_find_cpu(&reg, name);
	cr_assert_not_null(c, "cpu %s not found", name);
	return c;
}

static const struct tlb_array_config *array_of(const struct tlb_level_config *l, unsigned sizes)
{
	for (unsigned i = 0; i < l->narrays; i++)
		if (l->arrays[i].sizes == sizes)
			return &l->arrays[i];
	return NULL;
}

/* Field-by-field equality (names of the CPUs excepted). */
static void assert_same_array(const struct tlb_array_config *a, const struct tlb_array_config *b)
{
	cr_expect_str_eq(a->name, b->name);
	cr_expect_eq(a->entries, b->entries, "%s entries", a->name);
	cr_expect_eq(a->ways, b->ways, "%s ways", a->name);
	cr_expect_eq(a->sizes, b->sizes, "%s sizes", a->name);
	cr_expect_eq(a->policy, b->policy, "%s policy", a->name);
	cr_expect_eq(a->latency, b->latency, "%s latency", a->name);
	cr_expect_eq(a->seed, b->seed, "%s seed", a->name);
}

static void assert_same_cpu(const struct mmu_config *a, const struct mmu_config *b)
{
	cr_expect_str_eq(a->source, b->source);
	const struct tlb_level_config *la[3] = { &a->itlb, &a->dtlb, &a->stlb }, *lb[3] = { &b->itlb, &b->dtlb, &b->stlb };
	for (int l = 0; l < 3; l++) {
		cr_assert_eq(la[l]->narrays, lb[l]->narrays, "level %d", l);
		for (unsigned i = 0; i < la[l]->narrays; i++)
			assert_same_array(&la[l]->arrays[i], &lb[l]->arrays[i]);
	}
	for (unsigned p = 0; p < MMU_PWC_LEVELS; p++) {
		cr_expect_eq(a->pwc[p].entries, b->pwc[p].entries, "pwc[%u]", p);
		if (a->pwc[p].entries)
			assert_same_array(&a->pwc[p], &b->pwc[p]);
	}
	cr_expect_eq(a->pt_model, b->pt_model);
	cr_expect_eq(a->pt_read_latency, b->pt_read_latency);
	const struct pt_cache_level_config *ca[3] = { &a->pt_cache.l1, &a->pt_cache.l2, &a->pt_cache.llc };
	const struct pt_cache_level_config *cb[3] = { &b->pt_cache.l1, &b->pt_cache.l2, &b->pt_cache.llc };
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(ca[i]->lines, cb[i]->lines);
		cr_expect_eq(ca[i]->ways, cb[i]->ways);
		cr_expect_eq(ca[i]->latency, cb[i]->latency);
	}
	cr_expect_eq(a->pt_cache.dram_latency, b->pt_cache.dram_latency);
	cr_expect(a->base_cpi == b->base_cpi, "cpi %g vs %g", a->base_cpi, b->base_cpi);
	cr_expect_eq(a->dirty_assist, b->dirty_assist);
	cr_expect_eq(a->itlb_fetch_bytes, b->itlb_fetch_bytes);
	cr_expect_eq(a->pcid, b->pcid);
	cr_expect_eq(a->pdpe1gb, b->pdpe1gb);
	cr_expect_eq(a->l1_unified, b->l1_unified);
	cr_expect_eq(a->stlb_data_only, b->stlb_data_only);
	cr_expect_eq(a->stlb_1g_as_2m, b->stlb_1g_as_2m);
}

/* ---------------------------------------------------------------- files ---------------- */

Test(config_file, derived_cpu_starts_from_its_base)
{
	load_ok("; a bigger Skylake\n"
		"[cpu bigsky]\n"
		"base = skylake\n"
		"stlb.4k2m = 2048x16   ; more entries\n"
		"stlb.latency = 10\n");
	const struct mmu_config *c = cpu("bigsky"), *s = mmu_preset("skylake");
	cr_expect_str_eq(c->name, "bigsky");
	const struct tlb_array_config *a = array_of(&c->stlb, S4K | S2M);
	cr_assert_not_null(a);
	cr_expect_eq(a->entries, 2048);
	cr_expect_eq(a->ways, 16);
	cr_expect_eq(a->latency, 10);
	cr_expect_eq(array_of(&c->stlb, S1G)->latency, 10, "stlb.latency sets every STLB array");
	cr_expect_eq(c->dtlb.narrays, s->dtlb.narrays);
	cr_expect_eq(c->dtlb.arrays[0].entries, 64);
	cr_expect_eq(c->pt_read_latency, s->pt_read_latency);
	cr_expect_eq(strncmp(c->source, "based on skylake: ", 18), 0, "source \"%s\"", c->source);
	cr_expect_eq(reg.n, 1);
	cr_expect_eq(config_find_cpu(&reg, "BIGSKY"), c);
	cr_expect_eq(config_find_cpu(&reg, "skylake"), s, "presets stay reachable");
	cr_expect_null(config_find_cpu(&reg, "nope"));
}

Test(config_file, every_key_is_parsed)
{
	load_ok("[cpu everything]\n"
		"source = a test CPU\n"
		"itlb.4k = 64x4\n"
		"itlb.4k.latency = 2\n"
		"itlb.4k.policy = fifo\n"
		"itlb.2m1g = 8,full\n"
		"dtlb.all = 48,full\n"
		"dtlb.all.policy = random\n"
		"dtlb.all.seed = 0x2a\n"
		"stlb.4k2m = 1536x12\n"
		"stlb.1g = 16x4\n"
		"stlb.latency = 11\n"
		"stlb.policy = plru\n"
		"stlb.1g.latency = 13\n"
		"stlb.1g.seed = 7\n"
		"pwc.pde = 32x8\n"
		"pwc.pdpte = 8x4\n"
		"pwc.pml4e = 4,full\n"
		"pwc.pml5e = 2x2\n"
		"pwc.latency = 2\n"
		"pwc.policy = fifo\n"
		"pwc.seed = 3\n"
		"pwc.pde.latency = 3\n"
		"pwc.pde.policy = lru\n"
		"pwc.pde.seed = 4\n"
		"pt.model = cache\n"
		"pt.latency = 25\n"
		"pt.l1 = 32x4@3\n"
		"pt.l2 = 256x8@11\n"
		"pt.llc = none\n"
		"pt.dram = 250\n"
		"cpi = 0.75\n"
		"dirty_assist = 40\n"
		"fetch_bytes = 32\n"
		"pcid = yes\n"
		"pdpe1gb = true\n"
		"l1_unified = no\n"
		"stlb.data_only = on\n"
		"stlb.1g_as_2m = off\n");
	const struct mmu_config *c = cpu("everything");
	cr_expect_str_eq(c->source, "a test CPU");

	cr_assert_eq(c->itlb.narrays, 2);
	cr_expect_str_eq(c->itlb.arrays[0].name, "itlb.4k");
	cr_expect_eq(c->itlb.arrays[0].entries, 64);
	cr_expect_eq(c->itlb.arrays[0].ways, 4);
	cr_expect_eq(c->itlb.arrays[0].latency, 2);
	cr_expect_eq(c->itlb.arrays[0].policy, TLB_POLICY_FIFO);
	cr_expect_str_eq(c->itlb.arrays[1].name, "itlb.2m1g");
	cr_expect_eq(c->itlb.arrays[1].sizes, S2M | S1G);
	cr_expect_eq(c->itlb.arrays[1].entries, 8);
	cr_expect_eq(c->itlb.arrays[1].ways, 8);
	/* a new array inherits the first array's latency and policy as they were before the
	 * section's attribute keys (applied after every geometry): here the defaults */
	cr_expect_eq(c->itlb.arrays[1].latency, 1);
	cr_expect_eq(c->itlb.arrays[1].policy, TLB_POLICY_LRU);

	cr_assert_eq(c->dtlb.narrays, 1);
	cr_expect_str_eq(c->dtlb.arrays[0].name, "dtlb.all");
	cr_expect_eq(c->dtlb.arrays[0].sizes, S4K | S2M | S1G);
	cr_expect_eq(c->dtlb.arrays[0].entries, 48);
	cr_expect_eq(c->dtlb.arrays[0].ways, 48);
	cr_expect_eq(c->dtlb.arrays[0].latency, 1);
	cr_expect_eq(c->dtlb.arrays[0].policy, TLB_POLICY_RANDOM);
	cr_expect_eq(c->dtlb.arrays[0].seed, 42);

	cr_assert_eq(c->stlb.narrays, 2);
	cr_expect_str_eq(c->stlb.arrays[0].name, "stlb.4k2m");
	cr_expect_eq(c->stlb.arrays[0].entries, 1536);
	cr_expect_eq(c->stlb.arrays[0].ways, 12);
	cr_expect_eq(c->stlb.arrays[0].latency, 11);
	cr_expect_eq(c->stlb.arrays[0].policy, TLB_POLICY_PLRU);
	cr_expect_eq(c->stlb.arrays[1].latency, 13, "the array key wins over the level key");
	cr_expect_eq(c->stlb.arrays[1].policy, TLB_POLICY_PLRU);
	cr_expect_eq(c->stlb.arrays[1].seed, 7);

	static const unsigned pe[MMU_PWC_LEVELS] = { 0, 32, 8, 4, 2 }, pw[MMU_PWC_LEVELS] = { 0, 8, 4, 4, 2 };
	static const char *const pn[MMU_PWC_LEVELS] = { "", "pwc.pde", "pwc.pdpte", "pwc.pml4e", "pwc.pml5e" };
	cr_expect_eq(c->pwc[0].entries, 0);
	for (unsigned p = 1; p < MMU_PWC_LEVELS; p++) {
		cr_expect_str_eq(c->pwc[p].name, pn[p]);
		cr_expect_eq(c->pwc[p].entries, pe[p]);
		cr_expect_eq(c->pwc[p].ways, pw[p]);
		cr_expect_eq(c->pwc[p].latency, p == 1 ? 3u : 2u);
		cr_expect_eq(c->pwc[p].policy, p == 1 ? TLB_POLICY_LRU : TLB_POLICY_FIFO);
		cr_expect_eq(c->pwc[p].seed, p == 1 ? 4u : 3u);
	}

	cr_expect_eq(c->pt_model, PT_LATENCY_CACHE);
	cr_expect_eq(c->pt_read_latency, 25);
	cr_expect_eq(c->pt_cache.l1.lines, 32);
	cr_expect_eq(c->pt_cache.l1.ways, 4);
	cr_expect_eq(c->pt_cache.l1.latency, 3);
	cr_expect_eq(c->pt_cache.l2.lines, 256);
	cr_expect_eq(c->pt_cache.l2.ways, 8);
	cr_expect_eq(c->pt_cache.l2.latency, 11);
	cr_expect_eq(c->pt_cache.llc.lines, 0);
	cr_expect_eq(c->pt_cache.dram_latency, 250);
	cr_expect_float_eq(c->base_cpi, 0.75, 1e-12);
	cr_expect_eq(c->dirty_assist, 40);
	cr_expect_eq(c->itlb_fetch_bytes, 32);
	cr_expect(c->pcid);
	cr_expect(c->pdpe1gb);
	cr_expect_not(c->l1_unified);
	cr_expect(c->stlb_data_only);
	cr_expect_not(c->stlb_1g_as_2m);
}

Test(config_file, cpu_without_base_starts_empty_with_documented_defaults)
{
	load_ok("[cpu tiny]\ndtlb.4k = 16x4\nitlb.4k = 16,full\n");
	const struct mmu_config *c = cpu("tiny");
	cr_expect_eq(c->stlb.narrays, 0);
	cr_expect_eq(c->pwc[1].entries, 0);
	cr_expect_eq(c->dtlb.arrays[0].latency, 1);
	cr_expect_eq(c->dtlb.arrays[0].policy, TLB_POLICY_LRU);
	cr_expect_eq(c->pt_model, PT_LATENCY_FIXED);
	cr_expect_eq(c->pt_read_latency, 30);
	cr_expect_eq(c->pt_cache.dram_latency, 200);
	cr_expect_float_eq(c->base_cpi, 1.0, 1e-12);
	cr_expect_eq(c->dirty_assist, 30);
	cr_expect_eq(c->itlb_fetch_bytes, 16);
	cr_expect_not(c->pcid);
	cr_expect_not(c->pdpe1gb);
	cr_expect_str_eq(c->source, "");
}

Test(config_file, keys_apply_in_group_order_whatever_order_they_are_written)
{
	load_ok("[cpu ordered]\n"
		"stlb.latency = 5\n"             /* applied after the arrays exist */
		"stlb.4k2m = 512x4\n"
		"stlb = none\n"                  /* applied first: drops zen2's STLB */
		"base = zen2\n"                  /* applied before everything */
		"stlb.1g_as_2m = no\n");
	const struct mmu_config *c = cpu("ordered");
	cr_assert_eq(c->stlb.narrays, 1);
	cr_expect_eq(c->stlb.arrays[0].entries, 512);
	cr_expect_eq(c->stlb.arrays[0].ways, 4);
	cr_expect_eq(c->stlb.arrays[0].latency, 5);
	cr_expect_eq(c->dtlb.arrays[0].sizes, S4K | S2M | S1G, "zen2's L1");
}

Test(config_file, an_array_can_be_removed_and_a_level_redefined)
{
	load_ok("[cpu nolarge]\nbase = skylake\ndtlb.2m = none\ndtlb.1g = none\nstlb.1g = none\npwc = none\n"
		"[cpu amdish]\nbase = skylake\ndtlb = none\ndtlb.all = 64,full\n");
	const struct mmu_config *c = cpu("nolarge");
	cr_expect_eq(c->dtlb.narrays, 1);
	cr_expect_str_eq(c->dtlb.arrays[0].name, "dtlb.4k");
	cr_expect_eq(c->stlb.narrays, 1);
	for (unsigned p = 0; p < MMU_PWC_LEVELS; p++)
		cr_expect_eq(c->pwc[p].entries, 0);
	c = cpu("amdish");
	cr_assert_eq(c->dtlb.narrays, 1);
	cr_expect_eq(c->dtlb.arrays[0].sizes, S4K | S2M | S1G);
	cr_expect_eq(c->dtlb.arrays[0].ways, 64);
}

Test(config_file, a_cpu_may_derive_from_one_defined_earlier)
{
	load_ok("[cpu a]\nbase = haswell\nstlb.4k2m = 2048x8\n"
		"[cpu b]\nbase = a\ncpi = 1.5\n");
	cr_expect_eq(cpu("b")->stlb.arrays[0].entries, 2048);
	load_ok("[cpu c]\nbase = b\n");
	cr_expect_float_eq(cpu("c")->base_cpi, 1.5, 1e-12);
	cr_expect_eq(reg.n, 3);
}

Test(config_file, source_may_repeat_or_continue_on_indented_lines)
{
	load_ok("[cpu cited]\nbase = skylake\n"
		"source = Intel Optimization Manual,\n"
		"   table 2-5\n"
		"source = and a measurement\n");
	cr_expect_str_eq(cpu("cited")->source, "Intel Optimization Manual, table 2-5 and a measurement");
}

Test(config_file, keys_and_words_ignore_case_and_comments)
{
	load_ok("# comment\n"
		"[cpu Case]\n"
		"BASE = Skylake\n"
		"DTLB.4K = 128X8   ; inline comment\n"
		"PCID = No\n"
		"STLB.4K2M.Policy = PLRU\n"
		"pt.model = CACHE\n");
	const struct mmu_config *c = cpu("case");
	cr_expect_str_eq(c->name, "Case");
	cr_expect_eq(c->dtlb.arrays[0].entries, 128);
	cr_expect_eq(c->dtlb.arrays[0].ways, 8);
	cr_expect_not(c->pcid);
	cr_expect_eq(c->stlb.arrays[0].policy, TLB_POLICY_PLRU);
	cr_expect_eq(c->pt_model, PT_LATENCY_CACHE);
}

Test(config_file, replace_yes_redefines_a_preset_or_an_earlier_cpu)
{
	load_ok("[cpu skylake]\nreplace = yes\nbase = skylake\nstlb.4k2m = 1536x6\n");
	const struct mmu_config *c = cpu("skylake");
	cr_expect_neq(c, mmu_preset("skylake"), "the registry shadows the preset");
	cr_expect_eq(c->stlb.arrays[0].ways, 6);
	cr_expect_eq(mmu_preset("skylake")->stlb.arrays[0].ways, 12, "the preset itself is untouched");
	load_ok("[cpu x]\nbase = i486\n[cpu x]\nreplace = yes\nbase = core2\n");
	cr_expect(cpu("x")->stlb_data_only);
	load_ok("[cpu x]\nreplace = yes\nbase = zen2\n");
	cr_expect(cpu("x")->stlb_1g_as_2m);
	cr_expect_eq(reg.n, 2);
}

Test(config_file, list_merges_presets_and_registry)
{
	load_ok("[cpu haswell]\nreplace = yes\nbase = haswell\ncpi = 2\n[cpu mine]\nbase = i486\n");
	const struct mmu_config *all[16];
	unsigned np, n = config_list_cpus(&reg, all, 16);
	const struct mmu_config *p = mmu_presets(&np);
	cr_assert_eq(n, np + 1);
	for (unsigned i = 0; i < np; i++)
		cr_expect_str_eq(all[i]->name, p[i].name);
	cr_expect_eq(all[2], cpu("haswell"));
	cr_expect_float_eq(all[2]->base_cpi, 2.0, 1e-12);
	cr_expect_str_eq(all[np]->name, "mine");
	cr_expect_eq(config_list_cpus(NULL, all, 2), np, "count even when out is short");
}

Test(config_file, every_preset_round_trips_through_ini)
{
	unsigned np;
	const struct mmu_config *p = mmu_presets(&np);
	for (unsigned i = 0; i < np; i++) {
		struct mmu_config c = p[i];
		snprintf(c.name, sizeof c.name, "rt-%.20s", p[i].name);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		config_write_cpu(f, &c);
		fclose(f);
		cr_assert(load(text), "%s: %s\n%s", p[i].name, err, text);
		assert_same_cpu(cpu(c.name), &p[i]);
		free(text);
	}
}

Test(config_file, unusual_settings_round_trip_through_ini)
{
	struct mmu_config c = *mmu_preset("zen2");
	char e[256];
	const char *ov[] = { "dtlb.all.policy=random", "dtlb.all.seed=12345678901", "pt.model=cache",
			     "pt.llc=none", "cpi=0.1", "source=x", "stlb.data_only=yes", "pwc.pml5e=none" };
	cr_assert(config_apply_overrides(&c, ov, sizeof ov / sizeof ov[0], e, sizeof e), "%s", e);
	snprintf(c.name, sizeof c.name, "odd");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_write_cpu(f, &c);
	fclose(f);
	cr_assert(load(text), "%s\n%s", err, text);
	assert_same_cpu(cpu("odd"), &c);
	free(text);
}

Test(config_file, loads_from_a_path_and_names_it_in_errors)
{
	char path[] = "/tmp/mmuemu-test-config-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char good[] = "[cpu fromdisk]\nbase = haswell\n";
	cr_assert_eq(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
	close(fd);
	cr_assert(config_load_file(&reg, path, err, sizeof err), "%s", err);
	cr_expect_not_null(config_find_cpu(&reg, "fromdisk"));
	cr_assert_not(config_load_file(&reg, path, err, sizeof err));
	cr_expect_not_null(strstr(err, path), "%s", err);
	cr_expect_not_null(strstr(err, ":1: [cpu fromdisk]: already defined"), "%s", err);
	unlink(path);
	cr_assert_not(config_load_file(&reg, path, err, sizeof err));
	cr_expect_not_null(strstr(err, "cannot open"), "%s", err);
}

Test(config_file, crlf_bom_and_missing_final_newline_are_fine)
{
	load_ok("\xEF\xBB\xBF[cpu dos]\r\nbase = haswell\r\n\r\ncpi = 3\r\n[cpu last]\r\nbase = zen2\r\ncpi = 4");
	cr_expect_float_eq(cpu("dos")->base_cpi, 3.0, 1e-12);
	cr_expect_float_eq(cpu("last")->base_cpi, 4.0, 1e-12);
	EXPECT_LOAD_ERROR("[cpu x]\r\nbase = haswell\r\ncpi = z\r\n", "test.ini:3:", "cpi");
}

Test(config_file, the_example_in_docs_cpus_md_loads)
{
	FILE *f = fopen(CPUS_MD, "r");
	cr_assert_not_null(f, "cannot open %s", CPUS_MD);
	char line[512], *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	bool in = false, seen = false;
	while (fgets(line, sizeof line, f)) {
		if (!in && strncmp(line, "```ini", 6) == 0 && !seen) {
			in = seen = true;
			continue;
		}
		if (in && strncmp(line, "```", 3) == 0)
			in = false;
		else if (in)
			fputs(line, out);
	}
	fclose(f);
	fclose(out);
	cr_assert(seen, "no ```ini block in %s", CPUS_MD);
	cr_assert(load(text), "%s\n%s", err, text);
	free(text);
	const struct mmu_config *c = cpu("skylake-bigstlb");
	cr_expect_eq(c->stlb.arrays[0].entries, 2048);
	cr_expect_eq(c->stlb.arrays[1].latency, 10);
	cr_expect_eq(c->pt_model, PT_LATENCY_CACHE);
	c = cpu("tiny");
	cr_expect_eq(c->dtlb.arrays[0].sizes, S4K | S2M | S1G);
	cr_expect_eq(c->itlb.arrays[0].policy, TLB_POLICY_FIFO);
	cr_expect_eq(c->itlb_fetch_bytes, 8);
	c = cpu("i486-pse");
	cr_expect_eq(c->dtlb.narrays, 2);
	cr_expect(c->l1_unified);
}

/* ---------------------------------------------------------------- errors --------------- */

Test(config_error, zero_ways)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k = 64x0\n", "test.ini:3:", "dtlb.4k", "ways must be at least 1");
}

Test(config_error, zero_entries)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.2m = 0x4\n", "test.ini:3:", "dtlb.2m", "entries must be at least 1");
}

Test(config_error, entries_not_divisible_by_ways)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\n\nstlb.4k2m = 1000x12\n", "test.ini:4:", "stlb.4k2m",
			  "entries (1000) must be divisible by ways (12)");
}

Test(config_error, bad_geometry_syntax)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k = 64\n", "test.ini:3:", "dtlb.4k", "bad geometry \"64\"",
			  "ENTRIESxWAYS");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k = 64,half\n", "test.ini:3:", "dtlb.4k");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\npt.l1 = 64x8\n", "test.ini:3:", "pt.l1", "LINESxWAYS@LATENCY");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\npt.l2 = 500x8@4\n", "test.ini:3:", "pt.l2", "divisible");
}

Test(config_error, unknown_policy)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k.policy = mru\n", "test.ini:3:", "dtlb.4k.policy",
			  "unknown policy \"mru\"");
}

Test(config_error, unknown_key)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ncpi = 1\ndtlb.8k = 4x4\n", "test.ini:4:", "dtlb.8k", "unknown key");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nstlb.4k.latency.x = 1\n", "test.ini:3:", "unknown key");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\npwc.pte = 4x4\n", "test.ini:3:", "pwc.pte", "unknown key");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k4k = 4x4\n", "test.ini:3:", "dtlb.4k4k", "unknown key");
}

Test(config_error, bad_number)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nstlb.latency = 9x\n", "test.ini:3:", "stlb.latency", "bad number \"9x\"");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ncpi = fast\n", "test.ini:3:", "cpi", "bad number");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\npt.dram = -5\n", "test.ini:3:", "pt.dram", "bad number");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nfetch_bytes = 99999999999\n", "test.ini:3:", "fetch_bytes");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\npcid = maybe\n", "test.ini:3:", "pcid", "yes or no");
}

Test(config_error, bad_value_caught_by_the_whole_cpu_check)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ncpi = 0\n", "test.ini:1:", "[cpu a]", "cpi");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nfetch_bytes = 24\n", "test.ini:1:", "fetch_bytes", "power of two");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\n[cpu b]\nbase = skylake\npt.latency = 0\n", "test.ini:3:", "[cpu b]",
			  "pt.latency");
}

Test(config_error, unknown_base)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = pentium\n", "test.ini:2:", "base", "unknown CPU \"pentium\"");
}

Test(config_error, duplicate_name_of_a_preset)
{
	EXPECT_LOAD_ERROR("[cpu skylake]\nbase = haswell\n", "test.ini:1:", "[cpu skylake]", "already defined",
			  "preset", "replace = yes");
}

Test(config_error, duplicate_name_in_one_file)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = i486\n\n[cpu a]\nbase = core2\n", "test.ini:4:", "[cpu a]",
			  "already defined at line 1");
}

Test(config_error, duplicate_name_across_files)
{
	load_ok("[cpu a]\nbase = i486\n");
	EXPECT_LOAD_ERROR("[cpu A]\nbase = core2\n", "test.ini:1:", "[cpu A]", "loaded earlier");
	cr_expect(cpu("a")->l1_unified, "the first definition stays");
}

Test(config_error, duplicate_key)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ncpi = 1\ncpi = 2\n", "test.ini:4:", "cpi",
			  "given twice in this section (first at line 3)");
}

Test(config_error, indented_line_continues_only_source)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb.4k = 64x4\n  itlb.4k = 64x4\n", "test.ini:4:", "dtlb.4k",
			  "indented line");
}

Test(config_error, unknown_section)
{
	EXPECT_LOAD_ERROR("[gpu x]\nbase = skylake\n", "test.ini:1:", "unknown section [gpu x]");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\n[general]\n", "test.ini:3:", "unknown section [general]");
}

Test(config_error, bad_section_header)
{
	EXPECT_LOAD_ERROR("[cpu]\nbase = skylake\n", "test.ini:1:", "[cpu NAME]");
	EXPECT_LOAD_ERROR("[cpu two words]\n", "test.ini:1:", "[cpu NAME]");
	EXPECT_LOAD_ERROR("[cpu bad/name]\n", "test.ini:1:", "[cpu NAME]");
	EXPECT_LOAD_ERROR("[cpu a\n", "test.ini:1:", "']'");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\n  [cpu b]\n", "test.ini:3:", "beginning of its line");
}

Test(config_error, key_outside_a_section)
{
	EXPECT_LOAD_ERROR("cpi = 1\n[cpu a]\nbase = skylake\n", "test.ini:1:", "cpi", "outside a [cpu NAME] section");
}

Test(config_error, syntax_error)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nthis is not a key\n", "test.ini:3:", "syntax error");
}

Test(config_error, line_too_long)
{
	char text[600];
	snprintf(text, sizeof text, "[cpu a]\nbase = skylake\nsource = %0400d\n", 7);
	EXPECT_LOAD_ERROR(text, "test.ini:3:", "line too long");
}

Test(config_error, whole_cpu_check_names_the_section_line_and_the_parameter)
{
	EXPECT_LOAD_ERROR("\n[cpu a]\nbase = skylake\ndtlb = none\n", "test.ini:2:", "[cpu a]",
			  "dtlb: no array holds 4K pages");
	EXPECT_LOAD_ERROR("[cpu b]\nbase = zen2\ndtlb.4k = 64x4\n", "test.ini:1:", "4K pages are held by two arrays",
			  "dtlb.all", "dtlb.4k", "dtlb = none");
	EXPECT_LOAD_ERROR("[cpu c]\nbase = skylake\nstlb.1g_as_2m = yes\n", "test.ini:1:", "stlb.1g_as_2m");
}

Test(config_error, an_empty_section_is_still_checked)
{
	EXPECT_LOAD_ERROR("[cpu empty]\n", "test.ini:1:", "[cpu empty]", "dtlb");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\n[cpu empty]\n; only a comment\n", "test.ini:3:", "[cpu empty]");
}

Test(config_error, attribute_of_a_missing_array)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = i486\ndtlb.1g.latency = 2\n", "test.ini:3:", "dtlb.1g.latency",
			  "no array dtlb.1g");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = i486\nstlb.latency = 2\n", "test.ini:3:", "stlb.latency", "no arrays");
	EXPECT_LOAD_ERROR("[cpu a]\nbase = i486\npwc.policy = lru\n", "test.ini:3:", "pwc.policy", "no arrays");
}

Test(config_error, level_key_takes_only_none)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nstlb = 1536x12\n", "test.ini:3:", "stlb", "none");
}

Test(config_error, too_many_arrays_in_a_level)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\ndtlb = none\ndtlb.4k = 4x4\ndtlb.2m = 4x4\ndtlb.1g = 4x4\n"
			  "dtlb.4k2m = 4x4\ndtlb.2m1g = 4x4\n", "dtlb", "4 arrays");
}

Test(config_error, base_and_replace_are_checked)
{
	EXPECT_LOAD_ERROR("[cpu a]\nbase = skylake\nreplace = perhaps\n", "test.ini:3:", "replace");
}

Test(config_error, a_failed_file_leaves_the_registry_unchanged)
{
	load_ok("[cpu kept]\nbase = i486\n");
	EXPECT_LOAD_ERROR("[cpu good]\nbase = haswell\n[cpu kept]\nreplace = yes\nbase = zen2\n[cpu bad]\nbase = nothing\n",
			  "test.ini:7:");
	cr_expect_null(config_find_cpu(&reg, "good"));
	cr_expect(cpu("kept")->l1_unified, "not replaced");
}

Test(config_error, registry_full)
{
	size_t cap = 64 * (CONFIG_MAX_CPUS + 2);
	char *text = malloc(cap), *p = text;
	for (int i = 0; i < CONFIG_MAX_CPUS + 1; i++)
		p += sprintf(p, "[cpu c%d]\nbase = i486\n", i);
	char where[32];
	snprintf(where, sizeof where, "test.ini:%d:", 2 * CONFIG_MAX_CPUS + 1);
	EXPECT_LOAD_ERROR(text, where, "too many CPUs");
	*strstr(text, "[cpu c32]") = '\0';
	load_ok(text);
	cr_expect_eq(reg.n, CONFIG_MAX_CPUS);
	EXPECT_LOAD_ERROR("[cpu one-more]\nbase = i486\n", "too many CPUs");
	load_ok("[cpu c3]\nreplace = yes\nbase = zen2\n");   /* replacing needs no room */
	free(text);
}

/* ---------------------------------------------------------------- overrides ------------ */

Test(config_override, changes_one_field)
{
	struct mmu_config c = *mmu_preset("skylake");
	cr_assert(config_apply_override(&c, "stlb.4k2m=2048x16", err, sizeof err), "%s", err);
	cr_expect_eq(c.stlb.arrays[0].entries, 2048);
	cr_expect_eq(c.stlb.arrays[0].ways, 16);
	cr_assert(config_apply_override(&c, "  PT.Model = cache ", err, sizeof err), "%s", err);
	cr_expect_eq(c.pt_model, PT_LATENCY_CACHE);
	cr_assert(config_apply_override(&c, "source=measured on my laptop", err, sizeof err), "%s", err);
	cr_expect_str_eq(c.source, "measured on my laptop");
	cr_assert(config_apply_override(&c, "dtlb.4k2m1g=none", err, sizeof err), "%s", err);   /* absent: fine */
}

Test(config_override, errors_name_the_key_and_leave_the_config_unchanged)
{
	const struct mmu_config *s = mmu_preset("skylake");
	struct mmu_config c = *s;
	static const struct { const char *kv, *frag[2]; } bad[] = {
		{ "dtlb.4k=64x0", { "dtlb.4k", "ways must be at least 1" } },
		{ "stlb.4k2m=1000x12", { "stlb.4k2m", "divisible" } },
		{ "dtlb.4k.policy=mru", { "dtlb.4k.policy", "unknown policy" } },
		{ "foo.bar=1", { "foo.bar", "unknown key" } },
		{ "stlb.latency=nine", { "stlb.latency", "bad number" } },
		{ "dtlb=none", { "dtlb", "no array holds 4K pages" } },
		{ "fetch_bytes=3", { "fetch_bytes", "power of two" } },
		{ "base=haswell", { "base", "only valid in a [cpu NAME] section" } },
		{ "replace=yes", { "replace", "only valid" } },
		{ "cpi", { "cpi", "KEY=VALUE" } },
		{ "=5", { "=5", "KEY=VALUE" } },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_expect_not(config_apply_override(&c, bad[i].kv, err, sizeof err), "%s accepted", bad[i].kv);
		for (int f = 0; f < 2; f++)
			cr_expect_not_null(strstr(err, bad[i].frag[f]), "%s: \"%s\" lacks \"%s\"", bad[i].kv, err,
					   bad[i].frag[f]);
		assert_same_cpu(&c, s);
	}
}

Test(config_override, a_batch_applies_in_group_order_and_checks_once)
{
	struct mmu_config c = *mmu_preset("skylake");
	const char *ov[] = { "stlb.latency=5", "stlb=none", "stlb.4k2m=512x4" };
	cr_assert(config_apply_overrides(&c, ov, 3, err, sizeof err), "%s", err);
	cr_assert_eq(c.stlb.narrays, 1);
	cr_expect_eq(c.stlb.arrays[0].entries, 512);
	cr_expect_eq(c.stlb.arrays[0].latency, 5);
	/* an invalid intermediate state is fine in a batch, not one at a time */
	struct mmu_config d = *mmu_preset("skylake");
	const char *amd[] = { "dtlb=none", "dtlb.all=64,full" };
	cr_expect_not(config_apply_override(&d, amd[0], err, sizeof err));
	cr_assert(config_apply_overrides(&d, amd, 2, err, sizeof err), "%s", err);
	cr_expect_eq(d.dtlb.arrays[0].sizes, S4K | S2M | S1G);
	/* a batch whose result is invalid changes nothing */
	const char *worse[] = { "itlb=none", "cpi=2" };
	struct mmu_config e = *mmu_preset("haswell");
	cr_expect_not(config_apply_overrides(&e, worse, 2, err, sizeof err));
	cr_expect_not_null(strstr(err, "itlb"), "%s", err);
	cr_expect_float_eq(e.base_cpi, 1.0, 1e-12);
}

Test(config_override, new_arrays_inherit_or_take_defaults)
{
	struct mmu_config c = *mmu_preset("i486");
	const char *ov[] = { "stlb.4k=256x4", "pwc.pde=16x4", "dtlb.2m=8x4" };
	cr_assert(config_apply_overrides(&c, ov, 3, err, sizeof err), "%s", err);
	cr_expect_eq(c.stlb.arrays[0].latency, 8, "default STLB latency");
	cr_expect_eq(c.stlb.arrays[0].policy, TLB_POLICY_LRU);
	cr_expect_eq(c.pwc[1].latency, 1);
	cr_expect_str_eq(c.pwc[1].name, "pwc.pde");
	cr_expect_eq(c.dtlb.arrays[1].policy, TLB_POLICY_PLRU, "inherits the level's first array");
	cr_expect_str_eq(c.dtlb.arrays[1].name, "dtlb.2m");
}

/* ---------------------------------------------------------------- printing ------------- */

static char *print(const struct mmu_config *c, bool verbose)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_print_cpu(f, c, verbose);
	fclose(f);
	return text;
}

Test(config_print, summary_is_one_line)
{
	char *t = print(mmu_preset("skylake"), false);
	cr_expect_eq(strchr(t, '\n'), t + strlen(t) - 1, "%s", t);
	cr_expect_not_null(strstr(t, "skylake"), "%s", t);
	cr_expect_not_null(strstr(t, "4K2M:1536x12@9"), "%s", t);
	cr_expect_not_null(strstr(t, "(default)"), "%s", t);
	free(t);
	t = print(mmu_preset("i486"), false);
	cr_expect_not_null(strstr(t, "L1I = L1D"), "%s", t);
	cr_expect_not_null(strstr(t, "STLB none"), "%s", t);
	free(t);
}

Test(config_print, verbose_lists_every_array_and_cost)
{
	char *t = print(mmu_preset("skylake"), true);
	static const char *const want[] = { "cpu skylake (the default)", "source: ", "itlb.4k", "itlb.2m", "dtlb.4k",
					    "dtlb.2m", "dtlb.1g", "stlb.4k2m", "stlb.1g", "1536", "pwc.pde", "pwc.pml5e",
					    "fixed, 20 cycles", "base CPI 1", "PCID yes" };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect_not_null(strstr(t, want[i]), "lacks \"%s\":\n%s", want[i], t);
	free(t);
	t = print(mmu_preset("zen2"), true);
	cr_expect_not_null(strstr(t, "dtlb.all"), "%s", t);
	cr_expect_not_null(strstr(t, "full"), "%s", t);
	cr_expect_not_null(strstr(t, "1G pages as 2M"), "%s", t);
	free(t);
}

Test(config_print, every_preset_prints)
{
	unsigned np;
	const struct mmu_config *p = mmu_presets(&np);
	for (unsigned i = 0; i < np; i++) {
		free(print(&p[i], false));
		char *t = print(&p[i], true);
		cr_expect_not_null(strstr(t, p[i].name));
		free(t);
	}
}
