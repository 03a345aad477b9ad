/* qemu_x86.c — the Unicorn side of the walker differential test (see qemu_x86.h).
 *
 * Setup, once per engine: RAM at physical 0 (an anonymous mapping), a GDT with flat DPL 0 and
 * DPL 3 segments, CS/SS/DS/ES loaded with paging off, CPUID read by running `cpuid`, for a
 * user engine an `iret` to CPL 3 (the only way in: a CPL 3 SS cannot be loaded at CPL 0), a
 * pattern in DR0..DR3, the hooks, and a saved base context. Then the error-code reader is
 * calibrated on a tiny page table of its own (QX_CALIB_PA).
 *
 * Per run: restore the base context, write CR4, EFER, CR3, CR0 (in that order, so that
 * CR0.PG with EFER.LME activates IA-32e mode), EFLAGS, EBX/RBX and EAX, flush the TLB, and
 * execute 1 (load, store) or 3 (jump, then the slot's mov and int) instructions.
 */
#include "qemu_x86.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <unicorn/unicorn.h>

/* Test instructions at QX_CODE_PA (the same bytes decode alike in 32- and 64-bit mode). */
static const uint8_t test_code[] = {
	0x8b, 0x03,   /* +0 mov eax, [ebx/rbx] */
	0x89, 0x03,   /* +2 mov [ebx/rbx], eax */
	0xff, 0xe3,   /* +4 jmp ebx/rbx */
};
#define OFF_LOAD   0
#define OFF_STORE  2
#define OFF_JMP    4
/* uc_emu_start's `until`: 0. After every run Unicorn invalidates the translated blocks at each
 * non-zero exit address, translating it through the MMU — slow, and it would walk the page
 * tables once more. Exit 0 is skipped; callers never run code at linear address 0. */
#define UNTIL_NONE 0
#define FETCH_INSNS 3      /* jmp, then the slot's mov and int */

/* GDT selectors (index << 3 | RPL) and descriptor fields. */
#define SEL_CODE32     0x08
#define SEL_DATA       0x10
#define SEL_CODE32_U   0x1b
#define SEL_DATA_U     0x23
#define SEL_CODE64     0x28
#define SEL_CODE64_U   0x33
#define GDT_ENTRIES    7
#define DESC_CODE_DPL0 0x9b   /* present, code, readable, accessed */
#define DESC_DATA_DPL0 0x93   /* present, data, writable, accessed */
#define DESC_CODE_DPL3 0xfb
#define DESC_DATA_DPL3 0xf3
#define DESC_FLAGS_32  0xc    /* G, D/B */
#define DESC_FLAGS_64  0xa    /* G, L */
#define LIMIT_4G       0xfffff
#define RPL_MASK       3

#define EFLAGS_FIXED   0x2
#define EFLAGS_AC      0x40000
#define MSR_EFER       0xC0000080u

/* Opcodes of the setup code. */
#define OP_IRET        0xcf
#define OP_REX_W       0x48
#define OP_MOV_EAX_IMM 0xb8
#define OP_INT         0xcd
#define OP_NOP         0x90
static const uint8_t op_cpuid[] = { 0x0f, 0xa2 };

/* CPUID leaves and bits read for struct qx_cpuid. */
#define CPUID_EXT_ADDR_SIZES 0x80000008u
#define CPUID_EXT_FEATURES   0x80000001u
#define CPUID_STRUCT_EXT     7u
#define CPUID_EDX_NX         (1u << 20)
#define CPUID_EDX_PDPE1GB    (1u << 26)
#define CPUID_EBX_SMEP       (1u << 7)
#define CPUID_EBX_SMAP       (1u << 20)
#define CPUID_ECX_LA57       (1u << 16)
#define CPUID_PHYS_BITS_MASK 0xffu

/* The DR0..DR3 pattern that locates CPUX86State.dr[] in a saved context; error_code,
 * exception_is_int (4 bytes each) and exception_next_eip (8) precede it. */
