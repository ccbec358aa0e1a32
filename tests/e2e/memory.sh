#!/bin/bash
# End-to-end memory tests (issue 4) on bare-metal payloads: hugetlbfs with
# preallocation takes exactly RAM / 2 MiB huge pages and returns them at
# exit, too small a pool fails cleanly, and two identical guests share
# pages through KSM. Needs root to set up hugetlbfs and KSM.
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$TESTS_TMP
P=$BUILD/payloads

require_kvm memory-e2e
if ! is_root; then
	skip hugetlbfs "needs root to mount hugetlbfs and reserve huge pages"
	skip ksm "needs root to start ksmd"
	exit 0
fi

hp_free() { awk '/^HugePages_Free/ {print $2}' /proc/meminfo; }
HP=/dev/hugepages
mounted_here=0
if ! mountpoint -q "$HP"; then
	mkdir -p "$HP" && mount -t hugetlbfs -o pagesize=2M hugetlbfs "$HP" && mounted_here=1
fi
old_nr=$(cat /proc/sys/vm/nr_hugepages)
cleanup() {
	echo "$old_nr" >/proc/sys/vm/nr_hugepages
	[ "$mounted_here" = 1 ] && umount "$HP"
	[ -n "${old_ksm_run:-}" ] && echo "$old_ksm_run" >/sys/kernel/mm/ksm/run
	[ -n "${old_ksm_pages:-}" ] && echo "$old_ksm_pages" >/sys/kernel/mm/ksm/pages_to_scan
	[ -n "${old_ksm_sleep:-}" ] && echo "$old_ksm_sleep" >/sys/kernel/mm/ksm/sleep_millisecs
	rm -rf "$T"
}
trap cleanup EXIT

# --- hugetlbfs + prealloc: exactly RAM / 2 MiB pages, returned at exit ---
RAM_MIB=64
NEED=$((RAM_MIB / 2))
echo $((old_nr + NEED + 4)) >/proc/sys/vm/nr_hugepages
free0=$(hp_free)
"$MEMVM" -m ${RAM_MIB}M -mem-path "$HP" -mem-prealloc -kernel "$P/idle64.elf" </dev/null >"$T/hp.out" 2>"$T/hp.err" &
pid=$!
if wait_for_line "$T/hp.out" "idle payload running" 30; then
	free1=$(hp_free)
	expect_eq "hugetlbfs prealloc takes exactly $NEED huge pages while running" "$NEED" $((free0 - free1))
else
	fail "hugetlbfs guest starts" "$(cat "$T/hp.err")"
fi
expect_match "KSM notice for hugetlbfs memory" "mem-merge=on has no effect" "$T/hp.err"
ls "$HP" >"$T/hp.files"
kill -TERM $pid; wait $pid; rc=$?
expect_eq "hugetlbfs guest exits 0 on SIGTERM" 0 "$rc"
expect_eq "huge pages returned at exit" "$free0" "$(hp_free)"
expect_eq "no file left on hugetlbfs" "" "$(ls "$HP")"

# --- too small a pool: clean one-line error, nothing taken ---
# Four free pages whatever an earlier script left in the pool.
echo $(($(cat /proc/sys/vm/nr_hugepages) - $(hp_free) + 4)) >/proc/sys/vm/nr_hugepages
expect_eq "too small a pool: set up with 4 free pages" 4 "$(hp_free)"
free0=$(hp_free)
timeout 30 "$MEMVM" -m ${RAM_MIB}M -mem-path "$HP" -mem-prealloc -kernel "$P/hello64.elf" </dev/null >"$T/small.out" 2>"$T/small.err"
rc=$?
expect_eq "too small a pool: exit status 1" 1 "$rc"
expect_match "too small a pool: says needed and free pages" "$NEED needed|needed.*$NEED|$NEED.*needed" "$T/small.err"
expect_match "too small a pool: names nr_hugepages as the fix" "nr_hugepages" "$T/small.err"
expect_eq "too small a pool: one error line" 1 "$(grep -c 'error' "$T/small.err")"
expect_no_match "too small a pool: no crash" "SIGBUS|Bus error|AddressSanitizer|core dumped" "$T/small.err"
expect_eq "too small a pool: huge pages untouched" "$free0" "$(hp_free)"

