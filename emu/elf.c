/*
 * emu/elf.c — ELF parser and validator for mmuemu's loader.
 *
 * elf_parse() decides whether Linux 6.12 would start this file as a static i386 or x86-64
 * program, and if so produces the load plan (struct elf_image). It reads only the ELF header, the
 * program header table, PT_INTERP and PT_DYNAMIC; section headers are ignored, as the kernel
 * ignores them. Every field is decoded byte by byte as little-endian (so the host's byte order
 * and alignment do not matter), every read is checked against the buffer first, and every sum
 * of file values is checked for wrap-around before it is formed.
 *
 * The checks, in order, and where they come from (fs/binfmt_elf.c unless noted):
 *  1. Magic "\177ELF" (load_elf_binary). A mismatch is ELF_FOREIGN ("not an ELF file").
 *  2. The whole ELF header is present (52 or 64 bytes).
 *  3. e_ident: EI_CLASS 1 or 2; EI_DATA little-endian (big-endian is foreign); EI_VERSION
 *     EV_CURRENT; EI_OSABI System V or GNU/Linux (others, e.g. FreeBSD, are foreign). Linux
 *     itself looks at none of these bytes; we check them so a foreign file gets a clear reason
 *     instead of a confusing one later.
 *  4. e_machine matches the class: ELFCLASS32 ↔ EM_386, ELFCLASS64 ↔ EM_X86_64
 *     (elf_check_arch / compat_elf_check_arch in arch/x86/include/asm/elf.h). x32
 *     (ELFCLASS32 + EM_X86_64) and EM_IAMCU are refused as foreign.
 *  5. e_type ET_EXEC or ET_DYN; ET_REL and ET_CORE are foreign with a message saying what they
 *     are. e_version, e_ehsize, e_flags and e_sh* are not checked (Linux does not either).
 *  6. Program header table (load_elf_phdrs): e_phnum neither 0 nor PN_XNUM,
 *     e_phentsize == sizeof(ElfN_Phdr), the table at most one page (ELF_MAX_PHDR_BYTES: Linux
 *     refuses a larger one, so > 128 / > 73 entries are refused) and wholly inside the file.
 *  7. PT_INTERP anywhere → ELF_DYNAMIC, reported as soon as the table is readable (before the
 *     segments are checked: it is the most useful thing to say about a dynamic binary).
 *  8. Each PT_LOAD:
 *     - p_filesz <= p_memsz, and p_memsz fits the address space (the TASK_SIZE check in
 *       load_elf_binary). For ET_EXEC the segment must end at or below TASK_SIZE
 *       (ELF_TASK_SIZE_*). For ET_DYN the addresses are moved by the load bias, so only
 *       vaddr + memsz must not wrap, and the whole span is checked in 9.
 *     - [p_offset, p_offset + p_filesz) inside the file (the kernel would map pages past EOF
 *       and the guest would take SIGBUS; we refuse early).
 *     - p_vaddr ≡ p_offset (mod 4096) whenever p_filesz > 0: elf_map() passes
 *       p_offset - ELF_PAGEOFFSET(p_vaddr) as the mmap offset and vm_mmap() refuses an offset
 *       that is not page-aligned. This is stricter than "when p_align >= 4096" and is what
 *       Linux actually enforces. p_align itself is not validated (Linux ignores values that are
 *       not powers of two, see maximum_alignment()).
 *     - sorted by p_vaddr (the ELF spec requires it and load_elf_binary assumes it: its first
 *       PT_LOAD sets the ET_DYN load bias and later ones are mapped MAP_FIXED relative to it),
 *       and no two non-empty PT_LOADs touch the same page. Linux tolerates page sharing (the
 *       later MAP_FIXED mapping silently replaces the shared page); our kernel model gives every
 *       page one VMA, so we refuse it with a message. Mainstream linkers do not produce it (a page
 *       has one protection, so they start each segment on a new page).
 *     - at most ELF_MAX_SEGMENTS PT_LOADs, at least one.
 *  9. ET_DYN span: ELF_PAGEALIGN(max end) - ELF_PAGESTART(first vaddr) <= TASK_SIZE
 *     (total_mapping_size(); the first elf_map() of the image would fail otherwise).
 * 10. PT_DYNAMIC (static-PIE): its file range must lie inside the file; its entries are read up
 *     to DT_NULL and any DT_NEEDED → ELF_DYNAMIC. Without DT_NEEDED the image is accepted: a
 *     static-PIE relocates itself (glibc _dl_relocate_static_pie), the loader only picks a load
 *     bias. Relocations are not read.
 * 11. e_entry inside some PT_LOAD [vaddr, vaddr + memsz). Linux only checks entry < TASK_SIZE
 *     (BAD_ADDR(elf_entry)); an entry outside every segment can only fault at the first
 *     instruction, so we refuse it with a clear message instead. An entry in a segment without
 *     PF_X is accepted and reported in img->entry_exec: the program still runs under
 *     READ_IMPLIES_EXEC or on paging without NX (i386 2-level), as on Linux.
 *
 * Derived facts:
 *  - phdr_vaddr (AT_PHDR minus the load bias) follows load_elf_binary since Linux 5.18
 *    ("fs/binfmt_elf: Fix AT_PHDR for unusual ELF files"): the PT_LOAD whose file
 *    range [p_offset, p_offset + p_filesz) contains e_phoff gives
 *    e_phoff - p_offset + p_vaddr (the last such PT_LOAD wins, as in the kernel's loop). PT_PHDR
 *    is not used by the kernel; we fall back to its p_vaddr only when no PT_LOAD covers e_phoff
 *    and PT_PHDR lies inside a PT_LOAD (the kernel would pass 0 + bias there, a value no libc
 *    can use). For every binary a normal linker produces both rules give the same address.
 *  - exec_stack / read_implies_exec follow load_elf_binary + elf_read_implies_exec() in
 *    arch/x86/include/asm/elf.h (since Linux 5.8, "x86/elf: Disable automatic
 *    READ_IMPLIES_EXEC on 64-bit"): PT_GNU_STACK with PF_X → executable stack,
 *    without → not; no PT_GNU_STACK → for i386 READ_IMPLIES_EXEC ("exec-all": the stack and
 *    every readable mapping are executable), for x86-64 nothing is executable that did not ask
 *    for PROT_EXEC ("exec-none").
 */
