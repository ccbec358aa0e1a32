/* Test helper: hand-made kernel images (ELF with notes, bzImage) and
 * temporary files, for the loader, the board's preflight and the memvm
 * binary tests. */
#ifndef MEMVM_TEST_KERNEL_IMG_H
#define MEMVM_TEST_KERNEL_IMG_H

#include <check.h>
#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

struct tseg {
	uint32_t type;
	uint64_t paddr, vaddr;
	const void *data;
	uint64_t filesz, memsz, align;
};

/* ehdr, phdrs, then each segment's data. Returns the image length. */
static inline size_t build_elf(uint8_t *buf, size_t cap, bool is64, uint16_t machine,
			       uint64_t entry, const struct tseg *segs, int n)
{
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t off = ehsize + phsize * (size_t)n;
	memset(buf, 0, cap);
	for (int i = 0; i < n; i++) {
		off = (off + 15) & ~(size_t)15;
		ck_assert(off + segs[i].filesz <= cap);
		if (segs[i].data)
			memcpy(buf + off, segs[i].data, segs[i].filesz);
		if (is64) {
			Elf64_Phdr ph = {
				.p_type = segs[i].type,
				.p_offset = off,
				.p_vaddr = segs[i].vaddr,
				.p_paddr = segs[i].paddr,
				.p_filesz = segs[i].filesz,
				.p_memsz = segs[i].memsz,
				.p_align = segs[i].align,
			};
			memcpy(buf + ehsize + (size_t)i * phsize, &ph, sizeof(ph));
		} else {
			Elf32_Phdr ph = {
				.p_type = segs[i].type,
				.p_offset = (uint32_t)off,
				.p_vaddr = (uint32_t)segs[i].vaddr,
				.p_paddr = (uint32_t)segs[i].paddr,
				.p_filesz = (uint32_t)segs[i].filesz,
				.p_memsz = (uint32_t)segs[i].memsz,
				.p_align = (uint32_t)segs[i].align,
			};
			memcpy(buf + ehsize + (size_t)i * phsize, &ph, sizeof(ph));
		}
		off += segs[i].filesz;
	}
	if (is64) {
		Elf64_Ehdr eh = {
			.e_type = ET_EXEC,
			.e_machine = machine,
			.e_version = EV_CURRENT,
			.e_entry = entry,
			.e_phoff = sizeof(Elf64_Ehdr),
			.e_ehsize = sizeof(Elf64_Ehdr),
			.e_phentsize = sizeof(Elf64_Phdr),
			.e_phnum = (uint16_t)n,
		};
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &eh, sizeof(eh));
	} else {
		Elf32_Ehdr eh = {
			.e_type = ET_EXEC,
			.e_machine = machine,
			.e_version = EV_CURRENT,
			.e_entry = (uint32_t)entry,
			.e_phoff = sizeof(Elf32_Ehdr),
			.e_ehsize = sizeof(Elf32_Ehdr),
			.e_phentsize = sizeof(Elf32_Phdr),
			.e_phnum = (uint16_t)n,
		};
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &eh, sizeof(eh));
	}
	return off;
}

/* One ELF note (owner with its NUL, 4-byte aligned) at n: its length. */
static inline size_t kimg_note(uint8_t *n, const char *owner, uint32_t type, const void *desc,
			       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(owner) + 1;
	size_t name_room = (namesz + 3) & ~3u, desc_room = (descsz + 3) & ~3u;
	memset(n, 0, 12 + name_room + desc_room);
	put32(n, namesz);
	put32(n + 4, descsz);
	put32(n + 8, type);
	memcpy(n + 12, owner, namesz);
	memcpy(n + 12 + name_room, desc, descsz);
	return 12 + name_room + desc_room;
}

#define KIMG_BASE 0x1000000ull /* 16 MiB, where vmlinux loads */

/* A 64-bit ELF at KIMG_BASE: one segment of memsz bytes and, when
 * is_linux, the note of owner "Linux" that every vmlinux since 4.19
 * carries (LINUX_ELFNOTE_BUILD_SALT). Without it, a bare-metal payload. */
static inline size_t kimg_elf64(uint8_t *buf, size_t cap, bool is_linux, uint64_t memsz)
{
	static const uint8_t hlt[16] = { 0xf4, 0xeb, 0xfd };
	uint8_t note[64];
	size_t nlen = kimg_note(note, "Linux", 0x100, "salt", 4);
	struct tseg s[] = {
		{ PT_LOAD, KIMG_BASE, KIMG_BASE, hlt, sizeof(hlt), memsz, 0x1000 },
		{ PT_NOTE, 0, 0, note, nlen, nlen, 4 },
	};
	return build_elf(buf, cap, true, EM_X86_64, KIMG_BASE, s, is_linux ? 2 : 1);
}

struct bzopt {
	uint8_t setup_sects;
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	bool hdrs;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	size_t klen;
};

static inline struct bzopt bz_default(void)
{
	return (struct bzopt){
		.setup_sects = 4,
		.version = 0x020f,
		.loadflags = 1,
		.xloadflags = 1,
		.hdrs = true,
		.cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff,
		.relocatable = 1,
		.pref_address = 0x1000000,
		.init_size = 0x400000,
		.klen = 8192,
	};
}

/* Returns a malloc'd image in *out. */
static inline size_t build_bz(const struct bzopt *o, uint8_t **out)
{
	unsigned sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup = (sects + 1) * 512ull, len = setup + o->klen;
	uint8_t *b = calloc(1, len);
	ck_assert_ptr_nonnull(b);
	b[0x1f1] = o->setup_sects;
	put32(b + 0x1f4, (uint32_t)(o->klen / 16)); /* syssize */
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a; /* header ends at 0x26c */
	if (o->hdrs)
		memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, o->version);
	put16(b + 0x20e, 0x1234); /* kernel_version: marker copied to boot_params */
	b[0x211] = o->loadflags;
	put32(b + 0x214, 0x100000);
	put32(b + 0x22c, o->initrd_addr_max);
	put32(b + 0x230, 0x200000);
	b[0x234] = o->relocatable;
	b[0x235] = 21;
	put16(b + 0x236, o->xloadflags);
	put32(b + 0x238, o->cmdline_size);
	put64(b + 0x258, o->pref_address);
	put32(b + 0x260, o->init_size);
	for (size_t i = 0; i < o->klen; i++)
		b[setup + i] = (uint8_t)(i * 7 + 1);
	*out = b;
	return len;
}

/* A file with len bytes of data, then grown to sparse_len if that is
 * larger (sparse: costs nothing). The malloc'd path is the caller's. */
static inline char *write_tmp(const void *data, size_t len, size_t sparse_len)
{
	char *path = strdup("/tmp/memvm-test-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	if (len)
		ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	if (sparse_len)
		ck_assert_int_eq(ftruncate(fd, (off_t)sparse_len), 0);
	close(fd);
	return path;
}

#endif
