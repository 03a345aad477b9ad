/* engine.c — Unicorn glue: modelled RAM mapped once at physical 0, UC_TLB_VIRTUAL with a
 * TLB-fill hook that translates through the mmu/ walker over the kernel model's page tables,
 * #PF delivery to the kernel model, syscalls (syscall / int 0x80), instruction counting, and the
 * way a guest ends (exit, fatal signal, OOM kill).
 *
 * The fill hook runs only when Unicorn's own softmmu TLB misses. It walks our page tables as
 * the CPU would for the access (user mode, or a supervisor implicit access for the i386 GDT
 * page), and on a fault calls km_handle_mm_fault with CR2 and the hardware error code, then
 * walks again. Permissions handed to Unicorn are what the walk allows, except that a writable
 * page whose Dirty bit is still clear is given read-only: the first write comes back here, the
 * walk sets Dirty, as the CPU's Dirty assist does. The kernel model flushes Unicorn's TLB
 * whenever it changes a present translation.
 *
 * Instruction counts: a block hook looks up the block in a small cache that records how many
 * instructions it holds (decoded once with Capstone).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <capstone/capstone.h>

#include "engine.h"

/* i386 GDT: one kernel page at a fixed kernel address (the CPU entry area region). Flat 32-bit
 * code and data descriptors are loaded before the first instruction (see ARCHITECTURE.md);
 * entries 6..8 are the TLS slots of set_thread_area (GDT_ENTRY_TLS_MIN = 6). */
#define I386_GDT_VA      0xffbff000ULL
#define GDT_ENTRIES      32
#define GDT_CODE_SEL     0x08
#define GDT_DATA_SEL     0x10
#define GDT_FLAT_CODE32  0x00cf9a000000ffffULL   /* base 0, limit 4 GiB, 32-bit, code, DPL 0 */
#define GDT_FLAT_DATA32  0x00cf92000000ffffULL   /* base 0, limit 4 GiB, 32-bit, data, DPL 0 */


void guest_stop(struct guest *g)
{
	uc_emu_stop(g->uc);
}

static void kill_guest(struct engine *e, int sig, int si_code, uint64_t addr, const char *reason)
{
	struct guest *g = &e->g;
	if (g->fatal_signal || g->exited)
		return;
	g->fatal_signal = sig;
	g->fatal_si_code = si_code;
	g->fatal_addr = addr;
	uint64_t pc = 0;
	uc_reg_read(g->uc, g->is64 ? UC_X86_REG_RIP : UC_X86_REG_EIP, &pc);
	g->fatal_pc = g->is64 ? pc : (uint32_t)pc;
	if (reason)
		snprintf(g->fatal_reason, sizeof(g->fatal_reason), "%s", reason);
}

static uint64_t zero_window_slot(struct engine *e, uint64_t vpn);

/* Whether the instruction at the guest's PC reads and writes one memory operand (add [m], r;
 * inc; or; xchg; cmpxchg; ...). The CPU checks such an access for writing up front, so a fault
 * on it carries W in the error code even though the read comes first; Unicorn performs the
 * load and the store separately, and without this the model would see a read fault (zero
 * page) and then a write fault (COW) where the hardware takes one write fault. */
static bool rmw_at_pc(struct engine *e)
{
	struct guest *g = &e->g;
	uint64_t pc = 0;
	if (!e->cs_detail || uc_reg_read(g->uc, g->is64 ? UC_X86_REG_RIP : UC_X86_REG_EIP, &pc) != UC_ERR_OK)
		return false;
	if (!g->is64)
		pc &= 0xffffffffULL;
	uint8_t buf[16];
	uint32_t done = 0;
	while (done < sizeof(buf)) {
		struct walk_req req = { .va = pc + done, .access = MMU_READ, .user = true };
		struct walk_result r;
		struct mmu_fault f;
		if (!mmu_walk(&e->regs, &e->pm, &req, 0, &r, &f) || r.pa >= e->pm.size)
			break;
		uint32_t chunk = 4096 - (uint32_t)((pc + done) & 4095);
		if (chunk > sizeof(buf) - done)
			chunk = (uint32_t)sizeof(buf) - done;
		memcpy(buf + done, e->pm.base + r.pa, chunk);
		done += chunk;
	}
	cs_insn *insn = NULL;
	bool rmw = false;
	if (done && cs_disasm(e->cs_detail, buf, done, pc, 1, &insn) == 1) {
		const cs_x86 *x = &insn->detail->x86;
		for (unsigned i = 0; i < x->op_count; i++)
			if (x->operands[i].type == X86_OP_MEM &&
			    (x->operands[i].access & (CS_AC_READ | CS_AC_WRITE)) == (CS_AC_READ | CS_AC_WRITE))
				rmw = true;
	}
	if (insn)
		cs_free(insn, 1);
	return rmw;
}

