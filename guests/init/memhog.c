/* memhog: a guest user-space workload for the busybox tiny guest.
 *   memhog MIB [hold]
 * Maps MIB MiB of anonymous memory and writes every page with content that
 * depends only on the page's index, so two guests running it hold identical
 * pages (KSM can merge them across guests) while no two pages of one run are
 * alike. Prints "memhog: touched N MiB", then exits, or with "hold" waits
 * for a signal (the memory stays allocated until then). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || atol(argv[1]) <= 0) {
		fprintf(stderr, "usage: memhog MIB [hold]\n");
		return 2;
	}
	size_t mib = (size_t)atol(argv[1]), len = mib << 20;
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	size_t words = 4096 / sizeof(*p);
	for (size_t pg = 0; pg < len / 4096; pg++)
		for (size_t w = 0; w < words; w++)
			p[pg * words + w] = (pg + 1) * 0x9e3779b97f4a7c15ull ^ w;
	printf("memhog: touched %zu MiB\n", mib);
	fflush(stdout);
	if (argc > 2 && !strcmp(argv[2], "hold"))
		for (;;)
			pause();
	return 0;
}
