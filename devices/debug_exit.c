#include "devices/debug_exit.h"

#include <stdlib.h>
#include <string.h>

struct debug_exit {
	struct run_link link;
};

struct debug_exit *debug_exit_new(const struct run_link *link)
{
	struct debug_exit *d = calloc(1, sizeof(*d));
	if (d)
		d->link = *link;
	return d;
}

void debug_exit_free(struct debug_exit *d)
{
	free(d);
}

static void debug_exit_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 0xff, len);
}

static void debug_exit_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct debug_exit *d = dev;
	uint32_t v = 0;
	(void)off;
	memcpy(&v, data, len < 4 ? len : 4);
	if (d->link.request)
		d->link.request(d->link.opaque, RUN_REQ_DEBUG_EXIT, (int)(((v << 1) | 1) & 0xff));
}

const struct bus_ops debug_exit_ops = {
	.name = "isa-debug-exit",
	.read = debug_exit_read,
	.write = debug_exit_write,
};
