/* Kernel command line builder: -append, device announcements, the host
 * quirk options merged with what the user gave, and the length limit. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check_main.h"
#include "vmm/boot/cmdline.h"

#define QUIRK_LIST                                                                          \
	"smap,cx16,avx,avx2,avx512f,popcnt,bmi1,bmi2,movbe,rdrand,rdseed,fsgsbase,invpcid," \
	"rdpid,adx,abm,xsaveopt,xsavec,xsaves,fma,f16c,aes,pclmulqdq,sha_ni,gfni,vaes,"     \
	"vpclmulqdq,clwb,clflushopt,rtm,hle,umip"
#define QUIRKS "nogbpages noxsave clearcpuid=" QUIRK_LIST

static char buf[BOOT_CMDLINE_SIZE];

/* Builds into buf and checks the result's length. */
static const char *build(const char *append, const char *const *extra, size_t nextra, bool quirks)
{
	struct boot_cmdline_in in = {
		.append = append,
		.extra = extra,
		.nextra = nextra,
		.host_quirks = quirks,
	};
	memset(buf, 'X', sizeof(buf));
	int n = boot_cmdline_build(&in, buf, sizeof(buf));
	ck_assert_int_ge(n, 0);
	ck_assert_uint_eq((size_t)n, strlen(buf));
	return buf;
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

START_TEST(append_only)
{
	ck_assert_str_eq(build("console=ttyS0  quiet", NULL, 0, false), "console=ttyS0  quiet");
	ck_assert_str_eq(build(NULL, NULL, 0, false), "");
	ck_assert_str_eq(build("", NULL, 0, false), "");
}
END_TEST

START_TEST(devices_follow_append)
{
	static const char *const extra[] = { "virtio_mmio.device=4K@0xd0000000:5",
					     "virtio_mmio.device=4K@0xd0001000:6" };
	ck_assert_str_eq(build("console=ttyS0", extra, 2, false),
			 "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 "
			 "virtio_mmio.device=4K@0xd0001000:6");
	/* No leading space without -append. */
	ck_assert_str_eq(build(NULL, extra, 1, false), "virtio_mmio.device=4K@0xd0000000:5");
}
END_TEST

START_TEST(quirks_last)
{
	static const char *const extra[] = { "virtio_mmio.device=4K@0xd0000000:5" };
	ck_assert_str_eq(build("console=ttyS0", extra, 1, true),
			 "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 " QUIRKS);
	ck_assert_str_eq(build(NULL, NULL, 0, true), QUIRKS);
}
END_TEST

/* Linux reads one clearcpuid= only: the user's list and the quirk list
 * become one, the user's entries first, none twice. */
START_TEST(clearcpuid_merged)
{
	const char *s = build("console=ttyS0 clearcpuid=pku,smap,avx quiet", NULL, 0, true);
	ck_assert_uint_eq(count(s, "clearcpuid="), 1);
	ck_assert_str_eq(s, "console=ttyS0 clearcpuid=pku,smap,avx,cx16,avx2,avx512f,popcnt,"
			    "bmi1,bmi2,movbe,rdrand,rdseed,fsgsbase,invpcid,rdpid,adx,abm,"
			    "xsaveopt,xsavec,xsaves,fma,f16c,aes,pclmulqdq,sha_ni,gfni,vaes,"
			    "vpclmulqdq,clwb,clflushopt,rtm,hle,umip quiet nogbpages noxsave");
	ck_assert_uint_eq(count(s, "smap"), 1);
	ck_assert_uint_eq(count(s, ",avx,"), 1);
}
END_TEST

START_TEST(clearcpuid_edges)
{
	/* An empty or comma-ended value gets no stray comma. */
	ck_assert_str_eq(build("clearcpuid=", NULL, 0, true),
			 "clearcpuid=" QUIRK_LIST " nogbpages noxsave");
	ck_assert_str_eq(build("clearcpuid=pku,", NULL, 0, true),
			 "clearcpuid=pku," QUIRK_LIST " nogbpages noxsave");
	/* Everything listed already: nothing to add. */
	ck_assert_str_eq(build("clearcpuid=" QUIRK_LIST ",pku", NULL, 0, true),
			 "clearcpuid=" QUIRK_LIST ",pku nogbpages noxsave");
	/* Tabs separate words too. */
	ck_assert_str_eq(build("quiet\tclearcpuid=pku", NULL, 0, true),
			 "quiet\tclearcpuid=pku," QUIRK_LIST " nogbpages noxsave");
	/* Not the option: "clearcpuid" without '=', or inside another word. */
	const char *s = build("clearcpuid xclearcpuid=pku", NULL, 0, true);
	ck_assert_str_eq(s, "clearcpuid xclearcpuid=pku " QUIRKS);
	ck_assert_uint_eq(count(s, " clearcpuid="), 1);
}
END_TEST

/* With two, Linux takes the last: that is the one that gets the list. */
START_TEST(clearcpuid_last_one_merged)
{
	ck_assert_str_eq(build("clearcpuid=pku a clearcpuid=la57 b", NULL, 0, true),
			 "clearcpuid=pku a clearcpuid=la57," QUIRK_LIST " b nogbpages noxsave");
}
END_TEST

START_TEST(clearcpuid_untouched_without_quirks)
{
	ck_assert_str_eq(build("clearcpuid=pku", NULL, 0, false), "clearcpuid=pku");
}
END_TEST

START_TEST(flags_not_repeated)
{
	const char *s = build("noxsave console=ttyS0 nogbpages", NULL, 0, true);
	ck_assert_str_eq(s, "noxsave console=ttyS0 nogbpages clearcpuid=" QUIRK_LIST);
	s = build("console=ttyS0 noxsave", NULL, 0, true);
	ck_assert_str_eq(s, "console=ttyS0 noxsave nogbpages clearcpuid=" QUIRK_LIST);
	/* Only whole words count. */
	s = build("noxsaveopt xnogbpages noxsave=1", NULL, 0, true);
	ck_assert_str_eq(s, "noxsaveopt xnogbpages noxsave=1 " QUIRKS);
}
END_TEST

/* Linux hands everything after "--" to init: memvm's own words go before
 * it, and a clearcpuid= after it is init's, not merged. */
START_TEST(init_args_stay_last)
{
	static const char *const extra[] = { "virtio_mmio.device=4K@0xd0000000:5" };
	ck_assert_str_eq(build("console=ttyS0 -- single x=1", extra, 1, false),
			 "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 -- single x=1");
	ck_assert_str_eq(build("console=ttyS0  --  a", extra, 1, true),
			 "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 " QUIRKS " --  a");
	ck_assert_str_eq(build("-- clearcpuid=sse", NULL, 0, true), QUIRKS " -- clearcpuid=sse");
	/* "--x" or "a--" are ordinary words. */
	ck_assert_str_eq(build("a-- --x", extra, 1, false),
			 "a-- --x virtio_mmio.device=4K@0xd0000000:5");
}
END_TEST

START_TEST(too_long)
{
	static char big[BOOT_CMDLINE_SIZE + 1];
	struct boot_cmdline_in in = { .append = big };

	/* size - 1 bytes and the NUL fit exactly. */
	memset(big, 'a', BOOT_CMDLINE_SIZE - 1);
	big[BOOT_CMDLINE_SIZE - 1] = '\0';
	ck_assert_int_eq(boot_cmdline_build(&in, buf, sizeof(buf)), BOOT_CMDLINE_SIZE - 1);
	ck_assert_uint_eq(strlen(buf), BOOT_CMDLINE_SIZE - 1);

	/* One more byte does not. */
	memset(big, 'a', BOOT_CMDLINE_SIZE);
	big[BOOT_CMDLINE_SIZE] = '\0';
	ck_assert_int_eq(boot_cmdline_build(&in, buf, sizeof(buf)), -E2BIG);

	/* -append fits but the devices, the flags or the merged list do not. */
	static const char *const extra[] = { "virtio_mmio.device=4K@0xd0000000:5" };
	char small[32]; /* room for -append, not for what follows */
	struct boot_cmdline_in dev = { .append = "console=ttyS0", .extra = extra, .nextra = 1 };
	ck_assert_int_eq(boot_cmdline_build(&dev, small, sizeof(small)), -E2BIG);
	struct boot_cmdline_in q = { .append = "console=ttyS0", .host_quirks = true };
	ck_assert_int_eq(boot_cmdline_build(&q, small, sizeof(small)), -E2BIG);
	q.append = "clearcpuid=pku";
	ck_assert_int_eq(boot_cmdline_build(&q, small, sizeof(small)), -E2BIG);
	ck_assert_int_eq(boot_cmdline_build(&q, small, 0), -E2BIG);

	/* The quirks exactly filling the buffer still fit. */
	char exact[sizeof(QUIRKS)];
	q.append = NULL;
	ck_assert_int_eq(boot_cmdline_build(&q, exact, sizeof(exact)), (int)sizeof(QUIRKS) - 1);
	ck_assert_str_eq(exact, QUIRKS);
	ck_assert_int_eq(boot_cmdline_build(&q, exact, sizeof(exact) - 1), -E2BIG);
}
END_TEST

static Suite *cmdline_suite(void)
{
	Suite *s = suite_create("cmdline");
	TCase *tc = tcase_create("build");
	tcase_add_test(tc, append_only);
	tcase_add_test(tc, devices_follow_append);
	tcase_add_test(tc, quirks_last);
	tcase_add_test(tc, clearcpuid_merged);
	tcase_add_test(tc, clearcpuid_edges);
	tcase_add_test(tc, clearcpuid_last_one_merged);
	tcase_add_test(tc, clearcpuid_untouched_without_quirks);
	tcase_add_test(tc, flags_not_repeated);
	tcase_add_test(tc, too_long);
	tcase_add_test(tc, init_args_stay_last);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(cmdline_suite)
