/* virtio-balloon device (virtio 1.x, 5.5) on the virtio-mmio transport.
 *
 * Queues follow the negotiated features exactly as Linux numbers them
 * (only the queues a feature enables take an index): inflate 0, deflate 1,
 * then stats (STATS_VQ), then reporting (REPORTING). The transport gets 3
 * or 4 queues and the role of an index is decided at notify time.
 *
 * MUST_TELL_HOST is offered because it is honoured: a deflate buffer is
 * processed, reclaim included, before it is returned, so a driver that
 * waits for that (the spec's rule with the feature; Linux always waits)
 * never touches a page the host still counts as discarded, which matters
 * for huge pages released only once all their 4 KiB parts are ballooned.
 * When reclaim finds no page to take back (preallocated huge pages whose
 * pool another process emptied), the buffer is held and retried every
 * DEFLATE_RETRY_MS: the guest waits for its memory instead of touching a
 * page the host cannot back.
 *
 * Everything here runs under the transport lock: the ops by contract, the
 * monitor-facing calls and the stats timer by taking it (before attach,
 * in unit tests, there is no other thread). */
#include "balloon/balloon.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtq.h"

#define PFN_SHIFT        12
#define CONFIG_SIZE      16u /* num_pages, actual, free_page_hint_cmd_id, poison_val */
#define STAT_ENTRY_SIZE  10u /* le16 tag, le64 val, packed */
#define DEFLATE_RETRY_MS 100

enum queue_role { ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING, ROLE_NONE };

struct balloon {
	struct balloon_config cfg;
	struct virtio_mmio *t; /* NULL until attached */
	uint64_t ram_pages;

	/* Config space. */
	uint32_t num_pages;
	uint32_t actual;
	uint32_t poison_val;

	/* Statistics: the guest's buffer we hold until we want fresh values. */
	bool stats_held;
	uint16_t stats_head;
	uint32_t stats_queue;
	int64_t stats[BALLOON_STAT_COUNT];
	int64_t stats_last_update;
	uint64_t stats_seq; /* reports received */
	uint32_t stats_interval_s;
	int timer_fd;

	/* A deflate buffer held until reclaim succeeds for its runs. */
	bool deflate_held;
	uint16_t deflate_head;
	uint32_t deflate_queue;
	size_t nheld;               /* runs in held[] not yet reclaimed */
	struct guest_ram_run *held; /* BALLOON_MAX_PFNS_PER_BUF */
	int retry_fd;               /* -1 without a loop: retried on kicks */
	int64_t held_since_ms;

	/* Counters (struct balloon_info). */
	uint64_t inflated_pages;
	uint64_t deflated_pages;
	uint64_t discarded_bytes;
	uint64_t reported_bytes, reported_kept_bytes;
	uint64_t bad_pfns;
	uint64_t duplicate_pfns;
	uint64_t discard_errors;
	uint64_t deflate_waits;

	struct ratelimit rl;
	uint32_t *pfns;             /* BALLOON_MAX_PFNS_PER_BUF */
	struct guest_ram_run *runs; /* BALLOON_MAX_PFNS_PER_BUF, for discard_runs */
	struct virtq_elem elem;     /* large: lives here, not on the stack */
};

#define BLOG(b, fmt, ...)                                              \
	do {                                                           \
		if (ratelimit_ok(&(b)->rl))                            \
			log_warn("virtio-balloon: " fmt, __VA_ARGS__); \
	} while (0)

static void lock(struct balloon *b)
{
	if (b->t)
		virtio_mmio_lock(b->t);
}

static void unlock(struct balloon *b)
{
	if (b->t)
		virtio_mmio_unlock(b->t);
}

static enum queue_role queue_role(uint64_t features, uint32_t queue)
{
	uint32_t next = 2;

	if (queue == 0)
		return ROLE_INFLATE;
	if (queue == 1)
		return ROLE_DEFLATE;
	if (features & (1ull << VIRTIO_BALLOON_F_STATS_VQ)) {
		if (queue == next)
			return ROLE_STATS;
		next++;
	}
	/* FREE_PAGE_HINT would take the next index; it is never offered. */
	if (features & (1ull << VIRTIO_BALLOON_F_REPORTING)) {
		if (queue == next)
			return ROLE_REPORTING;
		next++;
	}
	return ROLE_NONE;
}