/* ---- the TLB-fill hook ------------------------------------------------------------------------ */

static bool hook_tlb_fill(uc_engine *uc, uint64_t va, uc_mem_type type, uc_tlb_entry *out, void *ud)
{
	struct engine *e = ud;
	struct guest *g = &e->g;
	(void)uc;
	enum mmu_access acc = type == UC_MEM_WRITE ? MMU_WRITE : type == UC_MEM_FETCH ? MMU_FETCH : MMU_READ;
	if (!g->is64)
		va &= 0xffffffffULL;
	/* Unicorn reads descriptor tables through this hook like any access: the GDT page is a
	 * supervisor implicit access. Everything else comes from user mode. */
	bool implicit = g->gdt && (va & ~0xfffULL) == g->gdt_va;
	struct walk_req req = { .va = va, .access = acc, .user = !implicit, .implicit = implicit };
	e->fills++;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct walk_result r;
		struct mmu_fault f;
		/* With the timing model, Accessed and Dirty are the timing walk's job (it sees every
		 * access); without it the functional walk sets them as the CPU would. */
		if (mmu_walk(&e->regs, &e->pm, &req, e->timing ? 0 : WALK_SET_AD, &r, &f)) {
			if (r.page_base >= e->pm.size) {
				kill_guest(e, SIGBUS, 0, va, "translation to a frame outside modelled RAM");
				return false;
			}
			uint64_t pa = r.pa & ~0xfffULL;
			uint64_t vpn = va >> 12;
			if (e->timing) {
				if ((pa >> 12) == e->zero_pfn)
					pa = zero_window_slot(e, vpn);
				else
					e->rmap[pa >> 12] = vpn;
			}
			unsigned perms = UC_PROT_READ;
			/* Functional mode: a writable page whose Dirty bit is clear is handed out read-only,
			 * so the first write comes back here and the walk sets Dirty. Timing mode: the
			 * timing model sees that write and takes the Dirty assist itself. */
			if ((r.perms & MMU_PERM_WRITE) && (r.dirty || e->timing))
				perms |= UC_PROT_WRITE;
			if (r.perms & MMU_PERM_EXEC)
				perms |= UC_PROT_EXEC;
			out->paddr = pa;
			out->perms = perms;
			return true;
		}
		if (f.gp) {
			kill_guest(e, SIGSEGV, 128 /* SI_KERNEL */, 0, "general protection (non-canonical address)");
			return false;
		}
		struct km_fault_info info;
		uint32_t ec = f.error_code;
		if (acc == MMU_READ && !implicit && !(ec & PF_ERR_P) && rmw_at_pc(e)) {
			ec |= PF_ERR_W;
			e->rmw_faults++;
		}
		uint64_t pgalloc0 = e->fault_fn ? km_stats(g->km)->pgalloc : 0;
		enum km_fault_result res = km_handle_mm_fault(g->km, g->mm, va, ec, &info);
		e->faults++;
		if (e->fault_fn)
			e->fault_fn(e->trace_ctx, va, ec, (int)res, &info, km_stats(g->km)->pgalloc - pgalloc0);
		/* A #PF invalidates the faulting address's TLB and paging-structure-cache entries. */
		if (e->timing)
			mmu_timing_invlpg(e->timing, va, 0, true);
		switch (res) {
		case KM_FAULT_OK:
			continue;
		case KM_FAULT_SIGSEGV:
			kill_guest(e, SIGSEGV, info.si_code, va, NULL);
			/* Hand Unicorn a page in a physical hole: the access then fails with the exact
			 * address in the unmapped-memory hook, which refines fatal_addr. */
			out->paddr = e->hole_pa;
			out->perms = UC_PROT_ALL;
			e->hole_va = va & ~0xfffULL;
			return true;
		case KM_FAULT_SIGBUS:
			kill_guest(e, SIGBUS, info.si_code, va, NULL);
			return false;
		case KM_FAULT_OOM:
		{
			char msg[256];
			const char *slash = strrchr(g->exe_path, '/');
			km_oom_message(g->km, g->mm, getpid(), slash ? slash + 1 : g->exe_path, msg, sizeof(msg));
			kill_guest(e, SIGKILL, 0, va, msg);
		}
			return false;
		}
	}
	kill_guest(e, SIGSEGV, 0, va, "fault did not resolve after retries");
	return false;
}

