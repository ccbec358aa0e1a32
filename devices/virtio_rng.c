#include "devices/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/virtq.h"

struct virtio_rng {
	struct virtq_elem elem; /* large: lives here, not on the stack */
	uint64_t bytes;         /* atomic: read from other threads */
};

struct virtio_rng *virtio_rng_new(void)
{
	return calloc(1, sizeof(struct virtio_rng));
}

void virtio_rng_free(struct virtio_rng *rng)
{
	free(rng);
}

/* Fills up to `max` bytes of the chain's writable segments: bytes written.
 * Non-blocking, so an early-boot host without entropy yet just gives
 * less (the device may always write fewer bytes than offered). */
static uint32_t fill(const struct virtq_elem *e, uint32_t max)
{
	uint32_t done = 0;
	for (uint32_t i = 0; i < e->in_num && done < max; i++) {
		const struct virtq_seg *s = &e->seg[e->out_num + i];
		uint32_t want = MIN(s->len, max - done), got = 0;
		while (got < want) {
			ssize_t n = getrandom((uint8_t *)s->hva + got, want - got, GRND_NONBLOCK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + got;
			got += (uint32_t)n;
		}
		done += got;
	}
	return done;
}

static int rng_notify(void *dev, struct virtio_mmio *t, uint32_t queue)
{
	struct virtio_rng *rng = dev;
	struct virtq *q = virtio_mmio_queue(t, queue);
	bool pushed = false;
	int ret;

	unsigned n = 0; /* a bounded batch per call: see VIRTIO_NOTIFY_BUDGET */
	while ((ret = virtio_mmio_pop(q, &rng->elem, &n)) == 1) {
		uint32_t n = fill(&rng->elem, VIRTIO_RNG_MAX_PER_BUF);
		ret = virtq_push(q, rng->elem.head, n);
		if (ret < 0)
			break;
		if (__atomic_fetch_add(&rng->bytes, n, __ATOMIC_RELAXED) == 0 && n)
			log_debug("virtio-rng: first %u bytes of entropy served to the guest", n);
		pushed = true;
	}
	/* Interrupt for what was completed even if a later chain was bad. */
	if (pushed)
		virtio_mmio_notify_used(t, queue);
	return ret;
}

static const struct virtio_device_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.max_queue_size = VIRTIO_RNG_QUEUE_SIZE,
	.features = 0,
	.config_size = 0,
	.notify = rng_notify,
	/* No reset op: nothing is held across notifications. */
};

struct virtio_device virtio_rng_device(struct virtio_rng *rng)
{
	return (struct virtio_device){ .ops = &virtio_rng_ops, .dev = rng };
}

uint64_t virtio_rng_bytes(const struct virtio_rng *rng)
{
	return __atomic_load_n(&rng->bytes, __ATOMIC_RELAXED);
}
