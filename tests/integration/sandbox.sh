#!/bin/bash
# The sandbox on a running memvm (issue 13): after set-up memvm holds no
# capabilities (when started as root), has no_new_privs and a seccomp
# filter on every thread, a vCPU thread one more of its own; a forbidden
# call ends memvm with SIGSYS and a line naming the thread and the call
# (the MEMVM_TEST_HOOKS=1 probe command makes one); log=on lets it through;
# -sandbox off installs nothing. Every other VM test runs sandboxed too,
# the sandbox being on by default.
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=$BUILD/payloads
T=$TESTS_TMP
trap 'for p in $(jobs -p); do kill -KILL $p 2>/dev/null; done; rm -rf "$T"' EXIT

require_kvm sandbox

field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
qmp() { # qmp SOCKET JSON...: the replies, one per line
	local s=$1; shift
	{ printf '{"execute":"qmp_capabilities"}'; printf '%s' "$@"; } |
		timeout 20 socat -t 3 - "UNIX-CONNECT:$s"
}
start() { # start NAME ARGS...: memvm on idle64 with a QMP socket
	local name=$1; shift
	"$MEMVM" -kernel "$P/idle64.elf" -qmp "unix:$T/$name.sock,server=on,wait=off" "$@" \
		</dev/null >"$T/$name.out" 2>"$T/$name.err" &
	pid=$!
	wait_for_line "$T/$name.out" "idle payload running" 30 || fail "$name: payload starts" "$(cat "$T/$name.err")"
}

# --- the state of a sandboxed memvm ---
start on -smp 2
expect_eq "sandbox: Seccomp mode 2 (filter)" 2 "$(field $pid Seccomp)"
expect_eq "sandbox: NoNewPrivs" 1 "$(field $pid NoNewPrivs)"
expect_eq "sandbox: no effective capabilities" 0000000000000000 "$(field $pid CapEff)"
expect_eq "sandbox: no permitted capabilities" 0000000000000000 "$(field $pid CapPrm)"
if is_root; then
	expect_eq "sandbox: empty bounding set (started as root)" 0000000000000000 "$(field $pid CapBnd)"
fi
tids=$(qmp "$T/on.sock" '{"execute":"query-cpus-fast","id":1}' | jq -r 'select(.id == 1) | .return[]."thread-id"')
expect_eq "sandbox: two vCPU threads" 2 "$(echo "$tids" | grep -c .)"
for t in $tids; do
	expect_eq "sandbox: vCPU thread $t has its own filter on the process one" 2 \
		"$(awk '$1 == "Seccomp_filters:" {print $2}' /proc/$pid/task/$t/status)"
done
expect_eq "sandbox: the main thread has the process filter" 1 \
	"$(awk '$1 == "Seccomp_filters:" {print $2}' /proc/$pid/task/$pid/status)"
expect_eq "sandbox: all is well, nothing printed" "" "$(cat "$T/on.err")"
# What a sandboxed memvm still does at run time: monitor, stop/cont, reset.
out=$(qmp "$T/on.sock" '{"execute":"stop","id":1}' '{"execute":"cont","id":2}' \
	'{"execute":"system_reset","id":3}' '{"execute":"query-status","id":4}' |
	jq -c 'select(.id == 4) | .return.status')
expect_eq "sandbox: stop, cont and a guest reset work" '"running"' "$out"
runs() { grep -c 'idle payload running' "$T/on.out"; }
for _ in $(seq 150); do [ "$(runs)" -ge 2 ] && break; sleep 0.2; done
check "sandbox: the payload runs again after the reset (a new VM, new vCPU threads)" [ "$(runs)" -ge 2 ]
kill -TERM $pid
wait $pid
expect_eq "sandbox: SIGTERM exits 0" 0 "$?"
check "sandbox: the monitor socket is removed at exit" [ ! -e "$T/on.sock" ]

