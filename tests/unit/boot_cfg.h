/* Test helper: virtio-mmio devices in a boot description, where the
 * board's device manager puts them (window i at LAYOUT_VIRTIO_MMIO_BASE +
 * 4 KiB * i, GSIs from 5 skipping 8 and 12). */
#ifndef MEMVM_TEST_BOOT_CFG_H
#define MEMVM_TEST_BOOT_CFG_H

#include <check.h>

#include "vmm/boot/boot.h"

static inline void boot_cfg_add_virtio(struct boot_config *cfg)
{
	static const uint32_t irqs[] = {
		5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22
	};
	ck_assert_uint_lt(cfg->nvirtio, LAYOUT_VIRTIO_MMIO_MAX);
	cfg->virtio[cfg->nvirtio] = (struct boot_mmio_dev){
		.base = LAYOUT_VIRTIO_MMIO_BASE + cfg->nvirtio * 0x1000ull,
		.size = 0x1000,
		.irq = irqs[cfg->nvirtio],
	};
	cfg->nvirtio++;
}

#endif