static const uint32_t dr_pattern[4] = { 0x5a17c0de, 0x6b28d1ef, 0x7c39e2f0, 0x8d4af301 };
#define DR_TO_ERROR_CODE      16
#define DR_TO_EXCEPTION_IS_INT 12
#define DR_TO_NEXT_EIP         8

struct run_state {
	unsigned nevents;
	int mem_type;
	uint64_t mem_pa;
	bool unmapped;
	uint64_t unmapped_pa;
	int vector;
	uint64_t ip, eax;
};

struct qx {
	uc_engine *uc;
	enum qx_width width;
	bool user;
	uint8_t *mem;
	struct qx_cpuid cpuid;
	uc_context *base, *scratch;
	size_t ctx_size;
	long dr_off;            /* offset of dr[0] in a saved context, -1 if not found */
	bool ec_known;
	const char *ec_note;
	struct run_state run;
};

/* ---- registers ------------------------------------------------------------------------------- */

enum gpr { GPR_A, GPR_B, GPR_C, GPR_D, GPR_SP, GPR_IP, GPR_FLAGS };

static int reg_id(const struct qx *q, enum gpr r)
{
	static const int id32[] = { UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
				    UC_X86_REG_ESP, UC_X86_REG_EIP, UC_X86_REG_EFLAGS };
	static const int id64[] = { UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
				    UC_X86_REG_RSP, UC_X86_REG_RIP, UC_X86_REG_RFLAGS };
	return q->width == QX_64 ? id64[r] : id32[r];
}

/* uc_reg_write reads 4 bytes in UC_MODE_32 and 8 in UC_MODE_64: a uint64_t serves both on a
 * little-endian host. */
static bool wr(struct qx *q, int id, uint64_t v)
{
	if (q->width == QX_32)
		v = (uint32_t)v;
	return uc_reg_write(q->uc, id, &v) == UC_ERR_OK;
}

static bool rd(struct qx *q, int id, uint64_t *v)
{
	*v = 0;
	if (uc_reg_read(q->uc, id, v) != UC_ERR_OK)
		return false;
	if (q->width == QX_32)
		*v = (uint32_t)*v;
	return true;
}

static bool wr_efer(struct qx *q, uint64_t v)
{
	uc_x86_msr msr = { .rid = MSR_EFER, .value = v };
	return uc_reg_write(q->uc, UC_X86_REG_MSR, &msr) == UC_ERR_OK;
}

static bool rd_efer(struct qx *q, uint64_t *v)
{
	uc_x86_msr msr = { .rid = MSR_EFER, .value = 0 };
	if (uc_reg_read(q->uc, UC_X86_REG_MSR, &msr) != UC_ERR_OK)
		return false;
	*v = msr.value;
	return true;
}

/* ---- hooks ----------------------------------------------------------------------------------- */

static void hook_mem(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
		     void *user)
{
	struct run_state *s = user;
	if (s->nevents++ == 0) {
		s->mem_type = type;
		s->mem_pa = addr;
	}
}

static bool hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size,
			  int64_t value, void *user)
{
	struct run_state *s = user;
	if (!s->unmapped) {
		s->unmapped = true;
		s->unmapped_pa = addr;
		if (s->nevents == 0)
			s->mem_type = type;
	}
	return false;   /* stop: uc_emu_start returns UC_ERR_*_UNMAPPED */
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	struct qx *q = user;
	if (q->run.vector < 0) {
		q->run.vector = (int)intno;
		rd(q, reg_id(q, GPR_IP), &q->run.ip);
		rd(q, reg_id(q, GPR_A), &q->run.eax);
	}
	/* Unicorn resumes at the faulting instruction after the hook: stop instead. */
	uc_emu_stop(uc);
}

/* ---- memory and segments --------------------------------------------------------------------- */

static uint64_t gdt_desc(unsigned access, unsigned flags)
{
	/* base 0, limit 0xfffff pages: limit 15:0 | access << 40 | limit 19:16 << 48 | flags << 52 */
	return (LIMIT_4G & 0xffffu) | ((uint64_t)access << 40) |
	       ((uint64_t)(LIMIT_4G >> 16) << 48) | ((uint64_t)flags << 52);
}

