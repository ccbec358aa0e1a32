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
# busybox init from here on (still PID 1): a shell on the console's real
# tty (job control), restarted if it exits; and Ctrl-Alt-Del, which is how
# memvm's system_powerdown asks (init turns the kernel's immediate reboot
# off and takes it as SIGINT), shuts down in order: shutdown actions,
# processes ended, file systems synced, then a reboot, which memvm takes as
# the power-off it asked for (without ACPI the kernel cannot power off).
cat >/etc/inittab <<'EOF'
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/bin/busybox reboot
::shutdown:/bin/busybox echo MEMVM-SHUTDOWN: stopping
EOF
exec /bin/busybox init
