/* test_format.c — paging_format_init: geometry of every mode, invalid register combinations,
 * reserved-bit masks and the small inline helpers. */
#include "mmu_test.h"

static const uint64_t PGPE = CR0_PG | CR0_PE;

Test(format, two_level_geometry_is_10_10_12)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, 0, 0, 36, false));
	cr_assert_eq(f.mode, PAGING_2LEVEL);
	cr_assert_eq(f.levels, 2);
	cr_assert_eq(f.entry_size, 4);
	cr_assert_eq(f.va_bits, 32);
	cr_assert_eq(f.shift[0], 12);
	cr_assert_eq(f.shift[1], 22);
	cr_assert_eq(f.index_bits[0], 10);
	cr_assert_eq(f.index_bits[1], 10);
	cr_assert_eq(f.large_levels, 0, "no 4 MiB pages without CR4.PSE");
	cr_assert_not(f.nx);
	cr_assert_eq(f.addr_mask, 0xFFFFF000u);
	cr_assert_eq(f.maxphyaddr, 32);
	cr_assert_str_eq(f.name, "2-level");
	cr_assert_null(paging_format_check(&f));
}

Test(format, two_level_with_pse_maps_4m_pages_and_pse36_up_to_40_bits)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PSE, 0, 52, false));
	cr_assert_eq(f.large_levels, 1u << 1);
	cr_assert_eq(f.maxphyaddr, 40, "PSE-36 gives at most 40 physical bits");
	cr_assert_eq(f.pse36_mask, 0x1FE000u);
	cr_assert_eq(f.rsvd[1][PAGING_RSVD_LARGE], 1u << 21);
	cr_assert_null(paging_format_check(&f));

	cr_assert(paging_format_init(&f, PGPE, CR4_PSE, 0, 36, false));
	cr_assert_eq(f.maxphyaddr, 36);
	cr_assert_eq(f.pse36_mask, 0x1E000u, "bits 16:13 hold physical bits 35:32");
	cr_assert_eq(f.rsvd[1][PAGING_RSVD_LARGE], (1u << 21) | 0x1E0000u);
	cr_assert_null(paging_format_check(&f));

	cr_assert(paging_format_init(&f, PGPE, CR4_PSE, 0, 32, false));
	cr_assert_eq(f.pse36_mask, 0);
	cr_assert_eq(f.rsvd[1][PAGING_RSVD_LARGE], (1u << 21) | 0x1FE000u);
}

Test(format, pae_geometry_is_2_9_9_12)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE, EFER_NXE, 36, true));
	cr_assert_eq(f.mode, PAGING_PAE);
	cr_assert_eq(f.levels, 3);
	cr_assert_eq(f.entry_size, 8);
	cr_assert_eq(f.va_bits, 32);
	cr_assert_eq(f.shift[0], 12);
	cr_assert_eq(f.shift[1], 21);
	cr_assert_eq(f.shift[2], 30);
	cr_assert_eq(f.index_bits[2], 2);
	cr_assert_eq(f.large_levels, 1u << 1, "2 MiB only; pdpe1gb does not apply to PAE");
	cr_assert(f.nx);
	cr_assert_eq(f.addr_mask, 0xFFFFFF000ull);
	cr_assert_eq(f.root_mask, 0xFFFFFFE0u);
	/* bits 62:36 reserved in a PTE (PAE reserves up to 62, not 51) */
	cr_assert_eq(f.rsvd[0][0], 0x7FFFFFF000000000ull);
	cr_assert_null(paging_format_check(&f));

	cr_assert(paging_format_init(&f, PGPE, CR4_PAE, 0, 36, false));
	cr_assert_not(f.nx);
	cr_assert(f.rsvd[0][0] & PTE_NX, "XD is reserved without EFER.NXE");
}

Test(format, pae_ignores_cr4_pse_and_la57)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE | CR4_LA57 | CR4_PSE, 0, 40, false));
	cr_assert_eq(f.mode, PAGING_PAE);
	cr_assert_eq(f.large_levels, 1u << 1);
}

