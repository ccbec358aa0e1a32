/* Unit tests for devices/serial.c: the 8250/16550A UART model, driven
 * through its bus handlers as a guest would. Output is captured in a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/serial.h"
#include "tests/unit/check_main.h"

enum {
	RBR = 0,
	THR = 0,
	DLL = 0,
	IER = 1,
	DLM = 1,
	IIR = 2,
	FCR = 2,
	LCR = 3,
	MCR = 4,
	LSR = 5,
	MSR = 6,
	SCR = 7
};

struct irq_rec {
	int level;
	unsigned calls;
	unsigned raises;
};

static struct serial *s;
static struct irq_rec irq;
static int pipefd[2];

static void irq_cb(void *opaque, int level)
{
	struct irq_rec *r = opaque;
	ck_assert(level == 0 || level == 1);
	/* Called only on a change of level. */
	ck_assert_int_ne(level, r->level);
	r->level = level;
	r->calls++;
	if (level)
		r->raises++;
}

static void setup(void)
{
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	/* Reads below must never block: the test asserts exactly what arrived. */
	ck_assert_int_eq(fcntl(pipefd[0], F_SETFL, O_NONBLOCK), 0);
	memset(&irq, 0, sizeof(irq));
	s = serial_new(pipefd[1], irq_cb, &irq);
	ck_assert_ptr_nonnull(s);
}

static void teardown(void)
{
	serial_free(s);
	s = NULL;
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
}

static uint8_t rd(unsigned reg)
{
	uint8_t v = 0x5a;
	serial_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(unsigned reg, uint8_t v)
{
	serial_bus_ops.write(s, reg, &v, 1);
}

/* Everything currently in the pipe (non-blocking). */
static size_t drain(uint8_t *buf, size_t size)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(pipefd[0], buf + got, size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == size)
			break;
	}
	return got;
}

static void assert_no_output(void)
{
	uint8_t b;
	ssize_t n = read(pipefd[0], &b, 1);
	ck_assert_msg(n < 0 && errno == EAGAIN, "unexpected output byte %#x", b);
}

START_TEST(power_on_state)
{
	ck_assert_uint_eq(rd(IER), 0x00);
	ck_assert_uint_eq(rd(IIR), 0x01); /* no interrupt, no FIFO */
	ck_assert_uint_eq(rd(LCR), 0x03); /* 8N1 */
	ck_assert_uint_eq(rd(MCR), 0x08); /* OUT2 */
	ck_assert_uint_eq(rd(LSR), 0x60); /* THRE | TEMT */
	ck_assert_uint_eq(rd(MSR), 0xb0); /* DCD | DSR | CTS */
	ck_assert_uint_eq(rd(SCR), 0x00);
	ck_assert_uint_eq(rd(RBR), 0x00); /* empty FIFO reads 0 */
	ck_assert_uint_eq(serial_rx_space(s), 64);
	ck_assert_uint_eq(irq.calls, 0);
	assert_no_output();
}
END_TEST

START_TEST(thr_reaches_fd)
{
	static const uint8_t msg[] = "Hello, \x01\x7f\x80\xff\n\0end";
	for (size_t i = 0; i < sizeof(msg); i++) {
		wr(THR, msg[i]);
		/* Transmission is immediate: the holding register is empty again. */
		ck_assert_uint_eq(rd(LSR) & 0x60, 0x60);
	}
	uint8_t got[64];
	ck_assert_uint_eq(drain(got, sizeof(got)), sizeof(msg));
	ck_assert_mem_eq(got, msg, sizeof(msg));
	ck_assert_uint_eq(rd(LSR), 0x60);
	/* No interrupt without IER. */
	ck_assert_uint_eq(irq.calls, 0);
}
END_TEST

