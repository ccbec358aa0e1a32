#include "devices/virtq.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct virtq {
	const struct guest_mem *gm;
	bool ready;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;  /* VIRTIO_F_INDIRECT_DESC negotiated */
	uint32_t size;  /* power of two */
	struct virtq_addrs addrs;
	/* Host views of the ring areas, validated by virtq_init(). The memory
	 * map is fixed while vCPUs run, so caching them is safe. */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
	uint16_t last_avail;     /* next avail ring slot to consume */
	uint16_t shadow_avail;   /* last avail->idx read (acquire) */
	uint16_t used_idx;       /* next used ring slot to fill */
	uint16_t signalled_used; /* used_idx at the last notify decision */
	bool signalled_valid;
	int err;
	const char *err_reason;
};

/* Ring field accessors. The rings are shared with guest vCPUs running
 * concurrently, so every access is a single atomic load/store of the
 * naturally aligned field (alignment is checked in virtq_init). */
static inline uint16_t ld16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static inline void st16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

static inline void st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* avail: flags, idx, ring[size], used_event. used: flags, idx,
 * ring[size] of {id, len}, avail_event. */
#define AVAIL_FLAGS(q)   ((q)->avail)
#define AVAIL_IDX(q)     ((q)->avail + 2)
#define AVAIL_RING(q, i) ((q)->avail + 4 + 2 * (size_t)(i))
#define USED_EVENT(q)    AVAIL_RING(q, (q)->size)
#define USED_IDX(q)      ((q)->used + 2)
#define USED_RING(q, i)  ((q)->used + 4 + 8 * (size_t)(i))
#define AVAIL_EVENT(q)   USED_RING(q, (q)->size)

/* Copies one descriptor out of guest memory exactly once: every check and
 * use below works on the copy, so a guest rewriting the table while we
 * walk it cannot change a value between its check and its use. Indirect
 * tables need not be aligned, hence memcpy. */