/* ---- the timing model -------------------------------------------------------------------------- */

/* Zero-page aliases: every virtual page that maps the shared zero page gets its own physical
 * address in a read-only "zero window" above RAM (one untouched anonymous host mapping), so the
 * memory hooks can tell which virtual page was read. Slots come from a pool; the vpn -> slot map
 * is an open-addressing hash. When the pool is exhausted slots are reused round-robin and the
 * reuse is counted as an alias (the report shows it). */
static void zw_grow(struct engine *e)
{
	size_t ncap = e->zw_cap ? e->zw_cap * 2 : 1024;
	uint64_t *nk = calloc(ncap, sizeof(uint64_t));
	uint32_t *nv = calloc(ncap, sizeof(uint32_t));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return;
	}
	for (size_t i = 0; i < e->zw_cap; i++) {
		if (!e->zw_key[i])
			continue;
		size_t h = (e->zw_key[i] * 0x9E3779B97F4A7C15ULL >> 24) & (ncap - 1);
		while (nk[h])
			h = (h + 1) & (ncap - 1);
		nk[h] = e->zw_key[i];
		nv[h] = e->zw_val[i];
	}
	free(e->zw_key);
	free(e->zw_val);
	e->zw_key = nk;
	e->zw_val = nv;
	e->zw_cap = ncap;
}

static uint64_t zero_window_slot(struct engine *e, uint64_t vpn)
{
	uint64_t key = vpn + 1;
	if ((e->zw_used + 1) * 2 > e->zw_cap)
		zw_grow(e);
	size_t h = (key * 0x9E3779B97F4A7C15ULL >> 24) & (e->zw_cap - 1);
	while (e->zw_key[h] && e->zw_key[h] != key)
		h = (h + 1) & (e->zw_cap - 1);
	uint32_t slot;
	if (e->zw_key[h]) {
		slot = e->zw_val[h];
	} else {
		if (e->zw_next < ZERO_WINDOW_SLOTS) {
			slot = (uint32_t)e->zw_next++;
		} else {
			slot = (uint32_t)(e->zw_next++ % ZERO_WINDOW_SLOTS);
			e->zero_aliases++;
		}
		e->zw_key[h] = key;
		e->zw_val[h] = slot;
		e->zw_used++;
	}
	e->zw_vpn[slot] = vpn;
	return e->zw_base + ((uint64_t)slot << 12);
}

/* Data accesses: the hook reports the physical address; the reverse map gives the page. */
static void hook_mem(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud)
{
	struct engine *e = ud;
	(void)uc; (void)size; (void)value;
	uint64_t pfn = addr >> 12, vpn;
	if (pfn < e->nframes)
		vpn = e->rmap[pfn];
	else if (addr >= e->zw_base && addr < e->zw_base + ZERO_WINDOW_BYTES)
		vpn = e->zw_vpn[(addr - e->zw_base) >> 12];
	else
		return;
	uint64_t va = (vpn << 12) | (addr & 0xfff);
	bool user = (va & ~0xfffULL) != e->g.gdt_va || !e->g.gdt;
	mmu_timing_access(e->timing, &e->regs, &e->pm, va, type == UC_MEM_WRITE ? MMU_WRITE : MMU_READ, user);
}

/* The benchmark floor (--model hooks-only): the same hook calls as the timing model, bodies
 * empty. What Unicorn's hook dispatch costs by itself. */
static void hook_mem_empty(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud)
{
	(void)uc; (void)type; (void)addr; (void)size; (void)value; (void)ud;
}

/* Instruction fetches: one ITLB access per aligned fetch block the basic block touches. */
static void time_fetch(struct engine *e, uint64_t addr, uint32_t size)
{
	mmu_timing_fetch(e->timing, &e->regs, &e->pm, addr, size, (unsigned)e->fetch_bytes);
}

/* An access to the physical hole: only after a fatal fault. The low 12 bits of the physical
 * address are the page offset of the faulting virtual address. */
static bool hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud)
{
	struct engine *e = ud;
	(void)uc; (void)type; (void)size; (void)value;
	if (e->g.fatal_signal && addr >= e->hole_pa && addr < e->hole_pa + 4096)
		e->g.fatal_addr = e->hole_va | (addr & 0xfff);
	return false;
}

/* The kernel model changed a present translation: drop Unicorn's cached ones. */
/* Linux's flush_tlb_range / flush_tlb_kernel_range on the timing model: INVLPG per page up to
 * tlb_single_page_flush_ceiling (33 pages), else one flush of kind `full` (end == 0: always). */
