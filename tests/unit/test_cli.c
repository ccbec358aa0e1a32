/* Unit tests for vmm/config/cli.c and vmm/lib/size.c: QEMU-style option and size parsing. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/check_main.h"
#include "vmm/config/cli.h"
#include "vmm/lib/size.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define PiB (1ull << 50)
#define EiB (1ull << 60)

/* ---- size_parse ---------------------------------------------------- */

static uint64_t size_ok(const char *s, uint64_t unit)
{
	uint64_t v = 0xdeadbeefdeadbeefull;
	int r = size_parse(s, unit, &v);
	ck_assert_msg(r == 0, "size_parse(\"%s\") = %d, expected 0", s, r);
	return v;
}

/* An error must leave *out untouched. */
static int size_err(const char *s, uint64_t unit)
{
	uint64_t v = 0x1234;
	int r = size_parse(s, unit, &v);
	ck_assert_msg(v == 0x1234, "size_parse(\"%s\") wrote %llu on error", s,
		      (unsigned long long)v);
	return r;
}

START_TEST(size_plain_uses_default_unit)
{
	ck_assert_uint_eq(size_ok("512", MiB), 512 * MiB);
	ck_assert_uint_eq(size_ok("512", 1), 512);
	ck_assert_uint_eq(size_ok("512", KiB), 512 * KiB);
	ck_assert_uint_eq(size_ok("0", MiB), 0);
	ck_assert_uint_eq(size_ok("00012", MiB), 12 * MiB);
	ck_assert_uint_eq(size_ok("18446744073709551615", 1), UINT64_MAX);
}
END_TEST

START_TEST(size_suffixes_case_insensitive)
{
	static const struct {
		const char *s;
		uint64_t v;
	} t[] = {
		{ "1b", 1 },       { "1B", 1 },         { "3k", 3 * KiB }, { "3K", 3 * KiB },
		{ "5m", 5 * MiB }, { "5M", 5 * MiB },   { "7g", 7 * GiB }, { "7G", 7 * GiB },
		{ "2t", 2 * TiB }, { "2T", 2 * TiB },   { "9p", 9 * PiB }, { "9P", 9 * PiB },
		{ "1e", EiB },     { "15E", 15 * EiB },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		/* The suffix wins over the default unit. */
		ck_assert_msg(size_ok(t[i].s, MiB) == t[i].v, "%s", t[i].s);
		ck_assert_msg(size_ok(t[i].s, 1) == t[i].v, "%s", t[i].s);
	}
}
END_TEST

START_TEST(size_decimals)
{
	ck_assert_uint_eq(size_ok("1.5G", MiB), 1536 * MiB);
	ck_assert_uint_eq(size_ok("0.5M", MiB), 512 * KiB);
	ck_assert_uint_eq(size_ok("0.25k", 1), 256);
	ck_assert_uint_eq(size_ok("1.5", MiB), 1536 * KiB); /* default unit too */
	ck_assert_uint_eq(size_ok("2.0", MiB), 2 * MiB);
	ck_assert_uint_eq(size_ok("15.5E", 1), 15 * EiB + EiB / 2);
	/* Rounded down to whole bytes. */
	ck_assert_uint_eq(size_ok("1.5B", 1), 1);
	ck_assert_uint_eq(size_ok("0.001K", 1), 1);
	/* Digits past the ninth are ignored (they cannot matter below 1 EiB / 1e9). */
	ck_assert_uint_eq(size_ok("1.0000000001G", 1), GiB);
}
END_TEST

START_TEST(size_iB_and_B_forms)
{
	ck_assert_uint_eq(size_ok("512MiB", 1), 512 * MiB);
	ck_assert_uint_eq(size_ok("512mib", 1), 512 * MiB);
	ck_assert_uint_eq(size_ok("2GB", 1), 2 * GiB);
	ck_assert_uint_eq(size_ok("2gb", 1), 2 * GiB);
	ck_assert_uint_eq(size_ok("4KiB", 1), 4 * KiB);
	ck_assert_uint_eq(size_ok("1.5GiB", 1), 1536 * MiB);
	ck_assert_int_eq(size_err("1BB", 1), -EINVAL);
	ck_assert_int_eq(size_err("1GiBs", 1), -EINVAL);
	ck_assert_int_eq(size_err("1Gi", 1), -EINVAL);
	ck_assert_int_eq(size_err("1GBB", 1), -EINVAL);
}
END_TEST

