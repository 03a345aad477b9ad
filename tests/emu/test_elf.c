/*
 * Unit tests for emu/elf.c, the ELF parser and validator.
 *
 * Inputs:
 *  - model images: a small, valid static executable described by struct model (ELF header
 *    fields plus program headers in class-independent form) and rendered with <elf.h>'s
 *    Elf32/Elf64 structs. Each validation test takes the valid model, breaks one thing, and
 *    checks the status and that the message names the problem. Most tests run for both classes.
 *  - real binaries built by tests/emu/meson.build (static and static-PIE, i386 and x86-64; their
 *    paths arrive as ELF_TEST_* macros, and a missing one skips its tests) and /bin/true.
 *  - truncations at every offset of the first 4 KiB, and around the end of the last PT_LOAD's
 *    file bytes, and thousands of random byte flips in the headers (fixed seed).
 *
 * Every buffer handed to elf_parse is a heap copy of exactly the size passed, so an ASan build
 * catches any read past the end; the truncation tests additionally put the copy right before a
 * PROT_NONE page, so an over-read crashes even without ASan. Every ELF_OK result is run through
 * elf_image_check() and through the independent checks in check_plan().
 */
#include "emu/elf.h" /* first: see the include note in emu/elf.h */
#include <elf.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRLEN 512
#define PAGE 0x1000u

/* ---- model images --------------------------------------------------------------------------- */

struct mph {
	uint32_t type, flags;
	uint64_t offset, vaddr, filesz, memsz, align;
};

struct blob {
	uint64_t off;
	const void *bytes;
	size_t len;
};

#define MODEL_MAX_PH 140

struct model {
	bool is64;
	uint8_t ident[EI_NIDENT];
	uint16_t type, machine, phentsize,
		phnum; /* phnum is written as is; nph entries are written */
	uint32_t version;
	uint64_t entry, phoff;
	struct mph ph[MODEL_MAX_PH];
	unsigned nph;
	size_t size;         /* file size */
	struct blob blob[4]; /* extra bytes: PT_INTERP string, dynamic section, ... */
	unsigned nblob;
	uint8_t dynbuf[256]; /* storage for a rendered dynamic section */
};

static uint64_t model_base(bool is64)
{
	return is64 ? 0x400000 : 0x08048000;
}

static unsigned add_ph(struct model *m, uint32_t type, uint32_t flags, uint64_t offset,
		       uint64_t vaddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	cr_assert_lt(m->nph, MODEL_MAX_PH);
	m->ph[m->nph] = (struct mph){ type, flags, offset, vaddr, filesz, memsz, align };
	m->phnum = (uint16_t)(m->nph + 1);
	return m->nph++;
}

/* The valid baseline: headers (R), text (RX, entry inside), data+bss (RW), PT_GNU_STACK (RW).
 *   LOAD R   off 0x0000 vaddr base+0x0000 filesz 0x1000 memsz 0x1000
 *   LOAD RX  off 0x1000 vaddr base+0x1000 filesz 0x1000 memsz 0x1000
 *   LOAD RW  off 0x2000 vaddr base+0x2000 filesz 0x0800 memsz 0x2000
 * File size 0x2800: the last byte of the file is the last byte of the data segment. */