#include "elf.h"
#include <elf.h> /* the C library's: see the include note in elf.h */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EM_IAMCU
#define EM_IAMCU 6 /* Intel MCU: ELFCLASS32, not i386-compatible */
#endif
#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258 /* missing from older <elf.h> */
#endif

/* Longest PT_INTERP / DT_NEEDED name quoted in a message. */
#define ELF_NAME_QUOTE_MAX 128

/* ---- bounded little-endian reads ------------------------------------------------------------ */

/* The caller has checked that [off, off + width) lies inside the buffer. */
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True when [off, off + len) lies inside a buffer of size bytes; no wrap-around possible. */
static bool range_in(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* ---- class-independent views of the headers ------------------------------------------------- */

struct ehdr {
	uint16_t type, machine, phentsize, phnum;
	uint64_t entry, phoff;
};

struct phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, filesz, memsz, align;
};

/* Reads field F of header type T at p; T's layout comes from <elf.h>, the width from the field. */
#define RD(p, T, F)                                                        \
	(sizeof(((T *)0)->F) == 8   ? rd64((p) + offsetof(T, F))           \
	 : sizeof(((T *)0)->F) == 4 ? (uint64_t)rd32((p) + offsetof(T, F)) \
				    : (uint64_t)rd16((p) + offsetof(T, F)))

/* p points at a complete Elf32_Ehdr / Elf64_Ehdr. */
static void read_ehdr(const uint8_t *p, bool is64, struct ehdr *e)
{
	if (is64) {
		e->type = (uint16_t)RD(p, Elf64_Ehdr, e_type);
		e->machine = (uint16_t)RD(p, Elf64_Ehdr, e_machine);
		e->entry = RD(p, Elf64_Ehdr, e_entry);
		e->phoff = RD(p, Elf64_Ehdr, e_phoff);
		e->phentsize = (uint16_t)RD(p, Elf64_Ehdr, e_phentsize);
		e->phnum = (uint16_t)RD(p, Elf64_Ehdr, e_phnum);
	} else {
		e->type = (uint16_t)RD(p, Elf32_Ehdr, e_type);
		e->machine = (uint16_t)RD(p, Elf32_Ehdr, e_machine);
		e->entry = RD(p, Elf32_Ehdr, e_entry);
		e->phoff = RD(p, Elf32_Ehdr, e_phoff);
		e->phentsize = (uint16_t)RD(p, Elf32_Ehdr, e_phentsize);
		e->phnum = (uint16_t)RD(p, Elf32_Ehdr, e_phnum);
	}
}

/* p points at a complete Elf32_Phdr / Elf64_Phdr (the two orders differ: p_flags moved). */
static void read_phdr(const uint8_t *p, bool is64, struct phdr *ph)
{
	if (is64) {
		ph->type = (uint32_t)RD(p, Elf64_Phdr, p_type);
		ph->flags = (uint32_t)RD(p, Elf64_Phdr, p_flags);
		ph->offset = RD(p, Elf64_Phdr, p_offset);
		ph->vaddr = RD(p, Elf64_Phdr, p_vaddr);
		ph->filesz = RD(p, Elf64_Phdr, p_filesz);
		ph->memsz = RD(p, Elf64_Phdr, p_memsz);
		ph->align = RD(p, Elf64_Phdr, p_align);
	} else {
		ph->type = (uint32_t)RD(p, Elf32_Phdr, p_type);
		ph->flags = (uint32_t)RD(p, Elf32_Phdr, p_flags);
		ph->offset = RD(p, Elf32_Phdr, p_offset);
		ph->vaddr = RD(p, Elf32_Phdr, p_vaddr);
		ph->filesz = RD(p, Elf32_Phdr, p_filesz);
		ph->memsz = RD(p, Elf32_Phdr, p_memsz);
		ph->align = RD(p, Elf32_Phdr, p_align);
	}
}