START_TEST(size_rejects_garbage)
{
	static const char *const bad[] = {
		"",       "abc", "-1", "+1",   "12X",  "1.",  " 1G", "1G ", ".5G",
		"1.5.5G", "1GG", "G",  "0x10", "1,5G", "1 G", "1.G", "1e3",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(size_err(bad[i], MiB) == -EINVAL, "\"%s\" accepted", bad[i]);
	uint64_t v = 7;
	ck_assert_int_eq(size_parse(NULL, MiB, &v), -EINVAL);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(size_overflow_is_erange)
{
	ck_assert_int_eq(size_err("99999999999999999999", 1), -ERANGE);
	ck_assert_int_eq(size_err("18446744073709551616", 1), -ERANGE);
	ck_assert_int_eq(size_err("16E", 1), -ERANGE);
	ck_assert_int_eq(size_err("16e", MiB), -ERANGE);
	ck_assert_int_eq(size_err("17179869184G", 1), -ERANGE);
	ck_assert_int_eq(size_err("16384P", 1), -ERANGE);
	/* The default unit overflows too: 2^44 MiB = 2^64. */
	ck_assert_int_eq(size_err("17592186044416", MiB), -ERANGE);
	ck_assert_int_eq(size_err("99999999999999999999.5G", 1), -ERANGE);
}
END_TEST

START_TEST(size_largest_values)
{
	ck_assert_uint_eq(size_ok("16383P", 1), 16383 * PiB);
	ck_assert_uint_eq(size_ok("17179869183G", 1), 17179869183ull * GiB);
	ck_assert_uint_eq(size_ok("17592186044415", MiB), 17592186044415ull * MiB);
	/* The fraction of the largest whole count still fits. */
	ck_assert_uint_eq(size_ok("15.999999999E", 1),
			  15 * EiB + (uint64_t)((unsigned __int128)999999999 * EiB / 1000000000));
}
END_TEST

/* ---- cli_parse ------------------------------------------------------------ */

static char g_store[8192];
static char *g_argv[64];
static int g_argc;
static char g_err[512];
static struct vm_config g_cfg;

/* cli_parse writes into argv strings, so they are copied into g_store. */
static int parse_v(const char *const *args)
{
	size_t off = 0;
	g_argc = 0;
	memset(g_store, 0, sizeof(g_store));
	strcpy(g_store, "memvm");
	g_argv[g_argc++] = g_store;
	off = strlen("memvm") + 1;
	for (; *args; args++) {
		size_t l = strlen(*args) + 1;
		ck_assert(off + l <= sizeof(g_store) && g_argc < 63);
		g_argv[g_argc++] = memcpy(g_store + off, *args, l);
		off += l;
	}
	g_argv[g_argc] = NULL;
	cli_free(&g_cfg);
	config_defaults(&g_cfg);
	memset(g_err, 'X', sizeof(g_err));
	g_err[sizeof(g_err) - 1] = '\0';
	int r = cli_parse(g_argc, g_argv, &g_cfg, g_err, sizeof(g_err));
	if (r == 0)
		ck_assert_msg(g_err[0] == '\0', "success left an error: %s", g_err);
	else
		ck_assert_msg(g_err[0] != '\0' && g_err[0] != 'X' && !strchr(g_err, '\n'),
			      "error %d without a one-line message: '%s'", r, g_err);
	return r;
}
#define PARSE(...) parse_v((const char *const[]){ __VA_ARGS__, NULL })

#define PARSE_OK(...)                                                           \
	do {                                                                    \
		int r_ = PARSE(__VA_ARGS__);                                    \
		ck_assert_msg(r_ == 0, "cli_parse failed (%d): %s", r_, g_err); \
	} while (0)

/* Fails with -EINVAL and an error message containing `needle`. */
#define PARSE_ERR(needle, ...)                                                                \
	do {                                                                                  \
		int r_ = PARSE(__VA_ARGS__);                                                  \
		ck_assert_msg(r_ == -EINVAL, "cli_parse returned %d, expected -EINVAL", r_);  \
		ck_assert_msg(strstr(g_err, needle), "error '%s' lacks '%s'", g_err, needle); \
	} while (0)

/* QEMU's -object memory-backend-* with -machine memory-backend=ID, its
 * defaults and QEMU's errors for bad combinations. */
START_TEST(memory_backend_objects)
{
	PARSE_OK("-object", "memory-backend-ram,id=mem0,size=256M", "-machine",
		 "memory-backend=mem0");
	ck_assert_uint_eq(g_cfg.ram_size, 256ull << 20);
	ck_assert_str_eq(g_cfg.ram_id, "mem0");
	ck_assert_str_eq(g_cfg.ram_qom_type, "memory-backend-ram");
	ck_assert(g_cfg.mem_merge && g_cfg.mem_dump && g_cfg.mem_reserve && !g_cfg.mem_shared);
	PARSE_OK("-m", "1G", "-object",
		 "memory-backend-file,id=m,size=1G,mem-path=/dev/hugepages,share=on,prealloc=on,"
		 "prealloc-threads=4,merge=off,dump=off",
		 "-machine", "microvm,memory-backend=m");
	ck_assert_str_eq(g_cfg.mem_path, "/dev/hugepages");
	ck_assert(g_cfg.mem_shared && g_cfg.mem_prealloc && !g_cfg.mem_merge && !g_cfg.mem_dump);
	ck_assert_uint_eq(g_cfg.prealloc_threads, 4);
	PARSE_OK("-object", "qom-type=memory-backend-memfd,id=h,size=64M,hugetlb=on,hugetlbsize=2M",
		 "-M", "memory-backend=h");
	ck_assert(g_cfg.mem_shared); /* memfd: shared, as QEMU's */
	ck_assert_uint_eq(g_cfg.mem_hugetlb_size, 2ull << 20);
	PARSE_OK("-object", "memory-backend-memfd,id=h,size=64M,hugetlb=on", "-M",
		 "memory-backend=h");
	ck_assert_uint_eq(g_cfg.mem_hugetlb_size, 2ull << 20); /* the default size */
	PARSE_OK("-m", "64M");
	ck_assert_str_eq(g_cfg.ram_id, "microvm.ram");
	ck_assert_ptr_null(g_cfg.ram_qom_type);

	PARSE_ERR("Size specified by -m option must match size of explicitly specified "
		  "'memory-backend' property",
		  "-m", "512M", "-object", "memory-backend-ram,id=m,size=1G", "-machine",
		  "memory-backend=m");
	PARSE_ERR("Memory backend 'nope' not found", "-object", "memory-backend-ram,id=m,size=1G",
		  "-machine", "memory-backend=nope");
	PARSE_ERR("Memory backend 'm' not found", "-machine", "memory-backend=m");
	PARSE_ERR("is not used", "-object", "memory-backend-ram,id=m,size=1G");
	PARSE_ERR("Parameter 'id' is missing", "-object", "memory-backend-ram,size=1G");
	PARSE_ERR("can't create backend with size 0", "-object", "memory-backend-ram,id=m");
	PARSE_ERR("mem-path property not set", "-object", "memory-backend-file,id=m,size=1G");
	PARSE_ERR("Property 'memory-backend-ram.mem-path' not found", "-object",
		  "memory-backend-ram,id=m,size=1G,mem-path=/tmp");
	PARSE_ERR("Property 'memory-backend-ram.hugetlb' not found", "-object",
		  "memory-backend-ram,id=m,size=1G,hugetlb=on");
	PARSE_ERR("hugetlbsize= needs hugetlb=on", "-object",
		  "memory-backend-memfd,id=m,size=1G,hugetlbsize=2M");
	PARSE_ERR("memvm takes 2M or 1G", "-object",
		  "memory-backend-memfd,id=m,size=1G,hugetlb=on,hugetlbsize=4K");
	PARSE_ERR("share=off is not supported", "-object",
		  "memory-backend-memfd,id=m,size=1G,share=off");
	PARSE_ERR("memvm knows memory-backend-ram", "-object", "iothread,id=io0");
	PARSE_ERR("a second -object memory-backend-*", "-object", "memory-backend-ram,id=a,size=1G",
		  "-object", "memory-backend-ram,id=b,size=1G");
	PARSE_ERR("-mem-path and -machine memory-backend cannot be used together", "-mem-path",
		  "/tmp", "-object", "memory-backend-ram,id=m,size=1G", "-machine",
		  "memory-backend=m");
	PARSE_ERR("-mem-prealloc and -machine memory-backend", "-mem-prealloc", "-object",
		  "memory-backend-ram,id=m,size=1G", "-machine", "memory-backend=m");
	PARSE_ERR("at least 2 MiB", "-object", "memory-backend-ram,id=m,size=1M", "-machine",
		  "memory-backend=m");
	PARSE_ERR("expected on or off", "-object", "memory-backend-ram,id=m,size=1G,merge=maybe");
}
END_TEST

/* -name in QEMU's forms, -uuid checked and kept in lower case. */
START_TEST(name_uuid_options)
{
	PARSE_OK("-name", "tiny");
	ck_assert_str_eq(g_cfg.name, "tiny");
	PARSE_OK("-name", "guest=vm1,debug-threads=on");
	ck_assert_str_eq(g_cfg.name, "vm1");
	PARSE_OK("-name", "vm2,process=memvm-vm2");
	ck_assert_str_eq(g_cfg.name, "vm2");
	PARSE_OK("-m", "64M");
	ck_assert_str_eq(g_cfg.name, ""); /* none by default */
	ck_assert_str_eq(g_cfg.uuid, "");
	PARSE_ERR("expected NAME or guest=NAME", "-name", "vm,colour=red");
	PARSE_OK("-uuid", "12345678-ABCD-1234-1234-123456789abc");
	ck_assert_str_eq(g_cfg.uuid, "12345678-abcd-1234-1234-123456789abc");
	PARSE_ERR("expected the form xxxxxxxx-xxxx", "-uuid",
		  "12345678-1234-1234-1234-123456789ab");
	PARSE_ERR("expected the form", "-uuid", "12345678-1234-1234-1234x123456789abc");
	PARSE_ERR("expected the form", "-uuid", "g2345678-1234-1234-1234-123456789abc");
}
END_TEST

/* QEMU's -sandbox syntax; memvm denies its four options always. */
START_TEST(sandbox_option)
{
	PARSE_OK("-sandbox", "off");
	ck_assert(!g_cfg.sandbox);
	PARSE_OK("-sandbox", "on,log=on");
	ck_assert(g_cfg.sandbox && g_cfg.sandbox_log);
	PARSE_OK("-sandbox", "on,log");
	ck_assert(g_cfg.sandbox_log);
	PARSE_OK("-sandbox", "on,log=on", "-sandbox", "on");
	ck_assert(!g_cfg.sandbox_log); /* the last one counts */
	PARSE_OK("-sandbox",
		 "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	ck_assert(g_cfg.sandbox);
	PARSE_ERR("always denies spawn", "-sandbox", "on,spawn=allow");
	PARSE_ERR("always denies elevateprivileges", "-sandbox", "on,elevateprivileges=children");
	PARSE_ERR("unknown option fancy", "-sandbox", "on,fancy=1");
	PARSE_ERR("expected on or off first", "-sandbox", "maybe");
	PARSE_OK("-runas", "nobody");
	ck_assert_str_eq(g_cfg.runas, "nobody");
	PARSE_ERR("expected on or off", "-sandbox", "on,log=perhaps");
	PARSE_ERR("argument too long", "-sandbox",
		  "on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,"
		  "log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on,log=on");
}
END_TEST

START_TEST(defaults)
{
	int r = parse_v((const char *const[]){ NULL });
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(g_cfg.ram_size, 128 * MiB);
	ck_assert_uint_eq(g_cfg.smp, 1);
	ck_assert(g_cfg.mem_merge);
	ck_assert(g_cfg.thp);
	ck_assert(!g_cfg.mem_shared);
	ck_assert(!g_cfg.mem_prealloc);
	ck_assert_uint_eq(g_cfg.prealloc_threads, 0);
	ck_assert_ptr_null(g_cfg.mem_path);
	ck_assert_int_eq(g_cfg.serial, SERIAL_STDIO);
	ck_assert_ptr_null(g_cfg.serial_path);
	ck_assert(g_cfg.host_quirks);
	ck_assert_int_eq(g_cfg.dt, TRI_AUTO);
	ck_assert_ptr_null(g_cfg.dumpdtb);
	ck_assert_ptr_null(g_cfg.kernel);
	ck_assert_ptr_null(g_cfg.initrd);
	ck_assert_ptr_null(g_cfg.append);
	ck_assert(!g_cfg.debug_exit);
	ck_assert_uint_eq(g_cfg.debug_exit_port, 0x501);
	ck_assert_uint_eq(g_cfg.debug_exit_size, 2);
	ck_assert_uint_eq(g_cfg.rng, 0);
	ck_assert(!g_cfg.balloon.enabled);
	ck_assert(!g_cfg.balloon.deflate_on_oom);
	ck_assert(!g_cfg.balloon.free_page_reporting);
	ck_assert_uint_eq(g_cfg.balloon.stats_interval_s, 0);
	ck_assert(!g_cfg.qmp.set);
	ck_assert(!g_cfg.monitor.set);
	ck_assert(!g_cfg.no_reboot);
	ck_assert(g_cfg.sandbox); /* on by default */
	ck_assert(!g_cfg.sandbox_log);
	ck_assert(!g_cfg.start_paused);
	ck_assert(!g_cfg.want_version);
	ck_assert(!g_cfg.want_help);
}
END_TEST

START_TEST(mem_forms)
{
	PARSE_OK("-m", "512");
	ck_assert_uint_eq(g_cfg.ram_size, 512 * MiB);
	PARSE_OK("-m", "2G");
	ck_assert_uint_eq(g_cfg.ram_size, 2 * GiB);
	PARSE_OK("-m", "size=1G");
	ck_assert_uint_eq(g_cfg.ram_size, GiB);
	PARSE_OK("-m", "1G,slots=2,maxmem=4G");
	ck_assert_uint_eq(g_cfg.ram_size, GiB);
	PARSE_OK("-m", "size=2048M,slots=1");
	ck_assert_uint_eq(g_cfg.ram_size, 2 * GiB);
	PARSE_OK("-m", "0.5G");
	ck_assert_uint_eq(g_cfg.ram_size, 512 * MiB);
	PARSE_OK("-m", "2.5");
	ck_assert_uint_eq(g_cfg.ram_size, 2 * MiB + 512 * KiB);
	PARSE_OK("-m", "2048K");
	ck_assert_uint_eq(g_cfg.ram_size, 2 * MiB);
	PARSE_OK("-m", "1T");
	ck_assert_uint_eq(g_cfg.ram_size, TiB);
	/* The last -m wins. */
	PARSE_OK("-m", "256", "-m", "768M");
	ck_assert_uint_eq(g_cfg.ram_size, 768 * MiB);
}
END_TEST

START_TEST(mem_errors)
{
	PARSE_ERR("at least 2 MiB", "-m", "1");
	PARSE_ERR("at least 2 MiB", "-m", "2047K");
	PARSE_ERR("at least 2 MiB", "-m", "0");
	PARSE_ERR("at least 2 MiB", "-m", "1.5");
	PARSE_ERR("multiple of 4 KiB", "-m", "4097K");
	PARSE_ERR("multiple of 4 KiB", "-m", "2.0001");
	PARSE_ERR("multiple of 4 KiB", "-m", "3000001B");
	PARSE_ERR("invalid size", "-m", "abc");
	PARSE_ERR("invalid size", "-m", "size=");
	PARSE_ERR("invalid size", "-m", "12X");
	PARSE_ERR("invalid size", "-m", "-512");
	PARSE_ERR("too large", "-m", "16E");
	PARSE_ERR("too large", "-m", "99999999999999999999");
	/* The message quotes the argument as given. */
	PARSE_ERR("-m 4097K", "-m", "4097K");
	ck_assert_uint_eq(g_cfg.ram_size, 128 * MiB);
}
END_TEST

START_TEST(smp_forms)
{
	PARSE_OK("-smp", "4");
	ck_assert_uint_eq(g_cfg.smp, 4);
	PARSE_OK("-smp", "cpus=4");
	ck_assert_uint_eq(g_cfg.smp, 4);
	PARSE_OK("-smp", "8,sockets=1,cores=8,threads=1");
	ck_assert_uint_eq(g_cfg.smp, 8);
	PARSE_OK("-smp", "cpus=2,maxcpus=2");
	ck_assert_uint_eq(g_cfg.smp, 2);
	PARSE_OK("-smp", "254");
	ck_assert_uint_eq(g_cfg.smp, 254);
	PARSE_OK("-smp", "010"); /* decimal, as the user meant it */
	ck_assert_uint_eq(g_cfg.smp, 10);
	PARSE_OK("-smp", "0x10");
	ck_assert_uint_eq(g_cfg.smp, 16);
}
END_TEST

START_TEST(smp_errors)
{
	PARSE_ERR("at least one vCPU", "-smp", "0");
	/* 8-bit APIC ids: the one limit, where the machine's other parts get it too. */
	PARSE_ERR("-smp 255: at most 254 vCPUs", "-smp", "255");
	PARSE_ERR("-smp 1024: at most 254 vCPUs", "-smp", "1024");
	PARSE_ERR("at least one vCPU", "-smp", "cpus=0");
	PARSE_ERR("expected a number of vCPUs", "-smp", "abc");
	PARSE_ERR("expected a number of vCPUs", "-smp", "");
	PARSE_ERR("expected a number of vCPUs", "-smp", "cpus=");
	PARSE_ERR("expected a number of vCPUs", "-smp", "-1");
	PARSE_ERR("expected a number of vCPUs", "-smp", "4x");
	PARSE_ERR("expected a number of vCPUs", "-smp", " 4");
	PARSE_ERR("expected a number of vCPUs", "-smp", "99999999999999999999");
	/* Far above VM_MAX_CPUS (vmm/config/config.h). */
	PARSE_ERR("at most ", "-smp", "100000");
	PARSE_ERR("at most ", "-smp", "4294967295");
	PARSE_ERR("expected a number of vCPUs", "-smp", "4294967296");
	PARSE_ERR("-smp abc", "-smp", "abc");
	ck_assert_uint_eq(g_cfg.smp, 1);
}
END_TEST

START_TEST(machine_properties)
{
	PARSE_OK("-machine", "prealloc-threads=8");
	ck_assert_uint_eq(g_cfg.prealloc_threads, 8);
	PARSE_OK("-machine", "prealloc-threads=1024");
	ck_assert_uint_eq(g_cfg.prealloc_threads, 1024);

	PARSE_OK("-machine", "mem-merge=off,thp=off,mem-shared=on,host-quirks=off,dt=on");
	ck_assert(!g_cfg.mem_merge);
	ck_assert(!g_cfg.thp);
	ck_assert(g_cfg.mem_shared);
	ck_assert(!g_cfg.host_quirks);
	ck_assert_int_eq(g_cfg.dt, TRI_ON);

	PARSE_OK("-machine", "mem-merge=no,thp=false,mem-shared=yes,host-quirks=n,dt=off");
	ck_assert(!g_cfg.mem_merge);
	ck_assert(!g_cfg.thp);
	ck_assert(g_cfg.mem_shared);
	ck_assert(!g_cfg.host_quirks);
	ck_assert_int_eq(g_cfg.dt, TRI_OFF);

	/* Turning defaults back on. */
	PARSE_OK("-machine", "mem-merge=off", "-M", "mem-merge=on,thp=true,host-quirks=y");
	ck_assert(g_cfg.mem_merge);
	ck_assert(g_cfg.thp);
	ck_assert(g_cfg.host_quirks);

	PARSE_OK("-machine", "dumpdtb=/tmp/out.dtb");
	ck_assert_str_eq(g_cfg.dumpdtb, "/tmp/out.dtb");
	/* Points into the parser's own copy of the words, which lives until
	 * cli_free (the header promises it): argv may change meanwhile. */
	ck_assert(!(g_cfg.dumpdtb >= g_store && g_cfg.dumpdtb < g_store + sizeof(g_store)));

	/* --machine and -M are the same option. */
	PARSE_OK("--machine", "thp=off");
	ck_assert(!g_cfg.thp);
	PARSE_OK("-M", "mem-shared=on");
	ck_assert(g_cfg.mem_shared);
}
END_TEST

START_TEST(machine_types)
{
	PARSE_OK("-machine", "microvm");
	PARSE_OK("-machine", "memvm");
	PARSE_OK("-machine", "pc");
	PARSE_OK("-machine", "q35");
	PARSE_OK("-machine", "microvm,accel=kvm,thp=off");
	ck_assert(!g_cfg.thp);
	PARSE_OK("-M", "pc,mem-merge=off");
	ck_assert(!g_cfg.mem_merge);
	PARSE_ERR("unknown machine type 'foo'", "-machine", "foo");
	PARSE_ERR("unknown machine type 'virt'", "-machine", "virt,thp=off");
}
END_TEST

START_TEST(machine_bad_values)
{
	PARSE_ERR("prealloc-threads=0", "-machine", "prealloc-threads=0");
	PARSE_ERR("prealloc-threads=1025", "-machine", "prealloc-threads=1025");
	PARSE_ERR("prealloc-threads=x", "-machine", "prealloc-threads=x");
	PARSE_ERR("prealloc-threads=-1", "-machine", "prealloc-threads=-1");
	PARSE_ERR("prealloc-threads=", "-machine", "prealloc-threads=");
	PARSE_ERR("mem-merge=maybe", "-machine", "mem-merge=maybe");
	PARSE_ERR("thp=2", "-machine", "thp=2");
	PARSE_ERR("mem-shared=ON", "-machine", "mem-shared=ON");
	PARSE_ERR("host-quirks=", "-machine", "host-quirks=");
	PARSE_ERR("dt=auto", "-machine", "dt=auto");
	ck_assert_int_eq(g_cfg.dt, TRI_AUTO);
	PARSE_ERR("dumpdtb needs a file name", "-machine", "dumpdtb=");
	PARSE_ERR("unknown property 'bogus'", "-machine", "bogus=1");
	PARSE_ERR("unknown property 'kernel-irqchip'", "-machine", "microvm,kernel-irqchip=on");
	/* An error after a good property still fails the whole option. */
	PARSE_ERR("unknown property 'nope'", "-machine", "thp=off,nope=1");
}
END_TEST

START_TEST(device_debug_exit)
{
	PARSE_OK("-device", "isa-debug-exit");
	ck_assert(g_cfg.debug_exit);
	ck_assert_uint_eq(g_cfg.debug_exit_port, 0x501);
	ck_assert_uint_eq(g_cfg.debug_exit_size, 2);

	PARSE_OK("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04");
	ck_assert(g_cfg.debug_exit);
	ck_assert_uint_eq(g_cfg.debug_exit_port, 0xf4);
	ck_assert_uint_eq(g_cfg.debug_exit_size, 4);

	PARSE_OK("-device", "isa-debug-exit,iobase=65535,iosize=1");
	ck_assert_uint_eq(g_cfg.debug_exit_port, 0xffff);
	ck_assert_uint_eq(g_cfg.debug_exit_size, 1);

	PARSE_ERR("iosize=3", "-device", "isa-debug-exit,iosize=3");
	PARSE_ERR("iosize=8", "-device", "isa-debug-exit,iosize=8");
	PARSE_ERR("iosize=0", "-device", "isa-debug-exit,iosize=0");
	PARSE_ERR("iosize=two", "-device", "isa-debug-exit,iosize=two");
	PARSE_ERR("iobase=0x10000", "-device", "isa-debug-exit,iobase=0x10000");
	PARSE_ERR("iobase=", "-device", "isa-debug-exit,iobase=");
	PARSE_ERR("'iosize' needs a value", "-device", "isa-debug-exit,iosize");
	PARSE_ERR("no property 'foo'", "-device", "isa-debug-exit,foo=1");
}
END_TEST

START_TEST(device_balloon)
{
	PARSE_OK("-device", "virtio-balloon");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(!g_cfg.balloon.deflate_on_oom);
	ck_assert(!g_cfg.balloon.free_page_reporting);
	ck_assert_uint_eq(g_cfg.balloon.stats_interval_s, 0);

	PARSE_OK(
		"-device",
		"virtio-balloon,deflate-on-oom=on,free-page-reporting=on,guest-stats-polling-interval=5");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(g_cfg.balloon.deflate_on_oom);
	ck_assert(g_cfg.balloon.free_page_reporting);
	ck_assert_uint_eq(g_cfg.balloon.stats_interval_s, 5);

	PARSE_OK("-device",
		 "virtio-balloon-pci,id=b0,deflate-on-oom,guest-stats-polling-interval=86400");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(g_cfg.balloon.deflate_on_oom); /* bare boolean = on */
	ck_assert(!g_cfg.balloon.free_page_reporting);
	ck_assert_uint_eq(g_cfg.balloon.stats_interval_s, 86400);

	PARSE_OK("-device", "virtio-balloon-device,free-page-reporting=off");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(!g_cfg.balloon.free_page_reporting);

	PARSE_ERR("guest-stats-polling-interval=86401", "-device",
		  "virtio-balloon,guest-stats-polling-interval=86401");
	PARSE_ERR("guest-stats-polling-interval", "-device",
		  "virtio-balloon,guest-stats-polling-interval");
	PARSE_ERR("deflate-on-oom=sure", "-device", "virtio-balloon,deflate-on-oom=sure");
	PARSE_ERR("no property 'stats'", "-device", "virtio-balloon,stats=1");

	/* The memory autopilot's options. */
	PARSE_OK("-device", "virtio-balloon,autopilot=on,autopilot-floor=96M,autopilot-step=8,"
			    "autopilot-reserve=1G");
	ck_assert(g_cfg.balloon.autopilot);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_floor, 96ull << 20);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_step, 8ull << 20); /* plain number: MiB */
	ck_assert_uint_eq(g_cfg.balloon.autopilot_reserve, 1ull << 30);
	PARSE_OK("-device", "virtio-balloon");
	ck_assert(!g_cfg.balloon.autopilot);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_floor, 0);
	PARSE_ERR("autopilot-floor=lots", "-device", "virtio-balloon,autopilot-floor=lots");
	PARSE_ERR("autopilot-step=0", "-device", "virtio-balloon,autopilot-step=0");
	PARSE_ERR("autopilot=maybe", "-device", "virtio-balloon,autopilot=maybe");
}
END_TEST

