/* The guest kernel command line: the user's -append, the device
 * announcements, and the options that keep Linux away from what a host
 * whose KVM emulates guest kernel mode cannot run (HOST-NOTES.md). */
#ifndef MEMVM_BOOT_CMDLINE_H
#define MEMVM_BOOT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/boot/layout.h"
#include "vmm/lib/util.h"

/* Bytes of the buffer boot_cmdline_build fills, the NUL included: the
 * room the loader has at LAYOUT_CMDLINE. */
#define BOOT_CMDLINE_SIZE ((size_t)LAYOUT_CMDLINE_MAX)

struct boot_cmdline_in {
	const char *append;       /* -append, may be NULL */
	const char *const *extra; /* device announcements (virtio_mmio.device=...) */
	size_t nextra;
	bool host_quirks; /* add the emulated-host workarounds */
};

/* Builds the command line into buf: -append as given, then the devices,
 * then the quirk options. Linux reads one clearcpuid= (the last), so the
 * quirk list joins the user's last clearcpuid= instead of adding another,
 * and a quirk option the user already gave is not repeated.
 * Returns its length or -E2BIG when it does not fit in size bytes. */
int boot_cmdline_build(const struct boot_cmdline_in *in, char *buf, size_t size) WUR;

#endif
