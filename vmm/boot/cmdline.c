#include "vmm/boot/cmdline.h"

#include <errno.h>
#include <string.h>

#include "vmm/boot/layout.h"

_Static_assert(BOOT_CMDLINE_SIZE == LAYOUT_CMDLINE_MAX,
	       "the command line must fit at LAYOUT_CMDLINE");

/* Options that keep a Linux guest away from what a kernel-mode-emulating
 * host cannot run (HOST-NOTES.md): XSAVE, CMPXCHG16B, CLAC/STAC, POPCNT,
 * VEX, 1 GiB pages... CPUID masking does not reach the guest there. */
static const char host_quirk_args[] =
	"nogbpages noxsave clearcpuid=smap,cx16,avx,avx2,avx512f,popcnt,bmi1,bmi2,movbe,"
	"rdrand,rdseed,fsgsbase,invpcid,rdpid,adx,abm,xsaveopt,xsavec,xsaves,fma,f16c,aes,"
	"pclmulqdq,sha_ni,gfni,vaes,vpclmulqdq,clwb,clflushopt,rtm,hle,umip";

static int cmdline_append(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);
	size_t sep = *len ? 1 : 0;
	if (*len + sep + n + 1 > size)
		return -E2BIG;
	if (sep)
		buf[(*len)++] = ' ';
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return 0;
}

int boot_cmdline_build(const struct boot_cmdline_in *in, char *buf, size_t size)
{
	size_t len = 0;
	if (size == 0)
		return -E2BIG;
	buf[0] = '\0';
	if (in->append && *in->append && cmdline_append(buf, size, &len, in->append))
		return -E2BIG;
	for (size_t i = 0; i < in->nextra; i++)
		if (cmdline_append(buf, size, &len, in->extra[i]))
			return -E2BIG;
	if (in->host_quirks && cmdline_append(buf, size, &len, host_quirk_args))
		return -E2BIG;
	return (int)len;
}