START_TEST(balloon_option)
{
	PARSE_OK("-balloon", "virtio");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(!g_cfg.balloon.deflate_on_oom);
	PARSE_OK("-balloon", "virtio,deflate-on-oom=on,guest-stats-polling-interval=2");
	ck_assert(g_cfg.balloon.enabled);
	ck_assert(g_cfg.balloon.deflate_on_oom);
	ck_assert_uint_eq(g_cfg.balloon.stats_interval_s, 2);
	PARSE_OK("-device", "virtio-balloon", "-balloon", "none");
	ck_assert(!g_cfg.balloon.enabled);
	PARSE_ERR("-balloon virtio-pci", "-balloon", "virtio-pci");
	PARSE_ERR("expected virtio or none", "-balloon", "xen");
	PARSE_ERR("no property 'x'", "-balloon", "virtio,x=1");
}
END_TEST

START_TEST(device_other)
{
	PARSE_OK("-device", "virtio-rng");
	ck_assert_uint_eq(g_cfg.rng, 1);
	ck_assert(!g_cfg.balloon.enabled);
	ck_assert(!g_cfg.debug_exit);
	PARSE_OK("-device", "virtio-rng-pci,id=rng0");
	ck_assert_uint_eq(g_cfg.rng, 1);
	PARSE_ERR("unknown property 'max-bytes'", "-device", "virtio-rng,max-bytes=1024");
	PARSE_ERR("-device e1000: unknown device", "-device", "e1000");
	PARSE_ERR("unknown device", "-device", "virtio-balloonx");
	PARSE_ERR("available devices", "-device", "help");
	/* Several devices at once. */
	PARSE_OK("-device", "virtio-rng", "-device", "virtio-balloon", "-device",
		 "isa-debug-exit,iobase=0x10");
	ck_assert(g_cfg.rng && g_cfg.balloon.enabled && g_cfg.debug_exit);
	ck_assert_uint_eq(g_cfg.debug_exit_port, 0x10);
	/* Each -device virtio-rng is a device; one balloon, one debug exit. */
	PARSE_OK("-device", "virtio-rng", "-device", "virtio-rng-device", "-device", "virtio-rng");
	ck_assert_uint_eq(g_cfg.rng, 3);
	PARSE_ERR("-device virtio-balloon: Only one balloon device is supported", "-device",
		  "virtio-balloon", "-device", "virtio-balloon");
	PARSE_ERR("-balloon virtio: Only one balloon device is supported", "-device",
		  "virtio-balloon", "-balloon", "virtio");
	PARSE_ERR("given twice", "-device", "isa-debug-exit", "-device", "isa-debug-exit");
	{
		const char *args[40] = { "-kernel", "k" };
		int n = 2;
		for (int i = 0; i < 16; i++) {
			args[n++] = "-device";
			args[n++] = "virtio-rng";
		}
		ck_assert_int_eq(parse_v(args), 0);
		ck_assert_uint_eq(g_cfg.rng, 16);
		args[n++] = "-device";
		args[n++] = "virtio-balloon";
		ck_assert_int_eq(parse_v(args), -EINVAL);
		ck_assert_str_eq(
			g_err,
			"-device: 17 virtio devices asked for; memvm has room for at most 16");
	}
}
END_TEST

