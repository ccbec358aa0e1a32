#!/bin/bash
# End-to-end tests on the tiny guest's busybox user space (guest system
# calls work on hardware-virtualization hosts: real KVM and the nested KVM
# host). One guest serves every assertion: the serial console shell, -smp 2,
# balloon statistics that follow a guest process's allocation, and
# deflate-on-oom under a real user-space allocation. (KSM: ksm.sh.)
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/guest-lib.sh
T=$TESTS_TMP
CTL=$BUILD/memvm-ctl

require_user_space userspace

cleanup() {
	exec 7>&- 2>/dev/null
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
	wait
	rm -rf "$T"
}
trap cleanup EXIT

ctl() { local g=$1; shift; "$CTL" -s "$T/$g.qmp" "$@"; }
actual_mib() { ctl "$1" info balloon | sed -nE 's/^balloon: actual=([0-9]+)$/\1/p'; }
stat_of() { ctl "$1" stats | sed -nE "s/^$2: ([0-9]+)$/\1/p"; }

# U: the console is memvm's stdin/stdout (-serial stdio), fed through a FIFO.
mkfifo "$T/U.in"
"$MEMVM" -m 256M -smp 2 -kernel "$VMLINUX" -initrd "$INIT_BUSYBOX" -append "$GUEST_APPEND" \
	-device virtio-balloon,guest-stats-polling-interval=1,deflate-on-oom=on \
	-qmp "unix:$T/U.qmp,server=on,wait=off" -serial stdio <"$T/U.in" >"$T/U.log" 2>"$T/U.err" &
PID_U=$!
exec 7>"$T/U.in"
# send CMD: types a line on the guest's console.
send() { printf '%s\n' "$1" >&7; }

if wait_guest_line U "MEMVM-BUSYBOX-READY"; then pass "U: busybox init runs"; else fail "U: busybox init runs" "$(tail -3 "$T/U.log" | tr '\n' '|')"; fi
sleep 2 # the shell's prompt
send 'echo "sum=$((6 * 7))"'
if wait_guest_line U "^sum=42" 60; then pass "U: a command typed on the console runs in the guest shell"; else fail "U: a command typed on the console runs in the guest shell" "$(tail -3 "$T/U.log" | tr '\n' '|')"; fi
send 'echo "cpus=$(grep -c ^processor /proc/cpuinfo)"'
wait_guest_line U "^cpus=[0-9]" 60
expect_eq "U: -smp 2 guest user space sees 2 CPUs" "cpus=2" "$(grep -a -m1 '^cpus=' "$T/U.log" | tr -d '\r')"

# Statistics follow a guest process: 96 MiB held, then freed.
sleep 3
free0=$(stat_of U stat-free-memory)
avail0=$(stat_of U stat-available-memory)
send 'memhog 96 hold & echo "hog=$!"'
wait_guest_line U "memhog: touched 96 MiB" 120
sleep 3
free1=$(stat_of U stat-free-memory)
avail1=$(stat_of U stat-available-memory)
check "U: stat-free-memory fell by >= 80 MiB while a guest process holds 96 MiB (${free0:-?} -> ${free1:-?})" \
	[ -n "$free0" ] && [ -n "$free1" ] && [ $((free0 - free1)) -ge $((80 << 20)) ]
check "U: stat-available-memory fell too (${avail0:-?} -> ${avail1:-?})" \
	[ -n "$avail0" ] && [ -n "$avail1" ] && [ $((avail0 - avail1)) -ge $((80 << 20)) ]
send 'kill $(pidof memhog); echo "hog-killed"'
wait_guest_line U "^hog-killed" 60
sleep 3
free2=$(stat_of U stat-free-memory)
check "U: stat-free-memory rose again after the process exited (${free1:-?} -> ${free2:-?})" \
	[ -n "$free2" ] && [ -n "$free1" ] && [ $((free2 - free1)) -ge $((80 << 20)) ]

# Deflate-on-oom: inflate to 64 MiB, then a process needs 160 MiB.
# --wait follows the guest's BALLOON_CHANGE and X_BALLOON_TARGET_REACHED
# events until it gets there.
ctl U balloon 64M --wait=60 >"$T/wait.out" 2>&1
expect_eq "U: balloon --wait returns 0 once the guest is there" 0 "$?"
expect_match "U: ... and says so" "^balloon: actual=64 \(target reached\)$" "$T/wait.out"
expect_eq "U: inflated to 64 MiB" 64 "$(actual_mib U)"
# Listen for memvm's events meanwhile.
{
	echo '{"execute": "qmp_capabilities"}'
	while kill -0 "$PID_U" 2>/dev/null && [ ! -e "$T/ev.stop" ]; do sleep 0.5; done
} | socat -t 1 - "UNIX-CONNECT:$T/U.qmp" | tr -d '\r' >"$T/ev.out" &
EVPID=$!
send 'memhog 160 && echo "hog160=ok"'
if wait_guest_line U "^hog160=ok" 180; then pass "U: a process allocating more than inflation left succeeds (deflate-on-oom)"; else fail "U: a process allocating more than inflation left succeeds (deflate-on-oom)" "$(tail -5 "$T/U.log" | tr '\n' '|')"; fi
aU=$(actual_mib U)
check "U: the balloon shrank to make room (actual ${aU:-?} MiB > 64)" [ -n "$aU" ] && [ "$aU" -gt 64 ]
expect_no_match "U: no OOM kill in the guest" "Out of memory|oom-kill|Killed process" "$T/U.log"
touch "$T/ev.stop"
wait "$EVPID"
expect_match "U: X_BALLOON_OOM_DEFLATE said the guest took memory back by itself" '"event": "X_BALLOON_OOM_DEFLATE", "data": \{"target": 67108864, "actual": [0-9]+\}' "$T/ev.out"

# system_powerdown: Ctrl-Alt-Del reaches busybox init, which shuts down in
# order (its shutdown action runs, processes end) and reboots, which memvm
# takes as the power-off it asked for.
ctl U system_powerdown
for _ in $(seq 300); do kill -0 "$PID_U" 2>/dev/null || break; sleep 0.2; done
kill -0 "$PID_U" 2>/dev/null && ctl U quit >/dev/null
wait "$PID_U"; rc=$?
expect_eq "U: system_powerdown: memvm exits 0" 0 "$rc"
expect_match "U: system_powerdown: busybox init shut down in order" "MEMVM-SHUTDOWN: stopping" "$T/U.log"
expect_match "U: system_powerdown: processes were ended first" "The system is going down NOW|Sent SIG(TERM|KILL) to all processes" "$T/U.log"
expect_match "U: system_powerdown: then the kernel went down" "reboot: Restarting system" "$T/U.log"
expect_eq "U: system_powerdown: not booted again" 1 "$(grep -ac 'Linux version' "$T/U.log")"
