#include "devices/virtio_mmio.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct vm_queue {
	struct virtio_mmio *t; /* back pointer for the event-loop callback */
	uint32_t index;
	struct virtq *vq;
	/* QueueNum and the ring addresses as last written; they take effect
	 * (validated by virtq_init) when the driver writes QueueReady = 1. */
	uint32_t num;
	struct virtq_addrs addrs;
	/* eventfd signalled by KVM on QueueNotify (datamatch = index) and
	 * watched by the event loop; -1 when kicks arrive as MMIO exits and
	 * notify is called directly on the vCPU thread. */
	int efd;
};

struct virtio_mmio {
	/* Recursive: device ops run under it and call back into the
	 * transport. Protects everything below except the constant set-up
	 * fields (base, irq, gm, loop, device, device_features, nq, fds). */
	pthread_mutex_t lock;
	uint64_t base;
	uint32_t irq;
	const struct guest_mem *gm;
	struct evloop *loop;
	struct virtio_device device;
	uint64_t device_features;
	int irq_fd;

	uint32_t status;
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	uint32_t isr; /* InterruptStatus */
	uint32_t config_gen;
	struct ratelimit rl; /* guest-triggerable log lines */

	uint32_t nq;
	struct vm_queue q[];
};

#define TLOG(t, fmt, ...)                                                          \
	do {                                                                       \
		if (ratelimit_ok(&(t)->rl))                                        \
			log_warn("virtio-mmio@%#" PRIx64 " (%s): " fmt, (t)->base, \
				 (t)->device.ops->name, __VA_ARGS__);              \
	} while (0)

/* ---- interrupts and notifications (lock held) ---- */

static void raise_irq(struct virtio_mmio *t, uint32_t bit)
{
	uint64_t one = 1;
	t->isr |= bit;
	/* Always pulse (edge): a coalesced pulse could be lost while the
	 * guest has the pin masked, leaving a pending bit nobody services.
	 * EAGAIN (counter saturated) means a signal is pending anyway. */
	if (write(t->irq_fd, &one, sizeof(one)) < 0) {
		/* nothing more to do */
	}
}

static void set_needs_reset(struct virtio_mmio *t, int err, const char *why)
{
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	TLOG(t, "%s (error %d); device needs reset", why, err);
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* virtio 1.x 2.1.2: after DRIVER_OK, NEEDS_RESET comes with a
	 * configuration change notification. */
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
}

static void run_notify(struct virtio_mmio *t, uint32_t i)
{
	/* The device may not touch rings before DRIVER_OK (pending kicks are
	 * replayed then), on a disabled queue, or once it is broken. */
	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if (!virtq_ready(t->q[i].vq))
		return;
	int ret;
	while ((ret = t->device.ops->notify(t->device.dev, t, i)) == VIRTIO_NOTIFY_MORE) {
		/* Budget used up: on the event loop, come back after the other
		 * ready descriptors (the eventfd stays signalled); without one
		 * (unit tests), go on here. */
		if (t->q[i].efd >= 0) {
			uint64_t one = 1;
			if (write(t->q[i].efd, &one, sizeof(one)) < 0) {
				/* saturated: a kick is pending anyway */
			}
			return;
		}
	}
	if (ret < 0) {
		const char *why = virtq_error_reason(t->q[i].vq);
		char buf[128];
		snprintf(buf, sizeof(buf), "queue %u: %s", i, why ? why : "device error");
		set_needs_reset(t, ret, buf);
	}
}

