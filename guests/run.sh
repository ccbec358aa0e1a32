#!/usr/bin/env bash
# `make run`: boots configs/tiny.ini, the tiny guest with a balloon, an rng
# and both monitors, the serial console on this terminal (Ctrl-A x quits);
# the options here only say where this build and this host put things. On a machine without
# a usable /dev/kvm it boots inside the nested KVM host (guests/nested/), with
# the monitor sockets forwarded, so $BUILD/qmp.sock and $BUILD/monitor.sock
# work from here exactly as on a native run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
. tests/guest-lib.sh # INIT_*, guest_syscalls_work

. guests/nested/where.sh # vm_host

args=(-readconfig configs/tiny.ini -kernel "$BUILD/guest/vmlinux")

where=$(vm_host)
if [ "$where" != nested ]; then
	sock=$BUILD
	[ "$where" = inside ] && sock=/run/memvm && mkdir -p "$sock"
	# The busybox shell wherever guest user space can make system calls; the
	# syscall-free init on hosts whose KVM emulates guest kernel mode.
	init=$INIT_NOSYS
	guest_syscalls_work && init=$INIT_BUSYBOX
	exec "$BUILD/memvm" "${args[@]}" -initrd "$init" \
		-qmp "unix:$sock/qmp.sock,server=on,wait=off" \
		-monitor "unix:$sock/monitor.sock,server=on,wait=off"
fi

echo "memvm: no usable /dev/kvm here: booting inside a nested KVM host (QEMU's TCG emulating AMD-V), so boot and guest run far slower than on native KVM"
exec bash guests/nested/host.sh run -i \
	-f "$PWD/$BUILD/qmp.sock=/run/memvm/qmp.sock" \
	-f "$PWD/$BUILD/monitor.sock=/run/memvm/monitor.sock" \
	-- bash guests/run.sh
