#!/usr/bin/env bash
# The nested KVM host: QEMU's TCG emulates an AMD CPU with SVM and boots
# Debian's own 6.1 kernel, which loads kvm_amd; the outer machine's root is
# shared over 9p and chrooted into, so memvm, its tests and every tool run
# inside on a real /dev/kvm. Used where the machine has no usable /dev/kvm.
#
#   host.sh prepare          build (or find) the cached boot files; prints their folder
#   host.sh run [-i] [-f OUTER=INNER]... [--] CMD [ARG...]
#       runs CMD inside, in the current directory, with this environment's
#       PATH, BUILD, SAN, CI and MEMVM_* variables; exits with CMD's status
#       (125: a set-up error, with a one-line reason; 124: the host hung or
#       crashed, worth booting again).
#       -i  the console is this terminal (stdin/stdout), for `make run`
#       -f  forwards UNIX socket OUTER (created here) to INNER inside
#       Without -i, a host whose heartbeat stops for MEMVM_NESTED_STALL
#       seconds (default 90) is stopped: exit 124 (TCG's nested SVM can
#       lock the emulated CPUs up; see HOST-NOTES.md).
#
# The boot files live in ${MEMVM_CACHE:-/var/cache/memvm}/nested-<hash>/,
# the hash covering the kernel package's version, busybox-static's and this
# folder's scripts. MEMVM_NESTED_MEM (MiB, default 6144) sizes the host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${MEMVM_CACHE:-/var/cache/memvm}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || { cache=${XDG_CACHE_HOME:-$HOME/.cache}/memvm; mkdir -p "$cache"; }

die() { echo "memvm: nested KVM host: $*" >&2; exit 125; }

kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1-unsigned/p' | head -1
}

need_tools() {
	command -v qemu-system-x86_64 >/dev/null ||
		die "qemu-system-x86_64 is missing: run 'make deps-nested' as root (apt-get install qemu-system-x86)"
	[ -x /bin/busybox ] || die "/bin/busybox is missing: run 'make deps-nested' as root (apt-get install busybox-static)"
}

