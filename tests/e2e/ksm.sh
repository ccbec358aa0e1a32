#!/bin/bash
# End-to-end tests on the tiny guest's busybox user space (guest system
# calls work on hardware-virtualization hosts: real KVM and the nested KVM
# host): four busybox guests run the same program (memhog, 32 MiB whose
# pages depend only on their index):
#   K1, K2  -machine mem-merge=on: KSM merges their pages across guests
#   N1, N2  mem-merge=off: nothing of theirs is merged
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/guest-lib.sh
T=$TESTS_TMP

require_user_space ksm

ksm=/sys/kernel/mm/ksm
ksm_old=
cleanup() {
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
	wait
	[ -n "$ksm_old" ] && { echo "$ksm_old" >$ksm/run; echo "$scan_old" >$ksm/pages_to_scan; echo "$sleep_old" >$ksm/sleep_millisecs; }
	rm -rf "$T"
}
trap cleanup EXIT

# The nested host's (or this machine's) ksmd, scanning fast.
if is_root && [ -w $ksm/run ]; then
	ksm_old=$(cat $ksm/run) scan_old=$(cat $ksm/pages_to_scan) sleep_old=$(cat $ksm/sleep_millisecs)
	echo 1000 >$ksm/pages_to_scan
	echo 20 >$ksm/sleep_millisecs
	echo 1 >$ksm/run
fi
for g in K1:on K2:on N1:off N2:off; do
	start_guest "${g%%:*}" -m 128M -machine "mem-merge=${g##*:}" -kernel "$VMLINUX" -initrd "$INIT_BUSYBOX" \
		-append "$GUEST_APPEND memhog=32"
	# One boot at a time: the nested KVM host (TCG, Debian 6.1.0-57)
	# panics or crashes guests when several boot at the same moment.
	wait_guest_line "${g%%:*}" "MEMVM-BUSYBOX-READY" 120 || true
done

# KSM: the two mem-merge=on guests share memhog's 32 MiB; the others not.
for g in K1 K2 N1 N2; do
	wait_guest_line $g "memhog: touched 32 MiB" || fail "$g: memhog ran" "$(tail -3 "$T/$g.log" | tr '\n' '|') memvm: $(tail -3 "$T/$g.err" | tr '\n' '|')"
done
merging() { cat "/proc/$1/ksm_merging_pages" 2>/dev/null || echo 0; }
if [ -n "$ksm_old" ]; then
	for _ in $(seq 120); do
		[ "$(merging "$PID_K1")" -ge 6144 ] && [ "$(merging "$PID_K2")" -ge 6144 ] && break
		sleep 1
	done
	k1=$(merging "$PID_K1") k2=$(merging "$PID_K2") n1=$(merging "$PID_N1") n2=$(merging "$PID_N2")
	check "K: mem-merge=on guests running the same program share pages (ksm_merging_pages $k1, $k2; >= 6144 of memhog's 8192 each)" \
		[ "$k1" -ge 6144 ] && [ "$k2" -ge 6144 ]
	expect_eq "N: mem-merge=off guests share nothing (ksm_merging_pages $n1, $n2)" "0 0" "$n1 $n2"
else
	fail "K: KSM" "needs root and $ksm/run"
fi

for g in K1 K2 N1 N2; do
	stop_guest $g
	expect_eq "$g: SIGTERM stops the guest with status 0" 0 "$rc"
done