# --- QEMU's -object memory-backend-*: the same RAM, spelled as QEMU does ---
echo $((old_nr + NEED + 4)) >/proc/sys/vm/nr_hugepages
qmp_one() { # SOCKET COMMAND: the return value, compact
	printf '{"execute": "qmp_capabilities"}\n{"execute": "%s", "id": 1}\n' "$2" |
		socat -t 5 - "UNIX-CONNECT:$1" | tr -d '\r' | jq -c 'select(.id == 1) | .return'
}
for be in "memory-backend-memfd,id=mem0,size=${RAM_MIB}M,hugetlb=on,hugetlbsize=2M,prealloc=on" \
	"memory-backend-file,id=mem0,size=${RAM_MIB}M,mem-path=$HP,prealloc=on,share=on"; do
	kind=${be%%,*}
	free0=$(hp_free)
	"$MEMVM" -object "$be" -machine memory-backend=mem0 -kernel "$P/idle64.elf" \
		-qmp "unix:$T/md.qmp,server=on,wait=off" </dev/null >"$T/md.out" 2>"$T/md.err" &
	pid=$!
	if wait_for_line "$T/md.out" "idle payload running" 30; then
		expect_eq "$kind: prealloc=on takes exactly $NEED huge pages" "$NEED" $((free0 - $(hp_free)))
		expect_eq "$kind: query-memdev reports the backend" \
			"[{\"share\":true,\"reserve\":true,\"prealloc\":true,\"host-nodes\":[],\"size\":$((RAM_MIB << 20)),\"merge\":true,\"dump\":true,\"policy\":\"default\",\"id\":\"mem0\"}]" \
			"$(qmp_one "$T/md.qmp" query-memdev)"
		expect_eq "$kind: RAM is huge pages" '"hugetlbfs"' "$(qmp_one "$T/md.qmp" x-query-memvm-memory | jq -c .backing)"
		expect_eq "$kind: the -m it implies" "$((RAM_MIB << 20))" "$(qmp_one "$T/md.qmp" query-memory-size-summary | jq -c '."base-memory"')"
	else
		fail "$kind: guest starts" "$(cat "$T/md.err")"
	fi
	kill -TERM $pid; wait $pid
	expect_eq "$kind: exits 0 on SIGTERM" 0 "$?"
	expect_eq "$kind: huge pages returned at exit" "$free0" "$(hp_free)"
done
expect_eq "memory-backend-file: no file left on hugetlbfs" "" "$(ls "$HP")"
timeout 30 "$MEMVM" -m 32M -object memory-backend-ram,id=m,size=${RAM_MIB}M -machine memory-backend=m \
	-kernel "$P/hello64.elf" </dev/null >"$T/mm.out" 2>"$T/mm.err"
expect_eq "-m and the backend's size differ: exit status 1" 1 "$?"
expect_eq "... QEMU's error, one line" "memvm: error: Size specified by -m option must match size of explicitly specified 'memory-backend' property" "$(cat "$T/mm.err")"

# --- guest RAM the host cannot back: a clean error, never SIGBUS ---
# hugetlbfs mounts whose size= allows fewer pages than RAM: memvm maps RAM
# without a reservation (a warning), then finds pages missing as it goes.
echo $((old_nr + 8)) >/proc/sys/vm/nr_hugepages
mkdir -p "$T/hp1" "$T/hp3"
mount -t hugetlbfs -o pagesize=2M,size=2M none "$T/hp1"
mount -t hugetlbfs -o pagesize=2M,size=6M none "$T/hp3"
# One page: the payload takes it, the kernel command line finds none.
timeout 30 "$MEMVM" -m ${RAM_MIB}M -mem-path "$T/hp1" -kernel "$P/hello64.elf" </dev/null >"$T/nb.out" 2>"$T/nb.err"
expect_eq "loading into RAM the pool cannot back: exit status 1, not SIGBUS" 1 "$?"
expect_match "... names the missing page and the fix" "^memvm: error: .*no backing page.*nr_hugepages" "$T/nb.err"
expect_eq "... one error line" 1 "$(grep -c '^memvm: error' "$T/nb.err")"
expect_no_match "... no crash" "SIGBUS|Bus error|core dumped" "$T/nb.err"
check "... and the guest never ran" [ ! -s "$T/nb.out" ]
# Three pages: boot tables, payload, rings. The 64 KiB buffer the guest
# posts at 62 MiB has none: a device error the guest sees, memvm lives.
timeout 30 "$MEMVM" -m ${RAM_MIB}M -mem-path "$T/hp3" -device virtio-rng -device isa-debug-exit \
	-kernel "$P/vqhigh64.elf" </dev/null >"$T/vqh.out" 2>"$T/vqh.err"
expect_eq "virtio buffer in RAM the pool cannot back: the guest sees a device error" 5 "$?"
expect_eq "... and says so" "vqhigh: device error" "$(cat "$T/vqh.out")"
expect_match "... memvm names the cause" "virtio-rng.*host cannot back" "$T/vqh.err"
timeout 30 "$MEMVM" -m ${RAM_MIB}M -device virtio-rng -device isa-debug-exit \
	-kernel "$P/vqhigh64.elf" </dev/null >"$T/vqa.out" 2>"$T/vqa.err"
expect_eq "the same buffer in anonymous RAM is filled" 3 "$?"
umount "$T/hp1" "$T/hp3"

# --- RAM size not a multiple of the huge page size ---
timeout 30 "$MEMVM" -m 3M -mem-path "$HP" -kernel "$P/hello64.elf" </dev/null >"$T/align.out" 2>"$T/align.err"
expect_eq "unaligned size on hugetlbfs: exit status 1" 1 "$?"
expect_match "unaligned size on hugetlbfs: clear message" "multiple of.*2 MiB|2 MiB.*multiple" "$T/align.err"

