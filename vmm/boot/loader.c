#include "vmm/boot/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/boot/fdt.h"
#include "vmm/boot/mptable.h"
#include "vmm/lib/size.h"

/* ---- Linux boot protocol (Documentation/x86/boot.rst, zero-page.rst) ---- */

#define BP_SIZE 4096
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

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

#define BOOT_FLAG 0xaa55
#define HDRS_MAGIC 0x53726448u /* "HdrS" */
#define LOADED_HIGH (1u << 0)
#define XLF_KERNEL_64 (1u << 0)
#define SETUP_DTB 2
#define LOADER_TYPE_UNDEFINED 0xff
#define ENTRY64_OFFSET 0x200
#define INITRD_ADDR_MAX_DEFAULT 0x7fffffffu /* what x86-64 kernels put in their header */
#define VMLINUX_KERNEL_ALIGN 0x1000000u
#define VMLINUX_BOOT_VERSION 0x020c

struct boot_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(BP_E820_TABLE + BP_E820_MAX * sizeof(struct boot_e820) <= 0xcd0, "e820 table");

struct setup_data_hdr {
	uint64_t next;
	uint32_t type;
	uint32_t len;
};

/* ---- Xen PVH (include/xen/interface/hvm/start_info.h) ---- */

#define XEN_HVM_START_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

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
#define PVH_MEMMAP (LAYOUT_PVH_START_INFO + 128)
_Static_assert(PVH_MEMMAP + LOADER_E820_MAX * sizeof(struct hvm_memmap_entry) <= LAYOUT_ZERO_PAGE,
	       "PVH start info must stay below the zero page");

/* ---- input files: a buffer or an fd, read with bounds checks ---- */

struct src {
	const char *opt;  /* "-kernel" / "-initrd" */
	const char *name; /* path for messages */
	const uint8_t *buf;
	int fd;
	uint64_t size;
};

struct ctx {
	const struct boot_config *cfg;
	struct guest_mem *gm;
	char *err;
	size_t errlen;
	uint64_t low_end; /* end of RAM below the MMIO hole */
};

PRINTF(3, 4) static int fail(struct ctx *c, int ret, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}