prepare() {
	need_tools
	local pkg ver
	pkg=$(kernel_package)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(kernel_package)
	fi
	if [ -n "$pkg" ]; then
		ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
	fi
	if [ -z "$pkg" ] || [ -z "${ver:-}" ]; then
		# Offline with a cached host: use the newest one.
		local d
		d=$(ls -1dt "$cache"/nested-* 2>/dev/null | grep -v '\.lock$' | head -1 || true)
		[ -n "$d" ] && { echo "$d"; return; }
		die "cannot find Debian's kernel package (linux-image-amd64): run 'apt-get update' with network access to Debian's archive"
	fi
	local hash dir
	hash=$({
		echo "$pkg=$ver"
		dpkg-query -W -f='${Version}\n' busybox-static 2>/dev/null
		cd "$here" && sha256sum build-host.sh host-init.sh
	} | sha256sum | cut -c1-16)
	dir=$cache/nested-$hash
	if [ ! -d "$dir" ]; then
		local dl
		dl=$(mktemp -d "$cache/.download.XXXXXX")
		echo "nested: fetching $pkg $ver (Debian's kernel, unpacked, not installed)" >&2
		if ! (cd "$dl" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$dl/err"); then
			local why
			why=$(grep -m1 '^E:' "$dl/err" || tail -1 "$dl/err")
			rm -rf "$dl"
			die "cannot download $pkg ($why): the nested host needs network access to Debian's archive once"
		fi
		bash "$here/build-host.sh" "$dir" "$dl"/*.deb >&2 || { rm -rf "$dl"; die "building the host's initramfs failed"; }
		rm -rf "$dl"
	fi
	echo "$dir"
}

run() {
	local interactive=0 fwd=()
	while [ $# -gt 0 ]; do
		case $1 in
		-i) interactive=1; shift ;;
		-f) fwd+=("$2"); shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[ $# -gt 0 ] || die "run: no command"
	need_tools
	local mem=${MEMVM_NESTED_MEM:-6144} avail
	avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
	[ "$avail" -ge $((mem + 512)) ] ||
		die "needs $((mem + 512)) MiB of free memory, the machine has $avail MiB available: free memory or set MEMVM_NESTED_MEM (MiB, at least 2048)"
	local dir
	dir=$(prepare)
	local top=$PWD out=${BUILD:-build}
	case $out in /*) ;; *) out=$top/$out ;; esac
	rd=$(mktemp -d "$out/.nested-run.XXXXXX" 2>/dev/null) ||
		{ mkdir -p "$out"; rd=$(mktemp -d "$out/.nested-run.XXXXXX"); }
	trap 'rm -rf "$rd"' EXIT
	# The script the host runs in its chroot: same directory, environment, command.
	{
		echo "#!/bin/bash"
		echo "cd $(printf '%q' "$top") || exit 126"
		echo "export MEMVM_NESTED=inside"
		local v
		for v in PATH HOME TERM BUILD SAN CI FUZZ_SECONDS $(compgen -e | grep -E '^(MEMVM_|TEST_)' || true); do
			[ -n "${!v+x}" ] && [ "$v" != MEMVM_NESTED ] && echo "export $v=$(printf '%q' "${!v}")"
		done
		local i=0 f
		for f in "${fwd[@]}"; do
			echo "relay_vport memvm.fwd$i $(printf '%q' "${f#*=}") &"
			i=$((i + 1))
		done
		printf '%q ' "$@"
		echo
	} >"$rd/body.sh"
	{
		cat "$here/relay.sh"
		cat "$rd/body.sh"
	} >"$rd/run.sh"
	local args=(-accel "tcg,thread=${MEMVM_NESTED_TCG_THREAD:-multi}" -cpu "${MEMVM_NESTED_CPU:-EPYC,+svm,-xsave}" -smp "${MEMVM_NESTED_CPUS:-2}" -m "$mem"
		-nodefaults -no-user-config -display none -no-reboot
		-kernel "$dir/vmlinuz" -initrd "$dir/initramfs.cpio"
		-append "console=ttyS0 ${MEMVM_NESTED_KARGS:-quiet} panic=-1 mitigations=off memvm.run=$rd/run.sh memvm.keep=$top"
		-virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap
		-chardev stdio,id=con,signal=off -serial chardev:con
		-chardev file,id=rc,path="$rd/rc" -serial chardev:rc)
	if [ ${#fwd[@]} -gt 0 ]; then
		args+=(-device virtio-serial-pci,id=vser)
		local i=0 f
		for f in "${fwd[@]}"; do
			rm -f "${f%%=*}"
			args+=(-chardev "socket,id=fwd$i,path=${f%%=*},server=on,wait=off"
				-device "virtserialport,bus=vser.0,chardev=fwd$i,name=memvm.fwd$i")
			i=$((i + 1))
		done
	fi
	local qrc=0
	if [ "$interactive" = 1 ]; then
		qemu-system-x86_64 "${args[@]}" 2>"$rd/qemu.err" || qrc=$?
	else
		qemu-system-x86_64 "${args[@]}" </dev/null 2>"$rd/qemu.err" &
		local qpid=$! stall=${MEMVM_NESTED_STALL:-90} last=-1 quiet=0 size
		while kill -0 "$qpid" 2>/dev/null; do
			sleep 2
			size=$(stat -c %s "$rd/rc" 2>/dev/null || echo 0)
			if [ "$size" != "$last" ]; then last=$size quiet=0; else quiet=$((quiet + 2)); fi
			if [ "$quiet" -ge "$stall" ]; then
				kill -KILL "$qpid" 2>/dev/null
				wait "$qpid" 2>/dev/null || true
				for f in "${fwd[@]}"; do rm -f "${f%%=*}"; done
				echo "memvm: nested KVM host: no heartbeat for ${stall} s: the emulated host locked up (TCG), stopped it" >&2
				exit 124
			fi
		done
		wait "$qpid" || qrc=$?
	fi
	for f in "${fwd[@]}"; do rm -f "${f%%=*}"; done
	local rc
	rc=$(sed -n 's/.*memvm-nested: exit \([0-9]*\).*/\1/p' "$rd/rc" 2>/dev/null | tail -1)
	if [ -z "$rc" ]; then
		echo "memvm: nested KVM host: stopped without a result (QEMU exit $qrc; a crash of the emulated host?) $(grep -v -i 'warning' "$rd/qemu.err" | head -3 | tr '\n' ' ')" >&2
		exit 124
	fi
	exit "$rc"
}

case ${1:-} in
prepare) prepare ;;
run) shift; run "$@" ;;
*) echo "usage: $0 prepare | run [-i] [-f OUTER=INNER]... [--] CMD [ARG...]" >&2; exit 2 ;;
esac
