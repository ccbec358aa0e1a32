#!/bin/bash
# End-to-end: memvm's QMP and human monitors over their UNIX sockets, driven
# with socat and memvm-ctl on the idle payload (and, when the tiny Linux
# guest is built, a real balloon driver for BALLOON_CHANGE); then the same
# QMP conversation side by side with Debian's QEMU, comparing reply
# structure and error classes. Needs /dev/kvm, socat and jq; the
# comparison needs qemu-system-x86.
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/guest-lib.sh
T=$TESTS_TMP
P=$BUILD/payloads
CTL=${MEMVM_CTL:-$BUILD/memvm-ctl}
IDLE=$P/idle64.elf

require_kvm monitor
for tool in socat jq; do
	command -v $tool >/dev/null || { fail monitor "$tool is not installed (apt-get install $tool)"; exit 0; }
done

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# wait_sock PATH [SECONDS]
wait_sock() {
	local i=0
	while [ "$i" -lt $((${2:-20} * 10)) ]; do
		[ -S "$1" ] && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

# qmp SOCK: stdin lines to the socket, replies to stdout ("\r" removed).
# The server closes after answering everything once we half-close.
qmp() { timeout 120 socat -t 5 - "UNIX-CONNECT:$1" | tr -d '\r'; } # bounded: a stuck peer fails the test, not the run

# reply FILE ID: the reply carrying "id": ID.
reply() { jq -c --argjson id "$2" 'select(.id == $id)' "$1" 2>/dev/null | head -1; }

# expect_json NAME FILE ID JQ-CONDITION: the reply with that id satisfies it.
expect_json() {
	local r; r=$(reply "$2" "$3")
	if [ -n "$r" ] && jq -e "$4" >/dev/null 2>&1 <<<"$r"; then pass "$1"
	else fail "$1" "reply to id $3 is '${r:-none}', wanted $4"; fi
}

# expect_error NAME FILE ID CLASS [DESC]
expect_error() {
	local cond=".error.class == \"$4\""
	[ -n "${5:-}" ] && cond="$cond and .error.desc == $(jq -Rn --arg d "$5" '$d')"
	expect_json "$1" "$2" "$3" "$cond"
}

start_memvm() { # NAME ARGS...: background memvm, sets MPID
	local name=$1; shift
	"$MEMVM" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	MPID=$!
	PIDS+=("$MPID")
}

# ---- memvm on the idle payload ------------------------------------------
Q=$T/qmp.sock
H=$T/hmp.sock
start_memvm main -m 256M -smp 2 -kernel "$IDLE" -device virtio-balloon \
	-qmp "unix:$Q,server=on,wait=off" -monitor "unix:$H,server,nowait"
MAIN=$MPID
if ! wait_sock "$Q" || ! wait_sock "$H" 5; then
	fail "monitor sockets created" "no $Q / $H after 20 s: $(tr '\n' '|' <"$T/main.err")"
	exit 0
fi
pass "monitor sockets created"
expect_eq "QMP socket is mode 0600" 600 "$(stat -c %a "$Q")"
expect_eq "HMP socket is mode 0600" 600 "$(stat -c %a "$H")"
expect_eq "QMP socket belongs to us" "$(id -u)" "$(stat -c %u "$Q")"

# ---- negotiation, every command, errors, events --------------------------
PATH_B='"/machine/peripheral-anon/device[0]"'
qmp "$Q" >"$T/conv.out" <<EOF
{"execute": "query-status", "id": 0}
{"execute": "qmp_capabilities", "id": 1}
{"execute": "qmp_capabilities", "id": 2}
{"execute": "query-version", "id": 3}
{"execute": "query-commands", "id": 4}
{"execute": "query-status", "id": 5}
{"execute": "stop", "id": 6}
{"execute": "query-status", "id": 7}
{"execute": "cont", "id": 8}
{"execute": "query-kvm", "id": 9}
{"execute": "query-cpus-fast", "id": 10}
{"execute": "query-memory-size-summary", "id": 11}
{"execute": "x-query-memvm-memory", "id": 12}
{"execute": "query-balloon", "id": 13}
{"execute": "balloon", "arguments": {"value": 201326592}, "id": 14}
{"execute": "qom-get", "arguments": {"path": $PATH_B, "property": "guest-stats"}, "id": 15}
{"execute": "qom-set", "arguments": {"path": $PATH_B, "property": "guest-stats-polling-interval", "value": 2}, "id": 16}
{"execute": "qom-get", "arguments": {"path": $PATH_B, "property": "guest-stats-polling-interval"}, "id": 17}
{"execute": "human-monitor-command", "arguments": {"command-line": "info balloon"}, "id": 18}
{"execute": "system_powerdown", "id": 19}
{"execute": "system_reset", "id": 20}
{"execute": "no-such-command", "id": 21}
{"execute": "balloon", "arguments": {"value": "x"}, "id": 22}
{"execute": "balloon", "arguments": {"value": 0}, "id": 23}
{"execute": "balloon", "id": 24}
{"execute": "balloon", "arguments": {"value": 1, "foo": 2}, "id": 25}
{"execute": "qom-get", "arguments": {"path": "/nope", "property": "guest-stats"}, "id": 26}
{"execute": "balloon", "arguments": {"value": 1099511627776}, "id": 27}
{"execute": "x-query-memvm-memory", "id": 28}
{"execute": "x-query-memvm-vcpus", "id": 31}
{"execute": "balloon", "arguments": {"value": 201326592}, "id": 29}
{"execute": "query-status", "id": {"nested": ["id", 1]}}
{"execute": "query-status", "id": "str"}
[1]
garbage
{"execute":
  "query-kvm", "id": 30}
EOF
head -1 "$T/conv.out" | jq -e '.QMP.version.qemu.major != null and (.QMP.capabilities | type == "array") and .QMP.version.package == "memvm-'"$(sed -nE 's/.*MEMVM_VERSION "([^"]+)".*/\1/p' vmm/lib/version.h)"'"' >/dev/null \
	&& pass "greeting has QEMU's shape" || fail "greeting has QEMU's shape" "$(head -1 "$T/conv.out")"
expect_error "command before negotiation" "$T/conv.out" 0 CommandNotFound "Expecting capabilities negotiation with 'qmp_capabilities'"
expect_json "qmp_capabilities" "$T/conv.out" 1 '.return == {}'
expect_error "second qmp_capabilities" "$T/conv.out" 2 CommandNotFound "Capabilities negotiation is already complete, command ignored"
expect_json "query-version" "$T/conv.out" 3 '.return.qemu.minor != null and (.return.package | startswith("memvm-"))'
expect_json "query-commands lists balloon and qom-get" "$T/conv.out" 4 '[.return[].name] | index("balloon") != null and index("qom-get") != null and index("x-query-memvm-memory") != null'
expect_json "query-status: running" "$T/conv.out" 5 '.return == {"status": "running", "singlestep": false, "running": true}'
expect_json "stop" "$T/conv.out" 6 '.return == {}'
expect_json "query-status after stop: paused" "$T/conv.out" 7 '.return.status == "paused" and .return.running == false'
expect_json "cont" "$T/conv.out" 8 '.return == {}'
stop_line=$(grep -n '"event": "STOP"' "$T/conv.out" | head -1 | cut -d: -f1)
stop_reply=$(grep -n '"id": 6}' "$T/conv.out" | head -1 | cut -d: -f1)
check "STOP event delivered before the stop reply" [ -n "$stop_line" ] && [ -n "$stop_reply" ] && [ "$stop_line" -lt "$stop_reply" ]
expect_match "RESUME event delivered after cont" '"event": "RESUME"' "$T/conv.out"
expect_match "events carry timestamps" '^\{"timestamp": \{"seconds": [0-9]+, "microseconds": [0-9]+\}, "event": "STOP"\}$' "$T/conv.out"
expect_json "query-kvm" "$T/conv.out" 9 '.return == {"enabled": true, "present": true}'
expect_json "query-cpus-fast: 2 vCPUs with host thread ids" "$T/conv.out" 10 '(.return | length) == 2 and (.return[0]["thread-id"] > 0) and .return[1]["cpu-index"] == 1'
expect_json "query-memory-size-summary" "$T/conv.out" 11 '.return == {"base-memory": 268435456, "plugged-memory": 0}'
expect_json "x-query-memvm-memory" "$T/conv.out" 12 '.return["ram-size"] == 268435456 and (.return.backing | type == "string") and (.return.rss | type == "number") and .return.balloon.actual == 268435456'
expect_json "query-balloon" "$T/conv.out" 13 '.return == {"actual": 268435456}'
expect_json "x-query-memvm-vcpus: time in KVM_RUN for both vCPUs, exits for the boot CPU" "$T/conv.out" 31 '(.return | length) == 2 and .return[0].exits > 0 and all(.return[]; .["run-ns"] > 0 and .["thread-id"] > 0)'
expect_json "balloon 192 MiB" "$T/conv.out" 14 '.return == {}'
expect_json "qom-get guest-stats" "$T/conv.out" 15 '(.return.stats | keys | length) == 10 and (.return.stats | has("stat-free-memory")) and (.return["last-update"] | type == "number")'
expect_json "qom-set guest-stats-polling-interval" "$T/conv.out" 16 '.return == {}'
expect_json "qom-get guest-stats-polling-interval" "$T/conv.out" 17 '.return == 2'
expect_json "human-monitor-command" "$T/conv.out" 18 '.return == "balloon: actual=256\r\n"'
expect_json "system_powerdown: done or a clear error" "$T/conv.out" 19 '.return == {} or (.error.class == "GenericError" and (.error.desc | length) > 10)'
expect_json "system_reset" "$T/conv.out" 20 '.return == {}'
expect_match "RESET event after system_reset" '"event": "RESET", "data": \{"guest": false, "reason": "host-qmp-system-reset"\}' "$T/conv.out"
expect_error "unknown command" "$T/conv.out" 21 CommandNotFound "The command no-such-command has not been found"
expect_error "wrong argument type" "$T/conv.out" 22 GenericError "Invalid parameter type for 'value', expected: integer"
expect_error "balloon to zero" "$T/conv.out" 23 GenericError "Parameter 'target' expects a size"
expect_error "missing argument" "$T/conv.out" 24 GenericError "Parameter 'value' is missing"
expect_error "unexpected argument" "$T/conv.out" 25 GenericError "Parameter 'foo' is unexpected"
expect_error "qom-get on a missing path" "$T/conv.out" 26 DeviceNotFound "Device '/nope' not found"
expect_json "balloon above RAM is accepted (capped)" "$T/conv.out" 27 '.return == {}'
expect_json "balloon above RAM: target capped at RAM" "$T/conv.out" 28 '.return.balloon.target == 268435456'
expect_json "id echoed: object" "$T/conv.out" '{"nested": ["id", 1]}' '.return.status == "running"'
expect_json "id echoed: string" "$T/conv.out" '"str"' '.return.status == "running"'
expect_match "non-object message" '^\{"error": \{"class": "GenericError", "desc": "QMP input must be a JSON object"\}\}$' "$T/conv.out"
expect_match "malformed JSON" '^\{"error": \{"class": "GenericError", "desc": "JSON parse error, .*"\}\}$' "$T/conv.out"
expect_json "a message may span lines" "$T/conv.out" 30 '.return.present == true'
kill -0 $MAIN 2>/dev/null && pass "memvm still running after the conversation" || fail "memvm still running after the conversation" "$(cat "$T/main.err")"

# ---- human monitor --------------------------------------------------------
{ for c in "info status" "stop" "info status" "cont" "info status" "info balloon" "balloon 160" \
	"balloon 0" "info memory" "info ksm" "foo" "help"; do echo "$c"; sleep 0.05; done; } | socat -t 5 - "UNIX-CONNECT:$H" >"$T/hmp.out"
tr -d '\r' <"$T/hmp.out" >"$T/hmp.txt"
# QEMU's transcript: its banner, the prompt, the input echoed, the output.
expect_eq "HMP greeting, as QEMU's" "QEMU 7.2.0 monitor - type 'help' for more information" "$(head -1 "$T/hmp.txt")"
expect_match "HMP lines end in CRLF" $'VM status: running\r$' "$T/hmp.out"
expect_eq "HMP: prompt, echo, output, as QEMU's" "(qemu) info status|VM status: running|(qemu) stop|(qemu) info status|VM status: paused|(qemu) cont" "$(sed -n 2,7p "$T/hmp.txt" | tr '\n' '|' | sed 's/|$//')"
expect_match "HMP info balloon (MiB)" "^balloon: actual=256$" "$T/hmp.txt"
expect_match "HMP balloon 0 error" "^Error: Parameter 'target' expects a size$" "$T/hmp.txt"
expect_match "HMP info memory" "guest RAM: 256 MiB \(" "$T/hmp.txt"
expect_match "HMP info memory shows the balloon target" "^balloon: target=160 MiB actual=256 MiB" "$T/hmp.txt"
expect_match "HMP info ksm" "^KSM: " "$T/hmp.txt"
expect_match "HMP unknown command" "^unknown command: 'foo'$" "$T/hmp.txt"
expect_match "HMP help" "^stop\|s  -- stop emulation$" "$T/hmp.txt"
echo "info status" | socat -t 5 - "UNIX-CONNECT:$H" | tr -d '\r' >"$T/hmp2.txt"
expect_match "HMP cont resumed the VM" "VM status: running" "$T/hmp2.txt"

# ---- memvm-ctl ------------------------------------------------------------
if [ -x "$CTL" ]; then
	out=$("$CTL" -s "$Q" status 2>&1); expect_eq "memvm-ctl status" "VM status: running" "$out"
	"$CTL" -s "$Q" stop && out=$("$CTL" -s "$Q" status 2>&1)
	expect_eq "memvm-ctl stop" "VM status: paused" "$out"
	"$CTL" -s "$Q" cont && out=$("$CTL" -s "$Q" status 2>&1)
	expect_eq "memvm-ctl cont" "VM status: running" "$out"
	"$CTL" -s "$Q" balloon 128M; rc=$?
	expect_eq "memvm-ctl balloon 128M exits 0" 0 "$rc"
	out=$(echo '{"execute":"qmp_capabilities"}{"execute":"x-query-memvm-memory","id":1}' | qmp "$Q" | jq -c 'select(.id == 1) | .return.balloon.target')
	expect_eq "memvm-ctl balloon sets the target" 134217728 "$out"
	"$CTL" -s "$Q" balloon 192; out=$(echo '{"execute":"qmp_capabilities"}{"execute":"x-query-memvm-memory","id":1}' | qmp "$Q" | jq -c 'select(.id == 1) | .return.balloon.target')
	expect_eq "memvm-ctl balloon: plain numbers are MiB" 201326592 "$out"
	out=$("$CTL" -s "$Q" info balloon 2>&1); expect_eq "memvm-ctl info balloon" "balloon: actual=256" "$out"
	"$CTL" -s "$Q" stats >"$T/stats.out" 2>&1; rc=$?
	expect_eq "memvm-ctl stats exits 0" 0 "$rc"
	expect_eq "memvm-ctl stats: ten statistics" 10 "$(grep -c '^stat-' "$T/stats.out")"
	expect_eq "memvm-ctl stats: never-sent statistics (QEMU's 2^64-1) read n/a" 10 "$(grep -c '^stat-[a-z-]*: n/a$' "$T/stats.out")"
	expect_match "memvm-ctl stats: last update" "^last-update: " "$T/stats.out"
	"$CTL" -s "$Q" watch -n 3 >"$T/watch.out" 2>&1 </dev/null; rc=$?
	expect_eq "memvm-ctl watch -n 3 exits 0" 0 "$rc"
	expect_eq "memvm-ctl watch -n 3 prints 3 updates" 3 "$(grep -cE '^target +[0-9.]+ [KMG]iB +actual +[0-9.]+ [KMG]iB +RSS' "$T/watch.out")"
	expect_match "memvm-ctl watch shows progress toward the target" "\[#*[ ]*\] +[0-9]+% inflating|at target" "$T/watch.out"
	"$CTL" -s "$Q" memory >"$T/mem.out" 2>&1
	expect_match "memvm-ctl memory" "^guest RAM: 256 MiB" "$T/mem.out"
	out=$("$CTL" -s "$Q" hmp info status 2>&1); expect_eq "memvm-ctl hmp" "VM status: running" "$out"
	out=$("$CTL" -s "$Q" stats-interval 99999999999 2>&1); rc=$?
	expect_eq "memvm-ctl: server error exits 1" 1 "$rc"
	expect_eq "memvm-ctl: server error text" "memvm-ctl: error: timer value is too big" "$out"
	out=$("$CTL" -s "$Q" balloon 0 2>&1); rc=$?
	check "memvm-ctl balloon 0 is refused" [ "$rc" -ne 0 ]
	out=$("$CTL" -s "$T/nope.sock" status 2>&1); rc=$?
	expect_eq "memvm-ctl: missing socket exits 1" 1 "$rc"
	expect_eq "memvm-ctl: missing socket message" 1 "$(grep -c "^memvm-ctl: error: cannot connect to $T/nope.sock: no such socket" <<<"$out")"
	# The idle payload has no balloon driver: --wait says so, status 1.
	"$CTL" -s "$Q" balloon 200M --wait=2 >"$T/wait.out" 2>&1; rc=$?
	expect_eq "memvm-ctl balloon --wait without a guest driver exits 1" 1 "$rc"
	expect_match "... naming the reason" "has no balloon driver running: actual stays 256 MiB \(target 200 MiB\)" "$T/wait.out"
	"$CTL" -s "$Q" balloon 256M >/dev/null 2>&1
	"$CTL" -s "$H" status >"$T/ctl-hmp.out" 2>&1; rc=$?
	check "memvm-ctl on the HMP socket fails clearly" [ "$rc" -eq 1 ] && expect_match "memvm-ctl on the HMP socket: message" "not a QMP socket" "$T/ctl-hmp.out"
else
	fail "memvm-ctl" "$CTL not built"
fi

# memvm-ctl's own input: a path that is not a socket, an absurd -t.
"$CTL" -s /etc/hostname info balloon >"$T/ctl-file.out" 2>&1; rc=$?
check "memvm-ctl on a regular file fails" [ "$rc" -eq 1 ]
expect_match "... saying it is not a socket" "^memvm-ctl: error: cannot connect to /etc/hostname: not a socket" "$T/ctl-file.out"
"$CTL" -t 99999999999 -s "$Q" info balloon >"$T/ctl-t.out" 2>&1; rc=$?
check "memvm-ctl -t out of range fails" [ "$rc" -eq 1 ]
expect_match "... with a clear message" "^memvm-ctl: error: -t 99999999999: expected a number of seconds from 1 to 86400" "$T/ctl-t.out"

# ---- bad input in bulk ----------------------------------------------------
before=$(echo '{"execute":"qmp_capabilities"}{"execute":"x-query-memvm-memory","id":1}' | qmp "$Q" | jq -c 'select(.id == 1) | .return.balloon.target')
gen_bad() {
	local i
	for ((i = 0; i < 600; i++)); do
		printf '{"execute": "stop", "arguments": {"x": %d}}\n' $i
		printf '[%d]\n"str %d"\n%d\n' $i $i $i
		printf '{"execute": "nope-%d"}\n' $i
		printf '{"execute": "balloon", "arguments": {"value": "%d"}}\n' $i
		printf '{"execute": "balloon", "arguments": {"value": -%d}}\n' $i
		printf '{"execute": %d}\n' $i
		printf '{"execute": "quit", "arguments": {"now": %d}}\n' $i
		printf '{"execute": "system_reset", "extra": %d}\n' $i
		printf '{"id": %d}\n' $i
		printf 'nul%d\n' $i
	done
}
{ gen_bad; echo '{"execute": "qmp_capabilities"}'; gen_bad; } >"$T/bad.in"
nbad=$(grep -c '' "$T/bad.in")
qmp "$Q" <"$T/bad.in" >"$T/bad.out"
# (An error carries its id first, a return last: QEMU's order.)
expect_eq "bulk bad input: one reply per message" "$nbad" "$(grep -c '^{"\(error\|return\|id\)"' "$T/bad.out")"
expect_eq "bulk bad input: all errors but the negotiation" "$((nbad - 1))" "$(grep -c '"error": {"class"' "$T/bad.out")"
expect_no_match "bulk bad input: no events (state unchanged)" '"event"' "$T/bad.out"
head -c 300000 /dev/urandom >"$T/random.in"
qmp "$Q" <"$T/random.in" >"$T/random.out" 2>/dev/null
check "random bytes: memvm still running" kill -0 $MAIN
# QEMU takes messages of several MiB; memvm up to 16 MiB.
{
	echo '{"execute": "qmp_capabilities"}'
	printf '{"execute": "query-status", "id": 1, "arguments": {"x": "'
	head -c 1048576 /dev/zero | tr '\0' 'x'
	echo '"}}'
	echo '{"execute": "query-status", "id": 2}'
} | qmp "$Q" >"$T/mib.out"
expect_error "1 MiB message: parsed (an argument error, not too large)" "$T/mib.out" 1 GenericError "Parameter 'x' is unexpected"
expect_json "1 MiB message: the session goes on" "$T/mib.out" 2 '.return.status == "running"'
# Over the limit: the error arrives even though the client is still writing.
head -c 17000000 /dev/zero | tr '\0' '[' | socat -t 5 - "UNIX-CONNECT:$Q" | tr -d '\r' >"$T/big.out"
expect_match "message over 16 MiB: error, then closed" '"desc": "JSON message too large \(limit 16 MiB\)' "$T/big.out"
head -c 70000 /dev/zero | tr '\0' 'x' | socat -t 5 - "UNIX-CONNECT:$H" | tr -d '\r' >"$T/bigh.out"
expect_match "HMP line over 64 KiB: error, then closed" "line too long" "$T/bigh.out"
after=$(echo '{"execute":"qmp_capabilities"}{"execute":"query-status","id":1}{"execute":"x-query-memvm-memory","id":2}' | qmp "$Q")
expect_eq "bulk bad input: VM still running" '"running"' "$(jq -c 'select(.id == 1) | .return.status' <<<"$after")"
expect_eq "bulk bad input: balloon target unchanged" "$before" "$(jq -c 'select(.id == 2) | .return.balloon.target' <<<"$after")"

# ---- 16 clients at once, and one that never reads ------------------------
yes '{"execute": "query-commands"}' | head -n 100000 | socat -u - "UNIX-CONNECT:$Q" 2>/dev/null &
NOREAD=$!
PIDS+=("$NOREAD")
CLIENTS=()
for i in $(seq 1 16); do
	{ if [ $((i % 2)) = 0 ]; then echo '{"execute": "qmp_capabilities"}'; fi
	  sleep 1.5; printf '{"execute": "query-status", "id": %d}\n' $i; } |
		socat -t 5 - "UNIX-CONNECT:$Q" | tr -d '\r' >"$T/c$i.out" &
	CLIENTS+=($!)
done
wait "${CLIENTS[@]}"
ok16=0
for i in $(seq 1 16); do
	if [ $((i % 2)) = 0 ]; then
		reply "$T/c$i.out" $i | jq -e '.return.status == "running"' >/dev/null && ok16=$((ok16 + 1))
	else
		reply "$T/c$i.out" $i | jq -e '.error.class == "CommandNotFound"' >/dev/null && ok16=$((ok16 + 1))
	fi
done
expect_eq "16 concurrent clients, each with its own negotiation state" 16 "$ok16"
t0=$(date +%s%N)
out=$(echo '{"execute":"qmp_capabilities"}{"execute":"query-status","id":1}' | qmp "$Q" | jq -c 'select(.id == 1) | .return.status')
t1=$(date +%s%N)
expect_eq "a client that never reads does not block others" '"running"' "$out"
check "  ... and the reply came within 2 s" [ $(((t1 - t0) / 1000000)) -lt 2000 ]
kill "$NOREAD" 2>/dev/null

# ---- SHUTDOWN on a signal, sockets removed at exit -----------------------
{ echo '{"execute": "qmp_capabilities"}'; sleep 20; } | socat -t 1 - "UNIX-CONNECT:$Q" | tr -d '\r' >"$T/listen.out" &
LISTEN=$!
sleep 0.5
kill -TERM $MAIN
wait $MAIN; rc=$?
wait $LISTEN
expect_eq "SIGTERM: memvm exits 0" 0 "$rc"
expect_match "SIGTERM: SHUTDOWN event with reason host-signal" '"event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-signal"\}' "$T/listen.out"
check "QMP socket removed at exit" [ ! -e "$Q" ]
check "HMP socket removed at exit" [ ! -e "$H" ]

# ---- stale socket replaced, live socket refused, quit --------------------
S=$T/s.sock
start_memvm dead -kernel "$IDLE" -qmp "unix:$S,server=on,wait=off"
wait_sock "$S" && kill -9 $MPID && wait $MPID 2>/dev/null
check "a killed memvm leaves its socket behind" [ -S "$S" ]
start_memvm fresh -kernel "$IDLE" -qmp "unix:$S,server=on,wait=off"
FRESH=$MPID
sleep 1
out=$(echo '{"execute":"qmp_capabilities"}{"execute":"query-status","id":1}' | qmp "$S" | jq -c 'select(.id == 1) | .return.status')
expect_eq "stale socket replaced: new memvm answers" '"running"' "$out"
timeout 10 "$MEMVM" -kernel "$IDLE" -qmp "unix:$S,server=on,wait=off" </dev/null >"$T/live.out" 2>"$T/live.err"; rc=$?
expect_eq "live socket refused: exit status 1" 1 "$rc"
expect_match "live socket refused: clear message" "^memvm: error: .*$S is in use by a running process" "$T/live.err"
expect_eq "live socket refused: one line" 1 "$(wc -l <"$T/live.err")"
out=$(echo '{"execute":"qmp_capabilities"}{"execute":"query-status","id":1}' | qmp "$S" | jq -c 'select(.id == 1) | .return.status')
expect_eq "live socket refused: the first memvm still answers" '"running"' "$out"
echo '{"execute":"qmp_capabilities"}{"execute":"quit","id":"q"}' | qmp "$S" >"$T/quit.out"
wait $FRESH; rc=$?
expect_eq "quit: memvm exits 0" 0 "$rc"
expect_match "quit: SHUTDOWN event host-qmp-quit" '"event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-qmp-quit"\}' "$T/quit.out"
expect_match "quit: reply delivered" '^\{"return": \{\}, "id": "q"\}$' "$T/quit.out"
check "quit: socket removed" [ ! -e "$S" ]

# ---- system_reset: a paused machine stays paused; -no-reboot ends it --------
R=$T/r.sock
start_memvm reset -smp 2 -kernel "$IDLE" -qmp "unix:$R,server=on,wait=off"
RPID=$MPID
wait_sock "$R"
# qret SOCK CMD-JSON: one command on a fresh connection, its "return".
qret() { printf '{"execute":"qmp_capabilities"}{"execute":%s,"id":1}' "$2" | qmp "$1" | jq -c 'select(.id == 1) | .return'; }
tid0=$(qret "$R" '"query-cpus-fast"' | jq '.[0]["thread-id"]')
printf '{"execute":"qmp_capabilities"}{"execute":"stop","id":1}{"execute":"system_reset","id":2}' | qmp "$R" >"$T/reset.out"
expect_match "stop, system_reset: RESET event" '"event": "RESET", "data": \{"guest": false, "reason": "host-qmp-system-reset"\}' "$T/reset.out"
# The reset is done when the vCPUs run on new threads.
i=0 tid=$tid0
while [ $i -lt 300 ] && { [ "$tid" = "$tid0" ] || [ -z "$tid" ] || [ "$tid" = null ]; }; do
	sleep 0.1; i=$((i + 1))
	tid=$(qret "$R" '"query-cpus-fast"' | jq '.[0]["thread-id"]')
done
check "stop, system_reset: the machine was reset (new vCPU threads)" [ -n "$tid" -a "$tid" != null -a "$tid" != "$tid0" ]
expect_eq "stop, system_reset: not resumed, in prelaunch as QEMU" '"prelaunch"' "$(qret "$R" '"query-status"' | jq -c .status)"
qret "$R" '"cont"' >/dev/null
expect_eq "... and cont runs it" '"running"' "$(qret "$R" '"query-status"' | jq -c .status)"
kill -TERM $RPID; wait $RPID 2>/dev/null

start_memvm noreboot -no-reboot -kernel "$IDLE" -qmp "unix:$R,server=on,wait=off"
NPID=$MPID
wait_sock "$R"
{ echo '{"execute":"qmp_capabilities"}'; echo '{"execute":"system_reset","id":1}'; sleep 1; } | qmp "$R" >"$T/noreboot.out"
wait $NPID; rc=$?
expect_eq "-no-reboot, system_reset: memvm exits 0" 0 "$rc"
expect_match "-no-reboot, system_reset: SHUTDOWN host-qmp-system-reset" '"event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-qmp-system-reset"\}' "$T/noreboot.out"
if grep -q '"event": "RESET"' "$T/noreboot.out"; then fail "-no-reboot, system_reset: no RESET event, as QEMU" "$(cat "$T/noreboot.out")"
else pass "-no-reboot, system_reset: no RESET event, as QEMU"; fi

# ---- BALLOON_CHANGE with a real guest driver ------------------------------
if have_guest; then
	G=$T/g.sock
	"$MEMVM" -m 256M -kernel "$VMLINUX" -initrd "$INIT_NOSYS" -append "$GUEST_APPEND" \
		-device virtio-balloon -qmp "unix:$G,server=on,wait=off" -serial "file:$T/guest.log" \
		</dev/null >"$T/guest.out" 2>"$T/guest.err" &
	GPID=$!
	PIDS+=("$GPID")
	eval "PID_guest=$GPID"
	if wait_guest_line guest "Run /init as init process"; then
		sleep 2
		{ echo '{"execute": "qmp_capabilities"}'; sleep 120; } | socat -t 1 - "UNIX-CONNECT:$G" >"$T/gev.out" &
		sleep 0.5
		"$CTL" -s "$G" balloon 128M
		i=0
		while [ $i -lt 1000 ] && ! grep -q '"actual": 134217728' "$T/gev.out"; do sleep 0.1; i=$((i + 1)); done
		expect_match "BALLOON_CHANGE event delivered" '"event": "BALLOON_CHANGE", "data": \{"actual": [0-9]+\}' "$T/gev.out"
		expect_match "BALLOON_CHANGE reaches the target" '"actual": 134217728\}' "$T/gev.out"
		n=$(grep -c BALLOON_CHANGE "$T/gev.out")
		first=$(grep -m1 -o '"seconds": [0-9]*' "$T/gev.out" | grep -o '[0-9]*$')
		last=$(grep BALLOON_CHANGE "$T/gev.out" | tail -1 | grep -o '"seconds": [0-9]*' | grep -o '[0-9]*$')
		check "BALLOON_CHANGE throttled to about one a second ($n events in $((last - first)) s)" \
			[ "$n" -le $((last - first + 2)) ]
		out=$("$CTL" -s "$G" info balloon)
		expect_eq "query-balloon after inflating" "balloon: actual=128" "$out"
	else
		fail "BALLOON_CHANGE with a guest" "guest did not boot: $(tail -3 "$T/guest.log" | tr '\n' '|')"
	fi
	kill -TERM "$GPID"; wait "$GPID" 2>/dev/null
else
	skip "BALLOON_CHANGE with a guest" "no guest images in $GUEST (make guest); the idle payload has no balloon driver"
fi

# ---- side by side with QEMU ------------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip "QEMU comparison" "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
	exit 0
fi
cat >"$T/same.in" <<'EOF'
{"execute": "query-status", "id": "before-negotiation"}
{"execute": "qmp_capabilities", "id": "negotiate"}
{"execute": "qmp_capabilities", "id": "negotiate-again"}
{"execute": "query-status", "id": "query-status"}
{"execute": "query-version", "id": "query-version"}
{"execute": "balloon", "arguments": {"value": 134217728}, "id": "balloon"}
{"execute": "query-balloon", "id": "query-balloon"}
{"execute": "balloon", "arguments": {"value": 0}, "id": "balloon-zero"}
{"execute": "balloon", "arguments": {"value": "x"}, "id": "balloon-type"}
{"execute": "balloon", "id": "balloon-missing"}
{"execute": "balloon", "arguments": {"value": 1, "foo": 1}, "id": "balloon-unexpected"}
{"execute": "no-such-command", "id": "unknown"}
{"execute": "query-status", "bogus": 1, "id": "bad-member"}
{"execute": "query-status", "arguments": [], "id": "bad-arguments"}
{"execute": "query-kvm", "id": "query-kvm"}
{"execute": "query-memory-size-summary", "id": "query-memory-size-summary"}
{"execute": "query-cpus-fast", "id": "query-cpus-fast"}
{"execute": "qom-get", "arguments": {"path": "/nope", "property": "guest-stats"}, "id": "qom-missing"}
{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "guest-stats"}, "id": "guest-stats"}
{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "guest-stats-polling-interval", "value": 2}, "id": "qom-set"}
{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "guest-stats-polling-interval"}, "id": "qom-get-interval"}
{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "guest-stats-polling-interval", "value": 4294967296}, "id": "qom-too-big"}
{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "nope"}, "id": "qom-no-property"}
{"execute": "human-monitor-command", "arguments": {"command-line": "info balloon"}, "id": "hmp"}
{"execute": "query-name", "id": "query-name"}
{"execute": "query-uuid", "id": "query-uuid"}
{"execute": "query-target", "id": "query-target"}
{"execute": "query-current-machine", "id": "query-current-machine"}
{"execute": "query-chardev", "id": "query-chardev"}
{"execute": "query-block", "id": "query-block"}
{"execute": "query-block-jobs", "id": "query-block-jobs"}
{"execute": "query-blockstats", "id": "query-blockstats"}
{"execute": "query-pci", "id": "query-pci"}
{"execute": "query-iothreads", "id": "query-iothreads"}
{"execute": "query-migrate", "id": "query-migrate"}
{"execute": "query-memdev", "id": "query-memdev"}
{"execute": "query-memory-devices", "id": "query-memory-devices"}
{"execute": "query-hotpluggable-cpus", "id": "query-hotpluggable-cpus"}
{"execute": "query-command-line-options", "arguments": {"option": "sandbox"}, "id": "query-command-line-options"}
{"execute": "query-command-line-options", "arguments": {"option": "nope"}, "id": "cl-options-unknown"}
{"execute": "query-commands", "id": "query-commands"}
{"execute": "query-qmp-schema", "id": "query-qmp-schema"}
{"execute": "query-machines", "id": "query-machines"}
{"execute": "qom-list", "arguments": {"path": "/"}, "id": "qom-list-root"}
{"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon"}, "id": "qom-list-anon"}
{"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon/device[0]"}, "id": "qom-list-balloon"}
{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "realized"}, "id": "qom-realized"}
{"execute": "qom-get", "arguments": {"path": "/machine", "property": "memory-backend"}, "id": "qom-memory-backend"}
{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "legacy-iothread"}, "id": "qom-unreadable"}
{"execute": "qom-get", "arguments": {"path": "device[0]", "property": "type"}, "id": "qom-ambiguous"}
{"execute": "qom-list", "arguments": {"path": "device[0]"}, "id": "qom-list-ambiguous"}
{"exec-oob": "query-status", "id": "exec-oob-unnegotiated"}
{"execute": "system_reset", "id": "reset-prelaunch"}
{"execute": "query-status", "id": "status-after-reset"}
[1]
{"execute":
}
garbage
{"execute": "cont", "id": "cont"}
{"execute": "stop", "id": "stop"}
{"execute": "quit", "id": "quit"}
EOF
QS=$T/qemu.sock
# QEMU's microvm: like memvm, virtio-mmio and no PCI, block or ACPI.
IDS=(-name tiny -uuid 12345678-1234-1234-1234-123456789abc)
qemu-system-x86_64 -enable-kvm -M microvm -S -display none -nodefaults -serial none -m 256M \
	-device virtio-balloon-device "${IDS[@]}" -monitor "unix:$T/qemu-hmp.sock,server=on,wait=off" \
	-qmp "unix:$QS,server=on,wait=off" </dev/null >"$T/qemu.log" 2>&1 &