static void model_init(struct model *m, bool is64)
{
	memset(m, 0, sizeof *m);
	const uint64_t base = model_base(is64);
	m->is64 = is64;
	memcpy(m->ident, ELFMAG, SELFMAG);
	m->ident[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	m->ident[EI_DATA] = ELFDATA2LSB;
	m->ident[EI_VERSION] = EV_CURRENT;
	m->ident[EI_OSABI] = ELFOSABI_SYSV;
	m->type = ET_EXEC;
	m->machine = is64 ? EM_X86_64 : EM_386;
	m->version = EV_CURRENT;
	m->phoff = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	m->phentsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	add_ph(m, PT_LOAD, PF_R, 0, base, 0x1000, 0x1000, PAGE);
	add_ph(m, PT_LOAD, PF_R | PF_X, 0x1000, base + 0x1000, 0x1000, 0x1000, PAGE);
	add_ph(m, PT_LOAD, PF_R | PF_W, 0x2000, base + 0x2000, 0x800, 0x2000, PAGE);
	add_ph(m, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 16);
	m->entry = base + 0x1010;
	m->size = 0x2800;
}

/* Index of the n-th program header of the given type. */
static unsigned ph_index(const struct model *m, uint32_t type, unsigned n)
{
	for (unsigned i = 0; i < m->nph; i++)
		if (m->ph[i].type == type && n-- == 0)
			return i;
	cr_assert_fail("model has no such program header");
	return 0;
}

static void add_blob(struct model *m, uint64_t off, const void *bytes, size_t len)
{
	cr_assert_lt(m->nblob, 4);
	m->blob[m->nblob++] = (struct blob){ off, bytes, len };
}

/* Whether entry i of a table at off lies inside a buffer of need bytes (no wrap-around). */
static bool fits(uint64_t off, unsigned i, size_t entsize, size_t need)
{
	return off <= need && (uint64_t)(i + 1) * entsize <= need - off;
}

/* Renders the model into a fresh heap buffer of exactly m->size bytes (at least 1). Whatever
 * does not fit is cut off, which is how truncated files are made. */
static uint8_t *render(const struct model *m)
{
	size_t cap = m->size;
	const size_t need = 0x100000;
	uint8_t *full = calloc(1, need);
	cr_assert_not_null(full);

	if (m->is64) {
		Elf64_Ehdr eh = { 0 };
		memcpy(eh.e_ident, m->ident, EI_NIDENT);
		eh.e_type = m->type;
		eh.e_machine = m->machine;
		eh.e_version = m->version;
		eh.e_entry = m->entry;
		eh.e_phoff = m->phoff;
		eh.e_ehsize = sizeof eh;
		eh.e_phentsize = m->phentsize;
		eh.e_phnum = m->phnum;
		memcpy(full, &eh, sizeof eh);
		for (unsigned i = 0; i < m->nph; i++) {
			const struct mph *p = &m->ph[i];
			Elf64_Phdr ph = { .p_type = p->type,
					  .p_flags = p->flags,
					  .p_offset = p->offset,
					  .p_vaddr = p->vaddr,
					  .p_paddr = p->vaddr,
					  .p_filesz = p->filesz,
					  .p_memsz = p->memsz,
					  .p_align = p->align };
			if (fits(m->phoff, i, sizeof ph, need))
				memcpy(full + m->phoff + (uint64_t)i * sizeof ph, &ph, sizeof ph);
		}
	} else {
		Elf32_Ehdr eh = { 0 };
		memcpy(eh.e_ident, m->ident, EI_NIDENT);
		eh.e_type = m->type;
		eh.e_machine = m->machine;
		eh.e_version = m->version;
		eh.e_entry = (Elf32_Addr)m->entry;
		eh.e_phoff = (Elf32_Off)m->phoff;
		eh.e_ehsize = sizeof eh;
		eh.e_phentsize = m->phentsize;
		eh.e_phnum = m->phnum;
		memcpy(full, &eh, sizeof eh);
		for (unsigned i = 0; i < m->nph; i++) {
			const struct mph *p = &m->ph[i];
			Elf32_Phdr ph = { .p_type = p->type,
					  .p_flags = p->flags,
					  .p_offset = (Elf32_Off)p->offset,
					  .p_vaddr = (Elf32_Addr)p->vaddr,
					  .p_paddr = (Elf32_Addr)p->vaddr,
					  .p_filesz = (Elf32_Word)p->filesz,
					  .p_memsz = (Elf32_Word)p->memsz,
					  .p_align = (Elf32_Word)p->align };
			if (fits(m->phoff, i, sizeof ph, need))
				memcpy(full + m->phoff + (uint64_t)i * sizeof ph, &ph, sizeof ph);
		}
	}
	for (unsigned i = 0; i < m->nblob; i++) {
		cr_assert_leq(m->blob[i].off + m->blob[i].len, need);
		memcpy(full + m->blob[i].off, m->blob[i].bytes, m->blob[i].len);
	}
	cr_assert_leq(cap, need);
	uint8_t *out = malloc(cap ? cap : 1);
	cr_assert_not_null(out);
	memcpy(out, full, cap);
	free(full);
	return out;
}

/* ---- checks shared by every test ------------------------------------------------------------ */

/* Independent checks of a load plan against the buffer it came from (not elf_image_check). */
static void check_plan(const struct elf_image *img, size_t size)
{
	const char *why = elf_image_check(img);
	cr_assert_null(why, "elf_image_check: %s", why ? why : "");
	cr_assert_eq(img->file_size, size);
	cr_assert(img->nseg >= 1 && img->nseg <= ELF_MAX_SEGMENTS);
	bool entry_in = false;
	for (unsigned k = 0; k < img->nseg; k++) {
		const struct elf_segment *s = &img->seg[k];
		cr_assert_leq(s->filesz, s->memsz);
		if (s->filesz) {
			cr_assert_leq(s->offset, size);
			cr_assert_leq(s->filesz, size - s->offset,
				      "segment %u: file bytes beyond the buffer", k);
			cr_assert_eq(s->vaddr % PAGE, s->offset % PAGE);
		}
		if (k > 0 && img->seg[k - 1].memsz && s->memsz)
			cr_assert_geq(s->vaddr & ~(uint64_t)(PAGE - 1),
				      (img->seg[k - 1].vaddr + img->seg[k - 1].memsz + PAGE - 1) &
					      ~(uint64_t)(PAGE - 1));
		if (img->entry >= s->vaddr && img->entry < s->vaddr + s->memsz)
			entry_in = true;
		if (img->type == ET_EXEC)
			cr_assert_leq(s->vaddr + s->memsz,
				      img->is64 ? 0x7ffffffff000ull : 0xC0000000ull);
	}
	cr_assert(entry_in);
	cr_assert_eq(img->min_vaddr % PAGE, 0);
	cr_assert_eq(img->max_vaddr % PAGE, 0);
	cr_assert_lt(img->min_vaddr, img->max_vaddr);
}

/* Parses a copy of exactly size bytes. */
static enum elf_status parse_copy(const uint8_t *data, size_t size, struct elf_image *img,
				  char *err)
{
	uint8_t *copy = malloc(size ? size : 1);
	cr_assert_not_null(copy);
	if (size)
		memcpy(copy, data, size);
	enum elf_status st = elf_parse(copy, size, img, err, ERRLEN);
	if (st == ELF_OK)
		check_plan(img, size);
	else
		cr_assert_neq(err[0], '\0', "status %s with an empty message", elf_status_name(st));
	free(copy);
	return st;
}

static enum elf_status parse_model(const struct model *m, struct elf_image *img, char *err)
{
	uint8_t *buf = render(m);
	enum elf_status st = elf_parse(buf, m->size, img, err, ERRLEN);
	if (st == ELF_OK)
		check_plan(img, m->size);
	else
		cr_assert_neq(err[0], '\0', "status %s with an empty message", elf_status_name(st));
	free(buf);
	return st;
}

/* Asserts the status and that the message contains every given fragment (NULL-terminated). */
#define expect(m, status, ...) expect_(m, status, (const char *[]){ __VA_ARGS__, NULL })

static void expect_(const struct model *m, enum elf_status want, const char **frags)
{
	struct elf_image img;
	char err[ERRLEN];
	enum elf_status st = parse_model(m, &img, err);
	cr_assert_eq(st, want, "ELF%d: got %s, want %s (message: \"%s\")", m->is64 ? 64 : 32,
		     elf_status_name(st), elf_status_name(want), err);
	for (const char **f = frags; *f; f++)
		cr_assert_not_null(strstr(err, *f), "ELF%d: message \"%s\" lacks \"%s\"",
				   m->is64 ? 64 : 32, err, *f);
}

static struct elf_image parse_ok(const struct model *m)
{
	struct elf_image img;
	char err[ERRLEN];
	enum elf_status st = parse_model(m, &img, err);
	cr_assert_eq(st, ELF_OK, "ELF%d: got %s: %s", m->is64 ? 64 : 32, elf_status_name(st), err);
	return img;
}

#define FOR_BOTH_CLASSES(m)                  \
	for (int cls_ = 0; cls_ < 2; cls_++) \
		for (struct model *m = model_new(cls_ == 1); m; free(m), m = NULL)

static struct model *model_new(bool is64)
{
	struct model *m = malloc(sizeof *m);
	cr_assert_not_null(m);
	model_init(m, is64);
	return m;
}

/* ---- valid images --------------------------------------------------------------------------- */

Test(elf_valid, baseline_elf64_exec_gives_the_full_plan)
{
	struct model *m = model_new(true);
	struct elf_image img = parse_ok(m);
	cr_assert(img.is64);
	cr_assert_eq(img.type, ET_EXEC);
	cr_assert_eq(img.entry, 0x401010);
	cr_assert(img.entry_exec);
	cr_assert_eq(img.phoff, 64);
	cr_assert_eq(img.phnum, 4);
	cr_assert_eq(img.phentsize, 56);
	cr_assert_eq(img.phdr_vaddr, 0x400040);
	cr_assert_eq(img.nseg, 3);
	cr_assert_eq(img.seg[0].vaddr, 0x400000);
	cr_assert_eq(img.seg[0].prot, PROT_READ);
	cr_assert_eq(img.seg[1].vaddr, 0x401000);
	cr_assert_eq(img.seg[1].offset, 0x1000);
	cr_assert_eq(img.seg[1].prot, PROT_READ | PROT_EXEC);
	cr_assert_eq(img.seg[2].filesz, 0x800);
	cr_assert_eq(img.seg[2].memsz, 0x2000);
	cr_assert_eq(img.seg[2].prot, PROT_READ | PROT_WRITE);
	cr_assert_eq(img.seg[2].align, PAGE);
	cr_assert_eq(img.min_vaddr, 0x400000);
	cr_assert_eq(img.max_vaddr, 0x404000);
	cr_assert_eq(img.load_align, PAGE);
	cr_assert(img.has_gnu_stack);
	cr_assert_not(img.exec_stack);
	cr_assert_not(img.read_implies_exec);
	cr_assert_not(img.has_dynamic);
	cr_assert_not(img.has_tls);
	cr_assert_eq(img.file_size, 0x2800);
	free(m);
}

Test(elf_valid, baseline_elf32_exec_gives_the_full_plan)
{
	struct model *m = model_new(false);
	struct elf_image img = parse_ok(m);
	cr_assert_not(img.is64);
	cr_assert_eq(img.type, ET_EXEC);
	cr_assert_eq(img.entry, 0x08049010);
	cr_assert_eq(img.phoff, 52);
	cr_assert_eq(img.phentsize, 32);
	cr_assert_eq(img.phdr_vaddr, 0x08048034);
	cr_assert_eq(img.nseg, 3);
	cr_assert_eq(img.seg[1].prot, PROT_READ | PROT_EXEC);
	cr_assert_eq(img.min_vaddr, 0x08048000);
	cr_assert_eq(img.max_vaddr, 0x0804c000);
	cr_assert_not(img.exec_stack);
	cr_assert_not(img.read_implies_exec);
	free(m);
}

Test(elf_valid, gnu_linux_os_abi_is_accepted)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_OSABI] =
			ELFOSABI_GNU; /* what glibc static binaries with IFUNCs carry */
		parse_ok(m);
	}
}

