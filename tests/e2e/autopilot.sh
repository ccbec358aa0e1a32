#!/bin/bash
# The memory autopilot on real guests: three busybox guests of 256 MiB in
# one cgroup whose memory.high is set 280 MiB above what they hold once
# booted (well below the 768 MiB they could take): A idles, C allocates in
# bursts (2 x 160 MiB, freed each time), then B grows its working set to
# 200 MiB. Run twice on fresh guests: with the autopilot off, what C once
# touched stays with the host and the cgroup goes over memory.high; with it
# on, C's free memory goes back and the cgroup stays under it, no guest
# process is OOM-killed, and the idle guest answers its console within a
# few seconds throughout. (make bench runs the longer form with a plot.)
#
# AUTOPILOT_TIMELINE=FILE: also record, every second, the cgroup's usage
# and limit, its PSI "some" avg10, and each guest's target, actual size,
# available memory (guest statistics) and RSS, as
# "mode t_s usage high psi Atarget Aactual Aavail Arss B... C..." (MiB);
# AUTOPILOT_LONG=1: four bursts, and B lets go of its memory at the end.
# AUTOPILOT_MODES="off fixed on" (make bench): also a run with the
# autopilot off and each guest's balloon set once to a fixed 128 MiB, the
# static split an operator would make of memory.high.
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/guest-lib.sh
T=$TESTS_TMP
CTL=$BUILD/memvm-ctl
CG=/sys/fs/cgroup
MiB=$((1 << 20))

require_user_space autopilot
if ! grep -qw memory "$CG/cgroup.controllers" 2>/dev/null; then
	fail "autopilot: a cgroup v2 memory controller at $CG" "mount cgroup2 on $CG (the nested KVM host does)"
	exit 0
fi
echo +memory >"$CG/cgroup.subtree_control" 2>/dev/null

cleanup() {
	exec 7>&- 8>&- 9>&- 2>/dev/null
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
	wait
	for m in on off fixed; do
		[ -d "$CG/memvm-ap-$m" ] || continue
		while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$CG/memvm-ap-$m/cgroup.procs"
		sleep 0.5
		rmdir "$CG/memvm-ap-$m" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

ctl() { local g=$1; shift; "$CTL" -s "$T/$g.qmp" "$@"; }
# send GUEST LINE: types a line on that guest's console.
send() {
	case $1 in *A) printf '%s\n' "$2" >&7 ;; *B) printf '%s\n' "$2" >&8 ;; *C) printf '%s\n' "$2" >&9 ;; esac
}
now_ms() { date +%s%3N; }
LONG=${AUTOPILOT_LONG:-}
TIMELINE=${AUTOPILOT_TIMELINE:-}

# One guest's "target actual available rss" in MiB (- when unknown).
guest_sample() {
	printf '{"execute": "qmp_capabilities"}\n{"execute": "x-query-memvm-memory", "id": 1}\n' |
		timeout 5 socat -t 2 - "UNIX-CONNECT:$T/$1.qmp" 2>/dev/null | tr -d '\r' |
		jq -r 'select(.id == 1) | .return | [.balloon.target, .balloon.actual,
			.balloon.stats["stat-available-memory"], .rss] |
			map(if . == null or . < 0 then "-" else (. / 1048576 | floor) end) | join(" ")' 2>/dev/null
}

# timeline MODE CGROUP HIGH: appends a line a second to $TIMELINE.
timeline() {
	local mode=$1 cg=$2 high=$3 t0=$SECONDS line g
	while [ -d "$cg" ] && [ ! -e "$T/$mode.stop" ]; do
		line="$mode $((SECONDS - t0)) $(($(cat "$cg/memory.current") >> 20)) $((high >> 20))"
		line+=" $(sed -nE 's/^some avg10=([0-9.]+).*/\1/p' "$cg/memory.pressure")"
		for g in A B C; do line+=" $(guest_sample "$mode$g" || echo '- - - -')"; done
		echo "$line" >>"$TIMELINE"
		sleep 1
	done
}

# ping GUEST N: how long (ms) the guest's shell takes to answer, or 99999.
ping_ms() {
	local g=$1 n=$2 t0
	t0=$(now_ms)
	send "$g" "echo pong-$n"
	if wait_guest_line "$g" "^pong-$n" 20; then echo $(($(now_ms) - t0)); else echo 99999; fi
}

