/* The physical limit for preallocation: one process populating a plain
 * mapping with MADV_POPULATE_WRITE from N threads, nothing else.
 *   populate_limit SIZE_MIB THREADS [HUGETLBFS_DIR|thp]
 * "thp" asks for transparent huge pages (MADV_HUGEPAGE) on the anonymous
 * mapping. Prints "GB/s POPULATE_SECONDS TEARDOWN_SECONDS", where GB/s
 * counts populate plus teardown (munmap), like a VMM's launch-to-exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct part {
	char *p;
	size_t len;
	int err;
};

static void *populate(void *arg)
{
	struct part *pt = arg;
	if (madvise(pt->p, pt->len, MADV_POPULATE_WRITE) < 0)
		pt->err = errno;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: populate_limit SIZE_MIB THREADS [HUGETLBFS_DIR]\n");
		return 2;
	}
	size_t size = strtoull(argv[1], NULL, 0) << 20;
	int nt = atoi(argv[2]);
	size_t align = 4096;
	int fd = -1;
	int want_thp = argc > 3 && !strcmp(argv[3], "thp");
	if (argc > 3 && !want_thp) {
		fd = open(argv[3], O_TMPFILE | O_RDWR, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			perror("hugetlbfs file");
			return 1;
		}
		align = 2u << 20;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char *p = fd >= 0 ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			  : mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (want_thp && madvise(p, size, MADV_HUGEPAGE) < 0)
		perror("madvise(MADV_HUGEPAGE)");
	pthread_t th[256];
	struct part parts[256];
	if (nt < 1 || nt > 256)
		nt = 1;
	size_t chunk = (size / (size_t)nt + align - 1) / align * align;
	for (int i = 0; i < nt; i++) {
		size_t off = (size_t)i * chunk;
		parts[i] = (struct part){
			p + off, off >= size ? 0 : (size - off < chunk ? size - off : chunk), 0
		};
		pthread_create(&th[i], NULL, populate, &parts[i]);
	}
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		if (parts[i].err) {
			fprintf(stderr, "populate: %s\n", strerror(parts[i].err));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	munmap(p, size);
	if (fd >= 0)
		close(fd);
	struct timespec t2;
	clock_gettime(CLOCK_MONOTONIC, &t2);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double d = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
	printf("%.3f %.4f %.4f\n", (double)size / (s + d) / 1e9, s, d);
	return 0;
}
