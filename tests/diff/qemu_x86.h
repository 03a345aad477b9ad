/* qemu_x86.h — QEMU's x86 page walker as a test oracle.
 *
 * A Unicorn (>= 2.1) engine in its default UC_TLB_CPU mode walks the guest's page tables with
 * QEMU's own walker (target/i386 excp_helper.c, handle_mmu_fault). This harness gives it one
 * physical memory buffer at physical address 0, puts the CPU at CPL 3 or CPL 0, sets
 * CR0/CR3/CR4/EFER/EFLAGS.AC for a case, and makes it execute ONE access — a 4-byte load, a
 * 4-byte store or a jump — at a chosen linear address. It reports what QEMU did:
 *
 *  - a data access: the PHYSICAL address it touched (Unicorn 2.1 memory hooks report physical
 *    addresses when paging is on; addresses outside RAM arrive at the unmapped hooks, also
 *    physical);
 *  - a fetch: the physical address it executed, read back from the code it ran. Every 8-byte
 *    slot of the data area (QX_DATA_BASE..) holds `mov eax, p/8; int 0x42` for its own
 *    physical address p, so a jump to an 8-byte-aligned address runs that slot and leaves p/8
 *    in EAX. The data area never changes (stores write back the value already there), so
 *    QEMU's translated-block cache can never go stale;
 *  - a fault: the vector (14 = #PF, 13 = #GP) from UC_HOOK_INTR, CR2, and the #PF error code.
 *
 * The error code: Unicorn has no register for it. QEMU keeps it in CPUX86State.error_code,
 * followed by exception_is_int, exception_next_eip and dr[8]; uc_context_save copies that
 * state. qx_new writes a pattern into DR0..DR3, finds it in a saved context, and takes the
 * error code from 16 bytes before it — then CHECKS the guess on known faults (a not-present
 * load and store, an `int 0x42`). If any check fails, qx_error_code_known() is false and
 * callers must compare without it.
 *
 * Each run starts from a context saved right after setup (uc_context_restore): Unicorn never
 * delivers an exception through the IDT, so QEMU's "exception in flight" state would otherwise
 * turn the next #PF into a #DF. The TLB is flushed before every run.
 *
 * Physical memory layout (QX_*): [0, QX_SYS_END) belongs to the harness and the caller's code
 * path tables; [QX_SYS_END, QX_DATA_BASE) is free for the caller's page tables;
 * [QX_DATA_BASE, QX_MEM_SIZE) is the self-identifying data area. The caller must map
 * QX_CODE_PA (read + execute, user-accessible for a CPL 3 engine) at a 4 KiB-aligned linear
 * address other than 0 and pass it as code_va; a jump to linear address 0 is not possible
 * (0 is uc_emu_start's `until`).
 */
#ifndef MMUEMU_TESTS_DIFF_QEMU_X86_H
#define MMUEMU_TESTS_DIFF_QEMU_X86_H

#include <stdbool.h>
#include <stdint.h>

#include "walk.h"

#define QX_MEM_SIZE        (UINT64_C(32) << 20)  /* RAM mapped at physical 0 */
#define QX_GDT_PA          UINT64_C(0x1000)      /* flat segments, DPL 0 and 3, 32- and 64-bit */
#define QX_SETUP_CODE_PA   UINT64_C(0x2000)      /* cpuid / iret, run with paging off */
#define QX_SETUP_STACK_PA  UINT64_C(0x3000)      /* the iret frame */
#define QX_CODE_PA         UINT64_C(0x4000)      /* the test instructions: load, store, jmp */
#define QX_CODE_TABLES_PA  UINT64_C(0x5000)      /* 4 frames for the caller's code-path tables */
#define QX_CODE_TABLES_N   4
#define QX_CALIB_PA        UINT64_C(0xA000)      /* 5 frames: the harness's calibration tables */
#define QX_SYS_END         UINT64_C(0x10000)     /* first frame the caller owns */
#define QX_DATA_BASE       (UINT64_C(4) << 20)   /* self-identifying slots up to QX_MEM_SIZE */