/* ---- config space ---- */

static void config_image(const struct balloon *b, uint8_t img[CONFIG_SIZE])
{
	uint32_t v[4] = { htole32(b->num_pages), htole32(b->actual), 0, htole32(b->poison_val) };
	/* free_page_hint_cmd_id stays VIRTIO_BALLOON_CMD_ID_STOP (0). */
	memcpy(img, v, CONFIG_SIZE);
}

static void balloon_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	uint8_t img[CONFIG_SIZE];
	config_image(dev, img);
	memcpy(data, img + off, len);
}

static uint64_t guest_bytes_for(const struct balloon *b, uint32_t actual)
{
	uint64_t taken = (uint64_t)actual << PFN_SHIFT;
	/* A guest claiming more than all of RAM gets 0, not a wrapped value. */
	return taken >= b->cfg.ram_size ? 0 : b->cfg.ram_size - taken;
}

static void set_actual(struct balloon *b, uint32_t actual)
{
	if (actual == b->actual)
		return;
	b->actual = actual;
	if (b->cfg.on_actual_change)
		b->cfg.on_actual_change(b->cfg.opaque, guest_bytes_for(b, actual));
}

/* The driver owns `actual` and `poison_val`; its writes to num_pages and
 * the command id are dropped. Any width or offset is applied bytewise. */
static void balloon_config_write(void *dev, uint32_t off, const void *data, uint32_t len)
{
	struct balloon *b = dev;
	uint8_t img[CONFIG_SIZE];
	uint32_t v;

	config_image(b, img);
	memcpy(img + off, data, len);
	memcpy(&v, img + 12, 4);
	b->poison_val = le32toh(v);
	memcpy(&v, img + 4, 4);
	set_actual(b, le32toh(v));
}

/* ---- inflate / deflate ---- */

