#include "vmm/lib/size.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *s, uint64_t default_unit, uint64_t *out)
{
	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	char *end;
	/* Integer part first so that large values keep full precision. */
	unsigned long long ip = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	uint64_t frac_num = 0, frac_den = 1;
	if (*end == '.') {
		end++;
		if (!isdigit((unsigned char)*end))
			return -EINVAL;
		while (isdigit((unsigned char)*end)) {
			if (frac_den < 1000000000ull) {
				frac_num = frac_num * 10 + (uint64_t)(*end - '0');
				frac_den *= 10;
			}
			end++;
		}
	}
	uint64_t unit = default_unit;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'B':
			unit = 1;
			break;
		case 'K':
			unit = 1ull << 10;
			break;
		case 'M':
			unit = 1ull << 20;
			break;
		case 'G':
			unit = 1ull << 30;
			break;
		case 'T':
			unit = 1ull << 40;
			break;
		case 'P':
			unit = 1ull << 50;
			break;
		case 'E':
			unit = 1ull << 60;
			break;
		default:
			return -EINVAL;
		}
		end++;
		/* QEMU also accepts "MiB"-less forms only; allow an optional "iB"/"B". */
		if (!strcasecmp(end, "iB") || (unit != 1 && !strcasecmp(end, "B")))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	uint64_t v;
	if (!mul_ok(ip, unit, &v))
		return -ERANGE;
	if (frac_num) {
		/* Rounded down to bytes; 128-bit so "1.5E" cannot overflow midway. */
		uint64_t f = (uint64_t)((unsigned __int128)frac_num * unit / frac_den);
		if (!add_ok(v, f, &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

const char *size_format(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	while (u + 1 < ARRAY_SIZE(units) && bytes >> (10 * (u + 1)))
		u++;
	if (u == 0 || (bytes & ((1ull << (10 * u)) - 1)) == 0)
		snprintf(buf, size, "%" PRIu64 " %s", bytes >> (10 * u), units[u]);
	else
		snprintf(buf, size, "%.1f %s", (double)bytes / (double)(1ull << (10 * u)),
			 units[u]);
	return buf;
}

const char *size_format_option(char *buf, size_t size, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	int u = -1;
	while (u + 1 < 6 && bytes && bytes % (1ull << (10 * (u + 2))) == 0)
		u++;
	if (u < 0)
		snprintf(buf, size, "%" PRIu64 "B", bytes);
	else
		snprintf(buf, size, "%" PRIu64 "%c", bytes >> (10 * (u + 1)), units[u]);
	return buf;
}
