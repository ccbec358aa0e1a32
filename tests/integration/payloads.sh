#!/bin/bash
# Integration tests: memvm on bare-metal payloads (guests/payloads), checking
# exact console output and exit statuses. Needs /dev/kvm.
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=$BUILD/payloads
T=$TESTS_TMP

require_kvm payloads

# run_payload NAME ARGS...: stdout to $T/NAME.out, stderr to $T/NAME.err.
run_payload() {
	local name=$1; shift
	timeout --signal=KILL 30 "$MEMVM" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}

run_payload hello -kernel "$P/hello64.elf"
expect_eq "64-bit payload prints over the UART" "Hello from a memvm 64-bit payload" "$(cat "$T/hello.out")"
expect_eq "power-off port exits 0" 0 "$rc"
expect_eq "clean power-off prints nothing on stderr" "" "$(cat "$T/hello.err")"

run_payload hello-smp -kernel "$P/hello64.elf" -smp 4
expect_eq "-smp 4: payload output" "Hello from a memvm 64-bit payload" "$(cat "$T/hello-smp.out")"
expect_eq "-smp 4: idle APs do not stop power-off" 0 "$rc"

run_payload retval -kernel "$P/retval64.elf" -device isa-debug-exit
expect_eq "isa-debug-exit returns (42 << 1) | 1" 85 "$rc"
expect_eq "retval payload output" "returning 42" "$(cat "$T/retval.out")"


run_payload real16 -kernel "$P/real16.elf" -device isa-debug-exit
expect_eq "real-mode payload prints" "Hello from real mode" "$(cat "$T/real16.out")"
expect_eq "real-mode payload returns 0x2a" 85 "$rc"

run_payload int3 -kernel "$P/int3.elf" -device isa-debug-exit
expect_eq "int3 in kernel mode: #BP handler runs, returns after int3" \
	"$(printf '#BP handler ran\nint3 returned to the next instruction')" "$(cat "$T/int3.out")"
expect_eq "int3 payload exit status" 7 "$rc"

run_payload fwait -kernel "$P/fwait64.elf" -device isa-debug-exit
expect_eq "fwait in kernel mode goes on to the next instruction" \
	"fwait went on to the next instruction" "$(cat "$T/fwait.out")"
expect_eq "fwait payload exit status" 7 "$rc"

run_payload triple -kernel "$P/triple.elf"
expect_eq "triple fault exits with the crash status" 2 "$rc"
expect_match "triple fault is reported" "triple fault" "$T/triple.err"
expect_match "crash dumps registers" "RIP=[0-9a-f]{16}" "$T/triple.err"
expect_match "crash dump shows control registers" "CR0=.*CR3=" "$T/triple.err"

run_payload reset -kernel "$P/reset64.elf" -no-reboot
expect_eq "i8042 reset with -no-reboot exits 0" 0 "$rc"
expect_eq "reset payload output" "requesting reset" "$(cat "$T/reset.out")"

# Without -no-reboot a reset restarts the guest (RAM cleared, payload reloaded).
"$MEMVM" -kernel "$P/reset64.elf" </dev/null >"$T/reboot.out" 2>"$T/reboot.err" &
pid=$!
wait_for_line "$T/reboot.out" "requesting reset" 20
sleep 1
kill -TERM $pid; wait $pid; rc=$?
n=$(grep -c "requesting reset" "$T/reboot.out")
check "reset without -no-reboot reboots the guest (ran $n times)" [ "$n" -ge 3 ]
expect_eq "rebooting guest stops cleanly on SIGTERM" 0 "$rc"

run_payload xsave -kernel "$P/xsave64.elf" -device isa-debug-exit
if [ -d /sys/module/kvm_pvm ] || ! grep -qwE "vmx|svm" /proc/cpuinfo; then
	expect_eq "unemulatable instruction exits with the emulation status" 6 "$rc"
	expect_match "emulation failure names RIP and CPL" "RIP=0*20001a \(CPL 0\)" "$T/xsave.err"
	expect_match "emulation failure prints the instruction bytes" ": 0f ae 27" "$T/xsave.err"
elif grep -qw xsave /proc/cpuinfo; then
	expect_eq "xsave runs on a hardware-virtualization host" 15 "$rc"
