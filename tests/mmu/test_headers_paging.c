/* test_headers_paging.c — paging.h compiles on its own (it is the first include). */
#include "paging.h"

#include <criterion/criterion.h>

Test(headers, paging_h_is_self_contained)
{
	cr_assert_eq(PTE_P, 1);
	cr_assert_eq(PTE_NX, UINT64_C(1) << 63);
	cr_assert_eq(PTE_SPECIAL, PTE_SOFTW1);
	cr_assert_eq(PF_ERR_RSVD, 8);
	cr_assert_eq(CR4_LA57, 1u << 12);
	cr_assert_eq(CR3_NOFLUSH, UINT64_C(1) << 63);
}