Test(format, four_level_geometry_is_9x4_12)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE, EFER_LME | EFER_LMA, 46, false));
	cr_assert_eq(f.mode, PAGING_4LEVEL);
	cr_assert_eq(f.levels, 4);
	cr_assert_eq(f.va_bits, 48);
	unsigned shifts[] = { 12, 21, 30, 39 };
	for (unsigned l = 0; l < 4; l++) {
		cr_assert_eq(f.shift[l], shifts[l]);
		cr_assert_eq(f.index_bits[l], 9);
	}
	cr_assert_eq(f.large_levels, 1u << 1, "no 1 GiB pages without pdpe1gb");
	cr_assert(f.rsvd[2][0] & PTE_PS, "PS reserved in a PDPTE without 1 GiB pages");
	cr_assert(f.rsvd[3][0] & PTE_PS, "PS reserved in a PML4E");
	cr_assert(f.rsvd[0][0] & PTE_NX, "XD reserved without NXE");
	cr_assert_eq(f.rsvd[0][0] & PAGING_BITS(62, 52), 0, "bits 62:52 are ignored, not reserved");
	cr_assert_eq(f.addr_mask, 0x3FFFFFFFF000ull);
	cr_assert_null(paging_format_check(&f));

	cr_assert(paging_format_init(&f, PGPE, CR4_PAE, EFER_LME | EFER_NXE, 46, true));
	cr_assert_eq(f.large_levels, (1u << 1) | (1u << 2));
	cr_assert_eq(f.rsvd[2][PAGING_RSVD_LARGE] & PAGING_BITS(29, 13), PAGING_BITS(29, 13));
	cr_assert_eq(f.rsvd[1][PAGING_RSVD_LARGE] & PAGING_BITS(29, 12), PAGING_BITS(20, 13));
	cr_assert(f.nx);
	cr_assert_null(paging_format_check(&f));
}

Test(format, five_level_adds_pml5_at_bit_48)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE | CR4_LA57, EFER_LME | EFER_NXE, 52, true));
	cr_assert_eq(f.mode, PAGING_5LEVEL);
	cr_assert_eq(f.levels, 5);
	cr_assert_eq(f.va_bits, 57);
	cr_assert_eq(f.shift[4], 48);
	cr_assert_eq(f.index_bits[4], 9);
	cr_assert(f.rsvd[4][0] & PTE_PS, "PS reserved in a PML5E");
	cr_assert_eq(f.addr_mask, 0x000FFFFFFFFFF000ull);
	cr_assert_str_eq(f.name, "5-level");
	cr_assert_null(paging_format_check(&f));
}

Test(format, rejects_paging_off_and_invalid_combinations)
{
	struct paging_format f;
	cr_assert_not(paging_format_init(&f, CR0_PE, 0, 0, 36, false), "paging off");
	cr_assert_not(paging_format_init(&f, CR0_PG, 0, 0, 36, false), "PG without PE");
	cr_assert_not(paging_format_init(&f, PGPE, 0, EFER_LME, 36, false), "long mode without PAE");
	cr_assert_not(paging_format_init(&f, PGPE, CR4_PAE, EFER_LMA, 36, false), "LMA without LME");
	cr_assert_not(paging_format_init(&f, PGPE, CR4_PAE | CR4_PCIDE, 0, 36, false),
		      "PCIDE outside IA-32e mode");
	cr_assert_not(paging_format_init(&f, PGPE, CR4_PAE, 0, 31, false), "MAXPHYADDR < 32");
	cr_assert_not(paging_format_init(&f, PGPE, CR4_PAE, 0, 53, false), "MAXPHYADDR > 52");
	cr_assert_not_null(paging_format_derive(&f, PGPE, 0, EFER_LME, 36, false));
	cr_assert_null(paging_format_derive(&f, PGPE, CR4_PAE | CR4_PCIDE, EFER_LME, 36, false));
}

Test(format, self_check_passes_for_every_valid_combination)
{
	static const unsigned phys[] = { 32, 36, 39, 40, 41, 46, 48, 52 };
	unsigned valid = 0;
	for (unsigned cr4bits = 0; cr4bits < 16; cr4bits++) {
		uint64_t cr4 = (cr4bits & 1 ? CR4_PSE : 0) | (cr4bits & 2 ? CR4_PAE : 0) |
			       (cr4bits & 4 ? CR4_LA57 : 0) | (cr4bits & 8 ? CR4_PCIDE : 0);
		for (unsigned eb = 0; eb < 8; eb++) {
			uint64_t efer = (eb & 1 ? EFER_LME : 0) | (eb & 2 ? EFER_LMA : 0) |
					(eb & 4 ? EFER_NXE : 0);
			for (unsigned p = 0; p < sizeof phys / sizeof phys[0]; p++) {
				for (int gb = 0; gb < 2; gb++) {
					struct paging_format f;
					if (!paging_format_init(&f, PGPE, cr4, efer, phys[p], gb))
						continue;
					valid++;
					const char *why = paging_format_check(&f);
					cr_assert_null(why, "%s: cr4 %#llx efer %#llx M %u: %s", f.name,
						       (unsigned long long)cr4,
						       (unsigned long long)efer, phys[p], why);
				}
			}
		}
	}
	cr_assert_gt(valid, 100);
}

Test(format, check_catches_a_broken_format)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE, EFER_LME, 46, true));
	struct paging_format g = f;
	g.shift[2] = 31;
	cr_assert_not_null(paging_format_check(&g));
	g = f;
	g.rsvd[1][PAGING_RSVD_LARGE] |= PAGING_BIT(22);
	cr_assert_not_null(paging_format_check(&g));
	g = f;
	g.large_levels |= 1u << 3;
	cr_assert_not_null(paging_format_check(&g), "PML4E can never be large, rsvd has PS");
	g = f;
	g.addr_mask |= PAGING_BIT(46);
	cr_assert_not_null(paging_format_check(&g));
}

