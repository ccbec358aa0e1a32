#!/bin/bash
# memvm against QEMU side by side, in the same KVM (native, or the nested
# KVM host that tests/bench/run.sh booted): start-up to the first guest
# output (a bare-metal payload, which QEMU boots through its PVH note, and
# the tiny Linux guest to its busybox banner, QEMU with -M microvm), the
# VMM's own RSS (not counting guest RAM) idle and after balloon traffic,
# port-I/O exit round trips against a bare KVM_RUN loop (the limit), and a
# 64 MiB balloon inflate and deflate on the tiny guest, sampled for a plot,
# and the memory KSM saves with 2 and 4 identical guests.
# Each measurement runs BENCH_RUNS times (default 3); rows go to
# $BENCH_OUT/rows.jsonl for tests/bench/report.py. Never pass/fail: a part
# that cannot run says why.
#   bench_vmm.sh [start] [balloon] [ksm]   those parts only (default: all)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-$BUILD/bench}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$OUT"
. tests/bench/lib.sh

FO=$OUT/first_output
cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$FO" tests/bench/first_output.c || exit 1
cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$OUT/exit_limit" tests/bench/exit_limit.c || exit 1
P=$BUILD/payloads
G=$BUILD/guest
MEMVM=$BUILD/memvm
CTL=$BUILD/memvm-ctl
have_qemu=1
command -v qemu-system-x86_64 >/dev/null || { have_qemu=0; echo "bench: no qemu-system-x86_64: memvm rows only"; }
QEMU=(qemu-system-x86_64 -enable-kvm -cpu host -nodefaults -no-user-config -display none -serial stdio)
QEMU_PAYLOAD=(-M microvm,x-option-roms=off,rtc=off -device isa-debug-exit)
QEMU_LINUX=(-M microvm,acpi=off,rtc=off)
LINUX_APPEND="console=ttyS0 panic=-1"
# A tiny guest boots in seconds, even under TCG; one that has not within
# BOOT_S has hung (the nested host does that now and then) and is left out.
BOOT_S=${BENCH_BOOT_S:-60}

# runs N CMD...: CMD's output N times, one line each; stops at a failure.
runs() {
	local n=$1; shift
	for _ in $(seq "$n"); do "$@" || return 1; done
}
field() { awk -v f="$1" '{ printf "%s ", $f }'; }
want() { [ -z "$PARTS" ] || [[ " $PARTS " == *" $1 "* ]]; }
PARTS="$*"
SOCKS=$(mktemp -d)
trap 'rm -rf "$SOCKS"' EXIT

if want start; then

progress "start-up: bare-metal payload to its first output (memvm 64-bit entry, QEMU PVH)"
for m in 128 2048; do
	mv=$(runs "$RUNS" "$FO" -p "returning 42" -m $m -- "$MEMVM" -m ${m}M -kernel "$P/retval64.elf" -device isa-debug-exit | field 1)
	qv=""
	[ $have_qemu = 1 ] && qv=$(runs "$RUNS" "$FO" -p "returning 42" -m $m -- "${QEMU[@]}" "${QEMU_PAYLOAD[@]}" -m ${m}M -kernel "$P/retval64.elf" | field 1)
	row start-up "payload, exec to first output, -m ${m}M" s lower "$mv" qemu "$qv"
done

progress "start-up: tiny Linux guest to the busybox banner; VMM RSS there"
for m in 128 2048; do
	: >"$OUT/linux-$m.memvm" >"$OUT/linux-$m.qemu"
	runs "$RUNS" "$FO" -t "$BOOT_S" -p "BusyBox v" -m $m -- "$MEMVM" -m ${m}M -kernel "$G/vmlinux" \
		-initrd "$G/init-busybox.cpio" -append "$LINUX_APPEND" -device virtio-balloon >>"$OUT/linux-$m.memvm"
	[ $have_qemu = 1 ] && runs "$RUNS" "$FO" -t "$BOOT_S" -p "BusyBox v" -m $m -- "${QEMU[@]}" "${QEMU_LINUX[@]}" -m ${m}M \
		-kernel "$G/vmlinux" -initrd "$G/init-busybox.cpio" -append "$LINUX_APPEND" \
		-device virtio-balloon-device >>"$OUT/linux-$m.qemu"
	row start-up "tiny Linux, exec to busybox banner, -m ${m}M" s lower \
		"$(field 1 <"$OUT/linux-$m.memvm")" qemu "$(field 1 <"$OUT/linux-$m.qemu")"
	row footprint "VMM RSS without guest RAM, idle at the banner, -m ${m}M" MiB lower \
		"$(awk '{ printf "%.1f ", $2 / 1024 }' "$OUT/linux-$m.memvm")" qemu \
		"$(awk '{ printf "%.1f ", $2 / 1024 }' "$OUT/linux-$m.qemu")"
