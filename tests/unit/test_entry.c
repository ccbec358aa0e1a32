/* Boot entry tables: the GDT and the 4 GiB identity map the 64-bit and
 * PVH entries run on (the registers need /dev/kvm: VM tests cover them). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "vmm/boot/entry.h"
#include "vmm/boot/layout.h"

#define RAM (1u << 20)

static uint64_t rd64(const uint8_t *ram, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, ram + gpa, sizeof(v));
	return v;
}

START_TEST(gdt_and_identity_map)
{
	uint8_t *ram = calloc(1, RAM);
	struct guest_mem *gm = guest_mem_new();
	ck_assert_ptr_nonnull(ram);
	ck_assert_ptr_nonnull(gm);
	ck_assert_int_eq(guest_mem_add(gm, 0, RAM, ram, NULL), 0);
	ck_assert_int_eq(boot_entry_write_tables(gm), 0);

	/* Flat 4 GiB segments at Linux's __BOOT_CS 0x10 and __BOOT_DS 0x18,
	 * 32-bit code at 0x20. */
	ck_assert_uint_eq(rd64(ram, LAYOUT_GDT + 0x00), 0);
	ck_assert_uint_eq(rd64(ram, LAYOUT_GDT + 0x08), 0);
	ck_assert_uint_eq(rd64(ram, LAYOUT_GDT + 0x10), 0x00af9b000000ffffull);
	ck_assert_uint_eq(rd64(ram, LAYOUT_GDT + 0x18), 0x00cf93000000ffffull);
	ck_assert_uint_eq(rd64(ram, LAYOUT_GDT + 0x20), 0x00cf9b000000ffffull);
	ck_assert_uint_le(LAYOUT_GDT + 5 * 8, LAYOUT_IDT);

	ck_assert_uint_eq(rd64(ram, LAYOUT_PML4), LAYOUT_PDPT | 0x3);
	for (unsigned i = 1; i < 512; i++)
		ck_assert_uint_eq(rd64(ram, LAYOUT_PML4 + 8 * i), 0);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(rd64(ram, LAYOUT_PDPT + 8 * i),
				  i < LAYOUT_PD_COUNT ? (LAYOUT_PD + 0x1000ull * i) | 0x3 : 0);
	/* 2 MiB pages only (no PS bit in the PDPT: 1 GiB pages fault on some hosts). */
	for (unsigned i = 0; i < LAYOUT_PD_COUNT; i++)
		for (unsigned j = 0; j < 512; j++)
			ck_assert_uint_eq(rd64(ram, LAYOUT_PD + 0x1000ull * i + 8 * j),
					  ((uint64_t)i << 30 | (uint64_t)j << 21) | 0x83);
	guest_mem_free(gm);
	free(ram);
}
END_TEST

START_TEST(tables_outside_ram)
{
	/* RAM ending inside the page directories. */
	uint8_t *ram = calloc(1, LAYOUT_PD + 0x1000);
	struct guest_mem *gm = guest_mem_new();
	ck_assert_ptr_nonnull(ram);
	ck_assert_ptr_nonnull(gm);
	ck_assert_int_eq(guest_mem_add(gm, 0, LAYOUT_PD + 0x1000, ram, NULL), 0);
	ck_assert_int_eq(boot_entry_write_tables(gm), -EFAULT);
	guest_mem_free(gm);
	free(ram);
}
END_TEST

static Suite *entry_suite(void)
{
	Suite *s = suite_create("entry");
	TCase *tc = tcase_create("tables");
	tcase_add_test(tc, gdt_and_identity_map);
	tcase_add_test(tc, tables_outside_ram);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(entry_suite)