/* The QX_SLOT_SIZE bytes of the data slot at physical address base (slot-aligned). */
static void make_slot(uint64_t base, uint8_t out[QX_SLOT_SIZE])
{
	uint32_t id = (uint32_t)(base / QX_SLOT_SIZE);
	out[0] = OP_MOV_EAX_IMM;
	memcpy(out + 1, &id, sizeof id);
	out[5] = OP_INT;
	out[6] = QX_INT_MARKER;
	out[7] = OP_NOP;
}

uint32_t qx_slot_word(uint64_t pa)
{
	uint8_t bytes[2 * QX_SLOT_SIZE];
	uint64_t base = pa & ~(uint64_t)(QX_SLOT_SIZE - 1);
	uint32_t w;

	make_slot(base, bytes);
	make_slot(base + QX_SLOT_SIZE, bytes + QX_SLOT_SIZE);
	memcpy(&w, bytes + (pa - base), sizeof w);
	return w;
}

static void fill_data_area(uint8_t *mem)
{
	for (uint64_t pa = QX_DATA_BASE; pa < QX_MEM_SIZE; pa += QX_SLOT_SIZE)
		make_slot(pa, mem + pa);
}

static bool load_segments(struct qx *q)
{
	uint64_t *gdt = (uint64_t *)(q->mem + QX_GDT_PA);
	gdt[SEL_CODE32 >> 3] = gdt_desc(DESC_CODE_DPL0, DESC_FLAGS_32);
	gdt[SEL_DATA >> 3] = gdt_desc(DESC_DATA_DPL0, DESC_FLAGS_32);
	gdt[SEL_CODE32_U >> 3] = gdt_desc(DESC_CODE_DPL3, DESC_FLAGS_32);
	gdt[SEL_DATA_U >> 3] = gdt_desc(DESC_DATA_DPL3, DESC_FLAGS_32);
	gdt[SEL_CODE64 >> 3] = gdt_desc(DESC_CODE_DPL0, DESC_FLAGS_64);
	gdt[SEL_CODE64_U >> 3] = gdt_desc(DESC_CODE_DPL3, DESC_FLAGS_64);

	uc_x86_mmr gdtr = { .base = QX_GDT_PA, .limit = GDT_ENTRIES * 8 - 1 };
	uint16_t cs = q->width == QX_64 ? SEL_CODE64 : SEL_CODE32, ds = SEL_DATA;
	return uc_reg_write(q->uc, UC_X86_REG_GDTR, &gdtr) == UC_ERR_OK &&
	       uc_reg_write(q->uc, UC_X86_REG_CS, &cs) == UC_ERR_OK &&
	       uc_reg_write(q->uc, UC_X86_REG_SS, &ds) == UC_ERR_OK &&
	       uc_reg_write(q->uc, UC_X86_REG_DS, &ds) == UC_ERR_OK &&
	       uc_reg_write(q->uc, UC_X86_REG_ES, &ds) == UC_ERR_OK;
}

static bool run_cpuid(struct qx *q, uint32_t leaf, uint64_t out[4])
{
	memcpy(q->mem + QX_SETUP_CODE_PA, op_cpuid, sizeof op_cpuid);
	if (!wr(q, reg_id(q, GPR_A), leaf) || !wr(q, reg_id(q, GPR_C), 0))
		return false;
	if (uc_emu_start(q->uc, QX_SETUP_CODE_PA, QX_SETUP_CODE_PA + sizeof op_cpuid, 0, 0))
		return false;
	return rd(q, reg_id(q, GPR_A), &out[0]) && rd(q, reg_id(q, GPR_B), &out[1]) &&
	       rd(q, reg_id(q, GPR_C), &out[2]) && rd(q, reg_id(q, GPR_D), &out[3]);
}

