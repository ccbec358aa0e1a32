#!/bin/bash
# The memory autopilot's scenario in its long form (tests/e2e/autopilot.sh
# with AUTOPILOT_LONG=1): three busybox guests of 256 MiB in one cgroup,
# with the autopilot off, with a fixed balloon of 128 MiB each, then on.
# Rows: the cgroup's peak usage as a ratio of its memory.high, OOM kills
# and the idle guest's worst console answer, each mode measured in the
# same run. It plots each guest's target, actual size, available memory
# and host RSS, the cgroup's usage against its limit, and its memory
# pressure (PSI some avg10) over time: $BUILD/bench/autopilot/autopilot.png (data: timeline.txt). Without
# /dev/kvm it runs in the nested KVM host, as make check does.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/bench/lib.sh
out=${BENCH_OUT:-$BUILD/bench}/autopilot
mkdir -p "$out"
case $out in /*) ;; *) out=$PWD/$out ;; esac
rm -f "$out/timeline.txt"
cmd=(env AUTOPILOT_LONG=1 "AUTOPILOT_MODES=off fixed on" "AUTOPILOT_TIMELINE=$out/timeline.txt" bash tests/e2e/autopilot.sh)
# Busybox guests need guest system calls: hardware KVM or the nested host.
if [ "${MEMVM_NESTED:-}" = inside ] || { [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; }; then
	"${cmd[@]}" >"$out/run.log" 2>&1
else
	bash guests/nested/host.sh run -- "${cmd[@]}" >"$out/run.log" 2>&1
fi
grep -E '^autopilot (off|fixed|on): (peak|the three|OOM)' "$out/run.log" | sed 's/^/bench: /'
ratio_of() { sed -nE "s/^autopilot $1: peak usage ([0-9]+) MiB against memory.high ([0-9]+) MiB.*/\1 \2/p" "$out/run.log" | awk '{ printf "%.3f", $1 / $2 }'; }
worst_of() { sed -nE "s/^autopilot $1: .* within ([0-9]+) ms at worst/\1/p" "$out/run.log"; }
ooms_of() { sed -nE "s/^autopilot $1: OOM kills in the guests: ([0-9]+)/\1/p" "$out/run.log"; }
for peer in off fixed; do
	label="autopilot off"
	[ "$peer" = fixed ] && label="fixed balloon (128 MiB each)"
	row autopilot "autopilot on, 3 guests: cgroup peak usage / memory.high" ratio lower "$(ratio_of on)" "$label" "$(ratio_of $peer)"
	row autopilot "autopilot on, 3 guests: OOM kills in the guests" kills lower "$(ooms_of on)" "$label" "$(ooms_of $peer)"
	row autopilot "autopilot on, 3 guests: idle guest's worst console answer" ms lower "$(worst_of on)" "$label" "$(worst_of $peer)"
done
grep '^FAIL' "$out/run.log" | sed 's/^/bench: (scenario) /'
if ! command -v gnuplot >/dev/null; then
	echo "bench: no gnuplot (make deps-bench installs it): no plot"
	exit 0
fi
[ -s "$out/timeline.txt" ] || { echo "bench: no timeline recorded (see $out/run.log)"; exit 0; }
for m in off fixed on; do awk -v m="$m" '$1 == m' "$out/timeline.txt" >"$out/$m.dat"; done
gnuplot <<GP
set terminal pngcairo size 1200,1300
set output "$out/autopilot.png"
set multiplot layout 3,1 title "memvm autopilot: three 256 MiB guests in one cgroup (A idle, B grows, C bursts)"
set datafile missing "-"
set xlabel "seconds"
set ylabel "MiB"
set y2label "PSI some avg10 (%)"
set y2tics
set key outside right
do for [m in "off fixed on"] {
	set title "autopilot ".m
	f = "$out/".m.".dat"
	plot f using 2:3 with lines lw 3 title "cgroup usage", \
	     f using 2:4 with lines dt 2 lw 2 title "memory.high", \
	     f using 2:5 axes x1y2 with lines title "PSI some", \
	     f using 2:7 with lines title "A actual", f using 2:9 with lines title "A rss", \
	     f using 2:11 with lines title "B actual", f using 2:13 with lines title "B rss", \
	     f using 2:15 with lines title "C actual", f using 2:17 with lines title "C rss", \
	     f using 2:14 with lines dt 3 title "C target", f using 2:16 with points pt 1 title "C available"
}
unset multiplot
GP
echo "bench: plot: $out/autopilot.png"
