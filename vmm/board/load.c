#include "vmm/board/load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/serial.h"
#include "memory/guest_mem.h"
#include "vmm/board/devices.h"
#include "vmm/boot/fdt.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/config/config.h"

static bool load_quirk_notice_shown; /* once per process, not per reboot */

/* Options that keep a Linux guest away from what a kernel-mode-emulating
 * host cannot run (HOST-NOTES.md): XSAVE, CMPXCHG16B, CLAC/STAC, POPCNT,
 * VEX, 1 GiB pages... CPUID masking does not reach the guest there. */
static const char host_quirk_args[] =
	"nogbpages noxsave clearcpuid=smap,cx16,avx,avx2,avx512f,popcnt,bmi1,bmi2,movbe,"
	"rdrand,rdseed,fsgsbase,invpcid,rdpid,adx,abm,xsaveopt,xsavec,xsaves,fma,f16c,aes,"
	"pclmulqdq,sha_ni,gfni,vaes,vpclmulqdq,clwb,clflushopt,rtm,hle,umip";

static int cmdline_append(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);
	size_t sep = *len ? 1 : 0;
	if (*len + sep + n + 1 > size)
		return -E2BIG;
	if (sep)
		buf[(*len)++] = ' ';
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return 0;
}

/* The boot description shared by loading and -machine dumpdtb: -append,
 * then the device announcements, then the quirks. *cmdline_out is
 * malloc'd. */
static int load_boot_config(const struct load_params *p, struct boot_config *bc,
			    char **cmdline_out, bool *quirks_out, char *err, size_t errlen)
{
	const struct vm_config *cfg = p->cfg;
	size_t len = 0;
	char *cmdline = malloc(LAYOUT_CMDLINE_MAX);
	if (!cmdline) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cmdline[0] = '\0';

	loader_config_init(bc);
	bc->kernel_path = cfg->kernel;
	bc->initrd_path = cfg->initrd;
	bc->ncpus = cfg->smp;
	bc->ram_size = cfg->ram_size;
	bc->serial_port = SERIAL_COM1_BASE;
	bc->serial_irq = LAYOUT_IRQ_SERIAL0;
	bc->irq0_pin0 = true; /* KVM routes the PIT (GSI 0) to IOAPIC pin 0 */
	bc->want_dtb = cfg->dt == TRI_ON;
	bc->prefer_pvh = cfg->pvh;
	bc->nvirtio = devmgr_boot_devices(p->dm, bc->virtio, ARRAY_SIZE(bc->virtio));

	if (cfg->append && *cfg->append && cmdline_append(cmdline, LAYOUT_CMDLINE_MAX, &len, cfg->append))
		goto too_long;
	/* Announced on the command line too unless the DTB alone is asked for. */
	for (unsigned i = 0; cfg->dt != TRI_ON && i < devmgr_virtio_count(p->dm); i++) {
		char a[DEVMGR_ANNOUNCE_MAX];
		if (devmgr_announce(p->dm, i, a, sizeof(a)) < 0 ||
		    cmdline_append(cmdline, LAYOUT_CMDLINE_MAX, &len, a))
			goto too_long;
	}
	/* Bare-metal payloads take no command line: quirks only for Linux. */
	bool linux_like = cfg->append || cfg->initrd;
	*quirks_out = p->emulated_kernel && cfg->host_quirks && linux_like;
	if (*quirks_out && cmdline_append(cmdline, LAYOUT_CMDLINE_MAX, &len, host_quirk_args))
		goto too_long;
	bc->cmdline = cmdline;
	*cmdline_out = cmdline;
	return 0;
too_long:
	free(cmdline);
	snprintf(err, errlen, "-append: the kernel command line is longer than %llu bytes",
		 LAYOUT_CMDLINE_MAX - 1);
	return -E2BIG;
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
		  "bytes at 0x%llx, cmdline \"%s\"", p->cfg->kernel, info.kind, modes[entry->mode],
		  (unsigned long long)entry->entry,
		  (unsigned long long)info.kernel_start, (unsigned long long)info.kernel_end,
		  (unsigned long long)info.initrd_size, (unsigned long long)info.initrd_addr,
		  cmdline);
out:
	free(cmdline);
	return ret;
}