# --- -runas: the user memvm becomes after set-up ---
if is_root && id nobody >/dev/null 2>&1; then
	# Its sockets must be somewhere nobody may remove them: not in $T (0700).
	RD=$(mktemp -d /tmp/memvm-runas.XXXXXX) && chmod 1777 "$RD"
	"$MEMVM" -kernel "$P/idle64.elf" -qmp "unix:$RD/runas.sock,server=on,wait=off" -runas nobody \
		</dev/null >"$T/runas.out" 2>"$T/runas.err" &
	pid=$!
	wait_for_line "$T/runas.out" "idle payload running" 30 || fail "-runas: payload starts" "$(cat "$T/runas.err")"
	expect_eq "-runas nobody: the process runs as nobody" "$(id -u nobody)" "$(field $pid Uid)"
	expect_eq "-runas nobody: ... its group too" "$(id -g nobody)" "$(field $pid Gid)"
	expect_eq "-runas nobody: no supplementary groups" "" "$(field $pid Groups)"
	expect_eq "-runas nobody: still no capabilities, empty bounding set" \
		0000000000000000/0000000000000000 "$(field $pid CapEff)/$(field $pid CapBnd)"
	out=$(qmp "$RD/runas.sock" '{"execute":"query-status","id":1}' | jq -c 'select(.id == 1) | .return.status')
	expect_eq "-runas nobody: the monitor still answers" '"running"' "$out"
	kill -TERM $pid
	wait $pid
	expect_eq "-runas nobody: SIGTERM exits 0" 0 "$?"
	check "-runas nobody: the socket, handed over, is removed at exit" [ ! -e "$RD/runas.sock" ]
	rm -rf "$RD"
fi
timeout 10 "$MEMVM" -runas no-such-user-here -kernel "$P/hello64.elf" </dev/null >/dev/null 2>"$T/runas.err"
expect_eq "-runas with an unknown user: exit status 1" 1 "$?"
expect_match "... names the user, before any set-up" "^memvm: error: -runas no-such-user-here: no such user$" "$T/runas.err"

# --- a forbidden call, on the monitor's thread and on a vCPU's ---
for thread in monitor vcpu; do
	MEMVM_TEST_HOOKS=1 start probe-$thread
	qmp "$T/probe-$thread.sock" "{\"execute\":\"x-debug-sandbox-probe\",\"arguments\":{\"thread\":\"$thread\"},\"id\":1}" >/dev/null
	timeout 20 tail --pid=$pid -f /dev/null
	kill -0 $pid 2>/dev/null && kill -KILL $pid
	wait $pid
	rc=$?
	expect_eq "sandbox: a forbidden call on the $thread thread kills memvm with SIGSYS" $((128 + 31)) "$rc"
	name=main; [ $thread = vcpu ] && name="vCPU 0"
	expect_match "... and memvm names the thread and the call" \
		"^memvm: error: sandbox: the $name thread made system call personality \([0-9]+\), which the sandbox forbids" "$T/probe-$thread.err"
done
# The probe does not exist without the test hook.
start nohook
out=$(qmp "$T/nohook.sock" '{"execute":"x-debug-sandbox-probe","arguments":{"thread":"monitor"},"id":1}' | jq -r 'select(.id == 1) | .error.class')
expect_eq "sandbox: no probe command without MEMVM_TEST_HOOKS=1" CommandNotFound "$out"
kill -TERM $pid; wait $pid

# --- log=on: the call is logged by the kernel and goes ahead ---
MEMVM_TEST_HOOKS=1 start log -sandbox on,log=on
out=$(qmp "$T/log.sock" '{"execute":"x-debug-sandbox-probe","arguments":{"thread":"monitor"},"id":1}' \
	'{"execute":"query-status","id":2}' | jq -c 'select(.id == 2) | .return.status')
expect_eq "sandbox log=on: memvm survives a forbidden call" '"running"' "$out"
if is_root; then
	# SECCOMP_RET_LOG: the kernel's audit line names the process and call.
	check "sandbox log=on: the kernel logged the call (dmesg: audit type=1326 ... syscall=135)" \
		sh -c "dmesg | grep -E 'type=1326.*pid=$pid .*syscall=135' >/dev/null"
fi
kill -TERM $pid; wait $pid
expect_eq "sandbox log=on: SIGTERM exits 0" 0 "$?"

# --- -sandbox off ---
start off -sandbox off
expect_eq "-sandbox off: no seccomp filter" 0 "$(field $pid Seccomp)"
if is_root; then
	check "-sandbox off: root keeps its capabilities" [ "$(field $pid CapEff)" != 0000000000000000 ]
fi
kill -TERM $pid; wait $pid

# --- command line ---
timeout 10 "$MEMVM" -sandbox on,spawn=allow -kernel "$P/hello64.elf" </dev/null >/dev/null 2>"$T/cli.err"
expect_eq "-sandbox spawn=allow: exit status 1" 1 "$?"
expect_match "... says memvm always denies it" "always denies spawn" "$T/cli.err"
