/* km.c — the kernel-model machine: modelled RAM, the node and its buddy allocator, the zero
 * page, the page cache of mapped files, user-memory access from the kernel (uaccess) and the
 * statistics. Models Linux 6.12; see kmodel.h for the overview.
 *
 * Modelled RAM is one anonymous host mapping (MAP_NORESERVE): frames the guest never touches
 * cost no host memory. Frames [0, KM_RESERVED_BYTES) stand for firmware and the kernel image and
 * are never given to the buddy allocator, like memblock-reserved memory.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "km_internal.h"

/* Firmware, real-mode area and the kernel image: reserved at boot, never in the buddy lists. */
#define KM_RESERVED_BYTES (16ULL << 20)
/* Physical address width of the modelled CPU (MAXPHYADDR). */
#define KM_MAXPHYADDR 46
#define KM_MAXPHYADDR_I386 36

void km_default_config(struct km_config *cfg, enum km_arch arch)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = arch;
	if (arch == KM_ARCH_I386) {
		cfg->paging = PAGING_2LEVEL;
		cfg->mem_bytes = 2ULL << 30;
		cfg->lowmem_bytes = 0x377fe000ULL;   /* MAXMEM of a 6.x i386 kernel (facts §1.2) */
	} else {
		cfg->paging = PAGING_4LEVEL;
		cfg->mem_bytes = 4ULL << 30;
	}
	cfg->rlimit_stack = 8ULL << 20;
	/* Cycle costs: linux-mm-facts.md §7 suggestions (see docs/costs.md). */
	cfg->costs.exception = 600;
	cfg->costs.fault_base = 700;
	cfg->costs.zero_page = 800;
	cfg->costs.copy_page = 1000;
	cfg->costs.page_alloc = 150;
	cfg->costs.page_split = 20;
	cfg->costs.pgtable_alloc = 900;
	cfg->costs.file_read_page = 2000;
	cfg->costs.invlpg = 250;
	cfg->costs.tlb_flush = 150;
	cfg->costs.kmap = 40;
	cfg->costs.fault_around_page = 60;
	cfg->costs.slab_fast = 20;
	cfg->costs.slab_slow = 200;
}

static const struct { const char *name; size_t off; } cost_fields[] = {
#define COST(f) { #f, offsetof(struct km_costs, f) }
	COST(exception), COST(fault_base), COST(zero_page), COST(copy_page), COST(page_alloc),
	COST(page_split), COST(pgtable_alloc), COST(file_read_page), COST(invlpg), COST(tlb_flush),
	COST(kmap), COST(fault_around_page), COST(slab_fast), COST(slab_slow),
#undef COST
};

bool km_cost_set(struct km_costs *c, const char *assignment, char *err, size_t errlen)
{
	const char *eq = strchr(assignment, '=');
	if (!eq) {
		snprintf(err, errlen, "expected NAME=CYCLES, got '%s'", assignment);
		return false;
	}
	size_t n = (size_t)(eq - assignment);
	for (size_t i = 0; i < sizeof(cost_fields) / sizeof(cost_fields[0]); i++) {
		if (strlen(cost_fields[i].name) != n || strncmp(cost_fields[i].name, assignment, n))
			continue;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(eq + 1, &end, 10);
		if (!eq[1] || *end || errno || eq[1] == '-' || v > 1000000000ULL) {
			snprintf(err, errlen, "%.*s: invalid cycle count '%s' (0..1000000000)", (int)n, assignment,
				 eq + 1);
			return false;
		}
		*(uint64_t *)((char *)c + cost_fields[i].off) = v;
		return true;
	}
	snprintf(err, errlen, "unknown cost '%.*s' (see mmuemu run --help)", (int)n, assignment);
	return false;
}

void km_costs_foreach(const struct km_costs *c, void (*fn)(void *ctx, const char *name, uint64_t v), void *ctx)
{
	for (size_t i = 0; i < sizeof(cost_fields) / sizeof(cost_fields[0]); i++)
		fn(ctx, cost_fields[i].name, *(const uint64_t *)((const char *)c + cost_fields[i].off));
}