else
	# A CPU without XSAVE (the nested KVM host's, -cpu EPYC,+svm,-xsave):
	# the payload takes #UD, has no handler, and the guest triple-faults.
	expect_eq "xsave on a hardware-virtualization host whose CPU lacks XSAVE: #UD, guest crash status" 2 "$rc"
	expect_match "xsave without XSAVE: reported as a triple fault" "triple fault" "$T/xsave.err"
fi

printf 'hello world\n' | timeout --signal=KILL 30 "$MEMVM" -kernel "$P/echo64.elf" -device isa-debug-exit >"$T/echo.out" 2>"$T/echo.err"
rc=$?
expect_eq "serial input reaches the guest" "echo> HELLO WORLD" "$(cat "$T/echo.out")"
expect_eq "echo payload exit status" 33 "$rc"

run_payload serialfile -kernel "$P/hello64.elf" -serial "file:$T/console.log"
expect_eq "-serial file: writes the console to the file" "Hello from a memvm 64-bit payload" "$(cat "$T/console.log")"
expect_eq "-serial file: nothing on stdout" "" "$(cat "$T/serialfile.out")"

run_payload serialnone -kernel "$P/hello64.elf" -serial none
expect_eq "-serial none: no output" "" "$(cat "$T/serialnone.out")"
expect_eq "-serial none: still exits 0" 0 "$rc"

# Signals stop a running guest cleanly.
for sig in TERM INT; do
	"$MEMVM" -kernel "$P/idle64.elf" -smp 2 </dev/null >"$T/sig.out" 2>"$T/sig.err" &
	pid=$!
	wait_for_line "$T/sig.out" "idle payload running" 20
	kill -$sig $pid
	t0=$SECONDS
	wait $pid; rc=$?
	expect_eq "SIG$sig exits 0" 0 "$rc"
	check "SIG$sig stops memvm within 5 s" [ $((SECONDS - t0)) -le 5 ]
	expect_match "SIG$sig is reported" "terminating on signal" "$T/sig.err"
done

# A signal during set-up (here a long -mem-prealloc) stops memvm at once
# with status 1; the guest never starts.
"$MEMVM" -m 4G -mem-prealloc -machine prealloc-threads=1 -kernel "$P/hello64.elf" </dev/null \
	>"$T/pre.out" 2>"$T/pre.err" &
pid=$!
sleep 0.3
kill -TERM $pid
t0=$SECONDS
timeout 30 tail --pid=$pid -f /dev/null
kill -0 $pid 2>/dev/null && kill -KILL $pid
wait $pid; rc=$?
expect_eq "SIGTERM during -mem-prealloc: exit status 1" 1 "$rc"
check "... within 5 s" [ $((SECONDS - t0)) -le 5 ]
expect_match "... with a one-line reason" "^memvm: error: .*interrupted by a signal" "$T/pre.err"
check "... and the guest never ran" [ ! -s "$T/pre.out" ]

# A console nobody reads (memvm | less, a full pipe) cannot wedge memvm:
# stop, cont and SIGTERM still work. The reader here never reads.
FS=$T/flood.sock
mkfifo "$T/flood.pipe"
sleep 300 <"$T/flood.pipe" &
READER=$!
"$MEMVM" -kernel "$P/flood64.elf" -qmp "unix:$FS,server=on,wait=off" </dev/null >"$T/flood.pipe" 2>"$T/flood.err" &
pid=$!
i=0; while [ $i -lt 200 ] && [ ! -S "$FS" ]; do sleep 0.1; i=$((i + 1)); done
sleep 3 # long enough to fill a 64 KiB pipe many times over
t0=$SECONDS
out=$(printf '{"execute":"qmp_capabilities"}{"execute":"stop","id":1}{"execute":"query-status","id":2}{"execute":"cont","id":3}' |
	timeout 20 socat -t 5 - "UNIX-CONNECT:$FS" | jq -c 'select(.id == 2) | .return.status')
expect_eq "console not read: stop still pauses the guest" '"paused"' "$out"
check "... within 5 s" [ $((SECONDS - t0)) -le 5 ]
kill -TERM $pid
t0=$SECONDS
timeout 20 tail --pid=$pid -f /dev/null
check "console not read: SIGTERM stops memvm within 5 s" [ $((SECONDS - t0)) -le 5 ]
kill -0 $pid 2>/dev/null && kill -KILL $pid
wait $pid; rc=$?
expect_eq "console not read: SIGTERM exits 0" 0 "$rc"
kill $READER 2>/dev/null; wait $READER 2>/dev/null