static bool read_cpuid(struct qx *q)
{
	uint64_t a[4], e[4], s[4];
	if (!run_cpuid(q, CPUID_EXT_ADDR_SIZES, a) || !run_cpuid(q, CPUID_EXT_FEATURES, e) ||
	    !run_cpuid(q, CPUID_STRUCT_EXT, s))
		return false;
	q->cpuid.maxphyaddr = (unsigned)(a[0] & CPUID_PHYS_BITS_MASK);
	q->cpuid.nx = (e[3] & CPUID_EDX_NX) != 0;
	q->cpuid.pdpe1gb = (e[3] & CPUID_EDX_PDPE1GB) != 0;
	q->cpuid.smep = (s[1] & CPUID_EBX_SMEP) != 0;
	q->cpuid.smap = (s[1] & CPUID_EBX_SMAP) != 0;
	q->cpuid.la57 = (s[2] & CPUID_ECX_LA57) != 0;
	return q->cpuid.maxphyaddr >= MAXPHYADDR_MIN && q->cpuid.maxphyaddr <= MAXPHYADDR_MAX;
}

/* iret to CPL 3 with paging off; execution stops right after it. */
static bool enter_user_mode(struct qx *q)
{
	uint64_t frame[5] = { QX_CODE_PA, q->width == QX_64 ? SEL_CODE64_U : SEL_CODE32_U,
			      EFLAGS_FIXED, QX_SETUP_STACK_PA + 0xf00, SEL_DATA_U };
	uint8_t *code = q->mem + QX_SETUP_CODE_PA;
	unsigned len = 0;

	if (q->width == QX_64) {
		code[len++] = OP_REX_W;
		memcpy(q->mem + QX_SETUP_STACK_PA, frame, sizeof frame);
	} else {
		for (unsigned i = 0; i < 5; i++) {
			uint32_t w = (uint32_t)frame[i];
			memcpy(q->mem + QX_SETUP_STACK_PA + 4 * i, &w, sizeof w);
		}
	}
	code[len++] = OP_IRET;
	if (!wr(q, reg_id(q, GPR_SP), QX_SETUP_STACK_PA))
		return false;
	if (uc_emu_start(q->uc, QX_SETUP_CODE_PA, 0, 0, 1))
		return false;
	uint64_t cs = 0, ss = 0;
	if (uc_reg_read(q->uc, UC_X86_REG_CS, &cs) || uc_reg_read(q->uc, UC_X86_REG_SS, &ss))
		return false;
	return (cs & RPL_MASK) == 3 && (ss & 0xffff) == SEL_DATA_U;
}

/* ---- error code ------------------------------------------------------------------------------ */

static const uint8_t *saved_context(struct qx *q)
{
	if (uc_context_save(q->uc, q->scratch) != UC_ERR_OK)
		return NULL;
	return (const uint8_t *)q->scratch;
}

static long find_dr_pattern(struct qx *q)
{
	const uint8_t *p = saved_context(q);
	uint64_t pat[4];
	long found = -1;

	if (p == NULL)
		return -1;
	for (unsigned i = 0; i < 4; i++)
		pat[i] = dr_pattern[i];
	for (size_t off = DR_TO_ERROR_CODE; off + sizeof pat <= q->ctx_size; off += 4) {
		if (memcmp(p + off, pat, sizeof pat) == 0) {
			if (found >= 0)
				return -1;   /* ambiguous */
			found = (long)off;
		}
	}
	return found;
}

struct exc_state { int32_t error_code, is_int; uint64_t next_eip; };

static bool read_exc_state(struct qx *q, struct exc_state *s)
{
	const uint8_t *p;
	if (q->dr_off < 0 || (p = saved_context(q)) == NULL)
		return false;
	memcpy(&s->error_code, p + q->dr_off - DR_TO_ERROR_CODE, sizeof s->error_code);
	memcpy(&s->is_int, p + q->dr_off - DR_TO_EXCEPTION_IS_INT, sizeof s->is_int);
	memcpy(&s->next_eip, p + q->dr_off - DR_TO_NEXT_EIP, sizeof s->next_eip);
	return true;
}

/* Calibration tables: code at CALIB_CODE_VA, a data slot at CALIB_SLOT_VA, nothing at
 * CALIB_MISSING_VA. 2-level for a 32-bit engine, 4-level for a 64-bit one. */
