/* The board: how guest RAM is laid out in memslots, what the kernel
 * command line gets, and loading the guest. Glue between vm.c and the
 * memory, loader and device modules. */
#ifndef MEMVM_MACHINE_H
#define MEMVM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/util.h"

struct vm;
struct vm_config;
struct guest_mem;
struct boot_entry;
struct ram;

struct machine_ram {
	struct ram *ram;
	void *hva;
	uint64_t size;
};

/* Maps guest RAM per cfg and registers it in gm: [0, min(size, 3 GiB)) and
 * the rest at 4 GiB. */
int machine_ram_map(struct machine_ram *mr, const struct vm_config *cfg, struct guest_mem *gm,
		    char *err, size_t errlen) WUR;
void machine_ram_unmap(struct machine_ram *mr);

/* Splits RAM of `size` into guest regions; returns how many (1 or 2). */
unsigned machine_ram_layout(uint64_t size, uint64_t gpa[2], uint64_t len[2], uint64_t off[2]);

/* Loads the kernel/payload and fills entry. */
int machine_load(struct vm *vm, struct boot_entry *entry, bool emulated_kernel, char *err,
		 size_t errlen) WUR;

#endif