/* ---- messages ------------------------------------------------------------------------------- */

static enum elf_status fail(char *err, size_t errlen, enum elf_status st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum elf_status fail(char *err, size_t errlen, enum elf_status st, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

#define HX(v) ((unsigned long long)(v))

/* Copies the NUL-terminated string at file offset off (at most max bytes, never past the file)
 * into out as printable ASCII. Returns false if off is outside the file. */
static bool quote_string(const uint8_t *data, size_t size, uint64_t off, uint64_t max, char *out,
			 size_t outlen)
{
	if (off >= size) {
		snprintf(out, outlen, "(outside the file)");
		return false;
	}
	uint64_t avail = size - off;
	if (max > avail)
		max = avail;
	size_t n = 0;
	for (uint64_t i = 0; i < max && data[off + i] != '\0' && n + 4 < outlen; i++) {
		unsigned char c = data[off + i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		if (n == ELF_NAME_QUOTE_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
	}
	out[n] = '\0';
	return true;
}

static const char *machine_name(unsigned m)
{
	switch (m) {
	case EM_NONE: return "none";
	case EM_SPARC: return "SPARC";
	case EM_386: return "i386";
	case EM_68K: return "m68k";
	case EM_MIPS: return "MIPS";
	case EM_IAMCU: return "Intel MCU";
	case EM_PPC: return "PowerPC";
	case EM_PPC64: return "PowerPC64";
	case EM_S390: return "S/390";
	case EM_ARM: return "ARM";
	case EM_SH: return "SuperH";
	case EM_SPARCV9: return "SPARC v9";
	case EM_IA_64: return "IA-64";
	case EM_X86_64: return "x86-64";
	case EM_AARCH64: return "AArch64";
	case EM_RISCV: return "RISC-V";
	case EM_LOONGARCH: return "LoongArch";
	default: return "unknown";
	}
}

static const char *osabi_name(unsigned a)
{
	switch (a) {
	case ELFOSABI_SYSV: return "System V";
	case ELFOSABI_HPUX: return "HP-UX";
	case ELFOSABI_NETBSD: return "NetBSD";
	case ELFOSABI_GNU: return "GNU/Linux";
	case ELFOSABI_SOLARIS: return "Solaris";
	case ELFOSABI_AIX: return "AIX";
	case ELFOSABI_IRIX: return "IRIX";
	case ELFOSABI_FREEBSD: return "FreeBSD";
	case ELFOSABI_TRU64: return "Tru64";
	case ELFOSABI_MODESTO: return "Modesto";
	case ELFOSABI_OPENBSD: return "OpenBSD";
	case ELFOSABI_ARM_AEABI: return "ARM EABI";
	case ELFOSABI_ARM: return "ARM";
	case ELFOSABI_STANDALONE: return "standalone";
	default: return "unknown";
	}
}

static unsigned prot_of(uint32_t p_flags)
{
	return ((p_flags & PF_R) ? PROT_READ : 0) | ((p_flags & PF_W) ? PROT_WRITE : 0) |
	       ((p_flags & PF_X) ? PROT_EXEC : 0);
}

static bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* File offset of the byte at virtual address va, if a PT_LOAD's file part holds it. */
static bool vaddr_to_offset(const struct elf_image *img, uint64_t va, uint64_t *off)
{
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct elf_segment *s = &img->seg[i];
		if (va >= s->vaddr && va - s->vaddr < s->filesz) {
			*off = s->offset + (va - s->vaddr);
			return true;
		}
	}
	return false;
}

/* ---- the parser ----------------------------------------------------------------------------- */

/* Reads PT_DYNAMIC (already checked to lie inside the file) up to DT_NULL. Returns ELF_DYNAMIC
 * with a message naming the first DT_NEEDED library, else ELF_OK. */
static enum elf_status check_dynamic(const uint8_t *data, size_t size, const struct phdr *dyn,
				     const struct elf_image *img, char *err, size_t errlen)
{
	const bool is64 = img->is64;
	const uint64_t entsize = is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	const uint64_t n = dyn->filesz / entsize;
	uint64_t strtab = 0, strsz = UINT64_MAX, needed = 0;
	bool have_strtab = false, have_needed = false;

	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = data + dyn->offset + i * entsize;
		uint64_t tag = is64 ? RD(p, Elf64_Dyn, d_tag) : RD(p, Elf32_Dyn, d_tag);
		uint64_t val = is64 ? RD(p, Elf64_Dyn, d_un.d_val) : RD(p, Elf32_Dyn, d_un.d_val);
		if (tag == DT_NULL)
			break;
		if (tag == DT_NEEDED && !have_needed) {
			have_needed = true;
			needed = val;
		} else if (tag == DT_STRTAB) {
			have_strtab = true;
			strtab = val;
		} else if (tag == DT_STRSZ) {
			strsz = val;
		}
	}
	if (!have_needed)
		return ELF_OK;

	char name[ELF_NAME_QUOTE_MAX + 8] = "";
	uint64_t stroff;
	if (have_strtab && needed < strsz && vaddr_to_offset(img, strtab, &stroff) &&
	    stroff <= UINT64_MAX - needed && stroff + needed < size)
		quote_string(data, size, stroff + needed, strsz - needed, name, sizeof name);
	if (name[0])
		return fail(err, errlen, ELF_DYNAMIC,
			    "dynamically linked binaries are not supported yet "
			    "(DT_NEEDED %s, without PT_INTERP)", name);
	return fail(err, errlen, ELF_DYNAMIC,
		    "dynamically linked binaries are not supported yet (PT_DYNAMIC has DT_NEEDED, "
		    "without PT_INTERP)");
}

enum elf_status elf_parse(const uint8_t *data, size_t size, struct elf_image *out, char *err,
			  size_t errlen)
{
	struct elf_image img;
	memset(&img, 0, sizeof img);
	memset(out, 0, sizeof *out);
	if (err && errlen > 0)
		err[0] = '\0';

	/* 1. magic */
	if (size == 0 || data == NULL)
		return fail(err, errlen, ELF_FOREIGN,
			    "not an ELF file (bad magic): the file is empty");
	if (memcmp(data, ELFMAG, size < SELFMAG ? size : SELFMAG) != 0) {
		if (size >= 2 && data[0] == '#' && data[1] == '!')
			return fail(err, errlen, ELF_FOREIGN,
				    "not an ELF file (bad magic): it starts with \"#!\", a script");
		return fail(err, errlen, ELF_FOREIGN,
			    "not an ELF file (bad magic %02x %02x %02x %02x, expected 7f 45 4c 46)",
			    data[0], size > 1 ? data[1] : 0, size > 2 ? data[2] : 0,
			    size > 3 ? data[3] : 0);
	}

	/* 2. the whole header */
	const unsigned cls = size > EI_CLASS ? data[EI_CLASS] : ELFCLASSNONE;
	const size_t ehsize = cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (size < ehsize)
		return fail(err, errlen, ELF_MALFORMED,
			    "truncated ELF header (%zu bytes needed, file has %zu)", ehsize, size);

	/* 3. e_ident */
	if (cls != ELFCLASS32 && cls != ELFCLASS64)
		return fail(err, errlen, ELF_MALFORMED,
			    "invalid ELF class %u in e_ident (1 = 32-bit or 2 = 64-bit expected)",
			    cls);
	const bool is64 = cls == ELFCLASS64;
	const unsigned enc = data[EI_DATA];
	if (enc == ELFDATA2MSB)
		return fail(err, errlen, ELF_FOREIGN,
			    "ELF file is big-endian (ELFDATA2MSB); x86 is little-endian");
	if (enc != ELFDATA2LSB)
		return fail(err, errlen, ELF_MALFORMED,
			    "invalid ELF data encoding %u in e_ident (1 = little-endian expected)",
			    enc);
	if (data[EI_VERSION] != EV_CURRENT)
		return fail(err, errlen, ELF_MALFORMED,
			    "unsupported ELF version %u in e_ident (1 = EV_CURRENT expected)",
			    data[EI_VERSION]);
	const unsigned osabi = data[EI_OSABI];
	if (osabi != ELFOSABI_SYSV && osabi != ELFOSABI_GNU)
		return fail(err, errlen, ELF_FOREIGN,
			    "ELF OS ABI is %s (%u), mmuemu runs Linux binaries only (System V or "
			    "GNU/Linux OS ABI)",
			    osabi_name(osabi), osabi);

	struct ehdr eh;
	read_ehdr(data, is64, &eh);

	/* 4. machine ↔ class */
	if (eh.machine == EM_X86_64 && !is64)
		return fail(err, errlen, ELF_FOREIGN,
			    "x32 ABI binaries (ELFCLASS32 with EM_X86_64) are not supported");
	if (eh.machine == EM_386 && is64)
		return fail(err, errlen, ELF_FOREIGN,
			    "ELFCLASS64 file for i386 (EM_386): class and machine disagree");
	if (eh.machine != (is64 ? EM_X86_64 : EM_386))
		return fail(err, errlen, ELF_FOREIGN,
			    "ELF machine is %s (%u), mmuemu runs i386 and x86-64 only",
			    machine_name(eh.machine), eh.machine);

	/* 5. type */
	if (eh.type == ET_REL)
		return fail(err, errlen, ELF_FOREIGN,
			    "relocatable object file (ET_REL), not an executable: link it first");
	if (eh.type == ET_CORE)
		return fail(err, errlen, ELF_FOREIGN, "core dump (ET_CORE), not an executable");
	if (eh.type != ET_EXEC && eh.type != ET_DYN)
		return fail(err, errlen, ELF_FOREIGN,
			    "ELF type %u is not an executable (ET_EXEC or ET_DYN expected)",
			    eh.type);

	/* 6. program header table */
	const size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (eh.phnum == 0)
		return fail(err, errlen, ELF_MALFORMED,
			    "no program headers (e_phnum is 0): nothing to load");
	if (eh.phnum == PN_XNUM)
		return fail(err, errlen, ELF_MALFORMED,
			    "e_phnum is PN_XNUM (0xffff, extended numbering, used by core files)");
	if (eh.phentsize != phsize)
		return fail(err, errlen, ELF_MALFORMED,
			    "e_phentsize is %u, expected %zu (sizeof(Elf%d_Phdr))", eh.phentsize,
			    phsize, is64 ? 64 : 32);
	const uint64_t tblsize = (uint64_t)eh.phnum * phsize;
	if (tblsize > ELF_MAX_PHDR_BYTES)
		return fail(err, errlen, ELF_MALFORMED,
			    "program header table has %u entries (%llu bytes); "
			    "Linux reads at most %u bytes",
			    eh.phnum, HX(tblsize), ELF_MAX_PHDR_BYTES);
	if (!range_in(eh.phoff, tblsize, size))
		return fail(err, errlen, ELF_MALFORMED,
			    "program header table 0x%llx+0x%llx lies beyond the end of the file "
			    "(0x%zx bytes)",
			    HX(eh.phoff), HX(tblsize), size);
	const uint8_t *tbl = data + eh.phoff;

	/* 7. PT_INTERP */
	for (unsigned i = 0; i < eh.phnum; i++) {
		struct phdr ph;
		read_phdr(tbl + (size_t)i * phsize, is64, &ph);
		if (ph.type != PT_INTERP)
			continue;
		char name[ELF_NAME_QUOTE_MAX + 8];
		if (range_in(ph.offset, ph.filesz, size) && ph.filesz > 0)
			quote_string(data, size, ph.offset, ph.filesz, name, sizeof name);
		else
			snprintf(name, sizeof name, "at 0x%llx+0x%llx, beyond the end of the file",
				 HX(ph.offset), HX(ph.filesz));
		return fail(err, errlen, ELF_DYNAMIC,
			    "dynamically linked binaries are not supported yet (PT_INTERP %s)",
			    name);
	}

	/* 8. PT_LOADs and the other headers we use */
	const uint64_t task_size = is64 ? ELF_TASK_SIZE_X86_64 : ELF_TASK_SIZE_I386;
	/* Highest address + 1 an ELF of this class can express; an ET_DYN segment must not pass
	 * it, and it leaves room for ELF_PAGEALIGN. */
	const uint64_t addr_end = is64 ? UINT64_MAX - (ELF_PAGE_SIZE - 1) : (uint64_t)1 << 32;
	struct phdr dyn = { 0 }, phdr_hdr = { 0 };
	bool have_phdr_hdr = false;
	int prev = -1; /* last non-empty PT_LOAD, for the order/overlap checks */
	uint64_t max_end = 0;

	img.is64 = is64;
	img.type = eh.type;
	img.entry = eh.entry;
	img.phoff = eh.phoff;
	img.phnum = eh.phnum;
	img.phentsize = eh.phentsize;
	img.file_size = size;

	for (unsigned i = 0; i < eh.phnum; i++) {
		struct phdr ph;
		read_phdr(tbl + (size_t)i * phsize, is64, &ph);
		switch (ph.type) {
		case PT_DYNAMIC:
			if (!img.has_dynamic) {
				if (!range_in(ph.offset, ph.filesz, size))
					return fail(err, errlen, ELF_MALFORMED,
						    "PT_DYNAMIC (program header %u): file range "
						    "0x%llx+0x%llx lies "
						    "beyond the end of the file (0x%zx bytes)",
						    i, HX(ph.offset), HX(ph.filesz), size);
				img.has_dynamic = true;
				img.dynamic_vaddr = ph.vaddr;
				dyn = ph;
			}
			continue;
		case PT_GNU_STACK: /* the last one wins, as in load_elf_binary's loop */
			img.has_gnu_stack = true;
			img.exec_stack = (ph.flags & PF_X) != 0;
			continue;
		case PT_TLS:
			if (!img.has_tls) {
				img.has_tls = true;
				img.tls_vaddr = ph.vaddr;
				img.tls_filesz = ph.filesz;
				img.tls_memsz = ph.memsz;
				img.tls_align = ph.align;
			}
			continue;
		case PT_PHDR:
			if (!have_phdr_hdr) {
				have_phdr_hdr = true;
				phdr_hdr = ph;
			}
			continue;
		case PT_LOAD: break;
		default: continue;
		}

		const unsigned k = img.nseg;
		if (k == ELF_MAX_SEGMENTS)
			return fail(err, errlen, ELF_MALFORMED,
				    "more than %d PT_LOAD segments (program header %u is PT_LOAD "
				    "%u); mmuemu "
				    "supports at most %d",
				    ELF_MAX_SEGMENTS, i, k, ELF_MAX_SEGMENTS);
		if (ph.filesz > ph.memsz)
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u): p_filesz 0x%llx is larger "
				    "than p_memsz "
				    "0x%llx",
				    k, i, HX(ph.filesz), HX(ph.memsz));
		if (ph.filesz > 0 && !range_in(ph.offset, ph.filesz, size))
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u): file range 0x%llx+0x%llx lies "
				    "beyond the "
				    "end of the file (0x%zx bytes)",
				    k, i, HX(ph.offset), HX(ph.filesz), size);
		if (ph.vaddr > addr_end || ph.memsz > addr_end - ph.vaddr)
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u): 0x%llx+0x%llx wraps around "
				    "the %d-bit "
				    "address space",
				    k, i, HX(ph.vaddr), HX(ph.memsz), is64 ? 64 : 32);
		const uint64_t end = ph.vaddr + ph.memsz;
		if (eh.type == ET_EXEC && end > task_size)
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u): 0x%llx-0x%llx ends above the "
				    "user address space (0x%llx on %s)", k, i, HX(ph.vaddr),
				    HX(end), HX(task_size), is64 ? "x86-64" : "i386");
		if (ph.filesz > 0 && ELF_PAGEOFFSET(ph.vaddr) != ELF_PAGEOFFSET(ph.offset))
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u): p_vaddr 0x%llx and p_offset "
				    "0x%llx are "
				    "not congruent modulo the page size (%u); it cannot be mmapped",
				    k, i, HX(ph.vaddr), HX(ph.offset), ELF_PAGE_SIZE);
		if (k > 0 && ph.vaddr < img.seg[k - 1].vaddr)
			return fail(err, errlen, ELF_MALFORMED,
				    "PT_LOAD %u (program header %u) at 0x%llx comes after PT_LOAD "
				    "%u at "
				    "0x%llx: PT_LOAD segments must be sorted by address",
				    k, i, HX(ph.vaddr), k - 1, HX(img.seg[k - 1].vaddr));
		if (ph.memsz > 0 && prev >= 0) {
			const struct elf_segment *p = &img.seg[prev];
			const uint64_t pend = p->vaddr + p->memsz;
			if (ph.vaddr < pend)
				return fail(err, errlen, ELF_MALFORMED,
					    "PT_LOAD %u (program header %u, 0x%llx-0x%llx) "
					    "overlaps PT_LOAD %d "
					    "(0x%llx-0x%llx)",
					    k, i, HX(ph.vaddr), HX(end), prev, HX(p->vaddr),
					    HX(pend));
			if (ELF_PAGESTART(ph.vaddr) < ELF_PAGEALIGN(pend))
				return fail(err, errlen, ELF_MALFORMED,
					    "PT_LOAD %u (program header %u) starts at 0x%llx in "
					    "page 0x%llx, "
					    "where PT_LOAD %d ends (0x%llx); segments sharing a "
					    "page are not "
					    "supported",
					    k, i, HX(ph.vaddr), HX(ELF_PAGESTART(ph.vaddr)), prev,
					    HX(pend));
		}

		struct elf_segment *s = &img.seg[k];
		s->vaddr = ph.vaddr;
		s->memsz = ph.memsz;
		s->offset = ph.offset;
		s->filesz = ph.filesz;
		s->align = ph.align;
		s->prot = prot_of(ph.flags);
		img.nseg = k + 1;
		if (ph.memsz > 0)
			prev = (int)k;
		if (end > max_end)
			max_end = end;
		if (is_pow2(ph.align) && ph.align > img.load_align)
			img.load_align = ph.align;
		/* AT_PHDR as load_elf_binary computes it; a later match overrides an earlier one.
		 */
		if (ph.offset <= eh.phoff && eh.phoff - ph.offset < ph.filesz)
			img.phdr_vaddr = eh.phoff - ph.offset + ph.vaddr;
	}
	if (img.nseg == 0)
		return fail(err, errlen, ELF_MALFORMED, "no PT_LOAD segment: nothing to load");

	/* 9. span */
	img.min_vaddr = ELF_PAGESTART(img.seg[0].vaddr);
	img.max_vaddr = ELF_PAGEALIGN(max_end);
	if (img.max_vaddr - img.min_vaddr > task_size)
		return fail(err, errlen, ELF_MALFORMED,
			    "the PT_LOAD segments span 0x%llx bytes (0x%llx-0x%llx), more than the "
			    "user "
			    "address space (0x%llx on %s)",
			    HX(img.max_vaddr - img.min_vaddr), HX(img.min_vaddr), HX(img.max_vaddr),
			    HX(task_size), is64 ? "x86-64" : "i386");
	img.load_align = ELF_PAGEALIGN(img.load_align);
	if (img.load_align < ELF_PAGE_SIZE)
		img.load_align = ELF_PAGE_SIZE;

	/* 10. PT_DYNAMIC: a static-PIE is fine, DT_NEEDED is not */
	if (img.has_dynamic) {
		enum elf_status st = check_dynamic(data, size, &dyn, &img, err, errlen);
		if (st != ELF_OK)
			return st;
	}

	/* 11. entry */
	bool entry_found = false;
	for (unsigned k = 0; k < img.nseg; k++) {
		const struct elf_segment *s = &img.seg[k];
		if (eh.entry >= s->vaddr && eh.entry - s->vaddr < s->memsz) {
			entry_found = true;
			img.entry_exec = (s->prot & PROT_EXEC) != 0;
			break;
		}
	}
	if (!entry_found)
		return fail(err, errlen, ELF_MALFORMED,
			    "entry point 0x%llx is outside every PT_LOAD segment", HX(eh.entry));

	/* phdr_vaddr fallback: PT_PHDR, if some PT_LOAD maps it (see the top of the file). */
	if (img.phdr_vaddr == 0 && have_phdr_hdr) {
		uint64_t off;
		if (vaddr_to_offset(&img, phdr_hdr.vaddr, &off))
			img.phdr_vaddr = phdr_hdr.vaddr;
	}

	/* stack and READ_IMPLIES_EXEC (elf_read_implies_exec, x86, Linux >= 5.8) */
	if (!img.has_gnu_stack) {
		img.read_implies_exec = !is64;
		img.exec_stack = !is64;
	}

	const char *why = elf_image_check(&img);
	if (why) /* a bug in the checks above, not in the file */
		return fail(err, errlen, ELF_MALFORMED,
			    "internal error: parsed image fails self-check: %s", why);
	*out = img;
	return ELF_OK;
}

