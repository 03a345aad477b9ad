/* loader.c — builds the initial address space of a static ELF program the way Linux 6.12's
 * fs/binfmt_elf.c load_elf_binary does with ASLR off, through the kernel model only:
 *
 *  - each PT_LOAD becomes a private file mapping (elf_map) at its p_vaddr (ET_EXEC) or at
 *    p_vaddr + load_bias (ET_DYN without interpreter: the whole image span is placed top-down
 *    below mmap_base, as a load_bias of 0 without MAP_FIXED does);
 *  - the tail of the last file page past p_filesz is cleared through clear_user (padzero, which
 *    takes a COW fault), and the rest of the bss is an anonymous mapping (vm_brk_flags);
 *  - start_brk = brk = page-aligned end of the highest segment;
 *  - the stack VMA ends at STACK_TOP and holds, from the top: a null word, the executable name
 *    (AT_EXECFN), the environment and argument strings, the platform string, 16 AT_RANDOM bytes,
 *    then argc, argv[], NULL, envp[], NULL and the auxiliary vector (create_elf_tables),
 *    16-byte aligned; setup_arg_pages adds stack_expand = 128 KiB below.
 *
 * AT_RANDOM bytes come from a fixed seed so runs are repeatable (a deliberate difference from
 * Linux; see docs/abi.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loader.h"

#include <linux/auxvec.h>

#ifndef AT_SYSINFO
#define AT_SYSINFO 32   /* i386 only (asm/auxvec.h of the 32-bit ABI) */
#endif
#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif
#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#define AT_RSEQ_ALIGN 28
#endif
#ifndef AT_HWCAP2
#define AT_HWCAP2 26
#endif

#define STACK_EXPAND (128ULL << 10)   /* setup_arg_pages stack_expand */
#define MAX_ARG_BYTES (2ULL << 20)    /* we refuse more than this much argument/environment text */

static int elf_prot(unsigned p, bool read_implies_exec)
{
	int prot = 0;
	if (p & PROT_READ)
		prot |= PROT_READ;
	if (p & PROT_WRITE)
		prot |= PROT_WRITE;
	if (p & PROT_EXEC)
		prot |= PROT_EXEC;
	if (read_implies_exec && (prot & PROT_READ))
		prot |= PROT_EXEC;
	return prot;
}

/* A stack builder writing downwards from the top of the stack VMA through copy_to_user. */
struct stackw {
	struct km *km;
	struct mm_struct *mm;
	uint64_t sp;
	bool is64;
	int err;
};

static uint64_t push_bytes(struct stackw *s, const void *data, size_t n)
{
	s->sp -= n;
	if (!s->err && km_copy_to_user(s->km, s->mm, s->sp, data, n) != 0)
		s->err = -EFAULT;
	return s->sp;
}

static uint64_t push_string(struct stackw *s, const char *str)
{
	return push_bytes(s, str, strlen(str) + 1);
}

static void put_word(struct stackw *s, uint64_t addr, uint64_t v)
{
	if (s->err)
		return;
	if (s->is64) {
		if (km_copy_to_user(s->km, s->mm, addr, &v, 8))
			s->err = -EFAULT;
	} else {
		uint32_t w = (uint32_t)v;
		if (km_copy_to_user(s->km, s->mm, addr, &w, 4))
			s->err = -EFAULT;
	}
}

