/* Intel MultiProcessor Specification 1.4 table: the floating pointer and
 * the configuration table (processors, ISA bus, IOAPIC, I/O and local
 * interrupt assignments), as Linux's arch/x86/kernel/mpparse.c reads it. */
#ifndef MEMVM_MPTABLE_H
#define MEMVM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_mem.h"
#include "vmm/boot/boot.h"
#include "vmm/lib/util.h"

#define MPTABLE_LAPIC_VERSION  0x14 /* what KVM's in-kernel LAPIC reports */
#define MPTABLE_IOAPIC_VERSION 0x11 /* what KVM's in-kernel IOAPIC reports */

/* The IOAPIC's id in the table: ncpus (after the LAPIC ids 0..n-1), or 1
 * when a DTB is passed too. x86 Linux reads the DTB first and registers
 * its IOAPIC with id 1 (devicetree.c: dtb_add_ioapic, ++ioapic_id), drops
 * the MP table's IOAPIC at the same address (mp_register_ioapic: address
 * conflict), and then matches the MP table's interrupt entries to IOAPICs
 * by id (io_apic.c: find_irq_entry, find_isa_irq_apic): the entries must
 * name id 1 or the ISA IRQs (timer, serial) lose their routing. */
#define MPTABLE_DT_IOAPIC_ID 1
uint8_t mptable_ioapic_id(const struct boot_config *cfg);

/* Bytes the table for cfg takes (floating pointer included). */
size_t mptable_size(const struct boot_config *cfg);

/* Builds the table for guest address gpa into buf: -EINVAL for a bad
 * cfg (ncpus 0 or > VM_MAX_CPUS, IRQ > 255), -ENOSPC if size is too
 * small. *len_out gets the length. */
int mptable_build(const struct boot_config *cfg, uint64_t gpa, void *buf, size_t size,
		  size_t *len_out) WUR;

/* What mptable_write refuses, without guest memory: a vCPU count the
 * table cannot describe, a table that would not end below 1 MiB. */
int mptable_check(const struct boot_config *cfg, char *err, size_t errlen) WUR;
/* Builds it at LAYOUT_EBDA (where mpparse scans: the last KiB below
 * 640 KiB) after mptable_check. */
int mptable_write(const struct boot_config *cfg, struct guest_mem *gm, size_t *len_out, char *err,
		  size_t errlen) WUR;

#endif