START_TEST(through_the_bus)
{
	struct bus *bus = bus_new("pio");
	ck_assert_ptr_nonnull(bus);
	ck_assert_int_eq(bus_register(bus, SERIAL_COM1_BASE, SERIAL_PORT_LEN, &serial_bus_ops, s),
			 0);
	uint8_t c = 'Z';
	ck_assert_int_eq(bus_write(bus, SERIAL_COM1_BASE + 7, &c, 1), 0);
	ck_assert_int_eq(bus_write(bus, SERIAL_COM1_BASE, &c, 1), 0);
	uint8_t v = 0;
	ck_assert_int_eq(bus_read(bus, SERIAL_COM1_BASE + 7, &v, 1), 0);
	ck_assert_uint_eq(v, 'Z');
	ck_assert_int_eq(bus_read(bus, SERIAL_COM1_BASE + 5, &v, 1), 0);
	ck_assert_uint_eq(v, 0x60);
	/* A wider read returns the register in the low byte, 0xff above. */
	uint16_t w = 0;
	ck_assert_int_eq(bus_read(bus, SERIAL_COM1_BASE + 5, &w, 2), 0);
	ck_assert_uint_eq(w, 0xff60);
	ck_assert_int_eq(bus_read(bus, SERIAL_COM1_BASE + 8, &v, 1), -ENOENT);
	uint8_t got[4];
	ck_assert_uint_eq(drain(got, sizeof(got)), 1);
	ck_assert_uint_eq(got[0], 'Z');
	bus_free(bus);
}
END_TEST

START_TEST(scratch_and_lcr_round_trip)
{
	static const uint8_t vals[] = { 0xa5, 0x5a, 0x00, 0xff, 0x01 };
	for (size_t i = 0; i < sizeof(vals); i++) {
		wr(SCR, vals[i]);
		ck_assert_uint_eq(rd(SCR), vals[i]);
	}
	wr(LCR, 0x1b); /* 8E1 */
	ck_assert_uint_eq(rd(LCR), 0x1b);
	/* Read-only registers ignore writes. */
	wr(LSR, 0x00);
	ck_assert_uint_eq(rd(LSR), 0x60);
	wr(MSR, 0x00);
	ck_assert_uint_eq(rd(MSR), 0xb0);
	/* Reserved bits are masked. */
	wr(IER, 0xff);
	ck_assert_uint_eq(rd(IER), 0x0f);
	wr(IER, 0);
	wr(MCR, 0xeb);
	ck_assert_uint_eq(rd(MCR), 0x0b);
	assert_no_output();
}
END_TEST

START_TEST(dlab_divisor_latch)
{
	wr(IER, 0x05);
	wr(LCR, 0x83);                    /* DLAB | 8N1 */
	ck_assert_uint_eq(rd(DLL), 0x0c); /* 9600 baud at power-on */
	ck_assert_uint_eq(rd(DLM), 0x00);
	wr(DLL, 0x01); /* 115200 */
	wr(DLM, 0x02);
	ck_assert_uint_eq(rd(DLL), 0x01);
	ck_assert_uint_eq(rd(DLM), 0x02);
	/* Other registers keep working with DLAB set. */
	ck_assert_uint_eq(rd(LCR), 0x83);
	ck_assert_uint_eq(rd(LSR), 0x60);
	wr(LCR, 0x03);
	/* The latch writes sent nothing and did not touch IER. */
	assert_no_output();
	ck_assert_uint_eq(rd(IER), 0x05);
	ck_assert_uint_eq(rd(RBR), 0x00);
	wr(LCR, 0x80);
	ck_assert_uint_eq(rd(DLL), 0x01);
	ck_assert_uint_eq(rd(DLM), 0x02);
	wr(LCR, 0x03);
	/* A received byte is not hidden by the latch once DLAB is off. */
	const uint8_t c = 'q';
	ck_assert_uint_eq(serial_receive(s, &c, 1), 1);
	wr(LCR, 0x83);
	ck_assert_uint_eq(rd(RBR), 0x01); /* DLL, not the byte */
	ck_assert_uint_eq(rd(LSR) & 0x01, 0x01);
	wr(LCR, 0x03);
	ck_assert_uint_eq(rd(RBR), 'q');
	ck_assert_uint_eq(rd(LSR) & 0x01, 0x00);
}
END_TEST

START_TEST(loopback_msr)
{
	/* Linux serial8250 autoconfig: MCR = LOOP | OUT2 | RTS, expects
	 * MSR & 0xf0 == DCD | CTS. */
	wr(MCR, 0x1a);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x90);
	wr(MCR, 0x10);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x00);
	wr(MCR, 0x11);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x20); /* DTR -> DSR */
	wr(MCR, 0x12);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x10); /* RTS -> CTS */
	wr(MCR, 0x14);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x40); /* OUT1 -> RI */
	wr(MCR, 0x18);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x80); /* OUT2 -> DCD */
	wr(MCR, 0x1f);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xf0);
	/* Leaving loopback restores the real modem lines. */
	wr(MCR, 0x0b);
	ck_assert_uint_eq(rd(MSR), 0xb0);
}
END_TEST

