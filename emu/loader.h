/* loader.h — the initial address space and stack of a static ELF program (see loader.c). */
#ifndef MMUEMU_LOADER_H
#define MMUEMU_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "elf.h"
#include "kmodel.h"

struct loader_result {
	uint64_t entry;       /* relocated entry point */
	uint64_t sp;          /* initial stack pointer (points at argc) */
	uint64_t load_bias;   /* 0 for ET_EXEC */
	uint64_t start_code, end_code;
};

/* Maps img (backed by file) into mm and builds the initial stack with argv/envp/auxv.
 * exec_name is AT_EXECFN (the path as given). 0, or a negative errno with a message in err. */
int loader_load(struct loader_result *out, struct km *km, struct mm_struct *mm,
		const struct elf_image *img, struct km_file *file, const char *exec_name,
		int argc, char **argv, char **envp, char *err, size_t errlen);

#endif