Test(elf_valid, segment_may_end_exactly_at_task_size)
{
	FOR_BOTH_CLASSES(m)
	{
		struct mph *d = &m->ph[2];
		const uint64_t top = m->is64 ? ELF_TASK_SIZE_X86_64 : ELF_TASK_SIZE_I386;
		d->memsz = top - d->vaddr;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.max_vaddr, top);
	}
}

Test(elf_valid, adjacent_segments_on_consecutive_pages_are_accepted)
{
	FOR_BOTH_CLASSES(m)
	{
		/* text ends exactly where data starts: no page shared */
		m->ph[2].vaddr = m->ph[1].vaddr + m->ph[1].memsz;
		parse_ok(m);
	}
}

Test(elf_valid, bss_only_segment_needs_no_congruent_offset)
{
	FOR_BOTH_CLASSES(m)
	{
		add_ph(m, PT_LOAD, PF_R | PF_W, 0x123, model_base(m->is64) + 0x5000, 0, 0x3000,
		       PAGE);
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.nseg, 4);
		cr_assert_eq(img.max_vaddr, model_base(m->is64) + 0x8000);
	}
}

Test(elf_valid, prot_follows_p_flags_exactly)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[1].flags = PF_X; /* execute-only: no PROT_READ added */
		m->ph[2].flags = PF_W;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.seg[1].prot, PROT_EXEC);
		cr_assert_eq(img.seg[2].prot, PROT_WRITE);
		cr_assert(img.entry_exec);
	}
}

Test(elf_valid, exactly_32_pt_loads_are_accepted)
{
	FOR_BOTH_CLASSES(m)
	{
		m->nph = 0;
		const uint64_t base = model_base(m->is64);
		for (unsigned i = 0; i < ELF_MAX_SEGMENTS; i++)
			add_ph(m, PT_LOAD, i == 1 ? PF_R | PF_X : PF_R, i * PAGE, base + i * PAGE,
			       PAGE, PAGE, PAGE);
		m->size = ELF_MAX_SEGMENTS * PAGE;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.nseg, ELF_MAX_SEGMENTS);
		cr_assert_eq(img.seg[31].vaddr, base + 31 * PAGE);
	}
}

Test(elf_valid, largest_program_header_table_linux_reads_is_accepted)
{
	FOR_BOTH_CLASSES(m)
	{
		unsigned max = ELF_MAX_PHDR_BYTES / m->phentsize; /* 128 or 73 */
		while (m->nph < max)
			add_ph(m, PT_NULL, 0, 0, 0, 0, 0, 0);
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.phnum, max);
	}
}

Test(elf_valid, load_align_is_the_largest_power_of_two_p_align)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[0].align = 0x200000;
		m->ph[1].align =
			0x300000; /* not a power of two: ignored, as maximum_alignment() does */
		m->ph[2].align = 16;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.load_align, 0x200000);
		cr_assert_eq(img.seg[1].align, 0x300000);
	}
}

Test(elf_valid, tls_segment_is_reported)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t base = model_base(m->is64);
		add_ph(m, PT_TLS, PF_R, 0x2000, base + 0x2000, 0x10, 0x40, 8);
		struct elf_image img = parse_ok(m);
		cr_assert(img.has_tls);
		cr_assert_eq(img.tls_vaddr, base + 0x2000);
		cr_assert_eq(img.tls_filesz, 0x10);
		cr_assert_eq(img.tls_memsz, 0x40);
		cr_assert_eq(img.tls_align, 8);
	}
}

/* ---- stack executability (elf_read_implies_exec on x86, Linux >= 5.8) ----------------------- */

Test(elf_stack, pt_gnu_stack_with_pf_x_makes_the_stack_executable)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[ph_index(m, PT_GNU_STACK, 0)].flags = PF_R | PF_W | PF_X;
		struct elf_image img = parse_ok(m);
		cr_assert(img.exec_stack);
		cr_assert_not(img.read_implies_exec);
	}
}

Test(elf_stack, missing_pt_gnu_stack_means_exec_all_on_i386_and_exec_none_on_x86_64)
{
	FOR_BOTH_CLASSES(m)
	{
		m->nph--; /* drop PT_GNU_STACK, the last header */
		m->phnum--;
		struct elf_image img = parse_ok(m);
		cr_assert_not(img.has_gnu_stack);
		cr_assert_eq(img.exec_stack, !m->is64);
		cr_assert_eq(img.read_implies_exec, !m->is64);
		cr_assert_eq(img.seg[0].prot, PROT_READ,
			     "READ_IMPLIES_EXEC is not folded into prot");
	}
}

Test(elf_stack, the_last_pt_gnu_stack_wins)
{
	FOR_BOTH_CLASSES(m)
	{
		add_ph(m, PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0, 16);
		cr_assert(parse_ok(m).exec_stack);
	}
}

/* ---- AT_PHDR -------------------------------------------------------------------------------- */

Test(elf_phdr, phdr_vaddr_comes_from_the_pt_load_covering_e_phoff)
{
	FOR_BOTH_CLASSES(m)
	{
		/* move the table into the text segment's file bytes */
		m->phoff = 0x1100;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.phdr_vaddr, model_base(m->is64) + 0x1100);
	}
}

Test(elf_phdr, phdr_vaddr_falls_back_to_pt_phdr_then_to_zero)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t base = model_base(m->is64);
		/* the first PT_LOAD no longer maps file offset 0: nothing covers e_phoff */
		m->ph[0].offset = 0x1000;
		m->ph[0].vaddr = base - 0x1000;
		m->ph[0].filesz = m->ph[0].memsz = 0x800;
		cr_assert_eq(parse_ok(m).phdr_vaddr, 0);

		add_ph(m, PT_PHDR, PF_R, m->phoff, base - 0x1000 + 0x40, 0x100, 0x100, 8);
		cr_assert_eq(parse_ok(m).phdr_vaddr, base - 0x1000 + 0x40);

		m->ph[m->nph - 1].vaddr =
			base + 0x100000; /* PT_PHDR outside every PT_LOAD: ignored */
		cr_assert_eq(parse_ok(m).phdr_vaddr, 0);
	}
}

/* ---- identification ------------------------------------------------------------------------- */

Test(elf_ident, empty_buffer_is_not_an_elf_file)
{
	struct elf_image img;
	char err[ERRLEN];
	cr_assert_eq(elf_parse(NULL, 0, &img, err, sizeof err), ELF_FOREIGN);
	cr_assert_not_null(strstr(err, "not an ELF file"), "%s", err);
	cr_assert_not_null(strstr(err, "empty"), "%s", err);
}

Test(elf_ident, bad_magic_is_foreign)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_MAG1] = 'Z';
		expect(m, ELF_FOREIGN, "not an ELF file (bad magic");
	}
	static const uint8_t text[] = "hello, world\n";
	struct elf_image img;
	char err[ERRLEN];
	cr_assert_eq(parse_copy(text, sizeof text - 1, &img, err), ELF_FOREIGN);
	cr_assert_not_null(strstr(err, "not an ELF file (bad magic"), "%s", err);
	cr_assert_eq(parse_copy(text, 2, &img, err), ELF_FOREIGN, "%s", err);
}

Test(elf_ident, shell_script_is_named_as_such)
{
	static const uint8_t script[] = "#!/bin/sh\necho hi\n";
	struct elf_image img;
	char err[ERRLEN];
	cr_assert_eq(parse_copy(script, sizeof script - 1, &img, err), ELF_FOREIGN);
	cr_assert_not_null(strstr(err, "script"), "%s", err);
}

