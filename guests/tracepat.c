/* tracepat — a short, known page-access pattern for the trace tests (tests/trace/).
 *
 * usage: tracepat
 *
 * Maps four anonymous pages at TRACEPAT_BASE (a hint, checked: nothing else lives there in a
 * static program) and touches them in this order, one access each:
 *   1. write page 0      (not present: anonymous write fault, a new zeroed page)
 *   2. write page 1      (the same)
 *   3. read  page 2      (not present: read fault, the shared zero page is mapped)
 *   4. read  page 0      (present, in the TLB: a hit)
 *   5. write page 3      (anonymous write fault)
 *   6. write page 2      (write to the zero page: copy-on-write to a new zeroed page)
 *   7. read  page 2      (a TLB hit: the check of the value written)
 * then unmaps the four pages. tests/trace/test_trace.py checks the trace of exactly this
 * sequence against tests/trace/tracepat.expected.
 */
#include "guest_util.h"

#include <sys/mman.h>

#define TRACEPAT_BASE 0x10000000UL
#define PAGE 4096UL

int main(void)
{
	char *p = mmap((void *)TRACEPAT_BASE, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap failed: %s", errno_name(errno));
	CHECK((uintptr_t)p == TRACEPAT_BASE, "mmap did not honour the hint");
	volatile char *v = p;
	v[0 * PAGE] = 1;
	v[1 * PAGE] = 2;
	char z = v[2 * PAGE];
	char a = v[0 * PAGE];
	v[3 * PAGE] = 3;
	v[2 * PAGE] = 4;
	CHECK(z == 0 && a == 1 && v[2 * PAGE] == 4, "unexpected page contents");
	CHECK(munmap(p, 4 * PAGE) == 0, "munmap failed: %s", errno_name(errno));
	printf("tracepat ok\n");
	return 0;
}
