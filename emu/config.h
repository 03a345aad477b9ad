/* config.h — CPU configurations beyond the built-in presets: INI files (read with inih),
 * `key=value` overrides, and printing a configuration as a table or as an INI section.
 *
 * A file holds any number of sections `[cpu NAME]`; each defines a CPU, starting from the
 * preset or earlier-defined CPU named by `base = …` or, without `base`, from an empty CPU (no
 * TLB arrays; docs/cpus.md lists its defaults). Every field of struct mmu_config has a key;
 * docs/cpus.md is the reference, with an example file. In short:
 *
 *   base = skylake            replace = yes|no          source = text (may repeat: joined)
 *   itlb|dtlb|stlb = none     (drop every array of the level)
 *   LEVEL.SIZES = ENTRIESxWAYS | ENTRIES,full | none
 *       LEVEL: itlb, dtlb, stlb; SIZES: 4k, 2m (also 4M pages), 1g, any concatenation
 *       (4k2m, 2m1g) or all. One array per SIZES; arrays of a level must not share a size.
 *   LEVEL.SIZES.latency|policy|seed = N | lru|plru|fifo|random | N
 *   LEVEL.latency|policy|seed = …   (every array of the level)
 *   pwc = none;  pwc.pde|pdpte|pml4e|pml5e = ENTRIESxWAYS | ENTRIES,full | none
 *   pwc.X.latency|policy|seed, pwc.latency|policy|seed
 *   pt.model = fixed|cache   pt.latency = N   pt.l1|pt.l2|pt.llc = LINESxWAYS@LATENCY | none
 *   pt.dram = N   cpi = X   dirty_assist = N   fetch_bytes = N   pcid = yes|no
 *   pdpe1gb = yes|no   l1_unified = yes|no   stlb.data_only = yes|no   stlb.1g_as_2m = yes|no
 *
 * Keys may come in any order: within a section (and within one config_apply_overrides call)
 * `base` and `replace` are applied first, then `LEVEL = none`, then array geometries, then
 * everything else; within each group, in the order written. A new array takes the latency and
 * policy of the level's first array (defaults: latency 1 for L1 and page-walk caches, 8 for the
 * STLB; policy lru).
 *
 * Errors are host/configuration errors: a false return with one message, never an abort.
 */
#ifndef MMUEMU_CONFIG_H
#define MMUEMU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mmu_config.h"

#define CONFIG_MAX_CPUS 32   /* CPUs a registry holds (from all files loaded into it) */

/* CPUs loaded from configuration files. Zero it (or config_registry_init) before first use.
 * cpu[0..n) in the order they were first defined. */
struct config_registry {
	unsigned n;
	struct mmu_config cpu[CONFIG_MAX_CPUS];
};

void config_registry_init(struct config_registry *reg);

/* Loads every [cpu NAME] section of path into reg. Each CPU is checked with mmu_config_valid
 * when its section ends. A name already defined (a preset, a CPU loaded earlier, or an earlier
 * section of this file) is an error unless the section says `replace = yes`; the new definition
 * then shadows the old one in config_find_cpu. All or nothing: on any error reg is unchanged and
 * err gets "path:LINE: message" — unknown key, bad number, bad geometry, unknown policy, unknown
 * base, unknown section, duplicate name or key, line too long (inih's limit), syntax error — the
 * message naming the key (or, for a whole-CPU check, the section's line and the parameter). */
bool config_load_file(struct config_registry *reg, const char *path, char *err, size_t errlen);
/* The same from an open stream; `name` stands for the path in messages. */
bool config_load_stream(struct config_registry *reg, FILE *f, const char *name, char *err, size_t errlen);

/* Finds a CPU by name (any case) in reg (may be NULL), then in the presets; NULL if unknown. */
const struct mmu_config *config_find_cpu(const struct config_registry *reg, const char *name);
/* Every CPU config_find_cpu can find, each once: the presets in their order (a preset replaced
 * in reg appears as reg's version), then reg's other CPUs. Writes at most max pointers to out;
 * returns how many there are. */
unsigned config_list_cpus(const struct config_registry *reg, const struct mmu_config **out, unsigned max);

/* Prints reg's CPUs, one summary line each (config_print_cpu, not verbose) under the heading
 * "CPUs from configuration files:", a replaced preset marked "(replaces the preset)"; prints
 * nothing if reg is NULL or empty. */
void config_registry_print(const struct config_registry *reg, FILE *out);

/* Applies one override "key=value" (the file's keys, except base and replace) to c, then checks
 * the result with mmu_config_valid. On any error c is unchanged and err names the key. */
bool config_apply_override(struct mmu_config *c, const char *kv, char *err, size_t errlen);
/* Applies n overrides together, in the order a file section would (so "stlb = none" with
 * "stlb.4k2m = 512x4" works, and an intermediate state may be invalid), then checks the result
 * once. On any error c is unchanged. */
bool config_apply_overrides(struct mmu_config *c, const char *const *kvs, unsigned n, char *err, size_t errlen);

/* Prints one CPU. verbose: a table of every array and every cost parameter with the source;
 * otherwise one line: "NAME  L1D … | L1I … | STLB … | PWC …" (used by `mmuemu cpus`). */
void config_print_cpu(FILE *out, const struct mmu_config *c, bool verbose);
/* Writes c as an INI section `[cpu NAME]` without `base`, which config_load_* reads back into
 * an identical configuration (a starting point for a new file; the tests round-trip presets). */
void config_write_cpu(FILE *out, const struct mmu_config *c);

#endif