START_TEST(loopback_data)
{
	wr(MCR, 0x1a);
	wr(THR, 'A');
	wr(THR, 'B');
	wr(THR, 0x00);
	assert_no_output();
	ck_assert_uint_eq(rd(LSR) & 0x61, 0x61); /* DR | THRE | TEMT */
	ck_assert_uint_eq(rd(RBR), 'A');
	ck_assert_uint_eq(rd(RBR), 'B');
	ck_assert_uint_eq(rd(LSR) & 0x01, 0x01);
	ck_assert_uint_eq(rd(RBR), 0x00);
	ck_assert_uint_eq(rd(LSR), 0x60);
	/* Out of loopback the next byte goes to the fd again. */
	wr(MCR, 0x0b);
	wr(THR, 'C');
	uint8_t got[4];
	ck_assert_uint_eq(drain(got, sizeof(got)), 1);
	ck_assert_uint_eq(got[0], 'C');
	ck_assert_uint_eq(rd(LSR), 0x60);
}
END_TEST

START_TEST(fifo_enable_in_iir)
{
	ck_assert_uint_eq(rd(IIR), 0x01);
	wr(FCR, 0x01);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	wr(FCR, 0xc7); /* enable, clear both, trigger 14 */
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0xc0);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
	wr(FCR, 0x00);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Writing FCR must not change LCR (same offset as IIR, not LCR). */
	ck_assert_uint_eq(rd(LCR), 0x03);
}
END_TEST

START_TEST(fcr_clears_receiver)
{
	const uint8_t in[] = "abc";
	ck_assert_uint_eq(serial_receive(s, in, 3), 3);
	ck_assert_uint_eq(serial_rx_space(s), 61);
	wr(FCR, 0x03);
	ck_assert_uint_eq(serial_rx_space(s), 64);
	ck_assert_uint_eq(rd(LSR) & 0x01, 0);
	ck_assert_uint_eq(rd(RBR), 0);
}
END_TEST

START_TEST(receive_raises_rdi)
{
	const uint8_t in[] = { 'h', 'i' };
	/* Without IER.RDI the data waits but no interrupt is raised. */
	ck_assert_uint_eq(serial_receive(s, in, 2), 2);
	ck_assert_uint_eq(rd(LSR), 0x61);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_uint_eq(irq.calls, 0);
	ck_assert_uint_eq(serial_rx_space(s), 62);

	wr(IER, 0x01);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.raises, 1);
	ck_assert_uint_eq(rd(IIR), 0x04);
	ck_assert_int_eq(irq.level, 1); /* IIR does not acknowledge RDI */
	ck_assert_uint_eq(rd(RBR), 'h');
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(LSR) & 0x01, 0x01);
	ck_assert_uint_eq(rd(RBR), 'i');
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.calls, 2);
	ck_assert_uint_eq(rd(LSR), 0x60);
	ck_assert_uint_eq(rd(IIR), 0x01);

	/* With IER.RDI already set, receiving raises it directly. */
	ck_assert_uint_eq(serial_receive(s, in, 1), 1);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.raises, 2);
	ck_assert_uint_eq(rd(RBR), 'h');
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.calls, 4);
	assert_no_output();
}
END_TEST

START_TEST(out2_gates_irq)
{
	const uint8_t c = 'x';
	wr(MCR, 0x03); /* DTR | RTS, OUT2 off */
	wr(IER, 0x01);
	ck_assert_uint_eq(serial_receive(s, &c, 1), 1);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.calls, 0);
	ck_assert_uint_eq(rd(IIR), 0x04); /* pending, just not on the line */
	wr(MCR, 0x0b);
	ck_assert_int_eq(irq.level, 1);
	wr(MCR, 0x03);
	ck_assert_int_eq(irq.level, 0);
	wr(MCR, 0x0b);
	ck_assert_int_eq(irq.level, 1);
	wr(IER, 0x00);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.calls, 4);
}
END_TEST

