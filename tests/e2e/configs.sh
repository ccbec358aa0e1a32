#!/bin/bash
# End-to-end: the example VM config files boot, and what they say takes
# effect (configs/tiny.ini, hugepages.ini, overcommit.ini, issue 16). The
# options after -readconfig only say where this build and this test put
# things (kernel, console, sockets), as the files' own comments suggest.
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/guest-lib.sh
T=$TESTS_TMP

require_kvm configs
have_guest || { fail configs "no guest images in $GUEST: run 'make guest'"; exit 0; }
for tool in socat jq; do
	command -v $tool >/dev/null || { fail configs "$tool is not installed (apt-get install $tool)"; exit 0; }
done

hp_free() { awk '/^HugePages_Free/ {print $2}' /proc/meminfo; }
HP=/dev/hugepages
mounted_here=0 old_nr=
cleanup() {
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "$old_nr" ] && echo "$old_nr" >/proc/sys/vm/nr_hugepages
	[ "$mounted_here" = 1 ] && umount "$HP"
	rm -rf "$T"
}
trap cleanup EXIT

# The busybox user space where guest system calls work, else the
# syscall-free init (an option after the file overrides the file's).
INIT=$INIT_NOSYS READY="Run /init as init process"
guest_syscalls_work && INIT=$INIT_BUSYBOX READY="MEMVM-BUSYBOX-READY"

q() { # NAME COMMAND [ARGS-JSON]: the return value, compact
	printf '{"execute": "qmp_capabilities"}\n{"execute": "%s", "arguments": %s, "id": 1}\n' "$2" "${3:-{\}}" |
		timeout 30 socat -t 5 - "UNIX-CONNECT:$T/$1.qmp" | tr -d '\r' | jq -c 'select(.id == 1) | .return'
}
boot() { # NAME: memvm -readconfig configs/NAME.ini
	"$MEMVM" -readconfig "configs/$1.ini" -kernel "$VMLINUX" -initrd "$INIT" -serial "file:$T/$1.log" \
		-qmp "unix:$T/$1.qmp,server=on,wait=off" -monitor "unix:$T/$1.hmp,server=on,wait=off" \
		</dev/null >"$T/$1.out" 2>"$T/$1.err" &
	eval "PID_$1=$!"
}

boot tiny
boot overcommit
hp=0
if is_root; then
	mountpoint -q "$HP" || { mkdir -p "$HP" && mount -t hugetlbfs none "$HP" && mounted_here=1; }
	old_nr=$(cat /proc/sys/vm/nr_hugepages)
	echo $((old_nr - $(hp_free) + 128 + 4)) >/proc/sys/vm/nr_hugepages
	[ "$(hp_free)" -ge 128 ] && hp=1
fi
if [ "$hp" = 1 ]; then
	free0=$(hp_free)
	boot hugepages
else
	fail "hugepages.ini" "needs root and 128 free 2 MiB huge pages on $HP"
fi

for g in tiny overcommit $([ "$hp" = 1 ] && echo hugepages); do
	if wait_guest_line "$g" "$READY"; then pass "$g.ini: the guest boots"
	else fail "$g.ini: the guest boots" "$(tail -3 "$T/$g.log" | tr '\n' '|') $(tr '\n' '|' <"$T/$g.err")"; fi
done

# tiny.ini: 128 MiB, two vCPUs, a balloon polling statistics every 2 s
# with free page reporting, an rng.
expect_eq "tiny.ini: 128 MiB" $((128 << 20)) "$(q tiny query-memory-size-summary | jq -c '."base-memory"')"
expect_eq "tiny.ini: two vCPUs" 2 "$(q tiny query-cpus-fast | jq -c length)"
B='{"path": "/machine/peripheral-anon/device[0]", "property": "%s"}'
expect_eq "tiny.ini: statistics every 2 s" 2 "$(q tiny qom-get "$(printf "$B" guest-stats-polling-interval)")"
expect_eq "tiny.ini: free page reporting" true "$(q tiny qom-get "$(printf "$B" free-page-reporting)")"
expect_eq "tiny.ini: an rng" '"virtio-rng-device"' "$(q tiny qom-get '{"path": "/machine/peripheral-anon/device[1]", "property": "type"}')"

