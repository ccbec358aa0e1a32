#include "devices/i8042.h"

#include <stdlib.h>
#include <string.h>

#define CMD_PULSE_RESET 0xfe

struct i8042 {
	struct run_link link;
};

struct i8042 *i8042_new(const struct run_link *link)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (k)
		k->link = *link;
	return k;
}

void i8042_free(struct i8042 *k)
{
	free(k);
}

static void i8042_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	(void)dev;
	(void)off;
	/* Status 0: output buffer empty, input buffer empty, nothing attached. */
	memset(data, 0, len);
}

static void i8042_data_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	(void)dev;
	(void)off;
	(void)data;
	(void)len;
}

static void i8042_cmd_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = dev;
	(void)off;
	(void)len;
	if (*(const uint8_t *)data == CMD_PULSE_RESET && k->link.request)
		k->link.request(k->link.opaque, RUN_REQ_RESET, 0);
}

const struct bus_ops i8042_data_ops = {
	.name = "i8042-data",
	.read = i8042_read,
	.write = i8042_data_write,
};
const struct bus_ops i8042_cmd_ops = {
	.name = "i8042-cmd",
	.read = i8042_read,
	.write = i8042_cmd_write,
};
