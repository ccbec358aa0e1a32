/* The x86 state the boot vCPU starts in, for each enum boot_mode: the boot
 * GDT and identity page tables in guest memory, and the segment, control
 * and general registers set through KVM (struct boot_entry comes from the
 * loader). */
#ifndef MEMVM_BOOT_ENTRY_H
#define MEMVM_BOOT_ENTRY_H

#include "vmm/boot/boot.h"
#include "vmm/lib/util.h"

struct guest_mem;

/* Writes the GDT at LAYOUT_GDT (null, null, 64-bit code 0x10, data 0x18,
 * 32-bit code 0x20) and the identity map of the first 4 GiB at
 * LAYOUT_PML4.. with 2 MiB pages: -EFAULT when they are not in RAM. */
int boot_entry_write_tables(struct guest_mem *gm) WUR;

/* Sets the registers of the vCPU behind vcpu_fd (KVM_SET_SREGS, REGS and
 * FPU) so that it starts at e in e->mode: 0 or -errno. The tables above
 * must be in guest memory for PVH32 and LONG64. */
int boot_entry_set_regs(int vcpu_fd, const struct boot_entry *e) WUR;

#endif