QPID=$!
PIDS+=("$QPID")
MS=$T/memvm-cmp.sock
start_memvm cmp -S -m 256M -kernel "$IDLE" -device virtio-balloon -serial none "${IDS[@]}" \
	-monitor "unix:$T/memvm-hmp.sock,server=on,wait=off" -qmp "unix:$MS,server=on,wait=off"
CPID=$MPID
if ! wait_sock "$QS"; then
	skip "QEMU comparison" "QEMU did not start here: $(head -c 300 "$T/qemu.log" | tr '\n' '|')"
	exit 0
fi
wait_sock "$MS"
# HMP: the banner (but the version), and every output line, as QEMU's.
# QEMU's readline redraws the line at each byte with cursor escapes; memvm
# echoes what that renders to, so only the echo lines may differ.
hmp_transcript() {
	{ for c in "info status" "info name" "info uuid" "info balloon" "info kvm" "foo" "balloon 0"; do
		echo "$c"; sleep 0.1; done; } | socat -t 3 - "UNIX-CONNECT:$1" | tr -d '\r' |
		sed 's/\x1b\[[0-9]*[A-Z]//g; s/^QEMU [0-9.]* monitor/QEMU monitor/' | grep -v '^(qemu) '
}
wait_sock "$T/memvm-hmp.sock" 5
expect_eq "HMP: same banner and output as QEMU" "$(hmp_transcript "$T/qemu-hmp.sock")" "$(hmp_transcript "$T/memvm-hmp.sock")"
expect_eq "same greeting capabilities as QEMU" "$(qmp "$QS" </dev/null | head -1 | jq -c .QMP.capabilities)" "$(qmp "$MS" </dev/null | head -1 | jq -c .QMP.capabilities)"
qmp "$QS" <"$T/same.in" >"$T/qemu.out"
qmp "$MS" <"$T/same.in" >"$T/memvm.out"
# Both quit at the end of the conversation; QEMU is not waited for forever.
for _ in $(seq 100); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
kill -9 "$QPID" 2>/dev/null
wait "$QPID" 2>/dev/null
for _ in $(seq 200); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
kill -9 "$CPID" 2>/dev/null # a quit that went missing: status 137, not a hang
wait "$CPID"; rc=$?
expect_eq "QEMU comparison: memvm exits 0 on quit" 0 "$rc"

