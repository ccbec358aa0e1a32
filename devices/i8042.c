#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Controller commands (port 0x64). */
#define CMD_READ_CTR    0x20
#define CMD_WRITE_CTR   0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE  0xa8
#define CMD_SELF_TEST   0xaa
#define CMD_KBD_TEST    0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE  0xae
#define CMD_READ_OUTP   0xd0
#define CMD_WRITE_OUTP  0xd1
#define CMD_PULSE_RESET 0xfe

/* Status register (port 0x64 read). */
#define STS_OBF    0x01 /* output buffer full: a byte for the guest */
#define STS_SYS    0x04 /* self test passed */
#define STS_CMDDAT 0x08 /* the last write was a command */
#define STS_KEYLCK 0x10 /* keyboard not inhibited */

/* Command byte. */
#define CTR_KBDINT 0x01
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

/* Keyboard replies and commands (port 0x60 write). */
#define KBD_ACK     0xfa
#define KBD_BAT_OK  0xaa
#define KBD_RESET   0xff
#define KBD_GET_ID  0xf2
#define KBD_ARG_CMD 0xed /* LEDs */
#define KBD_RATE    0xf3
#define KBD_SET     0xf0

#define SELF_TEST_OK 0x55
#define QUEUE_LEN    16

struct i8042 {
	pthread_mutex_t lock;
	struct run_link link;
	i8042_irq_fn irq;
	void *irq_opaque;
	uint8_t ctr;
	uint8_t outp;
	uint8_t cmd;   /* controller command waiting for its data byte, or 0 */
	bool kbd_arg;  /* the keyboard waits for a command's argument */
	bool last_cmd; /* the last write went to the command port */
	uint8_t q[QUEUE_LEN];
	unsigned head, count;
};

static void power_on(struct i8042 *k)
{
	k->ctr = CTR_KBDINT | CTR_SYS | CTR_AUXDIS;
	k->outp = 0;
	k->cmd = 0;
	k->kbd_arg = false;
	k->last_cmd = false;
	k->head = k->count = 0;
}

struct i8042 *i8042_new(const struct run_link *link, i8042_irq_fn irq, void *irq_opaque)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->link = *link;
	k->irq = irq;
	k->irq_opaque = irq_opaque;
	power_on(k);
	return k;
}

void i8042_free(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	power_on(k);
	pthread_mutex_unlock(&k->lock);
}

/* An edge on IRQ 1 when a byte is there for the guest and it wants them. */
static void notify(struct i8042 *k)
{
	if (k->count && (k->ctr & CTR_KBDINT) && !(k->ctr & CTR_KBDDIS) && k->irq) {
		k->irq(k->irq_opaque, 1);
		k->irq(k->irq_opaque, 0);
	}
}

static bool push(struct i8042 *k, uint8_t b)
{
	if (k->count == QUEUE_LEN)
		return false;
	k->q[(k->head + k->count++) % QUEUE_LEN] = b;
	return true;
}

/* A reply to a command replaces whatever the guest had not read yet. */
static void reply(struct i8042 *k, const uint8_t *b, unsigned n)
{
	k->head = k->count = 0;
	for (unsigned i = 0; i < n; i++)
		push(k, b[i]);
}

static void i8042_read(void *dev, uint64_t off, void *data, uint32_t len, bool status)
{
	struct i8042 *k = dev;
	(void)off;
	uint8_t v;
	pthread_mutex_lock(&k->lock);
	if (status) {
		v = STS_SYS | STS_KEYLCK | (k->count ? STS_OBF : 0) |
		    (k->last_cmd ? STS_CMDDAT : 0);
	} else {
		v = k->count ? k->q[k->head] : 0;
		if (k->count) {
			k->head = (k->head + 1) % QUEUE_LEN;
			k->count--;
		}
		notify(k);
	}
	pthread_mutex_unlock(&k->lock);
	memset(data, 0, len);
	memcpy(data, &v, 1);
}

static void i8042_data_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	i8042_read(dev, off, data, len, false);
}

static void i8042_status_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	i8042_read(dev, off, data, len, true);
}

/* A byte for the keyboard: commands are acknowledged (reset passes its
 * test, the ID is a standard keyboard's), arguments too. */
static void kbd_write(struct i8042 *k, uint8_t b)
{
	static const uint8_t ack[] = { KBD_ACK }, bat[] = { KBD_ACK, KBD_BAT_OK },
			     id[] = { KBD_ACK, 0xab, 0x83 };
	if (k->kbd_arg) {
		k->kbd_arg = false;
		reply(k, ack, 1);
	} else if (b == KBD_RESET) {
		reply(k, bat, 2);
	} else if (b == KBD_GET_ID) {
		reply(k, id, 3);
	} else {
		k->kbd_arg = b == KBD_ARG_CMD || b == KBD_RATE || b == KBD_SET;
		reply(k, ack, 1);
	}
}

static void i8042_data_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = dev;
	(void)off;
	(void)len;
	uint8_t b = *(const uint8_t *)data;
	pthread_mutex_lock(&k->lock);
	k->last_cmd = false;
	switch (k->cmd) {
	case CMD_WRITE_CTR:
		k->ctr = b;
		break;
	case CMD_WRITE_OUTP:
		k->outp = b;
		break;
	default:
		kbd_write(k, b);
		break;
	}
	k->cmd = 0;
	notify(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = dev;
	(void)off;
	(void)len;
	uint8_t b = *(const uint8_t *)data, r;
	bool reset = false;
	pthread_mutex_lock(&k->lock);
	k->last_cmd = true;
	k->cmd = 0;
	switch (b) {
	case CMD_READ_CTR:
		reply(k, &k->ctr, 1);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
		k->cmd = b;
		break;
	case CMD_READ_OUTP:
		reply(k, &k->outp, 1);
		break;
	case CMD_SELF_TEST:
		r = SELF_TEST_OK;
		reply(k, &r, 1);
		break;
	case CMD_KBD_TEST:
		r = 0; /* no error */
		reply(k, &r, 1);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~CTR_KBDDIS;
		break;
	case CMD_AUX_DISABLE:
	case CMD_AUX_ENABLE:
		k->ctr |= CTR_AUXDIS; /* there is no AUX port: it stays off */
		break;
	case CMD_PULSE_RESET:
		reset = true;
		break;
	default:
		break; /* unknown commands are ignored, as on real controllers */
	}
	notify(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->link.request)
		k->link.request(k->link.opaque, RUN_REQ_RESET, 0);
}

int i8042_ctrl_alt_del(struct i8042 *k)
{
	/* Ctrl, Alt, Del pressed, then released in reverse order. */
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	pthread_mutex_lock(&k->lock);
	bool xlate = k->ctr & CTR_XLATE;
	const uint8_t *codes = xlate ? set1 : set2;
	unsigned n = xlate ? sizeof(set1) : sizeof(set2);
	int ret = -EAGAIN;
	if (QUEUE_LEN - k->count >= n) {
		for (unsigned i = 0; i < n; i++)
			push(k, codes[i]);
		notify(k);
		ret = 0;
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

const struct bus_ops i8042_data_ops = {
	.name = "i8042-data",
	.read = i8042_data_read,
	.write = i8042_data_write,
};
const struct bus_ops i8042_cmd_ops = {
	.name = "i8042-cmd",
	.read = i8042_status_read,
	.write = i8042_cmd_write,
};
