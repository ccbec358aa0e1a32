/* The loader's front: input files, kernel detection, initrd placement, the
 * configuration checks and the order of the boot steps. Every check runs
 * before guest memory is touched (plan_make), so loader_probe is the same
 * code without the writes (plan_load). The formats live in elf.c,
 * bzimage.c and zeropage.c. */
#include "vmm/boot/loader_int.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/serial.h"
#include "vmm/boot/mptable.h"
#include "vmm/lib/size.h"

/* ---- input files ---- */

int loader_src_read(const struct src *s, uint64_t off, void *dst, uint64_t len)
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
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
	 * refused below, as not a regular file). */
	s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (s->fd < 0)
		return loader_fail(c, -errno, "%s %s: cannot open: %s", opt, path, strerror(errno));
	if (fstat(s->fd, &st) < 0) {
		int e = errno;
		close(s->fd);
		s->fd = -1;
		return loader_fail(c, -e, "%s %s: cannot stat: %s", opt, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(s->fd);
		s->fd = -1;
		return loader_fail(c, -EINVAL, "%s %s: %s, not a regular file", opt, path,
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

int loader_src_to_guest(struct ctx *c, const struct src *s, uint64_t off, uint64_t gpa,
			uint64_t len)
{
	if (len == 0)
		return 0;
	void *dst;
	int ret = guest_mem_access(c->gm, gpa, len, &dst);
	if (ret == -ENOMEM)
		return loader_fail(c, ret, "%s %s: guest RAM has no backing page: %s", s->opt,
				   s->name, GUEST_MEM_NOBACK_FIX);
	if (ret)
		return loader_fail(
			c, -EFAULT, "%s %s: [0x%llx, 0x%llx) is not in guest RAM; raise -m", s->opt,
			s->name, (unsigned long long)gpa, (unsigned long long)(gpa + len));
	ret = loader_src_read(s, off, dst, len);
	if (ret == -EINVAL)
		return loader_fail(
			c, ret,
			"%s %s: truncated: needs bytes up to offset %llu but the file has %llu",
			s->opt, s->name, (unsigned long long)(off + len),
			(unsigned long long)s->size);
	/* read() faults on the destination when guest RAM cannot be backed
	 * (an empty huge page pool), not because of the file. */
	if (ret == -EFAULT)
		return loader_fail(c, -ENOMEM, "%s %s: guest RAM has no backing page: %s", s->opt,
				   s->name, GUEST_MEM_NOBACK_FIX);
	if (ret)
		return loader_fail(c, ret,
				   "%s %s: read failed (%s); was the file changed while loading?",
				   s->opt, s->name, strerror(-ret));
	return 0;
}

int loader_zero_guest(struct ctx *c, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return 0;
	void *p;
	int ret = guest_mem_access(c->gm, gpa, len, &p);
	if (ret == -ENOMEM)
		return loader_fail(c, ret,
				   "zeroing [0x%llx, 0x%llx): guest RAM has no backing page: %s",
				   (unsigned long long)gpa, (unsigned long long)(gpa + len),
				   GUEST_MEM_NOBACK_FIX);
	if (ret)
		return loader_fail(c, -EFAULT, "[0x%llx, 0x%llx) is not in guest RAM; raise -m",
				   (unsigned long long)gpa, (unsigned long long)(gpa + len));
	memset(p, 0, len);
	return 0;
}

bool loader_ram_has(const struct ctx *c, uint64_t gpa, uint64_t len)
{
	unsigned long long rgpa[2], rlen[2], roff[2];
	unsigned n = layout_ram_regions(c->cfg->ram_size, rgpa, rlen, roff);
	uint64_t end;
	if (!add_ok(gpa, len, &end))
		return false;
	for (unsigned i = 0; i < n; i++)
		if (gpa >= rgpa[i] && end <= rgpa[i] + rlen[i])
			return true;
	return false;
}

int loader_write_guest(struct ctx *c, const char *what, uint64_t gpa, const void *p, size_t len)
{
	int ret = guest_mem_write(c->gm, gpa, p, len);
	if (ret == -ENOMEM)
		return loader_fail(c, ret,
				   "%s at [0x%llx, 0x%llx): guest RAM has no backing page: %s",
				   what, (unsigned long long)gpa, (unsigned long long)(gpa + len),
				   GUEST_MEM_NOBACK_FIX);
	if (ret)
		return loader_fail(c, -EFAULT,
				   "%s at [0x%llx, 0x%llx) is not in guest RAM; raise -m", what,
				   (unsigned long long)gpa, (unsigned long long)(gpa + len));
	return 0;
}

/* ---- configuration ---- */

void loader_config_init(struct boot_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 1;
	cfg->serial = true;
	cfg->serial_port = SERIAL_COM1_BASE;
	cfg->serial_irq = LAYOUT_IRQ_SERIAL0;
}

/* ---- kernel images ---- */

static bool looks_like_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return false;
	return n > 0;
}

static int kernel_detect(struct ctx *c, const struct src *k, struct image *img, struct seg **segs,
			 size_t *nseg)
{
	uint8_t head[0x400];
	size_t headlen = (size_t)MIN(k->size, sizeof(head));
	int ret = loader_src_read(k, 0, head, headlen);
	if (ret)
		return loader_fail(c, ret, "%s %s: read failed: %s", k->opt, k->name,
				   strerror(-ret));
	if (headlen == 0)
		return loader_fail(c, -ENOEXEC,
				   "%s %s: empty file; expected a vmlinux ELF or a bzImage", k->opt,
				   k->name);
	if (headlen >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0) {
		if (headlen <= EI_CLASS)
			return loader_fail(c, -ENOEXEC, "%s %s: truncated ELF header (%zu bytes)",
					   k->opt, k->name, headlen);
		return elf_parse(c, k, head, headlen, img, segs, nseg);
	}
	if (headlen >= 0x206 && rd_le(head + 0x202, 4) == HDRS_MAGIC)
		return bzimage_parse(c, k, head, headlen, img);
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} packed[] = {
		{ "\x1f\x8b", 2, "gzip" },
		{ "\xfd"
		  "7zXZ",
		  6, "xz" },
		{ "\x28\xb5\x2f\xfd", 4, "zstd" },
		{ "BZh", 3, "bzip2" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(packed); i++)
		if (headlen >= packed[i].len && memcmp(head, packed[i].magic, packed[i].len) == 0)
			return loader_fail(
				c, -ENOEXEC,
				"%s %s: %s-compressed file; pass an uncompressed vmlinux or a bzImage",
				k->opt, k->name, packed[i].name);
	if (headlen >= 0x200 && head[0x1fe] == 0x55 && head[0x1ff] == 0xaa)
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: boot sector without the \"HdrS\" setup header at 0x202; not a bzImage memvm can boot",
			k->opt, k->name);
	if (looks_like_text(head, headlen))
		return loader_fail(
			c, -ENOEXEC,
			"%s %s: a text file, not a kernel; expected a vmlinux ELF or a bzImage",
			k->opt, k->name);
	return loader_fail(
		c, -ENOEXEC,
		"%s %s: not a kernel: no ELF magic and no bzImage \"HdrS\" header (%llu bytes)",
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
		return loader_fail(c, -ENOMEM, "%s %s: %s does not fit in %s of RAM; raise -m",
				   rd->opt, rd->name, SIZE_STR(size), SIZE_STR(c->cfg->ram_size));
	uint64_t a = UINT64_MAX;
	if (size <= top) {
		a = (top - size) & ~0xfffull;
		if (a < img->end && a + size > img->start)
			a = img->start >= size ? ((img->start - size) & ~0xfffull) : UINT64_MAX;
	}
	if (a == UINT64_MAX || a < LAYOUT_HIMEM)
		return loader_fail(
			c, -ENOMEM,
			"%s %s: %s does not fit in RAM below 0x%llx next to the kernel at [0x%llx, 0x%llx); raise -m",
			rd->opt, rd->name, SIZE_STR(size), (unsigned long long)top,
			(unsigned long long)img->start, (unsigned long long)img->end);
	*addr = a;
	return 0;
}

/* ---- the boot steps ---- */

static int check_cfg(struct ctx *c)
{
	const struct boot_config *cfg = c->cfg;
	if (cfg->ncpus == 0 || cfg->ncpus > VM_MAX_CPUS)
		return loader_fail(c, -EINVAL, "-smp %u: memvm supports 1 to %u vCPUs; change -smp",
				   cfg->ncpus, VM_MAX_CPUS);
	if (cfg->ram_size == 0)
		return loader_fail(c, -EINVAL, "-m 0: the guest needs RAM; raise -m");
	if (cfg->nvirtio > LAYOUT_VIRTIO_MMIO_MAX)
		return loader_fail(
			c, -EINVAL,
			"%zu virtio-mmio devices: at most %u; remove some -device options",
			cfg->nvirtio, (unsigned)LAYOUT_VIRTIO_MMIO_MAX);
	for (size_t i = 0; i < cfg->nvirtio; i++)
		if (cfg->virtio[i].irq > 23)
			return loader_fail(
				c, -EINVAL,
				"virtio-mmio device %zu: IRQ %u is beyond the IOAPIC's 24 pins", i,
				cfg->virtio[i].irq);
	return 0;
}

/* A load decided and checked against the configuration; nothing of it is
 * in guest memory yet. */
struct plan {
	struct image img;
	struct seg *segs; /* ELF */
	size_t nseg;
	bool boot_data; /* command line, MP table, boot_params or start info */
	bool mptable;
	uint64_t initrd_addr, initrd_size;
	void *dtb; /* SETUP_DTB for the 64-bit entry, or NULL */
	size_t dtb_len;
};

static void plan_free(struct plan *p)
{
	free(p->segs);
	free(p->dtb);
}

/* Everything the load would refuse, from the files' headers and sizes. */
static int plan_make(struct ctx *c, const struct src *k, const struct src *rd, struct plan *p)
{
	const struct boot_config *cfg = c->cfg;
	struct image *img = &p->img;
	size_t cmdlen = cfg->cmdline ? strlen(cfg->cmdline) : 0;

	int ret = kernel_detect(c, k, img, &p->segs, &p->nseg);
	if (ret)
		return ret;
	p->boot_data = img->mode != BOOT_MODE_REAL16;
	if (p->boot_data && cfg->ram_size <= LAYOUT_HIMEM)
		return loader_fail(
			c, -ENOMEM,
			"-m %s: memvm needs more than 1 MiB of RAM for this kernel; raise -m",
			SIZE_STR(cfg->ram_size));
	if (p->boot_data && (cmdlen > img->cmdline_max || cmdlen >= LAYOUT_CMDLINE_MAX)) {
		size_t most = MIN(img->cmdline_max, (size_t)LAYOUT_CMDLINE_MAX - 1);
		size_t added = MIN(cfg->cmdline_added, cmdlen);
		if (added)
			return loader_fail(
				c, -E2BIG,
				"kernel command line is %zu bytes (%zu added by memvm for "
				"devices and host quirks) but %s %s accepts at most %zu; shorten "
				"-append to %zu bytes or use -machine host-quirks=off",
				cmdlen, added, k->opt, k->name, most,
				most > added ? most - added - 1 : 0);
		return loader_fail(c, -E2BIG,
				   "kernel command line is %zu bytes but %s %s accepts at most "
				   "%zu; shorten -append",
				   cmdlen, k->opt, k->name, most);
	}
	if (p->segs && (ret = elf_check(c, k, img, p->segs, p->nseg)))
		return ret;
	if (rd) {
		if (img->mode == BOOT_MODE_REAL16 ||
		    (img->mode == BOOT_MODE_PVH32 && img->kind == KERNEL_ELF32 && !img->pvh_entry))
			return loader_fail(
				c, -EINVAL,
				"%s %s: %s %s is a bare-metal payload without a way to receive an initrd; drop -initrd",
				rd->opt, rd->name, k->opt, k->name);
		if (rd->size == 0)
			return loader_fail(c, -EINVAL,
					   "%s %s: empty file; pass a cpio archive or drop -initrd",
					   rd->opt, rd->name);
		if ((ret = initrd_place(c, rd, img, &p->initrd_addr)))
			return ret;
		p->initrd_size = rd->size;
	}
	/* With a DTB the kernel takes CPUs and the IOAPIC from it; an MP
	 * table as well would register them twice. */
	bool dtb = cfg->want_dtb && img->mode == BOOT_MODE_LONG64;
	p->mptable = p->boot_data && !dtb;
	if (p->mptable && (ret = mptable_check(cfg, c->err, c->errlen)))
		return ret;
	if (dtb && (ret = zeropage_build_dtb(c, &p->dtb, &p->dtb_len)))
		return ret;
	return 0;
}

/* mptable_size is what mptable_write writes. */
static void plan_info(const struct plan *p, const struct boot_config *cfg, struct loader_info *info)
{
	const struct image *img = &p->img;
	*info = (struct loader_info){
		.kind = img->kind,
		.mode = img->mode,
		.linux_kernel = img->linux_kernel,
		.kernel_start = img->start,
		.kernel_end = img->end,
		.initrd_addr = p->initrd_addr,
		.initrd_size = p->initrd_size,
		.pvh_entry = img->pvh_entry,
		.boot_version = img->linux_hdr ? img->hdr.version : 0,
		.cmdline_max = img->cmdline_max,
		.dtb_size = p->dtb_len,
		.mptable_size = p->mptable ? mptable_size(cfg) : 0,
	};
}

/* Puts the plan into guest memory. */
static int plan_load(struct ctx *c, const struct src *k, const struct src *rd, struct plan *p,
		     struct boot_entry *out)
{
	const struct boot_config *cfg = c->cfg;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	uint64_t setup_data = 0;
	int ret;

	if (p->segs && (ret = elf_load(c, k, p->segs, p->nseg)))
		return ret;
	if (p->img.kind == KERNEL_BZIMAGE && (ret = bzimage_load(c, k, &p->img)))
		return ret;
	if (rd && (ret = loader_src_to_guest(c, rd, 0, p->initrd_addr, p->initrd_size)))
		return ret;
	if (p->boot_data && (ret = loader_write_guest(c, "kernel command line", LAYOUT_CMDLINE,
						      cmdline, strlen(cmdline) + 1)))
		return ret;
	if (p->mptable && (ret = mptable_write(cfg, c->gm, NULL, c->err, c->errlen)))
		return ret;
	memset(out, 0, sizeof(*out));
	out->mode = p->img.mode;
	out->entry = p->img.entry;
	switch (p->img.mode) {
	case BOOT_MODE_LONG64:
		if (p->dtb) {
			if ((ret = zeropage_write_dtb(c, p->dtb, p->dtb_len)))
				return ret;
			setup_data = LAYOUT_SETUP_DATA;
		}
		if ((ret = zeropage_write_boot_params(c, &p->img, p->initrd_addr, p->initrd_size,
						      setup_data)))
			return ret;
		out->rsi = LAYOUT_ZERO_PAGE;
		out->rsp = LAYOUT_BOOT_STACK;
		break;
	case BOOT_MODE_PVH32:
		if (p->img.pvh_entry) {
			if ((ret = zeropage_write_pvh_start_info(c, p->initrd_addr,
								 p->initrd_size)))
				return ret;
			out->rbx = LAYOUT_PVH_START_INFO;
		}
		out->rsp = LAYOUT_BOOT_STACK;
		break;
	case BOOT_MODE_REAL16:
		out->rsp = LAYOUT_REAL_STACK;
		break;
	}
	return 0;
}

static int load(struct ctx *c, const struct src *k, const struct src *rd, struct boot_entry *out,
		struct loader_info *info)
{
	struct plan p = { 0 };
	int ret = plan_make(c, k, rd, &p);
	if (!ret)
		ret = plan_load(c, k, rd, &p, out);
	if (!ret && info)
		plan_info(&p, c->cfg, info);
	plan_free(&p);
	return ret;
}

static void ctx_init(struct ctx *c, const struct boot_config *cfg, struct guest_mem *gm, char *err,
		     size_t errlen)
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

/* The start of loader_load_ex and loader_probe: the configuration checks
 * and the files opened (rd->fd stays -1 without an initrd). */
static int files_open(struct ctx *c, struct src *k, struct src *rd)
{
	const struct boot_config *cfg = c->cfg;
	int ret = check_cfg(c);
	if (ret)
		return ret;
	if (!cfg->kernel_path || !cfg->kernel_path[0])
		return loader_fail(c, -EINVAL,
				   "no kernel: pass -kernel FILE (a vmlinux ELF or a bzImage)");
	if ((ret = src_open(c, k, "-kernel", cfg->kernel_path)))
		return ret;
	if (cfg->initrd_path && cfg->initrd_path[0] &&
	    (ret = src_open(c, rd, "-initrd", cfg->initrd_path)))
		return ret;
	return 0;
}

int loader_load_ex(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		   struct loader_info *info, char *err, size_t errlen)
{
	struct ctx c;
	struct src k = { .fd = -1 }, rd = { .fd = -1 };
	ctx_init(&c, cfg, gm, err, errlen);
	int ret = files_open(&c, &k, &rd);
	if (!ret)
		ret = load(&c, &k, rd.fd >= 0 ? &rd : NULL, out, info);
	src_close(&rd);
	src_close(&k);
	return ret;
}

int loader_probe(const struct boot_config *cfg, struct loader_info *info, char *err, size_t errlen)
{
	struct ctx c;
	struct src k = { .fd = -1 }, rd = { .fd = -1 };
	struct plan p = { 0 };
	ctx_init(&c, cfg, NULL, err, errlen);
	int ret = files_open(&c, &k, &rd);
	if (!ret)
		ret = plan_make(&c, &k, rd.fd >= 0 ? &rd : NULL, &p);
	if (!ret && info)
		plan_info(&p, cfg, info);
	plan_free(&p);
	src_close(&rd);
	src_close(&k);
	return ret;
}

int loader_load(const struct boot_config *cfg, struct guest_mem *gm, struct boot_entry *out,
		char *err, size_t errlen)
{
	return loader_load_ex(cfg, gm, out, NULL, err, errlen);
}
