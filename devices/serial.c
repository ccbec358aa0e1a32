/* 8250/16550A UART model: enough for Linux's 8250 driver (autoconfig with
 * scratch, loopback and FIFO probes) and for bare-metal polling code. */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	UART_RBR = 0,
	UART_IER = 1,
	UART_IIR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};
#define IER_RDI        0x01
#define IER_THRI       0x02
#define IER_RLSI       0x04
#define IER_MSI        0x08
#define IIR_NO_INT     0x01
#define IIR_THRI       0x02
#define IIR_RDI        0x04
#define IIR_RLSI       0x06
#define IIR_FIFO       0xc0
#define FCR_ENABLE     0x01
#define FCR_CLEAR_RCVR 0x02
#define LCR_DLAB       0x80
#define MCR_DTR        0x01
#define MCR_RTS        0x02
#define MCR_OUT1       0x04
#define MCR_OUT2       0x08
#define MCR_LOOP       0x10
#define LSR_DR         0x01
#define LSR_OE         0x02
#define LSR_THRE       0x20
#define LSR_TEMT       0x40
#define MSR_CTS        0x10
#define MSR_DSR        0x20
#define MSR_RI         0x40
#define MSR_DCD        0x80

#define RX_FIFO 64

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	uint64_t dropped; /* output bytes a full output could not take */
	serial_irq_fn irq;
	void *irq_opaque;
	int irq_level;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	bool thri_pending; /* THR-empty interrupt armed and not yet read from IIR */
	uint8_t rx[RX_FIFO];
	unsigned rx_head, rx_count;
};

static void serial_power_on(struct serial *s)
{
	s->ier = 0;
	s->lcr = 0x03;
	s->mcr = MCR_OUT2;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->scr = 0;
	s->fcr = 0;
	s->dll = 0x0c; /* 9600 baud */
	s->dlm = 0;
	s->thri_pending = false;
	s->rx_head = s->rx_count = 0;
}

struct serial *serial_new(int out_fd, serial_irq_fn irq, void *irq_opaque)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->irq = irq;
	s->irq_opaque = irq_opaque;
	serial_power_on(s);
	return s;
}

uint64_t serial_dropped(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t n = s->dropped;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_free(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Highest-priority pending interrupt, as IIR reports it. */
static uint8_t serial_iir(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE))
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return IIR_THRI;
	return IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	/* OUT2 gates the interrupt line on PC UARTs. */
	int level = serial_iir(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->irq)
			s->irq(s->irq_opaque, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == RX_FIFO) {
		s->lsr |= LSR_OE;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = c;
	s->rx_count++;
	s->lsr |= LSR_DR;
}

/* Never waits: the vCPU holds the UART lock here. A full non-blocking
 * output drops the byte (counted); one that is gone stops output without
 * stopping the guest. */
static void serial_output(struct serial *s, uint8_t c)
{
	for (;;) {
		ssize_t n = write(s->out_fd, &c, 1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			s->dropped++;
			return;
		}
		s->out_fd = -1;
		return;
	}
}

static void serial_tx(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		rx_push(s, c);
	} else if (s->out_fd >= 0) {
		serial_output(s, c);
	}
	s->thri_pending = true;
}

static uint8_t serial_msr(const struct serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return s->msr;
	/* Loopback: modem outputs feed the modem status inputs. */
	uint8_t m = 0;
	if (s->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t v = 0;
	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO;
			s->rx_count--;
		}
		if (!s->rx_count)
			s->lsr &= (uint8_t)~LSR_DR;
		break;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if (v == IIR_THRI)
			s->thri_pending = false;
		if (s->fcr & FCR_ENABLE)
			v |= IIR_FIFO;
		break;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr;
		s->lsr &= (uint8_t)~LSR_OE;
		break;
	case UART_MSR:
		return serial_msr(s);
	case UART_SCR:
		return s->scr;
	}
	return v;
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			serial_tx(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			/* Enabling THRI with an empty THR raises it at once. */
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thri_pending = true;
			s->ier = v & 0x0f;
		}
		break;
	case UART_IIR: /* FCR */
		s->fcr = v & (FCR_ENABLE | 0xc0);
		if (v & FCR_CLEAR_RCVR) {
			s->rx_head = s->rx_count = 0;
			s->lsr &= (uint8_t)~LSR_DR;
		}
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only */
	case UART_SCR:
		s->scr = v;
		break;
	}
}

static void serial_bus_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct serial *s = dev;
	uint8_t *p = data;
	pthread_mutex_lock(&s->lock);
	p[0] = serial_read_reg(s, (unsigned)off);
	for (uint32_t i = 1; i < len; i++)
		p[i] = 0xff;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct serial *s = dev;
	(void)len;
	pthread_mutex_lock(&s->lock);
	serial_write_reg(s, (unsigned)off, *(const uint8_t *)data);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.name = "serial8250",
	.read = serial_bus_read,
	.write = serial_bus_write,
};

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < RX_FIFO)
		rx_push(s, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = RX_FIFO - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	serial_power_on(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}