# --- -mem-path errors ---
timeout 10 "$MEMVM" -m 16M -mem-path "$T/missing/dir" -kernel "$P/hello64.elf" </dev/null >/dev/null 2>"$T/nopath.err"
expect_eq "nonexistent -mem-path: exit status 1" 1 "$?"
expect_match "nonexistent -mem-path: names the path" "missing/dir" "$T/nopath.err"
mkdir -p "$T/ro" && mount -t tmpfs -o ro,size=1M tmpfs "$T/ro"
timeout 10 "$MEMVM" -m 16M -mem-path "$T/ro" -kernel "$P/hello64.elf" </dev/null >/dev/null 2>"$T/ro.err"
expect_eq "read-only -mem-path: exit status 1" 1 "$?"
expect_match "read-only -mem-path: clear message" "read-only|not writable|Read-only" "$T/ro.err"
umount "$T/ro"
mkdir -p "$T/full" && mount -t tmpfs -o size=4M tmpfs "$T/full"
timeout 10 "$MEMVM" -m 16M -mem-path "$T/full" -machine mem-shared=on -mem-prealloc -kernel "$P/hello64.elf" </dev/null >/dev/null 2>"$T/full.err"
expect_eq "full filesystem: exit status 1" 1 "$?"
expect_match "full filesystem: clear message" "space|full" "$T/full.err"
expect_eq "full filesystem: no file left behind" "" "$(ls "$T/full")"
umount "$T/full"

# --- a reboot keeps a user's -mem-path file, shared or private ---
# QEMU leaves RAM alone on reset; memvm used to punch the whole file.
for mode in on off; do
	F=$T/user-$mode.img S=$T/user-$mode.sock
	head -c $((16 << 20)) /dev/zero | tr '\0' Z >"$F"
	"$MEMVM" -m 16M -mem-path "$F" -machine mem-shared=$mode -kernel "$P/idle64.elf" \
		-qmp "unix:$S,server=on,wait=off" </dev/null >"$T/user.out" 2>"$T/user.err" &
	UPID=$!
	i=0; while [ $i -lt 200 ] && [ ! -S "$S" ]; do sleep 0.1; i=$((i + 1)); done
	tid() { printf '{"execute":"qmp_capabilities"}{"execute":"query-cpus-fast","id":1}' |
		socat -t 5 - "UNIX-CONNECT:$S" | jq -c 'select(.id == 1) | .return[0]["thread-id"]'; }
	t0=$(tid)
	printf '{"execute":"qmp_capabilities"}{"execute":"system_reset","id":1}' | socat -t 5 - "UNIX-CONNECT:$S" >/dev/null
	i=0 t1=$t0
	while [ $i -lt 300 ] && { [ "$t1" = "$t0" ] || [ -z "$t1" ]; }; do sleep 0.1; i=$((i + 1)); t1=$(tid); done
	check "mem-shared=$mode: system_reset rebooted the guest (new vCPU thread)" [ -n "$t1" -a "$t1" != "$t0" ]
	kill -TERM $UPID; wait $UPID 2>/dev/null
	# The idle payload never touches the last MiB: it must still be the user's.
	expect_eq "mem-shared=$mode: the user's file survives the reboot" 0 \
		"$(tail -c $((1 << 20)) "$F" | tr -d Z | wc -c)"
	rm -f "$F"
done

# --- KSM: two identical guests share pages ---
K=/sys/kernel/mm/ksm
if [ -w $K/run ]; then
	old_ksm_run=$(cat $K/run); old_ksm_pages=$(cat $K/pages_to_scan); old_ksm_sleep=$(cat $K/sleep_millisecs)
	echo 1000 >$K/pages_to_scan; echo 10 >$K/sleep_millisecs; echo 1 >$K/run
	for g in a b; do
		"$MEMVM" -m 64M -mem-prealloc -machine thp=off -kernel "$P/idle64.elf" </dev/null >"$T/ksm-$g.out" 2>"$T/ksm-$g.err" &
		eval "pid_$g=\$!"
	done
	merged_a=0 merged_b=0
	for _ in $(seq 60); do
		merged_a=$(cat /proc/$pid_a/ksm_merging_pages 2>/dev/null || echo 0)
		merged_b=$(cat /proc/$pid_b/ksm_merging_pages 2>/dev/null || echo 0)
		[ "$merged_a" -gt 8192 ] && [ "$merged_b" -gt 8192 ] && break
		sleep 0.5
	done
	check "KSM merges guest A's RAM (ksm_merging_pages=$merged_a of 16384)" [ "$merged_a" -gt 8192 ]
	check "KSM merges guest B's RAM (ksm_merging_pages=$merged_b of 16384)" [ "$merged_b" -gt 8192 ]
	kill -TERM $pid_a $pid_b; wait $pid_a $pid_b
	# mem-merge=off: nothing merged.
	"$MEMVM" -m 64M -mem-prealloc -machine thp=off,mem-merge=off -kernel "$P/idle64.elf" </dev/null >"$T/nomerge.out" 2>&1 &
	pid=$!
	sleep 4
	n=$(cat /proc/$pid/ksm_merging_pages 2>/dev/null || echo 0)
	expect_eq "mem-merge=off: no page merged" 0 "$n"
	kill -TERM $pid; wait $pid
else
	skip ksm "no writable /sys/kernel/mm/ksm/run"
fi
