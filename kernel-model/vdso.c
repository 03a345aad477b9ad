/* vdso.c — the vDSO and vvar mappings every Linux process gets (arch/x86/entry/vdso/vma.c).
 *
 * Linux maps two special mappings into each new program after its segments and brk are set up
 * (load_elf_binary → arch_setup_additional_pages → map_vdso): "[vvar]", the kernel's data pages
 * the vDSO reads (4 pages in 6.12: vvar, pvclock, hvclock, timens; VM_READ|VM_IO|VM_PFNMAP|
 * VM_DONTDUMP, no VM_MAYWRITE), and "[vdso]" right above it (the vDSO image, 2 pages on x86-64;
 * VM_READ|VM_EXEC|VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC|VM_DONTEXPAND), both placed by one top-down
 * get_unmapped_area below mmap_base, and passes the image's address in AT_SYSINFO_EHDR (and on
 * i386 the address of __kernel_vsyscall in AT_SYSINFO). Their pages are kernel-image pages,
 * installed by their fault handlers (vdso_fault, vvar_fault): the first touch of each page is a
 * minor fault, as in Linux.
 *
 * Why the model needs it: a static glibc program parses the vDSO at start-up (setup_vdso in
 * _dl_non_dynamic_init) and allocates a link_map for it from its heap, and every later heap
 * decision (trimming through brk, the mmap threshold) depends on that offset. Without a vDSO a
 * glibc program's heap differs from its native run, and so do its page faults.
 *
 * The image is the model's own, minimal but valid ELF shared object: ELF header, a PT_LOAD of
 * the whole image and a PT_DYNAMIC; a dynamic section with DT_HASH (one bucket), DT_SYMTAB (the
 * null symbol only), DT_STRTAB, DT_STRSZ, DT_SYMENT and DT_SONAME ("linux-vdso.so.1", i386
 * "linux-gate.so.1"). It exports no functions, so the C libraries fall back to the real system
 * calls for clock_gettime, gettimeofday, time and getcpu (deviation: Linux's vDSO answers those
 * without entering the kernel). On i386 the image also holds __kernel_vsyscall, "int $0x80; ret"
 * (Linux's uses SYSENTER or SYSCALL when the CPU has them, with INT 0x80 as the fallback). The
 * vvar pages are one zeroed kernel page mapped four times (nothing reads them without vDSO
 * functions). Deviations: the special pages are not counted in the process's RSS, and the
 * mappings cannot be made writable (no VM_MAYWRITE on [vdso] either, so mprotect gives -EACCES;
 * Linux lets a debugger COW the vDSO).
 */
#include <errno.h>
#include <string.h>

#include "km_internal.h"

#define VDSO_PAGES 2
#define VVAR_PAGES 4
#define VDSO_SONAME_64 "linux-vdso.so.1"
#define VDSO_SONAME_32 "linux-gate.so.1"

/* Offsets inside the image (the same for both classes; all fit in the first page). */
#define OFF_PHDR    0x040
#define OFF_DYN     0x100
#define OFF_HASH    0x180
#define OFF_SYMTAB  0x1a0
#define OFF_STRTAB  0x1c0
#define OFF_TEXT    0x200   /* __kernel_vsyscall on i386 */

