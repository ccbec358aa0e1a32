/* ELF64 and ELF32 kernels and payloads, with the Xen PVH entry note. */
#include "vmm/boot/loader_int.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/lib/size.h"

/* include/xen/interface/elfnote.h */
#define XEN_ELFNOTE_GUEST_OS     6
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define ELF_MAX_PHNUM 4096

static const char *elf_machine_name(unsigned m)
{
	switch (m) {
	case EM_386:
		return "i386";
	case EM_X86_64:
		return "x86-64";
	case EM_ARM:
		return "ARM";
	case EM_AARCH64:
		return "AArch64";
	case EM_RISCV:
		return "RISC-V";
	case EM_PPC:
		return "PowerPC";
	case EM_PPC64:
		return "PowerPC64";
	case EM_S390:
		return "s390";
	case EM_MIPS:
		return "MIPS";
	case EM_SPARCV9:
		return "SPARC64";
	default:
		return "an unknown machine";
	}
}

/* The notes of [off, off+len): the Xen PVH entry (XEN_ELFNOTE_PHYS32_ENTRY)
 * and whether the kernel is Linux. Linux marks itself with notes of owner
 * "Linux" (the build salt, in every vmlinux since 4.19) or, built for Xen,
 * XEN_ELFNOTE_GUEST_OS "linux". The PVH note alone says nothing: other
 * kernels and payloads use that entry too. */
static int elf_scan_notes(const struct src *k, uint64_t off, uint64_t len, uint64_t align,
			  struct image *img)
{
	uint64_t pos = off, end = off + len; /* checked against the file by the caller */
	uint64_t a = align == 8 ? 8 : 4;
	while (end - pos >= 12) {
		uint8_t nh[12];
		int ret = loader_src_read(k, pos, nh, sizeof(nh));
		if (ret)
			return ret;
		uint64_t namesz = rd_le(nh, 4), descsz = rd_le(nh + 4, 4), type = rd_le(nh + 8, 4);
		uint64_t name_off = pos + 12, desc_off, next;
		if (!add_ok(name_off, ALIGN_UP(namesz, a), &desc_off) ||
		    !add_ok(desc_off, ALIGN_UP(descsz, a), &next) || next > end ||
		    desc_off + descsz > end)
			return 0; /* malformed notes: ignore the rest */
		uint8_t name[6], desc[8];
		if (namesz == 6) {
			if ((ret = loader_src_read(k, name_off, name, 6)))
				return ret;
			if (memcmp(name, "Linux", 6) == 0)
				img->linux_kernel = true;
		} else if (namesz == 4) {
			if ((ret = loader_src_read(k, name_off, name, 4)))
				return ret;
			bool xen = memcmp(name, "Xen", 4) == 0;
			if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY &&
			    (descsz == 4 || descsz == 8) && !img->pvh_entry) {
				if ((ret = loader_src_read(k, desc_off, desc, descsz)))
					return ret;
				img->pvh_entry = rd_le(desc, (unsigned)descsz);
			}
			if (xen && type == XEN_ELFNOTE_GUEST_OS && descsz >= 6) {
				if ((ret = loader_src_read(k, desc_off, desc, 6)))
					return ret;
				if (memcmp(desc, "linux", 6) == 0)
					img->linux_kernel = true;
			}
		}
		pos = next;
	}
	return 0;
}