static void read_desc(const uint8_t *p, struct virtq_desc *d)
{
	memcpy(d, p, sizeof(*d));
	/* Compiler barrier: forbids re-reading guest memory in place of d. */
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static int virtq_fail(struct virtq *q, int err, const char *reason)
{
	q->err = err;
	q->err_reason = reason;
	return err;
}

struct virtq *virtq_new(const struct guest_mem *gm)
{
	struct virtq *q = calloc(1, sizeof(*q));
	if (q)
		q->gm = gm;
	return q;
}

void virtq_free(struct virtq *q)
{
	free(q);
}

void virtq_reset(struct virtq *q)
{
	const struct guest_mem *gm = q->gm;
	*q = (struct virtq){ .gm = gm };
}

/* Host view of a ring area: inside one RAM region and aligned both in
 * guest-physical and host-virtual terms (the atomics need the latter). */
static void *map_area(const struct virtq *q, uint64_t gpa, uint64_t len, uint64_t align, int *err)
{
	if (gpa & (align - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	void *p;
	int ret = guest_mem_access(q->gm, gpa, len, &p);
	if (ret || ((uintptr_t)p & (align - 1))) {
		*err = ret ? ret : -EFAULT;
		return NULL;
	}
	return p;
}

int virtq_init(struct virtq *q, uint32_t size, const struct virtq_addrs *a, uint64_t features)
{
	int err = 0;

	virtq_reset(q);
	if (!a || size == 0 || size > VIRTQ_MAX_SIZE || !IS_POW2(size))
		return -EINVAL;
	bool evt = features & (1ull << VIRTIO_F_EVENT_IDX);
	uint8_t *desc = map_area(q, a->desc, VIRTQ_DESC_BYTES(size), VIRTQ_DESC_ALIGN, &err);
	if (!desc)
		return err;
	uint8_t *avail = map_area(q, a->avail, VIRTQ_AVAIL_BYTES(size, evt), VIRTQ_AVAIL_ALIGN,
				  &err);
	if (!avail)
		return err;
	uint8_t *used = map_area(q, a->used, VIRTQ_USED_BYTES(size, evt), VIRTQ_USED_ALIGN, &err);
	if (!used)
		return err;

	q->size = size;
	q->addrs = *a;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = evt;
	q->indirect = features & (1ull << VIRTIO_F_INDIRECT_DESC);
	q->ready = true;
	return 0;
}

bool virtq_ready(const struct virtq *q)
{
	return q->ready;
}

uint32_t virtq_size(const struct virtq *q)
{
	return q->size;
}

uint16_t virtq_last_avail_idx(const struct virtq *q)
{
	return q->last_avail;
}

uint16_t virtq_used_idx(const struct virtq *q)
{
	return q->used_idx;
}

int virtq_error(const struct virtq *q)
{
	return q->err;
}

const char *virtq_error_reason(const struct virtq *q)
{
	return q->err ? q->err_reason : NULL;
}

/* Appends [gpa, gpa+len) to elem, split at RAM region boundaries. */
static int add_buffer(struct virtq *q, struct virtq_elem *e, uint64_t gpa, uint32_t len, bool write)
{
	if (len > 0 && len - 1 > UINT64_MAX - gpa)
		return virtq_fail(q, -EFAULT, "buffer wraps the guest address space");
	do {
		if (e->out_num + e->in_num >= VIRTQ_ELEM_MAX_SEGS)
			return virtq_fail(q, -E2BIG, "chain has too many segments");
		/* Common case first: the whole rest lies in one region. */
		uint32_t chunk = len;
		void *hva;
		int ret = guest_mem_access(q->gm, gpa, len, &hva);
		if (ret == -EFAULT) {
			const struct guest_region *r = guest_mem_find(q->gm, gpa);
			if (!r)
				return virtq_fail(q, -EFAULT, "buffer outside guest RAM");
			/* gpa lies inside r, so r->size - off does not underflow,
			 * and it is < len here (else the whole range was inside). */
			chunk = (uint32_t)(r->size - (gpa - r->gpa));
			ret = guest_mem_access(q->gm, gpa, chunk, &hva);
			if (ret == -EFAULT)
				return virtq_fail(q, -EFAULT, "buffer outside guest RAM");
		}
		if (ret)
			return virtq_fail(q, ret, "buffer in guest RAM the host cannot back");
		e->seg[e->out_num + e->in_num] = (struct virtq_seg){
			.hva = hva,
			.gpa = gpa,
			.len = chunk,
		};
		if (write) {
			e->in_num++;
			e->in_len += chunk;
		} else {
			e->out_num++;
			e->out_len += chunk;
		}
		/* No wrap: checked above that gpa + len <= 2^64. */
		gpa += chunk;
		len -= chunk;
	} while (len > 0);
	return 0;
}

/* Walks the chain starting at `head` in the descriptor table, following at
 * most one indirect table. Each table bounds its own walk: a chain longer
 * than its table must revisit a descriptor, i.e. loops. */
static int walk_chain(struct virtq *q, struct virtq_elem *e, uint16_t head)
{
	const uint8_t *table = q->desc;
	uint32_t count = q->size;
	uint32_t i = head;
	uint32_t steps = 0;
	bool in_indirect = false;
	bool seen_write = false;

	for (;;) {
		struct virtq_desc d;

		if (i >= count)
			return virtq_fail(q, -EINVAL, "descriptor index out of range");
		if (++steps > count)
			return virtq_fail(q, -ELOOP,
					  "descriptor chain longer than its table (loop)");
		read_desc(table + 16 * (size_t)i, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_indirect)
				return virtq_fail(q, -EINVAL,
						  "indirect descriptor inside an indirect table");
			if (!q->indirect)
				return virtq_fail(
					q, -EINVAL,
					"indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return virtq_fail(q, -EINVAL, "indirect descriptor with NEXT set");
			if (d.len == 0 || d.len % sizeof(struct virtq_desc))
				return virtq_fail(
					q, -EINVAL,
					"indirect table length not a non-zero multiple of 16");
			void *tp;
			int ret = guest_mem_access(q->gm, d.addr, d.len, &tp);
			if (ret)
				return virtq_fail(
					q, ret,
					ret == -ENOMEM
						? "indirect table in guest RAM the host cannot back"
						: "indirect table outside guest RAM");
			table = tp;
			/* The table may hold up to 2^28 entries; the segment limit
			 * bounds the walk (each entry adds at least one segment). */
			count = d.len / sizeof(struct virtq_desc);
			i = 0;
			steps = 0;
			in_indirect = true;
			continue;
		}

		bool write = d.flags & VIRTQ_DESC_F_WRITE;
		if (!write && seen_write)
			return virtq_fail(q, -EINVAL, "readable descriptor after a writable one");
		seen_write |= write;
		int ret = add_buffer(q, e, d.addr, d.len, write);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
	if (!q->ready)
		return 0;
	if (q->err)
		return q->err;

	if (q->last_avail == q->shadow_avail) {
		/* Acquire pairs with the driver's write barrier before it
		 * bumps idx: ring entries and descriptors are visible. */
		q->shadow_avail = ld16(AVAIL_IDX(q), __ATOMIC_ACQUIRE);
		if (q->shadow_avail == q->last_avail) {
			if (!q->event_idx)
				return 0;
			/* Ask to be kicked for the next buffer, then look again:
			 * the driver may have added one before seeing avail_event
			 * (it does idx store, fence, avail_event load). */
			st16(AVAIL_EVENT(q), q->last_avail, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			q->shadow_avail = ld16(AVAIL_IDX(q), __ATOMIC_ACQUIRE);
			if (q->shadow_avail == q->last_avail)
				return 0;
		}
	}
	if ((uint16_t)(q->shadow_avail - q->last_avail) > q->size)
		return virtq_fail(q, -EINVAL, "avail index moved more than the queue size ahead");

	uint16_t head = ld16(AVAIL_RING(q, q->last_avail & (q->size - 1)), __ATOMIC_RELAXED);
	if (head >= q->size)
		return virtq_fail(q, -EINVAL, "avail ring entry out of range");

	e->head = head;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	int ret = walk_chain(q, e, head);
	if (ret < 0)
		return ret;
	q->last_avail++;
	if (q->event_idx)
		st16(AVAIL_EVENT(q), q->last_avail, __ATOMIC_RELAXED);
	return 1;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (!q->ready || head >= q->size)
		return -EINVAL;
	uint8_t *elem = USED_RING(q, q->used_idx & (q->size - 1));
	st32(elem, head);
	st32(elem + 4, written);
	q->used_idx++;
	/* Release: the entry is visible before the index that covers it. */
	st16(USED_IDX(q), q->used_idx, __ATOMIC_RELEASE);
	return 0;
}

bool virtq_should_notify(struct virtq *q)
{
	if (!q->ready)
		return false;
	/* Order our used->idx store before reading the driver's suppression
	 * state; pairs with the driver's fence between updating used_event
	 * (or flags) and re-reading used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = q->signalled_used, now = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (valid && old == now)
		return false; /* nothing used since the last decision */
	if (!q->event_idx)
		return !(ld16(AVAIL_FLAGS(q), __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	uint16_t event = ld16(USED_EVENT(q), __ATOMIC_RELAXED);
	/* vring_need_event(): did [old, now) step over used_event? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

static size_t elem_copy(const struct virtq_seg *seg, uint32_t n, uint64_t off, void *buf,
			size_t len, bool to_guest)
{
	size_t done = 0;
	for (uint32_t i = 0; i < n && done < len; i++) {
		if (off >= seg[i].len) {
			off -= seg[i].len;
			continue;
		}
		size_t chunk = MIN((uint64_t)seg[i].len - off, (uint64_t)(len - done));
		uint8_t *g = (uint8_t *)seg[i].hva + off;
		if (to_guest)
			memcpy(g, (const uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, g, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_elem_read(const struct virtq_elem *e, uint64_t off, void *dst, size_t len)
{
	return elem_copy(e->seg, MIN(e->out_num, VIRTQ_ELEM_MAX_SEGS), off, dst, len, false);
}

size_t virtq_elem_write(const struct virtq_elem *e, uint64_t off, const void *src, size_t len)
{
	if (e->out_num >= VIRTQ_ELEM_MAX_SEGS)
		return 0;
	uint32_t n = MIN(e->in_num, VIRTQ_ELEM_MAX_SEGS - e->out_num);
	return elem_copy(e->seg + e->out_num, n, off, (void *)src, len, true);
}