enum { DT_NULL_ = 0, DT_HASH_ = 4, DT_STRTAB_ = 5, DT_SYMTAB_ = 6, DT_STRSZ_ = 10, DT_SYMENT_ = 11,
       DT_SONAME_ = 14 };

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Writes the image into img (VDSO_PAGES pages, zeroed by the caller). */
static void build_image(uint8_t *img, bool is64)
{
	const char *soname = is64 ? VDSO_SONAME_64 : VDSO_SONAME_32;
	size_t strsz = 1 + strlen(soname) + 1;             /* "\0" soname "\0" */
	uint64_t size = VDSO_PAGES * PAGE_SIZE;
	/* e_ident */
	img[0] = 0x7f; img[1] = 'E'; img[2] = 'L'; img[3] = 'F';
	img[4] = is64 ? 2 : 1;   /* ELFCLASS64 / ELFCLASS32 */
	img[5] = 1;              /* ELFDATA2LSB */
	img[6] = 1;              /* EV_CURRENT */
	img[7] = 0;              /* ELFOSABI_NONE */
	put16(img + 16, 3);      /* ET_DYN */
	put16(img + 18, is64 ? 62 : 3);   /* EM_X86_64 / EM_386 */
	put32(img + 20, 1);
	if (is64) {
		put64(img + 24, 0);               /* e_entry */
		put64(img + 32, OFF_PHDR);        /* e_phoff */
		put64(img + 40, 0);               /* e_shoff: no sections */
		put32(img + 48, 0);               /* e_flags */
		put16(img + 52, 64);              /* e_ehsize */
		put16(img + 54, 56);              /* e_phentsize */
		put16(img + 56, 2);               /* e_phnum */
		put16(img + 58, 64);              /* e_shentsize */
		put16(img + 60, 0);
		put16(img + 62, 0);
		uint8_t *ph = img + OFF_PHDR;
		/* PT_LOAD, R+X, the whole image at vaddr 0 */
		put32(ph + 0, 1); put32(ph + 4, 5);
		put64(ph + 8, 0); put64(ph + 16, 0); put64(ph + 24, 0);
		put64(ph + 32, size); put64(ph + 40, size); put64(ph + 48, PAGE_SIZE);
		ph += 56;
		/* PT_DYNAMIC, R */
		put32(ph + 0, 2); put32(ph + 4, 4);
		put64(ph + 8, OFF_DYN); put64(ph + 16, OFF_DYN); put64(ph + 24, OFF_DYN);
		put64(ph + 32, 7 * 16); put64(ph + 40, 7 * 16); put64(ph + 48, 8);
		uint8_t *d = img + OFF_DYN;
		const uint64_t dyn[7][2] = {
			{ DT_HASH_, OFF_HASH }, { DT_STRTAB_, OFF_STRTAB }, { DT_SYMTAB_, OFF_SYMTAB },
			{ DT_STRSZ_, strsz }, { DT_SYMENT_, 24 }, { DT_SONAME_, 1 }, { DT_NULL_, 0 },
		};
		for (int i = 0; i < 7; i++) {
			put64(d + 16 * i, dyn[i][0]);
			put64(d + 16 * i + 8, dyn[i][1]);
		}
	} else {
		put32(img + 24, OFF_TEXT);        /* e_entry: __kernel_vsyscall */
		put32(img + 28, OFF_PHDR);
		put32(img + 32, 0);
		put32(img + 36, 0);
		put16(img + 40, 52);
		put16(img + 42, 32);
		put16(img + 44, 2);
		put16(img + 46, 40);
		put16(img + 48, 0);
		put16(img + 50, 0);
		uint8_t *ph = img + OFF_PHDR;
		put32(ph + 0, 1); put32(ph + 4, 0); put32(ph + 8, 0); put32(ph + 12, 0);
		put32(ph + 16, (uint32_t)size); put32(ph + 20, (uint32_t)size); put32(ph + 24, 5);
		put32(ph + 28, PAGE_SIZE);
		ph += 32;
		put32(ph + 0, 2); put32(ph + 4, OFF_DYN); put32(ph + 8, OFF_DYN); put32(ph + 12, OFF_DYN);
		put32(ph + 16, 7 * 8); put32(ph + 20, 7 * 8); put32(ph + 24, 4); put32(ph + 28, 4);
		uint8_t *d = img + OFF_DYN;
		const uint32_t dyn[7][2] = {
			{ DT_HASH_, OFF_HASH }, { DT_STRTAB_, OFF_STRTAB }, { DT_SYMTAB_, OFF_SYMTAB },
			{ DT_STRSZ_, (uint32_t)strsz }, { DT_SYMENT_, 16 }, { DT_SONAME_, 1 }, { DT_NULL_, 0 },
		};
		for (int i = 0; i < 7; i++) {
			put32(d + 8 * i, dyn[i][0]);
			put32(d + 8 * i + 4, dyn[i][1]);
		}
		/* __kernel_vsyscall: int $0x80; ret */
		img[OFF_TEXT] = 0xcd;
		img[OFF_TEXT + 1] = 0x80;
		img[OFF_TEXT + 2] = 0xc3;
	}
	/* DT_HASH: nbucket 1, nchain 1, bucket[0] = 0 (STN_UNDEF ends the chain), chain[0] = 0. */
	put32(img + OFF_HASH, 1);
	put32(img + OFF_HASH + 4, 1);
	/* The symbol table holds only the null symbol (all zero); the string table "\0soname\0". */
	memcpy(img + OFF_STRTAB + 1, soname, strlen(soname));
}