# oob, on a pair of its own: once a client that enabled oob hangs up with an
# in-band command pending, QEMU 7.2 answers no one after it.
cat >"$T/oob.in" <<'EOF'
{"execute": "qmp_capabilities", "arguments": {"enable": ["bogus"]}, "id": "oob-bogus"}
{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "oob-negotiate"}
{"exec-oob": "query-status", "id": "oob-status"}
{"exec-oob": "nosuch", "id": "oob-unknown"}
{"execute": "query-status", "id": "after-oob"}
EOF
QS2=$T/qemu-oob.sock MS2=$T/memvm-oob.sock
qemu-system-x86_64 -enable-kvm -M microvm -S -display none -nodefaults -serial none -m 64M \
	-qmp "unix:$QS2,server=on,wait=off" </dev/null >"$T/qemu-oob.log" 2>&1 &
QPID=$!
PIDS+=("$QPID")
start_memvm oob -S -m 64M -kernel "$IDLE" -serial none -qmp "unix:$MS2,server=on,wait=off"
wait_sock "$QS2"
wait_sock "$MS2"
qmp "$QS2" <"$T/oob.in" | sed -n 2,5p >"$T/qemu-oob.out"
qmp "$MS2" <"$T/oob.in" >"$T/memvm-oob.all"
sed -n 2,5p "$T/memvm-oob.all" >"$T/memvm-oob.out"
expect_eq "same as QEMU, byte for byte: oob negotiation and exec-oob" "$(cat "$T/qemu-oob.out")" "$(cat "$T/memvm-oob.out")"
expect_json "oob on: execute still works (memvm)" "$T/memvm-oob.all" '"after-oob"' '.return.status == "prelaunch"'
kill -9 "$QPID" 2>/dev/null
kill -TERM "$MPID"
wait "$MPID"
expect_eq "oob pair: memvm exits 0 on SIGTERM" 0 "$?"

