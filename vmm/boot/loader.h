/* Kernel loader: puts a vmlinux ELF, a bzImage or a bare-metal ELF
 * payload, the initrd, the command line and the boot tables (boot_params
 * with e820, PVH start info, MP table, DTB) into guest memory and says how
 * the boot vCPU must start. Pure code on struct guest_mem: no /dev/kvm.
 * loader.c reads the files, detects the format and places the initrd;
 * elf.c, bzimage.c and zeropage.c hold the formats (loader_int.h).
 *
 * Everything read from the kernel and initrd files is untrusted: every
 * header field, offset and size is bounds-checked, and guest memory is only
 * reached through guest_mem_ptr/guest_mem_write. */
#ifndef MEMVM_LOADER_H
#define MEMVM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/guest_mem.h"
#include "vmm/boot/boot.h"
#include "vmm/lib/util.h"

/* Defaults: 1 vCPU, serial 0x3f8/IRQ 4, no devices, no DTB, 64-bit entry. */
void loader_config_init(struct boot_config *cfg);

enum kernel_kind {
	KERNEL_NONE,
	KERNEL_ELF64,   /* vmlinux or 64-bit payload: LONG64, or PVH32 via the note */
	KERNEL_ELF32,   /* bare-metal payload: REAL16 below 1 MiB, else PVH32 */
	KERNEL_BZIMAGE, /* 64-bit boot protocol at load address + 0x200 */
};

/* What was loaded where (for logs and tests), or from loader_probe,
 * what would be. */
struct loader_info {
	enum kernel_kind kind;
	enum boot_mode mode;
	/* Linux: a bzImage, or an ELF with Linux's own notes (owner "Linux",
	 * in every vmlinux since 4.19, or Xen's GUEST_OS "linux"). Anything
	 * else is a bare-metal payload. */
	bool linux_kernel;
	uint64_t kernel_start, kernel_end; /* [start, end): memory the kernel needs */
	uint64_t initrd_addr, initrd_size; /* size 0: no initrd */
	uint64_t pvh_entry;                /* 0: no XEN_ELFNOTE_PHYS32_ENTRY */
	uint16_t boot_version;             /* bzImage protocol, e.g. 0x020f */
	size_t cmdline_max;                /* longest command line the kernel takes */
	size_t dtb_size;                   /* 0: no DTB passed */
	size_t mptable_size;               /* 0: no MP table written */
};

/* Loads cfg->kernel_path (and the initrd) into gm and fills *out.
 * What boot_entry_write_tables/boot_entry_set_regs (vmm/boot/entry.h)
 * make of *out:
 *  LONG64: page tables/GDT at LAYOUT_PML4.../LAYOUT_GDT, CR0.PE|PG,
 *          CR4.PAE, EFER.LME|LMA, flat 64-bit CS, RIP=entry, RSI=rsi
 *          (boot_params), RSP=rsp.
 *  PVH32:  flat 32-bit protected mode, paging off, EIP=entry, EBX=rbx
 *          (hvm_start_info, 0 without the Xen note), ESP=rsp.
 *  REAL16: CS=DS=SS=0, IP=entry (< 64 KiB), SP=rsp. Only the ELF32
 *          segments are loaded: no command line, MP table or boot_params.
 * The other modes also get the command line at LAYOUT_CMDLINE and the MP
 * table at LAYOUT_EBDA; LONG64 gets boot_params (e820, initrd, SETUP_DTB
 * when want_dtb), PVH32 with the Xen note gets hvm_start_info (no DTB:
 * Linux's PVH entry builds its own boot_params without setup_data).
 * Errors: a negative errno and one line in err naming the file, the
 * problem and the fix. Nothing is guaranteed about gm after an error. */
int loader_load(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		char *err, size_t errlen) WUR;
/* The same with details in *info (may be NULL). */
int loader_load_ex(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		   struct loader_info *info, char *err, size_t errlen) WUR;
/* Everything loader_load_ex checks, without guest memory: opens the kernel
 * and the initrd, reads the kernel's headers (not its segments), checks
 * them, the command line, the initrd's place and the boot tables against
 * cfg, and fills *info (may be NULL) as the load would. The same errors as
 * loader_load_ex, so a configuration can be refused before RAM exists. */
int loader_probe(const struct boot_config *cfg, struct loader_info *info, char *err,
		 size_t errlen) WUR;
/* The same as loader_load_ex from memory buffers (tests, fuzzing): cfg's
 * paths are only used in messages. initrd may be NULL. */
int loader_load_image(const struct boot_config *cfg, const void *kernel, size_t kernel_len,
		      const void *initrd, size_t initrd_len, struct guest_mem *gm,
		      struct boot_entry *out, struct loader_info *info, char *err,
		      size_t errlen) WUR;

#endif