/* Event-loop callback: KVM signalled the queue's ioeventfd. */
static void queue_kicked(void *opaque, uint32_t events)
{
	struct vm_queue *q = opaque;
	uint64_t cnt;
	(void)events;
	/* Non-blocking; one callback serves any number of kicks. */
	if (read(q->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: already drained */
	}
	pthread_mutex_lock(&q->t->lock);
	run_notify(q->t, q->index);
	pthread_mutex_unlock(&q->t->lock);
}

/* ---- register file (lock held) ---- */

static void reset_locked(struct virtio_mmio *t)
{
	for (uint32_t i = 0; i < t->nq; i++) {
		virtq_reset(t->q[i].vq);
		t->q[i].num = 0;
		t->q[i].addrs = (struct virtq_addrs){ 0 };
	}
	if (t->device.ops->reset)
		t->device.ops->reset(t->device.dev);
	t->status = 0;
	t->dev_features_sel = 0;
	t->drv_features_sel = 0;
	t->drv_features = 0;
	t->queue_sel = 0;
	t->isr = 0;
	/* config_gen keeps counting: a driver must never see it repeat. */
}

static bool features_ok(const struct virtio_mmio *t)
{
	return !(t->drv_features & ~t->device_features) &&
	       (t->drv_features & (1ull << VIRTIO_F_VERSION_1));
}

static void kick_queue(struct virtio_mmio *t, uint32_t i);

static void write_status(struct virtio_mmio *t, uint32_t v)
{
	v &= 0xff;
	if (v == 0) {
		reset_locked(t);
		return;
	}
	uint32_t old = t->status;
	/* The driver may only set bits (2.1.2) and never NEEDS_RESET. */
	if (old & ~v & ~VIRTIO_STATUS_NEEDS_RESET)
		TLOG(t, "driver cleared status bits %#x (ignored)", old & ~v);
	uint32_t next = old | (v & ~VIRTIO_STATUS_NEEDS_RESET);
	uint32_t set = next & ~old;
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !features_ok(t)) {
		TLOG(t, "features %#" PRIx64 " refused (offered %#" PRIx64 ")", t->drv_features,
		     t->device_features);
		next &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((set & VIRTIO_STATUS_DRIVER_OK) && !(next & VIRTIO_STATUS_FEATURES_OK))
		next &= ~VIRTIO_STATUS_DRIVER_OK;
	t->status = next;

	if ((next & ~old) & VIRTIO_STATUS_DRIVER_OK) {
		log_debug("%s at %#" PRIx64 ": driver ready, features %#" PRIx64,
			  t->device.ops->name, t->base, t->drv_features);
		if (t->device.ops->driver_ok)
			t->device.ops->driver_ok(t->device.dev, t);
		for (uint32_t i = 0; i < t->nq; i++)
			if (virtq_ready(t->q[i].vq))
				kick_queue(t, i);
	}
}

static struct vm_queue *sel_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->nq ? &t->q[t->queue_sel] : NULL;
}

static void write_queue_ready(struct virtio_mmio *t, struct vm_queue *q, uint32_t v)
{
	if (!v) {
		virtq_reset(q->vq);
		if (t->device.ops->queue_reset)
			t->device.ops->queue_reset(t->device.dev, q->index);
		return;
	}
	if (virtq_ready(q->vq))
		return;
	int ret = -EINVAL;
	const char *why = "queue enabled before FEATURES_OK";
	if (t->status & VIRTIO_STATUS_FEATURES_OK) {
		why = "QueueNum above QueueNumMax";
		if (q->num <= t->device.ops->max_queue_size) {
			ret = virtq_init(q->vq, q->num, &q->addrs, t->drv_features);
			why = ret == -EFAULT   ? "ring outside guest RAM"
			      : ret == -ENOMEM ? "ring in guest RAM the host cannot back"
					       : "bad queue size or ring alignment";
		}
	}
	if (ret < 0) {
		char buf[192];
		snprintf(buf, sizeof(buf),
			 "queue %u (num %u desc %#" PRIx64 " avail %#" PRIx64 " used %#" PRIx64
			 ") refused: %s",
			 q->index, q->num, q->addrs.desc, q->addrs.avail, q->addrs.used, why);
		set_needs_reset(t, ret, buf);
	}
}

static void set_half(uint64_t *v, bool high, uint32_t half)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)half << 32);
	else
		*v = (*v & ~0xffffffffull) | half;
}

/* A kick from the vCPU side. With an ioeventfd the kick goes through the
 * eventfd, so notify for that queue always runs on the event-loop thread;
 * without one notify is called right here. */
static void kick_queue(struct virtio_mmio *t, uint32_t i)
{
	struct vm_queue *q = &t->q[i];
	if (q->efd >= 0) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof(one)) < 0) {
			/* saturated: a kick is pending */
		}
		return;
	}
	run_notify(t, i);
}