#define CALIB_CODE_VA    UINT64_C(0x00400000)
#define CALIB_SLOT_VA    (CALIB_CODE_VA + PAGE_SIZE_4K)
#define CALIB_MISSING_VA UINT64_C(0x40000000)
#define CALIB_FLAGS      (PTE_P | PTE_RW | PTE_US)

static void put_entry(uint8_t *mem, uint64_t pa, unsigned esz, uint64_t v)
{
	paging_store_entry(mem + pa, esz, v);
}

static void build_calibration_tables(struct qx *q, struct qx_regs *r)
{
	uint8_t *m = q->mem;
	memset(m + QX_CALIB_PA, 0, 5 * PAGE_SIZE_4K);
	if (q->width == QX_32) {
		uint64_t pd = QX_CALIB_PA, pt = QX_CALIB_PA + PAGE_SIZE_4K;
		put_entry(m, pd + (CALIB_CODE_VA >> PDE32_SHIFT) * ENTRY_SIZE_32, ENTRY_SIZE_32,
			  pt | CALIB_FLAGS);
		put_entry(m, pt, ENTRY_SIZE_32, QX_CODE_PA | CALIB_FLAGS);
		put_entry(m, pt + ENTRY_SIZE_32, ENTRY_SIZE_32, QX_DATA_BASE | CALIB_FLAGS);
		*r = (struct qx_regs){ .cr0 = CR0_PE | CR0_PG, .cr3 = pd };
	} else {
		uint64_t t[4];
		for (unsigned i = 0; i < 4; i++)
			t[i] = QX_CALIB_PA + i * PAGE_SIZE_4K;
		put_entry(m, t[0], ENTRY_SIZE_64, t[1] | CALIB_FLAGS);   /* PML4[0] */
		put_entry(m, t[1], ENTRY_SIZE_64, t[2] | CALIB_FLAGS);   /* PDPT[0] */
		uint64_t pde_index = (CALIB_CODE_VA >> PDE_SHIFT) & ((1u << INDEX_BITS_64) - 1);
		put_entry(m, t[2] + pde_index * ENTRY_SIZE_64, ENTRY_SIZE_64, t[3] | CALIB_FLAGS);
		put_entry(m, t[3], ENTRY_SIZE_64, QX_CODE_PA | CALIB_FLAGS);
		put_entry(m, t[3] + ENTRY_SIZE_64, ENTRY_SIZE_64, QX_DATA_BASE | CALIB_FLAGS);
		*r = (struct qx_regs){ .cr0 = CR0_PE | CR0_PG, .cr3 = t[0], .cr4 = CR4_PAE,
				       .efer = EFER_LME };
	}
}

static bool calibrate(struct qx *q, const char **err)
{
	struct qx_regs r;
	struct qx_obs o;
	struct exc_state s;
	const uint32_t u = q->user ? PF_ERR_U : 0;

	build_calibration_tables(q, &r);
	q->ec_known = false;
	q->dr_off = find_dr_pattern(q);
	if (q->dr_off < 0)
		q->ec_note = "DR0..DR3 pattern not found in the saved context";

	/* A not-present load and store: #PF with CR2; error codes U and W|U (or S). */
	for (unsigned w = 0; w < 2; w++) {
		if (!qx_run(q, &r, CALIB_CODE_VA, w ? MMU_WRITE : MMU_READ, CALIB_MISSING_VA, 0, &o, err))
			return false;
		if (o.kind != QX_EXCEPTION || o.vector != QX_VEC_PF || o.cr2 != CALIB_MISSING_VA) {
			*err = "calibration: a not-present access did not raise #PF with CR2 set";
			return false;
		}
		if (q->dr_off >= 0 && (!read_exc_state(q, &s) || s.is_int != 0 ||
				       (uint32_t)s.error_code != (u | (w ? PF_ERR_W : 0)))) {
			q->dr_off = -1;
			q->ec_note = "the error-code guess failed on a not-present load/store";
		}
	}
	/* A jump into a data slot: runs `mov eax, id; int 0x42`. */
	if (!qx_run(q, &r, CALIB_CODE_VA, MMU_FETCH, CALIB_SLOT_VA, 0, &o, err))
		return false;
	if (o.kind != QX_EXCEPTION || o.vector != QX_INT_MARKER ||
	    o.ip != CALIB_SLOT_VA + QX_SLOT_CODE_LEN || o.eax != QX_DATA_BASE / QX_SLOT_SIZE) {
		*err = "calibration: a jump into a data slot did not run its `mov eax; int 0x42`";
		return false;
	}
	if (q->dr_off >= 0 && (!read_exc_state(q, &s) || s.is_int != 1 ||
			       s.next_eip != CALIB_SLOT_VA + QX_SLOT_CODE_LEN)) {
		q->dr_off = -1;
		q->ec_note = "the error-code guess failed on `int 0x42` (exception_is_int/next_eip)";
	}
	if (q->dr_off >= 0) {
		q->ec_known = true;
		q->ec_note = "read from CPUX86State.error_code in a saved context (located via DR0..DR3, "
			     "checked on known faults)";
	}
	return true;
}

