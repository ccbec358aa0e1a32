/* Split virtqueues (virtio 1.x, section 2.7), device side.
 *
 * Depends only on the guest-memory registry: every ring, descriptor table
 * and buffer the guest names is translated with guest_mem_ptr() after
 * overflow-safe bounds checks, so nothing the guest writes can make memvm
 * touch host memory outside guest RAM.
 *
 * A queue is not thread-safe: its owner (the virtio-mmio transport, under
 * its lock) serialises every call. The guest runs concurrently, so ring
 * indices are accessed with acquire/release atomics and fences, and each
 * descriptor is copied once before it is checked (no double fetch).
 *
 * Errors are sticky: once a queue has seen a malformed ring it returns the
 * same negative errno from virtq_pop() until virtq_reset()/virtq_init(), so
 * the transport can mark the device NEEDS_RESET. */
#ifndef MEMVM_VIRTQ_H
#define MEMVM_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/guest_mem.h"
#include "vmm/lib/util.h"

/* Ring feature bits (bit numbers) the queue implements. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29

#define VIRTQ_MAX_SIZE 32768u

/* Guest-visible ring layout (little-endian, as virtio 1.x requires). */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Sizes and alignments of the three ring areas for a queue of n entries.
 * The event-idx fields (used_event at the end of the avail ring,
 * avail_event at the end of the used ring) are counted only when
 * VIRTIO_F_EVENT_IDX is negotiated. */
#define VIRTQ_DESC_ALIGN          16u
#define VIRTQ_AVAIL_ALIGN         2u
#define VIRTQ_USED_ALIGN          4u
#define VIRTQ_DESC_BYTES(n)       (16ull * (n))
#define VIRTQ_AVAIL_BYTES(n, evt) (4ull + 2ull * (n) + ((evt) ? 2u : 0u))
#define VIRTQ_USED_BYTES(n, evt)  (4ull + 8ull * (n) + ((evt) ? 2u : 0u))

/* Upper bound on the segments of one chain (like IOV_MAX). Longer chains,
 * even legal ones built from an indirect table, are rejected with -E2BIG. */
#define VIRTQ_ELEM_MAX_SEGS 1024u

/* One guest buffer, already validated: [hva, hva+len) lies inside one
 * guest RAM region and is the host view of [gpa, gpa+len). A descriptor
 * spanning two adjacent regions yields two segments. */
struct virtq_seg {
	void *hva;
	uint64_t gpa;
	uint32_t len;
};

/* A popped descriptor chain. Device-readable ("out") segments come first:
 * seg[0, out_num); device-writable ("in") segments follow:
 * seg[out_num, out_num + in_num). Large (about 24 KiB): keep it in the
 * device instance, not on the stack. */
struct virtq_elem {
	uint16_t head; /* pass to virtq_push() */
	uint32_t out_num;
	uint32_t in_num;
	uint64_t out_len; /* total readable bytes */
	uint64_t in_len;  /* total writable bytes */
	struct virtq_seg seg[VIRTQ_ELEM_MAX_SEGS];
};

/* Where the driver put the three ring areas (guest-physical). */
struct virtq_addrs {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
};

struct virtq;

/* A queue in its initial (not ready) state. NULL on allocation failure.
 * gm must outlive the queue. */
struct virtq *virtq_new(const struct guest_mem *gm) WUR;
void virtq_free(struct virtq *q);

/* Makes the queue ready: size must be a power of two in [1, 32768]
 * (-EINVAL), each ring area correctly aligned (-EINVAL) and wholly inside
 * one guest RAM region (-EFAULT). `features` are the negotiated feature
 * bits (VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX are honoured). Indices
 * start at 0. On error the queue is left not ready. */
int virtq_init(struct virtq *q, uint32_t size, const struct virtq_addrs *a, uint64_t features) WUR;
/* Back to the initial state: not ready, indices 0, error cleared. */
void virtq_reset(struct virtq *q);

bool virtq_ready(const struct virtq *q);
uint32_t virtq_size(const struct virtq *q);
/* Next avail slot the device will consume / next used slot it will fill. */
uint16_t virtq_last_avail_idx(const struct virtq *q);
uint16_t virtq_used_idx(const struct virtq *q);
/* The sticky error (0 if none) and a short static description of it. */
int virtq_error(const struct virtq *q);
const char *virtq_error_reason(const struct virtq *q);

/* Pops the next available chain into *elem: 1 when one was popped, 0 when
 * the ring is empty (or the queue is not ready), negative errno when the
 * guest broke the ring: -EINVAL (bad index, flags, ordering or indirect
 * table), -EFAULT (a buffer or table outside guest RAM), -ELOOP (chain
 * longer than its table: a loop), -E2BIG (more than VIRTQ_ELEM_MAX_SEGS
 * segments). With VIRTIO_F_EVENT_IDX it also publishes avail_event. */
int virtq_pop(struct virtq *q, struct virtq_elem *elem) WUR;

/* Returns chain `head` to the driver with `written` bytes written into its
 * writable buffers, and publishes the new used index. -EINVAL if the queue
 * is not ready or head is out of range. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written) WUR;

/* After one or more pushes: true when the driver wants an interrupt
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_F_EVENT_IDX). */
bool virtq_should_notify(struct virtq *q);

/* Copy helpers over a popped chain: read from its readable segments or
 * write into its writable ones, starting `off` bytes in. Return the number
 * of bytes copied (short when the buffers end first). */
size_t virtq_elem_read(const struct virtq_elem *elem, uint64_t off, void *dst, size_t len);
size_t virtq_elem_write(const struct virtq_elem *elem, uint64_t off, const void *src, size_t len);

#endif
