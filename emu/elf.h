/*
 * emu/elf.h — reads and validates a static i386 or x86-64 Linux ELF executable and turns it into
 * a load plan (which bytes of the file go where, with which protection). It maps nothing: the
 * loader hands the plan to the kernel model. libc only; no Unicorn here.
 *
 * What is accepted: ET_EXEC and static-PIE ET_DYN images for ELFCLASS32 + EM_386 or
 * ELFCLASS64 + EM_X86_64, little-endian, OS ABI System V or GNU/Linux, without PT_INTERP and
 * without DT_NEEDED. Everything else is refused with a one-line reason. The rules and the Linux
 * code they follow are listed at the top of elf.c.
 *
 * Include note: this file shares its name with the C library's <elf.h>. If a build puts emu/ on
 * the include path (meson does so for targets defined in emu/meson.build), then
 * `#include <elf.h>` finds this file. Include this header first (as "elf.h" or "emu/elf.h");
 * a later `#include <elf.h>` then lands in the #else branch at the bottom, which forwards to the
 * system header with #include_next. Nothing here needs the system header itself.
 */
#ifndef MMUEMU_EMU_ELF_H
#define MMUEMU_EMU_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The page size the ELF rules are checked against: x86 ELF_MIN_ALIGN (= PAGE_SIZE) in
 * fs/binfmt_elf.c. Large pages do not change it. */
#define ELF_PAGE_SIZE 4096u
#define ELF_PAGESTART(v) ((uint64_t)(v) & ~(uint64_t)(ELF_PAGE_SIZE - 1))
#define ELF_PAGEOFFSET(v) ((uint64_t)(v) & (uint64_t)(ELF_PAGE_SIZE - 1))
/* Rounds up to a page boundary. Callers make sure v + ELF_PAGE_SIZE - 1 cannot wrap; every
 * address in a parsed struct elf_image satisfies that. */
#define ELF_PAGEALIGN(v) (((uint64_t)(v) + ELF_PAGE_SIZE - 1) & ~(uint64_t)(ELF_PAGE_SIZE - 1))

/* User address-space limits (TASK_SIZE, see linux-mm-facts.md §5.4): a PT_LOAD of an ET_EXEC
 * must end at or below it, and an ET_DYN image must not span more than it. */
#define ELF_TASK_SIZE_I386 0xC0000000ull       /* PAGE_OFFSET with the 3G/1G split */
#define ELF_TASK_SIZE_X86_64 0x7ffffffff000ull /* (1 << 47) - 4096, 4-level paging */

/* Largest program header table Linux reads: one page (load_elf_phdrs in fs/binfmt_elf.c
 * rejects e_phnum * e_phentsize > ELF_MIN_ALIGN). That is 128 entries for ELF32 and 73 for
 * ELF64. */
#define ELF_MAX_PHDR_BYTES 4096u

#define ELF_MAX_SEGMENTS 32

enum elf_status {
	ELF_OK = 0,
	ELF_MALFORMED, /* an x86 Linux ELF executable, but broken or beyond what we support */
	ELF_FOREIGN,   /* not for us: not ELF at all, wrong class/machine/OS ABI/endianness/type */
	ELF_DYNAMIC,   /* needs a dynamic linker: PT_INTERP, or DT_NEEDED in PT_DYNAMIC */
	ELF_IO,        /* elf_file_open only: the file could not be opened or read */
};

/* One PT_LOAD, as in the file (unrelocated for ET_DYN). The loader maps file bytes
 * [offset, offset + filesz) at vaddr and zero-fills up to vaddr + memsz, like elf_map() plus
 * padzero()/set_brk in fs/binfmt_elf.c. */
struct elf_segment {
	uint64_t vaddr;  /* p_vaddr; any alignment */
	uint64_t memsz;  /* p_memsz >= filesz; may be 0 */
	uint64_t offset; /* p_offset; ≡ vaddr mod ELF_PAGE_SIZE whenever filesz > 0 */
	uint64_t filesz; /* p_filesz; offset + filesz <= file size */
	uint64_t align;  /* p_align as given (information; not validated) */
	unsigned prot;   /* PROT_READ|PROT_WRITE|PROT_EXEC from PF_R|PF_W|PF_X, nothing added */
};

/* The load plan. All addresses are link-time addresses: for ET_DYN the loader adds its load
 * bias to entry, phdr_vaddr, seg[].vaddr, min/max_vaddr, dynamic_vaddr and tls_vaddr. */
