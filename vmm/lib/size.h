/* Byte sizes as users type and read them: one parser for every option and
 * monitor command, one formatter for every message. */
#ifndef MEMVM_SIZE_H
#define MEMVM_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

/* QEMU size syntax: a plain number is `default_unit` bytes (MiB for -m),
 * suffixes B/K/M/G/T/P/E (case-insensitive, optional "iB"), decimals
 * allowed ("1.5G"). 0 or -EINVAL / -ERANGE; *out is untouched on error. */
int size_parse(const char *s, uint64_t default_unit, uint64_t *out) WUR;

/* "512 B", "4 KiB", "1.5 GiB": exact when bytes is a whole number of the
 * largest unit it reaches, else one decimal (QEMU's HMP style). */
const char *size_format(char *buf, size_t size, uint64_t bytes);
/* The same in option syntax ("2M", "1G", "4097B"), exact, for suggestions
 * the user can type back. */
const char *size_format_option(char *buf, size_t size, uint64_t bytes);

/* For messages: SIZE_STR(v) is a temporary string valid in the full
 * expression. */
#define SIZE_STR(v)     size_format((char[32]){ 0 }, 32, (v))
#define SIZE_OPT_STR(v) size_format_option((char[32]){ 0 }, 32, (v))

#endif