int loader_load(struct loader_result *out, struct km *km, struct mm_struct *mm,
		const struct elf_image *img, struct km_file *file, const char *exec_name,
		int argc, char **argv, char **envp, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	uint64_t load_bias = 0;
	km_mm_set_read_implies_exec(mm, img->read_implies_exec);
	if (img->type == 3 /* ET_DYN */) {
		uint64_t span = img->max_vaddr - img->min_vaddr;
		uint64_t at = km_get_unmapped_area(mm, span);
		if (!at) {
			snprintf(err, errlen, "no room for a %llu-byte image in the address space",
				 (unsigned long long)span);
			return -ENOMEM;
		}
		load_bias = at - img->min_vaddr;
	}
	uint64_t elf_brk = 0, start_code = ~0ULL, end_code = 0;
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct elf_segment *s = &img->seg[i];
		int prot = elf_prot(s->prot, img->read_implies_exec);
		uint64_t vaddr = s->vaddr + load_bias;
		uint64_t pstart = vaddr & ~4095ULL, poff = vaddr & 4095ULL;
		uint64_t zero_start, zero_end;
		if (s->filesz) {
			int64_t r = km_mmap(km, mm, pstart, (s->filesz + poff + 4095) & ~4095ULL, prot,
					    MAP_PRIVATE | MAP_FIXED, file, s->offset - poff);
			if (r < 0) {
				snprintf(err, errlen, "cannot map PT_LOAD %u at %#llx: %s", i,
					 (unsigned long long)pstart, strerror((int)-r));
				return (int)r;
			}
			zero_start = vaddr + s->filesz;
			zero_end = vaddr + s->memsz;
			if (s->memsz > s->filesz) {
				/* padzero: clear the rest of the last file page (a write fault, COW). */
				uint64_t pad = ((zero_start + 4095) & ~4095ULL) - zero_start;
				if (pad && km_clear_user(km, mm, zero_start, pad) != 0 && (prot & PROT_WRITE)) {
					snprintf(err, errlen, "cannot clear the bss tail of PT_LOAD %u", i);
					return -EFAULT;
				}
			}
		} else {
			zero_start = pstart;
			zero_end = pstart + poff + s->memsz;
		}
		if (s->memsz > s->filesz) {
			uint64_t zs = (zero_start + 4095) & ~4095ULL, ze = (zero_end + 4095) & ~4095ULL;
			if (ze > zs) {
				int64_t r = km_vm_brk_flags(km, mm, zs, ze - zs, prot & PROT_EXEC);
				if (r < 0) {
					snprintf(err, errlen, "cannot map the bss of PT_LOAD %u: %s", i,
						 strerror((int)-r));
					return (int)r;
				}
			}
		}
		if (vaddr + s->memsz > elf_brk)
			elf_brk = vaddr + s->memsz;
		if (s->prot & PROT_EXEC) {
			if (vaddr < start_code)
				start_code = vaddr;
			if (vaddr + s->filesz > end_code)
				end_code = vaddr + s->filesz;
		}
	}
	km_mm_set_brk(mm, (elf_brk + 4095) & ~4095ULL);

	/* ---- the stack ------------------------------------------------------------------------ */
	size_t envc = 0, strbytes = 0;
	for (char **e = envp; e && *e; e++, envc++)
		strbytes += strlen(*e) + 1;
	for (int i = 0; i < argc; i++)
		strbytes += strlen(argv[i]) + 1;
	strbytes += strlen(exec_name) + 1;
	if (strbytes > MAX_ARG_BYTES) {
		snprintf(err, errlen, "arguments and environment too large (%zu bytes)", strbytes);
		return -E2BIG;
	}
	unsigned wsize = img->is64 ? 8 : 4;
	size_t table_bytes = (size_t)(argc + envc + 3) * wsize + 40 * 2 * wsize + 64;
	uint64_t stack_size = ((strbytes + table_bytes + 4095) & ~4095ULL) + STACK_EXPAND;
	int r = km_setup_stack(km, mm, stack_size, img->exec_stack);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the stack VMA");
		return r;
	}
	/* arch_setup_additional_pages: [vvar] and [vdso] (kernel-model/vdso.c). */
	uint64_t sysinfo = 0;
	int64_t vdso = km_map_vdso(km, mm, &sysinfo);
	if (vdso < 0) {
		snprintf(err, errlen, "cannot map the vDSO");
		return (int)vdso;
	}
	struct stackw s = { km, mm, km_mm_stack_top(mm) - wsize, img->is64, 0 };
	uint64_t execfn = push_string(&s, exec_name);
	uint64_t *envaddr = calloc(envc + 1, sizeof(uint64_t));
	uint64_t *argaddr = calloc((size_t)argc + 1, sizeof(uint64_t));
	if (!envaddr || !argaddr) {
		free(envaddr);
		free(argaddr);
		snprintf(err, errlen, "out of host memory");
		return -ENOMEM;
	}
	for (size_t i = envc; i-- > 0;)
		envaddr[i] = push_string(&s, envp[i]);
	for (int i = argc; i-- > 0;)
		argaddr[i] = push_string(&s, argv[i]);
	s.sp &= ~15ULL;   /* arch_align_stack without randomisation */
	uint64_t platform = push_string(&s, img->is64 ? "x86_64" : "i686");
	uint8_t rnd[16];
	uint64_t x = 0x6d6d75656d75ULL;   /* fixed seed: repeatable runs */
	for (int i = 0; i < 16; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		rnd[i] = (uint8_t)(x >> 56);
	}
	uint64_t random_addr = push_bytes(&s, rnd, sizeof(rnd));

	uint64_t phdr = img->phdr_vaddr ? img->phdr_vaddr + load_bias : 0;
	/* ARCH_DLINFO first: x86-64 AT_SYSINFO_EHDR; i386 (ARCH_DLINFO_IA32) AT_SYSINFO then
	 * AT_SYSINFO_EHDR; both then AT_MINSIGSTKSZ. */
	uint64_t auxv[][2] = {
		{ img->is64 ? AT_SYSINFO_EHDR : AT_SYSINFO, img->is64 ? (uint64_t)vdso : sysinfo },
		{ img->is64 ? AT_IGNORE : AT_SYSINFO_EHDR, img->is64 ? 0 : (uint64_t)vdso },
		{ AT_MINSIGSTKSZ, img->is64 ? 3632 : 2560 },
		{ AT_HWCAP, 0x178bfbffULL },
		{ AT_PAGESZ, 4096 },
		{ AT_CLKTCK, 100 },
		{ AT_PHDR, phdr },
		{ AT_PHENT, img->phentsize },
		{ AT_PHNUM, img->phnum },
		{ AT_BASE, 0 },
		{ AT_FLAGS, 0 },
		{ AT_ENTRY, img->entry + load_bias },
		{ AT_UID, 0 }, { AT_EUID, 0 }, { AT_GID, 0 }, { AT_EGID, 0 },
		{ AT_SECURE, 0 },
		{ AT_RANDOM, random_addr },
		{ AT_HWCAP2, 0 },
		{ AT_EXECFN, execfn },
		{ AT_PLATFORM, platform },
		{ AT_NULL, 0 },
	};
	size_t nauxv = sizeof(auxv) / sizeof(auxv[0]);
	if (img->is64) {
		/* x86-64 has one ARCH_DLINFO entry fewer: drop the AT_IGNORE placeholder. */
		memmove(auxv[1], auxv[2], (nauxv - 2) * sizeof(auxv[0]));
		nauxv--;
	}
	/* uid/gid as the host reports them. */
	for (size_t i = 0; i < nauxv; i++) {
		switch (auxv[i][0]) {
		case AT_UID: auxv[i][1] = getuid(); break;
		case AT_EUID: auxv[i][1] = geteuid(); break;
		case AT_GID: auxv[i][1] = getgid(); break;
		case AT_EGID: auxv[i][1] = getegid(); break;
		}
	}
	size_t items = 1 + (size_t)argc + 1 + envc + 1 + nauxv * 2;
	s.sp = (s.sp - items * wsize) & ~15ULL;   /* STACK_ROUND */
	uint64_t p = s.sp;
	put_word(&s, p, (uint64_t)argc);
	p += wsize;
	for (int i = 0; i < argc; i++, p += wsize)
		put_word(&s, p, argaddr[i]);
	put_word(&s, p, 0);
	p += wsize;
	for (size_t i = 0; i < envc; i++, p += wsize)
		put_word(&s, p, envaddr[i]);
	put_word(&s, p, 0);
	p += wsize;
	for (size_t i = 0; i < nauxv; i++) {
		put_word(&s, p, auxv[i][0]);
		put_word(&s, p + wsize, auxv[i][1]);
		p += 2 * wsize;
	}
	free(envaddr);
	free(argaddr);
	if (s.err) {
		snprintf(err, errlen, "cannot build the initial stack (out of modelled memory?)");
		return s.err;
	}
	out->entry = img->entry + load_bias;
	out->sp = s.sp;
	out->load_bias = load_bias;
	out->start_code = start_code + 0;
	out->end_code = end_code;
	return 0;
}