run_mode() {
	local mode=$1 cg=$CG/memvm-ap-$1 g ap=off
	[ "$mode" = on ] && ap=on
	mkdir -p "$cg" || { fail "autopilot $mode: cgroup" "cannot create $cg"; return; }
	# A limit from the start (memvm picks its cgroup when it starts), high
	# enough for the boots; lowered once they are done.
	echo $((1024 * MiB)) >"$cg/memory.high"
	for g in A B C; do
		mkfifo "$T/$mode$g.in"
		# Joins the cgroup, then becomes memvm.
		sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
			"$MEMVM" -m 256M -kernel "$VMLINUX" -initrd "$INIT_BUSYBOX" -append "$GUEST_APPEND" \
			-device "virtio-balloon,deflate-on-oom=on,guest-stats-polling-interval=1,autopilot=$ap,autopilot-step=64M,autopilot-floor=48M" \
			-qmp "unix:$T/$mode$g.qmp,server=on,wait=off" -serial stdio \
			<"$T/$mode$g.in" >"$T/$mode$g.log" 2>"$T/$mode$g.err" &
		eval "PID_$mode$g=$!"
		case $g in A) exec 7>"$T/${mode}A.in" ;; B) exec 8>"$T/${mode}B.in" ;; C) exec 9>"$T/${mode}C.in" ;; esac
		# One boot at a time: the nested KVM host (TCG, Debian 6.1.0-57)
		# panics when three guests boot at the same moment.
		wait_guest_line "$mode$g" "MEMVM-BUSYBOX-READY" ||
			{ fail "autopilot $mode: guest $g boots" "$(tail -3 "$T/$mode$g.log" "$T/$mode$g.err" | tr '\n' '|')"; return; }
	done
	sleep 3 # the shells' prompts
	local u0 high
	u0=$(cat "$cg/memory.current")
	high=$((u0 + 280 * MiB))
	echo "$high" >"$cg/memory.high"
	echo "autopilot $mode: the three guests hold $((u0 / MiB)) MiB once booted; memory.high $((high / MiB)) MiB"
	if [ "$mode" = fixed ]; then
		for g in A B C; do ctl "fixed$g" balloon 128 >/dev/null || fail "autopilot fixed: balloon 128 for $g" "memvm-ctl failed"; done
	fi
	# The cgroup's usage, every half second.
	(while [ -d "$cg" ]; do cat "$cg/memory.current" 2>/dev/null; sleep 0.5; done) >"$T/$mode.usage" &
	local sampler=$! tl=
	if [ -n "$TIMELINE" ]; then
		timeline "$mode" "$cg" "$high" &
		tl=$!
	fi
	# C's events: what the autopilot saw and did.
	{
		echo '{"execute": "qmp_capabilities"}'
		while [ ! -e "$T/$mode.stop" ]; do sleep 0.5; done
	} | socat -t 1 - "UNIX-CONNECT:$T/${mode}C.qmp" | tr -d '\r' >"$T/${mode}C.events" &
	local listener=$!

	local worst=0 n=0 ms
	if [ -n "$LONG" ]; then
		send "${mode}C" 'for i in 1 2 3 4; do memhog 160; sleep 5; done; echo "burst=ok"'
	else
		send "${mode}C" 'memhog 160 && memhog 160 && echo "burst=ok"'
	fi
	local end=$((SECONDS + 150))
	while [ "$SECONDS" -lt "$end" ]; do
		wait_guest_line "${mode}C" "^burst=ok" 2 && break
		ms=$(ping_ms "${mode}A" $((n += 1))); [ "$ms" -gt "$worst" ] && worst=$ms
	done
	wait_guest_line "${mode}C" "^burst=ok" 1 || fail "autopilot $mode: C's bursts finish" "$(tail -3 "$T/${mode}C.log" | tr '\n' '|')"
	sleep 5
	send "${mode}B" 'for i in 1 2 3 4 5; do memhog 40 hold & sleep 3; done; sleep 2; echo "grow=ok"'
	local grew=no
	end=$((SECONDS + 150))
	while [ "$SECONDS" -lt "$end" ]; do
		wait_guest_line "${mode}B" "^grow=ok" 2 && { grew=yes; break; }
		ms=$(ping_ms "${mode}A" $((n += 1))); [ "$ms" -gt "$worst" ] && worst=$ms
	done
	sleep 5
	if [ -n "$LONG" ]; then
		# B lets go: the host relaxes, and memory goes back by half steps.
		send "${mode}B" 'kill $(pidof memhog); echo "let-go"'
		sleep 60
	fi
	touch "$T/$mode.stop"
	kill "$sampler" 2>/dev/null
	[ -n "$tl" ] && wait "$tl" 2>/dev/null
	wait "$listener" 2>/dev/null
	local peak events
	peak=$(sort -n "$T/$mode.usage" | tail -1)
	events=$(awk '$1 == "high" {print $2}' "$cg/memory.events")
	echo "autopilot $mode: peak usage $((peak / MiB)) MiB against memory.high $((high / MiB)) MiB (over it $events times); A's console answered within $worst ms at worst"
	echo "autopilot $mode: OOM kills in the guests: $(cat "$T/$mode"[ABC].log | grep -c 'Killed process')"
	if [ "$mode" = on ]; then
		check "autopilot on: B's working set grew to 200 MiB" [ "$grew" = yes ]
		check "autopilot on: the cgroup stayed under memory.high (peak $((peak / MiB)) of $((high / MiB)) MiB)" [ "$peak" -le "$high" ]
		check "autopilot on: the idle guest answered within 5 s throughout (worst $worst ms)" [ "$worst" -le 5000 ]
		grep '"event": "X_HOST_MEMORY_PRESSURE"' "$T/onC.events" | grep '"level": "high"' >"$T/onC.pressure"
		expect_match "autopilot on: C saw the host's pressure in its own cgroup" '"source": "cgroup /sys/fs/cgroup/memvm-ap-on"' "$T/onC.pressure"
		expect_match "autopilot on: C's autopilot inflated it for the host" '"event": "X_BALLOON_AUTOPILOT", "data": \{"action": "inflate", "reason": "host-pressure"' "$T/onC.events"
		ctl onC autopilot >"$T/onC.status" 2>&1
		expect_match "autopilot on: memvm-ctl autopilot shows it on, with its step" "^autopilot: on \(floor 48 MiB, step 64 MiB, reserve 16 MiB, every 1000 ms\)" "$T/onC.status"
		expect_match "autopilot on: ... and the inflations it made" "^moves: [1-9][0-9]* inflations" "$T/onC.status"
		local tgt
		tgt=$(ctl onC info balloon | sed -nE 's/^balloon: actual=([0-9]+)$/\1/p')
		check "autopilot on: C is ballooned, never below its 48 MiB floor (${tgt:-?} MiB)" [ -n "$tgt" ] && [ "$tgt" -ge 48 ] && [ "$tgt" -lt 256 ]
		# The operator's word wins: a target turns the autopilot off.
		ctl onA balloon 200M >/dev/null
		ctl onA autopilot >"$T/onA.status" 2>&1
		expect_match "autopilot on: an operator's balloon command turns it off" "^autopilot: off" "$T/onA.status"
		ctl onA autopilot on floor=100M >"$T/onA.status2" 2>&1
		expect_match "autopilot on: memvm-ctl autopilot on floor=100M turns it back on" "^autopilot: on \(floor 100 MiB," "$T/onA.status2"
		ctl onA autopilot floor=1G >"$T/onA.bad" 2>&1
		expect_eq "autopilot on: a floor above the RAM is refused" 1 "$?"
		expect_match "autopilot on: ... saying why" "floor: at most the guest's RAM \(256 MiB\)" "$T/onA.bad"
		for g in A B C; do
			expect_no_match "autopilot on: no OOM kill in guest $g" "Out of memory|oom-kill|Killed process" "$T/on$g.log"
		done
	elif [ "$mode" = off ]; then
		check "autopilot off: the same guests take the cgroup over memory.high (peak $((peak / MiB)) of $((high / MiB)) MiB)" [ "$peak" -gt "$high" ]
	fi
	for g in A B C; do ctl "$mode$g" quit >/dev/null 2>&1; done
	exec 7>&- 8>&- 9>&-
	for g in A B C; do
		local pid
		eval "pid=\$PID_$mode$g"
		wait "$pid"
	done
	rmdir "$cg" 2>/dev/null
}

for m in ${AUTOPILOT_MODES:-off on}; do run_mode "$m"; done