static void timing_flush_range(struct engine *e, uint64_t start, uint64_t end, enum mmu_flush_kind full)
{
	if (!e->timing)
		return;
	if (end > start && (end - start) >> 12 <= 33) {
		for (uint64_t va = start & ~0xfffULL; va < end; va += 4096)
			mmu_timing_invlpg(e->timing, va, 0, false);
	} else {
		mmu_timing_flush(e->timing, full, 0);
	}
}

static void flush_cb(void *ctx, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct engine *e = ctx;
	(void)mm;
	e->tlb_flushes++;
	uc_ctl_flush_tlb(e->g.uc);
	timing_flush_range(e, start, end, FLUSH_ALL);
}

/* The kernel touched its own mapping (a kmap slot): a supervisor access through the TLB model. */
static void kernel_access_cb(void *ctx, uint64_t va, int kind)
{
	struct engine *e = ctx;
	if (e->timing)
		e->kernel_tlb_cycles += mmu_timing_access(e->timing, &e->regs, &e->pm, va,
							  (enum mmu_access)kind, false);
}

/* The kernel flushed its own mappings (kunmap_local's INVLPG, the pkmap wrap flush). Guest code
 * never uses these addresses, so Unicorn's TLB holds none of them. */
static void flush_kernel_cb(void *ctx, uint64_t start, uint64_t end)
{
	/* Beyond the ceiling flush_tlb_kernel_range is flush_tlb_all: global entries too. */
	timing_flush_range(ctx, start, end, FLUSH_ALL_GLOBAL);
}

/* ---- syscalls and interrupts -------------------------------------------------------------------- */

static void do_syscall64(struct engine *e)
{
	struct guest *g = &e->g;
	static const int regs[6] = { UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX,
				     UC_X86_REG_R10, UC_X86_REG_R8, UC_X86_REG_R9 };
	uint64_t nr, a[6];
	uc_reg_read(g->uc, UC_X86_REG_RAX, &nr);
	for (int i = 0; i < 6; i++)
		uc_reg_read(g->uc, regs[i], &a[i]);
	int64_t ret = guest_syscall(g, nr, a);
	if (e->syscall_fn)
		e->syscall_fn(e->trace_ctx, nr, a, ret);
	uc_reg_write(g->uc, UC_X86_REG_RAX, &ret);
}

static void do_syscall32(struct engine *e)
{
	struct guest *g = &e->g;
	static const int regs[6] = { UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
				     UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EBP };
	uint32_t nr = 0, v;
	uint64_t a[6];
	uc_reg_read(g->uc, UC_X86_REG_EAX, &nr);
	for (int i = 0; i < 6; i++) {
		v = 0;
		uc_reg_read(g->uc, regs[i], &v);
		a[i] = v;
	}
	int64_t ret = guest_syscall(g, nr, a);
	if (e->syscall_fn)
		e->syscall_fn(e->trace_ctx, nr, a, ret);
	uint32_t r32 = (uint32_t)ret;
	uc_reg_write(g->uc, UC_X86_REG_EAX, &r32);
}

static void hook_syscall(uc_engine *uc, void *ud)
{
	(void)uc;
	do_syscall64(ud);
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *ud)
{
	struct engine *e = ud;
	(void)uc;
	if (intno == 0x80) {
		do_syscall32(e);
		return;
	}
	/* CPU exceptions that are not page faults become the signals Linux sends. */
	switch (intno) {
	case 0:  kill_guest(e, SIGFPE, 1 /* FPE_INTDIV */, 0, "divide error"); break;
	case 1: case 3: kill_guest(e, SIGTRAP, 0, 0, "breakpoint/debug trap"); break;
	case 4: case 5: kill_guest(e, SIGSEGV, 128, 0, "bound/overflow trap"); break;
	case 6:  kill_guest(e, SIGILL, 2 /* ILL_ILLOPN */, 0, "invalid opcode"); break;
	case 7:  kill_guest(e, SIGFPE, 0, 0, "device not available"); break;
	case 13: kill_guest(e, SIGSEGV, 128 /* SI_KERNEL */, 0, "general protection fault"); break;
	case 16: case 19: kill_guest(e, SIGFPE, 0, 0, "floating-point exception"); break;
	case 17: kill_guest(e, SIGBUS, 1, 0, "alignment check"); break;
	default: kill_guest(e, SIGSEGV, 128, 0, "unexpected interrupt"); break;
	}
	uc_emu_stop(e->g.uc);
}

static bool hook_insn_invalid(uc_engine *uc, void *ud)
{
	(void)uc;
	kill_guest(ud, SIGILL, 2, 0, "invalid instruction");
	return false;
}