# The structure of a message: keys and value types, recursively, with the
# error class, the event name and the id kept as values. query-machines
# (QEMU has dozens of machines), query-commands and query-qmp-schema
# (QEMU's whole API) are compared below by what they say of memvm's own.
SHAPE='def shape: if type == "object" then with_entries(.value |= shape)
	elif type == "array" then (if length > 0 then [.[0] | shape] else [] end)
	else type end;
	(if .id == "query-machines" or .id == "query-qmp-schema" or .id == "query-commands"
	 then .return = [] else . end) as $m
	| ($m | shape)
	| if $m.error then .error.class = $m.error.class else . end
	| if $m.event then .event = $m.event else . end
	| if $m.id then .id = $m.id else . end'
jq -cS "$SHAPE" "$T/qemu.out" >"$T/qemu.shape"
jq -cS "$SHAPE" "$T/memvm.out" >"$T/memvm.shape"
nq=$(wc -l <"$T/qemu.shape"); nm=$(wc -l <"$T/memvm.shape")
expect_eq "QEMU comparison: same number of messages" "$nq" "$nm"
expect_eq "same values as QEMU: guest-stats-polling-interval after qom-set" "$(reply "$T/qemu.out" '"qom-get-interval"' | jq -c .return)" "$(reply "$T/memvm.out" '"qom-get-interval"' | jq -c .return)"
i=0
while IFS= read -r q && IFS= read -r m <&3; do
	i=$((i + 1))
	label=$(jq -r 'if .QMP then "greeting" elif .event then "event " + .event
		elif .id then "reply to " + (.id | tostring) elif .error then "error " + .error.class
		else "reply" end' <<<"$m")
	if [ "$q" = "$m" ]; then pass "same as QEMU: message $i ($label)"
	else fail "same as QEMU: message $i ($label)" "QEMU $q vs memvm $m"; fi
done <"$T/qemu.shape" 3<"$T/memvm.shape"
# Values that must be QEMU's own.
for id in query-status query-name query-uuid query-target query-current-machine query-block query-block-jobs \
	query-blockstats query-pci query-iothreads query-migrate query-memory-devices \
	qom-list-root qom-list-anon qom-realized qom-memory-backend guest-stats status-after-reset; do
	expect_eq "same value as QEMU: $id" "$(reply "$T/qemu.out" "\"$id\"" | jq -cS .return)" "$(reply "$T/memvm.out" "\"$id\"" | jq -cS .return)"
