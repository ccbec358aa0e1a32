#include "vmm/boot/boot.h"

#include "vmm/lib/util.h"

size_t boot_e820_build(uint64_t ram_size, struct boot_e820_entry out[BOOT_E820_MAX])
{
	unsigned long long gpa[2], len[2], off[2];
	size_t n = 0;
	if (ram_size == 0)
		return 0;
	/* The low region loses the legacy [EBDA, 1 MiB) hole. */
	unsigned nr = layout_ram_regions(ram_size, gpa, len, off);
	uint64_t low = len[0];
	out[n++] = (struct boot_e820_entry){ 0, MIN(low, LAYOUT_EBDA), E820_TYPE_RAM };
	if (low <= LAYOUT_EBDA)
		return n;
	out[n++] = (struct boot_e820_entry){ LAYOUT_EBDA, LAYOUT_HIMEM - LAYOUT_EBDA,
					     E820_TYPE_RESERVED };
	if (low > LAYOUT_HIMEM)
		out[n++] = (struct boot_e820_entry){ LAYOUT_HIMEM, low - LAYOUT_HIMEM,
						     E820_TYPE_RAM };
	if (nr == 2)
		out[n++] = (struct boot_e820_entry){ gpa[1], len[1], E820_TYPE_RAM };
	return n;
}
