#!/bin/bash
# `make bench`: every benchmark prints its result as a ratio against a peer
# (QEMU) or a limit measured in the same run. Never pass/fail.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
mkdir -p "$BUILD/bench"
if ! command -v qemu-system-x86_64 >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		echo "bench: installing qemu-system-x86 (the peer we compare with)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
	fi
fi
for b in tests/bench/bench_*.sh; do
	echo "== $(basename "$b" .sh)"
	bash "$b" || echo "bench: $b failed (status $?)"
done
