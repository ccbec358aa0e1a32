#!/bin/bash
# Preallocation throughput (issue 4): memvm -mem-prealloc, launch to first
# guest instruction, for 4 KiB anonymous and 2 MiB hugetlbfs RAM, against
# (a) the limit: one process doing only MADV_POPULATE_WRITE with the same
# threads, and (b) qemu-system-x86_64 -enable-kvm -mem-prealloc.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
B=$BUILD/bench
SIZE_MIB=${BENCH_PREALLOC_MIB:-2048}
THREADS=$(nproc)
REPS=${BENCH_REPS:-3}
make -s payloads >/dev/null
gcc -O2 -pthread -o "$B/populate_limit" tests/bench/populate_limit.c || exit 1
# QEMU's first instruction is the BIOS reset vector: a 64 KiB BIOS whose
# reset vector writes isa-debug-exit at once.
{ head -c 65520 /dev/zero; printf '\xb0\x00\xe6\xf4\xf4'; head -c 11 /dev/zero; } >"$B/exit-bios.bin"

now() { date +%s.%N; }
best_of() { sort -g | head -1; }
# time_cmd CMD...: wall seconds of the best of REPS runs.
time_cmd() {
	for _ in $(seq "$REPS"); do
		local t0 t1
		t0=$(now); "$@" >/dev/null 2>&1 </dev/null; t1=$(now)
		echo "$t1 - $t0" | bc -l
	done | best_of
}
gbps() { echo "scale=2; $SIZE_MIB * 1048576 / $1 / 1000000000" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

report() { # label memvm_s limit_gbps qemu_s
	local label=$1 m=$2 lim=$3 q=$4
	local mg; mg=$(gbps "$m")
	printf '%s: memvm %s GB/s (%.3f s launch to first instruction); limit %s GB/s: memvm at %sx of the limit\n' \
		"$label" "$mg" "$m" "$lim" "$(ratio "$mg" "$lim")"
	if [ -n "$q" ]; then
		printf '%s: qemu %s GB/s (%.3f s): memvm %sx faster than qemu\n' "$label" "$(gbps "$q")" "$q" "$(ratio "$q" "$m")"
	else
		echo "$label: qemu-system-x86_64 not available, no peer comparison"
	fi
}

have_qemu() { command -v qemu-system-x86_64 >/dev/null; }

# 4 KiB anonymous
lim=$(for _ in $(seq "$REPS"); do "$B/populate_limit" "$SIZE_MIB" "$THREADS" | cut -d' ' -f1; done | sort -gr | head -1)
m=$(time_cmd "$BUILD/memvm" -m "$SIZE_MIB" -mem-prealloc -machine thp=off -kernel "$BUILD/payloads/exit16.elf" -device isa-debug-exit -serial none)
q=""
have_qemu && q=$(time_cmd qemu-system-x86_64 -enable-kvm -m "$SIZE_MIB" -mem-prealloc -bios "$B/exit-bios.bin" \
	-device isa-debug-exit,iobase=0xf4 -display none -nodefaults -no-user-config -smp "$THREADS")
report "prealloc ${SIZE_MIB} MiB anonymous 4K, $THREADS threads" "$m" "$lim" "$q"

# 2 MiB hugetlbfs
if [ "$(id -u)" = 0 ]; then
	HP=$B/hugepages
	mkdir -p "$HP"
	mountpoint -q "$HP" || mount -t hugetlbfs -o pagesize=2M none "$HP"
	old=$(cat /proc/sys/vm/nr_hugepages)
	need=$((SIZE_MIB / 2))
	echo $((old + need)) >/proc/sys/vm/nr_hugepages
	if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$need" ]; then
		lim=$(for _ in $(seq "$REPS"); do "$B/populate_limit" "$SIZE_MIB" "$THREADS" "$HP" | cut -d' ' -f1; done | sort -gr | head -1)
		m=$(time_cmd "$BUILD/memvm" -m "$SIZE_MIB" -mem-path "$HP" -mem-prealloc -kernel "$BUILD/payloads/exit16.elf" -device isa-debug-exit -serial none)
		q=""
		have_qemu && q=$(time_cmd qemu-system-x86_64 -enable-kvm -m "$SIZE_MIB" -mem-path "$HP" -mem-prealloc -bios "$B/exit-bios.bin" \
			-device isa-debug-exit,iobase=0xf4 -display none -nodefaults -no-user-config -smp "$THREADS")
		report "prealloc ${SIZE_MIB} MiB hugetlbfs 2M, $THREADS threads" "$m" "$lim" "$q"
	else
		echo "prealloc hugetlbfs: could not reserve $need huge pages; skipped"
	fi
	echo "$old" >/proc/sys/vm/nr_hugepages
	umount "$HP" 2>/dev/null
else
	echo "prealloc hugetlbfs: needs root to reserve huge pages; skipped"
fi