START_TEST(serial_modes)
{
	PARSE_OK("-serial", "none");
	ck_assert_int_eq(g_cfg.serial, SERIAL_NONE);
	PARSE_OK("-serial", "null");
	ck_assert_int_eq(g_cfg.serial, SERIAL_NONE);
	PARSE_OK("-serial", "none", "-serial", "stdio");
	ck_assert_int_eq(g_cfg.serial, SERIAL_STDIO);
	PARSE_OK("-serial", "mon:stdio");
	ck_assert_int_eq(g_cfg.serial, SERIAL_STDIO);
	PARSE_OK("-serial", "file:/tmp/console.log");
	ck_assert_int_eq(g_cfg.serial, SERIAL_FILE);
	ck_assert_str_eq(g_cfg.serial_path, "/tmp/console.log");
	ck_assert_str_eq(g_cfg.serial_path, g_argv[2] + 5);
	PARSE_ERR("-serial tcp::4444", "-serial", "tcp::4444");
	PARSE_ERR("expected stdio, file:PATH or none", "-serial", "file:");
	PARSE_ERR("expected stdio, file:PATH or none", "-serial", "STDIO");
	PARSE_ERR("expected stdio, file:PATH or none", "-serial", "");
}
END_TEST

START_TEST(qmp_specs)
{
	PARSE_OK("-qmp", "unix:/tmp/x,server=on,wait=off");
	ck_assert(g_cfg.qmp.set);
	ck_assert(!g_cfg.qmp.stdio);
	ck_assert_str_eq(g_cfg.qmp.path, "/tmp/x");

	PARSE_OK("-qmp", "unix:/tmp/qmp.sock,server,nowait");
	ck_assert(g_cfg.qmp.set);
	ck_assert_str_eq(g_cfg.qmp.path, "/tmp/qmp.sock");

	PARSE_OK("-qmp", "unix:/tmp/y,wait=off,server=on,nodelay");
	ck_assert_str_eq(g_cfg.qmp.path, "/tmp/y");

	PARSE_OK("-qmp", "none");
	ck_assert(!g_cfg.qmp.set);

	/* The longest path that fits sun_path (107 bytes + NUL). */
	char arg[200], path[108];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(arg, sizeof(arg), "unix:%s,server=on,wait=off", path);
	PARSE_OK("-qmp", arg);
	ck_assert_str_eq(g_cfg.qmp.path, path);
	snprintf(arg, sizeof(arg), "unix:%sp,server=on,wait=off", path);
	PARSE_ERR("socket path longer than 107 bytes", "-qmp", arg);
}
END_TEST

