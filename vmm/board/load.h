/* What the board tells the guest kernel: the boot description built from
 * the configuration and the device list (devices, CPUs, RAM, command line
 * with device announcements and host quirks), loaded into guest memory or
 * written as a device tree file. */
#ifndef MEMVM_LOAD_H
#define MEMVM_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/lib/util.h"

struct boot_entry;
struct devmgr;
struct guest_mem;
struct vm_config;

/* emulated_kernel: the host KVM emulates guest kernel mode (quirks apply). */
struct load_params {
	const struct vm_config *cfg;
	const struct devmgr *dm;
	bool emulated_kernel;
};

/* Loads the kernel or payload into gm and fills entry. */
int load_guest(const struct load_params *p, struct guest_mem *gm, struct boot_entry *entry,
	       char *err, size_t errlen) WUR;
/* -machine dumpdtb=FILE: writes the machine's device tree. */
int load_dump_dtb(const struct load_params *p, char *err, size_t errlen) WUR;

#endif
