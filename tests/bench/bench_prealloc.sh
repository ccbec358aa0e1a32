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
REPS=${BENCH_REPS:-3}
mkdir -p "$B"
make -s payloads >/dev/null
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o "$B/populate_limit" tests/bench/populate_limit.c || exit 1
# QEMU's first instruction is the BIOS reset vector: a 64 KiB BIOS whose
# reset vector writes isa-debug-exit at once.
{ head -c 65520 /dev/zero; printf '\xb0\x00\xe6\xf4\xf4'; head -c 11 /dev/zero; } >"$B/exit-bios.bin"
PAYLOAD=$BUILD/payloads/exit16.elf

now() { date +%s.%N; }
# best_time CMD...: wall seconds, best of REPS runs.
best_time() {
	for _ in $(seq "$REPS"); do
		local t0 t1
		t0=$(now); "$@" >/dev/null 2>&1 </dev/null; t1=$(now)
		echo "$t1 - $t0" | bc -l
	done | sort -g | head -1
}
best_limit() { for _ in $(seq "$REPS"); do "$B/populate_limit" "$SIZE_MIB" "$THREADS" "$@" | cut -d' ' -f1; done | sort -gr | head -1; }
gbps() { printf "%.2f" "$(echo "$SIZE_MIB * 1048576 / $1 / 1000000000" | bc -l)"; }
ratio() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }
have_qemu() { command -v qemu-system-x86_64 >/dev/null; }
qemu_time() {
	have_qemu || return 0
	best_time qemu-system-x86_64 -enable-kvm -m "$SIZE_MIB" -mem-prealloc -bios "$B/exit-bios.bin" \
		-device isa-debug-exit,iobase=0xf4 -display none -nodefaults -no-user-config -smp "$THREADS" "$@"
}

report() { # label memvm_s limit_gbps qemu_s
	local label=$1 m=$2 lim=$3 q=$4 mg
	mg=$(gbps "$m")
	printf '%s: memvm %s GB/s (%.3f s); limit %s GB/s: memvm at %sx of the limit\n' \
		"$label" "$mg" "$m" "$lim" "$(ratio "$mg" "$lim")"
	if [ -n "$q" ]; then
		printf '%s: qemu %s GB/s (%.3f s): memvm %sx as fast as qemu\n' "$label" "$(gbps "$q")" "$q" "$(ratio "$q" "$m")"
	else
		echo "$label: qemu-system-x86_64 not available, no peer comparison"
	fi
}

THP=/sys/kernel/mm/transparent_hugepage/enabled
old_thp=$(sed -nE 's/.*\[([a-z]+)\].*/\1/p' "$THP" 2>/dev/null)
restore() {
	[ -n "$old_thp" ] && [ -w "$THP" ] && echo "$old_thp" >"$THP"
	[ -n "${old_nr:-}" ] && echo "$old_nr" >/proc/sys/vm/nr_hugepages
	[ -n "${HP:-}" ] && mountpoint -q "$HP" && umount "$HP"
}
trap restore EXIT

echo "prealloc: ${SIZE_MIB} MiB, $THREADS threads, launch to exit at the first guest instruction, best of $REPS"
# 4 KiB anonymous pages for everyone.
if [ -w "$THP" ]; then
	echo never >"$THP"
	lim=$(best_limit)
	m=$(best_time "$BUILD/memvm" -m "$SIZE_MIB" -mem-prealloc -machine thp=off -kernel "$PAYLOAD" -device isa-debug-exit -serial none)
	q=$(qemu_time)
	report "anonymous 4K" "$m" "$lim" "$q"
	echo "$old_thp" >"$THP"
else
	echo "anonymous 4K: cannot switch THP off system-wide (needs root); skipped"
fi
# Anonymous with transparent huge pages: both VMMs' defaults.
lim=$(best_limit thp)
m=$(best_time "$BUILD/memvm" -m "$SIZE_MIB" -mem-prealloc -kernel "$PAYLOAD" -device isa-debug-exit -serial none)
q=$(qemu_time)
report "anonymous THP ($old_thp)" "$m" "$lim" "$q"

# 2 MiB hugetlbfs.
if [ "$(id -u)" = 0 ]; then
	HP=$B/hugepages
	mkdir -p "$HP"
	mountpoint -q "$HP" || mount -t hugetlbfs -o pagesize=2M none "$HP"
	old_nr=$(cat /proc/sys/vm/nr_hugepages)
	need=$((SIZE_MIB / 2))
	echo $((old_nr + need)) >/proc/sys/vm/nr_hugepages
	if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$need" ]; then
		lim=$(best_limit "$HP")
		m=$(best_time "$BUILD/memvm" -m "$SIZE_MIB" -mem-path "$HP" -mem-prealloc -kernel "$PAYLOAD" -device isa-debug-exit -serial none)
		q=$(qemu_time -mem-path "$HP")
		report "hugetlbfs 2M" "$m" "$lim" "$q"
	else
		echo "hugetlbfs 2M: could not reserve $need huge pages; skipped"
	fi
else
	echo "hugetlbfs 2M: needs root to reserve huge pages; skipped"
fi