START_TEST(qmp_errors)
{
	PARSE_ERR("only listens", "-qmp", "unix:/tmp/x");
	PARSE_ERR("only listens", "-qmp", "unix:/tmp/x,wait=off");
	PARSE_ERR("only listens", "-qmp", "unix:/tmp/x,server=off,wait=off");
	PARSE_ERR("wait=off", "-qmp", "unix:/tmp/x,server=on");
	PARSE_ERR("wait=off", "-qmp", "unix:/tmp/x,server=on,wait=on");
	PARSE_ERR("wait=off", "-qmp", "unix:/tmp/x,server");
	PARSE_ERR("wait needs on or off", "-qmp", "unix:/tmp/x,server,wait");
	PARSE_ERR("server=maybe", "-qmp", "unix:/tmp/x,server=maybe,wait=off");
	PARSE_ERR("unknown socket option 'bogus'", "-qmp", "unix:/tmp/x,server,nowait,bogus");
	PARSE_ERR("empty socket path", "-qmp", "unix:,server=on,wait=off");
	PARSE_ERR("-qmp stdio: not supported", "-qmp", "stdio");
	PARSE_ERR("expected unix:PATH", "-qmp", "tcp:localhost:4444,server,nowait");
	ck_assert(!g_cfg.qmp.set);
}
END_TEST

