/* Parallel population of a memory range before the guest runs.
 *
 * Used by ram_prealloc() and by the benchmark (which measures the same code
 * against a plain one-thread MADV_POPULATE_WRITE). Worker threads claim
 * chunks dynamically, so a slow thread never holds up the others. */
#ifndef MEMVM_PREALLOC_H
#define MEMVM_PREALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/lib/util.h"

struct prealloc_opts {
	unsigned threads;           /* 0: online CPUs; capped at the number of chunks */
	bool progress;              /* bar on stderr when stderr is a tty and it takes > 0.5 s */
	unsigned progress_delay_ms; /* 0: the 0.5 s above */
	bool force_touch;           /* skip MADV_POPULATE_WRITE and touch pages (tests, bench) */
	const char *what;           /* label for the progress bar, e.g. "256 MiB of guest RAM" */
	/* Asked between chunks; true stops the work with -EINTR (a signal
	 * asked memvm to quit). NULL: never. */
	bool (*cancelled)(void *opaque);
	void *cancel_opaque;
};

struct prealloc_result {
	unsigned threads; /* threads that populated (0: the caller did) */
	bool touched;     /* touched pages instead of MADV_POPULATE_WRITE */
	bool progress_shown;
	uint64_t elapsed_ns;
	uint64_t fail_offset; /* on error: offset of the first page that failed */
};

/* Makes every page of [base, base+len) present and writable (contents are
 * kept: the touch fallback writes back the byte it read). base and len must
 * be multiples of page_size (a power of two >= 4 KiB).
 * 0, or -EFAULT (no page could back an address: the kernel would have sent
 * SIGBUS, e.g. huge page pool or filesystem space exhausted, or access past
 * the end of a file), -ENOMEM (out of memory), -EINVAL (bad arguments),
 * -EHWPOISON, -EINTR (opts->cancelled said so). SIGBUS is caught while this runs and never kills the process;
 * the previous SIGBUS handler is restored before it returns. res may be NULL. */
int prealloc_populate(void *base, uint64_t len, uint64_t page_size,
		      const struct prealloc_opts *opts, struct prealloc_result *res) WUR;

/* Online CPUs (at least 1). */
unsigned prealloc_default_threads(void);

#endif
