/* Flattened device tree (libfdt) describing the machine: memory, CPUs,
 * IOAPIC and LAPIC (the "intel,ce4100-*" bindings x86 Linux understands),
 * the 16550 on an ISA bus node, every virtio-mmio device and
 * /chosen/bootargs. Passed to Linux as SETUP_DTB setup_data and written
 * by -machine dumpdtb=FILE. */
#ifndef MEMVM_FDT_H
#define MEMVM_FDT_H

#include <stddef.h>

#include "vmm/boot/boot.h"
#include "vmm/lib/util.h"

#define FDT_PHANDLE_IOAPIC 1
#define FDT_PHANDLE_LAPIC  2

/* Builds the DTB for cfg into buf: -ENOSPC when size is too small,
 * -EINVAL for a bad cfg. *len_out gets fdt_totalsize(). */
int fdt_build(const struct boot_config *cfg, void *buf, size_t size, size_t *len_out) WUR;

/* Builds it into a malloc'd buffer (*out, freed by the caller). */
int fdt_build_alloc(const struct boot_config *cfg, void **out, size_t *len_out) WUR;

/* -machine dumpdtb=FILE: writes the DTB to path (created or truncated). */
int fdt_write_file(const struct boot_config *cfg, const char *path, char *err, size_t errlen) WUR;

#endif
