/* The zero page (boot_params with the e820 map and the setup_data chain,
 * Documentation/x86/zero-page.rst) for the 64-bit Linux entry, and the
 * hvm_start_info for the Xen PVH entry. */
#include "vmm/boot/loader_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/fdt.h"

/* ---- boot_params (arch/x86/include/uapi/asm/bootparam.h) ---- */

#define BP_SIZE         4096
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE   0x2d0
#define BP_E820_MAX     128

#define SETUP_DTB             2
#define LOADER_TYPE_UNDEFINED 0xff
#define VMLINUX_KERNEL_ALIGN  0x1000000u
#define VMLINUX_BOOT_VERSION  0x020c

/* boot_params.e820_table[]: packed, unlike struct boot_e820_entry. */
struct bp_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(BP_E820_TABLE + BP_E820_MAX * sizeof(struct bp_e820_entry) <= 0xcd0, "e820 table");

struct setup_data_hdr {
	uint64_t next;
	uint32_t type;
	uint32_t len;
};

/* ---- Xen PVH (include/xen/interface/hvm/start_info.h) ---- */

#define XEN_HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define PVH_MODLIST (LAYOUT_PVH_START_INFO + 64)
#define PVH_MEMMAP  (LAYOUT_PVH_START_INFO + 128)
_Static_assert(PVH_MEMMAP + BOOT_E820_MAX * sizeof(struct hvm_memmap_entry) <= LAYOUT_ZERO_PAGE,
	       "PVH start info must stay below the zero page");

int zeropage_write_boot_params(struct ctx *c, struct image *img, uint64_t initrd_addr,
			       uint64_t initrd_size, uint64_t setup_data)
{
	uint8_t *bp = calloc(1, BP_SIZE);
	if (!bp)
		return loader_fail(c, -ENOMEM, "boot_params: out of memory");
	struct setup_header *h = &img->hdr;
	if (!img->linux_hdr) {
		memset(h, 0, sizeof(*h));
		h->boot_flag = BOOT_FLAG;
		h->header = HDRS_MAGIC;
		h->version = VMLINUX_BOOT_VERSION;
		h->loadflags = LOADED_HIGH;
		h->kernel_alignment = VMLINUX_KERNEL_ALIGN;
		h->initrd_addr_max = INITRD_ADDR_MAX_DEFAULT;
		h->cmdline_size = BOOT_CMDLINE_MAX_DEFAULT;
		h->code32_start = (uint32_t)img->start;
	}
	h->type_of_loader = LOADER_TYPE_UNDEFINED;
	h->cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	h->ramdisk_image = (uint32_t)initrd_addr;
	h->ramdisk_size = (uint32_t)initrd_size;
	h->setup_data = setup_data;
	memcpy(bp + BP_HDR, h, sizeof(*h));

	struct boot_e820_entry e[BOOT_E820_MAX];
	size_t n = boot_e820_build(c->cfg->ram_size, e);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		struct bp_e820_entry be = { e[i].addr, e[i].size, e[i].type };
		memcpy(bp + BP_E820_TABLE + i * sizeof(be), &be, sizeof(be));
	}
	int ret = loader_write_guest(c, "boot_params", LAYOUT_ZERO_PAGE, bp, BP_SIZE);
	free(bp);
	return ret;
}

int zeropage_write_pvh_start_info(struct ctx *c, uint64_t initrd_addr, uint64_t initrd_size)
{
	uint8_t page[LAYOUT_ZERO_PAGE - LAYOUT_PVH_START_INFO] = { 0 };
	struct boot_e820_entry e[BOOT_E820_MAX];
	size_t n = boot_e820_build(c->cfg->ram_size, e);
	struct hvm_start_info si = {
		.magic = XEN_HVM_START_MAGIC,
		.version = 1,
		.nr_modules = initrd_size ? 1 : 0,
		.modlist_paddr = initrd_size ? PVH_MODLIST : 0,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = 0,
		.memmap_paddr = PVH_MEMMAP,
		.memmap_entries = (uint32_t)n,
	};
	memcpy(page, &si, sizeof(si));
	if (initrd_size) {
		struct hvm_modlist_entry m = { .paddr = initrd_addr, .size = initrd_size };
		memcpy(page + (PVH_MODLIST - LAYOUT_PVH_START_INFO), &m, sizeof(m));
	}
	for (size_t i = 0; i < n; i++) {
		struct hvm_memmap_entry me = { e[i].addr, e[i].size, e[i].type, 0 };
		memcpy(page + (PVH_MEMMAP - LAYOUT_PVH_START_INFO) + i * sizeof(me), &me,
		       sizeof(me));
	}
	return loader_write_guest(c, "PVH start info", LAYOUT_PVH_START_INFO, page, sizeof(page));
}

/* DTB as a SETUP_DTB setup_data node at LAYOUT_SETUP_DATA. */
int zeropage_build_dtb(struct ctx *c, void **dtb, size_t *len)
{
	int ret = fdt_build_alloc(c->cfg, dtb, len);
	if (ret)
		return loader_fail(c, ret, "building the device tree: %s", strerror(-ret));
	if (*len > LAYOUT_SETUP_DATA_MAX - sizeof(struct setup_data_hdr)) {
		ret = loader_fail(
			c, -ENOSPC,
			"device tree of %zu bytes does not fit in the %llu bytes of setup_data space; use fewer devices or -machine dt=off",
			*len, (unsigned long long)LAYOUT_SETUP_DATA_MAX);
		free(*dtb);
		*dtb = NULL;
		return ret;
	}
	return 0;
}

int zeropage_write_dtb(struct ctx *c, const void *dtb, size_t len)
{
	struct setup_data_hdr sd = { .next = 0, .type = SETUP_DTB, .len = (uint32_t)len };
	int ret = loader_write_guest(c, "setup_data", LAYOUT_SETUP_DATA, &sd, sizeof(sd));
	if (ret)
		return ret;
	return loader_write_guest(c, "device tree", LAYOUT_SETUP_DATA + sizeof(sd), dtb, len);
}
