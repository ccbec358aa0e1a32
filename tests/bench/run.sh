#!/bin/bash
# `make bench`: memvm against QEMU and against the limit, measured in the
# same run, written up as $BUILD/bench/report.md (+ report.json, PNG plots).
# Where this machine has hardware KVM (vmx/svm and /dev/kvm), VMs run here;
# otherwise (no /dev/kvm, or a PVM /dev/kvm, where QEMU cannot boot Linux)
# they run inside the nested KVM host (guests/nested/), one boot per part,
# and every row says so. Benchmarks never fail the test suite: a part that
# cannot run says why, and the report is written from what did run.
#   run.sh            all of it (BENCH_PARTS="start balloon ksm prealloc
#                     autopilot" chooses parts, BENCH_RUNS=3 the runs each)
#   run.sh inner P    part P (start, balloon, ksm, prealloc or autopilot)
#                     where the VMs run
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export BENCH_OUT=$BUILD/bench
mkdir -p "$BENCH_OUT"
. tests/bench/lib.sh

part() {
	case $1 in
	start | balloon | ksm) bash tests/bench/bench_vmm.sh "$1" ;;
	prealloc)
		# A 6 GiB nested host holds 1 GiB of guest RAM plus huge pages for it.
		BENCH_PREALLOC_MIB=${BENCH_PREALLOC_MIB:-$([ "$BENCH_WHERE" = native ] && echo 2048 || echo 1024)} \
			bash tests/bench/bench_prealloc.sh ;;
	autopilot) bash tests/bench/bench_autopilot.sh ;;
	esac
}

# Each part writes its rows to its own file and marks its end, so a part
# cut short by a crash of the nested host is run again from scratch.
if [ "${1:-}" = inner ]; then
	export BENCH_ROWS=$BENCH_OUT/rows-$2.jsonl
	part "$2"
	touch "$BENCH_OUT/done-$2"
	exit 0
fi

if ! command -v qemu-system-x86_64 >/dev/null && [ "$(id -u)" = 0 ]; then
	progress "installing qemu-system-x86 (the peer we compare with)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
t0=$SECONDS
rm -f "$BENCH_OUT"/rows*.jsonl "$BENCH_OUT"/done-* "$BENCH_OUT/notes.txt"
if [ -c /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	export BENCH_WHERE=native
else
	export BENCH_WHERE="nested KVM host (TCG, AMD-V)"
	echo "VMs ran inside the nested KVM host (QEMU TCG emulating AMD-V): absolute times are TCG's; the ratios compare memvm and its peer in the same run." >>"$BENCH_OUT/notes.txt"
fi
progress "VMs run: $BENCH_WHERE"

BENCH_ROWS=$BENCH_OUT/rows-host.jsonl BENCH_WHERE="this machine (no KVM needed)" bash tests/bench/bench_balloon.sh ||
	echo "balloon host-side benchmark could not run (status $?)" >>"$BENCH_OUT/notes.txt"

read -ra parts <<<"${BENCH_PARTS:-start balloon ksm prealloc autopilot}"
for p in "${parts[@]}"; do
	progress "== $p"
	if [ "$BENCH_WHERE" = native ]; then
		bash tests/bench/run.sh inner "$p"
		continue
	fi
	# The nested host (TCG) locks up or panics now and then: a part that
	# did not finish runs again in a fresh boot, three tries at most.
	for try in 1 2 3; do
		rm -f "$BENCH_OUT/rows-$p.jsonl" "$BENCH_OUT/done-$p"
		bash guests/nested/host.sh run -- env BUILD="$BUILD" BENCH_OUT="$BENCH_OUT" BENCH_WHERE="$BENCH_WHERE" \
			BENCH_RUNS="${BENCH_RUNS:-3}" bash tests/bench/run.sh inner "$p"
		[ -e "$BENCH_OUT/done-$p" ] && break
		progress "$p: did not finish in nested boot $try"
		[ "$try" = 3 ] && echo "$p: did not finish in three boots of the nested KVM host; its rows are from the last try (see the lines above)" >>"$BENCH_OUT/notes.txt"
	done
done
for p in host "${parts[@]}"; do cat "$BENCH_OUT/rows-$p.jsonl" 2>/dev/null; done >"$BENCH_OUT/rows.jsonl"
progress "report ($((SECONDS - t0)) s in all)"
if [ ! -s "$BENCH_OUT/rows.jsonl" ]; then
	echo "bench: error: no benchmark could run (the reasons are above); nothing to report" >&2
	exit 1
fi
python3 tests/bench/report.py "$BENCH_OUT" || exit 1
echo "bench: report in $BENCH_OUT/report.md, data in $BENCH_OUT/report.json"