# A guest that re-posts one buffer forever (avail kept just ahead of used)
# cannot starve the event loop: QMP answers, SIGTERM stops memvm, and the
# device goes on serving the guest (its dots).
for dev in virtio-rng virtio-balloon; do
	FS=$T/vq.sock
	"$MEMVM" -kernel "$P/vqflood64.elf" -device $dev -qmp "unix:$FS,server=on,wait=off" </dev/null >"$T/vq.out" 2>"$T/vq.err" &
	pid=$!
	wait_for_line "$T/vq.out" "vqflood: flooding" 30
	sleep 2
	d0=$(tr -cd . <"$T/vq.out" | wc -c)
	t0=$SECONDS
	out=$(printf '{"execute":"qmp_capabilities"}{"execute":"query-status","id":2}' |
		timeout 20 socat -t 5 - "UNIX-CONNECT:$FS" | jq -c 'select(.id == 2) | .return.status')
	expect_eq "$dev flooded by the guest: QMP still answers" '"running"' "$out"
	check "... within 5 s" [ $((SECONDS - t0)) -le 5 ]
	sleep 2
	d1=$(tr -cd . <"$T/vq.out" | wc -c)
	check "... while the device keeps completing buffers ($d0 -> $d1 x 256)" [ "$d1" -gt "$d0" ]
	kill -TERM $pid
	t0=$SECONDS
	timeout 20 tail --pid=$pid -f /dev/null
	check "$dev flooded: SIGTERM stops memvm within 5 s" [ $((SECONDS - t0)) -le 5 ]
	kill -0 $pid 2>/dev/null && kill -KILL $pid
	wait $pid; rc=$?
	expect_eq "$dev flooded: SIGTERM exits 0" 0 "$rc"
	[ "$rc" = 0 ] || echo "  memvm said: $(head -c 600 "$T/vq.err")"
	expect_no_match "$dev flooded: the device never failed" "device error|needs reset|NEEDS_RESET" "$T/vq.err"
done

# Ctrl-A x quits from a terminal, and the terminal mode is restored.
if command -v script >/dev/null; then
	( sleep 2; printf '\001x' ) | timeout --signal=KILL 30 script -qec "stty -g; $MEMVM -kernel $P/idle64.elf; echo rc=\$?; stty -g" /dev/null >"$T/ctrla.out" 2>&1
	expect_match "Ctrl-A x quits memvm with status 0" "^rc=0" "$T/ctrla.out"
	before=$(grep -E '^[0-9a-f]+:' "$T/ctrla.out" | head -1 | tr -d '\r')
	after=$(grep -E '^[0-9a-f]+:' "$T/ctrla.out" | tail -1 | tr -d '\r')
	check "terminal settings restored after Ctrl-A x" [ -n "$before" ] && expect_eq "terminal settings identical after exit" "$before" "$after"
else
	skip "Ctrl-A x" "script(1) is not installed"
fi

# Command-line and host errors: one line, exit status 1.
expect_cli_error() {
	local name=$1 re=$2; shift 2
	timeout 10 "$MEMVM" "$@" </dev/null >"$T/cli.out" 2>"$T/cli.err"
	local r=$?
	expect_eq "$name: exit status 1" 1 "$r"
	expect_match "$name: message" "$re" "$T/cli.err"
	expect_eq "$name: one line" 1 "$(wc -l <"$T/cli.err")"
}
expect_cli_error "unknown option" "^memvm: error: unknown option '-bogus'" -bogus
expect_cli_error "malformed -m" "^memvm: error: -m 12X: invalid size" -m 12X -kernel "$P/hello64.elf"
expect_cli_error "missing option argument" "-m needs an argument" -kernel "$P/hello64.elf" -m
expect_cli_error "-smp 0" "at least one vCPU" -smp 0 -kernel "$P/hello64.elf"
# 8-bit APIC ids: refused while parsing, before any memory is mapped.
expect_cli_error "-smp above the memvm limit" "^memvm: error: -smp 255: at most 254 vCPUs" -smp 255 -kernel "$P/hello64.elf"
expect_cli_error "-smp far above the memvm limit" "^memvm: error: -smp 5000: at most 254 vCPUs" -smp 5000 -kernel "$P/hello64.elf"
expect_cli_error "no kernel" "no guest to run" -m 64
# A FIFO where a file is needed is refused at once (it used to block forever).
mkfifo "$T/fifo"
expect_cli_error "-kernel FIFO refused" "^memvm: error: -kernel $T/fifo: .*is a device or pipe" -kernel "$T/fifo"
expect_cli_error "-serial file:FIFO refused" "^memvm: error: -serial file:$T/fifo: a pipe, socket or directory" \
	-serial "file:$T/fifo" -kernel "$P/hello64.elf"