#define QX_SLOT_SIZE       8    /* bytes per data slot: b8 imm32 cd 42 90 */
#define QX_SLOT_CODE_LEN   7    /* bytes a jump into a slot executes */
#define QX_INT_MARKER      0x42 /* vector of the `int` in every slot */

#define QX_VEC_GP          13
#define QX_VEC_PF          14

enum qx_width { QX_32, QX_64 };   /* UC_MODE_32 (2-level, PAE) or UC_MODE_64 (4/5-level) */

/* What the CPU model reports (CPUID), used to configure the walker under test alike. */
struct qx_cpuid {
	unsigned maxphyaddr;   /* CPUID.80000008H:EAX[7:0] */
	bool nx, pdpe1gb;      /* CPUID.80000001H:EDX bits 20, 26 */
	bool smep, smap, la57; /* CPUID.(7,0):EBX bits 7, 20; ECX bit 16 */
};

struct qx;

/* Opens the engine (cpu_model: a UC_CPU_X86_* value, or -1 for Unicorn's default), maps RAM,
 * loads flat segments, reads CPUID, drops to CPL 3 if user, and calibrates the error-code
 * reader. NULL on failure with a static reason in *err. */
struct qx *qx_new(enum qx_width width, bool user, int cpu_model, const char **err);
void qx_free(struct qx *q);

uint8_t *qx_mem(struct qx *q);                 /* QX_MEM_SIZE bytes, physical address 0 up */
const struct qx_cpuid *qx_cpuid(const struct qx *q);
bool qx_error_code_known(const struct qx *q);
const char *qx_error_code_note(const struct qx *q);   /* why not, or how it was found */

/* The 4 bytes the data area holds at physical address pa (QX_DATA_BASE <= pa). */
uint32_t qx_slot_word(uint64_t pa);

struct qx_regs {
	uint64_t cr0, cr3, cr4, efer;   /* efer without LMA: the CPU sets it */
	bool ac;                        /* EFLAGS.AC (for SMAP at CPL 0) */
};

enum qx_kind {
	QX_NOTHING,     /* no access and no exception (should not happen) */
	QX_DATA,        /* a load or store reached RAM at .pa */
	QX_UNMAPPED,    /* a load, store or fetch went to .pa outside RAM */
	QX_EXCEPTION,   /* .vector raised (for a fetch into a slot: QX_INT_MARKER) */
};

struct qx_obs {
	enum qx_kind kind;
	uint64_t pa;              /* QX_DATA / QX_UNMAPPED: physical address */
	int mem_type;             /* uc_mem_type of the first hook event, -1 if none */
	unsigned nevents;         /* memory-hook events during the run */
	int vector;               /* QX_EXCEPTION */
	uint64_t cr2;             /* CR2 after the run */
	uint64_t ip;              /* EIP/RIP in the interrupt hook */
	uint64_t eax;             /* EAX in the interrupt hook (slot id after a fetch) */
	bool have_error_code;
	uint32_t error_code;      /* #PF error code when have_error_code */
	bool uc_ok;               /* uc_emu_start succeeded (or stopped at an unmapped access) */
	const char *uc_error;     /* uc_emu_start's result (uc_strerror) */
};

/* Runs one access (MMU_READ: mov eax,[rbx]; MMU_WRITE: mov [rbx],eax with EAX = store_value;
 * MMU_FETCH: jmp rbx and up to two instructions at the target) at linear address va, with the
 * code at code_va. false only if the harness itself failed (*err says why); the outcome of
 * the access, whatever it is, is in *o. */
bool qx_run(struct qx *q, const struct qx_regs *r, uint64_t code_va, enum mmu_access access,
	    uint64_t va, uint32_t store_value, struct qx_obs *o, const char **err);

#endif