static bool page_in_region(const struct guest_region *r, uint64_t gpa)
{
	return r && r->size >= BALLOON_PAGE_SIZE && gpa >= r->gpa &&
	       gpa - r->gpa <= r->size - BALLOON_PAGE_SIZE;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void discard_run(struct balloon *b, uint64_t gpa, uint64_t len, bool reported)
{
	int (*fn)(void *, uint64_t, uint64_t, uint64_t *) = b->cfg.mem->discard;
	uint64_t freed = 0;

	if (reported && b->cfg.mem->discard_reported)
		fn = b->cfg.mem->discard_reported;
	int ret = fn(b->cfg.mem_opaque, gpa, len, &freed);
	if (ret < 0) {
		b->discard_errors++;
		BLOG(b, "discard of [%#" PRIx64 ", +%#" PRIx64 ") failed: %s", gpa, len,
		     strerror(-ret));
		return;
	}
	b->discarded_bytes += freed;
}

/* One inflate or deflate buffer: an array of le32 4 KiB PFNs in the
 * readable segments. Bad PFNs are counted and skipped; the rest are
 * sorted, deduplicated and merged into runs that stay inside one region. */
static int balloon_pfn_buffer(struct balloon *b, const struct virtq_elem *e, bool inflate)
{
	uint64_t n = e->out_len / 4;
	const struct guest_region *r = NULL;
	size_t valid = 0;

	if (e->out_len % 4)
		BLOG(b, "%s buffer of %" PRIu64 " bytes: trailing %u bytes ignored",
		     inflate ? "inflate" : "deflate", e->out_len, (unsigned)(e->out_len % 4));
	if (n > BALLOON_MAX_PFNS_PER_BUF)
		return -EMSGSIZE;
	n = virtq_elem_read(e, 0, b->pfns, n * 4) / 4;

	/* Validate in place, keeping the good ones at the front. */
	for (size_t i = 0; i < n; i++) {
		uint32_t pfn = le32toh(b->pfns[i]);
		uint64_t gpa = (uint64_t)pfn << PFN_SHIFT; /* < 2^44: no overflow */
		if (!page_in_region(r, gpa)) {
			r = guest_mem_find(b->cfg.gm, gpa);
			if (!page_in_region(r, gpa)) {
				b->bad_pfns++;
				continue;
			}
		}
		b->pfns[valid++] = pfn;
	}

	bool sorted = true;
	for (size_t i = 1; i < valid && sorted; i++)
		sorted = b->pfns[i - 1] <= b->pfns[i];
	if (!sorted)
		qsort(b->pfns, valid, sizeof(b->pfns[0]), cmp_u32);

	size_t nruns = 0;
	for (size_t i = 0; i < valid;) {
		uint32_t first = b->pfns[i], last = first;
		r = guest_mem_find(b->cfg.gm, (uint64_t)first << PFN_SHIFT);
		for (i++; i < valid; i++) {
			uint32_t p = b->pfns[i];
			if (p == last) {
				b->duplicate_pfns++;
				continue;
			}
			/* Adjacent regions are separate runs: the ops work per region. */
			if (p != last + 1 || !page_in_region(r, (uint64_t)p << PFN_SHIFT))
				break;
			last = p;
		}
		uint64_t pages = (uint64_t)last - first + 1;
		uint64_t gpa = (uint64_t)first << PFN_SHIFT, len = pages << PFN_SHIFT;
		if (inflate) {
			b->inflated_pages += pages;
			if (b->cfg.mem->discard_runs)
				b->runs[nruns++] = (struct guest_ram_run){ .gpa = gpa, .len = len };
			else
				discard_run(b, gpa, len, false);
		} else {
			b->deflated_pages += pages;
			int ret = 0;
			if (b->cfg.mem->reclaim)
				ret = b->cfg.mem->reclaim(b->cfg.mem_opaque, gpa, len);
			if (ret == -ENOMEM)
				b->held[b->nheld++] = (struct guest_ram_run){ .gpa = gpa,
									      .len = len };
			else if (ret < 0)
				BLOG(b, "deflate: cannot reclaim [%#" PRIx64 ", +%#" PRIx64 "): %s",
				     gpa, len, strerror(-ret));
		}
	}
	if (nruns) {
		uint64_t freed = 0;
		int ret = b->cfg.mem->discard_runs(b->cfg.mem_opaque, b->runs, nruns, &freed);
		if (ret < 0) {
			b->discard_errors++;
			BLOG(b, "discard of %zu runs failed: %s", nruns, strerror(-ret));
		}
		b->discarded_bytes += freed;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_retry(struct balloon *b, bool on)
{
	struct itimerspec its = { 0 };
	if (b->retry_fd < 0)
		return;
	if (on) {
		its.it_value.tv_nsec = DEFLATE_RETRY_MS * 1000000L;
		its.it_interval.tv_nsec = DEFLATE_RETRY_MS * 1000000L;
	}
	if (timerfd_settime(b->retry_fd, 0, &its, NULL) < 0)
		BLOG(b, "deflate retry timer: %s", strerror(errno));
}

/* No timer call here: a device reset runs on a vCPU thread, whose sandbox
 * allows KVM and memory calls only. The retry timer disarms itself on the
 * loop when it finds nothing held. */
static void drop_held(struct balloon *b)
{
	b->deflate_held = false;
	b->nheld = 0;
}

/* Reclaims the held runs again; true when none is left and the held
 * buffer went back to the guest. Lock held. */
static bool retry_held(struct balloon *b)
{
	size_t left = 0;
	for (size_t i = 0; i < b->nheld; i++) {
		const struct guest_ram_run *r = &b->held[i];
		if (b->cfg.mem->reclaim(b->cfg.mem_opaque, r->gpa, r->len) == -ENOMEM)
			b->held[left++] = *r;
	}
	b->nheld = left;
	if (left)
		return false;
	log_notice("virtio-balloon: deflate went through after waiting %" PRId64
		   " ms for the host to back the guest's memory again",
		   now_ms() - b->held_since_ms);
	drop_held(b); /* the retry timer disarms itself on its next expiry */
	if (virtq_push(virtio_mmio_queue(b->t, b->deflate_queue), b->deflate_head, 0) == 0)
		virtio_mmio_notify_used(b->t, b->deflate_queue);
	return true;
}

/* Deflate buffers are processed and their reclaim done before the buffer
 * is returned: that is what MUST_TELL_HOST promises the device. */
static int balloon_pfn_queue(struct balloon *b, struct virtio_mmio *t, uint32_t queue, bool inflate)
{
	struct virtq *q = virtio_mmio_queue(t, queue);
	bool pushed = false;
	int ret;

	/* One deflate at a time while the host cannot back the last one. */
	if (!inflate && b->deflate_held && !retry_held(b))
		return 0;
	unsigned n = 0; /* a bounded batch per call: see VIRTIO_NOTIFY_BUDGET */
	while ((ret = virtio_mmio_pop(q, &b->elem, &n)) == 1) {
		ret = balloon_pfn_buffer(b, &b->elem, inflate);
		if (ret < 0) {
			char why[96];
			snprintf(why, sizeof(why), "%s buffer of %" PRIu64 " bytes (over %u PFNs)",
				 inflate ? "inflate" : "deflate", b->elem.out_len,
				 BALLOON_MAX_PFNS_PER_BUF);
			virtio_mmio_needs_reset(t, ret, why);
			break;
		}
		if (b->nheld) {
			/* Not returned: the guest must not reuse these pages yet. */
			b->deflate_held = true;
			b->deflate_head = b->elem.head;
			b->deflate_queue = queue;
			b->deflate_waits++;
			b->held_since_ms = now_ms();
			log_warn("virtio-balloon: deflate waits: no free huge page to back %zu "
				 "range(s) of guest memory again (the pool was taken by others); "
				 "retrying every %d ms, the guest waits meanwhile",
				 b->nheld, DEFLATE_RETRY_MS);
			arm_retry(b, true);
			ret = 0;
			break;
		}
		ret = virtq_push(q, b->elem.head, 0);
		if (ret < 0)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_used(t, queue);
	return ret;
}

static void balloon_retry_timer(void *opaque, uint32_t events)
{
	struct balloon *b = opaque;
	uint64_t expirations;
	(void)events;

	if (read(b->retry_fd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: nothing pending */
	}
	lock(b);
	/* Released: the guest may have queued more deflates meanwhile. */
	if (b->deflate_held && b->t && retry_held(b))
		(void)balloon_pfn_queue(b, b->t, b->deflate_queue, false);
	if (!b->deflate_held)
		arm_retry(b, false);
	unlock(b);
}

/* ---- statistics ---- */

static int balloon_parse_stats(struct balloon *b, const struct virtq_elem *e)
{
	if (e->out_len > BALLOON_MAX_STATS_ENTRIES * STAT_ENTRY_SIZE)
		return -EMSGSIZE;

	/* As QEMU: a guest that stops sending a statistic reports -1 again. */
	for (int i = 0; i < BALLOON_STAT_COUNT; i++)
		b->stats[i] = -1;
	for (uint64_t off = 0; off + STAT_ENTRY_SIZE <= e->out_len; off += STAT_ENTRY_SIZE) {
		uint8_t ent[STAT_ENTRY_SIZE];
		uint16_t tag;
		uint64_t val;
		if (virtq_elem_read(e, off, ent, sizeof(ent)) != sizeof(ent))
			break;
		memcpy(&tag, ent, 2);
		memcpy(&val, ent + 2, 8);
		tag = le16toh(tag);
		val = le64toh(val);
		if (tag < BALLOON_STAT_COUNT)
			b->stats[tag] = val > INT64_MAX ? INT64_MAX : (int64_t)val;
	}
	b->stats_last_update = (int64_t)time(NULL);
	b->stats_seq++;
	return 0;
}

/* Gives the held stats buffer back (len 0): the driver answers by
 * re-queueing it filled with fresh values. Lock held. */
static int stats_return(struct balloon *b)
{
	if (!b->t || !b->stats_held)
		return -EAGAIN;
	if (virtio_mmio_status(b->t) & VIRTIO_STATUS_NEEDS_RESET)
		return -EIO;
	b->stats_held = false;
	int ret = virtq_push(virtio_mmio_queue(b->t, b->stats_queue), b->stats_head, 0);
	if (ret < 0)
		return ret; /* the driver disabled the queue: the buffer is gone */
	virtio_mmio_notify_used(b->t, b->stats_queue);
	return 0;
}

static int balloon_stats_queue(struct balloon *b, struct virtio_mmio *t, uint32_t queue)
{
	struct virtq *q = virtio_mmio_queue(t, queue);
	int ret;

	unsigned n = 0; /* a bounded batch per call: see VIRTIO_NOTIFY_BUDGET */
	while ((ret = virtio_mmio_pop(q, &b->elem, &n)) == 1) {
		/* The driver has one buffer; should it queue another, return the
		 * older one rather than leak it (as QEMU). */
		if (b->stats_held)
			(void)stats_return(b);
		ret = balloon_parse_stats(b, &b->elem);
		if (ret < 0) {
			char why[96];
			snprintf(why, sizeof(why),
				 "stats buffer of %" PRIu64 " bytes in %u segments "
				 "too large",
				 b->elem.out_len, b->elem.out_num);
			virtio_mmio_needs_reset(t, ret, why);
			return ret;
		}
		b->stats_held = true;
		b->stats_head = b->elem.head;
		b->stats_queue = queue;
	}
	return ret;
}

/* ---- free page reporting ---- */

/* Each writable segment is a free guest range (the driver points the
 * scatter list at the pages themselves); the contents are not read. */
static int balloon_report_queue(struct balloon *b, struct virtio_mmio *t, uint32_t queue)
{
	struct virtq *q = virtio_mmio_queue(t, queue);
	bool pushed = false;
	int ret;

	unsigned n = 0; /* a bounded batch per call: see VIRTIO_NOTIFY_BUDGET */
	while ((ret = virtio_mmio_pop(q, &b->elem, &n)) == 1) {
		for (uint32_t i = 0; i < b->elem.in_num; i++) {
			const struct virtq_seg *s = &b->elem.seg[b->elem.out_num + i];
			if ((s->gpa | s->len) & (BALLOON_PAGE_SIZE - 1)) {
				BLOG(b,
				     "reported range [%#" PRIx64
				     ", +%#x) not page aligned: ignored",
				     s->gpa, s->len);
				continue;
			}
			if (s->len == 0)
				continue;
			/* virtq has checked the segment lies inside one region. */
			b->reported_bytes += s->len;
			/* As QEMU: pages the guest poisons must keep their bytes. */
			if ((virtio_mmio_features(t) & (1ull << VIRTIO_BALLOON_F_PAGE_POISON)) &&
			    b->poison_val) {
				b->reported_kept_bytes += s->len;
				continue;
			}
			discard_run(b, s->gpa, s->len, true);
		}
		ret = virtq_push(q, b->elem.head, 0);
		if (ret < 0)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_used(t, queue);
	return ret;
}

/* ---- transport ops ---- */

static int balloon_notify(void *dev, struct virtio_mmio *t, uint32_t queue)
{
	struct balloon *b = dev;

	switch (queue_role(virtio_mmio_features(t), queue)) {
	case ROLE_INFLATE:
		return balloon_pfn_queue(b, t, queue, true);
	case ROLE_DEFLATE:
		return balloon_pfn_queue(b, t, queue, false);
	case ROLE_STATS:
		return balloon_stats_queue(b, t, queue);
	case ROLE_REPORTING:
		return balloon_report_queue(b, t, queue);
	case ROLE_NONE:
		break;
	}
	BLOG(b, "kick on queue %u, which the negotiated features do not use", queue);
	return 0;
}

/* Device reset (Status 0, e.g. a guest reboot): the held stats buffer is
 * gone with the queues, the guest's new driver starts with an empty
 * balloon so `actual` is 0; the target (num_pages, as QEMU), statistics
 * and counters are kept. */
static void balloon_reset(void *dev)
{
	struct balloon *b = dev;

	b->stats_held = false;
	drop_held(b);
	b->poison_val = 0;
	set_actual(b, 0);
}

/* The driver disabled a queue: a held stats or deflate buffer went with it. */
static void balloon_queue_reset(void *dev, uint32_t queue)
{
	struct balloon *b = dev;
	if (b->stats_held && queue == b->stats_queue)
		b->stats_held = false;
	if (b->deflate_held && queue == b->deflate_queue)
		drop_held(b);
}

/* Every feature and queue the type can have; an instance switches off the
 * options it was not given (struct virtio_device.features_off). A queue the
 * driver does not set up is simply never used. */
static const struct virtio_device_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.num_queues = 4,
	.max_queue_size = BALLOON_QUEUE_SIZE,
	.features = (1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST) |
		    (1ull << VIRTIO_BALLOON_F_STATS_VQ) |
		    (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
		    (1ull << VIRTIO_BALLOON_F_PAGE_POISON) | (1ull << VIRTIO_BALLOON_F_REPORTING),
	.config_size = CONFIG_SIZE,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.notify = balloon_notify,
	.reset = balloon_reset,
	.queue_reset = balloon_queue_reset,
};

/* ---- stats polling timer ---- */

/* Periodic expiry every interval_s (0 disarms); the first one right away
 * when `now`, else one interval from now. */
static int arm_timer(struct balloon *b, uint32_t interval_s, bool now)
{
	struct itimerspec its = { 0 };

	if (b->timer_fd < 0)
		return 0;
	if (interval_s) {
		its.it_interval.tv_sec = interval_s;
		if (now)
			its.it_value.tv_nsec = 1;
		else
			its.it_value.tv_sec = interval_s;
	}
	return timerfd_settime(b->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static void balloon_timer(void *opaque, uint32_t events)
{
	struct balloon *b = opaque;
	uint64_t expirations;
	(void)events;

	if (read(b->timer_fd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: nothing pending */
	}
	lock(b);
	if (b->stats_held)
		(void)stats_return(b);
	unlock(b);
}

/* ---- life cycle ---- */

int balloon_new(const struct balloon_config *cfg, struct balloon **out)
{
	struct balloon *b;
	int ret;

	if (!cfg || !out || !cfg->gm || !cfg->mem || !cfg->mem->discard ||
	    cfg->ram_size < BALLOON_PAGE_SIZE)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->timer_fd = b->retry_fd = -1;
	b->pfns = malloc(BALLOON_MAX_PFNS_PER_BUF * sizeof(b->pfns[0]));
	b->runs = malloc(BALLOON_MAX_PFNS_PER_BUF * sizeof(b->runs[0]));
	b->held = malloc(BALLOON_MAX_PFNS_PER_BUF * sizeof(b->held[0]));
	if (!b->pfns || !b->runs || !b->held) {
		ret = -ENOMEM;
		goto err;
	}
	b->cfg = *cfg;
	b->ram_pages = cfg->ram_size >> PFN_SHIFT;
	b->rl = (struct ratelimit)RATELIMIT_INIT(5000, 5);
	for (int i = 0; i < BALLOON_STAT_COUNT; i++)
		b->stats[i] = -1;
	b->stats_interval_s = cfg->stats_interval_s;

	if (cfg->loop) {
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->timer_fd < 0) {
			ret = -errno;
			goto err;
		}
		ret = evloop_add(cfg->loop, b->timer_fd, EPOLLIN, balloon_timer, b);
		if (ret < 0) {
			close(b->timer_fd);
			b->timer_fd = -1;
			goto err;
		}
		ret = arm_timer(b, b->stats_interval_s, false);
		if (ret < 0)
			goto err;
		b->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->retry_fd < 0) {
			ret = -errno;
			goto err;
		}
		ret = evloop_add(cfg->loop, b->retry_fd, EPOLLIN, balloon_retry_timer, b);
		if (ret < 0) {
			close(b->retry_fd);
			b->retry_fd = -1;
			goto err;
		}
	}
	*out = b;
	return 0;
err:
	balloon_free(b);
	return ret;
}

void balloon_free(struct balloon *b)
{
	if (!b)
		return;
	if (b->timer_fd >= 0) {
		evloop_del(b->cfg.loop, b->timer_fd);
		close(b->timer_fd);
	}
	if (b->retry_fd >= 0) {
		evloop_del(b->cfg.loop, b->retry_fd);
		close(b->retry_fd);
	}
	free(b->pfns);
	free(b->runs);
	free(b->held);
	free(b);
}

struct virtio_device balloon_virtio_device(struct balloon *b)
{
	uint64_t off = 0;
	if (!b->cfg.deflate_on_oom)
		off |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (!b->cfg.free_page_reporting)
		off |= 1ull << VIRTIO_BALLOON_F_REPORTING;
	return (struct virtio_device){ .ops = &balloon_ops, .dev = b, .features_off = off };
}

void balloon_attach(struct balloon *b, struct virtio_mmio *t)
{
	b->t = t;
}

/* ---- monitor-facing ---- */

int balloon_set_num_pages(struct balloon *b, uint64_t pages)
{
	if (pages > b->ram_pages || pages > UINT32_MAX)
		return -EINVAL;
	lock(b);
	b->num_pages = (uint32_t)pages;
	/* Bumps ConfigGeneration and interrupts a DRIVER_OK guest, even when
	 * the value is unchanged (as QEMU's virtio_notify_config). */
	if (b->t)
		virtio_mmio_config_changed(b->t);
	unlock(b);
	return 0;
}

int balloon_set_target(struct balloon *b, uint64_t guest_bytes)
{
	if (guest_bytes == 0)
		return -EINVAL;
	if (guest_bytes > b->cfg.ram_size)
		guest_bytes = b->cfg.ram_size;
	uint64_t pages = (b->cfg.ram_size - guest_bytes) >> PFN_SHIFT;
	return balloon_set_num_pages(b, MIN(pages, (uint64_t)UINT32_MAX));
}

void balloon_query(struct balloon *b, struct balloon_info *out)
{
	lock(b);
	*out = (struct balloon_info){
		.ram_size = b->cfg.ram_size,
		.target_pages = b->num_pages,
		.actual_pages = b->actual,
		.actual_bytes = guest_bytes_for(b, b->actual),
		.target_bytes = guest_bytes_for(b, b->num_pages),
		.driver_ready = b->t && (virtio_mmio_status(b->t) & VIRTIO_STATUS_DRIVER_OK),
		.inflated_pages = b->inflated_pages,
		.deflated_pages = b->deflated_pages,
		.discarded_bytes = b->discarded_bytes,
		.reported_bytes = b->reported_bytes,
		.reported_kept_bytes = b->reported_kept_bytes,
		.poison_val = b->poison_val,
		.bad_pfns = b->bad_pfns,
		.duplicate_pfns = b->duplicate_pfns,
		.discard_errors = b->discard_errors,
		.deflate_waits = b->deflate_waits,
		.deflate_waiting = b->deflate_held,
	};
	unlock(b);
}

void balloon_get_stats(struct balloon *b, struct balloon_stats *out)
{
	lock(b);
	memcpy(out->value, b->stats, sizeof(out->value));
	out->last_update = b->stats_last_update;
	out->seq = b->stats_seq;
	out->polling_interval_s = b->stats_interval_s;
	unlock(b);
}

int balloon_set_stats_interval(struct balloon *b, uint32_t seconds)
{
	int ret = 0;

	lock(b);
	uint32_t old = b->stats_interval_s;
	if (seconds != old) {
		/* Turning polling on asks at once (as QEMU); changing the period
		 * starts a new one from now. */
		ret = arm_timer(b, seconds, old == 0);
		if (ret == 0)
			b->stats_interval_s = seconds;
	}
	unlock(b);
	return ret;
}

int balloon_request_stats(struct balloon *b)
{
	lock(b);
	int ret = stats_return(b);
	unlock(b);
	return ret;
}

const char *balloon_stat_name(enum balloon_stat s)
{
	static const char *const names[BALLOON_STAT_COUNT] = {
		[BALLOON_STAT_SWAP_IN] = "stat-swap-in",
		[BALLOON_STAT_SWAP_OUT] = "stat-swap-out",
		[BALLOON_STAT_MAJOR_FAULTS] = "stat-major-faults",
		[BALLOON_STAT_MINOR_FAULTS] = "stat-minor-faults",
		[BALLOON_STAT_FREE_MEMORY] = "stat-free-memory",
		[BALLOON_STAT_TOTAL_MEMORY] = "stat-total-memory",
		[BALLOON_STAT_AVAILABLE_MEMORY] = "stat-available-memory",
		[BALLOON_STAT_DISK_CACHES] = "stat-disk-caches",
		[BALLOON_STAT_HTLB_PGALLOC] = "stat-htlb-pgalloc",
		[BALLOON_STAT_HTLB_PGFAIL] = "stat-htlb-pgfail",
		[BALLOON_STAT_OOM_KILLS] = "stat-oom-kills",
		[BALLOON_STAT_ALLOC_STALLS] = "stat-alloc-stalls",
		[BALLOON_STAT_ASYNC_SCANS] = "stat-async-scans",
		[BALLOON_STAT_DIRECT_SCANS] = "stat-direct-scans",
		[BALLOON_STAT_ASYNC_RECLAIMS] = "stat-async-reclaims",
		[BALLOON_STAT_DIRECT_RECLAIMS] = "stat-direct-reclaims",
	};
	return (unsigned)s < BALLOON_STAT_COUNT ? names[s] : NULL;
}