static void write_notify(struct virtio_mmio *t, uint32_t v)
{
	/* KVM consumes matching QueueNotify writes; those that exit anyway
	 * (fallback, or another access size) arrive here. */
	if (v >= t->nq) {
		TLOG(t, "QueueNotify for missing queue %u", v);
		return;
	}
	kick_queue(t, v);
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct vm_queue *q = sel_queue(t);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->device.ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->dev_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		/* 0 tells Linux the queue does not exist. */
		return q ? t->device.ops->max_queue_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? virtq_ready(q->vq) : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->isr;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* All-ones length: no shared memory region. */
		return 0xffffffffu;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_gen;
	default:
		/* Write-only registers and holes read as 0. */
		return 0;
	}
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct vm_queue *q = sel_queue(t);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Frozen once FEATURES_OK was accepted. */
		if ((t->status & VIRTIO_STATUS_FEATURES_OK) || t->drv_features_sel > 1)
			return;
		set_half(&t->drv_features, t->drv_features_sel == 1, v);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		if (q)
			write_queue_ready(t, q, v);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		write_notify(t, v);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~v;
		return;
	case VIRTIO_MMIO_STATUS:
		write_status(t, v);
		return;
	default:
		break;
	}

	/* Queue layout registers: ignored for a missing or enabled queue (the
	 * driver must disable a queue before changing it). */
	if (!q || virtq_ready(q->vq))
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->addrs.desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		set_half(&q->addrs.avail, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		set_half(&q->addrs.used, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		/* Read-only registers and holes: writes are dropped. */
		break;
	}
}

/* ---- bus handlers (vCPU threads) ---- */

/* Device-specific config space: any access width, but the whole access
 * must lie inside config_size; anything else reads 0 / is dropped. */
static bool config_range(const struct virtio_mmio *t, uint64_t off, uint32_t len, uint32_t *coff)
{
	uint64_t c = off - VIRTIO_MMIO_CONFIG;
	if (c > t->device.ops->config_size || len > t->device.ops->config_size - c)
		return false;
	*coff = (uint32_t)c;
	return true;
}

static void mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t coff;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_WINDOW)
		return;
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (!config_range(t, off, len, &coff) || !t->device.ops->config_read)
			return;
		pthread_mutex_lock(&t->lock);
		t->device.ops->config_read(t->device.dev, coff, data, len);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	/* Control registers: 32-bit aligned accesses only (4.2.2.2). */
	if (len != 4 || (off & 3)) {
		TLOG(t, "ignored %u-byte read at %#" PRIx64, len, off);
		return;
	}
	pthread_mutex_lock(&t->lock);
	uint32_t v = htole32(reg_read(t, off));
	pthread_mutex_unlock(&t->lock);
	memcpy(data, &v, sizeof(v));
}

static void mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t coff;

	if (off >= VIRTIO_MMIO_WINDOW)
		return;
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (!config_range(t, off, len, &coff) || !t->device.ops->config_write)
			return;
		pthread_mutex_lock(&t->lock);
		t->device.ops->config_write(t->device.dev, coff, data, len);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	if (len != 4 || (off & 3)) {
		TLOG(t, "ignored %u-byte write at %#" PRIx64, len, off);
		return;
	}
	uint32_t v;
	memcpy(&v, data, sizeof(v));
	pthread_mutex_lock(&t->lock);
	reg_write(t, off, le32toh(v));
	pthread_mutex_unlock(&t->lock);
}

static const struct bus_ops virtio_mmio_bus_ops = {
	.name = "virtio-mmio",
	.read = mmio_read,
	.write = mmio_write,
};

/* ---- life cycle ---- */

static bool ops_valid(const struct virtio_device_ops *ops)
{
	return ops && ops->device_id != 0 && ops->notify && ops->num_queues >= 1 &&
	       ops->num_queues <= VIRTIO_MMIO_MAX_QUEUES && IS_POW2(ops->max_queue_size) &&
	       ops->max_queue_size <= VIRTQ_MAX_SIZE && ops->config_size <= VIRTIO_MMIO_CONFIG_MAX;
}

/* Sets up queue i's kick path: eventfd + event loop + KVM ioeventfd, or
 * nothing (direct calls) when any part is unavailable. */
static int setup_kick(struct virtio_mmio *t, const struct virtio_platform *p, uint32_t i)
{
	struct vm_queue *q = &t->q[i];
	if (!t->loop || !p || !p->ioeventfd)
		return 0;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	int ret = evloop_add(t->loop, fd, EPOLLIN, queue_kicked, q);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	ret = p->ioeventfd(p->opaque, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i, fd);
	/* Without KVM's ioeventfd the QueueNotify exit writes the eventfd
	 * itself (kick_queue), so device work stays on the loop either way. */
	if (ret < 0)
		log_warn("virtio-mmio@%#" PRIx64 " (%s): ioeventfd for queue %u failed (%s); "
			 "using QueueNotify exits",
			 t->base, t->device.ops->name, i, strerror(-ret));
	q->efd = fd;
	return 0;
}