/* ---- public ---------------------------------------------------------------------------------- */

struct qx *qx_new(enum qx_width width, bool user, int cpu_model, const char **err)
{
	struct qx *q = calloc(1, sizeof *q);
	unsigned major = 0, minor = 0;
	uc_hook h;

	if (q == NULL) {
		*err = "out of memory";
		return NULL;
	}
	q->width = width;
	q->user = user;
	q->dr_off = -1;
	q->run.vector = -1;
	uc_version(&major, &minor);
	if (major < 2 || (major == 2 && minor < 1)) {
		*err = "Unicorn >= 2.1 is required (memory hooks must report physical addresses)";
		goto fail;
	}
	q->mem = mmap(NULL, QX_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->mem == MAP_FAILED) {
		q->mem = NULL;
		*err = "mmap of guest RAM failed";
		goto fail;
	}
	fill_data_area(q->mem);
	memcpy(q->mem + QX_CODE_PA, test_code, sizeof test_code);

	if (uc_open(UC_ARCH_X86, width == QX_64 ? UC_MODE_64 : UC_MODE_32, &q->uc)) {
		*err = "uc_open failed";
		q->uc = NULL;
		goto fail;
	}
	if (cpu_model >= 0 && uc_ctl_set_cpu_model(q->uc, cpu_model)) {
		*err = "uc_ctl_set_cpu_model failed";
		goto fail;
	}
	if (uc_mem_map_ptr(q->uc, 0, QX_MEM_SIZE, UC_PROT_ALL, q->mem)) {
		*err = "uc_mem_map_ptr failed";
		goto fail;
	}
	if (!load_segments(q)) {
		*err = "loading flat segments failed";
		goto fail;
	}
	if (!read_cpuid(q)) {
		*err = "running cpuid failed or MAXPHYADDR out of range";
		goto fail;
	}
	if (user && !enter_user_mode(q)) {
		*err = "iret to CPL 3 failed";
		goto fail;
	}
	for (unsigned i = 0; i < 4; i++) {
		if (!wr(q, UC_X86_REG_DR0 + (int)i, dr_pattern[i])) {
			*err = "writing DR0..DR3 failed";
			goto fail;
		}
	}
	if (uc_hook_add(q->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)hook_mem, &q->run,
			1, 0) ||
	    uc_hook_add(q->uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)hook_unmapped, &q->run, 1, 0) ||
	    uc_hook_add(q->uc, &h, UC_HOOK_INTR, (void *)hook_intr, q, 1, 0)) {
		*err = "uc_hook_add failed";
		goto fail;
	}
	q->ctx_size = uc_context_size(q->uc);
	if (uc_context_alloc(q->uc, &q->base) || uc_context_alloc(q->uc, &q->scratch) ||
	    uc_context_save(q->uc, q->base)) {
		*err = "uc_context_alloc/save failed";
		goto fail;
	}
	if (!calibrate(q, err))
		goto fail;
	return q;