Test(elf_ident, truncated_header_says_truncated_with_sizes)
{
	FOR_BOTH_CLASSES(m)
	{
		m->size = 10;
		expect(m, ELF_MALFORMED, "truncated ELF header", "file has 10");
		m->size = m->is64 ? 63 : 51;
		expect(m, ELF_MALFORMED, "truncated ELF header",
		       m->is64 ? "64 bytes needed" : "52 bytes needed");
	}
}

Test(elf_ident, invalid_class_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_CLASS] = 3;
		expect(m, ELF_MALFORMED, "invalid ELF class 3");
		m->ident[EI_CLASS] = ELFCLASSNONE;
		expect(m, ELF_MALFORMED, "invalid ELF class 0");
	}
}

Test(elf_ident, big_endian_is_foreign)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_DATA] = ELFDATA2MSB;
		expect(m, ELF_FOREIGN, "big-endian");
	}
}

Test(elf_ident, invalid_data_encoding_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_DATA] = 7;
		expect(m, ELF_MALFORMED, "data encoding 7");
	}
}

Test(elf_ident, bad_ei_version_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_VERSION] = 2;
		expect(m, ELF_MALFORMED, "ELF version 2");
	}
}

Test(elf_ident, foreign_os_abi_is_named)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ident[EI_OSABI] = ELFOSABI_FREEBSD;
		expect(m, ELF_FOREIGN, "FreeBSD (9)", "Linux");
		m->ident[EI_OSABI] = 200;
		expect(m, ELF_FOREIGN, "(200)");
	}
}

Test(elf_ident, other_machines_are_foreign_and_named)
{
	FOR_BOTH_CLASSES(m)
	{
		m->machine = EM_ARM;
		expect(m, ELF_FOREIGN, "ELF machine is ARM (40)", "i386 and x86-64 only");
		m->machine = EM_AARCH64;
		expect(m, ELF_FOREIGN, "AArch64 (183)");
		m->machine = 0x1234;
		expect(m, ELF_FOREIGN, "(4660)");
	}
}

Test(elf_ident, class_and_machine_must_agree)
{
	struct model *m = model_new(false);
	m->machine = EM_X86_64;
	expect(m, ELF_FOREIGN, "x32");
	free(m);
	m = model_new(true);
	m->machine = EM_386;
	expect(m, ELF_FOREIGN, "ELFCLASS64", "EM_386");
	free(m);
}

Test(elf_ident, object_files_and_core_dumps_are_foreign)
{
	FOR_BOTH_CLASSES(m)
	{
		m->type = ET_REL;
		expect(m, ELF_FOREIGN, "ET_REL");
		m->type = ET_CORE;
		expect(m, ELF_FOREIGN, "core dump");
		m->type = ET_NONE;
		expect(m, ELF_FOREIGN, "ELF type 0");
		m->type = 0xfe00; /* ET_LOOS */
		expect(m, ELF_FOREIGN, "not an executable");
	}
}

/* ---- program header table ------------------------------------------------------------------- */

Test(elf_phtab, wrong_phentsize_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->phentsize = m->is64 ? 32 : 56;
		expect(m, ELF_MALFORMED, "e_phentsize");
	}
}

Test(elf_phtab, zero_phnum_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->phnum = 0;
		expect(m, ELF_MALFORMED, "e_phnum is 0");
	}
}

Test(elf_phtab, pn_xnum_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->phnum = PN_XNUM;
		expect(m, ELF_MALFORMED, "PN_XNUM");
	}
}

Test(elf_phtab, table_larger_than_a_page_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		unsigned max = ELF_MAX_PHDR_BYTES / m->phentsize;
		while (m->nph < max + 1)
			add_ph(m, PT_NULL, 0, 0, 0, 0, 0, 0);
		expect(m, ELF_MALFORMED, "program header table has", "at most 4096");
		m->phnum = 4097; /* absurd counts take the same path; the table need not exist */
		expect(m, ELF_MALFORMED, "4097 entries");
	}
}

Test(elf_phtab, table_beyond_end_of_file_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->phoff = m->size - m->phentsize; /* 4 entries from here: 3 of them past the end */
		expect(m, ELF_MALFORMED, "program header table", "beyond the end of the file");
	}
}

Test(elf_phtab, phoff_near_the_top_of_the_offset_range_does_not_wrap)
{
	FOR_BOTH_CLASSES(m)
	{
		m->phoff = m->is64 ? UINT64_MAX - 8 : UINT32_MAX - 8;
		expect(m, ELF_MALFORMED, "program header table", "beyond the end of the file");
	}
}

Test(elf_phtab, no_pt_load_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		for (unsigned i = 0; i < 3; i++)
			m->ph[i].type = PT_NOTE;
		expect(m, ELF_MALFORMED, "no PT_LOAD");
	}
}

Test(elf_phtab, more_than_32_pt_loads_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->nph = 0;
		const uint64_t base = model_base(m->is64);
		for (unsigned i = 0; i < ELF_MAX_SEGMENTS + 1; i++)
			add_ph(m, PT_LOAD, PF_R | PF_X, i * PAGE, base + i * PAGE, PAGE, PAGE,
			       PAGE);
		m->size = (ELF_MAX_SEGMENTS + 1) * PAGE;
		expect(m, ELF_MALFORMED, "more than 32 PT_LOAD");
	}
}

/* ---- PT_LOAD -------------------------------------------------------------------------------- */

Test(elf_load, filesz_larger_than_memsz_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[2].memsz = 0x400;
		expect(m, ELF_MALFORMED, "PT_LOAD 2",
		       "p_filesz 0x800 is larger than p_memsz 0x400");
	}
}

Test(elf_load, file_range_beyond_end_of_file_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[2].filesz = m->ph[2].memsz = 0x5000;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "file range 0x2000+0x5000",
		       "beyond the end of the file (0x2800 bytes)");
	}
}

Test(elf_load, file_range_that_wraps_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[2].offset = m->is64 ? UINT64_MAX - 0x7ff : UINT32_MAX - 0x7ff;
		m->ph[2].vaddr = (m->ph[2].offset & (PAGE - 1)) + model_base(m->is64) + 0x2000;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "beyond the end of the file");
	}
}

Test(elf_load, address_range_that_wraps_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->type = ET_DYN; /* ET_EXEC would stop at TASK_SIZE first */
		m->ph[2].memsz = m->is64 ? UINT64_MAX - 0x1000 : UINT32_MAX - 0x1000;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "wraps around");
	}
}

Test(elf_load, segment_above_task_size_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t top = m->is64 ? ELF_TASK_SIZE_X86_64 : ELF_TASK_SIZE_I386;
		m->ph[2].memsz = top - m->ph[2].vaddr + 1;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "above the user address space",
		       m->is64 ? "0x7ffffffff000 on x86-64" : "0xc0000000 on i386");
	}
	/* a whole segment in the kernel half */
	struct model *m = model_new(false);
	m->ph[2].vaddr = 0xC0002000;
	m->ph[2].offset = 0x2000;
	expect(m, ELF_MALFORMED, "above the user address space");
	free(m);
}

Test(elf_load, vaddr_and_offset_must_be_congruent_modulo_the_page_size)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[2].vaddr += 0x10;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "not congruent");
		model_init(m, m->is64);
		m->ph[2].align = 4; /* a small p_align does not excuse it: mmap still needs it */
		m->ph[2].offset = 0x2004;
		m->size = 0x2804;
		expect(m, ELF_MALFORMED, "not congruent");
	}
}