int elf_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
	      struct image *img, struct seg **segs_out, size_t *nseg_out)
{
	bool is64 = head[EI_CLASS] == ELFCLASS64;
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (head[EI_CLASS] != ELFCLASS64 && head[EI_CLASS] != ELFCLASS32)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: unknown ELF class %u; expected a 64-bit or 32-bit x86 ELF", k->opt,
			k->name, head[EI_CLASS]);
	if (headlen < ehsize)
		return loader_fail(c, -ENOEXEC, "%s %s: truncated ELF header (%zu of %zu bytes)",
				   k->opt, k->name, headlen, ehsize);
	if (head[EI_DATA] != ELFDATA2LSB)
		return loader_fail(c, -ENOEXEC,
				   "%s %s: big-endian ELF; expected an x86 (little-endian) kernel",
				   k->opt, k->name);

	unsigned type, machine, phentsize, phnum;
	uint64_t entry, phoff;
	if (is64) {
		Elf64_Ehdr eh;
		memcpy(&eh, head, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, entry = eh.e_entry, phoff = eh.e_phoff;
		phentsize = eh.e_phentsize, phnum = eh.e_phnum;
	} else {
		Elf32_Ehdr eh;
		memcpy(&eh, head, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, entry = eh.e_entry, phoff = eh.e_phoff;
		phentsize = eh.e_phentsize, phnum = eh.e_phnum;
	}
	unsigned want = is64 ? EM_X86_64 : EM_386;
	if (machine != want)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: %s ELF for %s (e_machine %u); memvm runs x86-64 (EM_X86_64) kernels or i386 (EM_386) payloads",
			k->opt, k->name, is64 ? "64-bit" : "32-bit", elf_machine_name(machine),
			machine);
	if (type != ET_EXEC)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: ELF type %u is not an executable (%s); link it into an ET_EXEC image",
			k->opt, k->name, type,
			type == ET_REL    ? "relocatable object"
			: type == ET_DYN  ? "shared object or PIE"
			: type == ET_CORE ? "core dump"
					  : "unknown type");
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (phnum == 0)
		return loader_fail(c, -ENOEXEC,
				   "%s %s: ELF has no program headers; nothing to load", k->opt,
				   k->name);
	if (phentsize != phsize || phnum > ELF_MAX_PHNUM)
		return loader_fail(c, -ENOEXEC,
				   "%s %s: corrupt ELF header (e_phentsize %u, e_phnum %u)", k->opt,
				   k->name, phentsize, phnum);
	uint64_t phbytes, phend;
	if (!mul_ok(phnum, phsize, &phbytes) || !add_ok(phoff, phbytes, &phend) || phend > k->size)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: program headers at offset %llu run past the end of the file (%llu bytes); truncated?",
			k->opt, k->name, (unsigned long long)phoff, (unsigned long long)k->size);

	struct seg *segs = calloc(phnum, sizeof(*segs));
	if (!segs)
		return loader_fail(c, -ENOMEM, "%s %s: out of memory", k->opt, k->name);
	size_t nseg = 0;
	int ret = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < phnum; i++) {
		uint8_t raw[sizeof(Elf64_Phdr)];
		if ((ret = loader_src_read(k, phoff + (uint64_t)i * phsize, raw, phsize))) {
			ret = loader_fail(c, ret, "%s %s: cannot read program header %u: %s",
					  k->opt, k->name, i, strerror(-ret));
			goto err;
		}
		uint32_t ptype;
		struct seg s;
		uint64_t align;
		if (is64) {
			Elf64_Phdr ph;
			memcpy(&ph, raw, sizeof(ph));
			ptype = ph.p_type;
			s = (struct seg){ ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz,
					  ph.p_memsz };
			align = ph.p_align;
		} else {
			Elf32_Phdr ph;
			memcpy(&ph, raw, sizeof(ph));
			ptype = ph.p_type;
			s = (struct seg){ ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz,
					  ph.p_memsz };
			align = ph.p_align;
		}
		uint64_t fend, mend;
		if (ptype == PT_NOTE) {
			if (add_ok(s.offset, s.filesz, &fend) && fend <= k->size &&
			    (ret = elf_scan_notes(k, s.offset, s.filesz, align, img))) {
				ret = loader_fail(c, ret, "%s %s: cannot read notes: %s", k->opt,
						  k->name, strerror(-ret));
				goto err;
			}
			continue;
		}
		if (ptype != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz) {
			ret = loader_fail(
				c, -ENOEXEC,
				"%s %s: segment %u has p_filesz %llu > p_memsz %llu; corrupt ELF",
				k->opt, k->name, i, (unsigned long long)s.filesz,
				(unsigned long long)s.memsz);
			goto err;
		}
		if (!add_ok(s.offset, s.filesz, &fend) || fend > k->size) {
			ret = loader_fail(
				c, -ENOEXEC,
				"%s %s: segment %u (offset %llu, %llu bytes) runs past the end of the file (%llu bytes); truncated?",
				k->opt, k->name, i, (unsigned long long)s.offset,
				(unsigned long long)s.filesz, (unsigned long long)k->size);
			goto err;
		}
		if (!add_ok(s.paddr, s.memsz, &mend)) {
			ret = loader_fail(
				c, -ENOEXEC,
				"%s %s: segment %u at 0x%llx wraps the address space; corrupt ELF",
				k->opt, k->name, i, (unsigned long long)s.paddr);
			goto err;
		}
		lo = MIN(lo, s.paddr);
		hi = MAX(hi, mend);
		segs[nseg++] = s;
	}
	if (nseg == 0) {
		ret = loader_fail(c, -ENOEXEC, "%s %s: ELF has no loadable (PT_LOAD) segment",
				  k->opt, k->name);
		goto err;
	}

	/* e_entry is physical in Linux's vmlinux (ENTRY(phys_startup_64) in
	 * vmlinux.lds.S) and in ld-linked payloads; translate a virtual one
	 * through the segment that contains it. */
	bool found = false;
	for (size_t i = 0; i < nseg && !found; i++)
		if (entry >= segs[i].paddr && entry - segs[i].paddr < segs[i].memsz)
			found = true;
	for (size_t i = 0; i < nseg && !found; i++)
		if (entry >= segs[i].vaddr && entry - segs[i].vaddr < segs[i].memsz) {
			entry = segs[i].paddr + (entry - segs[i].vaddr);
			found = true;
		}
	if (!found) {
		ret = loader_fail(
			c, -ENOEXEC,
			"%s %s: entry point 0x%llx is outside every loadable segment; corrupt ELF",
			k->opt, k->name, (unsigned long long)entry);
		goto err;
	}
	if (img->pvh_entry) {
		bool in = false;
		for (size_t i = 0; i < nseg && !in; i++)
			in = img->pvh_entry >= segs[i].paddr &&
			     img->pvh_entry - segs[i].paddr < segs[i].memsz;
		if (!in || img->pvh_entry >= 0x100000000ull)
			img->pvh_entry = 0; /* unusable note: ignore it */
	}

	img->kind = is64 ? KERNEL_ELF64 : KERNEL_ELF32;
	img->start = lo;
	img->end = hi;
	img->initrd_end_max = (uint64_t)INITRD_ADDR_MAX_DEFAULT + 1;
	img->cmdline_max = BOOT_CMDLINE_MAX_DEFAULT;
	if (img->pvh_entry && c->cfg->prefer_pvh) {
		img->mode = BOOT_MODE_PVH32;
		img->entry = img->pvh_entry;
	} else if (is64) {
		img->mode = BOOT_MODE_LONG64;
		img->entry = entry;
	} else {
		img->mode = entry < LAYOUT_HIMEM ? BOOT_MODE_REAL16 : BOOT_MODE_PVH32;
		img->entry = entry;
	}
	if (img->mode == BOOT_MODE_REAL16 && entry >= 0x10000) {
		ret = loader_fail(
			c, -ENOEXEC,
			"%s %s: real-mode entry 0x%llx is above 64 KiB and cannot be reached from CS=0; link the entry below 0x10000",
			k->opt, k->name, (unsigned long long)entry);
		goto err;
	}
	*segs_out = segs;
	*nseg_out = nseg;
	return 0;
