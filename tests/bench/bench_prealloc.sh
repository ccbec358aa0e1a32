#!/bin/bash
# Preallocation throughput (issue 4): memvm -mem-prealloc, measured from
# launch to exit at the first guest instruction, against (a) the limit: one
# process doing only MADV_POPULATE_WRITE with the same threads, plus the
# munmap a VMM also pays at exit, and (b) qemu-system-x86_64 -enable-kvm
# -mem-prealloc over the same span. Rows: anonymous 4 KiB pages (THP off
# system-wide for the row, so QEMU gets 4 KiB pages too), anonymous with
# THP (both VMMs' defaults), hugetlbfs 2 MiB.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
B=$BUILD/bench
SIZE_MIB=${BENCH_PREALLOC_MIB:-2048}
THREADS=$(nproc)
REPS=${BENCH_RUNS:-3}
mkdir -p "$B"
make -s BUILD="$BUILD" payloads >/dev/null
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o "$B/populate_limit" tests/bench/populate_limit.c || exit 1
# QEMU's first instruction is the BIOS reset vector: a 64 KiB BIOS whose
# reset vector writes isa-debug-exit at once.
{ head -c 65520 /dev/zero; printf '\xb0\x00\xe6\xf4\xf4'; head -c 11 /dev/zero; } >"$B/exit-bios.bin"
PAYLOAD=$BUILD/payloads/exit16.elf

. tests/bench/lib.sh
OUT=${BENCH_OUT:-$B}

now() { date +%s.%N; }
# times CMD...: wall seconds of REPS runs.
times() {
	for _ in $(seq "$REPS"); do
		local t0 t1
		t0=$(now); "$@" >/dev/null 2>&1 </dev/null; t1=$(now)
		echo "$t1 - $t0" | bc -l
	done
}
gbps() { printf "%.2f" "$(echo "$SIZE_MIB * 1048576 / $1 / 1000000000" | bc -l)"; }
to_gbps() { local t; for t in "$@"; do printf '%s ' "$(gbps "$t")"; done; }
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
have_qemu() { command -v qemu-system-x86_64 >/dev/null; }

# bench LABEL THREADS MEMVM_ARGS -- LIMIT_ARGS -- QEMU_ARGS: rows for one
# backing and thread count, plus a line of the plot's data.
bench() {
	local label=$1 n=$2; shift 2
	local margs=() largs=() qargs=()
	while [ "$1" != -- ]; do margs+=("$1"); shift; done; shift
	while [ "$1" != -- ]; do largs+=("$1"); shift; done; shift
	qargs=("$@")
	local m l q=""
	m=$(to_gbps $(times "$BUILD/memvm" -m "$SIZE_MIB" -mem-prealloc -machine prealloc-threads="$n" "${margs[@]}" \
		-kernel "$PAYLOAD" -device isa-debug-exit -serial none))
	l=$(for _ in $(seq "$REPS"); do "$B/populate_limit" "$SIZE_MIB" "$n" "${largs[@]}" | cut -d' ' -f1; done | tr '\n' ' ')
	have_qemu && q=$(to_gbps $(times qemu-system-x86_64 -enable-kvm -m "$SIZE_MIB" -mem-prealloc -bios "$B/exit-bios.bin" \
		-device isa-debug-exit,iobase=0xf4 -display none -nodefaults -no-user-config -smp "$n" "${qargs[@]}"))
	row prealloc "$label, ${SIZE_MIB} MiB, $n thread(s)" GB/s higher "$m" limit "$l"
	row prealloc "$label, ${SIZE_MIB} MiB, $n thread(s)" GB/s higher "$m" qemu "$q"
	echo "$n $(med $m) $(med $l) ${q:+$(med $q)}" >>"$OUT/prealloc-threads.dat"
	[ -n "$q" ] || sed -i '$ s/$/ -/' "$OUT/prealloc-threads.dat"
	progress "prealloc $label, $n thread(s): memvm $(med $m) GB/s, limit $(med $l), qemu ${q:+$(med $q)}"
}
block() { [ -s "$OUT/prealloc-threads.dat" ] && printf '\n\n' >>"$OUT/prealloc-threads.dat"; echo "$1 memvm limit qemu" >>"$OUT/prealloc-threads.dat"; }
: >"$OUT/prealloc-threads.dat"

THP=/sys/kernel/mm/transparent_hugepage/enabled
old_thp=$(sed -nE 's/.*\[([a-z]+)\].*/\1/p' "$THP" 2>/dev/null)
restore() {
	[ -n "$old_thp" ] && [ -w "$THP" ] && echo "$old_thp" >"$THP"
	[ -n "${old_nr:-}" ] && echo "$old_nr" >/proc/sys/vm/nr_hugepages
	[ -n "${HP:-}" ] && mountpoint -q "$HP" && umount "$HP"
}
trap restore EXIT

progress "prealloc: ${SIZE_MIB} MiB by thread count (1 to $THREADS), launch to exit at the first guest instruction, $REPS runs each"
# 4 KiB anonymous pages for everyone.
if [ -w "$THP" ]; then
	echo never >"$THP"
	block anon-4K
	for n in $(seq "$THREADS"); do bench "anonymous 4K" "$n" -machine thp=off -- --; done
	echo "$old_thp" >"$THP"
else
	echo "anonymous 4K: cannot switch THP off system-wide (needs root); not run" >>"$OUT/notes.txt"
fi
# Anonymous with transparent huge pages: both VMMs' defaults.
block anon-THP
for n in $(seq "$THREADS"); do bench "anonymous THP ($old_thp)" "$n" -- thp --; done

# 2 MiB hugetlbfs.
if [ "$(id -u)" = 0 ]; then
	HP=$B/hugepages
	mkdir -p "$HP"
	mountpoint -q "$HP" || mount -t hugetlbfs -o pagesize=2M none "$HP"
	old_nr=$(cat /proc/sys/vm/nr_hugepages)
	need=$((SIZE_MIB / 2))
	echo $((old_nr + need)) >/proc/sys/vm/nr_hugepages
	if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$need" ]; then
		block hugetlbfs-2M
		for n in $(seq "$THREADS"); do bench "hugetlbfs 2M" "$n" -mem-path "$HP" -- "$HP" -- -mem-path "$HP"; done
	else
		echo "hugetlbfs 2M: could not reserve $need huge pages; not run" >>"$OUT/notes.txt"
	fi
else
	echo "hugetlbfs 2M: needs root to reserve huge pages; not run" >>"$OUT/notes.txt"
fi
