#include "vmm/boot/cmdline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/layout.h"

/* Options that keep a Linux guest away from what a kernel-mode-emulating
 * host cannot run (HOST-NOTES.md): XSAVE, CMPXCHG16B, CLAC/STAC, POPCNT,
 * VEX, 1 GiB pages... CPUID masking does not reach the guest there. */
static const char *const host_quirk_flags[] = { "nogbpages", "noxsave" };
static const char host_quirk_clearcpuid[] =
	"smap,cx16,avx,avx2,avx512f,popcnt,bmi1,bmi2,movbe,"
	"rdrand,rdseed,fsgsbase,invpcid,rdpid,adx,abm,xsaveopt,xsavec,xsaves,fma,f16c,aes,"
	"pclmulqdq,sha_ni,gfni,vaes,vpclmulqdq,clwb,clflushopt,rtm,hle,umip";

#define CLEARCPUID     "clearcpuid="
#define CLEARCPUID_LEN (sizeof(CLEARCPUID) - 1)

struct cmdline_buf {
	char *buf;
	size_t size, len;
};

/* Appends n bytes of s, keeping the NUL: -E2BIG when they do not fit. */
static int cmdline_put(struct cmdline_buf *b, const char *s, size_t n)
{
	if (n >= b->size - b->len)
		return -E2BIG;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

/* The same as a new word: after a space unless the line is empty. */
static int cmdline_put_word(struct cmdline_buf *b, const char *s, size_t n)
{
	if (b->len && cmdline_put(b, " ", 1))
		return -E2BIG;
	return cmdline_put(b, s, n);
}

/* Words are separated by whitespace: Linux's early parsers
 * (arch/x86/lib/cmdline.c) take every byte up to ' ' as a separator. */
static bool cmdline_is_space(char c)
{
	return c != '\0' && (unsigned char)c <= ' ';
}

/* The next word at or after *p (its length in *n, *p moved past it), or
 * NULL at the end. */
static const char *cmdline_next_word(const char **p, size_t *n)
{
	const char *s = *p, *e;
	while (cmdline_is_space(*s))
		s++;
	if (!*s)
		return NULL;
	for (e = s; *e && !cmdline_is_space(*e); e++)
		;
	*p = e;
	*n = (size_t)(e - s);
	return s;
}

static bool cmdline_has_word(const char *line, const char *word)
{
	size_t n, len = strlen(word);
	for (const char *w; (w = cmdline_next_word(&line, &n));)
		if (n == len && memcmp(w, word, n) == 0)
			return true;
	return false;
}

/* Linux parses only the last clearcpuid= (cmdline_find_option restarts
 * at every match): the user's last one, or NULL. */
static const char *cmdline_last_clearcpuid(const char *line, size_t *len)
{
	const char *found = NULL;
	size_t n;
	for (const char *w; (w = cmdline_next_word(&line, &n));)
		if (n >= CLEARCPUID_LEN && memcmp(w, CLEARCPUID, CLEARCPUID_LEN) == 0) {
			found = w;
			*len = n;
		}
	return found;
}

/* Whether the comma-separated list[0, n) names item. */
static bool cmdline_list_has(const char *list, size_t n, const char *item, size_t len)
{
	const char *end = list + n;
	for (const char *p = list; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		if ((size_t)(stop - p) == len && memcmp(p, item, len) == 0)
			return true;
		p = comma ? comma + 1 : end;
	}
	return false;
}

/* Appends the quirk list's items that the clearcpuid= value user[0, n)
 * lacks, after it. The user's own come first because Linux 6.1 reads only
 * the first 127 bytes of the value (cpu_parse_early_param: arg[128]). */
static int cmdline_put_clearcpuid(struct cmdline_buf *b, const char *user, size_t n)
{
	bool comma = n > 0 && user[n - 1] != ',';
	const char *item = host_quirk_clearcpuid;
	while (*item) {
		size_t len = strcspn(item, ",");
		if (!cmdline_list_has(user, n, item, len)) {
			if ((comma && cmdline_put(b, ",", 1)) || cmdline_put(b, item, len))
				return -E2BIG;
			comma = true;
		}
		item += len + (item[len] == ',');
	}
	return 0;
}

/* Where the words for init start: the first word "--" (Linux hands
 * everything after it to init), or NULL. */
static const char *cmdline_init_args(const char *line)
{
	size_t n;
	for (const char *w; (w = cmdline_next_word(&line, &n));)
		if (n == 2 && w[0] == '-' && w[1] == '-')
			return w;
	return NULL;
}

/* The kernel's part: -append up to any "--", the devices, the quirks. */
static int boot_cmdline_kernel(const struct boot_cmdline_in *in, const char *append,
			       struct cmdline_buf *bp)
{
	struct cmdline_buf b = *bp;
	const char *cc = NULL;
	size_t cclen = 0;

	if (in->host_quirks)
		cc = cmdline_last_clearcpuid(append, &cclen);
	if (cc) {
		/* -append as given, with the quirk list spliced into its clearcpuid=. */
		size_t head = (size_t)(cc - append) + cclen;
		if (cmdline_put(&b, append, head) ||
		    cmdline_put_clearcpuid(&b, cc + CLEARCPUID_LEN, cclen - CLEARCPUID_LEN) ||
		    cmdline_put(&b, append + head, strlen(append + head)))
			return -E2BIG;
	} else if (cmdline_put(&b, append, strlen(append))) {
		return -E2BIG;
	}
	for (size_t i = 0; i < in->nextra; i++)
		if (cmdline_put_word(&b, in->extra[i], strlen(in->extra[i])))
			return -E2BIG;
	if (in->host_quirks) {
		for (size_t i = 0; i < ARRAY_SIZE(host_quirk_flags); i++)
			if (!cmdline_has_word(append, host_quirk_flags[i]) &&
			    cmdline_put_word(&b, host_quirk_flags[i], strlen(host_quirk_flags[i])))
				return -E2BIG;
		if (!cc && (cmdline_put_word(&b, CLEARCPUID, CLEARCPUID_LEN) ||
			    cmdline_put_clearcpuid(&b, "", 0)))
			return -E2BIG;
	}
	*bp = b;
	return 0;
}

int boot_cmdline_build(const struct boot_cmdline_in *in, char *buf, size_t size)
{
	struct cmdline_buf b = { .buf = buf, .size = size };
	const char *append = in->append ? in->append : "";
	const char *init;
	char *kernel_part = NULL;
	int ret;

	if (size == 0)
		return -E2BIG;
	buf[0] = '\0';
	/* memvm's words go before a "--", or the kernel never sees them. */
	if ((init = cmdline_init_args(append))) {
		size_t k = (size_t)(init - append);
		while (k && cmdline_is_space(append[k - 1]))
			k--;
		kernel_part = strndup(append, k);
		if (!kernel_part)
			return -ENOMEM;
		append = kernel_part;
	}
	ret = boot_cmdline_kernel(in, append, &b);
	free(kernel_part);
	if (ret == 0 && init && cmdline_put_word(&b, init, strlen(init)))
		ret = -E2BIG;
	return ret ? ret : (int)b.len;
}