err:
	free(segs);
	return ret;
}

int elf_check(struct ctx *c, const struct src *k, const struct image *img, const struct seg *segs,
	      size_t nseg)
{
	for (size_t i = 0; i < nseg; i++) {
		const struct seg *s = &segs[i];
		uint64_t end = s->paddr + s->memsz; /* checked by elf_parse */
		if (img->mode != BOOT_MODE_REAL16 && s->paddr < LAYOUT_HIMEM)
			return loader_fail(
				c, -EINVAL,
				"%s %s: segment at 0x%llx overlaps memvm's boot data below 1 MiB; link the kernel at or above 0x100000",
				k->opt, k->name, (unsigned long long)s->paddr);
		if (img->mode != BOOT_MODE_REAL16 && end > LAYOUT_MMIO_HOLE)
			return loader_fail(
				c, -EINVAL,
				"%s %s: segment [0x%llx, 0x%llx) is above 3 GiB, outside the identity-mapped low RAM; link the kernel lower",
				k->opt, k->name, (unsigned long long)s->paddr,
				(unsigned long long)end);
		if (!loader_ram_has(c, s->paddr, s->memsz))
			return loader_fail(
				c, -ENOMEM,
				"%s %s: segment [0x%llx, 0x%llx) does not fit in %s of guest RAM; raise -m",
				k->opt, k->name, (unsigned long long)s->paddr,
				(unsigned long long)end, SIZE_STR(c->cfg->ram_size));
	}
	return 0;
}

int elf_load(struct ctx *c, const struct src *k, const struct seg *segs, size_t nseg)
{
	for (size_t i = 0; i < nseg; i++) {
		const struct seg *s = &segs[i];
		int ret = loader_src_to_guest(c, k, s->offset, s->paddr, s->filesz);
		if (ret)
			return ret;
		if ((ret = loader_zero_guest(c, s->paddr + s->filesz, s->memsz - s->filesz)))
			return ret;
	}
	return 0;
}