START_TEST(monitor_specs)
{
	PARSE_OK("-monitor", "unix:/tmp/mon,server=on,wait=off");
	ck_assert(g_cfg.monitor.set);
	ck_assert(!g_cfg.monitor.stdio);
	ck_assert_str_eq(g_cfg.monitor.path, "/tmp/mon");

	PARSE_OK("-monitor", "stdio", "-serial", "none");
	ck_assert(g_cfg.monitor.set);
	ck_assert(g_cfg.monitor.stdio);
	PARSE_OK("-serial", "file:/tmp/s", "-monitor", "stdio");
	ck_assert(g_cfg.monitor.stdio);

	PARSE_ERR("both want the terminal", "-monitor", "stdio", "-serial", "stdio");
	/* The default serial is stdio too. */
	PARSE_ERR("both want the terminal", "-monitor", "stdio");

	PARSE_OK("-qmp", "unix:/tmp/a,server,nowait", "-monitor", "unix:/tmp/b,server,nowait");
	ck_assert_str_eq(g_cfg.qmp.path, "/tmp/a");
	ck_assert_str_eq(g_cfg.monitor.path, "/tmp/b");
	PARSE_ERR("same socket path /tmp/a", "-qmp", "unix:/tmp/a,server,nowait", "-monitor",
		  "unix:/tmp/a,server=on,wait=off");
	PARSE_ERR("expected unix:PATH,server=on,wait=off or stdio", "-monitor", "vc");
}
END_TEST

START_TEST(missing_argument)
{
	PARSE_ERR("-m needs an argument", "-m");
	PARSE_ERR("-smp needs an argument", "-m", "512", "-smp");
	PARSE_ERR("-kernel needs an argument", "-kernel");
	PARSE_ERR("-device needs an argument", "-device");
	PARSE_ERR("-qmp needs an argument", "--qmp");
	/* An option's argument is the next word, even if it looks like an option. */
	PARSE_ERR("-m -smp: invalid size", "-m", "-smp", "2");
}
END_TEST

START_TEST(unknown_and_stray)
{
	PARSE_ERR("unknown option '-bogus'", "-bogus");
	PARSE_ERR("unknown option '--bogus'", "-m", "512", "--bogus");
	PARSE_ERR("unknown option '-drive'", "-drive", "file=x.img");
	PARSE_ERR("unexpected argument 'disk.img'", "disk.img");
	PARSE_ERR("unexpected argument 'extra'", "-m", "512", "extra");
	PARSE_ERR("unexpected argument '-'", "-");
	PARSE_ERR("unknown option '--'", "--");
}
END_TEST

START_TEST(double_dash)
{
	PARSE_OK("--m", "512", "--smp", "3", "--no-reboot", "--serial", "none", "--S");
	ck_assert_uint_eq(g_cfg.ram_size, 512 * MiB);
	ck_assert_uint_eq(g_cfg.smp, 3);
	ck_assert(g_cfg.no_reboot);
	ck_assert(g_cfg.start_paused);
	ck_assert_int_eq(g_cfg.serial, SERIAL_NONE);
	PARSE_OK("--version");
	ck_assert(g_cfg.want_version);
}
END_TEST

START_TEST(boot_files)
{
	PARSE_OK("-kernel", "vmlinux", "-initrd", "init.cpio", "-append", "console=ttyS0 quiet");
	ck_assert_str_eq(g_cfg.kernel, g_argv[2]);
	ck_assert_str_eq(g_cfg.initrd, g_argv[4]);
	ck_assert_str_eq(g_cfg.append, g_argv[6]);
	ck_assert_str_eq(g_cfg.append, "console=ttyS0 quiet");
	/* Order does not matter. */
	PARSE_OK("-initrd", "i", "-kernel", "k");
	ck_assert_str_eq(g_cfg.kernel, "k");
	ck_assert_str_eq(g_cfg.initrd, "i");
	PARSE_ERR("-initrd needs -kernel", "-initrd", "init.cpio");
	PARSE_ERR("-append needs -kernel", "-append", "quiet");
}
END_TEST