/* Copies [off, off+len) of the file: -EINVAL when it is not all inside. */
static int src_read(const struct src *s, uint64_t off, void *dst, uint64_t len)
{
	uint64_t end;
	if (!add_ok(off, len, &end) || end > s->size)
		return -EINVAL;
	if (s->buf) {
		memcpy(dst, s->buf + off, len);
		return 0;
	}
	uint8_t *p = dst;
	while (len) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n = pread(s->fd, p, chunk, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us */
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int src_open(struct ctx *c, struct src *s, const char *opt, const char *path)
{
	struct stat st;
	s->opt = opt;
	s->name = path;
	s->buf = NULL;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return fail(c, -errno, "%s %s: cannot open: %s", opt, path, strerror(errno));
	if (fstat(s->fd, &st) < 0) {
		int e = errno;
		close(s->fd);
		s->fd = -1;
		return fail(c, -e, "%s %s: cannot stat: %s", opt, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(s->fd);
		s->fd = -1;
		return fail(c, -EINVAL, "%s %s: %s, not a regular file", opt, path,
			    S_ISDIR(st.st_mode) ? "is a directory" : "is a device or pipe");
	}
	s->size = (uint64_t)st.st_size;
	return 0;
}

static void src_close(struct src *s)
{
	if (!s->buf && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Reads [off, off+len) of the file into guest memory at gpa. */
static int src_to_guest(struct ctx *c, const struct src *s, uint64_t off, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return 0;
	void *dst = guest_mem_ptr(c->gm, gpa, len);
	if (!dst)
		return fail(c, -EFAULT, "%s %s: [0x%llx, 0x%llx) is not in guest RAM; raise -m", s->opt,
			    s->name, (unsigned long long)gpa, (unsigned long long)(gpa + len));
	int ret = src_read(s, off, dst, len);
	if (ret == -EINVAL)
		return fail(c, ret, "%s %s: truncated: needs bytes up to offset %llu but the file has %llu",
			    s->opt, s->name, (unsigned long long)(off + len),
			    (unsigned long long)s->size);
	/* read() faults on the destination when guest RAM cannot be backed
	 * (an empty huge page pool), not because of the file. */
	if (ret == -EFAULT)
		return fail(c, -ENOMEM, "%s %s: guest RAM ran out while loading it (huge page pool or "
			    "host memory exhausted); raise /proc/sys/vm/nr_hugepages, or use "
			    "-mem-prealloc to check at start", s->opt, s->name);
	if (ret)
		return fail(c, ret, "%s %s: read failed (%s); was the file changed while loading?",
			    s->opt, s->name, strerror(-ret));
	return 0;
}

static int zero_guest(struct ctx *c, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return 0;
	void *p = guest_mem_ptr(c->gm, gpa, len);
	if (!p)
		return fail(c, -EFAULT, "[0x%llx, 0x%llx) is not in guest RAM; raise -m",
			    (unsigned long long)gpa, (unsigned long long)(gpa + len));
	memset(p, 0, len);
	return 0;
}

static int write_guest(struct ctx *c, const char *what, uint64_t gpa, const void *p, size_t len)
{
	if (guest_mem_write(c->gm, gpa, p, len))
		return fail(c, -EFAULT, "%s at [0x%llx, 0x%llx) is not in guest RAM; raise -m", what,
			    (unsigned long long)gpa, (unsigned long long)(gpa + len));
	return 0;
}

/* ---- configuration and memory map ---- */

void loader_config_init(struct boot_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 1;
	cfg->serial = true;
	cfg->serial_port = 0x3f8;
	cfg->serial_irq = LAYOUT_IRQ_SERIAL0;
}

int loader_config_add_virtio(struct boot_config *cfg, uint64_t *base_out, uint32_t *irq_out)
{
	if (cfg->nvirtio >= LAYOUT_VIRTIO_MMIO_MAX)
		return -ENOSPC;
	size_t i = cfg->nvirtio;
	uint32_t irq = LAYOUT_VIRTIO_IRQ_BASE;
	for (size_t k = 0;; irq++) {
		if (irq == 8 || irq == 12 || irq == cfg->serial_irq)
			continue;
		if (k++ == i)
			break;
	}
	struct boot_mmio_dev *d = &cfg->virtio[i];
	d->base = LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_SIZE;
	d->size = LAYOUT_VIRTIO_MMIO_SIZE;
	d->irq = irq;
	cfg->nvirtio++;
	if (base_out)
		*base_out = d->base;
	if (irq_out)
		*irq_out = irq;
	return 0;
}

size_t loader_e820(uint64_t ram_size, struct loader_e820_entry out[LOADER_E820_MAX])
{
	unsigned long long gpa[2], len[2], off[2];
	size_t n = 0;
	if (ram_size == 0)
		return 0;
	/* The low region loses the legacy [EBDA, 1 MiB) hole. */
	unsigned nr = layout_ram_regions(ram_size, gpa, len, off);
	uint64_t low = len[0];
	out[n++] = (struct loader_e820_entry){ 0, MIN(low, LAYOUT_EBDA), E820_TYPE_RAM };
	if (low <= LAYOUT_EBDA)
		return n;
	out[n++] = (struct loader_e820_entry){ LAYOUT_EBDA, LAYOUT_HIMEM - LAYOUT_EBDA,
					       E820_TYPE_RESERVED };
	if (low > LAYOUT_HIMEM)
		out[n++] = (struct loader_e820_entry){ LAYOUT_HIMEM, low - LAYOUT_HIMEM, E820_TYPE_RAM };
	if (nr == 2)
		out[n++] = (struct loader_e820_entry){ gpa[1], len[1], E820_TYPE_RAM };
	return n;
}

/* ---- kernel images ---- */

struct image {
	enum kernel_kind kind;
	enum boot_mode mode;
	uint64_t entry;
	uint64_t start, end;     /* memory the kernel occupies (or needs) */
	uint64_t pvh_entry;
	bool linux_hdr;          /* boot_params header comes from the bzImage */
	struct setup_header hdr; /* bzImage: as read, then updated */
	uint64_t initrd_end_max; /* exclusive */
	size_t cmdline_max;
};

struct seg {
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

#define ELF_MAX_PHNUM 4096

static const char *elf_machine_name(unsigned m)
{
	switch (m) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86-64";
	case EM_ARM: return "ARM";
	case EM_AARCH64: return "AArch64";
	case EM_RISCV: return "RISC-V";
	case EM_PPC: return "PowerPC";
	case EM_PPC64: return "PowerPC64";
	case EM_S390: return "s390";
	case EM_MIPS: return "MIPS";
	case EM_SPARCV9: return "SPARC64";
	default: return "an unknown machine";
	}
}

static uint64_t rd_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Looks for XEN_ELFNOTE_PHYS32_ENTRY in the notes of [off, off+len). */
static int elf_find_pvh(const struct src *k, uint64_t off, uint64_t len, uint64_t align,
			uint64_t *entry)
{
	uint64_t pos = off, end = off + len; /* checked against the file by the caller */
	uint64_t a = align == 8 ? 8 : 4;
	while (end - pos >= 12) {
		uint8_t nh[12];
		int ret = src_read(k, pos, nh, sizeof(nh));
		if (ret)
			return ret;
		uint64_t namesz = rd_le(nh, 4), descsz = rd_le(nh + 4, 4), type = rd_le(nh + 8, 4);
		uint64_t name_off = pos + 12, desc_off, next;
		if (!add_ok(name_off, ALIGN_UP(namesz, a), &desc_off) ||
		    !add_ok(desc_off, ALIGN_UP(descsz, a), &next) || next > end ||
		    desc_off + descsz > end)
			return 0; /* malformed notes: ignore the rest */
		if (namesz == 4 && type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
			uint8_t name[4], desc[8];
			if ((ret = src_read(k, name_off, name, 4)) ||
			    (ret = src_read(k, desc_off, desc, descsz)))
				return ret;
			if (memcmp(name, "Xen", 4) == 0) {
				*entry = rd_le(desc, (unsigned)descsz);
				return 0;
			}
		}
		pos = next;
	}
	return 0;
}

static int elf_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
		     struct image *img, struct seg **segs_out, size_t *nseg_out)
{
	bool is64 = head[EI_CLASS] == ELFCLASS64;
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (head[EI_CLASS] != ELFCLASS64 && head[EI_CLASS] != ELFCLASS32)
		return fail(c, -ENOEXEC, "%s %s: unknown ELF class %u; expected a 64-bit or 32-bit x86 ELF",
			    k->opt, k->name, head[EI_CLASS]);
	if (headlen < ehsize)
		return fail(c, -ENOEXEC, "%s %s: truncated ELF header (%zu of %zu bytes)", k->opt,
			    k->name, headlen, ehsize);
	if (head[EI_DATA] != ELFDATA2LSB)
		return fail(c, -ENOEXEC, "%s %s: big-endian ELF; expected an x86 (little-endian) kernel",
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
		return fail(c, -ENOEXEC, "%s %s: %s ELF for %s (e_machine %u); memvm runs x86-64 (EM_X86_64) kernels or i386 (EM_386) payloads",
			    k->opt, k->name, is64 ? "64-bit" : "32-bit", elf_machine_name(machine),
			    machine);
	if (type != ET_EXEC)
		return fail(c, -ENOEXEC, "%s %s: ELF type %u is not an executable (%s); link it into an ET_EXEC image",
			    k->opt, k->name, type,
			    type == ET_REL ? "relocatable object" :
			    type == ET_DYN ? "shared object or PIE" :
			    type == ET_CORE ? "core dump" : "unknown type");
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (phnum == 0)
		return fail(c, -ENOEXEC, "%s %s: ELF has no program headers; nothing to load",
			    k->opt, k->name);
	if (phentsize != phsize || phnum > ELF_MAX_PHNUM)
		return fail(c, -ENOEXEC, "%s %s: corrupt ELF header (e_phentsize %u, e_phnum %u)",
			    k->opt, k->name, phentsize, phnum);
	uint64_t phbytes, phend;
	if (!mul_ok(phnum, phsize, &phbytes) || !add_ok(phoff, phbytes, &phend) || phend > k->size)
		return fail(c, -ENOEXEC, "%s %s: program headers at offset %llu run past the end of the file (%llu bytes); truncated?",
			    k->opt, k->name, (unsigned long long)phoff, (unsigned long long)k->size);

	struct seg *segs = calloc(phnum, sizeof(*segs));
	if (!segs)
		return fail(c, -ENOMEM, "%s %s: out of memory", k->opt, k->name);
	size_t nseg = 0;
	int ret = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < phnum; i++) {
		uint8_t raw[sizeof(Elf64_Phdr)];
		if ((ret = src_read(k, phoff + (uint64_t)i * phsize, raw, phsize))) {
			ret = fail(c, ret, "%s %s: cannot read program header %u: %s", k->opt, k->name,
				   i, strerror(-ret));
			goto err;
		}
		uint32_t ptype;
		struct seg s;
		uint64_t align;
		if (is64) {
			Elf64_Phdr ph;
			memcpy(&ph, raw, sizeof(ph));
			ptype = ph.p_type;
			s = (struct seg){ ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz };
			align = ph.p_align;
		} else {
			Elf32_Phdr ph;
			memcpy(&ph, raw, sizeof(ph));
			ptype = ph.p_type;
			s = (struct seg){ ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz };
			align = ph.p_align;
		}
		uint64_t fend, mend;
		if (ptype == PT_NOTE) {
			if (add_ok(s.offset, s.filesz, &fend) && fend <= k->size &&
			    (ret = elf_find_pvh(k, s.offset, s.filesz, align, &img->pvh_entry))) {
				ret = fail(c, ret, "%s %s: cannot read notes: %s", k->opt, k->name,
					   strerror(-ret));
				goto err;
			}
			continue;
		}
		if (ptype != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz) {
			ret = fail(c, -ENOEXEC, "%s %s: segment %u has p_filesz %llu > p_memsz %llu; corrupt ELF",
				   k->opt, k->name, i, (unsigned long long)s.filesz,
				   (unsigned long long)s.memsz);
			goto err;
		}
		if (!add_ok(s.offset, s.filesz, &fend) || fend > k->size) {
			ret = fail(c, -ENOEXEC, "%s %s: segment %u (offset %llu, %llu bytes) runs past the end of the file (%llu bytes); truncated?",
				   k->opt, k->name, i, (unsigned long long)s.offset,
				   (unsigned long long)s.filesz, (unsigned long long)k->size);
			goto err;
		}
		if (!add_ok(s.paddr, s.memsz, &mend)) {
			ret = fail(c, -ENOEXEC, "%s %s: segment %u at 0x%llx wraps the address space; corrupt ELF",
				   k->opt, k->name, i, (unsigned long long)s.paddr);
			goto err;
		}
		lo = MIN(lo, s.paddr);
		hi = MAX(hi, mend);
		segs[nseg++] = s;
	}
	if (nseg == 0) {
		ret = fail(c, -ENOEXEC, "%s %s: ELF has no loadable (PT_LOAD) segment", k->opt, k->name);
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
		ret = fail(c, -ENOEXEC, "%s %s: entry point 0x%llx is outside every loadable segment; corrupt ELF",
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
	img->cmdline_max = LOADER_CMDLINE_MAX_DEFAULT;
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
		ret = fail(c, -ENOEXEC, "%s %s: real-mode entry 0x%llx is above 64 KiB and cannot be reached from CS=0; link the entry below 0x10000",
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

static int elf_load(struct ctx *c, const struct src *k, const struct image *img,
		    const struct seg *segs, size_t nseg)
{
	for (size_t i = 0; i < nseg; i++) {
		const struct seg *s = &segs[i];
		uint64_t end = s->paddr + s->memsz; /* checked by elf_parse */
		if (img->mode != BOOT_MODE_REAL16 && s->paddr < LAYOUT_HIMEM)
			return fail(c, -EINVAL, "%s %s: segment at 0x%llx overlaps memvm's boot data below 1 MiB; link the kernel at or above 0x100000",
				    k->opt, k->name, (unsigned long long)s->paddr);
		if (img->mode != BOOT_MODE_REAL16 && end > LAYOUT_MMIO_HOLE)
			return fail(c, -EINVAL, "%s %s: segment [0x%llx, 0x%llx) is above 3 GiB, outside the identity-mapped low RAM; link the kernel lower",
				    k->opt, k->name, (unsigned long long)s->paddr,
				    (unsigned long long)end);
		if (!guest_mem_ptr(c->gm, s->paddr, s->memsz))
			return fail(c, -ENOMEM, "%s %s: segment [0x%llx, 0x%llx) does not fit in %s of guest RAM; raise -m",
				    k->opt, k->name, (unsigned long long)s->paddr,
				    (unsigned long long)end, SIZE_STR(c->cfg->ram_size));
		int ret = src_to_guest(c, k, s->offset, s->paddr, s->filesz);
		if (ret)
			return ret;
		if ((ret = zero_guest(c, s->paddr + s->filesz, s->memsz - s->filesz)))
			return ret;
	}
	return 0;
}

static int bz_parse(struct ctx *c, const struct src *k, const uint8_t *head, size_t headlen,
		    struct image *img)
{
	/* headlen >= 0x206 and "HdrS" is at 0x202 (checked by the caller). */
	size_t hdr_end = 0x202 + (size_t)head[0x201];
	if (hdr_end > headlen)
		return fail(c, -ENOEXEC, "%s %s: truncated bzImage: the setup header ends at offset %zu but the file has %zu bytes",
			    k->opt, k->name, hdr_end, headlen);
	struct setup_header *h = &img->hdr;
	memset(h, 0, sizeof(*h));
	memcpy(h, head + BP_HDR, MIN(hdr_end, BP_HDR + sizeof(*h)) - BP_HDR);
#define HAS(f) (HDR_OFF(f) + sizeof(h->f) <= hdr_end)

	if (h->boot_flag != BOOT_FLAG)
		return fail(c, -ENOEXEC, "%s %s: bzImage without the 0xAA55 boot flag at 0x1fe; corrupt kernel",
			    k->opt, k->name);
	unsigned v = h->version;
	if (v < 0x0206 || !HAS(cmdline_size))
		return fail(c, -ENOEXEC, "%s %s: boot protocol %u.%02u is too old; memvm needs 2.06 or newer (Linux 2.6.22+)",
			    k->opt, k->name, v >> 8, v & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return fail(c, -ENOEXEC, "%s %s: a zImage that loads at 0x10000 (LOADED_HIGH not set); memvm boots bzImages",
			    k->opt, k->name);
	if (v < 0x020c || !HAS(xloadflags) || !(h->xloadflags & XLF_KERNEL_64))
		return fail(c, -ENOEXEC, "%s %s: not a 64-bit kernel (no XLF_KERNEL_64 in xloadflags, protocol %u.%02u); memvm boots bzImages through the 64-bit entry",
			    k->opt, k->name, v >> 8, v & 0xff);

	unsigned sects = h->setup_sects ? h->setup_sects : 4;
	uint64_t setup_size = (uint64_t)(sects + 1) * 512;
	if (setup_size >= k->size)
		return fail(c, -ENOEXEC, "%s %s: truncated bzImage: %llu bytes of setup code but the file has %llu",
			    k->opt, k->name, (unsigned long long)setup_size,
			    (unsigned long long)k->size);
	uint64_t klen = k->size - setup_size;
	if ((uint64_t)h->syssize * 16 > klen)
		return fail(c, -ENOEXEC, "%s %s: truncated bzImage: the header says %llu bytes of kernel but the file has %llu after the setup code",
			    k->opt, k->name, (unsigned long long)h->syssize * 16,
			    (unsigned long long)klen);

	uint64_t pref = v >= 0x020a ? h->pref_address : 0;
	uint64_t init_size = v >= 0x020a ? h->init_size : 0;
	uint64_t load, runtime;
	if (h->relocatable_kernel) {
		uint64_t align = h->kernel_alignment;
		if (!IS_POW2(align))
			return fail(c, -ENOEXEC, "%s %s: kernel_alignment 0x%llx is not a power of two; corrupt bzImage",
				    k->opt, k->name, (unsigned long long)align);
		load = pref >= LAYOUT_HIMEM ? pref : LAYOUT_KERNEL_DEFAULT;
		if (load > UINT64_MAX - align)
			return fail(c, -ENOEXEC, "%s %s: pref_address 0x%llx is out of range; corrupt bzImage",
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
		return fail(c, -ENOEXEC, "%s %s: load address 0x%llx is out of range; corrupt bzImage",
			    k->opt, k->name, (unsigned long long)load);
	img->start = MIN(load, runtime);
	img->end = MAX(lend, rend);
	if (img->start < LAYOUT_HIMEM)
		return fail(c, -ENOEXEC, "%s %s: runs at 0x%llx, inside memvm's boot data below 1 MiB; corrupt bzImage",
			    k->opt, k->name, (unsigned long long)img->start);
	if (img->end > c->low_end)
		return fail(c, -ENOMEM, "%s %s: needs memory up to 0x%llx (load address 0x%llx, init_size %s) but RAM below the MMIO hole ends at 0x%llx; raise -m",
			    k->opt, k->name, (unsigned long long)img->end, (unsigned long long)load,
			    SIZE_STR(init_size), (unsigned long long)c->low_end);

	img->kind = KERNEL_BZIMAGE;
	img->mode = BOOT_MODE_LONG64;
	img->entry = load + ENTRY64_OFFSET;
	img->linux_hdr = true;
	img->cmdline_max = h->cmdline_size;
	img->initrd_end_max = (uint64_t)(HAS(initrd_addr_max) ? h->initrd_addr_max : 0x37ffffff) + 1;
	h->code32_start = (uint32_t)load;
	/* The protected-mode kernel follows the setup sectors. */
	return src_to_guest(c, k, setup_size, load, klen);
#undef HAS
}

static bool looks_like_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return false;
	return n > 0;
}

static int kernel_detect(struct ctx *c, const struct src *k, struct image *img,
			 struct seg **segs, size_t *nseg)
{
	uint8_t head[0x400];
	size_t headlen = (size_t)MIN(k->size, sizeof(head));
	int ret = src_read(k, 0, head, headlen);
	if (ret)
		return fail(c, ret, "%s %s: read failed: %s", k->opt, k->name, strerror(-ret));
	if (headlen == 0)
		return fail(c, -ENOEXEC, "%s %s: empty file; expected a vmlinux ELF or a bzImage", k->opt, k->name);
	if (headlen >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0) {
		if (headlen <= EI_CLASS)
			return fail(c, -ENOEXEC, "%s %s: truncated ELF header (%zu bytes)", k->opt,
				    k->name, headlen);
		return elf_parse(c, k, head, headlen, img, segs, nseg);
	}
	if (headlen >= 0x206 && rd_le(head + 0x202, 4) == HDRS_MAGIC)
		return bz_parse(c, k, head, headlen, img);
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} packed[] = {
		{ "\x1f\x8b", 2, "gzip" },
		{ "\xfd" "7zXZ", 6, "xz" },
		{ "\x28\xb5\x2f\xfd", 4, "zstd" },
		{ "BZh", 3, "bzip2" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(packed); i++)
		if (headlen >= packed[i].len && memcmp(head, packed[i].magic, packed[i].len) == 0)
			return fail(c, -ENOEXEC, "%s %s: %s-compressed file; pass an uncompressed vmlinux or a bzImage",
				    k->opt, k->name, packed[i].name);
	if (headlen >= 0x200 && head[0x1fe] == 0x55 && head[0x1ff] == 0xaa)
		return fail(c, -ENOEXEC, "%s %s: boot sector without the \"HdrS\" setup header at 0x202; not a bzImage memvm can boot",
			    k->opt, k->name);
	if (looks_like_text(head, headlen))
		return fail(c, -ENOEXEC, "%s %s: a text file, not a kernel; expected a vmlinux ELF or a bzImage",
			    k->opt, k->name);
	return fail(c, -ENOEXEC, "%s %s: not a kernel: no ELF magic and no bzImage \"HdrS\" header (%llu bytes)",
		    k->opt, k->name, (unsigned long long)k->size);
}

/* ---- initrd ---- */

/* Highest page-aligned spot below min(initrd limit, low RAM end) that
 * does not overlap the kernel; never below 1 MiB. */
static int initrd_place(struct ctx *c, const struct src *rd, const struct image *img,
			uint64_t *addr)
{
	uint64_t size = rd->size, top = MIN(c->low_end, img->initrd_end_max);
	if (size > c->cfg->ram_size)
		return fail(c, -ENOMEM, "%s %s: %s does not fit in %s of RAM; raise -m", rd->opt,
			    rd->name, SIZE_STR(size), SIZE_STR(c->cfg->ram_size));
	uint64_t a = UINT64_MAX;
	if (size <= top) {
		a = (top - size) & ~0xfffull;
		if (a < img->end && a + size > img->start)
			a = img->start >= size ? ((img->start - size) & ~0xfffull) : UINT64_MAX;
	}
	if (a == UINT64_MAX || a < LAYOUT_HIMEM)
		return fail(c, -ENOMEM, "%s %s: %s does not fit in RAM below 0x%llx next to the kernel at [0x%llx, 0x%llx); raise -m",
			    rd->opt, rd->name, SIZE_STR(size), (unsigned long long)top,
			    (unsigned long long)img->start, (unsigned long long)img->end);
	*addr = a;
	return 0;
}

/* ---- boot data ---- */

static int write_boot_params(struct ctx *c, struct image *img, uint64_t initrd_addr,
			     uint64_t initrd_size, uint64_t setup_data)
{
	uint8_t *bp = calloc(1, BP_SIZE);
	if (!bp)
		return fail(c, -ENOMEM, "boot_params: out of memory");
	struct setup_header *h = &img->hdr;
	if (!img->linux_hdr) {
		memset(h, 0, sizeof(*h));
		h->boot_flag = BOOT_FLAG;
		h->header = HDRS_MAGIC;
		h->version = VMLINUX_BOOT_VERSION;
		h->loadflags = LOADED_HIGH;
		h->kernel_alignment = VMLINUX_KERNEL_ALIGN;
		h->initrd_addr_max = INITRD_ADDR_MAX_DEFAULT;
		h->cmdline_size = LOADER_CMDLINE_MAX_DEFAULT;
		h->code32_start = (uint32_t)img->start;
	}
	h->type_of_loader = LOADER_TYPE_UNDEFINED;
	h->cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	h->ramdisk_image = (uint32_t)initrd_addr;
	h->ramdisk_size = (uint32_t)initrd_size;
	h->setup_data = setup_data;
	memcpy(bp + BP_HDR, h, sizeof(*h));

	struct loader_e820_entry e[LOADER_E820_MAX];
	size_t n = loader_e820(c->cfg->ram_size, e);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		struct boot_e820 be = { e[i].addr, e[i].size, e[i].type };
		memcpy(bp + BP_E820_TABLE + i * sizeof(be), &be, sizeof(be));
	}
	int ret = write_guest(c, "boot_params", LAYOUT_ZERO_PAGE, bp, BP_SIZE);
	free(bp);
	return ret;
}

static int write_pvh_start_info(struct ctx *c, uint64_t initrd_addr, uint64_t initrd_size)
{
	uint8_t page[LAYOUT_ZERO_PAGE - LAYOUT_PVH_START_INFO] = { 0 };
	struct loader_e820_entry e[LOADER_E820_MAX];
	size_t n = loader_e820(c->cfg->ram_size, e);
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
		memcpy(page + (PVH_MEMMAP - LAYOUT_PVH_START_INFO) + i * sizeof(me), &me, sizeof(me));
	}
	return write_guest(c, "PVH start info", LAYOUT_PVH_START_INFO, page, sizeof(page));
}

/* DTB as a SETUP_DTB setup_data node at LAYOUT_SETUP_DATA. */
static int write_dtb(struct ctx *c, size_t *len_out)
{
	void *dtb = NULL;
	size_t len = 0;
	int ret = fdt_build_alloc(c->cfg, &dtb, &len);
	if (ret)
		return fail(c, ret, "building the device tree: %s", strerror(-ret));
	if (len > LAYOUT_SETUP_DATA_MAX - sizeof(struct setup_data_hdr)) {
		ret = fail(c, -ENOSPC, "device tree of %zu bytes does not fit in the %llu bytes of setup_data space; use fewer devices or -machine dt=off",
			   len, (unsigned long long)LAYOUT_SETUP_DATA_MAX);
		goto out;
	}
	struct setup_data_hdr sd = { .next = 0, .type = SETUP_DTB, .len = (uint32_t)len };
	if ((ret = write_guest(c, "setup_data", LAYOUT_SETUP_DATA, &sd, sizeof(sd))) ||
	    (ret = write_guest(c, "device tree", LAYOUT_SETUP_DATA + sizeof(sd), dtb, len)))
		goto out;
	*len_out = len;
out:
	free(dtb);
	return ret;
}

static int check_cfg(struct ctx *c)
{
	const struct boot_config *cfg = c->cfg;
	if (cfg->ncpus == 0 || cfg->ncpus > LOADER_MAX_CPUS)
		return fail(c, -EINVAL, "-smp %u: memvm supports 1 to %u vCPUs; change -smp", cfg->ncpus,
			    LOADER_MAX_CPUS);
	if (cfg->ram_size == 0)
		return fail(c, -EINVAL, "-m 0: the guest needs RAM; raise -m");
	if (cfg->nvirtio > LAYOUT_VIRTIO_MMIO_MAX)
		return fail(c, -EINVAL, "%zu virtio-mmio devices: at most %u; remove some -device options",
			    cfg->nvirtio, (unsigned)LAYOUT_VIRTIO_MMIO_MAX);
	for (size_t i = 0; i < cfg->nvirtio; i++)
		if (cfg->virtio[i].irq > 23)
			return fail(c, -EINVAL, "virtio-mmio device %zu: IRQ %u is beyond the IOAPIC's 24 pins",
				    i, cfg->virtio[i].irq);
	return 0;
}

static int load(struct ctx *c, struct src *k, struct src *rd, struct boot_entry *out,
		struct loader_info *info)
{
	const struct boot_config *cfg = c->cfg;
	struct image img = { 0 };
	struct seg *segs = NULL;
	size_t nseg = 0;
	uint64_t initrd_addr = 0, initrd_size = 0, setup_data = 0;
	size_t dtb_len = 0, mp_len = 0;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	size_t cmdlen = strlen(cmdline);

	int ret = kernel_detect(c, k, &img, &segs, &nseg);
	if (ret)
		goto out;
	bool boot_data = img.mode != BOOT_MODE_REAL16;
	if (boot_data && cfg->ram_size <= LAYOUT_HIMEM) {
		ret = fail(c, -ENOMEM, "-m %s: memvm needs more than 1 MiB of RAM for this kernel; raise -m",
			   SIZE_STR(cfg->ram_size));
		goto out;
	}
	if (boot_data && (cmdlen > img.cmdline_max || cmdlen >= LAYOUT_CMDLINE_MAX)) {
		ret = fail(c, -E2BIG, "kernel command line is %zu bytes but %s %s accepts at most %zu; shorten -append",
			   cmdlen, k->opt, k->name, MIN(img.cmdline_max, (size_t)LAYOUT_CMDLINE_MAX - 1));
		goto out;
	}
	if (segs && (ret = elf_load(c, k, &img, segs, nseg)))
		goto out;
	if (rd) {
		if (img.mode == BOOT_MODE_REAL16 ||
		    (img.mode == BOOT_MODE_PVH32 && img.kind == KERNEL_ELF32 && !img.pvh_entry)) {
			ret = fail(c, -EINVAL, "%s %s: %s %s is a bare-metal payload without a way to receive an initrd; drop -initrd",
				   rd->opt, rd->name, k->opt, k->name);
			goto out;
		}
		if (rd->size == 0) {
			ret = fail(c, -EINVAL, "%s %s: empty file; pass a cpio archive or drop -initrd",
				   rd->opt, rd->name);
			goto out;
		}
		if ((ret = initrd_place(c, rd, &img, &initrd_addr)) ||
		    (ret = src_to_guest(c, rd, 0, initrd_addr, rd->size)))
			goto out;
		initrd_size = rd->size;
	}
	if (boot_data) {
		if ((ret = write_guest(c, "kernel command line", LAYOUT_CMDLINE, cmdline, cmdlen + 1)))
			goto out;
		/* With a DTB the kernel takes CPUs and the IOAPIC from it; an MP
		 * table as well would register them twice. */
		if (!(cfg->want_dtb && img.mode == BOOT_MODE_LONG64) &&
		    (ret = mptable_write(cfg, c->gm, &mp_len, c->err, c->errlen)))
			goto out;
	}
	memset(out, 0, sizeof(*out));
	out->mode = img.mode;
	out->entry = img.entry;
	switch (img.mode) {
	case BOOT_MODE_LONG64:
		if (cfg->want_dtb) {
			if ((ret = write_dtb(c, &dtb_len)))
				goto out;
			setup_data = LAYOUT_SETUP_DATA;
		}
		if ((ret = write_boot_params(c, &img, initrd_addr, initrd_size, setup_data)))
			goto out;
		out->rsi = LAYOUT_ZERO_PAGE;
		out->rsp = LAYOUT_BOOT_STACK;
		break;
	case BOOT_MODE_PVH32:
		if (img.pvh_entry) {
			if ((ret = write_pvh_start_info(c, initrd_addr, initrd_size)))
				goto out;
			out->rbx = LAYOUT_PVH_START_INFO;
		}
		out->rsp = LAYOUT_BOOT_STACK;
		break;
	case BOOT_MODE_REAL16:
		out->rsp = LAYOUT_REAL_STACK;
		break;
	}
	if (info) {
		*info = (struct loader_info){
			.kind = img.kind,
			.kernel_start = img.start,
			.kernel_end = img.end,
			.initrd_addr = initrd_addr,
			.initrd_size = initrd_size,
			.pvh_entry = img.pvh_entry,
			.boot_version = img.linux_hdr ? img.hdr.version : 0,
			.cmdline_max = img.cmdline_max,
			.dtb_size = dtb_len,
			.mptable_size = mp_len,
		};
	}
out:
	free(segs);
	return ret;
}

static void ctx_init(struct ctx *c, const struct boot_config *cfg, struct guest_mem *gm,
		     char *err, size_t errlen)
{
	c->cfg = cfg;
	c->gm = gm;
	c->err = err;
	c->errlen = errlen;
	c->low_end = MIN(cfg->ram_size, LAYOUT_MMIO_HOLE);
	if (err && errlen)
		err[0] = '\0';
}

int loader_load_image(const struct boot_config *cfg, const void *kernel, size_t kernel_len,
		      const void *initrd, size_t initrd_len, struct guest_mem *gm,
		      struct boot_entry *out, struct loader_info *info, char *err, size_t errlen)
{
	struct ctx c;
	ctx_init(&c, cfg, gm, err, errlen);
	int ret = check_cfg(&c);
	if (ret)
		return ret;
	struct src k = {
		.opt = "-kernel",
		.name = cfg->kernel_path ? cfg->kernel_path : "(memory)",
		.buf = kernel ? kernel : (const uint8_t *)"",
		.fd = -1,
		.size = kernel ? kernel_len : 0,
	};
	struct src rd = {
		.opt = "-initrd",
		.name = cfg->initrd_path ? cfg->initrd_path : "(memory)",
		.buf = initrd,
		.fd = -1,
		.size = initrd_len,
	};
	return load(&c, &k, initrd ? &rd : NULL, out, info);
}

int loader_load_ex(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		   struct loader_info *info, char *err, size_t errlen)
{
	struct ctx c;
	struct src k = { .fd = -1 }, rd = { .fd = -1 };
	bool has_initrd = cfg->initrd_path && cfg->initrd_path[0];
	ctx_init(&c, cfg, gm, err, errlen);
	int ret = check_cfg(&c);
	if (ret)
		return ret;
	if (!cfg->kernel_path || !cfg->kernel_path[0])
		return fail(&c, -EINVAL, "no kernel: pass -kernel FILE (a vmlinux ELF or a bzImage)");
	if ((ret = src_open(&c, &k, "-kernel", cfg->kernel_path)))
		goto out;
	if (has_initrd && (ret = src_open(&c, &rd, "-initrd", cfg->initrd_path)))
		goto out;
	ret = load(&c, &k, has_initrd ? &rd : NULL, out, info);
out:
	src_close(&rd);
	src_close(&k);
	return ret;
}

int loader_load(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		char *err, size_t errlen)
{
	return loader_load_ex(cfg, gm, out, NULL, err, errlen);
}