void km_oom_message(struct km *km, struct mm_struct *mm, int pid, const char *comm, char *buf, size_t len)
{
	(void)km;
	uint64_t total_vm = 0;
	for (struct vm_area_struct *v = find_vma(mm, 0); v; v = find_vma(mm, v->vm_end))
		total_vm += v->vm_end - v->vm_start;
	/* comm is TASK_COMM_LEN (16) bytes including the NUL. */
	snprintf(buf, len,
		 "Out of memory: Killed process %d (%.15s) total-vm:%llukB, anon-rss:%llukB, file-rss:%llukB, "
		 "shmem-rss:0kB, UID:0 pgtables:%llukB oom_score_adj:0",
		 pid, comm, (unsigned long long)(total_vm >> 10), (unsigned long long)(mm->rss_anon << 2),
		 (unsigned long long)(mm->rss_file << 2), (unsigned long long)(mm->pt_pages << 2));
}

void km_charge(struct km *km, uint64_t cycles)
{
	km->cycles += cycles;
}

static bool regs_for(const struct km_config *cfg, uint64_t *cr0, uint64_t *cr4, uint64_t *efer)
{
	*cr0 = CR0_PG | CR0_PE | CR0_WP;
	*cr4 = CR4_PGE;
	*efer = 0;
	switch (cfg->paging) {
	case PAGING_2LEVEL:
		*cr4 |= CR4_PSE;
		return cfg->arch == KM_ARCH_I386;
	case PAGING_PAE:
		*cr4 |= CR4_PAE | CR4_PSE;
		*efer = EFER_NXE;
		return cfg->arch == KM_ARCH_I386;
	case PAGING_4LEVEL:
		*cr4 |= CR4_PAE | CR4_PSE;
		*efer = EFER_LME | EFER_LMA | EFER_NXE;
		return cfg->arch == KM_ARCH_X86_64;
	case PAGING_5LEVEL:
		*cr4 |= CR4_PAE | CR4_PSE | CR4_LA57;
		*efer = EFER_LME | EFER_LMA | EFER_NXE;
		return cfg->arch == KM_ARCH_X86_64;
	}
	return false;
}

/* Every slab allocation and free: charged (fast or slow path) and reported as an event. */
static void slab_event(void *ctx, const struct kmem_cache *c, int kind, uint64_t obj, bool slowpath,
		       unsigned pages)
{
	struct km *km = ctx;
	km->cycles += slowpath ? km->cfg.costs.slab_slow : km->cfg.costs.slab_fast;
	if (kind == SLAB_EV_ALLOC) {
		km->stats.slab_allocs++;
		km->stats.slab_pages_alloc += pages;
	} else {
		km->stats.slab_frees++;
		km->stats.slab_pages_free += pages;
	}
	if (slowpath)
		km->stats.slab_slowpath++;
	if (km->ops.event) {
		struct km_event ev = { .addr = obj, .cache = c ? kmem_cache_name(c) : "kmalloc_large",
				       .kind = (uint8_t)(kind == SLAB_EV_ALLOC ? KM_EV_SLAB_ALLOC : KM_EV_SLAB_FREE),
				       .order = (uint8_t)(pages > 255 ? 255 : pages), .zone = -1,
				       .migratetype = -1, .slowpath = slowpath };
		km->ops.event(km->ops.ctx, &ev);
	}
}

struct slab_system *km_slab(struct km *km) { return km->slab; }

/* Every block the buddy allocator hands out or takes back: splits charged (page_split each), and
 * reported as a KM_EV_PAGE_ALLOC / KM_EV_PAGE_FREE event. */
static void page_event(void *ctx, bool alloc, uint64_t pfn, unsigned order, enum zone_type zone,
		       int migratetype, unsigned long splits)
{
	struct km *km = ctx;
	if (splits) {
		km->stats.page_splits += splits;
		km->cycles += splits * km->cfg.costs.page_split;
	}
	if (km->ops.event) {
		struct km_event ev = { .pfn = pfn, .kind = (uint8_t)(alloc ? KM_EV_PAGE_ALLOC : KM_EV_PAGE_FREE),
				       .order = (uint8_t)order, .zone = (int8_t)zone,
				       .migratetype = (int8_t)migratetype };
		km->ops.event(km->ops.ctx, &ev);
	}
}