# overcommit.ini: 512 MiB, deflate-on-oom, free page reporting, KSM asked for.
expect_eq "overcommit.ini: 512 MiB" $((512 << 20)) "$(q overcommit query-memory-size-summary | jq -c '."base-memory"')"
expect_eq "overcommit.ini: deflate-on-oom" true "$(q overcommit qom-get "$(printf "$B" deflate-on-oom)")"
expect_eq "overcommit.ini: free page reporting" true "$(q overcommit qom-get "$(printf "$B" free-page-reporting)")"
expect_eq "overcommit.ini: RAM marked mergeable for KSM" true "$(q overcommit x-query-memvm-memory | jq -c '."merge-effective"')"
expect_eq "overcommit.ini: the memory autopilot on, floor 128 MiB" '{"enabled":true,"floor":134217728}' \
	"$(q overcommit x-query-memvm-autopilot | jq -c '{enabled, floor}')"

# hugepages.ini: 256 MiB of preallocated huge pages, as a QEMU memory backend.
if [ "$hp" = 1 ]; then
	expect_eq "hugepages.ini: prealloc took all 128 huge pages" 128 $((free0 - $(hp_free)))
	expect_eq "hugepages.ini: the backend QEMU's way" '[{"id":"mem0","prealloc":true,"size":268435456}]' \
		"$(q hugepages query-memdev | jq -c 'map({id, prealloc, size})')"
	expect_eq "hugepages.ini: huge pages back the RAM" '"hugetlbfs"' "$(q hugepages x-query-memvm-memory | jq -c .backing)"
fi

# The README's "A first session" command blocks, run as written against the
# tiny guest (only the build directory and the socket are this test's).
awk '/^## A first session/ {f = 1; next} /^## / {f = 0} f && /^    /' README.md | sed 's/^    //' |
	sed -e "s#build/memvm-ctl#$BUILD/memvm-ctl#g" -e "s#build/qmp.sock#$T/tiny.qmp#g" >"$T/readme.sh"
check "README: the first session's commands are there" [ "$(grep -c 'memvm-ctl' "$T/readme.sh")" -ge 5 ]
timeout 120 bash -e "$T/readme.sh" </dev/null >"$T/readme.out" 2>&1
expect_eq "README: the first session's commands all succeed" 0 "$?"
expect_match "README: info balloon answers as the README says" "^balloon: actual=128$" "$T/readme.out"
expect_match "README: balloon --wait returns once the guest is there" "^balloon: actual=64 \(target reached\)$" "$T/readme.out"
expect_match "README: the socat QMP block gets query-balloon's reply" '"return": \{"actual": [0-9]+\}' "$T/readme.out"

for g in tiny overcommit $([ "$hp" = 1 ] && echo hugepages); do
	q "$g" quit >/dev/null
	eval "pid=\$PID_$g"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	expect_eq "$g.ini: quit exits 0" 0 "$?"
done
[ "$hp" = 1 ] && expect_eq "hugepages.ini: huge pages returned at exit" "$free0" "$(hp_free)"

# -writeconfig of a file's machine reads back to the same file.
# (-machine dumpdtb: memvm exits once the machine is built, where a file
# with a kernel would otherwise run it, as QEMU does after -writeconfig.)
timeout 120 "$MEMVM" -readconfig configs/overcommit.ini -machine "dumpdtb=$T/w.dtb" -writeconfig "$T/w1.ini" >/dev/null 2>"$T/w.err"
timeout 120 "$MEMVM" -readconfig "$T/w1.ini" -writeconfig "$T/w2.ini" >/dev/null 2>>"$T/w.err"
check "-writeconfig: the written file reads back to itself" cmp -s "$T/w1.ini" "$T/w2.ini"
