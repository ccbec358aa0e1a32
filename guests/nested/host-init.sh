#!/bin/sh
# /init of the nested KVM host (guests/nested/host.sh boots it under QEMU's
# TCG with an emulated AMD-V CPU). Loads KVM, mounts the outer machine's root
# over 9p, chroots into it and runs the script named by memvm.run= there,
# then prints "memvm-nested: exit N" and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "memvm-nested: $*" >/dev/ttyS0; }
run= keep= kvm_amd=
for a in $(cat /proc/cmdline); do
	case $a in
	memvm.run=*) run=${a#memvm.run=} ;;
	memvm.keep=*) keep=${a#memvm.keep=} ;;
	kvm_amd.*) kvm_amd="$kvm_amd ${a#kvm_amd.}" ;;
	esac
done
for m in $(cat /lib/modules/order); do
	p=
	[ "$m" = kvm-amd ] && p=$kvm_amd
	insmod "/lib/modules/$m.ko" $p || say "insmod $m failed"
done
result() { echo "memvm-nested: exit $1" >/dev/ttyS1; sync; echo 0 >/proc/sys/kernel/printk; poweroff -f; }
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /host; then
	say "cannot mount the outer machine's root over 9p"
	result 125
fi
# What the chroot needs of its own: sockets cannot be created on 9p, so
# /tmp, /run and /dev/shm are local tmpfs.
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
# The caller's directory (a clone in /tmp, say) stays the 9p one.
mkdir -p /keep
[ -n "$keep" ] && mount --bind "/host$keep" /keep
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
if [ -n "$keep" ] && [ ! -d "/host$keep" ]; then
	mkdir -p "/host$keep" && mount --move /keep "/host$keep"
fi
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup 2>/dev/null
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
ip link set lo up 2>/dev/null
if [ ! -e /dev/kvm ]; then
	say "/dev/kvm did not appear (kvm_amd: $(dmesg | grep -i kvm | tail -1))"
fi
# Only emergencies on the console: it carries the tests' output.
echo 1 >/proc/sys/kernel/printk
# A heartbeat on the result channel: host.sh stops a host that went silent.
( while :; do echo "memvm-nested: alive" >/dev/ttyS1; sleep 5; done ) &
rc=125
if [ -n "$run" ] && [ -f "/host$run" ]; then
	chroot /host /bin/bash "$run" </dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	say "no script to run (memvm.run=$run)"
fi
result $rc
