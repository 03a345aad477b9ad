/* test_presets.c — the built-in CPU presets (mmu/cpu_presets.c) match the published figures in
 * the design's cpu-data.md, and mmu_config_valid rejects each kind of bad configuration with a
 * message that names the parameter. mmu_config.h is included first: it compiles on its own. */
#include "mmu_config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define S4K TLB_SIZE_BIT(TLB_4K)
#define S2M TLB_SIZE_BIT(TLB_2M)
#define S1G TLB_SIZE_BIT(TLB_1G)

static const struct mmu_config *preset(const char *name)
{
	const struct mmu_config *c = mmu_preset(name);
	cr_assert_not_null(c, "preset %s missing", name);
	return c;
}

/* The array of a level holding exactly `sizes`, or NULL. */
static const struct tlb_array_config *array_of(const struct tlb_level_config *l, unsigned sizes)
{
	for (unsigned i = 0; i < l->narrays; i++)
		if (l->arrays[i].sizes == sizes)
			return &l->arrays[i];
	return NULL;
}

static void assert_geometry(const struct tlb_level_config *l, unsigned sizes, unsigned entries, unsigned ways,
			    unsigned latency)
{
	const struct tlb_array_config *a = array_of(l, sizes);
	cr_assert_not_null(a, "no array for sizes 0x%x", sizes);
	cr_expect_eq(a->entries, entries, "%s: entries %u, expected %u", a->name, a->entries, entries);
	cr_expect_eq(a->ways, ways, "%s: ways %u, expected %u", a->name, a->ways, ways);
	cr_expect_eq(a->latency, latency, "%s: latency %u, expected %u", a->name, a->latency, latency);
}

/* ChampSim's page-walk caches: PML5 1x2, PML4 1x4, PDPT 2x4, PD 4x8 (sets x ways), 1 cycle. */
static void assert_champsim_pwc(const struct mmu_config *c)
{
	static const unsigned entries[MMU_PWC_LEVELS] = { 0, 32, 8, 4, 2 }, ways[MMU_PWC_LEVELS] = { 0, 8, 4, 4, 2 };
	cr_expect_eq(c->pwc[0].entries, 0);
	for (unsigned p = 1; p < MMU_PWC_LEVELS; p++) {
		cr_expect_eq(c->pwc[p].entries, entries[p], "%s pwc[%u]", c->name, p);
		cr_expect_eq(c->pwc[p].ways, ways[p], "%s pwc[%u]", c->name, p);
		cr_expect_eq(c->pwc[p].latency, 1);
	}
}

/* Checks c and expects failure with every fragment in the message. */
#define EXPECT_INVALID(c, ...)                                                                  \
	do {                                                                                    \
		char err_[256] = "";                                                            \
		cr_assert_not(mmu_config_valid((c), err_, sizeof err_), "accepted");            \
		const char *frags_[] = { __VA_ARGS__ };                                         \
		for (size_t i_ = 0; i_ < sizeof frags_ / sizeof frags_[0]; i_++)                \
			cr_expect_not_null(strstr(err_, frags_[i_]), "message \"%s\" lacks \"%s\"", \
					   err_, frags_[i_]);                                   \
	} while (0)

Test(presets, every_preset_is_valid)
{
	unsigned n = 0;
	const struct mmu_config *p = mmu_presets(&n);
	cr_assert_geq(n, 5);
	for (unsigned i = 0; i < n; i++) {
		char err[256] = "";
		cr_expect(mmu_config_valid(&p[i], err, sizeof err), "%s: %s", p[i].name, err);
	}
}

Test(presets, list_has_the_five_cores_with_unique_names)
{
	static const char *const want[] = { "i486", "core2", "haswell", "skylake", "zen2" };
	unsigned n = 0;
	const struct mmu_config *p = mmu_presets(&n);
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++)
		cr_expect_eq(mmu_preset(want[w]), &p[w], "%s not at position %zu", want[w], w);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			cr_expect_neq(strcmp(p[i].name, p[j].name), 0);
}

Test(presets, default_is_skylake)
{
	cr_assert_str_eq(mmu_default_preset(), "skylake");
	cr_assert_not_null(mmu_preset(mmu_default_preset()));
}

Test(presets, lookup_ignores_case_and_rejects_unknown_names)
{
	cr_expect_eq(mmu_preset("SkyLake"), mmu_preset("skylake"));
	cr_expect_null(mmu_preset("pentium4"));
	cr_expect_null(mmu_preset(""));
	cr_expect_null(mmu_preset(NULL));
	unsigned n = 0;
	cr_expect_not_null(mmu_presets(NULL));
	mmu_presets(&n);
	cr_expect_gt(n, 0);
}

