#!/bin/bash
# The documentation, checked against the programs (issue 16): every
# memvm-ctl command (the ones ctl.c dispatches on) is in its -h and in
# man/memvm-ctl.1 (memvm's options are checked the same way by test_cli's
# options_documented), both man pages render, and make install puts the
# binaries and the man pages under DESTDIR/PREFIX, where they run.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bad=0
say() { echo "docs: $*"; bad=1; }
[ -x "$BUILD/memvm-ctl" ] || { echo "docs: $BUILD/memvm-ctl is missing: build first (make all)"; exit 1; }
usage=$("$BUILD/memvm-ctl" -h 2>&1)
man=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' man/memvm-ctl.1)
cmds=$(grep -o '!strcmp(cmd, "[a-z_-]*")' vmm/ctl/ctl.c | sed 's/.*"\(.*\)")/\1/' | sort -u)
n=0
for c in $cmds; do
	n=$((n + 1))
	grep -qw -- "$c" <<<"$usage" || say "memvm-ctl command '$c' is not in memvm-ctl -h"
	grep -qw -- "$c" <<<"$man" || say "memvm-ctl command '$c' is not in man/memvm-ctl.1"
done
[ "$n" -ge 10 ] || say "found only $n memvm-ctl commands in vmm/ctl/ctl.c"
for m in man/memvm.1 man/memvm-ctl.1; do
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 man -l "$m" 2>&1 >/dev/null) || say "$m does not render: $out"
		[ -z "$out" ] || say "$m: man warns: $out"
	fi
done
d=$(mktemp -d)
if make --no-print-directory install BUILD="$BUILD" DESTDIR="$d" PREFIX=/usr >"$d.log" 2>&1; then
	for f in bin/memvm bin/memvm-ctl share/man/man1/memvm.1 share/man/man1/memvm-ctl.1; do
		[ -f "$d/usr/$f" ] || say "make install did not install /usr/$f"
	done
	"$d/usr/bin/memvm" -version | grep -q "^memvm version" || say "the installed memvm does not run"
else
	say "make install failed: $(tail -3 "$d.log")"
fi
rm -rf "$d" "$d.log"
[ $bad = 0 ] && echo "docs: $n memvm-ctl commands in -h and the man page; both man pages render; make install works"
exit $bad