Test(elf_load, unsorted_segments_are_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		struct mph t = m->ph[1];
		m->ph[1] = m->ph[2];
		m->ph[2] = t;
		expect(m, ELF_MALFORMED, "must be sorted by address");
	}
}

Test(elf_load, overlapping_segments_are_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[1].memsz = 0x1800; /* text runs into data */
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "overlaps PT_LOAD 1");
	}
}

Test(elf_load, segments_sharing_a_page_are_refused)
{
	FOR_BOTH_CLASSES(m)
	{
		m->ph[1].memsz = m->ph[1].filesz = 0x800; /* text ends mid-page ... */
		m->ph[2].vaddr -= 0x700;                  /* ... and data starts in that page */
		m->ph[2].offset -= 0x700;
		expect(m, ELF_MALFORMED, "PT_LOAD 2", "sharing a page");
	}
}

Test(elf_load, empty_segment_does_not_count_for_overlap)
{
	FOR_BOTH_CLASSES(m)
	{
		/* a memsz-0 PT_LOAD inside the text page range, sorted correctly */
		struct mph empty = { PT_LOAD, PF_R, 0, m->ph[1].vaddr + 0x10, 0, 0, PAGE };
		memmove(&m->ph[3], &m->ph[2], sizeof m->ph[0] * (m->nph - 2));
		m->ph[2] = empty;
		m->nph++;
		m->phnum++;
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.nseg, 4);
	}
}

Test(elf_load, et_dyn_span_larger_than_the_address_space_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->type = ET_DYN;
		const uint64_t top = m->is64 ? ELF_TASK_SIZE_X86_64 : ELF_TASK_SIZE_I386;
		m->ph[2].memsz =
			top; /* from base+0x2000: fits the class, exceeds TASK_SIZE as a span */
		expect(m, ELF_MALFORMED, "span", "more than the user address space");
	}
}

Test(elf_load, et_dyn_is_not_held_to_task_size_by_its_link_addresses)
{
	struct model *m = model_new(true);
	m->type = ET_DYN;
	const uint64_t hi = 0xffff800000000000ull; /* kernel half, but only the span matters */
	for (unsigned i = 0; i < 3; i++)
		m->ph[i].vaddr = hi + i * PAGE;
	m->entry = hi + 0x1010;
	struct elf_image img = parse_ok(m);
	cr_assert_eq(img.min_vaddr, hi);
	cr_assert_eq(img.max_vaddr - img.min_vaddr, 0x4000);
	free(m);
}

/* ---- entry ---------------------------------------------------------------------------------- */

Test(elf_entry, entry_outside_every_segment_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		m->entry = model_base(m->is64) + 0x4000; /* just past the bss */
		expect(m, ELF_MALFORMED, "entry point", "outside every PT_LOAD");
		m->entry = 0;
		expect(m, ELF_MALFORMED, "entry point 0x0 ");
	}
}

Test(elf_entry, entry_in_a_non_executable_segment_is_accepted_and_flagged)
{
	FOR_BOTH_CLASSES(m)
	{
		m->entry = model_base(m->is64) + 0x2100;
		struct elf_image img = parse_ok(m);
		cr_assert_not(img.entry_exec);
	}
}

/* ---- dynamic linking ------------------------------------------------------------------------ */

static const char interp64[] = "/lib64/ld-linux-x86-64.so.2";
static const char interp32[] = "/lib/ld-linux.so.2";

Test(elf_dynamic, pt_interp_is_dynamic_and_names_the_interpreter)
{
	FOR_BOTH_CLASSES(m)
	{
		const char *path = m->is64 ? interp64 : interp32;
		add_blob(m, 0x200, path, strlen(path) + 1);
		add_ph(m, PT_INTERP, PF_R, 0x200, model_base(m->is64) + 0x200, strlen(path) + 1,
		       strlen(path) + 1, 1);
		expect(m, ELF_DYNAMIC, "dynamically linked binaries are not supported yet",
		       "PT_INTERP", path);
	}
}

Test(elf_dynamic, pt_interp_wins_over_a_broken_segment)
{
	FOR_BOTH_CLASSES(m)
	{
		add_blob(m, 0x200, interp64, sizeof interp64);
		add_ph(m, PT_INTERP, PF_R, 0x200, 0, sizeof interp64, sizeof interp64, 1);
		m->ph[2].memsz = 1; /* filesz > memsz */
		expect(m, ELF_DYNAMIC, "PT_INTERP");
	}
}

Test(elf_dynamic, pt_interp_outside_the_file_is_still_dynamic)
{
	FOR_BOTH_CLASSES(m)
	{
		add_ph(m, PT_INTERP, PF_R, 0x100000, 0, 0x20, 0x20, 1);
		expect(m, ELF_DYNAMIC, "PT_INTERP", "beyond the end of the file");
	}
}

Test(elf_dynamic, unprintable_interpreter_bytes_are_escaped)
{
	static const char evil[] = "/lib/\x1b[31mred\n";
	FOR_BOTH_CLASSES(m)
	{
		add_blob(m, 0x200, evil, sizeof evil);
		add_ph(m, PT_INTERP, PF_R, 0x200, 0, sizeof evil, sizeof evil, 1);
		struct elf_image img;
		char err[ERRLEN];
		cr_assert_eq(parse_model(m, &img, err), ELF_DYNAMIC);
		for (const char *c = err; *c; c++)
			cr_assert(*c >= 0x20 && *c < 0x7f, "control byte 0x%02x in \"%s\"", *c,
				  err);
	}
}

/* File offset (= vaddr) of the PIE model's string table, clear of the program headers. */
#define STRTAB 0x400

/* Makes the model a static-PIE: ET_DYN at 0, PT_DYNAMIC in the data segment holding the given
 * (tag, value) pairs and a DT_NULL, and a string table "\0libfoo.so.1\0" at STRTAB. */
static void make_pie(struct model *m, const uint64_t (*tags)[2], unsigned ntags)
{
	m->type = ET_DYN;
	const uint64_t base = model_base(m->is64);
	for (unsigned i = 0; i < 3; i++)
		m->ph[i].vaddr -= base;
	m->entry -= base;
	static const char strtab[] = "\0libfoo.so.1";
	add_blob(m, STRTAB, strtab, sizeof strtab);
	size_t n = 0, esz = m->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	for (unsigned i = 0; i <= ntags; i++) {
		uint64_t tag = i < ntags ? tags[i][0] : DT_NULL, val = i < ntags ? tags[i][1] : 0;
		if (m->is64) {
			Elf64_Dyn d = { .d_tag = (Elf64_Sxword)tag, .d_un.d_val = val };
			memcpy(m->dynbuf + n, &d, esz);
		} else {
			Elf32_Dyn d = { .d_tag = (Elf32_Sword)tag, .d_un.d_val = (Elf32_Word)val };
			memcpy(m->dynbuf + n, &d, esz);
		}
		n += esz;
	}
	add_blob(m, 0x2000, m->dynbuf, n);
	add_ph(m, PT_DYNAMIC, PF_R | PF_W, 0x2000, 0x2000, n, n, 8);
}

Test(elf_dynamic, static_pie_without_dt_needed_is_accepted)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_STRTAB, STRTAB },
					     { DT_STRSZ, 13 },
					     { DT_DEBUG, 0 } };
		make_pie(m, tags, 3);
		struct elf_image img = parse_ok(m);
		cr_assert_eq(img.type, ET_DYN);
		cr_assert(img.has_dynamic);
		cr_assert_eq(img.dynamic_vaddr, 0x2000);
		cr_assert_eq(img.min_vaddr, 0);
		cr_assert_eq(img.max_vaddr, 0x4000);
		cr_assert_eq(img.entry, 0x1010);
		cr_assert_eq(img.phdr_vaddr, img.phoff);
	}
}