/* ---- instruction counting ------------------------------------------------------------------------ */

static uint32_t count_insns(struct engine *e, uint64_t addr, uint32_t size)
{
	uint8_t buf[4096];
	if (size > sizeof(buf))
		size = sizeof(buf);
	/* Read the block's bytes without faulting anything in: it was just fetched. */
	uint32_t done = 0;
	while (done < size) {
		uint64_t va = addr + done;
		struct walk_req req = { .va = va, .access = MMU_READ, .user = true };
		struct walk_result r;
		struct mmu_fault f;
		if (!mmu_walk(&e->regs, &e->pm, &req, 0, &r, &f) || r.pa >= e->pm.size)
			break;
		uint32_t chunk = 4096 - (va & 4095);
		if (chunk > size - done)
			chunk = size - done;
		memcpy(buf + done, e->pm.base + r.pa, chunk);
		done += chunk;
	}
	if (done == 0)
		return 1;
	cs_insn *insn = NULL;
	size_t n = cs_disasm(e->cs, buf, done, addr, 0, &insn);
	if (insn)
		cs_free(insn, n);
	return n ? (uint32_t)n : 1;
}

static void bcache_grow(struct engine *e)
{
	size_t ncap = e->bc_cap ? e->bc_cap * 2 : 4096;
	struct block_entry *n = calloc(ncap, sizeof(*n));
	if (!n)
		return;
	for (size_t i = 0; i < e->bc_cap; i++) {
		struct block_entry *b = &e->bc[i];
		if (!b->size)
			continue;
		size_t h = (b->addr * 0x9E3779B97F4A7C15ULL >> 32) & (ncap - 1);
		while (n[h].size)
			h = (h + 1) & (ncap - 1);
		n[h] = *b;
	}
	free(e->bc);
	e->bc = n;
	e->bc_cap = ncap;
}

/* Fault time series: appends a sample; a full buffer keeps every other sample and doubles the
 * interval, so the series always spans the whole run. */
static void take_sample(struct engine *e)
{
	if (!e->ts) {
		e->ts_next = UINT64_MAX;
		return;
	}
	if (e->ts_n == e->ts_cap) {
		size_t j = 0;
		for (size_t i = 0; i < e->ts_n; i += 2)
			e->ts[j++] = e->ts[i];
		e->ts_n = j;
		e->ts_every *= 2;
	}
	e->ts[e->ts_n++] = (struct engine_sample){ e->insns, km_stats(e->g.km)->pgfault, km_frames_in_use(e->g.km) };
	e->ts_next = e->insns + e->ts_every;
}

int engine_sample_faults(struct engine *e, size_t max_samples)
{
	if (max_samples < 16)
		max_samples = 16;
	max_samples &= ~(size_t)1;
	free(e->ts);
	e->ts = calloc(max_samples, sizeof(*e->ts));
	if (!e->ts)
		return -1;
	e->ts_cap = max_samples;
	e->ts_n = 0;
	e->ts_every = 4096;
	e->ts_next = 0;
	return 0;
}

