#!/bin/bash
# End-to-end: Debian's go-qemu library (the QMP client Go tooling uses)
# drives memvm unchanged: domain status, PCI, block devices and jobs, block
# stats, versions, command list, query-name/uuid, balloon, unsigned guest
# statistics, cont, system_reset and system_powerdown with their events.
# The checker is tests/goqemu/main.go, built by make check.
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$TESTS_TMP
CHECK=$BUILD/tests/goqemu-check

require_kvm goqemu
if [ ! -x "$CHECK" ]; then
	fail goqemu "$CHECK is missing (make check builds it; needs golang-go and golang-github-digitalocean-go-qemu-dev)"
	exit 0
fi
cleanup() {
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

Q=$T/qmp.sock
"$MEMVM" -S -m 128M -name tiny -kernel "$BUILD/payloads/idle64.elf" -device virtio-balloon -serial none \
	-qmp "unix:$Q,server=on,wait=off" </dev/null >"$T/memvm.out" 2>"$T/memvm.err" &
PID=$!
for _ in $(seq 200); do [ -S "$Q" ] && break; sleep 0.1; done
if [ ! -S "$Q" ]; then
	fail "goqemu: memvm's QMP socket" "not there after 20 s: $(tr '\n' '|' <"$T/memvm.err")"
	exit 0
fi
timeout 60 "$CHECK" "$Q" >"$T/check.out" 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"ok "*) pass "go-qemu: ${line#ok }"; n=$((n + 1)) ;;
	"FAIL "*) r=${line#FAIL }; fail "go-qemu: ${r%%: *}" "${r#*: }"; n=$((n + 1)) ;;
	esac
done <"$T/check.out"
expect_eq "go-qemu: the checker exits 0" 0 "$rc"
check "go-qemu: every check reported (got $n of 35)" [ "$n" -eq 35 ]
[ "$rc" = 0 ] || echo "goqemu-check said: $(tail -5 "$T/check.out" | tr '\n' '|')"
check "go-qemu: memvm still runs (the idle payload has no keyboard driver)" kill -0 "$PID"
kill -TERM "$PID"
wait "$PID"
expect_eq "go-qemu: memvm exits 0 on SIGTERM" 0 "$?"