START_TEST(thri_raise_and_ack)
{
	wr(IER, 0x02);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_int_eq(irq.level, 0); /* reading IIR acknowledged it */
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_uint_eq(irq.calls, 2);

	/* Every transmitted byte empties THR again and re-arms it. */
	wr(THR, 'x');
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.raises, 2);
	wr(FCR, 0x01);
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR), 0xc1);

	/* Rewriting IER with THRI already set does not re-raise it. */
	wr(IER, 0x02);
	ck_assert_int_eq(irq.level, 0);
	/* Turning THRI off masks a pending THRI. */
	wr(THR, 'y');
	ck_assert_int_eq(irq.level, 1);
	wr(IER, 0x00);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR), 0xc1);

	uint8_t got[4];
	ck_assert_uint_eq(drain(got, sizeof(got)), 2);
	ck_assert_mem_eq(got, "xy", 2);
}
END_TEST

START_TEST(rdi_has_priority_over_thri)
{
	const uint8_t c = 'k';
	ck_assert_uint_eq(serial_receive(s, &c, 1), 1);
	wr(IER, 0x03);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR), 0x04);
	ck_assert_uint_eq(rd(RBR), 'k');
	/* THRI is still pending underneath, and its IIR read acks it. */
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(rx_fifo_full)
{
	uint8_t in[100];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i + 1);
	/* serial_receive takes what fits and leaves the rest to the caller, so
	 * nothing is lost and there is no overrun. */
	ck_assert_uint_eq(serial_receive(s, in, sizeof(in)), 64);
	ck_assert_uint_eq(serial_rx_space(s), 0);
	ck_assert_uint_eq(serial_receive(s, in + 64, 36), 0);
	ck_assert_uint_eq(rd(LSR), 0x61);
	for (unsigned i = 0; i < 64; i++)
		ck_assert_uint_eq(rd(RBR), i + 1);
	ck_assert_uint_eq(rd(LSR), 0x60);
	ck_assert_uint_eq(serial_rx_space(s), 64);
	/* The ring wraps: another full load comes back in order. */
	ck_assert_uint_eq(serial_receive(s, in + 36, 64), 64);
	for (unsigned i = 0; i < 64; i++)
		ck_assert_uint_eq(rd(RBR), i + 37);
	ck_assert_uint_eq(serial_receive(s, in, 0), 0);
	ck_assert_uint_eq(rd(LSR), 0x60);
}
END_TEST

START_TEST(overrun_sets_oe)
{
	/* In loopback the transmitter cannot be held back: the 65th byte into
	 * a full 64-byte FIFO is an overrun. */
	wr(MCR, 0x18);
	for (unsigned i = 0; i < 64; i++)
		wr(THR, (uint8_t)i);
	ck_assert_uint_eq(serial_rx_space(s), 0);
	ck_assert_uint_eq(rd(LSR), 0x61);
	wr(IER, 0x04); /* RLSI */
	ck_assert_int_eq(irq.level, 0);
	wr(THR, 0xee);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR), 0x06);
	/* Reading LSR reports OE once and clears it (and the RLSI). */
	ck_assert_uint_eq(rd(LSR), 0x63);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(LSR), 0x61);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* The overrunning byte was dropped; the first 64 are intact. */
	for (unsigned i = 0; i < 64; i++)
		ck_assert_uint_eq(rd(RBR), i);
	ck_assert_uint_eq(rd(LSR), 0x60);
	assert_no_output();
}
END_TEST

START_TEST(reset_to_power_on)
{
	const uint8_t in[] = "xyz";
	wr(LCR, 0x83);
	wr(DLL, 0x01);
	wr(DLM, 0x01);
	wr(LCR, 0x1b);
	wr(IER, 0x0f);
	wr(MCR, 0x1f);
	wr(FCR, 0xc1);
	wr(SCR, 0x77);
	ck_assert_uint_eq(serial_receive(s, in, 3), 3);
	ck_assert_int_eq(irq.level, 1);

	serial_reset(s);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IER), 0x00);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_uint_eq(rd(LCR), 0x03);
	ck_assert_uint_eq(rd(MCR), 0x08);
	ck_assert_uint_eq(rd(LSR), 0x60);
	ck_assert_uint_eq(rd(MSR), 0xb0);
	ck_assert_uint_eq(rd(SCR), 0x00);
	ck_assert_uint_eq(rd(RBR), 0x00);
	ck_assert_uint_eq(serial_rx_space(s), 64);
	wr(LCR, 0x80);
	ck_assert_uint_eq(rd(DLL), 0x0c);
	ck_assert_uint_eq(rd(DLM), 0x00);
	wr(LCR, 0x03);
	/* A THRI armed before the reset is gone. */
	wr(IER, 0x01);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Output still works after a reset. */
	wr(THR, '!');
	uint8_t got[2];
	ck_assert_uint_eq(drain(got, sizeof(got)), 1);
	ck_assert_uint_eq(got[0], '!');
}
END_TEST

