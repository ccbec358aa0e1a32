#!/bin/bash
# Balloon benchmarks (issue 6):
#  1. host-side inflate processing rate (PFNs/s from full queues of 256-PFN
#     buffers to discard) against per-page madvise as the baseline;
#  2. end-to-end inflate of 64 MiB in the tiny Linux guest, against the
#     host-side limit measured in (1): how much of the time is the guest's.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
B=$BUILD/bench
mkdir -p "$B"
make -s "$BUILD/libmemvm.a" >/dev/null || exit 1
cc -std=gnu11 -O2 -D_GNU_SOURCE -I. tests/bench/bench_balloon.c "$BUILD/libmemvm.a" \
	$(pkg-config --libs jansson) -lfdt -lpthread -o "$B/bench_balloon" || exit 1
"$B/bench_balloon" 1024 | tee "$B/balloon-host.txt"

G=$BUILD/guest
if [ ! -f "$G/vmlinux" ]; then
	echo "balloon e2e: no guest (make guest); skipped"
	exit 0
fi
T=$(mktemp -d)
"$BUILD/memvm" -m 256M -mem-prealloc -kernel "$G/vmlinux" -initrd "$G/init-nosys.cpio" -append console=ttyS0 \
	-device virtio-balloon -qmp "unix:$T/q.sock,server=on,wait=off" -serial "file:$T/log" </dev/null >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "Run /init" "$T/log" 2>/dev/null && break; sleep 0.2; done
sleep 1
t0=$(date +%s.%N)
"$BUILD/memvm-ctl" -s "$T/q.sock" balloon 192M
for _ in $(seq 3000); do
	[ "$("$BUILD/memvm-ctl" -s "$T/q.sock" info balloon)" = "balloon: actual=192" ] && break
	sleep 0.02
done
t1=$(date +%s.%N)
"$BUILD/memvm-ctl" -s "$T/q.sock" quit >/dev/null
wait $pid
rm -rf "$T"
e2e=$(echo "$t1 - $t0" | bc -l)
# Host-side limit for 16384 PFNs at the merged-runs rate measured above.
rate=$(sed -nE 's/^balloon inflate.*: ([0-9.]+) M PFN\/s \(merged.*/\1/p' "$B/balloon-host.txt" | head -1)
if [ -n "$rate" ]; then
	host=$(echo "16384 / ($rate * 1000000)" | bc -l)
	printf 'balloon e2e: inflate 64 MiB in the guest in %.3f s; host-side processing alone %.4f s: the guest side takes %.0fx the host side\n' \
		"$e2e" "$host" "$(echo "$e2e / $host" | bc -l)"
else
	printf 'balloon e2e: inflate 64 MiB in the guest in %.3f s\n' "$e2e"
fi
