/* virtio-balloon (device id 5) on the virtio-mmio transport: inflate and
 * deflate queues, guest statistics, deflate-on-oom and free page reporting.
 * The monitor drives it with QEMU's semantics.
 *
 * Queues are numbered as the Linux driver numbers them from the negotiated
 * features: inflate 0, deflate 1, stats 2 (STATS_VQ), then reporting
 * (REPORTING): 3 with stats, 2 without. The transport has 3 queues, or 4
 * when reporting is configured.
 *
 * Device reset (the driver writes Status 0, e.g. on a guest reboot): the
 * held stats buffer is dropped and `actual` returns to 0 (the new driver
 * starts with an empty balloon; on_actual_change fires if it was not 0);
 * the target num_pages (as QEMU), the last statistics and the counters
 * are kept. */
#ifndef MEMVM_BALLOON_H
#define MEMVM_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"
#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/util.h"

#define BALLOON_PAGE_SIZE 4096u

#define VIRTIO_ID_BALLOON 5
/* Device feature bits (include/uapi/linux/virtio_balloon.h). Offered:
 * MUST_TELL_HOST, STATS_VQ and PAGE_POISON always (as QEMU's default
 * page-poison=on: without it Linux turns free page reporting off on
 * init_on_free and page-poisoning guests), DEFLATE_ON_OOM and REPORTING
 * when configured; FREE_PAGE_HINT never. Reported pages are discarded only
 * while the guest's poison value is 0: a non-zero poison must survive. */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON    4
#define VIRTIO_BALLOON_F_REPORTING      5

/* QueueNumMax of every balloon queue (>= 32, which Linux needs for the
 * reporting queue). */
#define BALLOON_QUEUE_SIZE 256u
/* An inflate/deflate buffer may carry at most this many PFNs (Linux
 * sends 256); a longer one is a malformed request (device NEEDS_RESET).
 * Bounds the work, and the transport lock hold, per guest request. */
#define BALLOON_MAX_PFNS_PER_BUF 16384u
/* A stats buffer over this many 10-byte entries is malformed (Linux
 * sends 10); a truncated trailing entry is ignored. */
#define BALLOON_MAX_STATS_ENTRIES 64u

/* Guest statistics, in QEMU's order and with QEMU's names
 * ("stat-swap-in", ... "stat-htlb-pgfail"): see balloon_stat_name(). */
enum balloon_stat {
	BALLOON_STAT_SWAP_IN,
	BALLOON_STAT_SWAP_OUT,
	BALLOON_STAT_MAJOR_FAULTS,
	BALLOON_STAT_MINOR_FAULTS,
	BALLOON_STAT_FREE_MEMORY,
	BALLOON_STAT_TOTAL_MEMORY,
	BALLOON_STAT_AVAILABLE_MEMORY,
	BALLOON_STAT_DISK_CACHES,
	BALLOON_STAT_HTLB_PGALLOC,
	BALLOON_STAT_HTLB_PGFAIL,
	/* Linux 6.12's (QEMU 9.1's names); QEMU 7.2, whose guest-stats memvm
	 * reports, has the ten above. Tags past the table are ignored. */
	BALLOON_STAT_OOM_KILLS,
	BALLOON_STAT_ALLOC_STALLS,
	BALLOON_STAT_ASYNC_SCANS,
	BALLOON_STAT_DIRECT_SCANS,
	BALLOON_STAT_ASYNC_RECLAIMS,
	BALLOON_STAT_DIRECT_RECLAIMS,
	BALLOON_STAT_COUNT,
	BALLOON_STAT_QEMU72_COUNT = BALLOON_STAT_OOM_KILLS, /* guest-stats' keys */
};

struct balloon_config {
	bool deflate_on_oom;
	bool free_page_reporting;
	uint32_t stats_interval_s; /* 0: no periodic polling */
	uint64_t ram_size;         /* guest RAM in bytes (the target cap) */
	const struct guest_mem *gm;
	struct evloop *loop; /* stats polling timer; NULL in unit tests */
	/* How inflate, deflate and reports reach RAM: guest_ram_ops with the
	 * VM's struct guest_ram, or fakes in tests. Called with gpa/len 4 KiB
	 * aligned and inside one region of gm. Kept by pointer: it must
	 * outlive the balloon. */
	const struct guest_ram_ops *mem;
	void *mem_opaque;
	/* Called when the guest changes `actual` (any thread, transport lock
	 * held): guest_bytes = ram_size - actual pages * 4 KiB. The monitor
	 * turns it into BALLOON_CHANGE events (it rate-limits, as QEMU). */
	void (*on_actual_change)(void *opaque, uint64_t guest_bytes);
	void *opaque;
};