static void hook_block(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
	struct engine *e = ud;
	(void)uc;
	if (e->timing)
		time_fetch(e, addr, size);
	size_t mask = e->bc_cap - 1;
	size_t h = (addr * 0x9E3779B97F4A7C15ULL >> 32) & mask;
	for (;;) {
		struct block_entry *b = &e->bc[h];
		if (b->addr == addr && b->size == size) {
			e->insns += b->ninsns;
			break;
		}
		if (!b->size) {
			uint32_t n = count_insns(e, addr, size);
			e->insns += n;
			if ((e->bc_used + 1) * 2 > e->bc_cap) {
				bcache_grow(e);
			} else {
				b->addr = addr;
				b->size = size;
				b->ninsns = n;
				e->bc_used++;
			}
			break;
		}
		h = (h + 1) & mask;
	}
	if (e->opts.max_insns && e->insns >= e->opts.max_insns && !e->g.exited) {
		e->stopped_at_limit = true;
		uc_emu_stop(e->g.uc);
	}
	if (e->opts.progress && (++e->blocks & 0xfffff) == 0)
		engine_progress(e, false);
	if (__builtin_expect(e->insns >= e->ts_next, 0))
		take_sample(e);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void engine_progress(struct engine *e, bool final)
{
	double t = now_seconds();
	if (!final && t - e->last_progress < 2.0)
		return;
	e->last_progress = t;
	double el = t - e->start_time;
	fprintf(stderr, "mmuemu: %.1f s, %llu M instructions, %.0f MIPS, %llu faults, %llu frames%s\n", el,
		(unsigned long long)(e->insns / 1000000), el > 0 ? e->insns / el / 1e6 : 0.0,
		(unsigned long long)km_stats(e->g.km)->pgfault,
		(unsigned long long)km_frames_in_use(e->g.km), final ? " (done)" : "");
}

/* ---- set-up -------------------------------------------------------------------------------------- */

#define UC_CHECK(call, what)                                                                   \
	do {                                                                                   \
		uc_err uerr_ = (call);                                                         \
		if (uerr_ != UC_ERR_OK) {                                                      \
			snprintf(err, errlen, "%s: %s", what, uc_strerror(uerr_));            \
			return -1;                                                             \
		}                                                                              \
	} while (0)

static void fan_lookup(void *ctx, const struct mmu_lookup_event *ev)
{
	struct engine *e = ctx;
	for (unsigned i = 0; i < e->nobs; i++)
		if (e->obs[i].lookup)
			e->obs[i].lookup(e->obs[i].ctx, ev);
}

static void fan_walk(void *ctx, const struct mmu_walk_event *ev)
{
	struct engine *e = ctx;
	for (unsigned i = 0; i < e->nobs; i++)
		if (e->obs[i].walk)
			e->obs[i].walk(e->obs[i].ctx, ev);
}

static void fan_inv(void *ctx, const struct mmu_inv_event *ev)
{
	struct engine *e = ctx;
	for (unsigned i = 0; i < e->nobs; i++)
		if (e->obs[i].inv)
			e->obs[i].inv(e->obs[i].ctx, ev);
}

/* Hands the registered observers to the timing model (directly, or through the fan-out). */
static void install_observers(struct engine *e)
{
	if (e->nobs == 1) {
		mmu_timing_set_observer(e->timing, &e->obs[0]);
	} else {
		/* Each callback of the fan-out is installed only when some observer has it, so the
		 * timing model still skips building events nobody reads. */
		struct mmu_observer fan = { .ctx = e };
		for (unsigned i = 0; i < e->nobs; i++) {
			if (e->obs[i].lookup)
				fan.lookup = fan_lookup;
			if (e->obs[i].walk)
				fan.walk = fan_walk;
			if (e->obs[i].inv)
				fan.inv = fan_inv;
		}
		mmu_timing_set_observer(e->timing, &fan);
	}
}

int engine_add_observer(struct engine *e, const struct mmu_observer *obs)
{
	if (e->nobs >= ENGINE_MAX_OBSERVERS || (!e->timing && e->g.uc))
		return -1;
	e->obs[e->nobs++] = *obs;
	if (e->timing)
		install_observers(e);
	return 0;
}

static void km_event_cb(void *ctx, const struct km_event *ev);

/* The kernel model's callbacks into the machine; kernel events only when someone listens. */
static void set_km_ops(struct engine *e)
{
	struct km_ops ops = { .flush_tlb = flush_cb, .kernel_access = kernel_access_cb,
			       .flush_kernel = flush_kernel_cb, .event = e->nkml ? km_event_cb : NULL,
			       .ctx = e };
	km_set_ops(e->g.km, &ops);
}

static void km_event_cb(void *ctx, const struct km_event *ev)
{
	struct engine *e = ctx;
	for (unsigned i = 0; i < e->nkml; i++)
		e->kml[i].fn(e->kml[i].ctx, ev);
}

int engine_add_km_listener(struct engine *e, void (*fn)(void *ctx, const struct km_event *ev),
			   void *ctx)
{
	if (e->nkml >= ENGINE_MAX_OBSERVERS)
		return -1;
	e->kml[e->nkml].fn = fn;
	e->kml[e->nkml].ctx = ctx;
	e->nkml++;
	if (e->nkml == 1 && e->g.uc)
		set_km_ops(e);
	return 0;
}

int engine_init(struct engine *e, const struct engine_options *opts, char *err, size_t errlen)
{
	struct guest *g = &e->g;
	e->opts = *opts;
	if (!e->ts)
		e->ts_next = UINT64_MAX;   /* no fault time series unless engine_sample_faults */
	unsigned major = 0, minor = 0;
	uc_version(&major, &minor);
	if (major < 2 || (major == 2 && minor < 1)) {
		snprintf(err, errlen, "Unicorn %u.%u is loaded, mmuemu needs >= 2.1 (run ./scripts/bootstrap.sh)",
			 major, minor);
		return -1;
	}
	UC_CHECK(uc_open(UC_ARCH_X86, g->is64 ? UC_MODE_64 : UC_MODE_32, &g->uc), "uc_open");
	UC_CHECK(uc_ctl_tlb_mode(g->uc, UC_TLB_VIRTUAL), "UC_TLB_VIRTUAL");
	e->pm.base = km_phys_base(g->km);
	e->pm.size = km_phys_size(g->km);
	UC_CHECK(uc_mem_map_ptr(g->uc, 0, e->pm.size, UC_PROT_ALL, e->pm.base), "mapping modelled RAM");
	km_mm_regs(g->km, g->mm, &e->regs);
	set_km_ops(e);

	uc_hook h;
	UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_TLB_FILL, (void *)hook_tlb_fill, e, 1, 0), "TLB-fill hook");
	if (g->is64)
		UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_INSN, (void *)hook_syscall, e, 1, 0, UC_X86_INS_SYSCALL),
			 "syscall hook");
	e->hole_pa = (e->pm.size + 0xfffffULL) & ~0xfffffULL;
	e->hole_pa += 1ULL << 20;
	UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)hook_unmapped, e, 1, 0), "unmapped hook");
	UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_INTR, (void *)hook_intr, e, 1, 0), "interrupt hook");
	UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_INSN_INVALID, (void *)hook_insn_invalid, e, 1, 0),
		 "invalid-instruction hook");
	if (opts->cpu) {
		const struct paging_format *fmt = km_format(g->km);
		e->timing = mmu_timing_new(opts->cpu, fmt, err, errlen);
		if (!e->timing)
			return -1;
		if (e->nobs)
			install_observers(e);   /* added before engine_init: they see the set-up too */
		e->fetch_bytes = opts->cpu->itlb_fetch_bytes ? opts->cpu->itlb_fetch_bytes : 16;
		e->nframes = e->pm.size >> 12;
		e->rmap = calloc(e->nframes, sizeof(uint64_t));
		e->zero_pfn = km_zero_pfn(g->km);
		/* The zero window: a read-only, never-touched host mapping above RAM. */
		e->zw_base = ((e->pm.size + (1ULL << 30) - 1) & ~((1ULL << 30) - 1)) + (1ULL << 30);
		e->zw_host = mmap(NULL, ZERO_WINDOW_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		e->zw_vpn = calloc(ZERO_WINDOW_SLOTS, sizeof(uint64_t));
		if (!e->rmap || !e->zw_vpn || e->zw_host == MAP_FAILED) {
			snprintf(err, errlen, "out of host memory for the timing model");
			return -1;
		}
		zw_grow(e);
		UC_CHECK(uc_mem_map_ptr(g->uc, e->zw_base, ZERO_WINDOW_BYTES, UC_PROT_READ, e->zw_host), "zero window");
		UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)hook_mem, e, 1, 0), "memory hook");
		if (opts->attach && opts->attach(opts->attach_ctx, e, err, errlen) != 0)
			return -1;
	}
	if (opts->empty_hooks)
		UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)hook_mem_empty, e, 1, 0),
			 "memory hook");
	/* A second Capstone handle with operand details, used only on read faults (rmw_at_pc). */
	if (cs_open(CS_ARCH_X86, g->is64 ? CS_MODE_64 : CS_MODE_32, &e->cs_detail) != CS_ERR_OK ||
	    cs_option(e->cs_detail, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
		snprintf(err, errlen, "Capstone cs_open failed");
		return -1;
	}
	if (opts->count_insns) {
		if (cs_open(CS_ARCH_X86, g->is64 ? CS_MODE_64 : CS_MODE_32, &e->cs) != CS_ERR_OK) {
			snprintf(err, errlen, "Capstone cs_open failed");
			return -1;
		}
		bcache_grow(e);
		UC_CHECK(uc_hook_add(g->uc, &h, UC_HOOK_BLOCK, (void *)hook_block, e, 1, 0), "block hook");
	}

	if (!g->is64) {
		g->gdt_va = I386_GDT_VA;
		g->gdt = km_map_kernel_page(g->km, g->mm, I386_GDT_VA);
		if (!g->gdt) {
			snprintf(err, errlen, "cannot allocate the GDT page");
			return -1;
		}
		g->gdt_entries = GDT_ENTRIES;
		uint64_t flat[3] = { 0, GDT_FLAT_CODE32, GDT_FLAT_DATA32 };
		memcpy(g->gdt, flat, sizeof(flat));
		uc_x86_mmr gdtr = { 0, I386_GDT_VA, GDT_ENTRIES * 8 - 1, 0 };
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_GDTR, &gdtr), "GDTR");
		uint32_t ds = GDT_DATA_SEL, cs = GDT_CODE_SEL;
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_SS, &ds), "SS");
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_DS, &ds), "DS");
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_ES, &ds), "ES");
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_CS, &cs), "CS");
	}
	return 0;
}

