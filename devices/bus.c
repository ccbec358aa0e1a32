#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
};

struct bus {
	const char *name;
	struct bus_range *r; /* sorted by base, non-overlapping */
	unsigned n, cap;
};

struct bus *bus_new(const char *name)
{
	struct bus *bus = calloc(1, sizeof(*bus));
	if (bus)
		bus->name = name;
	return bus;
}

void bus_free(struct bus *bus)
{
	if (!bus)
		return;
	free(bus->r);
	free(bus);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev)
{
	if (len == 0 || len - 1 > UINT64_MAX - base || !ops)
		return -EINVAL;
	uint64_t last = base + (len - 1);
	unsigned pos = 0;
	while (pos < bus->n && bus->r[pos].base < base)
		pos++;
	if (pos > 0 && bus->r[pos - 1].base + (bus->r[pos - 1].len - 1) >= base)
		return -EEXIST;
	if (pos < bus->n && bus->r[pos].base <= last)
		return -EEXIST;
	if (bus->n == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 8;
		struct bus_range *r = realloc(bus->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->r = r;
		bus->cap = cap;
	}
	memmove(&bus->r[pos + 1], &bus->r[pos], (bus->n - pos) * sizeof(bus->r[0]));
	bus->r[pos] = (struct bus_range){ .base = base, .len = len, .ops = ops, .dev = dev };
	bus->n++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	unsigned lo = 0, hi = bus->n;
	if (len == 0)
		return NULL;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->r[mid];
		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* The whole access must fit inside the device. */
			return len <= r->len - (addr - r->base) ? r : NULL;
		}
	}
	return NULL;
}

int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(bus, addr, len);
	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return -ENOENT;
	}
	r->ops->read(r->dev, addr - r->base, data, len);
	return 0;
}

int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(bus, addr, len);
	if (!r || !r->ops->write)
		return -ENOENT;
	r->ops->write(r->dev, addr - r->base, data, len);
	return 0;
}

unsigned bus_count(const struct bus *bus)
{
	return bus->n;
}
