/* What the board tells the guest kernel: the boot description built from
 * the configuration and the device list (devices, CPUs, RAM, command line
 * with device announcements and, for a Linux kernel, host quirks), checked
 * before the machine is built, loaded into guest memory or written as a
 * device tree file. */
#ifndef MEMVM_LOAD_H
#define MEMVM_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/lib/util.h"

struct boot_entry;
struct devmgr;
struct guest_mem;
struct vm_config;

/* emulated_kernel: the host KVM emulates guest kernel mode (quirks apply
 * to a Linux kernel). */
struct load_params {
	const struct vm_config *cfg;
	/* NULL before the devices exist: the virtio devices cfg asks for, where
	 * the device manager will put them. */
	const struct devmgr *dm;
	bool emulated_kernel;
};

/* What load_guest and load_dump_dtb would refuse, from the configuration
 * and the files' headers alone, with the same one-line errors: the kernel
 * and initrd files, their formats and sizes against -m, the command line
 * with memvm's device and quirk words against the kernel's limit, the boot
 * tables. For before anything expensive is built (KVM, RAM, devices). */
int load_preflight(const struct load_params *p, char *err, size_t errlen) WUR;

/* Loads the kernel or payload into gm and fills entry. */
int load_guest(const struct load_params *p, struct guest_mem *gm, struct boot_entry *entry,
	       char *err, size_t errlen) WUR;
/* -machine dumpdtb=FILE: writes the machine's device tree. */
int load_dump_dtb(const struct load_params *p, char *err, size_t errlen) WUR;

#endif
