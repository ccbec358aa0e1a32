#!/bin/bash
# The hardened build, checked on the binaries (issue 13): PIE, full RELRO
# (GNU_RELRO and BIND_NOW), the stack protector, and _FORTIFY_SOURCE's
# checked calls (not under SAN=1, whose sanitizers replace them).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bad=0
say() { echo "hardening: $*"; bad=1; }
for b in "$BUILD/memvm" "$BUILD/memvm-ctl"; do
	[ -x "$b" ] || { say "$b is missing: build first (make all)"; continue; }
	readelf -h "$b" | grep -Eq 'Type: +DYN' || say "$b is not PIE"
	readelf -lW "$b" | grep -q GNU_RELRO || say "$b has no RELRO segment"
	readelf -dW "$b" | grep -Eq 'BIND_NOW|FLAGS.*NOW' || say "$b is not linked with -z now (partial RELRO)"
	nm -D "$b" | grep -q __stack_chk_fail || say "$b has no stack protector"
	if [ "${SAN:-0}" != 1 ]; then
		nm -D "$b" | grep -Eq '__[a-z_]+_chk' || say "$b has no _FORTIFY_SOURCE checks"
	fi
done
[ $bad = 0 ] && echo "hardening: memvm and memvm-ctl are PIE, full RELRO, stack-protected$([ "${SAN:-0}" != 1 ] && echo ", fortified")"
exit $bad