Test(presets, every_preset_cites_a_source_and_names_arrays_by_key)
{
	unsigned n = 0;
	const struct mmu_config *p = mmu_presets(&n);
	for (unsigned i = 0; i < n; i++) {
		cr_expect_gt(strlen(p[i].source), 20, "%s: no source", p[i].name);
		/* a source must survive an INI round trip: " ;" would start an inline comment */
		cr_expect_null(strstr(p[i].source, " ;"), "%s", p[i].name);
		const struct tlb_level_config *lv[3] = { &p[i].itlb, &p[i].dtlb, &p[i].stlb };
		static const char *const prefix[3] = { "itlb.", "dtlb.", "stlb." };
		for (int l = 0; l < 3; l++)
			for (unsigned a = 0; a < lv[l]->narrays; a++)
				cr_expect_eq(strncmp(lv[l]->arrays[a].name, prefix[l], 5), 0, "%s: array %s", p[i].name,
					     lv[l]->arrays[a].name);
		for (unsigned q = 1; q < MMU_PWC_LEVELS; q++)
			if (p[i].pwc[q].entries)
				cr_expect_eq(strncmp(p[i].pwc[q].name, "pwc.", 4), 0);
	}
}

Test(presets, skylake_matches_cpu_data)
{
	const struct mmu_config *c = preset("skylake");
	cr_expect_eq(c->dtlb.narrays, 3);
	assert_geometry(&c->dtlb, S4K, 64, 4, 1);
	assert_geometry(&c->dtlb, S2M, 32, 4, 1);
	assert_geometry(&c->dtlb, S1G, 4, 4, 1);
	cr_expect_eq(c->itlb.narrays, 2);
	assert_geometry(&c->itlb, S4K, 128, 8, 1);
	assert_geometry(&c->itlb, S2M, 8, 8, 1);          /* fully associative */
	cr_expect_eq(c->stlb.narrays, 2);
	assert_geometry(&c->stlb, S4K | S2M, 1536, 12, 9);
	assert_geometry(&c->stlb, S1G, 16, 4, 9);
	assert_champsim_pwc(c);
	cr_expect(c->pcid);
	cr_expect(c->pdpe1gb);
	cr_expect_eq(c->itlb_fetch_bytes, 16);
	cr_expect_eq(c->pt_model, PT_LATENCY_FIXED);
	cr_expect_eq(c->pt_read_latency, 20);
	cr_expect_eq(c->pt_cache.l1.lines, 64);
	cr_expect_eq(c->pt_cache.l2.lines, 512);
	cr_expect_eq(c->pt_cache.llc.lines, 8192);
	cr_expect_eq(c->pt_cache.dram_latency, 200);
	cr_expect_float_eq(c->base_cpi, 1.0, 1e-12);
	cr_expect_eq(c->dirty_assist, 30);
	cr_expect_not(c->l1_unified || c->stlb_data_only || c->stlb_1g_as_2m);
}

Test(presets, haswell_matches_cpu_data)
{
	const struct mmu_config *c = preset("haswell");
	assert_geometry(&c->dtlb, S4K, 64, 4, 1);
	assert_geometry(&c->dtlb, S2M, 32, 4, 1);
	assert_geometry(&c->dtlb, S1G, 4, 4, 1);
	assert_geometry(&c->itlb, S4K, 128, 8, 1);
	assert_geometry(&c->itlb, S2M, 8, 8, 1);
	cr_expect_eq(c->stlb.narrays, 1, "Haswell's STLB has no 1G array");
	assert_geometry(&c->stlb, S4K | S2M, 1024, 8, 12);
	assert_champsim_pwc(c);
	cr_expect_eq(c->pt_read_latency, 20);    /* STLB miss ≈ +20 cycles with tables in cache */
	cr_expect(c->pcid);
	cr_expect(c->pdpe1gb);
}

Test(presets, zen2_matches_cpu_data)
{
	const struct mmu_config *c = preset("zen2");
	cr_expect_eq(c->dtlb.narrays, 1);
	assert_geometry(&c->dtlb, S4K | S2M | S1G, 64, 64, 1);   /* one fully associative array */
	cr_expect_eq(c->itlb.narrays, 1);
	assert_geometry(&c->itlb, S4K | S2M | S1G, 64, 64, 1);
	cr_expect_eq(c->stlb.narrays, 1);
	/* 2048 x 12 is published but not a whole number of sets: capacity kept, 16-way */
	assert_geometry(&c->stlb, S4K | S2M, 2048, 16, 7);
	cr_expect(c->stlb_1g_as_2m, "1G pages are held as 2M in the L2 DTLB");
	cr_expect_eq(c->itlb_fetch_bytes, 32);
	cr_expect_not(c->pcid, "PCID arrived with Zen 3");
	cr_expect(c->pdpe1gb);
	assert_champsim_pwc(c);
}

