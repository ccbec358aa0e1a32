/* Small shared helpers: attributes, logging, checked arithmetic. */
#ifndef MEMVM_UTIL_H
#define MEMVM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WUR            __attribute__((warn_unused_result))
#define PRINTF(a, b)   __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)      ((a) < (b) ? (a) : (b))
#define MAX(a, b)      ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define IS_POW2(x)     ((x) != 0 && ((x) & ((x)-1)) == 0)

/* One line on stderr, prefixed "memvm: " (errors add "error: "). */
void log_error(const char *fmt, ...) PRINTF(1, 2);
void log_warn(const char *fmt, ...) PRINTF(1, 2);
void log_notice(const char *fmt, ...) PRINTF(1, 2);
/* Debug lines only when MEMVM_DEBUG is set in the environment. */
void log_debug(const char *fmt, ...) PRINTF(1, 2);

/* Rate limiter for guest-triggerable messages: at most `burst` lines per
 * `interval_ms`; returns true when a line may be printed. Thread-safe. */
struct ratelimit {
	uint64_t window_start_ms;
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t printed;
	uint32_t suppressed;
};
#define RATELIMIT_INIT(ms, n)                     \
	{                                         \
		.interval_ms = (ms), .burst = (n) \
	}
bool ratelimit_ok(struct ratelimit *rl);

/* Formats one line into err (nothing when err is NULL or errlen 0) and
 * returns ret, so an error path reads
 * `return errorf(err, errlen, -EINVAL, "-m %s: ...", arg);`. */
int errorf(char *err, size_t errlen, int ret, const char *fmt, ...) PRINTF(4, 5);
int verrorf(char *err, size_t errlen, int ret, const char *fmt, va_list ap) PRINTF(4, 0);

/* Monotonic clock in ns / ms. */
uint64_t clock_ns(void);
uint64_t clock_ms(void);

/* a + b / a * b without wrapping: false on overflow. */
static inline bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}
static inline bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Writes all of buf, retrying on EINTR/short writes: 0 or -errno. */
int write_full(int fd, const void *buf, size_t len) WUR;
/* Opens path for writing, created 0644 or truncated, without ever blocking
 * in open(): a FIFO, socket or directory is refused with -ESPIPE (a FIFO
 * with no reader would block forever), and so is a device unless
 * allow_devices (/dev/null, a tty). The fd, or -errno. */
int open_output(const char *path, bool allow_devices) WUR;
/* Reads a whole small file (e.g. under /proc or /sys) into buf,
 * NUL-terminated: bytes read or -errno. */
long read_small_file(const char *path, char *buf, size_t size) WUR;

#endif