done

# Where memvm's boot time goes: vCPU 0's wall time inside KVM_RUN (from
# x-query-memvm-vcpus, asked right at the banner) against the wall time
# since exec; the rest is memvm's (set-up before the vCPU starts, and
# exits handled in user space).
boot_share() {
	local sock=$SOCKS/share.qmp line pid t0 tq run
	rm -f "$sock"
	t0=$(date +%s.%N)
	line=$("$FO" -q -t "$BOOT_S" -p "BusyBox v" -m 128 -- "$MEMVM" -m 128M -kernel "$G/vmlinux" \
		-initrd "$G/init-busybox.cpio" -append "$LINUX_APPEND" -device virtio-balloon \
		-qmp "unix:$sock,server=on,wait=off") || return 1
	pid=${line##* }
	run=$(printf '{"execute": "qmp_capabilities"}\n{"execute": "x-query-memvm-vcpus", "id": 1}\n' |
		socat -t 2 - "UNIX-CONNECT:$sock" | jq -r 'select(.id == 1) | .return[0]["run-ns"]')
	tq=$(date +%s.%N)
	kill -9 "$pid"
	awk -v r="$run" -v w="$(echo "$tq - $t0" | bc -l)" 'BEGIN { if (r > 0 && w > 0) printf "%.1f %.3f\n", 100 * (1 - r / 1e9 / w), w }'
}
progress "boot: the share of wall time memvm spends outside KVM_RUN, exec to the busybox banner"
: >"$OUT/boot-share.memvm"
for _ in $(seq "$RUNS"); do boot_share >>"$OUT/boot-share.memvm"; done
row boot "share of wall time outside KVM_RUN, exec to busybox banner (vCPU 0, -m 128M)" % lower \
	"$(field 1 <"$OUT/boot-share.memvm")" "" ""

progress "exit cost: 20000 port writes handled in user space"
mv=$(runs "$RUNS" "$FO" -s "exits: go" -p "exits: done" -- "$MEMVM" -m 128M -kernel "$P/exits64.elf" -device isa-debug-exit |
	awk '{ printf "%.0f ", 20000 / $1 }')
lv=$(runs "$RUNS" "$OUT/exit_limit" 20000 | field 1)
qv=""
[ $have_qemu = 1 ] && qv=$(runs "$RUNS" "$FO" -s "exits: go" -p "exits: done" -- "${QEMU[@]}" "${QEMU_PAYLOAD[@]}" -m 128M \
	-kernel "$P/exits64.elf" | awk '{ printf "%.0f ", 20000 / $1 }')
row exits "port-I/O exits per second" "exits/s" higher "$mv" limit "$lv"
row exits "port-I/O exits per second" "exits/s" higher "$mv" qemu "$qv"
fi

# One VMM with a preallocated 256 MiB tiny guest: inflate 64 MiB, deflate,
# sampling target, actual and RSS every 0.2 s.
balloon_run() { # NAME CMD...
	local name=$1; shift
	# UNIX sockets cannot live on the nested host's 9p view of this tree
	local sock=$SOCKS/$name.qmp line pid t0 t1 t2
	rm -f "$sock"
	line=$("$FO" -q -t "$BOOT_S" -p "BusyBox v" -m 256 -- "$@" -qmp "unix:$sock,server=on,wait=off") || return 1
	pid=${line##* }
	sleep 2
	sample() { # phase target
		local a rss
		a=$("$CTL" -s "$sock" info balloon 2>/dev/null | sed -nE 's/^balloon: actual=([0-9]+).*/\1/p')
		rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null)
		echo "$name $(awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { printf "%.2f", t - t0 }') $2 ${a:--} ${rss:--}" >>"$OUT/balloon-timeline.txt"
		[ "$a" = "$2" ]
	}
	t0=$(date +%s.%N)
	sample idle 256 || true
	"$CTL" -s "$sock" balloon 192 >/dev/null
	for _ in $(seq 600); do sample inflate 192 && break; sleep 0.2; done
	t1=$(date +%s.%N)
	"$CTL" -s "$sock" balloon 256 >/dev/null
	for _ in $(seq 600); do sample deflate 256 && break; sleep 0.2; done
	t2=$(date +%s.%N)
	for _ in 1 2 3 4 5; do sample after 256 || true; sleep 0.2; done
	local own
	own=$("$FO" -r "$pid" -m 256 | awk '{ printf "%.1f", $1 / 1024 }')
	"$CTL" -s "$sock" quit >/dev/null 2>&1 || kill "$pid"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	echo "$(echo "$t1 - $t0" | bc -l) $(echo "$t2 - $t1" | bc -l) $own"
}
if want balloon; then
progress "balloon: inflate and deflate 64 MiB of a preallocated 256 MiB tiny guest"
: >"$OUT/balloon-timeline.txt" >"$OUT/balloon.memvm" >"$OUT/balloon.qemu"
rm -f "$OUT/balloon-timeline.first"
for _ in $(seq "$RUNS"); do
	balloon_run memvm "$MEMVM" -m 256M -mem-prealloc -kernel "$G/vmlinux" -initrd "$G/init-busybox.cpio" \
		-append "$LINUX_APPEND" -device virtio-balloon >>"$OUT/balloon.memvm"
	[ $have_qemu = 1 ] && balloon_run qemu "${QEMU[@]}" "${QEMU_LINUX[@]}" -m 256M -mem-prealloc -kernel "$G/vmlinux" \
		-initrd "$G/init-busybox.cpio" -append "$LINUX_APPEND" -device virtio-balloon-device >>"$OUT/balloon.qemu"
	# the plot shows the first run of each
	[ -f "$OUT/balloon-timeline.first" ] || cp "$OUT/balloon-timeline.txt" "$OUT/balloon-timeline.first"
done
row balloon "inflate 64 MiB, end to end" s lower "$(field 1 <"$OUT/balloon.memvm")" qemu "$(field 1 <"$OUT/balloon.qemu")"
row balloon "deflate 64 MiB, end to end" s lower "$(field 2 <"$OUT/balloon.memvm")" qemu "$(field 2 <"$OUT/balloon.qemu")"
row footprint "VMM RSS without guest RAM, after balloon traffic, -m 256M" MiB lower \
	"$(field 3 <"$OUT/balloon.memvm")" qemu "$(field 3 <"$OUT/balloon.qemu")"
fi
# KSM: N identical guests (the same kernel, initramfs and busybox shell)
# started one after another (the nested host crashes guests booted at the
# same moment); once ksmd settles (pages_sharing up < 1% for 3 s), the
# memory it saves (pages_sharing) as a share of the guests' resident RAM.
ksm_run() { # N CMD...
	local n=$1 i line pids=() ksm=/sys/kernel/mm/ksm prev=-1 same=0 s rss=0 p
	shift
	echo 2 >$ksm/run # unmerge what an earlier run left
	echo 1 >$ksm/run
	for i in $(seq "$n"); do
		line=$("$FO" -q -t "$BOOT_S" -p "BusyBox v" -m 128 -- "$@") || break
		pids+=("${line##* }")
	done
	if [ "${#pids[@]}" = "$n" ]; then
		for _ in $(seq 90); do
			sleep 1
			s=$(cat $ksm/pages_sharing)
			# settled: grew by less than 1% for 3 s in a row
			if [ "$s" -gt 0 ] && [ $((s - prev)) -le $((prev / 100)) ]; then same=$((same + 1)); else same=0; fi
			prev=$s
			[ "$same" -ge 3 ] && break
		done
		for p in "${pids[@]}"; do rss=$((rss + $("$FO" -r "$p" -m 128 | cut -d' ' -f2))); done
		awk -v s="$prev" -v r="$rss" 'BEGIN { if (r > 0) printf "%.1f\n", 100 * s * 4 / r }'
	fi
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	sleep 1
}
if ! want ksm; then
	:
elif [ -w /sys/kernel/mm/ksm/run ]; then
	progress "KSM: 2 and 4 identical busybox guests of 128 MiB"
	ksm_old=$(cat /sys/kernel/mm/ksm/run)
	echo 1000 >/sys/kernel/mm/ksm/pages_to_scan
	echo 20 >/sys/kernel/mm/ksm/sleep_millisecs
	for n in 2 4; do
		mv=$(ksm_run "$n" "$MEMVM" -m 128M -machine mem-merge=on -kernel "$G/vmlinux" -initrd "$G/init-busybox.cpio" \
			-append "$LINUX_APPEND")
		qv=""
		[ $have_qemu = 1 ] && qv=$(ksm_run "$n" "${QEMU[@]}" "${QEMU_LINUX[@]}" -m 128M -machine mem-merge=on \
			-kernel "$G/vmlinux" -initrd "$G/init-busybox.cpio" -append "$LINUX_APPEND")
		row ksm "memory KSM saves with $n identical guests, share of their guest RSS" % higher "$mv" qemu "$qv"
	done
	echo 2 >/sys/kernel/mm/ksm/run
	echo "$ksm_old" >/sys/kernel/mm/ksm/run
else
	echo "KSM: /sys/kernel/mm/ksm/run is not writable (needs root): not run" >>"$OUT/notes.txt"
fi
exit 0
