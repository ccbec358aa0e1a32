#include "vmm/board/load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/guest_mem.h"
#include "vmm/board/devices.h"
#include "vmm/boot/cmdline.h"
#include "vmm/boot/fdt.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/config/config.h"

static bool load_quirk_notice_shown; /* once per process, not per reboot */

/* The virtio devices as the boot description lists them: the device
 * manager's, or before it exists the ones cfg asks for, where it will put
 * them (each virtio-rng and the balloon take the next slot, so only their
 * number matters). */
static int load_virtio_devices(const struct load_params *p, struct boot_config *bc, char *err,
			       size_t errlen)
{
	const struct vm_config *cfg = p->cfg;
	if (p->dm) {
		bc->nvirtio = devmgr_boot_devices(p->dm, bc->virtio, ARRAY_SIZE(bc->virtio));
		return 0;
	}
	unsigned n = cfg->rng + (cfg->balloon.enabled ? 1 : 0);
	for (unsigned i = 0; i < n; i++)
		if (devmgr_virtio_slot(i, &bc->virtio[i])) {
			snprintf(err, errlen, "-device: %u virtio devices; memvm has room for %u",
				 n, VM_MAX_VIRTIO);
			return -ENOSPC;
		}
	bc->nvirtio = n;
	return 0;
}

/* Host quirks are options for Linux: only for a kernel the loader knows as
 * Linux, never for a bare-metal payload, whatever -append or -initrd say. */
static int load_wants_quirks(const struct load_params *p, const struct boot_config *bc, bool *out,
			     char *err, size_t errlen)
{
	struct loader_info info;
	*out = false;
	if (!p->emulated_kernel || !p->cfg->host_quirks || !p->cfg->kernel)
		return 0;
	int ret = loader_probe(bc, &info, err, errlen);
	if (ret)
		return ret;
	*out = info.linux_kernel;
	return 0;
}

/* The boot description shared by preflight, loading and -machine dumpdtb:
 * -append, then the device announcements, then the quirks. *cmdline_out
 * is malloc'd. */
static int load_boot_config(const struct load_params *p, struct boot_config *bc, char **cmdline_out,
			    bool *quirks_out, char *err, size_t errlen)
{
	const struct vm_config *cfg = p->cfg;
	char extra[LAYOUT_VIRTIO_MMIO_MAX][DEVMGR_ANNOUNCE_MAX];
	const char *extra_ptr[LAYOUT_VIRTIO_MMIO_MAX];
	struct boot_cmdline_in in = { .append = cfg->append, .extra = extra_ptr };
	int ret;

	loader_config_init(bc);
	bc->kernel_path = cfg->kernel;
	bc->initrd_path = cfg->initrd;
	bc->ncpus = cfg->smp;
	bc->ram_size = cfg->ram_size;
	bc->irq0_pin0 = true; /* KVM routes the PIT (GSI 0) to IOAPIC pin 0 */
	bc->want_dtb = cfg->dt == TRI_ON;
	bc->prefer_pvh = cfg->pvh;
	if ((ret = load_virtio_devices(p, bc, err, errlen)))
		return ret;
	/* Announced on the command line too unless the DTB alone is asked for. */
	for (unsigned i = 0; cfg->dt != TRI_ON && i < bc->nvirtio; i++) {
		if (devmgr_announce(&bc->virtio[i], extra[i], sizeof(extra[i])) < 0) {
			snprintf(err, errlen, "virtio-mmio device %u: announcement too long", i);
			return -E2BIG;
		}
		extra_ptr[in.nextra++] = extra[i];
	}
	if ((ret = load_wants_quirks(p, bc, &in.host_quirks, err, errlen)))
		return ret;
	*quirks_out = in.host_quirks;

	char *cmdline = malloc(BOOT_CMDLINE_SIZE);
	if (!cmdline) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = boot_cmdline_build(&in, cmdline, BOOT_CMDLINE_SIZE);
	if (ret < 0) {
		free(cmdline);
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		else
			snprintf(err, errlen,
				 "-append: the kernel command line is longer than %zu bytes",
				 BOOT_CMDLINE_SIZE - 1);
		return ret;
	}
	bc->cmdline = cmdline;
	size_t user = cfg->append ? strlen(cfg->append) : 0;
	bc->cmdline_added = (size_t)ret > user ? (size_t)ret - user : 0;
	*cmdline_out = cmdline;
	return 0;
}

int load_preflight(const struct load_params *p, char *err, size_t errlen)
{
	struct boot_config bc;
	char *cmdline = NULL;
	bool quirks;
	int ret = load_boot_config(p, &bc, &cmdline, &quirks, err, errlen);
	/* -machine dumpdtb without -kernel describes the machine only. */
	if (!ret && p->cfg->kernel)
		ret = loader_probe(&bc, NULL, err, errlen);
	free(cmdline);
	return ret;
}

int load_dump_dtb(const struct load_params *p, char *err, size_t errlen)
{
	struct boot_config bc;
	char *cmdline = NULL;
	bool quirks;
	int ret = load_boot_config(p, &bc, &cmdline, &quirks, err, errlen);
	if (ret)
		return ret;
	ret = fdt_write_file(&bc, p->cfg->dumpdtb, err, errlen);
	free(cmdline);
	return ret;
}

int load_guest(const struct load_params *p, struct guest_mem *gm, struct boot_entry *entry,
	       char *err, size_t errlen)
{
	struct boot_config bc;
	struct loader_info info;
	char *cmdline = NULL;
	bool quirks;
	int ret = load_boot_config(p, &bc, &cmdline, &quirks, err, errlen);
	if (ret)
		return ret;
	ret = loader_load_ex(&bc, gm, entry, &info, err, errlen);
	if (ret)
		goto out;
	if (quirks && !load_quirk_notice_shown) {
		load_quirk_notice_shown = true;
		log_notice("host KVM emulates guest kernel mode: appended options that avoid "
			   "instructions it cannot run (disable with -machine host-quirks=off)");
	}
	static const char *const modes[] = { "real16", "pvh32", "long64" };
	log_debug("loaded %s: kind %d, entry %s at 0x%llx, kernel [0x%llx, 0x%llx), initrd %llu "
		  "bytes at 0x%llx, cmdline \"%s\"",
		  p->cfg->kernel, info.kind, modes[entry->mode], (unsigned long long)entry->entry,
		  (unsigned long long)info.kernel_start, (unsigned long long)info.kernel_end,
		  (unsigned long long)info.initrd_size, (unsigned long long)info.initrd_addr,
		  cmdline);
out:
	free(cmdline);
	return ret;
}