Test(presets, core2_matches_optimization_manual)
{
	const struct mmu_config *c = preset("core2");
	assert_geometry(&c->dtlb, S4K, 16, 4, 1);     /* DTLB0 */
	assert_geometry(&c->dtlb, S2M, 16, 4, 1);
	assert_geometry(&c->stlb, S4K, 256, 4, 2);    /* DTLB1: a DTLB0 miss that hits costs 2 cycles */
	assert_geometry(&c->stlb, S2M, 32, 4, 2);
	assert_geometry(&c->itlb, S4K, 128, 4, 1);
	cr_expect(c->stlb_data_only, "DTLB1 serves data only");
	cr_expect_eq(c->pwc[1].entries, 32, "a PDE cache");
	for (unsigned p = 2; p < MMU_PWC_LEVELS; p++)
		cr_expect_eq(c->pwc[p].entries, 0);
	cr_expect_not(c->pcid);
	cr_expect_not(c->pdpe1gb);
}

Test(presets, i486_has_one_unified_32_entry_tlb)
{
	const struct mmu_config *c = preset("i486");
	cr_expect_eq(c->dtlb.narrays, 1);
	assert_geometry(&c->dtlb, S4K, 32, 4, 1);
	cr_expect_eq(c->itlb.narrays, 1);
	assert_geometry(&c->itlb, S4K, 32, 4, 1);
	cr_expect(c->l1_unified);
	cr_expect_eq(c->stlb.narrays, 0);
	for (unsigned p = 0; p < MMU_PWC_LEVELS; p++)
		cr_expect_eq(c->pwc[p].entries, 0);
	cr_expect_not(c->pcid);
	cr_expect_not(c->pdpe1gb);
	cr_expect_float_eq(c->base_cpi, 2.0, 1e-12);
}

/* ---------------------------------------------------------------- mmu_config_valid ------ */

Test(config_valid, rejects_zero_ways_naming_the_array)
{
	struct mmu_config c = *preset("skylake");
	c.dtlb.arrays[0].ways = 0;
	EXPECT_INVALID(&c, "dtlb.4k", "ways");
}

Test(config_valid, rejects_entries_not_divisible_by_ways)
{
	struct mmu_config c = *preset("skylake");
	c.stlb.arrays[0].ways = 7;
	EXPECT_INVALID(&c, "stlb.4k2m", "1536", "7");
}

Test(config_valid, rejects_an_array_with_no_entries_or_too_many)
{
	struct mmu_config c = *preset("skylake");
	c.itlb.arrays[1].entries = 0;
	EXPECT_INVALID(&c, "itlb.2m", "entries");
	c = *preset("skylake");
	c.itlb.arrays[0].entries = 1u << 24;
	c.itlb.arrays[0].ways = 8;
	EXPECT_INVALID(&c, "itlb.4k", "entries");
}

Test(config_valid, rejects_unknown_policy_and_page_size_bits)
{
	struct mmu_config c = *preset("haswell");
	c.stlb.arrays[0].policy = (enum tlb_policy)99;
	EXPECT_INVALID(&c, "stlb.4k2m", "policy");
	c = *preset("haswell");
	c.dtlb.arrays[2].sizes = 0x10;
	EXPECT_INVALID(&c, "dtlb.1g");
}

Test(config_valid, rejects_a_page_size_held_by_two_arrays_of_a_level)
{
	struct mmu_config c = *preset("zen2");
	c.dtlb.arrays[1] = (struct tlb_array_config){ .name = "dtlb.4k", .entries = 64, .ways = 4,
						       .sizes = S4K, .latency = 1 };
	c.dtlb.narrays = 2;
	EXPECT_INVALID(&c, "dtlb", "4K", "dtlb.all", "dtlb.4k");
}

Test(config_valid, rejects_an_l1_without_4k_pages)
{
	struct mmu_config c = *preset("skylake");
	c.dtlb.arrays[0] = c.dtlb.arrays[2];
	c.dtlb.narrays = 1;
	EXPECT_INVALID(&c, "dtlb", "4K");
	c = *preset("skylake");
	c.itlb.narrays = 0;
	EXPECT_INVALID(&c, "itlb", "4K");
}