struct km *km_new(const struct km_config *cfg, char *err, size_t errlen)
{
	uint64_t cr0, cr4, efer;
	if (!regs_for(cfg, &cr0, &cr4, &efer)) {
		snprintf(err, errlen, "paging mode not available for this architecture (i386: 2level or pae; x86-64: 4level or 5level)");
		return NULL;
	}
	if (cfg->mem_bytes < (64ULL << 20) || cfg->mem_bytes % PAGE_SIZE) {
		snprintf(err, errlen, "memory size %llu bytes: must be a multiple of 4 KiB and at least 64 MiB",
			 (unsigned long long)cfg->mem_bytes);
		return NULL;
	}
	unsigned maxphy = cfg->arch == KM_ARCH_I386 ? KM_MAXPHYADDR_I386 : KM_MAXPHYADDR;
	if (cfg->paging == PAGING_2LEVEL && cfg->mem_bytes > (4ULL << 30)) {
		snprintf(err, errlen, "2-level paging addresses at most 4 GiB of RAM; use --paging pae for more");
		return NULL;
	}
	if (cfg->mem_bytes > (1ULL << maxphy) || cfg->mem_bytes > (1ULL << 40)) {
		snprintf(err, errlen, "memory size too large for the modelled machine (max %llu GiB)",
			 (unsigned long long)((1ULL << (maxphy < 40 ? maxphy : 40)) >> 30));
		return NULL;
	}
	struct km *km = calloc(1, sizeof(*km));
	if (!km) {
		snprintf(err, errlen, "out of host memory");
		return NULL;
	}
	km->cfg = *cfg;
	km->maxphyaddr = maxphy;
	if (!paging_format_init(&km->fmt, cr0, cr4, efer, maxphy, cfg->arch == KM_ARCH_X86_64)) {
		snprintf(err, errlen, "invalid paging format");
		free(km);
		return NULL;
	}
	km->phys_size = cfg->mem_bytes;
	km->phys = mmap(NULL, km->phys_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (km->phys == MAP_FAILED) {
		snprintf(err, errlen, "cannot reserve %llu MiB of host address space for modelled RAM: %s",
			 (unsigned long long)(km->phys_size >> 20), strerror(errno));
		free(km);
		return NULL;
	}
	struct page_alloc_config pac = {
		.mem_bytes = cfg->mem_bytes,
		.x86_64 = cfg->arch == KM_ARCH_X86_64,
		.pae = cfg->paging == PAGING_PAE,
		.lowmem_bytes = cfg->lowmem_bytes,
		.movablecore_bytes = cfg->movablecore_bytes,
		.reserved_bytes = KM_RESERVED_BYTES,
	};
	if (pgdat_init(&km->pgdat, &pac, err, errlen) != 0) {
		munmap(km->phys, km->phys_size);
		free(km);
		return NULL;
	}
	km->pgdat.phys = km->phys;
	km->pgdat.ops.event = page_event;
	km->pgdat.ops.ctx = km;
	/* empty_zero_page lives in the kernel image (bss) in Linux: take a reserved frame. */
	km->zero_pfn = (KM_RESERVED_BYTES >> PAGE_SHIFT) - 1;
	struct page *zp = km_pfn_page(km, km->zero_pfn);
	zp->flags |= PG_KM_KERNEL;
	km_vdso_init(km);
	/* The slab allocator (slub.c) with one CPU, and pgd_cache under PAE (pgtable_cache_init). */
	km->slab = slab_system_new(&km->pgdat, 1, cfg->arch == KM_ARCH_X86_64 ? 8 : 4,
				   cfg->arch == KM_ARCH_X86_64 ? 0xffff888000000000ULL : 0xc0000000ULL);
	if (!km->slab || (cfg->paging == PAGING_PAE && !slab_create_pgd_cache(km->slab))) {
		snprintf(err, errlen, "cannot set up the slab allocator");
		slab_system_free(km->slab);
		pgdat_destroy(&km->pgdat);
		munmap(km->phys, km->phys_size);
		free(km);
		return NULL;
	}
	struct slab_ops sops = { .slab_event = slab_event, .ctx = km };
	slab_system_set_ops(km->slab, &sops);
	/* Huge pages: the levels in use, and the boot-time 1 GiB pool (pgtable.c). */
	if (km_huge_init(km, err, errlen) != 0) {
		slab_system_free(km->slab);
		pgdat_destroy(&km->pgdat);
		munmap(km->phys, km->phys_size);
		free(km);
		return NULL;
	}
	/* Watermarks, lowmem_reserve and the real per-CPU pagesets, after the boot-time reservations
	 * (Linux: the postcore initcall init_per_zone_wmark_min; page_alloc.h). */
	init_per_zone_wmark_min(&km->pgdat);
	return km;
}

void km_free(struct km *km)
{
	if (!km)
		return;
	km_files_free(km);
	km_huge_destroy(km);
	km_highmem_destroy(km);
	slab_system_free(km->slab);
	pgdat_destroy(&km->pgdat);
	munmap(km->phys, km->phys_size);
	free(km);
}

void km_set_ops(struct km *km, const struct km_ops *ops) { km->ops = *ops; }
uint8_t *km_phys_base(const struct km *km) { return km->phys; }
uint64_t km_phys_size(const struct km *km) { return km->phys_size; }
uint64_t km_zero_pfn(const struct km *km) { return km->zero_pfn; }
const struct paging_format *km_format(const struct km *km) { return &km->fmt; }
const struct km_config *km_get_config(const struct km *km) { return &km->cfg; }
struct km_stats *km_stats(struct km *km) { return &km->stats; }
struct pglist_data *km_pgdat(struct km *km) { return &km->pgdat; }
uint64_t km_cycles(const struct km *km) { return km->cycles; }
uint64_t km_frames_in_use(const struct km *km) { return km->frames_in_use; }
uint64_t km_frames_peak(const struct km *km) { return km->frames_peak; }

uint64_t km_page_pfn(struct km *km, struct page *page) { return page_to_pfn(&km->pgdat, page); }
struct page *km_pfn_page(struct km *km, uint64_t pfn) { return pfn_to_page(&km->pgdat, pfn); }

void km_stats_foreach(const struct km_stats *s,
		      void (*fn)(void *ctx, const char *name, const char *desc, uint64_t value), void *ctx)
{
#define KM_STAT(name, desc) fn(ctx, #name, desc, s->name);
#include "km_stats.inc"
#undef KM_STAT
}

static const char *const fault_kind_names[] = {
#define KM_FAULT_KIND(name, desc) #name,
#include "km_fault_kinds.inc"
#undef KM_FAULT_KIND
};

const char *km_fault_kind_name(enum km_fault_kind k)
{
	return k < KM_FK_COUNT ? fault_kind_names[k] : "?";
}

uint64_t km_fault_kind_count(const struct km *km, enum km_fault_kind k)
{
	return k < KM_FK_COUNT ? km->fault_kind_count[k] : 0;
}

/* One order-0 allocation on behalf of the kernel model, with accounting. __GFP_ZERO is charged
 * as a page clear. */
struct page *km_alloc_page(struct km *km, gfp_t gfp)
{
	struct page *page = alloc_pages(&km->pgdat, gfp, 0);
	if (!page)
		return NULL;
	km->stats.pgalloc++;
	km->cycles += km->cfg.costs.page_alloc;
	page->_refcount = 1;
	page->_mapcount = 0;
	if (gfp & __GFP_ZERO) {
		km->stats.pages_zeroed++;
		km->cycles += km->cfg.costs.zero_page;
		km_clear_highpage(km, km_page_pfn(km, page));   /* kmap_local when in HighMem */
	}
	if (++km->frames_in_use > km->frames_peak)
		km->frames_peak = km->frames_in_use;
	return page;
}

void km_free_page(struct km *km, struct page *page)
{
	page->flags &= ~(PG_KM_ANON | PG_KM_PAGECACHE | PG_KM_PGTABLE | PG_KM_KERNEL);
	page->_mapcount = 0;   /* also clears page_type (PGTY_table) */
	page->private = 0;
	page->_refcount = 1;   /* __free_pages drops the last reference */
	__free_pages(&km->pgdat, page, 0);
	km->stats.pgfree++;
	km->frames_in_use--;
}

void km_put_page(struct km *km, struct page *page)
{
	if (page->flags & PG_KM_KERNEL)
		return;
	if (--page->_refcount == 0)
		km_free_page(km, page);
}

void km_flush_tlb(struct km *km, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	km->stats.tlb_flush_calls++;
	uint64_t pages = end ? (end - start) >> PAGE_SHIFT : ~0ULL;
	/* Linux flushes ranges up to tlb_single_page_flush_ceiling (33) page by page. */
	km->cycles += pages <= 33 ? pages * km->cfg.costs.invlpg : km->cfg.costs.tlb_flush;
	if (km->ops.flush_tlb)
		km->ops.flush_tlb(km->ops.ctx, mm, start, end);
}

/* ---- files and the page cache ------------------------------------------------------------- */

struct km_file *km_file_get(struct km *km, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return NULL;
	if (!S_ISREG(st.st_mode)) {
		errno = ENODEV;
		return NULL;
	}
	for (struct km_file *f = km->files; f; f = f->next) {
		if (f->dev == st.st_dev && f->ino == st.st_ino) {
			f->refs++;
			if ((uint64_t)st.st_size > f->size)
				f->size = st.st_size;
			return f;
		}
	}
	struct km_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (f->fd < 0) {
		free(f);
		return NULL;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->refs = 1;
	f->next = km->files;
	km->files = f;
	return f;
}

void km_file_put(struct km *km, struct km_file *f)
{
	(void)km;
	/* Page-cache pages stay cached (no reclaim is modelled); the object lives until km_free. */
	if (f && f->refs > 0)
		f->refs--;
}

uint64_t km_file_size(const struct km_file *f) { return f->size; }

static size_t pc_hash(uint64_t index, size_t cap) { return (index * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1); }

static bool pc_grow(struct km_file *f)
{
	size_t ncap = f->pc_cap ? f->pc_cap * 2 : 64;
	uint64_t *ni = calloc(ncap, sizeof(*ni)), *np = calloc(ncap, sizeof(*np));
	if (!ni || !np) {
		free(ni);
		free(np);
		return false;
	}
	for (size_t i = 0; i < f->pc_cap; i++) {
		if (!f->pc_pfn[i])
			continue;
		size_t h = pc_hash(f->pc_index[i], ncap);
		while (np[h])
			h = (h + 1) & (ncap - 1);
		ni[h] = f->pc_index[i];
		np[h] = f->pc_pfn[i];
	}
	free(f->pc_index);
	free(f->pc_pfn);
	f->pc_index = ni;
	f->pc_pfn = np;
	f->pc_cap = ncap;
	return true;
}

bool km_filemap_get(struct km *km, struct km_file *f, uint64_t index, uint64_t *pfn, bool *major)
{
	*major = false;
	if (f->pc_cap) {
		for (size_t h = pc_hash(index, f->pc_cap); f->pc_pfn[h]; h = (h + 1) & (f->pc_cap - 1)) {
			if (f->pc_index[h] == index) {
				*pfn = f->pc_pfn[h] - 1;
				return true;
			}
		}
	}
	if ((f->pc_used + 1) * 2 > f->pc_cap && !pc_grow(f))
		return false;
	/* Page-cache pages are movable user pages: GFP_HIGHUSER_MOVABLE (mapping_gfp_mask). */
	struct page *page = km_alloc_page(km, GFP_HIGHUSER_MOVABLE);
	if (!page)
		return false;
	page->flags |= PG_KM_PAGECACHE;
	page->private = index;
	uint64_t p = km_page_pfn(km, page);
	uint8_t *dst = km_pfn_ptr(km, p);
	size_t done = 0;
	while (done < PAGE_SIZE) {
		ssize_t r = pread(f->fd, dst + done, PAGE_SIZE - done, (off_t)(index * PAGE_SIZE + done));
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	memset(dst + done, 0, PAGE_SIZE - done);   /* beyond EOF reads as zero */
	km->stats.pagecache_pages++;
	km->cycles += km->cfg.costs.file_read_page;
	size_t h = pc_hash(index, f->pc_cap);
	while (f->pc_pfn[h])
		h = (h + 1) & (f->pc_cap - 1);
	f->pc_index[h] = index;
	f->pc_pfn[h] = p + 1;
	f->pc_used++;
	*pfn = p;
	*major = true;
	return true;
}

void km_files_free(struct km *km)
{
	struct km_file *f = km->files;
	while (f) {
		struct km_file *next = f->next;
		close(f->fd);
		free(f->pc_index);
		free(f->pc_pfn);
		free(f);
		f = next;
	}
	km->files = NULL;
}

/* ---- uaccess ----------------------------------------------------------------------------------- */

static const struct mmu_regs *mm_regs(struct km *km, struct mm_struct *mm)
{
	if (!mm->regs_valid) {
		km_mm_regs(km, mm, &mm->regs);
		mm->regs_valid = true;
	}
	return &mm->regs;
}

/* Translates one user address for a kernel access, faulting the page in as the kernel's
 * exception-table fixup path would. Returns a host pointer or NULL (-EFAULT). */
static uint8_t *uaccess_translate(struct km *km, struct mm_struct *mm, uint64_t va, bool write)
{
	if (va >= mm->task_size)
		return NULL;
	struct mmu_phys pm = { km->phys, km->phys_size };
	struct walk_req req = { .va = va, .access = write ? MMU_WRITE : MMU_READ, .user = false };
	for (int attempt = 0; attempt < 3; attempt++) {
		struct walk_result r;
		struct mmu_fault f;
		if (mmu_walk(mm_regs(km, mm), &pm, &req, WALK_SET_AD, &r, &f)) {
			/* Supervisor access to a user page: user=false walk passes U/S; refuse kernel pages. */
			if (!r.user)
				return NULL;
			if (r.pa >= km->phys_size)
				return NULL;
			return km->phys + r.pa;
		}
		if (f.gp)
			return NULL;
		struct km_fault_info info;
		km->stats.pgfault_kernel++;
		if (km_handle_mm_fault(km, mm, va, f.error_code, &info) != KM_FAULT_OK)
			return NULL;
	}
	return NULL;
}

static int uaccess_copy(struct km *km, struct mm_struct *mm, uint64_t uaddr, uint8_t *kbuf,
			size_t n, bool to_user)
{
	if (n == 0)
		return 0;
	if (uaddr + n < uaddr || uaddr + n > mm->task_size) {
		km->stats.uaccess_efault++;
		return -EFAULT;
	}
	while (n) {
		size_t chunk = PAGE_SIZE - (uaddr & (PAGE_SIZE - 1));
		if (chunk > n)
			chunk = n;
		uint8_t *host = uaccess_translate(km, mm, uaddr, to_user);
		if (!host) {
			km->stats.uaccess_efault++;
			return -EFAULT;
		}
		if (to_user) {
			if (kbuf)
				memcpy(host, kbuf, chunk);
			else
				memset(host, 0, chunk);
			km->stats.uaccess_bytes_out += chunk;
		} else {
			memcpy(kbuf, host, chunk);
			km->stats.uaccess_bytes_in += chunk;
		}
		uaddr += chunk;
		if (kbuf)
			kbuf += chunk;
		n -= chunk;
	}
	return 0;
}

int km_copy_from_user(struct km *km, struct mm_struct *mm, void *dst, uint64_t src, size_t n)
{
	return uaccess_copy(km, mm, src, dst, n, false);
}

int km_copy_to_user(struct km *km, struct mm_struct *mm, uint64_t dst, const void *src, size_t n)
{
	return uaccess_copy(km, mm, dst, (uint8_t *)(uintptr_t)src, n, true);
}

int km_clear_user(struct km *km, struct mm_struct *mm, uint64_t dst, size_t n)
{
	return uaccess_copy(km, mm, dst, NULL, n, true);
}

int64_t km_strncpy_from_user(struct km *km, struct mm_struct *mm, char *dst, uint64_t src, size_t max)
{
	size_t len = 0;
	if (max == 0)
		return -ENAMETOOLONG;
	while (len < max) {
		size_t chunk = PAGE_SIZE - (src & (PAGE_SIZE - 1));
		if (chunk > max - len)
			chunk = max - len;
		if (src >= mm->task_size)
			goto fault;
		uint8_t *host = uaccess_translate(km, mm, src, false);
		if (!host)
			goto fault;
		for (size_t i = 0; i < chunk; i++) {
			dst[len] = (char)host[i];
			if (host[i] == 0) {
				km->stats.uaccess_bytes_in += i + 1;
				return (int64_t)len;
			}
			len++;
		}
		src += chunk;
	}
	dst[max - 1] = 0;
	return -ENAMETOOLONG;
fault:
	km->stats.uaccess_efault++;
	dst[len < max ? len : max - 1] = 0;
	return -EFAULT;
}

bool km_access_ok(struct km *km, struct mm_struct *mm, uint64_t addr, uint64_t n, bool write)
{
	(void)km;
	if (addr + n < addr || addr + n > mm->task_size)
		return false;
	uint64_t end = addr + n;
	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr)
			return false;
		if (!(vma->vm_flags & (write ? VM_WRITE : VM_READ)))
			return false;
		addr = vma->vm_end;
	}
	return true;
}

const char *km_check(struct km *km, struct mm_struct *mm)
{
	const char *why = buddy_check(&km->pgdat);
	if (why)
		return why;
	if ((why = slab_check(km->slab)))
		return why;
	if (mm) {
		if ((why = km_vma_check(mm)))
			return why;
		if ((why = km_pgtable_check(km, mm)))
			return why;
	}
	return NULL;
}
