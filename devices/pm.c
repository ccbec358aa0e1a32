#include "devices/pm.h"

#include <stdlib.h>
#include <string.h>

#define PM1_SLP_EN 0x2000
#define RST_CPU    0x04
#define RST_SYS    0x02

struct pm {
	struct run_link link;
	uint8_t rst_cnt;
};

struct pm *pm_new(const struct run_link *link)
{
	struct pm *pm = calloc(1, sizeof(*pm));
	if (pm)
		pm->link = *link;
	return pm;
}

void pm_free(struct pm *pm)
{
	free(pm);
}

static void pm_ctl_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 0, len);
}

static void pm_ctl_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct pm *pm = dev;
	uint16_t v = 0;
	if (off != 0 || len < 2)
		return;
	memcpy(&v, data, 2);
	if ((v & PM1_SLP_EN) && pm->link.request)
		pm->link.request(pm->link.opaque, RUN_REQ_POWEROFF, 0);
}

static void pm_reset_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct pm *pm = dev;
	(void)off;
	memset(data, 0, len);
	*(uint8_t *)data = pm->rst_cnt;
}

static void pm_reset_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct pm *pm = dev;
	(void)off;
	(void)len;
	uint8_t v = *(const uint8_t *)data;
	/* The reset happens on the write that sets RST_CPU. */
	if ((v & RST_CPU) && pm->link.request)
		pm->link.request(pm->link.opaque, RUN_REQ_RESET, 0);
	pm->rst_cnt = v & RST_SYS;
}

const struct bus_ops pm_ctl_ops = { .name = "pm1a-cnt",
				    .read = pm_ctl_read,
				    .write = pm_ctl_write };
const struct bus_ops pm_reset_ops = { .name = "reset-control",
				      .read = pm_reset_read,
				      .write = pm_reset_write };