Test(elf_dynamic, dt_needed_without_pt_interp_is_dynamic_and_names_the_library)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_NEEDED, 1 },
					     { DT_STRTAB, STRTAB },
					     { DT_STRSZ, 13 } };
		make_pie(m, tags, 3);
		expect(m, ELF_DYNAMIC, "not supported yet", "DT_NEEDED libfoo.so.1");
	}
}

Test(elf_dynamic, dt_needed_with_an_unusable_string_table_is_still_dynamic)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_NEEDED, 1 }, { DT_STRTAB, 0x7000000 } };
		make_pie(m, tags, 2);
		expect(m, ELF_DYNAMIC, "DT_NEEDED");
		model_init(m, m->is64);
		const uint64_t tags2[][2] = { { DT_NEEDED, 99 },
					      { DT_STRTAB, STRTAB },
					      { DT_STRSZ, 13 } };
		make_pie(m, tags2, 3); /* name offset past DT_STRSZ */
		expect(m, ELF_DYNAMIC, "DT_NEEDED");
	}
}

Test(elf_dynamic, dt_needed_after_dt_null_is_ignored)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_NULL, 0 }, { DT_NEEDED, 1 } };
		make_pie(m, tags, 2);
		parse_ok(m);
	}
}

Test(elf_dynamic, dt_needed_in_an_et_exec_is_dynamic_too)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_NEEDED, 1 } };
		make_pie(m, tags, 1);
		m->type = ET_EXEC;
		expect(m, ELF_DYNAMIC, "DT_NEEDED");
	}
}

Test(elf_dynamic, pt_dynamic_beyond_the_file_is_malformed)
{
	FOR_BOTH_CLASSES(m)
	{
		make_pie(m, NULL, 0);
		m->ph[m->nph - 1].filesz = 0x10000;
		expect(m, ELF_MALFORMED, "PT_DYNAMIC", "beyond the end of the file");
	}
}

/* ---- messages and API odds and ends --------------------------------------------------------- */

Test(elf_api, small_error_buffers_are_truncated_and_terminated)
{
	struct model *m = model_new(true);
	m->machine = EM_ARM;
	uint8_t *buf = render(m);
	struct elf_image img;
	char err[8];
	memset(err, 'x', sizeof err);
	cr_assert_eq(elf_parse(buf, m->size, &img, err, sizeof err), ELF_FOREIGN);
	cr_assert_eq(strlen(err), sizeof err - 1);
	cr_assert_eq(elf_parse(buf, m->size, &img, NULL, 0), ELF_FOREIGN);
	free(buf);
	free(m);
}

Test(elf_api, failure_leaves_the_image_zeroed)
{
	struct model *m = model_new(true);
	m->entry = 0;
	uint8_t *buf = render(m);
	struct elf_image img, zero;
	memset(&img, 0xa5, sizeof img);
	memset(&zero, 0, sizeof zero);
	char err[ERRLEN];
	cr_assert_eq(elf_parse(buf, m->size, &img, err, sizeof err), ELF_MALFORMED);
	cr_assert_eq(memcmp(&img, &zero, sizeof img), 0);
	free(buf);
	free(m);
}

Test(elf_api, status_names)
{
	cr_assert_str_eq(elf_status_name(ELF_OK), "ELF_OK");
	cr_assert_str_eq(elf_status_name(ELF_MALFORMED), "ELF_MALFORMED");
	cr_assert_str_eq(elf_status_name(ELF_FOREIGN), "ELF_FOREIGN");
	cr_assert_str_eq(elf_status_name(ELF_DYNAMIC), "ELF_DYNAMIC");
	cr_assert_str_eq(elf_status_name(ELF_IO), "ELF_IO");
	cr_assert_str_eq(elf_status_name((enum elf_status)42), "ELF_(unknown status)");
}

Test(elf_api, self_check_catches_a_broken_plan)
{
	struct model *m = model_new(true);
	struct elf_image img = parse_ok(m);
	struct elf_image bad = img;
	bad.seg[2].vaddr = bad.seg[1].vaddr; /* overlap */
	cr_assert_not_null(elf_image_check(&bad));
	bad = img;
	bad.seg[0].filesz = bad.file_size + 1;
	bad.seg[0].memsz = bad.seg[0].filesz;
	cr_assert_not_null(elf_image_check(&bad));
	bad = img;
	bad.entry = 0;
	cr_assert_not_null(elf_image_check(&bad));
	bad = img;
	bad.max_vaddr += PAGE;
	cr_assert_not_null(elf_image_check(&bad));
	free(m);
}

/* ---- files ---------------------------------------------------------------------------------- */

static char tmpdir[256];

static void tmp_setup(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/mmuemu-test-elf.XXXXXX", t && *t ? t : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp(%s): %s", tmpdir, strerror(errno));
}

static void tmp_teardown(void)
{
	static const char *names[] = { "empty", "script", "elf", "fifo", "dir", NULL };
	char p[384];
	for (const char **n = names; *n; n++) {
		snprintf(p, sizeof p, "%s/%s", tmpdir, *n);
		if (remove(p) != 0 && errno != ENOENT)
			cr_log_warn("cannot remove %s: %s", p, strerror(errno));
	}
	rmdir(tmpdir);
}