int virtio_mmio_new(const struct virtio_mmio_config *cfg, struct virtio_mmio **out)
{
	pthread_mutexattr_t attr;
	struct virtio_mmio *t;
	int ret;

	if (!cfg || !out || !cfg->gm || !ops_valid(cfg->device.ops) ||
	    (cfg->base & (VIRTIO_MMIO_WINDOW - 1)))
		return -EINVAL;
	const struct virtio_device_ops *ops = cfg->device.ops;
	t = calloc(1, sizeof(*t) + ops->num_queues * sizeof(t->q[0]));
	if (!t)
		return -ENOMEM;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	ret = -pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ret < 0) {
		free(t);
		return ret;
	}
	t->base = cfg->base;
	t->irq = cfg->irq;
	t->gm = cfg->gm;
	t->loop = cfg->loop;
	t->device = cfg->device;
	t->device_features = (ops->features & ~cfg->device.features_off) |
			     VIRTIO_MMIO_TRANSPORT_FEATURES;
	t->rl = (struct ratelimit)RATELIMIT_INIT(5000, 5);
	t->nq = ops->num_queues;
	t->irq_fd = -1;
	for (uint32_t i = 0; i < t->nq; i++) {
		t->q[i] = (struct vm_queue){ .t = t, .index = i, .efd = -1 };
	}

	for (uint32_t i = 0; i < t->nq; i++) {
		t->q[i].vq = virtq_new(cfg->gm);
		if (!t->q[i].vq) {
			ret = -ENOMEM;
			goto err;
		}
	}
	/* The eventfd exists even without a platform, so raising an
	 * interrupt has one code path; unit tests read it back. */
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_fd < 0) {
		ret = -errno;
		goto err;
	}
	for (uint32_t i = 0; i < t->nq; i++) {
		ret = setup_kick(t, cfg->platform, i);
		if (ret < 0)
			goto err;
	}
	if (cfg->platform && cfg->platform->irqfd) {
		ret = cfg->platform->irqfd(cfg->platform->opaque, t->irq, t->irq_fd);
		if (ret < 0) {
			log_error("virtio-mmio@%#" PRIx64 " (%s): irqfd for GSI %u: %s", t->base,
				  ops->name, t->irq, strerror(-ret));
			goto err;
		}
	}
	*out = t;
	return 0;
err:
	virtio_mmio_free(t);
	return ret;
}

void virtio_mmio_free(struct virtio_mmio *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nq; i++) {
		if (t->q[i].efd >= 0) {
			evloop_del(t->loop, t->q[i].efd);
			close(t->q[i].efd);
		}
		virtq_free(t->q[i].vq);
	}
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int virtio_mmio_register(struct bus *bus, struct virtio_mmio *t)
{
	return bus_register(bus, t->base, VIRTIO_MMIO_WINDOW, &virtio_mmio_bus_ops, t);
}

/* ---- device-facing API ---- */

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, uint32_t queue)
{
	return queue < t->nq ? t->q[queue].vq : NULL;
}

uint64_t virtio_mmio_features(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t f = (t->status & VIRTIO_STATUS_FEATURES_OK) ? t->drv_features : 0;
	pthread_mutex_unlock(&t->lock);
	return f;
}

uint32_t virtio_mmio_status(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	uint32_t s = t->status;
	pthread_mutex_unlock(&t->lock);
	return s;
}

void virtio_mmio_notify_used(struct virtio_mmio *t, uint32_t queue)
{
	if (queue >= t->nq)
		return;
	pthread_mutex_lock(&t->lock);
	if (virtq_should_notify(t->q[queue].vq))
		raise_irq(t, VIRTIO_MMIO_INT_VRING);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	t->config_gen++;
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t, int err, const char *why)
{
	pthread_mutex_lock(&t->lock);
	set_needs_reset(t, err, why ? why : "device error");
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_reset(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	reset_locked(t);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

uint64_t virtio_mmio_base(const struct virtio_mmio *t)
{
	return t->base;
}

uint64_t virtio_mmio_size(const struct virtio_mmio *t)
{
	(void)t;
	return VIRTIO_MMIO_WINDOW;
}

uint32_t virtio_mmio_irq(const struct virtio_mmio *t)
{
	return t->irq;
}

uint32_t virtio_mmio_device_id(const struct virtio_mmio *t)
{
	return t->device.ops->device_id;
}

int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t size)
{
	return virtio_mmio_cmdline_at(t->base, t->irq, buf, size);
}

int virtio_mmio_cmdline_at(uint64_t base, uint32_t irq, char *buf, size_t size)
{
	int n = snprintf(buf, size, "virtio_mmio.device=%uK@0x%" PRIx64 ":%u",
			 VIRTIO_MMIO_WINDOW / 1024, base, irq);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return n;
}
