#include "vmm/boot/fdt.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/boot/layout.h"

/* Interrupt specifier types of x86 Linux's IOAPIC binding
 * (arch/x86/kernel/devicetree.c, of_ioapic_type[]). */
#define IOAPIC_IRQ_EDGE_FALLING 0
#define IOAPIC_IRQ_LEVEL_HIGH   1
#define IOAPIC_IRQ_LEVEL_LOW    2
#define IOAPIC_IRQ_EDGE_RISING  3
/* ISA and virtio-mmio interrupts are edge-triggered, active high, as in
 * the MP table (ISA bus conforming). */
#define DEVICE_IRQ_TYPE IOAPIC_IRQ_EDGE_RISING
#define UART_CLOCK      1843200

static int fdt_err(int e)
{
	switch (e) {
	case 0:
		return 0;
	case -FDT_ERR_NOSPACE:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}

/* Each step returns a libfdt error; CK turns it into an errno and bails. */
#define CK(call)                           \
	do {                               \
		int e_ = (call);           \
		if (e_ < 0) {              \
			ret = fdt_err(e_); \
			goto out;          \
		}                          \
	} while (0)

static int prop_reg64(void *fdt, uint64_t addr, uint64_t size)
{
	fdt32_t reg[4] = {
		cpu_to_fdt32((uint32_t)(addr >> 32)),
		cpu_to_fdt32((uint32_t)addr),
		cpu_to_fdt32((uint32_t)(size >> 32)),
		cpu_to_fdt32((uint32_t)size),
	};
	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_cells(void *fdt, const char *name, const uint32_t *v, size_t n)
{
	fdt32_t cells[8];
	for (size_t i = 0; i < n && i < 8; i++)
		cells[i] = cpu_to_fdt32(v[i]);
	return fdt_property(fdt, name, cells, (int)(n * sizeof(fdt32_t)));
}

int fdt_build(const struct boot_config *cfg, void *buf, size_t size, size_t *len_out)
{
	if (!cfg || !buf || cfg->ncpus == 0 || cfg->ncpus > VM_MAX_CPUS ||
	    cfg->nvirtio > LAYOUT_VIRTIO_MMIO_MAX)
		return -EINVAL;
	if (size > INT32_MAX)
		size = INT32_MAX;
	int ret = 0;
	char name[64];
	void *fdt = buf;

	CK(fdt_create(fdt, (int)size));
	CK(fdt_finish_reservemap(fdt));
	CK(fdt_begin_node(fdt, ""));
	CK(fdt_property_string(fdt, "compatible", "memvm,x86-64"));
	CK(fdt_property_string(fdt, "model", "memvm"));
	CK(fdt_property_u32(fdt, "#address-cells", 2));
	CK(fdt_property_u32(fdt, "#size-cells", 2));
	CK(fdt_property_u32(fdt, "interrupt-parent", FDT_PHANDLE_IOAPIC));

	CK(fdt_begin_node(fdt, "chosen"));
	CK(fdt_property_string(fdt, "bootargs", cfg->cmdline ? cfg->cmdline : ""));
	CK(fdt_end_node(fdt));

	struct boot_e820_entry e820[BOOT_E820_MAX];
	size_t n = boot_e820_build(cfg->ram_size, e820);
	for (size_t i = 0; i < n; i++) {
		if (e820[i].type != E820_TYPE_RAM)
			continue;
		snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)e820[i].addr);
		CK(fdt_begin_node(fdt, name));
		CK(fdt_property_string(fdt, "device_type", "memory"));
		CK(prop_reg64(fdt, e820[i].addr, e820[i].size));
		CK(fdt_end_node(fdt));
	}

	CK(fdt_begin_node(fdt, "cpus"));
	CK(fdt_property_u32(fdt, "#address-cells", 1));
	CK(fdt_property_u32(fdt, "#size-cells", 0));
	for (uint32_t i = 0; i < cfg->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		CK(fdt_begin_node(fdt, name));
		CK(fdt_property_string(fdt, "device_type", "cpu"));
		CK(fdt_property_u32(fdt, "reg", i)); /* local APIC id */
		CK(fdt_end_node(fdt));
	}
	CK(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "interrupt-controller@%llx",
		 (unsigned long long)LAYOUT_IOAPIC);
	CK(fdt_begin_node(fdt, name));
	CK(fdt_property_string(fdt, "compatible", "intel,ce4100-ioapic"));
	CK(fdt_property(fdt, "interrupt-controller", NULL, 0));
	CK(fdt_property_u32(fdt, "#interrupt-cells", 2));
	CK(fdt_property_u32(fdt, "#address-cells", 0));
	CK(prop_reg64(fdt, LAYOUT_IOAPIC, 0x1000));
	CK(fdt_property_u32(fdt, "phandle", FDT_PHANDLE_IOAPIC));
	CK(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "lapic@%llx", (unsigned long long)LAYOUT_LAPIC);
	CK(fdt_begin_node(fdt, name));
	CK(fdt_property_string(fdt, "compatible", "intel,ce4100-lapic"));
	CK(prop_reg64(fdt, LAYOUT_LAPIC, 0x1000));
	CK(fdt_property_u32(fdt, "phandle", FDT_PHANDLE_LAPIC));
	CK(fdt_end_node(fdt));

	if (cfg->serial) {
		/* I/O ports need an ISA bus node (named "isa": of_bus_isa_match)
		 * whose ranges map I/O space 1:1 to the root; 8250_of then gets
		 * an IORESOURCE_IO and uses port I/O. */
		CK(fdt_begin_node(fdt, "isa@i0"));
		CK(fdt_property_string(fdt, "compatible", "isa"));
		CK(fdt_property_string(fdt, "device_type", "isa"));
		CK(fdt_property_u32(fdt, "#address-cells", 2));
		CK(fdt_property_u32(fdt, "#size-cells", 1));
		const uint32_t ranges[] = { 1, 0, 0, 0, 0x10000 };
		CK(prop_cells(fdt, "ranges", ranges, ARRAY_SIZE(ranges)));
		snprintf(name, sizeof(name), "serial@i%x", cfg->serial_port);
		CK(fdt_begin_node(fdt, name));
		CK(fdt_property_string(fdt, "compatible", "ns16550a"));
		const uint32_t reg[] = { 1, cfg->serial_port, 8 };
		CK(prop_cells(fdt, "reg", reg, ARRAY_SIZE(reg)));
		const uint32_t irq[] = { cfg->serial_irq, DEVICE_IRQ_TYPE };
		CK(prop_cells(fdt, "interrupts", irq, ARRAY_SIZE(irq)));
		CK(fdt_property_u32(fdt, "interrupt-parent", FDT_PHANDLE_IOAPIC));
		CK(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK));
		CK(fdt_end_node(fdt));
		CK(fdt_end_node(fdt));
	}

	for (size_t i = 0; i < cfg->nvirtio; i++) {
		const struct boot_mmio_dev *d = &cfg->virtio[i];
		snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)d->base);
		CK(fdt_begin_node(fdt, name));
		CK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
		CK(prop_reg64(fdt, d->base, d->size));
		const uint32_t irq[] = { d->irq, DEVICE_IRQ_TYPE };
		CK(prop_cells(fdt, "interrupts", irq, ARRAY_SIZE(irq)));
		CK(fdt_property_u32(fdt, "interrupt-parent", FDT_PHANDLE_IOAPIC));
		CK(fdt_property(fdt, "dma-coherent", NULL, 0));
		CK(fdt_end_node(fdt));
	}

	CK(fdt_end_node(fdt));
	CK(fdt_finish(fdt));
	*len_out = fdt_totalsize(fdt);