int engine_run(struct engine *e, uint64_t entry, uint64_t sp, char *err, size_t errlen)
{
	struct guest *g = &e->g;
	/* ELF_PLAT_INIT: general registers start at zero (rdx = 0: no rtld_fini). */
	static const int gpr64[] = { UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
				     UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_R8,
				     UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
				     UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15 };
	static const int gpr32[] = { UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
				     UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EBP };
	uint64_t zero = 0;
	if (g->is64) {
		for (size_t i = 0; i < sizeof(gpr64) / sizeof(gpr64[0]); i++)
			UC_CHECK(uc_reg_write(g->uc, gpr64[i], &zero), "register");
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_RSP, &sp), "RSP");
	} else {
		for (size_t i = 0; i < sizeof(gpr32) / sizeof(gpr32[0]); i++)
			UC_CHECK(uc_reg_write(g->uc, gpr32[i], &zero), "register");
		uint32_t sp32 = (uint32_t)sp;
		UC_CHECK(uc_reg_write(g->uc, UC_X86_REG_ESP, &sp32), "ESP");
	}
	e->start_time = now_seconds();
	e->last_progress = e->start_time;
	uint64_t pc = entry;
	for (;;) {
		uc_err ue = uc_emu_start(g->uc, pc, 0, 0, 0);
		if (g->exited || g->fatal_signal || e->stopped_at_limit)
			break;
		if (ue != UC_ERR_OK) {
			/* An error Unicorn raised itself (not through our hooks). */
			uint64_t rip = 0;
			uc_reg_read(g->uc, g->is64 ? UC_X86_REG_RIP : UC_X86_REG_EIP, &rip);
			switch (ue) {
			case UC_ERR_INSN_INVALID:
				kill_guest(e, SIGILL, 2, rip, "invalid instruction");
				break;
			case UC_ERR_READ_UNMAPPED: case UC_ERR_WRITE_UNMAPPED: case UC_ERR_FETCH_UNMAPPED:
			case UC_ERR_READ_PROT: case UC_ERR_WRITE_PROT: case UC_ERR_FETCH_PROT:
			case UC_ERR_EXCEPTION:
				kill_guest(e, SIGSEGV, 1, 0, uc_strerror(ue));
				break;
			default:
				snprintf(err, errlen, "emulation stopped: %s at pc %#llx", uc_strerror(ue),
					 (unsigned long long)rip);
				e->end_time = now_seconds();
				return -1;
			}
			break;
		}
		/* Unicorn stops by itself only when the guest reaches the `until` address 0: a jump
		 * to address 0, which Linux answers with SIGSEGV (nothing is mapped there). */
		uc_reg_read(g->uc, g->is64 ? UC_X86_REG_RIP : UC_X86_REG_EIP, &pc);
		kill_guest(e, SIGSEGV, 1 /* SEGV_MAPERR */, pc, NULL);
		break;
	}
	e->end_time = now_seconds();
	if (e->ts && (!e->ts_n || e->ts[e->ts_n - 1].insns != e->insns))
		take_sample(e);   /* the end of the run */
	if (e->opts.progress)
		engine_progress(e, true);
	return 0;
}

void engine_close(struct engine *e)
{
	if (e->g.km) {
		struct km_ops none = { 0 };
		km_set_ops(e->g.km, &none);   /* no more Unicorn TLB to flush */
	}
	if (e->g.uc)
		uc_close(e->g.uc);
	e->g.uc = NULL;
	if (e->cs)
		cs_close(&e->cs);
	if (e->cs_detail)
		cs_close(&e->cs_detail);
	free(e->bc);
	e->bc = NULL;
	free(e->ts);
	e->ts = NULL;
	mmu_timing_free(e->timing);
	e->timing = NULL;
	free(e->rmap);
	free(e->zw_vpn);
	free(e->zw_key);
	free(e->zw_val);
	if (e->zw_host && e->zw_host != MAP_FAILED)
		munmap(e->zw_host, ZERO_WINDOW_BYTES);
	e->rmap = NULL;
	e->zw_vpn = NULL;
	e->zw_key = NULL;
	e->zw_val = NULL;
	e->zw_host = NULL;
}

int engine_exit_status(const struct engine *e)
{
	const struct guest *g = &e->g;
	if (g->fatal_signal)
		return 128 + g->fatal_signal;
	return g->exit_code & 0xff;
}
