/* The board: how guest RAM is laid out in memslots, what the kernel
 * command line gets, and loading the guest. Glue between vm.c and the
 * memory, loader and device modules. */
#ifndef MEMVM_MACHINE_H
#define MEMVM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

struct vm;
struct vm_config;
struct guest_mem;
struct boot_entry;
struct guest_ram;

/* Maps guest RAM per cfg and registers it in gm: [0, min(size, 3 GiB)) and
 * the rest at 4 GiB (layout_ram_regions()). guest_ram_free() unmaps it. */
int machine_ram_new(const struct vm_config *cfg, struct guest_mem *gm, struct guest_ram **out,
		    char *err, size_t errlen) WUR;

#define MACHINE_CMDLINE_MAX 65536u

struct machine_cmdline_in {
	const char *append;       /* -append, may be NULL */
	const char *const *extra; /* device announcements (virtio_mmio.device=...) */
	size_t nextra;
	bool host_quirks;         /* add the emulated-host workarounds */
};
/* Builds the guest command line: -append, then devices, then quirks.
 * Returns its length or -E2BIG. */
int machine_build_cmdline(const struct machine_cmdline_in *in, char *buf, size_t size) WUR;

/* Loads the kernel/payload and fills entry. */
int machine_load(struct vm *vm, struct boot_entry *entry, bool emulated_kernel, char *err,
		 size_t errlen) WUR;

/* -machine dumpdtb=FILE: writes the machine's device tree and returns. */
int machine_dump_dtb(struct vm *vm, bool emulated_kernel, char *err, size_t errlen) WUR;

#endif
