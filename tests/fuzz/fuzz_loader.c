#include "vmm/boot/loader.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
static struct guest_mem *gm;
static uint8_t *hva;
#define RAM (64u << 20)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!gm) {
		hva = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		gm = guest_mem_new();
		if (guest_mem_add(gm, 0, RAM, hva, NULL))
			abort();
	}
	if (size < 2)
		return 0;
	struct boot_config c;
	loader_config_init(&c);
	c.ram_size = RAM;
	c.ncpus = 1 + data[0] % 4;
	c.prefer_pvh = data[1] & 1;
	c.want_dtb = data[1] & 2;
	c.cmdline = "console=ttyS0";
	struct boot_entry e;
	struct loader_info i;
	char err[256];
	static const uint8_t rd[100] = { 1 };
	int r = loader_load_image(&c, data + 2, size - 2, (data[1] & 4) ? rd : NULL, sizeof(rd), gm,
				  &e, &i, err, sizeof(err));
	if (r && (!err[0] || strchr(err, '\n')))
		abort();
	return 0;
}
