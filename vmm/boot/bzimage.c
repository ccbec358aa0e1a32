/* bzImage: the Linux setup header (Documentation/x86/boot.rst) and the
 * protected-mode kernel behind the setup sectors. */
#include "vmm/boot/loader_int.h"

#include <errno.h>
#include <string.h>

#include "vmm/lib/size.h"

#define XLF_KERNEL_64  (1u << 0)
#define ENTRY64_OFFSET 0x200

int bzimage_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
		  struct image *img)
{
	/* headlen >= 0x206 and "HdrS" is at 0x202 (checked by the caller). */
	size_t hdr_end = 0x202 + (size_t)head[0x201];
	if (hdr_end > headlen)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: truncated bzImage: the setup header ends at offset %zu but the file has %zu bytes",
			k->opt, k->name, hdr_end, headlen);
	struct setup_header *h = &img->hdr;
	memset(h, 0, sizeof(*h));
	memcpy(h, head + BP_HDR, MIN(hdr_end, BP_HDR + sizeof(*h)) - BP_HDR);
#define HAS(f) (HDR_OFF(f) + sizeof(h->f) <= hdr_end)

	if (h->boot_flag != BOOT_FLAG)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: bzImage without the 0xAA55 boot flag at 0x1fe; corrupt kernel",
			k->opt, k->name);
	unsigned v = h->version;
	if (v < 0x0206 || !HAS(cmdline_size))
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: boot protocol %u.%02u is too old; memvm needs 2.06 or newer (Linux 2.6.22+)",
			k->opt, k->name, v >> 8, v & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: a zImage that loads at 0x10000 (LOADED_HIGH not set); memvm boots bzImages",
			k->opt, k->name);
	if (v < 0x020c || !HAS(xloadflags) || !(h->xloadflags & XLF_KERNEL_64))
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: not a 64-bit kernel (no XLF_KERNEL_64 in xloadflags, protocol %u.%02u); memvm boots bzImages through the 64-bit entry",
			k->opt, k->name, v >> 8, v & 0xff);

	unsigned sects = h->setup_sects ? h->setup_sects : 4;
	uint64_t setup_size = (uint64_t)(sects + 1) * 512;
	if (setup_size >= k->size)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: truncated bzImage: %llu bytes of setup code but the file has %llu",
			k->opt, k->name, (unsigned long long)setup_size,
			(unsigned long long)k->size);
	uint64_t klen = k->size - setup_size;
	if ((uint64_t)h->syssize * 16 > klen)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: truncated bzImage: the header says %llu bytes of kernel but the file has %llu after the setup code",
			k->opt, k->name, (unsigned long long)h->syssize * 16,
			(unsigned long long)klen);

	uint64_t pref = v >= 0x020a ? h->pref_address : 0;
	uint64_t init_size = v >= 0x020a ? h->init_size : 0;
	uint64_t load, runtime;
	if (h->relocatable_kernel) {
		uint64_t align = h->kernel_alignment;
		if (!IS_POW2(align))
			return loader_fail(
				c, -ENOEXEC,
				"%s %s: kernel_alignment 0x%llx is not a power of two; corrupt bzImage",
				k->opt, k->name, (unsigned long long)align);
		load = pref >= LAYOUT_HIMEM ? pref : LAYOUT_KERNEL_DEFAULT;
		if (load > UINT64_MAX - align)
			return loader_fail(
				c, -ENOEXEC,
				"%s %s: pref_address 0x%llx is out of range; corrupt bzImage",
				k->opt, k->name, (unsigned long long)load);
		load = ALIGN_UP(load, align);
		runtime = load;
	} else {
		/* Loaded at code32_start (0x100000 by default); the kernel
		 * moves itself to pref_address. */
		load = h->code32_start >= LAYOUT_HIMEM ? h->code32_start : LAYOUT_HIMEM;
		runtime = pref ? pref : load;
	}
	uint64_t need = MAX(init_size, klen), lend, rend;
	if (!add_ok(load, klen, &lend) || !add_ok(runtime, need, &rend))
		return loader_fail(c, -ENOEXEC,
				   "%s %s: load address 0x%llx is out of range; corrupt bzImage",
				   k->opt, k->name, (unsigned long long)load);
	img->start = MIN(load, runtime);
	img->end = MAX(lend, rend);
	if (img->start < LAYOUT_HIMEM)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: runs at 0x%llx, inside memvm's boot data below 1 MiB; corrupt bzImage",
			k->opt, k->name, (unsigned long long)img->start);
	if (img->end > c->low_end)
		return loader_fail(
			c, -ENOMEM,
			"%s %s: needs memory up to 0x%llx (load address 0x%llx, init_size %s) but RAM below the MMIO hole ends at 0x%llx; raise -m",
			k->opt, k->name, (unsigned long long)img->end, (unsigned long long)load,
			SIZE_STR(init_size), (unsigned long long)c->low_end);

	img->kind = KERNEL_BZIMAGE;
	img->mode = BOOT_MODE_LONG64;
	img->entry = load + ENTRY64_OFFSET;
	img->linux_hdr = true;
	img->cmdline_max = h->cmdline_size;
	img->initrd_end_max = (uint64_t)(HAS(initrd_addr_max) ? h->initrd_addr_max : 0x37ffffff) +
			      1;
	h->code32_start = (uint32_t)load;
	/* The protected-mode kernel follows the setup sectors. */
	img->pm_off = setup_size;
	img->pm_len = klen;
	img->pm_gpa = load;
	img->linux_kernel = true;
	return 0;
#undef HAS
}

int bzimage_load(struct ctx *c, const struct src *k, const struct image *img)
{
	return loader_src_to_guest(c, k, img->pm_off, img->pm_gpa, img->pm_len);
}
