/* The boot description: what the board asks the boot code to describe
 * (struct boot_config), the e820 map every boot table shares, and how the
 * boot vCPU must start (struct boot_entry, filled by the loader and applied
 * by vmm/boot/entry.c). Plain types: no guest memory, no /dev/kvm. */
#ifndef MEMVM_BOOT_H
#define MEMVM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/layout.h"
#include "vmm/config/config.h" /* VM_MAX_CPUS */

/* Linux's COMMAND_LINE_SIZE on x86 is 2048 including the NUL; this limit
 * applies to kernels without a setup header (vmlinux, bare-metal ELF). */
#define BOOT_CMDLINE_MAX_DEFAULT 2047u

struct boot_mmio_dev {
	uint64_t base;
	uint64_t size;
	uint32_t irq; /* IOAPIC GSI */
};

struct boot_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL or "": no initrd */
	const char *cmdline;     /* final command line; NULL means "" */
	size_t cmdline_added;    /* bytes of it memvm added (devices, host quirks) */
	uint32_t ncpus;          /* 1..VM_MAX_CPUS */
	uint64_t ram_size;       /* bytes; above LAYOUT_MMIO_HOLE it is mapped at 4 GiB */
	struct boot_mmio_dev virtio[LAYOUT_VIRTIO_MMIO_MAX];
	size_t nvirtio;
	bool serial;          /* describe the 16550 below in the DTB */
	uint16_t serial_port; /* SERIAL_COM1_BASE */
	uint32_t serial_irq;  /* LAYOUT_IRQ_SERIAL0 */
	bool want_dtb;        /* pass the DTB as setup_data (SETUP_DTB) */
	bool prefer_pvh;      /* use the Xen PVH entry when the ELF has one */
	/* ISA IRQ 0 (PIT) goes to IOAPIC pin 2 in the MP table as on PCs
	 * (the VM must then route GSI 0 to pin 2); set this to use pin 0,
	 * which matches KVM's default GSI routing. */
	bool irq0_pin0;
};

enum boot_mode { BOOT_MODE_REAL16, BOOT_MODE_PVH32, BOOT_MODE_LONG64 };

/* Where and how the boot vCPU starts (filled by the loader). */
struct boot_entry {
	enum boot_mode mode;
	uint64_t entry; /* RIP (real mode: CS=0, IP=entry) */
	uint64_t rsi;   /* LONG64 Linux: boot_params GPA */
	uint64_t rbx;   /* PVH32: hvm_start_info GPA */
	uint64_t rsp;   /* initial stack pointer */
};

/* e820 map of a machine with ram_size bytes of RAM (types below), the
 * same map as the memslots: [0, EBDA) RAM, [EBDA, 1 MiB) reserved,
 * [1 MiB, min(ram, 3 GiB)) RAM, [4 GiB, 4 GiB + ram - 3 GiB) RAM.
 * boot_params, the PVH memmap and the DTB's memory node all come from
 * here. Returns the number of entries (<= BOOT_E820_MAX). */
#define BOOT_E820_MAX      4
#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2
struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};
size_t boot_e820_build(uint64_t ram_size, struct boot_e820_entry out[BOOT_E820_MAX]);

#endif
