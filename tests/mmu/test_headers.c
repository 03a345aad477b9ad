/* test_headers.c — each public mmu header compiles on its own: walk.h is included first here,
 * paging.h first in test_headers_paging.c. */
#include "walk.h"

#include <criterion/criterion.h>

Test(headers, walk_h_is_self_contained)
{
	struct mmu_regs r;
	(void)r;
	cr_assert_eq(MMU_PERM_EXEC, 1u << MMU_FETCH);
}