done
expect_eq "same as QEMU: -S is prelaunch" '"prelaunch"' "$(reply "$T/memvm.out" '"query-status"' | jq -c .return.status)"
expect_eq "same as QEMU: the QMP version (major.minor) memvm implements" \
	"$(reply "$T/qemu.out" '"query-version"' | jq -c '[.return.qemu.major, .return.qemu.minor]')" \
	"$(reply "$T/memvm.out" '"query-version"' | jq -c '[.return.qemu.major, .return.qemu.minor]')"
expect_eq "same as QEMU: the RAM backend (query-memdev)" \
	"$(reply "$T/qemu.out" '"query-memdev"' | jq -cS .return)" \
	"$(reply "$T/memvm.out" '"query-memdev"' | jq -cS .return)"
# QEMU's balloon properties, all but parent_bus (memvm's transports are
# not QOM objects), with QEMU's types.
expect_eq "same as QEMU: the balloon's QOM properties" \
	"$(reply "$T/qemu.out" '"qom-list-balloon"' | jq -cS '.return | map(select(.name != "parent_bus")) | sort_by(.name)')" \
	"$(reply "$T/memvm.out" '"qom-list-balloon"' | jq -cS '.return | sort_by(.name)')"
expect_eq "same as QEMU: the microvm machine's entry in query-machines" \
	"$(reply "$T/qemu.out" '"query-machines"' | jq -cS '.return[] | select(.name == "microvm") | keys')" \
	"$(reply "$T/memvm.out" '"query-machines"' | jq -cS '.return[] | select(.name == "microvm") | del(.["is-default"]) | keys')"
