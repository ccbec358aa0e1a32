/* virtio-rng (virtio device id 4): one queue of driver-supplied writable
 * buffers, filled from the host's getrandom(2). The simple second device
 * that proves the virtio-mmio transport. */
#ifndef MEMVM_VIRTIO_RNG_H
#define MEMVM_VIRTIO_RNG_H

#include <stdint.h>

#include "devices/virtio_mmio.h"
#include "vmm/lib/util.h"

#define VIRTIO_ID_RNG         4
#define VIRTIO_RNG_QUEUE_SIZE 256u
/* Bytes supplied per buffer at most: bounds the time one guest request
 * holds the transport lock (the driver then simply asks again). */
#define VIRTIO_RNG_MAX_PER_BUF (64u * 1024)

struct virtio_rng;

/* NULL on allocation failure. */
struct virtio_rng *virtio_rng_new(void) WUR;
/* After the transport that uses it has been freed. */
void virtio_rng_free(struct virtio_rng *rng);

/* The instance for virtio_mmio_config.device. */
struct virtio_device virtio_rng_device(struct virtio_rng *rng);

/* Random bytes handed to the guest so far (any thread). */
uint64_t virtio_rng_bytes(const struct virtio_rng *rng);

#endif