out:
	return ret;
}

int fdt_build_alloc(const struct boot_config *cfg, void **out, size_t *len_out)
{
	size_t size = 4096;
	for (;;) {
		void *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		int ret = fdt_build(cfg, buf, size, len_out);
		if (ret == 0) {
			*out = buf;
			return 0;
		}
		free(buf);
		if (ret != -ENOSPC || size >= (16u << 20))
			return ret;
		size *= 2;
	}
}

int fdt_write_file(const struct boot_config *cfg, const char *path, char *err, size_t errlen)
{
	void *dtb = NULL;
	size_t len = 0;
	int fd = -1;
	int ret = fdt_build_alloc(cfg, &dtb, &len);
	if (ret) {
		snprintf(err, errlen, "dumpdtb=%s: building the device tree: %s", path,
			 strerror(-ret));
		return ret;
	}
	fd = open_output(path, false);
	if (fd < 0) {
		ret = fd;
		if (ret == -ESPIPE)
			snprintf(err, errlen,
				 "dumpdtb=%s: not a regular file (a pipe, socket, "
				 "directory or device); give a file name",
				 path);
		else
			snprintf(err, errlen, "dumpdtb=%s: cannot create: %s", path,
				 strerror(-ret));
		goto out;
	}
	ret = write_full(fd, dtb, len);
	if (ret) {
		snprintf(err, errlen, "dumpdtb=%s: write failed: %s", path, strerror(-ret));
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		ret = -errno;
		snprintf(err, errlen, "dumpdtb=%s: write failed: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(dtb);
	return ret;
}
