#!/bin/sh
# /init of init-busybox.cpio (Debian's busybox-static). Needs a host where
# guest user space can make system calls (real VT-x/AMD-V): on the project's
# PVM hosts it dies at its first system call.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "MEMVM-BUSYBOX-READY $(uname -r) $(grep MemTotal /proc/meminfo)"
# memhog=MIB on the kernel command line (it reaches init's environment):
# hold that much memory from boot on (the KSM test's workload).
[ -n "${memhog:-}" ] && /bin/memhog "$memhog" hold &
# A shell on the console's real tty (job control), restarted if it exits.
while :; do
	setsid cttyhack sh -l
	sleep 1
done
