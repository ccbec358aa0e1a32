/* Private to the loader's files: the input files, the load context and its
 * error helper, the image being loaded, the Linux setup header that the
 * bzImage parser reads and the zero page writer completes, and what each
 * format file offers loader.c. */
#ifndef MEMVM_LOADER_INT_H
#define MEMVM_LOADER_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/boot/loader.h"

/* ---- Linux boot protocol (Documentation/x86/boot.rst) ---- */

#define BP_HDR 0x1f1 /* the setup header's offset in the bzImage and in boot_params */

struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

#define HDR_OFF(f) (BP_HDR + offsetof(struct setup_header, f))
_Static_assert(HDR_OFF(boot_flag) == 0x1fe, "boot_flag");
_Static_assert(HDR_OFF(header) == 0x202, "header");
_Static_assert(HDR_OFF(version) == 0x206, "version");
_Static_assert(HDR_OFF(loadflags) == 0x211, "loadflags");
_Static_assert(HDR_OFF(code32_start) == 0x214, "code32_start");
_Static_assert(HDR_OFF(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(HDR_OFF(initrd_addr_max) == 0x22c, "initrd_addr_max");
_Static_assert(HDR_OFF(xloadflags) == 0x236, "xloadflags");
_Static_assert(HDR_OFF(cmdline_size) == 0x238, "cmdline_size");
_Static_assert(HDR_OFF(setup_data) == 0x250, "setup_data");
_Static_assert(HDR_OFF(pref_address) == 0x258, "pref_address");
_Static_assert(HDR_OFF(init_size) == 0x260, "init_size");
_Static_assert(sizeof(struct setup_header) == 0x26c - BP_HDR, "setup_header");

#define BOOT_FLAG               0xaa55
#define HDRS_MAGIC              0x53726448u /* "HdrS" */
#define LOADED_HIGH             (1u << 0)
#define INITRD_ADDR_MAX_DEFAULT 0x7fffffffu /* what x86-64 kernels put in their header */

/* ---- input files and the load context (loader.c) ---- */

/* A kernel or initrd: a buffer or an fd, read with bounds checks. */
struct src {
	const char *opt;  /* "-kernel" / "-initrd" */
	const char *name; /* path for messages */
	const uint8_t *buf;
	int fd;
	uint64_t size;
};

struct ctx {
	const struct boot_config *cfg;
	struct guest_mem *gm; /* NULL while probing: nothing is written */
	char *err;
	size_t errlen;
	uint64_t low_end; /* end of RAM below the MMIO hole */
};

/* The loader's error helper: errorf() into the load's message buffer. */
PRINTF(3, 4) static inline int loader_fail(struct ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrorf(c->err, c->errlen, ret, fmt, ap);
	va_end(ap);
	return ret;
}

/* An n-byte little-endian field (n <= 8). */
static inline uint64_t rd_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Whether [gpa, gpa + len) lies in one RAM region of a cfg->ram_size
 * machine (layout_ram_regions): checks that need no guest memory. */
bool loader_ram_has(const struct ctx *c, uint64_t gpa, uint64_t len);

/* Copies [off, off+len) of the file: -EINVAL when it is not all inside. */
int loader_src_read(const struct src *s, uint64_t off, void *dst, uint64_t len) WUR;
/* Reads [off, off+len) of the file into guest memory at gpa. */
int loader_src_to_guest(struct ctx *c, const struct src *s, uint64_t off, uint64_t gpa,
			uint64_t len) WUR;
int loader_zero_guest(struct ctx *c, uint64_t gpa, uint64_t len) WUR;
/* Writes len bytes at gpa; `what` names them in the message. */
int loader_write_guest(struct ctx *c, const char *what, uint64_t gpa, const void *p,
		       size_t len) WUR;

/* ---- the kernel image ---- */

struct image {
	enum kernel_kind kind;
	enum boot_mode mode;
	uint64_t entry;
	uint64_t start, end; /* memory the kernel occupies (or needs) */
	uint64_t pvh_entry;
	bool linux_kernel;       /* bzImage, or an ELF with Linux's notes */
	bool linux_hdr;          /* boot_params header comes from the bzImage */
	struct setup_header hdr; /* bzImage: as read, then updated */
	uint64_t initrd_end_max; /* exclusive */
	size_t cmdline_max;
	/* bzImage: the protected-mode kernel's file offset and length, and
	 * where it goes. */
	uint64_t pm_off, pm_len, pm_gpa;
};

/* A PT_LOAD segment, checked against the file by elf_parse. */
struct seg {
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

/* elf.c: ELF64 and ELF32 with the Xen PVH note. head holds the file's
 * first headlen bytes (at least EI_CLASS + 1). elf_parse fills *img and a
 * malloc'd segment list; elf_check checks the segments' places against
 * the RAM layout; elf_load copies them into guest memory. */
int elf_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
	      struct image *img, struct seg **segs_out, size_t *nseg_out) WUR;
int elf_check(struct ctx *c, const struct src *k, const struct image *img, const struct seg *segs,
	      size_t nseg) WUR;
int elf_load(struct ctx *c, const struct src *k, const struct seg *segs, size_t nseg) WUR;

/* bzimage.c: bzimage_parse reads the setup header (headlen >= 0x206,
 * "HdrS" at 0x202) into img->hdr and checks the kernel fits in RAM;
 * bzimage_load copies the protected-mode kernel into guest memory. */
int bzimage_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
		  struct image *img) WUR;
int bzimage_load(struct ctx *c, const struct src *k, const struct image *img) WUR;

/* zeropage.c: boot_params at LAYOUT_ZERO_PAGE (img->hdr, or one made up
 * for a vmlinux, plus the e820 map and the setup_data chain), the PVH
 * hvm_start_info at LAYOUT_PVH_START_INFO, and the DTB as SETUP_DTB
 * setup_data at LAYOUT_SETUP_DATA: zeropage_build_dtb makes it (malloc'd
 * *dtb) and checks it fits there, zeropage_write_dtb writes it. */
int zeropage_write_boot_params(struct ctx *c, struct image *img, uint64_t initrd_addr,
			       uint64_t initrd_size, uint64_t setup_data) WUR;
int zeropage_write_pvh_start_info(struct ctx *c, uint64_t initrd_addr, uint64_t initrd_size) WUR;
int zeropage_build_dtb(struct ctx *c, void **dtb, size_t *len) WUR;
int zeropage_write_dtb(struct ctx *c, const void *dtb, size_t len) WUR;

#endif
