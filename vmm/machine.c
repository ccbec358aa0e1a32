#include "vmm/machine.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory/guest_mem.h"
#include "vmm/cli.h"
#include "vmm/layout.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

unsigned machine_ram_layout(uint64_t size, uint64_t gpa[2], uint64_t len[2], uint64_t off[2])
{
	gpa[0] = 0;
	off[0] = 0;
	len[0] = size < LAYOUT_MMIO_HOLE ? size : LAYOUT_MMIO_HOLE;
	if (size <= LAYOUT_MMIO_HOLE)
		return 1;
	gpa[1] = LAYOUT_MMIO_HOLE_END;
	off[1] = LAYOUT_MMIO_HOLE;
	len[1] = size - LAYOUT_MMIO_HOLE;
	return 2;
}

int machine_ram_map(struct machine_ram *mr, const struct vm_config *cfg, struct guest_mem *gm,
		    char *err, size_t errlen)
{
	memset(mr, 0, sizeof(*mr));
	void *p = mmap(NULL, cfg->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "-m %llu MiB: cannot map guest RAM: %s",
			 (unsigned long long)(cfg->ram_size >> 20), strerror(errno));
		return -errno;
	}
	mr->hva = p;
	mr->size = cfg->ram_size;
	uint64_t gpa[2], len[2], off[2];
	unsigned n = machine_ram_layout(cfg->ram_size, gpa, len, off);
	for (unsigned i = 0; i < n; i++) {
		int ret = guest_mem_add(gm, gpa[i], len[i], (uint8_t *)p + off[i], NULL);
		if (ret) {
			snprintf(err, errlen, "registering guest RAM: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void machine_ram_unmap(struct machine_ram *mr)
{
	if (mr->hva)
		munmap(mr->hva, mr->size);
	mr->hva = NULL;
}

/* TEMPORARY minimal ELF loader until vmm/loader lands. */
int machine_load(struct vm *vm, struct boot_entry *entry, bool emulated_kernel, char *err,
		 size_t errlen)
{
	(void)emulated_kernel;
	const char *path = vm_config(vm)->kernel;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "-kernel %s: %s", path, strerror(errno));
		return -errno;
	}
	struct stat st;
	fstat(fd, &st);
	uint8_t *f = malloc((size_t)st.st_size);
	if (read(fd, f, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(f);
		return -EIO;
	}
	close(fd);
	memset(entry, 0, sizeof(*entry));
	if (f[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr *eh = (void *)f;
		for (int i = 0; i < eh->e_phnum; i++) {
			Elf64_Phdr *ph = (void *)(f + eh->e_phoff + (size_t)i * eh->e_phentsize);
			if (ph->p_type != PT_LOAD)
				continue;
			void *dst = guest_mem_ptr(vm_guest_mem(vm), ph->p_paddr, ph->p_memsz);
			memset(dst, 0, ph->p_memsz);
			memcpy(dst, f + ph->p_offset, ph->p_filesz);
		}
		entry->mode = BOOT_MODE_LONG64;
		entry->entry = eh->e_entry;
		entry->rsp = LAYOUT_BOOT_STACK;
		entry->rsi = LAYOUT_ZERO_PAGE;
	} else {
		Elf32_Ehdr *eh = (void *)f;
		for (int i = 0; i < eh->e_phnum; i++) {
			Elf32_Phdr *ph = (void *)(f + eh->e_phoff + (size_t)i * eh->e_phentsize);
			if (ph->p_type != PT_LOAD)
				continue;
			void *dst = guest_mem_ptr(vm_guest_mem(vm), ph->p_paddr, ph->p_memsz);
			memset(dst, 0, ph->p_memsz);
			memcpy(dst, f + ph->p_offset, ph->p_filesz);
		}
		entry->mode = BOOT_MODE_REAL16;
		entry->entry = eh->e_entry;
		entry->rsp = LAYOUT_REAL_STACK;
	}
	free(f);
	return 0;
}