fail:
	qx_free(q);
	return NULL;
}

void qx_free(struct qx *q)
{
	if (q == NULL)
		return;
	if (q->base)
		uc_context_free(q->base);
	if (q->scratch)
		uc_context_free(q->scratch);
	if (q->uc)
		uc_close(q->uc);
	if (q->mem)
		munmap(q->mem, QX_MEM_SIZE);
	free(q);
}

uint8_t *qx_mem(struct qx *q) { return q->mem; }
const struct qx_cpuid *qx_cpuid(const struct qx *q) { return &q->cpuid; }
bool qx_error_code_known(const struct qx *q) { return q->ec_known; }
const char *qx_error_code_note(const struct qx *q) { return q->ec_note; }

bool qx_run(struct qx *q, const struct qx_regs *r, uint64_t code_va, enum mmu_access access,
	    uint64_t va, uint32_t store_value, struct qx_obs *o, const char **err)
{
	static const unsigned off[] = { [MMU_READ] = OFF_LOAD, [MMU_WRITE] = OFF_STORE,
					[MMU_FETCH] = OFF_JMP };
	uint64_t efer = 0, want_efer = r->efer | ((r->efer & EFER_LME) ? EFER_LMA : 0);
	struct exc_state s;

	memset(o, 0, sizeof *o);
	o->mem_type = -1;
	o->vector = -1;
	if (uc_context_restore(q->uc, q->base)) {
		*err = "uc_context_restore failed";
		return false;
	}
	if (!wr(q, UC_X86_REG_CR4, r->cr4) || !wr_efer(q, r->efer) || !wr(q, UC_X86_REG_CR3, r->cr3) ||
	    !wr(q, UC_X86_REG_CR0, r->cr0) ||
	    !wr(q, reg_id(q, GPR_FLAGS), EFLAGS_FIXED | (r->ac ? EFLAGS_AC : 0)) ||
	    !wr(q, reg_id(q, GPR_B), va) || !wr(q, reg_id(q, GPR_A), store_value)) {
		*err = "writing control or general registers failed";
		return false;
	}
	if (!rd_efer(q, &efer) || efer != want_efer) {
		*err = "EFER did not take the value written (NXE/LME not supported by the CPU model?)";
		return false;
	}
	if (uc_ctl_flush_tlb(q->uc)) {
		*err = "uc_ctl_flush_tlb failed";
		return false;
	}
	memset(&q->run, 0, sizeof q->run);
	q->run.mem_type = -1;
	q->run.vector = -1;
	uc_err e = uc_emu_start(q->uc, code_va + off[access], UNTIL_NONE, 0,
				access == MMU_FETCH ? FETCH_INSNS : 1);
	o->uc_error = uc_strerror(e);
	o->nevents = q->run.nevents;
	o->mem_type = q->run.mem_type;
	o->vector = q->run.vector;
	o->ip = q->run.ip;
	o->eax = q->run.eax;
	if (!rd(q, UC_X86_REG_CR2, &o->cr2)) {
		*err = "reading CR2 failed";
		return false;
	}
	if (q->run.unmapped) {
		o->kind = QX_UNMAPPED;
		o->pa = q->run.unmapped_pa;
	} else if (q->run.vector >= 0) {
		o->kind = QX_EXCEPTION;
	} else if (q->run.nevents) {
		o->kind = QX_DATA;
		o->pa = q->run.mem_pa;
	} else {
		o->kind = QX_NOTHING;
	}
	if (o->kind == QX_EXCEPTION && o->vector == QX_VEC_PF && q->dr_off >= 0 &&
	    read_exc_state(q, &s)) {
		o->have_error_code = true;
		o->error_code = (uint32_t)s.error_code;
	}
	/* Any other uc_emu_start error (QEMU ran into something that is not a data slot) is part
	 * of the observation: o->uc_ok is false and the caller reports it. */
	o->uc_ok = e == UC_ERR_OK || o->kind == QX_UNMAPPED;
	return true;
}
