#!/bin/bash
# Balloon host-side processing (needs no KVM, so it always runs on this
# machine): PFNs per second from full queues of 256-PFN inflate buffers to
# discard, against per-page madvise of the same pages as the baseline, for
# pages that merge into runs and for every other page. The end-to-end
# inflate and deflate on the tiny guest, against QEMU, is in bench_vmm.sh.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
B=$BUILD/bench
mkdir -p "$B"
. tests/bench/lib.sh
make -s BUILD="$BUILD" "$BUILD/libmemvm.a" >/dev/null || exit 1
cc -std=gnu11 -O2 -D_GNU_SOURCE -I. tests/bench/bench_balloon.c "$BUILD/libmemvm.a" \
	$(pkg-config --libs jansson) -lfdt -lpthread -o "$B/bench_balloon" || exit 1
: >"$B/balloon-host.txt"
for _ in $(seq "${BENCH_RUNS:-3}"); do "$B/bench_balloon" 1024 >>"$B/balloon-host.txt" || exit 1; done
for kind in "merged runs" "no runs to merge"; do
	m=$(grep -F "($kind)" "$B/balloon-host.txt" | sed -nE 's/.*: ([0-9.]+) M PFN\/s \(.*/\1/p' | tr '\n' ' ')
	p=$(grep -F "($kind)" "$B/balloon-host.txt" | sed -nE 's/.* vs ([0-9.]+) M PFN\/s per-page.*/\1/p' | tr '\n' ' ')
	row balloon "host-side inflate processing, $kind" "M PFN/s" higher "$m" "per-page madvise" "$p"
	progress "balloon host-side, $kind: memvm $m M PFN/s; per-page madvise $p"
done
