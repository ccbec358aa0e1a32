/* The i8042: what Linux's i8042 and atkbd drivers ask of it at probe time,
 * Ctrl-Alt-Del for system_powerdown (set 2, or set 1 when the guest turns
 * translation on), the keyboard IRQ edges, the reset line, and power-on
 * state after a reset. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "devices/i8042.h"
#include "tests/unit/check_main.h"

static struct i8042 *k;
static int edges, level, requests;
static enum run_request last_req;

static void on_irq(void *o, int l)
{
	(void)o;
	if (l && !level)
		edges++;
	level = l;
}

static void on_request(void *o, enum run_request req, int status)
{
	(void)o;
	(void)status;
	requests++;
	last_req = req;
}

static void setup(void)
{
	edges = level = requests = 0;
	struct run_link link = { .request = on_request };
	k = i8042_new(&link, on_irq, NULL);
	ck_assert_ptr_nonnull(k);
}

static void teardown(void)
{
	i8042_free(k);
}

static uint8_t status(void)
{
	uint8_t v;
	i8042_cmd_ops.read(k, 0, &v, 1);
	return v;
}

static uint8_t data(void)
{
	uint8_t v;
	i8042_data_ops.read(k, 0, &v, 1);
	return v;
}

static void cmd(uint8_t b)
{
	i8042_cmd_ops.write(k, 0, &b, 1);
}

static void put(uint8_t b)
{
	i8042_data_ops.write(k, 0, &b, 1);
}

/* Reads every queued byte into out; returns how many. */
static unsigned drain(uint8_t *out, unsigned max)
{
	unsigned n = 0;
	while ((status() & 0x01) && n < max)
		out[n++] = data();
	return n;
}

START_TEST(test_probe)
{
	ck_assert_uint_eq(status() & 0x01, 0); /* nothing to read: a controller */
	ck_assert(status() & 0x04);            /* system flag */
	cmd(0xaa);
	ck_assert(status() & 0x01);
	ck_assert_uint_eq(data(), 0x55); /* self test passed */
	ck_assert_uint_eq(status() & 0x01, 0);
	cmd(0xab);
	ck_assert_uint_eq(data(), 0x00); /* keyboard port test passed */
	cmd(0x20);
	ck_assert_uint_eq(data(), 0x25); /* KBDINT | SYS | AUXDIS */
	cmd(0x60);
	ck_assert(status() & 0x08); /* a command was last */
	put(0x45);
	cmd(0x20);
	ck_assert_uint_eq(data(), 0x45);
	cmd(0xa8); /* no AUX port: it stays disabled */
	cmd(0x20);
	ck_assert_uint_eq(data() & 0x20, 0x20);
	/* Keyboard commands: ACK; reset passes; the ID of an MF2 keyboard. */
	uint8_t b[16];
	put(0xff);
	ck_assert_uint_eq(drain(b, 16), 2);
	ck_assert(b[0] == 0xfa && b[1] == 0xaa);
	put(0xf2);
	ck_assert_uint_eq(drain(b, 16), 3);
	ck_assert(b[0] == 0xfa && b[1] == 0xab && b[2] == 0x83);
	put(0xed); /* LEDs, then its argument: two ACKs */
	ck_assert_uint_eq(drain(b, 16), 1);
	put(0x07);
	ck_assert_uint_eq(drain(b, 16), 1);
	ck_assert_uint_eq(b[0], 0xfa);
	put(0xf4);
	ck_assert_uint_eq(data(), 0xfa);
	ck_assert_uint_eq(data(), 0x00); /* empty: reads 0, no crash */
	ck_assert_int_eq(requests, 0);
}
END_TEST

START_TEST(test_ctrl_alt_del)
{
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	uint8_t b[16];
	ck_assert_int_eq(i8042_ctrl_alt_del(k), 0);
	ck_assert_int_eq(edges, 1);
	/* The guest has not read it: a second press does not fit. */
	ck_assert_int_eq(i8042_ctrl_alt_del(k), -EAGAIN);
	unsigned n = drain(b, 16);
	ck_assert_uint_eq(n, sizeof(set2));
	ck_assert_mem_eq(b, set2, sizeof(set2));
	/* One edge per byte: the guest's handler reads one each time. */
	ck_assert_int_eq(edges, (int)sizeof(set2));
	/* Translation on: set 1. */
	cmd(0x60);
	put(0x65);
	ck_assert_int_eq(i8042_ctrl_alt_del(k), 0);
	n = drain(b, 16);
	ck_assert_uint_eq(n, sizeof(set1));
	ck_assert_mem_eq(b, set1, sizeof(set1));
	/* Keyboard interrupt off: bytes wait, no edge. */
	cmd(0x60);
	put(0x04);
	edges = 0;
	ck_assert_int_eq(i8042_ctrl_alt_del(k), 0);
	ck_assert_int_eq(edges, 0);
	ck_assert(status() & 0x01);
	/* A reset: power-on state, nothing queued. */
	i8042_reset(k);
	ck_assert_uint_eq(status() & 0x01, 0);
	cmd(0x20);
	ck_assert_uint_eq(data(), 0x25);
}
END_TEST

START_TEST(test_reset_line)
{
	cmd(0xfe);
	ck_assert_int_eq(requests, 1);
	ck_assert_int_eq(last_req, RUN_REQ_RESET);
	cmd(0x12); /* unknown commands are ignored */
	ck_assert_int_eq(requests, 1);
	ck_assert_uint_eq(status() & 0x01, 0);
	/* Without an IRQ line the guest polls: still works. */
	i8042_free(k);
	struct run_link link = { 0 };
	k = i8042_new(&link, NULL, NULL);
	ck_assert_int_eq(i8042_ctrl_alt_del(k), 0);
	ck_assert_uint_eq(data(), 0x14);
	cmd(0xfe); /* no request hook: nothing happens */
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc = tcase_create("i8042");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_probe);
	tcase_add_test(tc, test_ctrl_alt_del);
	tcase_add_test(tc, test_reset_line);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