void km_vdso_init(struct km *km)
{
	/* The image and the vvar page are kernel-image pages: frames below the zero page in the
	 * reserved region. */
	km->vvar_pfn = km->zero_pfn - 1 - VDSO_PAGES;
	km->vdso_pfn = km->zero_pfn - VDSO_PAGES;
	for (unsigned i = 0; i <= VDSO_PAGES; i++) {
		struct page *p = km_pfn_page(km, km->vvar_pfn + i);
		p->flags |= PG_KM_KERNEL;
		memset(km_pfn_ptr(km, km->vvar_pfn + i), 0, PAGE_SIZE);
	}
	build_image(km_pfn_ptr(km, km->vdso_pfn), km->cfg.arch == KM_ARCH_X86_64);
}

int64_t km_map_vdso(struct km *km, struct mm_struct *mm, uint64_t *sysinfo)
{
	uint64_t len = (VVAR_PAGES + VDSO_PAGES) * PAGE_SIZE;
	uint64_t addr = km_get_unmapped_area(mm, len);
	if (!addr || addr + len > mm->task_size)
		return -ENOMEM;
	const struct { uint64_t start, pages, flags; enum km_special kind; } m[2] = {
		{ addr, VVAR_PAGES, VM_READ | VM_MAYREAD | VM_IO | VM_PFNMAP | VM_DONTDUMP | VM_DONTEXPAND,
		  KM_SPECIAL_VVAR },
		{ addr + VVAR_PAGES * PAGE_SIZE, VDSO_PAGES,
		  VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC | VM_DONTEXPAND, KM_SPECIAL_VDSO },
	};
	for (int i = 0; i < 2; i++) {
		struct vm_area_struct *v = vma_alloc(km);
		if (!v)
			return -ENOMEM;
		v->vm_start = m[i].start;
		v->vm_end = m[i].start + m[i].pages * PAGE_SIZE;
		v->vm_flags = m[i].flags;
		v->vm_page_prot = vm_get_page_prot(km, m[i].flags);
		v->special = m[i].kind;
		if (!vma_insert(mm, v)) {
			vma_free(km, v);
			return -ENOMEM;
		}
	}
	uint64_t base = addr + VVAR_PAGES * PAGE_SIZE;
	*sysinfo = km->cfg.arch == KM_ARCH_X86_64 ? 0 : base + OFF_TEXT;
	mm->vdso_base = base;
	return (int64_t)base;
}

/* The frame a special mapping shows at addr (vdso_fault, vvar_fault). */
uint64_t km_special_pfn(const struct km *km, const struct vm_area_struct *vma, uint64_t addr)
{
	uint64_t idx = (addr - vma->vm_start) >> PAGE_SHIFT;
	if (vma->special == KM_SPECIAL_VDSO)
		return km->vdso_pfn + idx;
	return km->vvar_pfn;
}