struct elf_image {
	bool is64;        /* ELFCLASS64 + EM_X86_64, else ELFCLASS32 + EM_386 */
	uint16_t type;    /* ET_EXEC, or ET_DYN (static-PIE, or a loader such as ld.so) */
	uint64_t entry;   /* e_entry; lies inside some seg[] */
	/* The segment holding entry has PF_X. When false the loader may warn: the guest faults
	 * at once unless read_implies_exec is set or the paging mode has no NX (i386 2-level). */
	bool entry_exec;
	uint64_t phoff;   /* e_phoff */
	uint16_t phnum;   /* e_phnum (AT_PHNUM) */
	uint16_t phentsize; /* e_phentsize == sizeof(ElfN_Phdr) (AT_PHENT) */
	/* Where the program headers are in memory (AT_PHDR minus the load bias); 0 if no segment
	 * maps them. Rule: see the top of elf.c. */
	uint64_t phdr_vaddr;
	/* PT_LOAD only, in file order = ascending vaddr; no two non-empty ones touch the same
	 * page. nseg is 1..ELF_MAX_SEGMENTS. */
	struct elf_segment seg[ELF_MAX_SEGMENTS];
	unsigned nseg;
	/* [min_vaddr, max_vaddr) = [ELF_PAGESTART(seg[0].vaddr), ELF_PAGEALIGN(highest
	 * vaddr + memsz)): the image span, total_mapping_size() rounded up to pages. */
	uint64_t min_vaddr, max_vaddr;
	/* Largest power-of-two p_align of the PT_LOADs, page-aligned, at least ELF_PAGE_SIZE
	 * (maximum_alignment() in fs/binfmt_elf.c): for placing an ET_DYN. */
	uint64_t load_align;
	bool has_gnu_stack; /* a PT_GNU_STACK header exists */
	/* The stack VMA gets VM_EXEC: PT_GNU_STACK's PF_X if present; without PT_GNU_STACK true
	 * for i386 and false for x86-64 (Linux >= 5.8, see elf.c). */
	bool exec_stack;
	/* Personality READ_IMPLIES_EXEC: i386 without PT_GNU_STACK. Every PROT_READ mapping
	 * (segments, and later mmaps: do_mmap adds PROT_EXEC) is then executable. seg[].prot
	 * does NOT include it; the loader applies it. */
	bool read_implies_exec;
	bool has_dynamic;       /* PT_DYNAMIC present: a static-PIE, which relocates itself */
	uint64_t dynamic_vaddr; /* its p_vaddr; 0 if none */
	bool has_tls;           /* PT_TLS present (information only; libc sets TLS up itself) */
	uint64_t tls_vaddr, tls_filesz, tls_memsz, tls_align;
	uint64_t file_size; /* size of the buffer that was parsed */
};

/* Parses and validates the ELF image data[0 .. size). Never reads outside that range and never
 * writes outside *img and err[0 .. errlen).
 * Returns ELF_OK and fills *img, or another status with *img zeroed and a one-line,
 * human-readable reason (no trailing newline, truncated to fit, always NUL-terminated when
 * errlen > 0) in err. err may be NULL when errlen is 0. Bad magic (including an empty buffer)
 * is ELF_FOREIGN ("not an ELF file (bad magic)"). */
enum elf_status elf_parse(const uint8_t *data, size_t size, struct elf_image *img, char *err,
			  size_t errlen);

/* A file held open for the loader. data/size: the whole file, read into memory (malloc). fd:
 * read-only descriptor kept open, because the kernel model reads file pages through it. */
struct elf_file {
	uint8_t *data;
	size_t size;
	int fd;
};

/* Opens path, reads it whole and runs elf_parse on it. Whatever the result, *f is valid for
 * elf_file_close afterwards; on any status other than ELF_OK it is already closed ({NULL, 0,
 * -1}). Errors are ELF_IO for open/stat/read failures (with strerror), a directory, a file that
 * is not a regular file (FIFOs and devices are refused without reading them) and an empty file;
 * otherwise elf_parse's status. Every message is prefixed with "path: ". */
enum elf_status elf_file_open(const char *path, struct elf_file *f, struct elf_image *img,
			      char *err, size_t errlen);

/* Frees the buffer and closes the descriptor of a struct filled by elf_file_open; idempotent.
 * Do not call it on a struct that elf_file_open never saw (fd 0 would be closed). */
void elf_file_close(struct elf_file *f);

/* "ELF_OK", "ELF_MALFORMED", ... ; "ELF_(unknown status)" for anything else. */
const char *elf_status_name(enum elf_status st);

/* Self-check: walks a parsed image and returns NULL if every invariant documented above holds
 * (segment count, order, page-disjointness, filesz <= memsz, file ranges within file_size,
 * congruence, span, entry inside a segment), else a static string naming the first broken one.
 * elf_parse only returns images that pass; tests call it after every case. */
const char *elf_image_check(const struct elf_image *img);

#else /* MMUEMU_EMU_ELF_H already defined */
/* Reached when emu/ is on the include path and a file asks for <elf.h> after this header: the
 * caller wants the C library's ELF definitions, so fetch them from the rest of the path. */
#include_next <elf.h>
#endif /* MMUEMU_EMU_ELF_H */