START_TEST(flags)
{
	PARSE_OK("-version");
	ck_assert(g_cfg.want_version);
	ck_assert(!g_cfg.want_help);
	PARSE_OK("-V");
	ck_assert(g_cfg.want_version);
	PARSE_OK("-help");
	ck_assert(g_cfg.want_help);
	ck_assert(!g_cfg.want_version);
	PARSE_OK("-h");
	ck_assert(g_cfg.want_help);
	/* -help skips the cross-option checks. */
	PARSE_OK("-initrd", "x", "-help");
	ck_assert(g_cfg.want_help);
	/* ... but not per-option errors. */
	PARSE_ERR("at least one vCPU", "-help", "-smp", "0");

	PARSE_OK("-S", "-no-reboot", "-mem-prealloc", "-mem-path", "/dev/hugepages");
	ck_assert(g_cfg.start_paused);
	ck_assert(g_cfg.no_reboot);
	ck_assert(g_cfg.mem_prealloc);
	ck_assert_str_eq(g_cfg.mem_path, "/dev/hugepages");
	PARSE_ERR("-mem-path needs", "-mem-path", "");
}
END_TEST

START_TEST(familiar_options)
{
	PARSE_OK("-enable-kvm", "-accel", "kvm", "-cpu", "host", "-nographic", "-display", "none",
		 "-nodefaults", "-no-user-config", "-name", "guest0", "-accel",
		 "kvm,kernel-irqchip=on", "-cpu", "host,+x2apic");
	ck_assert_uint_eq(g_cfg.ram_size, 128 * MiB);
	PARSE_ERR("-accel tcg", "-accel", "tcg");
	PARSE_ERR("KVM only", "-accel", "kvmx");
	PARSE_ERR("-cpu max", "-cpu", "max");
	PARSE_ERR("host CPU", "-cpu", "hostile");
	PARSE_ERR("-display gtk", "-display", "gtk");
}
END_TEST

/* ---- config files ------------------------------------------------------ */

static char g_dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	if (!g_dir[0]) {
		snprintf(g_dir, sizeof(g_dir), "/tmp/memvm-cfg.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(g_dir));
	}
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The configuration as -writeconfig writes it (malloc'd). */
static char *written(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(writeconfig_write(&g_cfg, f), 0);
	fclose(f);
	return buf;
}

/* -writeconfig, then -readconfig of that file: the same machine. */
START_TEST(config_round_trip)
{
	PARSE_OK("-m", "320M", "-smp", "3", "-kernel", "/k", "-initrd", "/i", "-append",
		 "console=ttyS0 a=\"b c\"", "-device",
		 "virtio-balloon,deflate-on-oom=on,guest-stats-polling-interval=5,autopilot=on,"
		 "autopilot-floor=100M,autopilot-reserve=4097K",
		 "-device", "virtio-rng", "-device", "virtio-rng", "-device",
		 "isa-debug-exit,iobase=0xf4", "-qmp", "unix:/tmp/q,server=on,wait=off", "-monitor",
		 "stdio", "-serial", "file:/tmp/con", "-name", "vm7", "-uuid",
		 "12345678-1234-1234-1234-123456789abc", "-no-reboot", "-S", "-machine",
		 "mem-merge=off,dt=on,prealloc-threads=3", "-mem-path", "/dev/hugepages",
		 "-mem-prealloc", "-sandbox", "on,log=on");
	char *a = written();
	const char *path = write_file("rt.ini", a);
	PARSE_OK("-readconfig", path);
	char *b = written();
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(g_cfg.ram_size, 320ull << 20);
	ck_assert_uint_eq(g_cfg.rng, 2);
	ck_assert_str_eq(g_cfg.append, "console=ttyS0 a=\"b c\"");
	ck_assert(g_cfg.balloon.deflate_on_oom && g_cfg.no_reboot && g_cfg.start_paused);
	ck_assert(g_cfg.sandbox_log && g_cfg.monitor.stdio && !g_cfg.mem_merge);
	ck_assert(g_cfg.balloon.autopilot);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_floor, 100ull << 20);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_reserve, 4097ull << 10);
	ck_assert_uint_eq(g_cfg.balloon.autopilot_step, 0);
	free(a);
	free(b);
	/* A memory backend, written as QEMU writes one. */
	PARSE_OK("-object", "memory-backend-memfd,id=m0,size=64M,hugetlb=on,dump=off", "-machine",
		 "memory-backend=m0", "-kernel", "/k");
	a = written();
	path = write_file("rt2.ini", a);
	PARSE_OK("-readconfig", path);
	b = written();
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(g_cfg.mem_hugetlb_size, 2ull << 20);
	ck_assert(!g_cfg.mem_dump);
	free(a);
	free(b);
}
END_TEST

/* QEMU's own file for a VM (indented keys, quoted values, a chardev and a
 * mon for the monitor, libvirt's memory backend), and options after it
 * overriding it. */
START_TEST(config_qemu_syntax)
{
	const char *path = write_file("qemu.ini", "# written by QEMU 7.2 -writeconfig\n"
						  "[machine]\n"
						  "  type = \"microvm\"\n"
						  "  accel = \"kvm\"\n"
						  "  memory-backend = \"pc.ram\"\n"
						  "\n"
						  "[object \"pc.ram\"]\n"
						  "  qom-type = \"memory-backend-file\"\n"
						  "  size = \"1073741824\"\n"
						  "  mem-path = \"/dev/hugepages\"\n"
						  "  prealloc = \"on\"\n"
						  "[device \"balloon0\"]\n"
						  "  driver = \"virtio-balloon-device\"\n"
						  "  deflate-on-oom = \"on\"\n"
						  "[chardev \"charmonitor\"]\n"
						  "  backend = \"socket\"\n"
						  "  path = \"/run/vm.qmp\"\n"
						  "  server = \"on\"\n"
						  "  wait = \"off\"\n"
						  "[mon \"monitor\"]\n"
						  "  chardev = \"charmonitor\"\n"
						  "  mode = \"control\"\n"
						  "[smp-opts]\n"
						  "  cpus = \"2\"\n"
						  "[name]\n"
						  "  guest = \"web1\"\n");
	PARSE_OK("-readconfig", path, "-kernel", "/k", "-smp", "4");
	ck_assert_uint_eq(g_cfg.ram_size, 1ull << 30);
	ck_assert_str_eq(g_cfg.mem_path, "/dev/hugepages");
	ck_assert(g_cfg.mem_prealloc && g_cfg.balloon.enabled && g_cfg.balloon.deflate_on_oom);
	ck_assert(g_cfg.qmp.set);
	ck_assert_str_eq(g_cfg.qmp.path, "/run/vm.qmp");
	ck_assert_str_eq(g_cfg.name, "web1");
	ck_assert_str_eq(g_cfg.ram_id, "pc.ram");
	ck_assert_uint_eq(g_cfg.smp, 4); /* the option after the file wins */
	/* A value longer than inih's 200-byte lines. */
	char text[1200];
	int n = snprintf(text, sizeof(text), "[boot]\nkernel = /k\nappend = \"");
	memset(text + n, 'a', 900);
	snprintf(text + n + 900, sizeof(text) - (size_t)n - 900, " end\"\n");
	PARSE_OK("-readconfig", write_file("long.ini", text));
	ck_assert_uint_eq(strlen(g_cfg.append), 904);
	ck_assert_str_eq(g_cfg.append + 900, " end");
}
END_TEST