Test(config_valid, unified_l1_needs_no_itlb)
{
	struct mmu_config c = *preset("i486");
	c.itlb.narrays = 0;
	char err[256] = "";
	cr_expect(mmu_config_valid(&c, err, sizeof err), "%s", err);
	c.l1_unified = false;
	EXPECT_INVALID(&c, "itlb");
}

Test(config_valid, rejects_too_many_arrays_in_a_level)
{
	struct mmu_config c = *preset("skylake");
	c.dtlb.narrays = MMU_MAX_ARRAYS + 1;
	EXPECT_INVALID(&c, "dtlb", "arrays");
}

Test(config_valid, array_without_a_name_is_named_by_position)
{
	struct mmu_config c = *preset("skylake");
	c.stlb.arrays[1].name[0] = '\0';
	c.stlb.arrays[1].ways = 0;
	EXPECT_INVALID(&c, "stlb[1]", "ways");
}

Test(config_valid, rejects_sizes_of_page_walk_caches_and_slot_zero)
{
	struct mmu_config c = *preset("skylake");
	c.pwc[1].ways = 5;
	EXPECT_INVALID(&c, "pwc.pde", "divisible");
	c = *preset("skylake");
	c.pwc[0] = c.pwc[1];
	EXPECT_INVALID(&c, "pwc[0]");
	c = *preset("skylake");
	c.pwc[3].latency = 5000;
	EXPECT_INVALID(&c, "pwc.pml4e.latency");
}

Test(config_valid, rejects_insane_latencies)
{
	struct mmu_config c = *preset("skylake");
	c.pt_read_latency = 0;
	EXPECT_INVALID(&c, "pt.latency");
	c = *preset("skylake");
	c.stlb.arrays[0].latency = 100000;
	EXPECT_INVALID(&c, "stlb.4k2m.latency");
	c = *preset("skylake");
	c.dirty_assist = 1000000;
	EXPECT_INVALID(&c, "dirty_assist");
}

Test(config_valid, checks_the_page_table_cache_model)
{
	struct mmu_config c = *preset("skylake");
	c.pt_model = PT_LATENCY_CACHE;
	char err[256] = "";
	cr_expect(mmu_config_valid(&c, err, sizeof err), "%s", err);
	c.pt_cache.dram_latency = 0;
	EXPECT_INVALID(&c, "pt.dram");
	c = *preset("skylake");
	c.pt_cache.l2.ways = 7;
	EXPECT_INVALID(&c, "pt.l2", "divisible");
	c = *preset("skylake");
	c.pt_cache.llc.latency = 0;
	EXPECT_INVALID(&c, "pt.llc", "latency");
	c = *preset("skylake");
	c.pt_model = (enum pt_latency_model)7;
	EXPECT_INVALID(&c, "pt.model");
	/* a removed level is fine */
	c = *preset("skylake");
	c.pt_model = PT_LATENCY_CACHE;
	c.pt_cache.llc = (struct pt_cache_level_config){ 0, 0, 0 };
	cr_expect(mmu_config_valid(&c, err, sizeof err), "%s", err);
}

Test(config_valid, rejects_bad_cpi_and_fetch_size)
{
	struct mmu_config c = *preset("skylake");
	c.base_cpi = 0.0;
	EXPECT_INVALID(&c, "cpi");
	c.base_cpi = NAN;
	EXPECT_INVALID(&c, "cpi");
	c = *preset("skylake");
	c.itlb_fetch_bytes = 24;
	EXPECT_INVALID(&c, "fetch_bytes", "power of two");
	c.itlb_fetch_bytes = 0;
	EXPECT_INVALID(&c, "fetch_bytes");
}

Test(config_valid, quirk_flags_must_match_the_arrays)
{
	struct mmu_config c = *preset("skylake");
	c.stlb_1g_as_2m = true;       /* Skylake's STLB has a 1G array */
	EXPECT_INVALID(&c, "stlb.1g_as_2m", "1G");
	c = *preset("i486");
	c.stlb_1g_as_2m = true;
	EXPECT_INVALID(&c, "stlb.1g_as_2m", "2M");
	c = *preset("i486");
	c.stlb_data_only = true;
	EXPECT_INVALID(&c, "stlb.data_only");
}

Test(config_valid, rejects_empty_name)
{
	struct mmu_config c = *preset("skylake");
	c.name[0] = '\0';
	EXPECT_INVALID(&c, "name");
}
