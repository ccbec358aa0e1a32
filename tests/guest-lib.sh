# Helpers for end-to-end tests on the tiny Linux guest (sourced after lib.sh).
GUEST=${GUEST:-$BUILD/guest}
VMLINUX=$GUEST/vmlinux
INIT_NOSYS=$GUEST/init-nosys.cpio
INIT_BUSYBOX=$GUEST/init-busybox.cpio
# Boots reach init in tens of seconds on kernel-mode-emulating hosts.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
GUEST_APPEND="console=ttyS0 panic=-1"

have_guest() { [ -f "$VMLINUX" ] && [ -f "$INIT_NOSYS" ]; }

# Guest user space can make system calls only on hardware-virtualization hosts.
guest_syscalls_work() { ! { [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; }; }

# start_guest NAME ARGS...: starts memvm in the background with the console
# in $T/NAME.log; sets GUEST_PID.
start_guest() {
	local name=$1; shift
	"$MEMVM" "$@" -serial "file:$T/$name.log" </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	GUEST_PID=$!
	eval "PID_$name=$GUEST_PID"
}

# wait_guest_line NAME REGEX [SECONDS]: waits for a console line; fails
# early when memvm has exited.
wait_guest_line() {
	local name=$1 re=$2 t=${3:-$BOOT_TIMEOUT} pid
	eval "pid=\$PID_$name"
	local i=0
	while [ "$i" -lt $((t * 5)) ]; do
		grep -Eq -- "$re" "$T/$name.log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { grep -Eq -- "$re" "$T/$name.log" 2>/dev/null; return; }
		sleep 0.2; i=$((i + 1))
	done
	return 1
}

# stop_guest NAME: SIGTERM, wait, sets rc.
stop_guest() {
	local pid
	eval "pid=\$PID_$1"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"; rc=$?
}

# Seconds (kernel timestamp) of the first console line matching REGEX.
guest_time_of() {
	grep -Em1 -- "$2" "$T/$1.log" | sed -nE 's/^\[ *([0-9]+\.[0-9]+)\].*/\1/p'
}

# require_user_space NAME: KVM, the guest images, and a host whose guest
# user space can make system calls (the busybox guest); exits otherwise.
require_user_space() {
	require_kvm "$1"
	have_guest || { fail "$1" "no guest images in $GUEST: run 'make guest'"; exit 0; }
	if ! guest_syscalls_work; then
		skip "$1" "guest user space cannot make system calls on this host (KVM emulates guest kernel mode; see HOST-NOTES.md)"
		exit 0
	fi
}
