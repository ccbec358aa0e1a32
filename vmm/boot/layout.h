/* The guest-physical layout of a memvm machine (x86-64). Shared by the
 * loader, the VM set-up and the machine description (e820, MP table, DTB). */
#ifndef MEMVM_LAYOUT_H
#define MEMVM_LAYOUT_H

#include "vmm/config/config.h" /* VM_MAX_VIRTIO */

/* Low memory used during boot (all below 1 MiB, inside RAM). */
#define LAYOUT_GDT            0x500ull  /* boot GDT: 2 null, code64 0x10, data 0x18, code32 0x20 */
#define LAYOUT_IDT            0x540ull  /* empty IDT for the 64-bit entry, after the 5-entry GDT */
#define LAYOUT_PVH_START_INFO 0x6000ull /* hvm_start_info + memmap for the PVH entry */
#define LAYOUT_ZERO_PAGE      0x7000ull /* Linux boot_params */
#define LAYOUT_BOOT_STACK     0x8ff0ull /* initial RSP/ESP for 64-bit and PVH entries */
#define LAYOUT_PML4           0x9000ull /* identity map of the first 4 GiB ... */
#define LAYOUT_PDPT           0xa000ull
/* ... 4 page directories of 2 MiB pages (no 1 GiB pages: see HOST-NOTES) */
#define LAYOUT_PD             0xb000ull
#define LAYOUT_PD_COUNT       4
#define LAYOUT_CMDLINE        0x20000ull
#define LAYOUT_CMDLINE_MAX    0x10000ull /* bytes reserved for the command line */
#define LAYOUT_SETUP_DATA     0x30000ull /* setup_data chain (DTB), up to 0x60000 */
#define LAYOUT_SETUP_DATA_MAX 0x60000ull
#define LAYOUT_EBDA           0x9fc00ull /* MP floating pointer + table live here */
#define LAYOUT_LOW_RAM_END    0xa0000ull /* 640 KiB: [EBDA, 1 MiB) is reserved */
#define LAYOUT_HIMEM          0x100000ull
#define LAYOUT_KERNEL_DEFAULT 0x1000000ull /* 16 MiB, where bzImage protected-mode code goes */

/* Real-mode payloads (ELF32 with an entry below 1 MiB) start at CS:IP =
 * 0:entry with SP just below LAYOUT_REAL_STACK. */
#define LAYOUT_REAL_STACK 0x7000ull

/* RAM above 3 GiB goes above 4 GiB: [3 GiB, 4 GiB) is the 32-bit MMIO hole. */
#define LAYOUT_MMIO_HOLE     0xc0000000ull
#define LAYOUT_MMIO_HOLE_END 0x100000000ull

/* Guest RAM of `size` bytes as guest-physical regions: [0, min(size, 3 GiB))
 * and the rest from 4 GiB. off[i] is region i's offset in the RAM block.
 * The memslots and the e820 map both come from here, so they agree.
 * Returns the number of regions (1 or 2). */
static inline unsigned layout_ram_regions(unsigned long long size, unsigned long long gpa[2],
					  unsigned long long len[2], unsigned long long off[2])
{
	gpa[0] = 0;
	off[0] = 0;
	len[0] = size < LAYOUT_MMIO_HOLE ? size : LAYOUT_MMIO_HOLE;
	if (size <= LAYOUT_MMIO_HOLE)
		return 1;
	gpa[1] = LAYOUT_MMIO_HOLE_END;
	off[1] = LAYOUT_MMIO_HOLE;
	len[1] = size - LAYOUT_MMIO_HOLE;
	return 2;
}

/* virtio-mmio devices: one VIRTIO_MMIO_WINDOW (4 KiB) each from this base. */
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ull
#define LAYOUT_VIRTIO_MMIO_MAX  VM_MAX_VIRTIO

#define LAYOUT_IOAPIC 0xfec00000ull
#define LAYOUT_LAPIC  0xfee00000ull
/* KVM needs three pages for the TSS and one for the identity map, below
 * 4 GiB and outside RAM and MMIO. */
#define LAYOUT_TSS          0xfffbd000ull
#define LAYOUT_IDENTITY_MAP 0xfffbc000ull

/* Legacy interrupt numbers (IOAPIC GSIs). */
#define LAYOUT_IRQ_SERIAL0 4
/* virtio-mmio device i gets GSI LAYOUT_VIRTIO_IRQ_BASE + i (IRQs 5..20 are
 * free of legacy devices except 8 and 12, which we skip). */
#define LAYOUT_VIRTIO_IRQ_BASE 5

#endif
