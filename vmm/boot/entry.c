#include "vmm/boot/entry.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "memory/guest_mem.h"
#include "vmm/boot/layout.h"

/* Boot GDT selectors: Linux's 64-bit boot protocol wants __BOOT_CS 0x10
 * and __BOOT_DS 0x18; 0x20 is flat 32-bit code for PVH and ELF32 entries. */
#define SEL_CODE64 0x10
#define SEL_DATA   0x18
#define SEL_CODE32 0x20

#define CR0_PE   (1ull << 0)
#define CR0_ET   (1ull << 4)
#define CR0_NE   (1ull << 5)
#define CR0_PG   (1ull << 31)
#define CR4_PAE  (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int boot_entry_write_tables(struct guest_mem *gm)
{
	uint64_t gdt[5] = {
		0,
		0,
		gdt_entry(0xa09b, 0, 0xfffff), /* 0x10: 64-bit code */
		gdt_entry(0xc093, 0, 0xfffff), /* 0x18: data */
		gdt_entry(0xc09b, 0, 0xfffff), /* 0x20: 32-bit code */
	};
	int ret;
	if ((ret = guest_mem_write(gm, LAYOUT_GDT, gdt, sizeof(gdt))))
		return ret;

	/* Identity map of 4 GiB with 2 MiB pages (1 GiB pages fault on some hosts). */
	uint64_t pml4[512] = { LAYOUT_PDPT | PTE_P | PTE_RW };
	uint64_t pdpt[512] = { 0 };
	for (unsigned i = 0; i < LAYOUT_PD_COUNT; i++)
		pdpt[i] = (LAYOUT_PD + i * 0x1000ull) | PTE_P | PTE_RW;
	if ((ret = guest_mem_write(gm, LAYOUT_PML4, pml4, sizeof(pml4))) ||
	    (ret = guest_mem_write(gm, LAYOUT_PDPT, pdpt, sizeof(pdpt))))
		return ret;
	for (unsigned i = 0; i < LAYOUT_PD_COUNT; i++) {
		uint64_t pd[512];
		for (unsigned j = 0; j < 512; j++)
			pd[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) +
				(PTE_P | PTE_RW | PTE_PS);
		if ((ret = guest_mem_write(gm, LAYOUT_PD + i * 0x1000ull, pd, sizeof(pd))))
			return ret;
	}
	return 0;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64, bool db)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = db,
		.s = 1,
		.l = code64,
		.g = 1,
	};
}

int boot_entry_set_regs(int vcpu_fd, const struct boot_entry *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;

	switch (e->mode) {
	case BOOT_MODE_REAL16: {
		struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es,
					       &sregs.fs, &sregs.gs, &sregs.ss };
		for (size_t i = 0; i < ARRAY_SIZE(segs); i++) {
			segs[i]->selector = 0;
			segs[i]->base = 0;
			segs[i]->limit = 0xffff;
		}
		sregs.cr0 &= ~(CR0_PE | CR0_PG);
		break;
	}
	case BOOT_MODE_PVH32:
		set_seg(&sregs.cs, SEL_CODE32, 0xb, false, true);
		set_seg(&sregs.ds, SEL_DATA, 0x3, false, true);
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		sregs.gdt.base = LAYOUT_GDT;
		sregs.gdt.limit = 5 * 8 - 1;
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
		sregs.cr4 = 0;
		sregs.efer = 0;
		break;
	case BOOT_MODE_LONG64:
		set_seg(&sregs.cs, SEL_CODE64, 0xb, true, false);
		set_seg(&sregs.ds, SEL_DATA, 0x3, false, true);
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		sregs.gdt.base = LAYOUT_GDT;
		sregs.gdt.limit = 5 * 8 - 1;
		sregs.idt.base = LAYOUT_IDT;
		sregs.idt.limit = 0;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.cr0 = CR0_PE | CR0_PG | CR0_ET | CR0_NE;
		sregs.efer = EFER_LME | EFER_LMA;
		break;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = e->entry;
	regs.rsp = e->rsp;
	regs.rsi = e->rsi;
	regs.rbx = e->rbx;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}