struct balloon;

/* 0, or -EINVAL (no gm, no mem->discard, ram_size under 4 KiB), -ENOMEM,
 * or the errno of the stats timer (timerfd on cfg->loop, when given). */
int balloon_new(const struct balloon_config *cfg, struct balloon **out) WUR;
/* After the transport is freed, with the event loop stopped. NULL: no-op. */
void balloon_free(struct balloon *b);

/* The device as the transport sees it: {ops, dev}. The ops table lives in
 * the balloon (features and queue count depend on the configuration), so
 * free the transport before the balloon. */
struct virtio_device balloon_virtio_device(struct balloon *b);
/* Called once the transport exists (the balloon raises config changes);
 * from then on the monitor-facing calls take the transport lock. */
void balloon_attach(struct balloon *b, struct virtio_mmio *t);

/* QEMU's `balloon value=N`: target guest size in bytes. Capped at RAM;
 * -EINVAL for 0. Sets num_pages = (ram - target) / 4 KiB and raises a
 * config-change interrupt. */
int balloon_set_target(struct balloon *b, uint64_t guest_bytes) WUR;
/* The balloon-size form: inflate to `pages` 4 KiB pages; -EINVAL above
 * the RAM's pages. */
int balloon_set_num_pages(struct balloon *b, uint64_t pages) WUR;

struct balloon_info {
	uint64_t ram_size;     /* bytes */
	uint64_t target_pages; /* num_pages (config) */
	uint64_t actual_pages; /* actual (written by the guest) */
	uint64_t actual_bytes; /* QEMU's query-balloon "actual": ram - actual pages */
	uint64_t target_bytes; /* the guest size asked for: ram - target pages */
	bool driver_ready;     /* the guest driver set DRIVER_OK */
	/* Counters since start. */
	uint64_t inflated_pages;      /* PFNs accepted on the inflate queue */
	uint64_t deflated_pages;      /* PFNs accepted on the deflate queue */
	uint64_t discarded_bytes;     /* bytes that really left the process */
	uint64_t reported_bytes;      /* free page reporting: bytes reported */
	uint64_t reported_kept_bytes; /* ... not discarded: the guest poisons pages */
	uint32_t poison_val;          /* the guest's, with PAGE_POISON negotiated */
	uint64_t bad_pfns;            /* PFNs rejected (outside RAM, ...) */
	uint64_t duplicate_pfns;      /* repeated within one buffer (ignored) */
	uint64_t discard_errors;      /* discard ops that failed */
	uint64_t deflate_waits;       /* deflates held until the host could back them */
	bool deflate_waiting;         /* one is held now */
};
void balloon_query(struct balloon *b, struct balloon_info *out);

struct balloon_stats {
	int64_t value[BALLOON_STAT_COUNT]; /* -1: not in the guest's last report */
	int64_t last_update;               /* wall-clock seconds, 0: never */
	uint64_t seq;                      /* reports received so far */
	uint32_t polling_interval_s;
};
void balloon_get_stats(struct balloon *b, struct balloon_stats *out);
/* QEMU's guest-stats-polling-interval property (0 disables). Turning it
 * on from 0 asks at once, then every `seconds`. Needs cfg->loop to poll
 * (without one the value is only recorded). 0 or -errno (timerfd). */
int balloon_set_stats_interval(struct balloon *b, uint32_t seconds) WUR;
/* Returns the held stats buffer to the guest to ask for fresh values now:
 * 0, -EAGAIN when none is held (no stats queue yet, or already returned
 * and not yet answered), -EIO when the device needs a reset. */
int balloon_request_stats(struct balloon *b) WUR;

/* QEMU's name of a statistic ("stat-swap-in", ...); NULL out of range. */
const char *balloon_stat_name(enum balloon_stat s);

#endif