expect_eq "query-machines: memvm's one machine is the default" true "$(reply "$T/memvm.out" '"query-machines"' | jq -c '.return[0]["is-default"]')"
# The schema describes what query-commands lists; QEMU has each of those
# commands too (memvm's x- ones aside).
expect_eq "query-qmp-schema: a command entry for every command listed" \
	"$(reply "$T/memvm.out" '"query-commands"' | jq -c '[.return[].name] | sort')" \
	"$(reply "$T/memvm.out" '"query-qmp-schema"' | jq -c '[.return[] | select(.["meta-type"] == "command") | .name] | sort')"
expect_eq "QEMU has every command memvm has (but memvm's x- ones)" "[]" \
	"$(jq -cn --argjson q "$(reply "$T/qemu.out" '"query-commands"' | jq -c '[.return[].name]')" \
		--argjson m "$(reply "$T/memvm.out" '"query-commands"' | jq -c '[.return[].name]')" \
		'$m - $q | map(select(startswith("x-") | not))')"
for id in before-negotiation negotiate-again balloon-zero balloon-type balloon-missing balloon-unexpected unknown bad-member bad-arguments qom-missing qom-too-big \
	query-hotpluggable-cpus cl-options-unknown qom-unreadable qom-ambiguous qom-list-ambiguous exec-oob-unnegotiated; do
	expect_eq "same error text as QEMU: $id" "$(reply "$T/qemu.out" "\"$id\"" | jq -c .error)" "$(reply "$T/memvm.out" "\"$id\"" | jq -c .error)"
done
