#include "vmm/boot/mptable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/layout.h"

/* Structures of the MP specification 1.4 (chapter 4), little-endian. */
struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* configuration table */
	uint8_t length;    /* in 16-byte units: 1 */
	uint8_t spec;      /* 4: version 1.4 */
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7: IMCR present (PIC mode) */
	uint8_t feature3[3];
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* header and entries */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count; /* entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* also the layout of local interrupt entries */
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "mpf_intel");
_Static_assert(sizeof(struct mpc_table) == 44, "mpc_table");
_Static_assert(sizeof(struct mpc_cpu) == 20, "mpc_cpu");
_Static_assert(sizeof(struct mpc_bus) == 8, "mpc_bus");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "mpc_ioapic");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "mpc_intsrc");

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };
#define CPU_ENABLED       1
#define CPU_BOOTPROCESSOR 2
#define MPC_APIC_USABLE   1
#define MP_APIC_ALL       0xff
#define MP_IRQ_CONFORMING 0 /* polarity and trigger conform to the bus: ISA = edge, high */
#define ISA_BUS_ID        0
#define CPU_SIGNATURE     0x600                   /* family 6 */
#define CPU_FEATURES      ((1u << 0) | (1u << 9)) /* FPU, APIC */

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

/* ISA IRQs get one I/O interrupt entry each (IRQ 2 is the cascade and is
 * left out when IRQ 0 takes its pin); virtio IRQs above 15 get their own. */
static bool isa_irq_listed(const struct boot_config *cfg, unsigned irq)
{
	return !(irq == 2 && !cfg->irq0_pin0);
}

static size_t count_intsrc(const struct boot_config *cfg)
{
	size_t n = 0;
	for (unsigned irq = 0; irq < 16; irq++)
		n += isa_irq_listed(cfg, irq);
	for (size_t i = 0; i < cfg->nvirtio; i++) {
		bool dup = cfg->virtio[i].irq < 16;
		for (size_t j = 0; j < i && !dup; j++)
			dup = cfg->virtio[j].irq == cfg->virtio[i].irq;
		n += !dup;
	}
	return n;
}

uint8_t mptable_ioapic_id(const struct boot_config *cfg)
{
	return cfg->want_dtb ? MPTABLE_DT_IOAPIC_ID : (uint8_t)cfg->ncpus;
}

size_t mptable_size(const struct boot_config *cfg)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       cfg->ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) + (count_intsrc(cfg) + 2) * sizeof(struct mpc_intsrc);
}

int mptable_build(const struct boot_config *cfg, uint64_t gpa, void *buf, size_t size,
		  size_t *len_out)
{
	if (!cfg || !buf || cfg->ncpus == 0 || cfg->ncpus > VM_MAX_CPUS ||
	    cfg->nvirtio > LAYOUT_VIRTIO_MMIO_MAX)
		return -EINVAL;
	for (size_t i = 0; i < cfg->nvirtio; i++)
		if (cfg->virtio[i].irq > 0xff)
			return -EINVAL;
	size_t len = mptable_size(cfg);
	uint64_t end;
	/* The table length is 16 bits and physptr 32 bits. */
	if (len - sizeof(struct mpf_intel) > 0xffff || !add_ok(gpa, len, &end) ||
	    end > 0x100000000ull)
		return -EINVAL;
	if (size < len)
		return -ENOSPC;

	uint8_t *p = buf;
	memset(p, 0, len);
	struct mpf_intel mpf = {
		.signature = { '_', 'M', 'P', '_' },
		.physptr = (uint32_t)(gpa + sizeof(mpf)),
		.length = 1,
		.spec = 4,
	};
	mpf.checksum = checksum((const uint8_t *)&mpf, sizeof(mpf));
	memcpy(p, &mpf, sizeof(mpf));

	uint8_t *table = p + sizeof(mpf);
	size_t off = sizeof(struct mpc_table);
	uint16_t count = 0;
#define PUT(entry)                                            \
	do {                                                  \
		memcpy(table + off, &(entry), sizeof(entry)); \
		off += sizeof(entry);                         \
		count++;                                      \
	} while (0)

	for (uint32_t i = 0; i < cfg->ncpus; i++) {
		struct mpc_cpu c = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = MPTABLE_LAPIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
			.signature = CPU_SIGNATURE,
			.features = CPU_FEATURES,
		};
		PUT(c);
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = ISA_BUS_ID };
	memcpy(bus.bustype, "ISA   ", 6);
	PUT(bus);
	uint8_t ioapic_id = mptable_ioapic_id(cfg);
	struct mpc_ioapic io = {
		.type = MP_IOAPIC,
		.apicid = ioapic_id,
		.apicver = MPTABLE_IOAPIC_VERSION,
		.flags = MPC_APIC_USABLE,
		.apicaddr = (uint32_t)LAYOUT_IOAPIC,
	};
	PUT(io);
	for (unsigned irq = 0; irq < 16; irq++) {
		if (!isa_irq_listed(cfg, irq))
			continue;
		struct mpc_intsrc s = {
			.type = MP_INTSRC,
			.irqtype = MP_INT,
			.irqflag = MP_IRQ_CONFORMING,
			.srcbus = ISA_BUS_ID,
			.srcbusirq = (uint8_t)irq,
			.dstapic = ioapic_id,
			.dstirq = (uint8_t)(irq == 0 && !cfg->irq0_pin0 ? 2 : irq),
		};
		PUT(s);
	}
	for (size_t i = 0; i < cfg->nvirtio; i++) {
		bool dup = cfg->virtio[i].irq < 16;
		for (size_t j = 0; j < i && !dup; j++)
			dup = cfg->virtio[j].irq == cfg->virtio[i].irq;
		if (dup)
			continue;
		struct mpc_intsrc s = {
			.type = MP_INTSRC,
			.irqtype = MP_INT,
			.irqflag = MP_IRQ_CONFORMING,
			.srcbus = ISA_BUS_ID,
			.srcbusirq = (uint8_t)cfg->virtio[i].irq,
			.dstapic = ioapic_id,
			.dstirq = (uint8_t)cfg->virtio[i].irq,
		};
		PUT(s);
	}
	struct mpc_intsrc lint0 = {
		.type = MP_LINTSRC,
		.irqtype = MP_EXTINT,
		.srcbus = ISA_BUS_ID,
		.dstapic = MP_APIC_ALL,
		.dstirq = 0,
	};
	PUT(lint0);
	struct mpc_intsrc lint1 = {
		.type = MP_LINTSRC,
		.irqtype = MP_NMI,
		.srcbus = ISA_BUS_ID,
		.dstapic = MP_APIC_ALL,
		.dstirq = 1,
	};
	PUT(lint1);
