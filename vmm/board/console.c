#include "vmm/board/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

#include "devices/serial.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/sigbus.h"

#define CTRL_A      0x01
#define PENDING_MAX 4096

struct console {
	struct evloop *loop;
	struct serial *uart;
	int in_fd;
	int timer_fd; /* retries delivery while the UART FIFO is full */
	bool timer_armed;
	struct run_link link;
	bool escape;
	uint8_t pending[PENDING_MAX];
	size_t npending;
};

/* One saved terminal for the whole process: there is one stdin. */
static struct termios saved_tio;
static volatile int saved_fd = -1;

void console_restore_terminal(void)
{
	if (saved_fd >= 0) {
		tcsetattr(saved_fd, TCSANOW, &saved_tio);
		saved_fd = -1;
	}
}

static void console_arm_timer(struct console *c, bool on)
{
	if (on == c->timer_armed)
		return;
	struct itimerspec its = { 0 };
	if (on) {
		its.it_value.tv_nsec = 10 * 1000 * 1000;
		its.it_interval.tv_nsec = 10 * 1000 * 1000;
	}
	if (timerfd_settime(c->timer_fd, 0, &its, NULL) == 0)
		c->timer_armed = on;
}

static void console_flush(struct console *c)
{
	if (c->npending) {
		size_t n = serial_receive(c->uart, c->pending, c->npending);
		memmove(c->pending, c->pending + n, c->npending - n);
		c->npending -= n;
	}
	console_arm_timer(c, c->npending > 0);
}

static void console_queue(struct console *c, uint8_t b)
{
	if (c->npending < PENDING_MAX)
		c->pending[c->npending++] = b;
}

static void console_on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint8_t buf[256];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));
	if (n <= 0) {
		/* EOF or error: stop watching, the guest keeps running. */
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			evloop_del(c->loop, c->in_fd);
		(void)events;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (c->escape) {
			c->escape = false;
			if (b == 'x' || b == 'X') {
				if (c->link.request)
					c->link.request(c->link.opaque, RUN_REQ_QUIT, 0);
				return;
			}
			if (b == CTRL_A)
				console_queue(c, CTRL_A);
			else if (b == 'h' || b == '?') {
				static const char help[] =
					"\r\nC-a x    exit memvm\r\nC-a C-a  send C-a\r\n";
				if (write_full(STDERR_FILENO, help,
					       sizeof(help) - 1)) { /* best effort */
				}
			}
			continue;
		}
		if (b == CTRL_A) {
			c->escape = true;
			continue;
		}
		console_queue(c, b);
	}
	console_flush(c);
}

static void console_on_timer(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t ticks;
	(void)events;
	if (read(c->timer_fd, &ticks, sizeof(ticks)) < 0) { /* spurious */
	}
	console_flush(c);
}

int console_open(struct console **out, struct evloop *loop, struct serial *uart, int in_fd,
		 const struct run_link *link)
{
	int ret;
	struct console *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->uart = uart;
	c->in_fd = in_fd;
	c->link = *link;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = evloop_add(loop, c->timer_fd, EPOLLIN, console_on_timer, c);
	if (ret)
		goto err_timer;
	if (isatty(in_fd) && tcgetattr(in_fd, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		cfmakeraw(&raw);
		/* Keep output processing so guest "\n" still renders sanely. */
		raw.c_oflag |= OPOST;
		if (tcsetattr(in_fd, TCSANOW, &raw) == 0) {
			saved_fd = in_fd;
			sigbus_guard_on_fatal(console_restore_terminal);
		}
	}
	ret = evloop_add(loop, in_fd, EPOLLIN, console_on_input, c);
	/* Regular files and /dev/null cannot be polled: no input then. */
	if (ret && ret != -EPERM)
		goto err_tty;
	*out = c;
	return 0;
err_tty:
	console_restore_terminal();
	evloop_del(loop, c->timer_fd);
err_timer:
	close(c->timer_fd);
err_free:
	free(c);
	return ret;
}

void console_close(struct console *c)
{
	if (!c)
		return;
	evloop_del(c->loop, c->in_fd);
	evloop_del(c->loop, c->timer_fd);
	close(c->timer_fd);
	console_restore_terminal();
	free(c);
}
