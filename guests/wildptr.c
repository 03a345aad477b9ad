/* wildptr — dies by SIGSEGV on purpose.
 *
 * usage: wildptr [read|write|exec|null]          default: read
 *
 *   read   load from 0x1234 (below every static binary's image, never mapped)
 *   write  store to 0x1234
 *   exec   call a function at 0x1234 (the fault is an instruction fetch; pc = 0x1234)
 *   null   load from NULL + 0x10 (a struct member through a NULL pointer)
 *
 * Prints one line (flushed) before the access. Expected end: killed by SIGSEGV, exit status 139
 * (128 + 11) as a shell reports it, both natively and under mmuemu, which also prints
 * "killed by SIGSEGV at 0x... (pc 0x...)" on stderr. Returns 1 if the access did not fault.
 */
#include "guest_util.h"

#include <stdint.h>

#define WILD_ADDR ((uintptr_t)0x1234)

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "read";
	uintptr_t addr = strcmp(mode, "null") == 0 ? (uintptr_t)0x10 : WILD_ADDR;

	printf("wildptr: %s at 0x%lx\n", mode, (unsigned long)addr);
	fflush(stdout);

	if (strcmp(mode, "read") == 0 || strcmp(mode, "null") == 0) {
		int v = *(volatile int *)addr;
		printf("read %d without a fault\n", v);
	} else if (strcmp(mode, "write") == 0) {
		*(volatile int *)addr = 42;
		printf("wrote without a fault\n");
	} else if (strcmp(mode, "exec") == 0) {
		void (*volatile fn)(void) = (void (*)(void))addr;
		fn();
		printf("called without a fault\n");
	} else {
		fprintf(stderr, "unknown mode '%s'\n", mode);
		return 2;
	}
	printf("FAIL: no SIGSEGV\n");
	return 1;
}