expect_cli_error "dumpdtb=FIFO refused" "^memvm: error: dumpdtb=$T/fifo: not a regular file" -machine "dumpdtb=$T/fifo"
# Each -device virtio-rng is a device of its own; one balloon at most.
timeout 20 "$MEMVM" -m 64 -device virtio-rng -device virtio-rng -device virtio-rng -device virtio-balloon \
	-machine dumpdtb="$T/four.dtb" </dev/null >"$T/dtb.out" 2>"$T/dtb.err"
expect_eq "dumpdtb, 3 virtio-rng and a balloon: exit 0" 0 "$?"
expect_eq "... the device tree has 4 virtio-mmio devices" 4 "$(dtc -I dtb -O dts "$T/four.dtb" 2>/dev/null | grep -c 'virtio_mmio@')"
expect_cli_error "two balloons refused" "^memvm: error: -device virtio-balloon: Only one balloon device is supported" \
	-device virtio-balloon -device virtio-balloon -kernel "$P/hello64.elf"
expect_cli_error "missing kernel file" "-kernel $T/nope.elf: cannot open: No such file" -kernel "$T/nope.elf"
expect_cli_error "bad -serial" "-serial tcp:1: expected stdio" -serial tcp:1 -kernel "$P/hello64.elf"

# Bad kernels and boot inputs: one line, status 1, before any vCPU runs.
head -c 100 "$P/hello64.elf" >"$T/truncated.elf"
expect_cli_error "truncated kernel" "-kernel $T/truncated.elf: .*(truncated|too short|short)" -kernel "$T/truncated.elf"
printf 'just text\n' >"$T/text.bin"
expect_cli_error "non-kernel file" "-kernel $T/text.bin: .*not" -kernel "$T/text.bin"
: >"$T/empty.bin"
expect_cli_error "empty kernel file" "-kernel $T/empty.bin: " -kernel "$T/empty.bin"
truncate -s 100M "$T/big.initrd"
expect_cli_error "initrd larger than RAM" "-initrd $T/big.initrd: .*does not fit.*raise -m" -m 64M -kernel "$P/hello64.elf" -initrd "$T/big.initrd"
long=$(head -c 3000 /dev/zero | tr '\0' a)
expect_cli_error "command line over the kernel's limit" "command line is [0-9]+ bytes but .* accepts at most [0-9]+; shorten -append" -kernel "$P/hello64.elf" -append "$long"
expect_cli_error "initrd without kernel" "-initrd needs -kernel" -initrd "$T/big.initrd"

"$MEMVM" -version >"$T/ver.out" 2>&1; rc=$?
expect_eq "-version exits 0" 0 "$rc"
expect_match "-version prints the version" "^memvm version [0-9]+\.[0-9]+" "$T/ver.out"
"$MEMVM" -help >"$T/help.out" 2>&1; rc=$?
expect_eq "-help exits 0" 0 "$rc"
expect_match "-help lists -mem-prealloc" "-mem-prealloc" "$T/help.out"

if is_root && command -v unshare >/dev/null; then
	unshare -m sh -c "mount -t tmpfs none /dev && exec $MEMVM -kernel $P/hello64.elf" </dev/null >"$T/nokvm.out" 2>"$T/nokvm.err"
	rc=$?
	expect_eq "missing /dev/kvm: exit status 1" 1 "$rc"
	expect_match "missing /dev/kvm: clear message" "^memvm: error: /dev/kvm does not exist" "$T/nokvm.err"
	if command -v setpriv >/dev/null; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$MEMVM" -kernel "$P/hello64.elf" </dev/null >"$T/noperm.out" 2>"$T/noperm.err"
		rc=$?
		expect_eq "unreadable /dev/kvm: exit status 1" 1 "$rc"
		expect_match "unreadable /dev/kvm: clear message" "^memvm: error: /dev/kvm: permission denied" "$T/noperm.err"
	fi
else
	skip "missing /dev/kvm" "needs root and unshare"
fi
rm -rf "$T"