START_TEST(broken_output_fd)
{
	ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
	close(pipefd[0]);
	pipefd[0] = -1;
	/* EPIPE: the byte is dropped, the UART carries on. */
	wr(THR, 'a');
	ck_assert_uint_eq(rd(LSR), 0x60);
	wr(SCR, 0x42);
	ck_assert_uint_eq(rd(SCR), 0x42);

	/* Put a working pipe behind the same fd number: the UART gave up on
	 * the fd after the error, so nothing more is written to it. */
	int p2[2];
	ck_assert_int_eq(pipe2(p2, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(dup2(p2[1], pipefd[1]), pipefd[1]);
	close(p2[1]);
	wr(THR, 'b');
	wr(THR, 'c');
	uint8_t b;
	ck_assert_int_eq(read(p2[0], &b, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(p2[0]);
	/* Loopback still works without an output. */
	wr(MCR, 0x18);
	wr(THR, 'L');
	ck_assert_uint_eq(rd(RBR), 'L');
}
END_TEST

/* A full non-blocking output costs dropped bytes, never a wait. */
START_TEST(full_output_drops_and_counts)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	struct irq_rec r = { 0 };
	struct serial *q = serial_new(p[1], irq_cb, &r);
	ck_assert_ptr_nonnull(q);
	long size = fcntl(p[1], F_GETPIPE_SZ);
	ck_assert_int_gt(size, 0);
	uint8_t v = 'z';
	for (long i = 0; i < size + 100; i++)
		serial_bus_ops.write(q, THR, &v, 1);
	ck_assert_uint_eq(serial_dropped(q), 100);
	/* Room again: output resumes. */
	static uint8_t sink[1 << 16];
	while (read(p[0], sink, sizeof(sink)) > 0)
		;
	serial_bus_ops.write(q, THR, &v, 1);
	ck_assert_int_eq(read(p[0], sink, 1), 1);
	ck_assert_uint_eq(serial_dropped(q), 100);
	serial_free(q);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(no_output_fd)
{
	struct irq_rec r = { 0 };
	struct serial *q = serial_new(-1, irq_cb, &r);
	ck_assert_ptr_nonnull(q);
	uint8_t v = 'x';
	serial_bus_ops.write(q, THR, &v, 1);
	v = 0;
	serial_bus_ops.read(q, LSR, &v, 1);
	ck_assert_uint_eq(v, 0x60);
	v = 0x02;
	serial_bus_ops.write(q, IER, &v, 1);
	ck_assert_int_eq(r.level, 1);
	serial_free(q);
	assert_no_output();

	/* No irq callback at all is allowed too. */
	q = serial_new(-1, NULL, NULL);
	ck_assert_ptr_nonnull(q);
	serial_bus_ops.write(q, IER, &v, 1);
	ck_assert_uint_eq(serial_receive(q, &v, 1), 1);
	serial_bus_ops.read(q, RBR, &v, 1);
	ck_assert_uint_eq(v, 0x02);
	serial_free(q);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *su = suite_create("serial");
	TCase *tc = tcase_create("uart");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, power_on_state);
	tcase_add_test(tc, thr_reaches_fd);
	tcase_add_test(tc, through_the_bus);
	tcase_add_test(tc, scratch_and_lcr_round_trip);
	tcase_add_test(tc, dlab_divisor_latch);
	tcase_add_test(tc, loopback_msr);
	tcase_add_test(tc, loopback_data);
	tcase_add_test(tc, fifo_enable_in_iir);
	tcase_add_test(tc, fcr_clears_receiver);
	tcase_add_test(tc, receive_raises_rdi);
	tcase_add_test(tc, out2_gates_irq);
	tcase_add_test(tc, thri_raise_and_ack);
	tcase_add_test(tc, rdi_has_priority_over_thri);
	tcase_add_test(tc, rx_fifo_full);
	tcase_add_test(tc, overrun_sets_oe);
	tcase_add_test(tc, reset_to_power_on);
	tcase_add_test(tc, broken_output_fd);
	tcase_add_test(tc, no_output_fd);
	tcase_add_test(tc, full_output_drops_and_counts);
	suite_add_tcase(su, tc);
	return su;
}

CHECK_MAIN(make_suite)
