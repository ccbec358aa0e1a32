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
struct ram;

struct machine_ram {
	struct ram *ram;
	void *hva;
	uint64_t size;
	bool prealloc;
};

/* Maps guest RAM per cfg and registers it in gm: [0, min(size, 3 GiB)) and
 * the rest at 4 GiB. */
int machine_ram_map(struct machine_ram *mr, const struct vm_config *cfg, struct guest_mem *gm,
		    char *err, size_t errlen) WUR;
void machine_ram_unmap(struct machine_ram *mr);
/* Zeroes guest RAM for a reboot (giving pages back where that is cheaper). */
int machine_ram_clear(struct machine_ram *mr) WUR;

/* Loads the kernel/payload and fills entry. */
int machine_load(struct vm *vm, struct boot_entry *entry, bool emulated_kernel, char *err,
		 size_t errlen) WUR;

/* -machine dumpdtb=FILE: writes the machine's device tree and returns. */
int machine_dump_dtb(struct vm *vm, bool emulated_kernel, char *err, size_t errlen) WUR;

#endif