#undef PUT

	struct mpc_table h = {
		.signature = { 'P', 'C', 'M', 'P' },
		.length = (uint16_t)off,
		.spec = 4,
		.count = count,
		.lapic = (uint32_t)LAYOUT_LAPIC,
	};
	memcpy(h.oem, "MEMVM   ", 8);
	memcpy(h.product, "MEMVM-VM    ", 12);
	memcpy(table, &h, sizeof(h));
	table[offsetof(struct mpc_table, checksum)] = checksum(table, off);

	*len_out = sizeof(mpf) + off;
	return 0;
}

int mptable_check(const struct boot_config *cfg, char *err, size_t errlen)
{
	if (!cfg || cfg->ncpus == 0 || cfg->ncpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "-smp %u: the MP table describes 1 to %u vCPUs; change -smp",
			 cfg ? cfg->ncpus : 0, VM_MAX_CPUS);
		return -EINVAL;
	}
	size_t size = mptable_size(cfg);
	if (LAYOUT_EBDA + size > LAYOUT_HIMEM) {
		snprintf(err, errlen,
			 "MP table of %zu bytes does not fit between 0x%llx and 1 MiB; lower -smp",
			 size, (unsigned long long)LAYOUT_EBDA);
		return -ENOSPC;
	}
	return 0;
}

int mptable_write(const struct boot_config *cfg, struct guest_mem *gm, size_t *len_out, char *err,
		  size_t errlen)
{
	int ret = mptable_check(cfg, err, errlen);
	if (ret)
		return ret;
	size_t size = mptable_size(cfg);
	uint8_t *buf = malloc(size);
	if (!buf) {
		snprintf(err, errlen, "MP table: out of memory");
		return -ENOMEM;
	}
	size_t len = 0;
	ret = mptable_build(cfg, LAYOUT_EBDA, buf, size, &len);
	if (ret) {
		snprintf(err, errlen, "building the MP table: %s", strerror(-ret));
		goto out;
	}
	ret = guest_mem_write(gm, LAYOUT_EBDA, buf, len);
	if (ret == -ENOMEM) {
		snprintf(err, errlen, "MP table at 0x%llx: guest RAM has no backing page: %s",
			 (unsigned long long)LAYOUT_EBDA, GUEST_MEM_NOBACK_FIX);
		goto out;
	}
	if (ret) {
		snprintf(err, errlen, "MP table at 0x%llx: not in guest RAM; raise -m",
			 (unsigned long long)LAYOUT_EBDA);
		goto out;
	}
	if (len_out)
		*len_out = len;
out:
	free(buf);
	return ret;
}
