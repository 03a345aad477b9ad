/* guest.h — one emulated Linux process: the Unicorn engine, its address space in the kernel
 * model, its file descriptors, and what the report needs at exit.
 *
 * The engine (engine.c) owns the Unicorn handle and the hooks; the loader (loader.c) builds the
 * initial address space and stack; the syscall layer (syscall.c) implements the Linux ABI for
 * both i386 (int 0x80) and x86-64 (syscall); memory syscalls go to the kernel model.
 */
#ifndef MMUEMU_GUEST_H
#define MMUEMU_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>

#include <unicorn/unicorn.h>

#include "kmodel.h"

#define GUEST_MAX_FDS 1024      /* guest descriptor table size (RLIMIT_NOFILE reported to the guest) */
#define GUEST_MAX_SYSCALL 512   /* syscall numbers counted individually */

/* One guest descriptor: the host descriptor it stands for. Guest fds are a table of their own so
 * that a guest closing or dup2-ing over 3, 4, … never touches mmuemu's own files. */
struct guest_fd {
	int host_fd;            /* -1: slot free */
	bool cloexec;
};

struct guest_signal_action {
	uint64_t handler, flags, restorer, mask;   /* as the guest passed them (recorded, not delivered) */
};

struct guest {
	uc_engine *uc;
	bool is64;                      /* x86-64 guest (syscall ABI), else i386 (int 0x80) */
	struct km *km;
	struct mm_struct *mm;

	char exe_path[PATH_MAX];        /* absolute host path of the program (/proc/self/exe) */
	struct guest_fd fds[GUEST_MAX_FDS];

	/* i386: the GDT lives in a kernel page of the guest's address space (gdt_va) and the syscall
	 * layer writes TLS descriptors into it through gdt (host pointer into modelled memory). */
	uint64_t gdt_va;
	uint8_t *gdt;
	unsigned gdt_entries;

	uint64_t clear_child_tid;       /* set_tid_address */
	uint64_t robust_list, robust_list_len;
	struct guest_signal_action sigactions[65];
	uint64_t sigmask;

	/* How the guest ended. */
	bool exited;                    /* exit/exit_group called */
	int exit_code;                  /* status passed to exit */
	int fatal_signal;               /* 0, or SIGSEGV/SIGBUS/SIGKILL... that killed it */
	int fatal_si_code;
	uint64_t fatal_addr, fatal_pc;
	char fatal_reason[256];         /* e.g. "Out of memory: Killed process" */

	/* Statistics for the report. */
	uint64_t syscall_count[GUEST_MAX_SYSCALL];
	uint64_t syscall_other;          /* numbers >= GUEST_MAX_SYSCALL */
	uint64_t syscalls_total;
	uint64_t unknown_count[GUEST_MAX_SYSCALL]; /* returned -ENOSYS because not implemented */
	uint64_t efaults;                /* syscalls that returned -EFAULT */
};

/* Sets every descriptor slot free, then maps guest 0, 1, 2 to host 0, 1, 2. */
void guest_fds_init(struct guest *g);
void guest_fds_close_all(struct guest *g);

/* Runs syscall nr with arguments a[0..5] (already read from the registers of the guest's ABI)
 * and returns the value to place in EAX/RAX (a negative errno on failure). exit/exit_group set
 * g->exited and stop the engine. Pointers are checked through the kernel model: a bad one gives
 * -EFAULT, never a host access. Unknown numbers give -ENOSYS and are counted in unknown_count. */
int64_t guest_syscall(struct guest *g, uint64_t nr, const uint64_t a[6]);

/* Name of syscall nr in the guest's ABI ("write", "mmap2", …), or NULL if unknown. */
const char *guest_syscall_name(bool is64, uint64_t nr);

/* Copies between guest memory and the host (wrappers over km_copy_*_user for g->mm). */
static inline int guest_read(struct guest *g, uint64_t va, void *dst, size_t n)
{
	return km_copy_from_user(g->km, g->mm, dst, va, n);
}
static inline int guest_write(struct guest *g, uint64_t va, const void *src, size_t n)
{
	return km_copy_to_user(g->km, g->mm, va, src, n);
}

/* Stops emulation from inside a hook (uc_emu_stop). */
void guest_stop(struct guest *g);

#endif