/* Errors name the file, the line and the key. */
START_TEST(config_errors)
{
	const char *p = write_file(
		"e1.ini", "[machine]\n  mem-merge = \"on\"\n\n[memory]\n  size = \"lots\"\n");
	PARSE_ERR(":5: [memory] size: -m lots: invalid size", "-readconfig", p);
	ck_assert_ptr_nonnull(strstr(g_err, "e1.ini:5"));
	p = write_file("e2.ini", "[memory]\n  size = \"1G\"\n[colour]\n  x = \"red\"\n");
	PARSE_ERR("e2.ini:3: section [colour] is not known", "-readconfig", p);
	p = write_file("e3.ini", "[memory]\n  size = \"1G\"\n  maxmem = \"2G\"\n");
	PARSE_ERR("e3.ini:3: maxmem: unknown in [memory] (known: size)", "-readconfig", p);
	p = write_file("e4.ini", "[memory]\nsize\n");
	PARSE_ERR("e4.ini:2: not an INI line", "-readconfig", p);
	p = write_file("e5.ini", "[device \"b\"]\n  deflate-on-oom = \"on\"\n");
	PARSE_ERR("e5.ini:1: [device \"b\"]: driver is missing", "-readconfig", p);
	p = write_file("e6.ini", "[object]\n  qom-type = \"memory-backend-ram\"\n");
	PARSE_ERR("an object needs an id", "-readconfig", p);
	p = write_file("e7.ini", "[mon]\n  chardev = \"nope\"\n");
	PARSE_ERR("e7.ini:2: chardev: [mon] needs the id of a [chardev] above it", "-readconfig",
		  p);
	p = write_file("e8.ini", "[device \"x\"]\n  driver = \"virtio-gpu\"\n");
	PARSE_ERR("e8.ini:2: [device \"x\"] driver: -device virtio-gpu", "-readconfig", p);
	/* An error in one section, more sections after it: nothing kept. */
	p = write_file("e9.ini", "[device \"b\"]\n  x = \"1\"\n[memory]\n  size = \"1G\"\n[boot]\n"
				 "  kernel = \"/k\"\n");
	PARSE_ERR("e9.ini:1: [device \"b\"]: driver is missing", "-readconfig", p);
	PARSE_ERR("-readconfig /nonexistent/x.ini: No such file or directory", "-readconfig",
		  "/nonexistent/x.ini");
	PARSE_ERR("-readconfig needs a file name", "-readconfig");
	PARSE_ERR("-writeconfig needs an argument", "-writeconfig");
}
END_TEST

/* The example configurations parse (tests/e2e/configs.sh boots them). */
START_TEST(config_examples)
{
	static const char *const files[] = { "configs/tiny.ini", "configs/hugepages.ini",
					     "configs/overcommit.ini" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		PARSE_OK("-readconfig", files[i]);
		ck_assert_ptr_nonnull(g_cfg.kernel);
		ck_assert(g_cfg.balloon.enabled && g_cfg.qmp.set);
	}
	PARSE_OK("-readconfig", "configs/tiny.ini");
	ck_assert_uint_eq(g_cfg.ram_size, 128ull << 20);
	PARSE_OK("-readconfig", "configs/hugepages.ini");
	ck_assert(g_cfg.mem_prealloc && g_cfg.memdev.set);
	PARSE_OK("-readconfig", "configs/overcommit.ini");
	ck_assert(g_cfg.balloon.deflate_on_oom && g_cfg.balloon.free_page_reporting &&
		  g_cfg.mem_merge);
}
END_TEST

/* Every option the parser knows is in -help and in memvm(1). */
START_TEST(options_documented)
{
	const char *names[128];
	size_t n = cli_option_names(names, ARRAY_SIZE(names));
	ck_assert_uint_gt(n, 20);
	ck_assert_uint_lt(n, ARRAY_SIZE(names));
	char *help = NULL, *man = NULL;
	size_t hl = 0;
	FILE *f = open_memstream(&help, &hl);
	cli_usage(f);
	fclose(f);
	f = fopen("man/memvm.1", "r");
	ck_assert_msg(f != NULL, "man/memvm.1 is missing");
	size_t ml = 0;
	ck_assert_int_ge(getdelim(&man, &ml, '\0', f), 100);
	fclose(f);
	/* roff writes a dash as \- */
	for (char *r = man, *w = man;; r++) {
		if (r[0] == '\\' && r[1] == '-')
			r++;
		if (!(*w++ = *r))
			break;
	}
	for (size_t i = 0; i < n; i++) {
		char opt[64];
		snprintf(opt, sizeof(opt), "-%s", names[i]);
		/* whole words: "-m" must not be found inside "-machine" */
		bool in_help = false, in_man = false;
		for (const char *t = help; (t = strstr(t, opt)); t++)
			in_help |= !isalnum((unsigned char)t[strlen(opt)]) && t[strlen(opt)] != '-';
		for (const char *t = man; (t = strstr(t, opt)); t++)
			in_man |= !isalnum((unsigned char)t[strlen(opt)]) && t[strlen(opt)] != '-';
		ck_assert_msg(in_help, "%s is not in memvm -help", opt);
		ck_assert_msg(in_man, "%s is not in man/memvm.1", opt);
	}
	free(help);
	free(man);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("parse_size");
	tcase_add_test(tc, size_plain_uses_default_unit);
	tcase_add_test(tc, size_suffixes_case_insensitive);
	tcase_add_test(tc, size_decimals);
	tcase_add_test(tc, size_iB_and_B_forms);
	tcase_add_test(tc, size_rejects_garbage);
	tcase_add_test(tc, size_overflow_is_erange);
	tcase_add_test(tc, size_largest_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, sandbox_option);
	tcase_add_test(tc, mem_forms);
	tcase_add_test(tc, mem_errors);
	tcase_add_test(tc, smp_forms);
	tcase_add_test(tc, smp_errors);
	tcase_add_test(tc, machine_properties);
	tcase_add_test(tc, machine_types);
	tcase_add_test(tc, machine_bad_values);
	tcase_add_test(tc, device_debug_exit);
	tcase_add_test(tc, device_balloon);
	tcase_add_test(tc, balloon_option);
	tcase_add_test(tc, device_other);
	tcase_add_test(tc, serial_modes);
	tcase_add_test(tc, qmp_specs);
	tcase_add_test(tc, qmp_errors);
	tcase_add_test(tc, monitor_specs);
	tcase_add_test(tc, missing_argument);
	tcase_add_test(tc, unknown_and_stray);
	tcase_add_test(tc, double_dash);
	tcase_add_test(tc, boot_files);
	tcase_add_test(tc, flags);
	tcase_add_test(tc, familiar_options);
	tcase_add_test(tc, name_uuid_options);
	tcase_add_test(tc, memory_backend_objects);
	tcase_add_test(tc, config_round_trip);
	tcase_add_test(tc, config_qemu_syntax);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, config_examples);
	tcase_add_test(tc, options_documented);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
