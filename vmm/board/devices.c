#include "vmm/board/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/layout.h"

#define DEVMGR_MAX_RESET_HOOKS 32

struct devmgr {
	struct devmgr_env env;
	struct virtio_mmio *virtio[LAYOUT_VIRTIO_MMIO_MAX];
	unsigned nvirtio;
	struct {
		void (*fn)(void *dev);
		void *dev;
	} reset[DEVMGR_MAX_RESET_HOOKS];
	unsigned nreset;
};

int devmgr_new(const struct devmgr_env *env, struct devmgr **out)
{
	struct devmgr *dm = calloc(1, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	dm->env = *env;
	*out = dm;
	return 0;
}

void devmgr_free(struct devmgr *dm)
{
	if (!dm)
		return;
	for (unsigned i = 0; i < dm->nvirtio; i++)
		virtio_mmio_free(dm->virtio[i]);
	free(dm);
}

int devmgr_add_pio(struct devmgr *dm, uint16_t base, uint16_t len, const struct bus_ops *ops,
		   void *dev)
{
	return bus_register(dm->env.pio, base, len, ops, dev);
}

int devmgr_add_reset(struct devmgr *dm, void (*fn)(void *dev), void *dev)
{
	if (dm->nreset == DEVMGR_MAX_RESET_HOOKS)
		return -ENOSPC;
	dm->reset[dm->nreset].fn = fn;
	dm->reset[dm->nreset].dev = dev;
	dm->nreset++;
	return 0;
}

/* GSIs 8 (RTC) and 12 (PS/2 mouse) belong to legacy devices; the UART's
 * is below the first virtio one. */
_Static_assert(LAYOUT_VIRTIO_IRQ_BASE > LAYOUT_IRQ_SERIAL0, "virtio GSIs start above the UART's");
int devmgr_virtio_slot(unsigned i, struct boot_mmio_dev *out)
{
	if (i >= LAYOUT_VIRTIO_MMIO_MAX)
		return -ENOSPC;
	uint32_t irq = LAYOUT_VIRTIO_IRQ_BASE;
	for (unsigned n = 0;; irq++)
		if (irq != 8 && irq != 12 && n++ == i)
			break;
	*out = (struct boot_mmio_dev){
		.base = LAYOUT_VIRTIO_MMIO_BASE + i * (uint64_t)VIRTIO_MMIO_WINDOW,
		.size = VIRTIO_MMIO_WINDOW,
		.irq = irq,
	};
	return 0;
}

static void devmgr_reset_virtio(void *dev)
{
	virtio_mmio_reset(dev);
}

int devmgr_add_virtio(struct devmgr *dm, struct virtio_device dev, struct virtio_mmio **out,
		      char *err, size_t errlen)
{
	const char *name = dev.ops ? dev.ops->name : "virtio device";
	if (dm->nvirtio == LAYOUT_VIRTIO_MMIO_MAX || dm->nreset == DEVMGR_MAX_RESET_HOOKS) {
		snprintf(err, errlen, "%s: too many virtio devices (at most %u)", name,
			 LAYOUT_VIRTIO_MMIO_MAX);
		return -ENOSPC;
	}
	struct boot_mmio_dev slot;
	int ret = devmgr_virtio_slot(dm->nvirtio, &slot); /* room checked above */
	if (ret)
		return ret;
	struct virtio_mmio_config vc = {
		.base = slot.base,
		.irq = slot.irq,
		.gm = dm->env.gm,
		.loop = dm->env.loop,
		.platform = &dm->env.platform,
		.device = dev,
	};
	struct virtio_mmio *t;
	ret = virtio_mmio_new(&vc, &t);
	if (ret) {
		snprintf(err, errlen, "creating %s: %s", name, strerror(-ret));
		return ret;
	}
	ret = virtio_mmio_register(dm->env.mmio, t);
	if (ret) {
		virtio_mmio_free(t);
		snprintf(err, errlen, "registering %s at 0x%llx: %s", name,
			 (unsigned long long)vc.base, strerror(-ret));
		return ret;
	}
	dm->virtio[dm->nvirtio++] = t;
	if ((ret = devmgr_add_reset(dm, devmgr_reset_virtio, t))) /* room checked above */
		return ret;
	if (out)
		*out = t;
	return 0;
}

void devmgr_reset(struct devmgr *dm)
{
	for (unsigned i = 0; i < dm->nreset; i++)
		dm->reset[i].fn(dm->reset[i].dev);
}

unsigned devmgr_virtio_count(const struct devmgr *dm)
{
	return dm->nvirtio;
}

size_t devmgr_boot_devices(const struct devmgr *dm, struct boot_mmio_dev *out, size_t max)
{
	size_t n = 0;
	for (; n < dm->nvirtio && n < max; n++)
		out[n] = (struct boot_mmio_dev){
			.base = virtio_mmio_base(dm->virtio[n]),
			.size = virtio_mmio_size(dm->virtio[n]),
			.irq = virtio_mmio_irq(dm->virtio[n]),
		};
	return n;
}

int devmgr_announce(const struct boot_mmio_dev *d, char *buf, size_t size)
{
	return virtio_mmio_cmdline_at(d->base, d->irq, buf, size);
}