Test(format, index_and_entry_helpers_agree_with_shifts)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PAE | CR4_LA57, EFER_LME, 52, true));
	uint64_t va = (0x1ABull << 48) | (0x0CDull << 39) | (0x0EFull << 30) | (0x123ull << 21) |
		      (0x045ull << 12) | 0x678;
	cr_assert_eq(paging_index(&f, 4, va), 0x1AB);
	cr_assert_eq(paging_index(&f, 3, va), 0x0CD);
	cr_assert_eq(paging_index(&f, 2, va), 0x0EF);
	cr_assert_eq(paging_index(&f, 1, va), 0x123);
	cr_assert_eq(paging_index(&f, 0, va), 0x045);
	cr_assert_eq(paging_entry_addr(&f, 0x5000, 1, va), 0x5000 + 0x123 * 8);
	cr_assert_eq(paging_page_shift(&f, 2), 30);
	cr_assert_eq(paging_level_size(&f, 1), 2u << 20);
	cr_assert_eq(paging_entries(&f, 0), 512);
	cr_assert(paging_large_ok(&f, 2));
	cr_assert_not(paging_large_ok(&f, 3));

	struct paging_format g;
	cr_assert(paging_format_init(&g, PGPE, CR4_PAE, 0, 36, false));
	cr_assert_eq(paging_index(&g, 2, 0xC0000000u), 3);
	cr_assert_eq(paging_entries(&g, 2), 4);
	cr_assert_eq(paging_root(&g, 0x12345FE0u), 0x12345FE0u, "PDPT is 32-byte aligned");

	struct paging_format h;
	cr_assert(paging_format_init(&h, PGPE, CR4_PSE, 0, 40, false));
	cr_assert_eq(paging_index(&h, 1, 0xFFC00000u), 1023);
	cr_assert_eq(paging_entry_addr(&h, 0x3000, 0, 0x00401000u), 0x3000 + 1 * 4);
}

Test(format, canonical_check_follows_va_width)
{
	struct paging_format f4, f5, f32;
	cr_assert(paging_format_init(&f4, PGPE, CR4_PAE, EFER_LME, 46, false));
	cr_assert(paging_format_init(&f5, PGPE, CR4_PAE | CR4_LA57, EFER_LME, 46, false));
	cr_assert(paging_format_init(&f32, PGPE, 0, 0, 36, false));
	cr_assert(paging_canonical(&f4, 0x00007FFFFFFFFFFFull));
	cr_assert(paging_canonical(&f4, 0xFFFF800000000000ull));
	cr_assert_not(paging_canonical(&f4, 0x0000800000000000ull));
	cr_assert_not(paging_canonical(&f4, 0xFFFF7FFFFFFFFFFFull));
	cr_assert(paging_canonical(&f5, 0x0000800000000000ull));
	cr_assert(paging_canonical(&f5, 0x00FFFFFFFFFFFFFFull));
	cr_assert_not(paging_canonical(&f5, 0x0100000000000000ull));
	cr_assert(paging_canonical(&f5, 0xFF00000000000000ull));
	cr_assert(paging_canonical(&f32, 0xDEADBEEF12345678ull), "32-bit VAs wrap, never #GP");
}

Test(format, make_leaf_round_trips_through_leaf_base)
{
	struct paging_format f;
	cr_assert(paging_format_init(&f, PGPE, CR4_PSE, 0, 40, false));
	uint64_t e = paging_make_leaf(&f, 1, 0xAB80000000ull + (0x3ull << 22), PTE_P | PTE_RW);
	cr_assert_eq(e & 0xFFFFFFFF00000000ull, 0, "a 2-level entry is 32 bits");
	cr_assert(e & PTE_PS);
	cr_assert_eq(paging_leaf_base(&f, 1, e), 0xAB80000000ull + (0x3ull << 22));

	struct paging_format g;
	cr_assert(paging_format_init(&g, PGPE, CR4_PAE, EFER_LME | EFER_NXE, 46, true));
	e = paging_make_leaf(&g, 2, 0x3FC0000000ull, PTE_P | PTE_NX);
	cr_assert_eq(paging_leaf_base(&g, 2, e), 0x3FC0000000ull);
	cr_assert_eq(e & g.rsvd[2][PAGING_RSVD_LARGE], 0, "a 1 GiB leaf made by make_leaf has no reserved bit");
	struct pte p = pte_make(&g, 0x1234000, PTE_P);
	struct pde d = pde_make_table(&g, 0x5000, PTE_P | PTE_RW);
	cr_assert_eq(p.v, 0x1234000 | PTE_P);
	cr_assert_eq(d.v, 0x5000 | PTE_P | PTE_RW);
}