const char *elf_image_check(const struct elf_image *img)
{
	const uint64_t task_size = img->is64 ? ELF_TASK_SIZE_X86_64 : ELF_TASK_SIZE_I386;
	if (img->type != ET_EXEC && img->type != ET_DYN)
		return "type is neither ET_EXEC nor ET_DYN";
	if (img->nseg == 0 || img->nseg > ELF_MAX_SEGMENTS)
		return "segment count out of range";
	if (img->phentsize != (img->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return "phentsize does not match the class";
	if (img->phnum == 0 || (uint64_t)img->phnum * img->phentsize > ELF_MAX_PHDR_BYTES ||
	    !range_in(img->phoff, (uint64_t)img->phnum * img->phentsize, img->file_size))
		return "program header table out of range";
	uint64_t max_end = 0;
	const struct elf_segment *prev = NULL;
	bool entry_in = false;
	for (unsigned k = 0; k < img->nseg; k++) {
		const struct elf_segment *s = &img->seg[k];
		if (s->filesz > s->memsz)
			return "segment filesz > memsz";
		if (s->filesz > 0 && !range_in(s->offset, s->filesz, img->file_size))
			return "segment file range outside the file";
		if (s->filesz > 0 && ELF_PAGEOFFSET(s->vaddr) != ELF_PAGEOFFSET(s->offset))
			return "segment vaddr and offset not congruent";
		if (s->vaddr > UINT64_MAX - (ELF_PAGE_SIZE - 1) ||
		    s->memsz > UINT64_MAX - (ELF_PAGE_SIZE - 1) - s->vaddr)
			return "segment wraps around";
		if (!img->is64 && s->vaddr + s->memsz > (uint64_t)1 << 32)
			return "segment beyond 4 GiB in an ELF32 image";
		if (img->type == ET_EXEC && s->vaddr + s->memsz > task_size)
			return "ET_EXEC segment above TASK_SIZE";
		if (s->prot & ~(unsigned)(PROT_READ | PROT_WRITE | PROT_EXEC))
			return "segment prot has bits other than PROT_READ|PROT_WRITE|PROT_EXEC";
		if (k > 0 && s->vaddr < img->seg[k - 1].vaddr)
			return "segments not sorted by vaddr";
		if (s->memsz > 0) {
			if (prev &&
			    ELF_PAGESTART(s->vaddr) < ELF_PAGEALIGN(prev->vaddr + prev->memsz))
				return "two segments touch the same page";
			prev = s;
		}
		if (s->vaddr + s->memsz > max_end)
			max_end = s->vaddr + s->memsz;
		if (img->entry >= s->vaddr && img->entry - s->vaddr < s->memsz)
			entry_in = true;
	}
	if (!entry_in)
		return "entry outside every segment";
	if (img->min_vaddr != ELF_PAGESTART(img->seg[0].vaddr))
		return "min_vaddr is not the page start of the first segment";
	if (img->max_vaddr < img->min_vaddr || ELF_PAGEOFFSET(img->max_vaddr) != 0 ||
	    img->max_vaddr < max_end || img->max_vaddr - max_end >= ELF_PAGE_SIZE)
		return "max_vaddr is not the page-aligned end of the highest segment";
	if (img->max_vaddr - img->min_vaddr > task_size)
		return "image span larger than TASK_SIZE";
	if (!is_pow2(img->load_align) || img->load_align < ELF_PAGE_SIZE)
		return "load_align is not a power of two >= the page size";
	if (img->read_implies_exec && (img->is64 || img->has_gnu_stack || !img->exec_stack))
		return "read_implies_exec set where Linux would not set it";
	if (!img->has_gnu_stack && img->exec_stack != !img->is64)
		return "exec_stack default does not follow elf_read_implies_exec";
	return NULL;
}

/* ---- files ---------------------------------------------------------------------------------- */

static void file_reset(struct elf_file *f)
{
	f->data = NULL;
	f->size = 0;
	f->fd = -1;
}

enum elf_status elf_file_open(const char *path, struct elf_file *f, struct elf_image *img,
			      char *err, size_t errlen)
{
	enum elf_status st;
	struct stat sb;

	file_reset(f);
	memset(img, 0, sizeof *img);
	if (err && errlen > 0)
		err[0] = '\0';

	/* O_NONBLOCK so that opening a FIFO does not wait for a writer; cleared below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errlen, ELF_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		st = fail(err, errlen, ELF_IO, "%s: cannot stat: %s", path, strerror(errno));
		goto out_close;
	}
	if (S_ISDIR(sb.st_mode)) {
		st = fail(err, errlen, ELF_IO, "%s: is a directory, not an executable file", path);
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = fail(err, errlen, ELF_IO, "%s: not a regular file (execve refuses it too)",
			  path);
		goto out_close;
	}
	if (sb.st_size == 0) {
		st = fail(err, errlen, ELF_IO, "%s: the file is empty, not an ELF executable",
			  path);
		goto out_close;
	}
	if ((uintmax_t)sb.st_size > SIZE_MAX) {
		st = fail(err, errlen, ELF_IO, "%s: too large (%jd bytes)", path,
			  (intmax_t)sb.st_size);
		goto out_close;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		st = fail(err, errlen, ELF_IO, "%s: fcntl: %s", path, strerror(errno));
		goto out_close;
	}

	size_t size = (size_t)sb.st_size;
	uint8_t *buf = malloc(size);
	if (!buf) {
		st = fail(err, errlen, ELF_IO, "%s: cannot allocate %zu bytes to read it", path,
			  size);
		goto out_close;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = fail(err, errlen, ELF_IO, "%s: read error: %s", path, strerror(errno));
			goto out_free;
		}
		if (n == 0) {
			st = fail(err, errlen, ELF_IO,
				  "%s: the file shrank while it was read (%zu of %zu bytes)", path,
				  got, size);
			goto out_free;
		}
		got += (size_t)n;
	}

	char why[512];
	st = elf_parse(buf, size, img, why, sizeof why);
	if (st != ELF_OK) {
		fail(err, errlen, st, "%s: %s", path, why);
		goto out_free;
	}
	f->data = buf;
	f->size = size;
	f->fd = fd;
	return ELF_OK;

out_free:
	free(buf);
out_close:
	close(fd);
	return st;
}

void elf_file_close(struct elf_file *f)
{
	free(f->data);
	if (f->fd >= 0)
		close(f->fd);
	file_reset(f);
}

const char *elf_status_name(enum elf_status st)
{
	switch (st) {
	case ELF_OK: return "ELF_OK";
	case ELF_MALFORMED: return "ELF_MALFORMED";
	case ELF_FOREIGN: return "ELF_FOREIGN";
	case ELF_DYNAMIC: return "ELF_DYNAMIC";
	case ELF_IO: return "ELF_IO";
	}
	return "ELF_(unknown status)";
}