static const char *tmp_write(const char *name, const void *bytes, size_t len)
{
	static char p[384];
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	FILE *fp = fopen(p, "wb");
	cr_assert_not_null(fp, "%s: %s", p, strerror(errno));
	if (len)
		cr_assert_eq(fwrite(bytes, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
	return p;
}

TestSuite(elf_file, .init = tmp_setup, .fini = tmp_teardown);

static void expect_open(const char *path, enum elf_status want, const char *frag)
{
	struct elf_file f;
	struct elf_image img;
	char err[ERRLEN];
	enum elf_status st = elf_file_open(path, &f, &img, err, sizeof err);
	cr_assert_eq(st, want, "%s: got %s: %s", path, elf_status_name(st), err);
	cr_assert_not_null(strstr(err, frag), "message \"%s\" lacks \"%s\"", err, frag);
	cr_assert_not_null(strstr(err, path), "message \"%s\" does not name the file", err);
	cr_assert_null(f.data);
	cr_assert_eq(f.fd, -1);
	elf_file_close(&f);
}

Test(elf_file, missing_file_reports_strerror)
{
	char p[384];
	snprintf(p, sizeof p, "%s/does-not-exist", tmpdir);
	expect_open(p, ELF_IO, strerror(ENOENT));
}

Test(elf_file, directory_is_refused)
{
	expect_open(tmpdir, ELF_IO, "directory");
}

Test(elf_file, empty_file_is_refused)
{
	expect_open(tmp_write("empty", "", 0), ELF_IO, "empty");
}

Test(elf_file, fifo_is_refused_without_blocking, .timeout = 10)
{
	char p[384];
	snprintf(p, sizeof p, "%s/fifo", tmpdir);
	cr_assert_eq(mkfifo(p, 0600), 0, "%s", strerror(errno));
	expect_open(p, ELF_IO, "not a regular file");
}

Test(elf_file, non_elf_file_is_foreign)
{
	static const char script[] = "#!/bin/sh\nexit 0\n";
	expect_open(tmp_write("script", script, sizeof script - 1), ELF_FOREIGN, "not an ELF file");
}

Test(elf_file, valid_file_stays_open_for_the_loader)
{
	struct model *m = model_new(true);
	uint8_t *buf = render(m);
	const char *p = tmp_write("elf", buf, m->size);
	struct elf_file f;
	struct elf_image img;
	char err[ERRLEN];
	cr_assert_eq(elf_file_open(p, &f, &img, err, sizeof err), ELF_OK, "%s", err);
	cr_assert_eq(f.size, m->size);
	cr_assert_eq(memcmp(f.data, buf, m->size), 0);
	cr_assert_geq(f.fd, 0);
	uint8_t b;
	cr_assert_eq(pread(f.fd, &b, 1, 1), 1, "the descriptor must be readable");
	cr_assert_eq(b, 'E');
	cr_assert_eq(img.nseg, 3);
	elf_file_close(&f);
	cr_assert_null(f.data);
	cr_assert_eq(f.fd, -1);
	elf_file_close(&f); /* idempotent */
	free(buf);
	free(m);
}

Test(elf_file, malformed_file_message_names_the_file)
{
	struct model *m = model_new(false);
	m->ph[2].memsz = 1;
	uint8_t *buf = render(m);
	expect_open(tmp_write("elf", buf, m->size), ELF_MALFORMED, "p_filesz");
	free(buf);
	free(m);
}

/* ---- real binaries -------------------------------------------------------------------------- */

#ifndef ELF_TEST_STATIC64
#define ELF_TEST_STATIC64 NULL
#endif
#ifndef ELF_TEST_STATIC32
#define ELF_TEST_STATIC32 NULL
#endif
#ifndef ELF_TEST_STATIC_PIE64
#define ELF_TEST_STATIC_PIE64 NULL
#endif
#ifndef ELF_TEST_STATIC_PIE32
#define ELF_TEST_STATIC_PIE32 NULL
#endif

/* Reads a whole file into an exact-size heap buffer; skips the test if it is unavailable. */
static uint8_t *slurp_or_skip(const char *path, size_t *size)
{
	if (!path)
		cr_skip_test("this compiler cannot build the input (see the configure log)");
	FILE *fp = fopen(path, "rb");
	if (!fp)
		cr_skip_test("%s: %s", path, strerror(errno));
	cr_assert_eq(fseek(fp, 0, SEEK_END), 0);
	long n = ftell(fp);
	cr_assert_gt(n, 0);
	rewind(fp);
	uint8_t *buf = malloc((size_t)n);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*size = (size_t)n;
	return buf;
}

static struct elf_image real_ok(const char *path, const uint8_t *data, size_t size)
{
	struct elf_image img;
	char err[ERRLEN];
	enum elf_status st = parse_copy(data, size, &img, err);
	cr_assert_eq(st, ELF_OK, "%s: %s: %s", path, elf_status_name(st), err);
	return img;
}

static bool same_image(const struct elf_image *a, const struct elf_image *b)
{
	if (a->is64 != b->is64 || a->type != b->type || a->entry != b->entry ||
	    a->phoff != b->phoff || a->phnum != b->phnum || a->phdr_vaddr != b->phdr_vaddr ||
	    a->nseg != b->nseg || a->min_vaddr != b->min_vaddr || a->max_vaddr != b->max_vaddr ||
	    a->exec_stack != b->exec_stack || a->tls_memsz != b->tls_memsz ||
	    a->file_size != b->file_size)
		return false;
	for (unsigned k = 0; k < a->nseg; k++)
		if (a->seg[k].vaddr != b->seg[k].vaddr || a->seg[k].memsz != b->seg[k].memsz ||
		    a->seg[k].offset != b->seg[k].offset || a->seg[k].filesz != b->seg[k].filesz ||
		    a->seg[k].prot != b->seg[k].prot)
			return false;
	return true;
}

static void check_real_static(const char *path, bool is64, uint16_t type)
{
	size_t size;
	uint8_t *data = slurp_or_skip(path, &size);
	struct elf_image img = real_ok(path, data, size);
	cr_assert_eq(img.is64, is64);
	cr_assert_eq(img.type, type);
	cr_assert_geq(img.nseg, 2);
	cr_assert(img.entry_exec, "glibc's _start is in the text segment");
	cr_assert_neq(img.phdr_vaddr, 0, "AT_PHDR must be mapped: glibc's static startup reads it");
	cr_assert_eq(img.phdr_vaddr, img.seg[0].vaddr + img.phoff - img.seg[0].offset);
	cr_assert(img.has_gnu_stack);
	cr_assert_not(img.exec_stack);
	cr_assert(img.has_tls, "glibc static binaries carry PT_TLS");
	cr_assert_eq(img.has_dynamic, type == ET_DYN);
	if (type == ET_EXEC)
		cr_assert_eq(img.min_vaddr, is64 ? 0x400000 : 0x08048000, "ld's default base");
	else
		cr_assert_eq(img.min_vaddr, 0);

	/* elf_file_open agrees with elf_parse */
	struct elf_file f;
	struct elf_image img2;
	char err[ERRLEN];
	cr_assert_eq(elf_file_open(path, &f, &img2, err, sizeof err), ELF_OK, "%s", err);
	cr_assert(same_image(&img, &img2));
	cr_assert_eq(f.size, size);
	elf_file_close(&f);
	free(data);
}

Test(elf_real, static_x86_64_executable)
{
	check_real_static(ELF_TEST_STATIC64, true, ET_EXEC);
}

Test(elf_real, static_i386_executable)
{
	check_real_static(ELF_TEST_STATIC32, false, ET_EXEC);
}

Test(elf_real, static_pie_x86_64)
{
	check_real_static(ELF_TEST_STATIC_PIE64, true, ET_DYN);
}

Test(elf_real, static_pie_i386)
{
	check_real_static(ELF_TEST_STATIC_PIE32, false, ET_DYN);
}

Test(elf_real, bin_true_is_dynamic_and_names_its_interpreter)
{
	size_t size;
	uint8_t *data = slurp_or_skip("/bin/true", &size);
	struct elf_image img;
	char err[ERRLEN];
	enum elf_status st = parse_copy(data, size, &img, err);
	free(data);
	if (st == ELF_OK)
		cr_skip_test("/bin/true is statically linked here");
	if (st == ELF_FOREIGN)
		cr_skip_test("/bin/true is not an x86 ELF here: %s", err);
	cr_assert_eq(st, ELF_DYNAMIC, "%s", err);
	cr_assert_not_null(strstr(err, "PT_INTERP /"), "%s", err);
	cr_assert_not_null(strstr(err, "ld-linux"), "%s", err);
}

/* ---- truncation ----------------------------------------------------------------------------- */

/* A buffer that ends right at a PROT_NONE page: a prefix copied to its end is followed by
 * unreadable memory, so reading past the prefix crashes even without ASan. */
struct guarded {
	uint8_t *map;
	size_t span; /* readable bytes, a whole number of pages, >= the longest prefix */
	size_t pg;
};

static struct guarded guarded_new(size_t maxn)
{
	struct guarded g;
	g.pg = (size_t)sysconf(_SC_PAGESIZE);
	g.span = (maxn + g.pg - 1) / g.pg * g.pg;
	g.map = mmap(NULL, g.span + g.pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	cr_assert_neq(g.map, MAP_FAILED);
	cr_assert_eq(mprotect(g.map + g.span, g.pg, PROT_NONE), 0);
	return g;
}

static void guarded_free(struct guarded *g)
{
	munmap(g->map, g->span + g->pg);
}

/* Parses data[0 .. n) from a copy placed right before the guard page. */
static enum elf_status parse_guarded(struct guarded *g, const uint8_t *data, size_t n,
				     struct elf_image *img, char *err)
{
	cr_assert_leq(n, g->span);
	uint8_t *copy = g->map + g->span - n;
	memcpy(copy, data, n);
	enum elf_status st = elf_parse(n ? copy : NULL, n, img, err, ERRLEN);
	if (st == ELF_OK)
		check_plan(img, n);
	else
		cr_assert_neq(err[0], '\0');
	return st;
}

/* Largest end of a PT_LOAD's file bytes. */
static uint64_t file_end_of_loads(const struct elf_image *img)
{
	uint64_t e = 0;
	for (unsigned k = 0; k < img->nseg; k++)
		if (img->seg[k].filesz && img->seg[k].offset + img->seg[k].filesz > e)
			e = img->seg[k].offset + img->seg[k].filesz;
	return e;
}

static void truncate_everywhere(const char *name, const uint8_t *data, size_t size)
{
	struct elf_image full, img;
	char err[ERRLEN];
	cr_assert_eq(elf_parse(data, size, &full, err, sizeof err), ELF_OK, "%s: %s", name, err);
	const uint64_t load_end = file_end_of_loads(&full);
	const size_t ehsize = full.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	struct guarded g = guarded_new(size);

	/* The first 4 KiB: every cut cuts some PT_LOAD (they all extend further). */
	const size_t head = size < 4096 ? size : 4096;
	cr_assert_gt(load_end, head - 1);
	for (size_t n = 0; n < head; n++) {
		enum elf_status st = parse_guarded(&g, data, n, &img, err);
		cr_assert_neq(st, ELF_OK, "%s cut at %zu bytes was accepted", name, n);
		if (n == 0)
			cr_assert_eq(st, ELF_FOREIGN);
		else if (n < ehsize)
			cr_assert(st == ELF_MALFORMED && strstr(err, "truncated"),
				  "%s cut at %zu: %s", name, n, err);
	}
	/* Around the end of the last PT_LOAD's file bytes: OK exactly when none is cut. */
	const size_t from = load_end > 512 ? (size_t)load_end - 512 : 0;
	const size_t to = size < load_end + 512 ? size : (size_t)load_end + 512;
	for (size_t n = from; n <= to; n++) {
		enum elf_status st = parse_guarded(&g, data, n, &img, err);
		if (n < load_end)
			cr_assert(st == ELF_MALFORMED && strstr(err, "beyond the end of the file"),
				  "%s cut at %zu (PT_LOAD bytes end at %llu): %s: %s", name, n,
				  (unsigned long long)load_end, elf_status_name(st), err);
		else
			cr_assert_eq(st, ELF_OK, "%s cut at %zu (after every PT_LOAD byte): %s",
				     name, n, err);
	}
	guarded_free(&g);
}

Test(elf_truncate, model_images_cut_anywhere_never_pass)
{
	FOR_BOTH_CLASSES(m)
	{
		uint8_t *buf = render(m);
		truncate_everywhere(m->is64 ? "model64" : "model32", buf, m->size);
		free(buf);
	}
}

static void truncate_real(const char *path)
{
	size_t size;
	uint8_t *data = slurp_or_skip(path, &size);
	truncate_everywhere(path, data, size);
	free(data);
}

Test(elf_truncate, static_x86_64_cut_anywhere_in_the_first_page)
{
	truncate_real(ELF_TEST_STATIC64);
}

Test(elf_truncate, static_i386_cut_anywhere_in_the_first_page)
{
	truncate_real(ELF_TEST_STATIC32);
}

Test(elf_truncate, static_pie_x86_64_cut_anywhere_in_the_first_page)
{
	truncate_real(ELF_TEST_STATIC_PIE64);
}

/* ---- random byte flips ---------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Flips 1..4 random bytes (or single bits) inside [lo, hi) of an exact-size copy, parses, and
 * restores them, `rounds` times. Returns how many rounds were accepted. */
static unsigned flip_rounds(const char *name, const uint8_t *data, size_t size, size_t lo,
			    size_t hi, unsigned rounds, uint64_t seed)
{
	uint8_t *buf = malloc(size);
	cr_assert_not_null(buf);
	memcpy(buf, data, size);
	rng_state = seed;
	unsigned accepted = 0;
	struct elf_image img;
	char err[ERRLEN];
	for (unsigned r = 0; r < rounds; r++) {
		size_t pos[4];
		unsigned nflip = 1 + (unsigned)(rng() % 4);
		for (unsigned i = 0; i < nflip; i++) {
			pos[i] = lo + (size_t)(rng() % (hi - lo));
			uint64_t v = rng();
			if (v & 1)
				buf[pos[i]] ^= (uint8_t)(1u << ((v >> 1) % 8));
			else
				buf[pos[i]] = (uint8_t)(v >> 8);
		}
		enum elf_status st = elf_parse(buf, size, &img, err, sizeof err);
		if (st == ELF_OK) {
			check_plan(&img, size);
			accepted++;
		} else {
			cr_assert_neq(err[0], '\0', "%s round %u: %s without a message", name, r,
				      elf_status_name(st));
		}
		for (unsigned i = 0; i < nflip; i++)
			buf[pos[i]] = data[pos[i]];
	}
	cr_assert_eq(memcmp(buf, data, size), 0);
	free(buf);
	return accepted;
}

#define FLIP_ROUNDS 20000

static void flip_headers(const char *name, const uint8_t *data, size_t size, uint64_t seed)
{
	struct elf_image img;
	char err[ERRLEN];
	cr_assert_eq(elf_parse(data, size, &img, err, sizeof err), ELF_OK, "%s: %s", name, err);
	const size_t hdr_end = (size_t)(img.phoff + (uint64_t)img.phnum * img.phentsize);
	unsigned ok = flip_rounds(name, data, size, 0, hdr_end, FLIP_ROUNDS, seed);
	/* Not vacuous: some flips hit fields nobody reads, most break something. */
	cr_assert_gt(ok, 0, "%s: no flipped header was accepted", name);
	cr_assert_lt(ok, FLIP_ROUNDS, "%s: every flipped header was accepted", name);
	if (img.has_dynamic) {
		/* and the dynamic section, where DT_NEEDED / DT_STRTAB are looked for */
		uint64_t off = 0;
		for (unsigned k = 0; k < img.nseg; k++)
			if (img.dynamic_vaddr >= img.seg[k].vaddr &&
			    img.dynamic_vaddr - img.seg[k].vaddr < img.seg[k].filesz)
				off = img.seg[k].offset + (img.dynamic_vaddr - img.seg[k].vaddr);
		cr_assert_neq(off, 0);
		size_t hi = off + 512 < size ? (size_t)off + 512 : size;
		flip_rounds(name, data, size, (size_t)off, hi, FLIP_ROUNDS / 4, seed + 1);
	}
}

Test(elf_flip, model_headers_survive_random_flips)
{
	FOR_BOTH_CLASSES(m)
	{
		const uint64_t tags[][2] = { { DT_STRTAB, STRTAB }, { DT_STRSZ, 13 } };
		make_pie(m, tags, 2);
		uint8_t *buf = render(m);
		flip_headers(m->is64 ? "pie-model64" : "pie-model32", buf, m->size,
			     0x6d6d75656d75ull + (uint64_t)m->is64);
		free(buf);
	}
}

static void flip_real(const char *path, uint64_t seed)
{
	size_t size;
	uint8_t *data = slurp_or_skip(path, &size);
	flip_headers(path, data, size, seed);
	free(data);
}

Test(elf_flip, static_x86_64_headers_survive_random_flips)
{
	flip_real(ELF_TEST_STATIC64, 1);
}

Test(elf_flip, static_i386_headers_survive_random_flips)
{
	flip_real(ELF_TEST_STATIC32, 2);
}

Test(elf_flip, static_pie_x86_64_headers_survive_random_flips)
{
	flip_real(ELF_TEST_STATIC_PIE64, 3);
}

Test(elf_flip, static_pie_i386_headers_survive_random_flips)
{
	flip_real(ELF_TEST_STATIC_PIE32, 4);
}
