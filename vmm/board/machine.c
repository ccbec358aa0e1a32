#include "vmm/board/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "memory/ram.h"
#include "vmm/config/config.h"
#include "devices/virtio_mmio.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/fdt.h"
#include "vmm/boot/loader.h"
#include "vmm/core/vcpu.h"
#include "vmm/core/vm.h"

static bool machine_quirk_notice_shown; /* once per process, not per reboot */

int machine_ram_new(const struct vm_config *cfg, struct guest_mem *gm, struct guest_ram **out,
		    char *err, size_t errlen)
{
	struct guest_ram_region r[2];
	struct ram_config rc;

	ram_config_init(&rc, cfg->ram_size);
	rc.mem_path = cfg->mem_path;
	rc.prealloc = cfg->mem_prealloc;
	rc.prealloc_threads = cfg->prealloc_threads;
	rc.merge = cfg->mem_merge;
	rc.thp = cfg->thp;
	rc.shared = cfg->mem_shared;
	rc.progress = true;

	unsigned long long gpa[2], len[2], off[2];
	unsigned n = layout_ram_regions(cfg->ram_size, gpa, len, off);
	for (unsigned i = 0; i < n; i++)
		r[i] = (struct guest_ram_region){ .gpa = gpa[i], .len = len[i], .offset = off[i] };
	return guest_ram_new(&rc, r, n, gm, out, err, errlen);
}

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

int machine_build_cmdline(const struct machine_cmdline_in *in, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	if (in->append && *in->append && cmdline_append(buf, size, &len, in->append))
		return -E2BIG;
	for (size_t i = 0; i < in->nextra; i++)
		if (cmdline_append(buf, size, &len, in->extra[i]))
			return -E2BIG;
	if (in->host_quirks && cmdline_append(buf, size, &len, host_quirk_args))
		return -E2BIG;
	return (int)len;
}

/* The boot configuration (devices, command line) shared by loading and
 * -machine dumpdtb. *cmdline_out is malloc'd. */
static int machine_boot_config(struct vm *vm, bool emulated_kernel, struct boot_config *bc,
			       char **cmdline_out, bool *quirks_out, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm_config(vm);
	char extra[LAYOUT_VIRTIO_MMIO_MAX][80];
	const char *extra_ptr[LAYOUT_VIRTIO_MMIO_MAX];
	struct machine_cmdline_in in = { .append = cfg->append, .extra = extra_ptr };

	loader_config_init(bc);
	bc->kernel_path = cfg->kernel;
	bc->initrd_path = cfg->initrd;
	bc->ncpus = cfg->smp;
	bc->ram_size = cfg->ram_size;
	bc->irq0_pin0 = true; /* KVM routes the PIT (GSI 0) to IOAPIC pin 0 */
	bc->want_dtb = cfg->dt == TRI_ON;
	bc->prefer_pvh = cfg->pvh;
	for (unsigned i = 0; i < vm_virtio_count(vm) && i < LAYOUT_VIRTIO_MMIO_MAX; i++) {
		const struct virtio_mmio *t = vm_virtio(vm, i);
		bc->virtio[bc->nvirtio++] = (struct boot_mmio_dev){
			.base = virtio_mmio_base(t), .size = virtio_mmio_size(t),
			.irq = virtio_mmio_irq(t),
		};
		/* Announced on the command line too unless the DTB alone is asked for. */
		if (cfg->dt != TRI_ON) {
			if (virtio_mmio_cmdline(t, extra[in.nextra], sizeof(extra[0])) < 0) {
				snprintf(err, errlen, "virtio-mmio device %u: command line too long", i);
				return -E2BIG;
			}
			extra_ptr[in.nextra] = extra[in.nextra];
			in.nextra++;
		}
	}
	/* Bare-metal payloads take no command line: quirks only for Linux. */
	bool linux_like = cfg->append || cfg->initrd;
	in.host_quirks = emulated_kernel && cfg->host_quirks && linux_like;
	*quirks_out = in.host_quirks;

	char *cmdline = malloc(MACHINE_CMDLINE_MAX);
	if (!cmdline) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int ret = machine_build_cmdline(&in, cmdline, MACHINE_CMDLINE_MAX);
	if (ret < 0) {
		free(cmdline);
		snprintf(err, errlen, "-append: the kernel command line is longer than %u bytes",
			 MACHINE_CMDLINE_MAX - 1);
		return ret;
	}
	bc->cmdline = cmdline;
	*cmdline_out = cmdline;
	return 0;
}

int machine_dump_dtb(struct vm *vm, bool emulated_kernel, char *err, size_t errlen)
{
	struct boot_config bc;
	char *cmdline = NULL;
	bool quirks;
	int ret = machine_boot_config(vm, emulated_kernel, &bc, &cmdline, &quirks, err, errlen);
	if (ret)
		return ret;
	ret = fdt_write_file(&bc, vm_config(vm)->dumpdtb, err, errlen);
	free(cmdline);
	return ret;
}

int machine_load(struct vm *vm, struct boot_entry *entry, bool emulated_kernel, char *err,
		 size_t errlen)
{
	const struct vm_config *cfg = vm_config(vm);
	struct boot_config bc;
	struct loader_info info;
	char *cmdline = NULL;
	bool quirks;
	int ret = machine_boot_config(vm, emulated_kernel, &bc, &cmdline, &quirks, err, errlen);
	if (ret)
		return ret;
	ret = loader_load_ex(&bc, vm_guest_mem(vm), entry, &info, err, errlen);
	if (ret)
		goto out;
	if (quirks && !machine_quirk_notice_shown) {
		machine_quirk_notice_shown = true;
		log_notice("host KVM emulates guest kernel mode: appended options that avoid "
			   "instructions it cannot run (disable with -machine host-quirks=off)");
	}
	static const char *const modes[] = { "real16", "pvh32", "long64" };
	log_debug("loaded %s: kind %d, entry %s at 0x%llx, kernel [0x%llx, 0x%llx), initrd %llu "
		  "bytes at 0x%llx, cmdline \"%s\"", cfg->kernel, info.kind, modes[entry->mode],
		  (unsigned long long)entry->entry,
		  (unsigned long long)info.kernel_start, (unsigned long long)info.kernel_end,
		  (unsigned long long)info.initrd_size, (unsigned long long)info.initrd_addr,
		  cmdline);
out:
	free(cmdline);
	return ret;
}
