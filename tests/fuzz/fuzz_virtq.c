/* libFuzzer target for descriptor-chain parsing: the input becomes the
 * queue layout and the contents of a small "guest RAM" (two adjacent
 * regions backed by separate heap buffers, so ASan catches any access
 * past either one); chains are popped and pushed until the ring is empty
 * or broken. Invariant: every segment handed out lies inside guest RAM
 * and is the host view of the guest range it claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtq.h"
#include "memory/guest_mem.h"

#define REGION_SIZE 0x8000u
#define RAM_GPA     0x10000ull /* region A; region B follows directly */
#define MAX_ROUNDS  512

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

struct region {
	uint64_t gpa;
	uint8_t *hva;
};

static void check_seg(const struct region *r, const struct virtq_seg *s)
{
	for (int i = 0; i < 2; i++) {
		/* Integer compare: the pointers may belong to other objects. */
		uintptr_t lo = (uintptr_t)r[i].hva, p = (uintptr_t)s->hva;
		if (p < lo || p - lo >= REGION_SIZE)
			continue;
		CHECK(REGION_SIZE - (p - lo) >= s->len);
		CHECK(s->gpa == r[i].gpa + (p - lo));
		return;
	}
	CHECK(0); /* outside guest RAM */
}

static uint16_t rd16(const uint8_t *d, size_t n, size_t off)
{
	return off + 1 < n ? (uint16_t)(d[off] | d[off + 1] << 8) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_elem elem;
	static uint8_t scratch[4096];
	struct region r[2];
	struct guest_mem *gm = guest_mem_new();
	struct virtq *q = NULL;

	r[0] = (struct region){ RAM_GPA, calloc(1, REGION_SIZE) };
	r[1] = (struct region){ RAM_GPA + REGION_SIZE, calloc(1, REGION_SIZE) };
	if (!gm || !r[0].hva || !r[1].hva)
		goto out;
	if (guest_mem_add(gm, r[0].gpa, REGION_SIZE, r[0].hva, NULL) ||
	    guest_mem_add(gm, r[1].gpa, REGION_SIZE, r[1].hva, NULL))
		goto out;

	/* Header: size, features, ring offsets (8 bytes), then RAM. */
	uint32_t qsize = size > 0 ? 1u << (data[0] % 10) : 1;
	uint64_t features = 0;
	if (size > 1) {
		if (data[1] & 1)
			features |= 1ull << VIRTIO_F_INDIRECT_DESC;
		if (data[1] & 2)
			features |= 1ull << VIRTIO_F_EVENT_IDX;
	}
	struct virtq_addrs a = {
		.desc = RAM_GPA + (rd16(data, size, 2) & ~15u),
		.avail = RAM_GPA + (rd16(data, size, 4) & ~1u),
		.used = RAM_GPA + (rd16(data, size, 6) & ~3u),
	};
	/* Occasionally a raw (misaligned, out of range) address. */
	if (size > 8 && data[8] == 0xff)
		a.used = RAM_GPA - 4 + rd16(data, size, 6);
	size_t hdr = MIN(size, (size_t)9);
	size_t ram = size - hdr;
	memcpy(r[0].hva, data + hdr, MIN(ram, (size_t)REGION_SIZE));
	if (ram > REGION_SIZE)
		memcpy(r[1].hva, data + hdr + REGION_SIZE,
		       MIN(ram - REGION_SIZE, (size_t)REGION_SIZE));

	q = virtq_new(gm);
	if (!q || virtq_init(q, qsize, &a, features) < 0)
		goto out;

	for (int round = 0; round < MAX_ROUNDS; round++) {
		int ret = virtq_pop(q, &elem);
		if (ret < 0) {
			CHECK(virtq_error(q) == ret && virtq_error_reason(q));
			CHECK(virtq_pop(q, &elem) == ret); /* sticky */
			break;
		}
		if (ret == 0)
			break;
		CHECK(elem.head < qsize);
		CHECK(elem.out_num + elem.in_num <= VIRTQ_ELEM_MAX_SEGS);
		uint64_t out = 0, in = 0;
		for (uint32_t i = 0; i < elem.out_num + elem.in_num; i++) {
			check_seg(r, &elem.seg[i]);
			*(i < elem.out_num ? &out : &in) += elem.seg[i].len;
		}
		CHECK(out == elem.out_len && in == elem.in_len);
		/* Touch every byte the device may touch (ASan checks bounds). */
		for (uint64_t off = 0; off < elem.out_len; off += sizeof(scratch))
			CHECK(virtq_elem_read(&elem, off, scratch, sizeof(scratch)) ==
			      MIN(sizeof(scratch), elem.out_len - off));
		memset(scratch, 0xa5, sizeof(scratch));
		for (uint64_t off = 0; off < elem.in_len; off += sizeof(scratch))
			CHECK(virtq_elem_write(&elem, off, scratch, sizeof(scratch)) ==
			      MIN(sizeof(scratch), elem.in_len - off));
		CHECK(virtq_push(q, elem.head, (uint32_t)MIN(elem.in_len, UINT32_MAX)) == 0);
		(void)virtq_should_notify(q);
	}
out:
	virtq_free(q);
	guest_mem_free(gm);
	free(r[0].hva);
	free(r[1].hva);
	return 0;
}
