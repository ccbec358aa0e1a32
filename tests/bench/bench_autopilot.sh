#!/bin/bash
# The memory autopilot's scenario in its long form (tests/e2e/autopilot.sh
# with AUTOPILOT_LONG=1): three busybox guests of 256 MiB in one cgroup,
# with the autopilot off, then on. Prints the cgroup's peak usage as a
# ratio of its memory.high, both measured in the same run, and plots each
# guest's target, actual size, available memory and host RSS, the cgroup's
# usage against its limit, and its memory pressure (PSI some avg10) over
# time: $BUILD/bench/autopilot/autopilot.svg (data: timeline.txt). Without
# /dev/kvm it runs in the nested KVM host, as make check does.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench/autopilot
mkdir -p "$out"
case $out in /*) ;; *) out=$PWD/$out ;; esac
rm -f "$out/timeline.txt"
cmd=(env AUTOPILOT_LONG=1 "AUTOPILOT_TIMELINE=$out/timeline.txt" bash tests/e2e/autopilot.sh)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	"${cmd[@]}" >"$out/run.log" 2>&1
else
	bash guests/nested/host.sh run -- "${cmd[@]}" >"$out/run.log" 2>&1
fi
grep -E '^autopilot (on|off): (peak|the three)' "$out/run.log" | sed 's/^/bench: /'
for m in off on; do
	awk -v m="$m" '$1 == m { if ($3 > peak) peak = $3; high = $4 }
		END { if (high) printf "bench: autopilot %s: peak usage / memory.high = %.2f (%d / %d MiB)\n", m, peak / high, peak, high }' \
		"$out/timeline.txt" 2>/dev/null
done
grep -c '^FAIL' "$out/run.log" >/dev/null && grep '^FAIL' "$out/run.log" | sed 's/^/bench: (scenario) /'
if ! command -v gnuplot >/dev/null; then
	echo "bench: no gnuplot (make deps-bench installs it): no plot"
	exit 0
fi
[ -s "$out/timeline.txt" ] || { echo "bench: no timeline recorded (see $out/run.log)"; exit 0; }
for m in off on; do awk -v m="$m" '$1 == m' "$out/timeline.txt" >"$out/$m.dat"; done
gnuplot <<GP
set terminal svg size 1200,900 dynamic
set output "$out/autopilot.svg"
set multiplot layout 2,1 title "memvm autopilot: three 256 MiB guests in one cgroup (A idle, B grows, C bursts)"
set datafile missing "-"
set xlabel "seconds"
set ylabel "MiB"
set y2label "PSI some avg10 (%)"
set y2tics
set key outside right
do for [m in "off on"] {
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
echo "bench: plot: $out/autopilot.svg"
