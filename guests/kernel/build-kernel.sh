#!/usr/bin/env bash
# Usage: build-kernel.sh FINAL_DIR
# Builds the tiny guest kernel from Debian's linux-source-6.1 tarball with
# guests/kernel/memvm.config on top of tinyconfig, in a temporary directory
# next to FINAL_DIR, and renames the results into place only when everything
# succeeded: an interrupted build is never mistaken for a cached one.
# FINAL_DIR receives vmlinux, bzImage, config, System.map, gen_init_cpio and
# build-info.txt. Called by guests/build.sh.
#
# MEMVM_GUEST_VERBOSE=1 shows the kernel build's full output instead of a
# progress summary (the full log is kept in FINAL_DIR/build.log either way).
set -euo pipefail
# The body is one compound command, read in full before it runs, so editing
# this file during a (long) build cannot derail the running build.
{

final=$1
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$final")
parent=$(dirname "$final")
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
frag=$here/memvm.config
jobs=$(nproc)
kmake=(make ARCH=x86_64 KBUILD_BUILD_USER=memvm KBUILD_BUILD_HOST=memvm
	KBUILD_BUILD_TIMESTAMP="${KBUILD_BUILD_TIMESTAMP:-1970-01-01}")

say() { echo "guest: kernel: $*"; }

# Called from make: do not hand the top-level make's flags, variables
# (CC=..., V=...) or jobserver to the kernel build.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

if [ ! -r "$tarball" ]; then
	echo "guest: kernel: $tarball not found: run 'make deps-guest' (Debian package linux-source-6.1)" >&2
	exit 1
fi

missing=""
for t in make gcc flex bison bc xz; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
[ -f /usr/include/libelf.h ] || missing="$missing libelf-dev"
if [ -n "$missing" ]; then
	echo "guest: kernel: missing build tools:$missing; run 'make deps-guest'" >&2
	exit 1
fi

# One builder per hash; a second `make guest` waits and then reuses.
exec 9>"$parent/.$name.lock"
if ! flock -n 9; then
	say "another build of $name is running, waiting for it"
	flock 9
fi
[ -d "$final" ] && exit 0
rm -rf "$parent/.tmp-$name".* # left over by an interrupted build
tmp=$(mktemp -d "$parent/.tmp-$name.XXXXXX")
log=$tmp/build.log
failed() {
	local rc=$?
	if [ "$rc" -ne 0 ] && [ -f "$log" ]; then
		cp "$log" "$parent/$name.failed.log" 2>/dev/null || true
		echo "guest: kernel: build FAILED (rc $rc); last lines of the log" \
			"(full log: $parent/$name.failed.log):" >&2
		tail -n 30 "$log" >&2
	fi
	rm -rf "$tmp"
}
trap failed EXIT
start=$(date +%s)

# Runs a build step with its output in the log; MEMVM_GUEST_VERBOSE=1 also
# shows it. Otherwise, for the long compile step, prints a progress line
# every 100 objects and the kernel build's own lines for the final stages.
step() {
	if [ "${MEMVM_GUEST_VERBOSE:-0}" = 1 ]; then
		"$@" 2>&1 | tee -a "$log"
	else
		"$@" 2>&1 | tee -a "$log" | awk '
			/^  (CC|AS)  / { n++; if (n % 100 == 0) { printf "guest: kernel:   %d files compiled...\n", n; fflush() } }
			/^  LD      vmlinux$|^  KSYMS|^  SORTTAB|^  SYSMAP|^  LD      arch\/x86\/boot\/compressed\/vmlinux|^  BUILD   |is ready/ { print "guest: kernel: " $0; fflush() }
			/warning: override: / { next }
			/: (error|warning): |\*\*\* / { print; fflush() }'
	fi
}

say "extracting $(basename "$tarball") into $tmp"
tar -xf "$tarball" -C "$tmp"
src=$(echo "$tmp"/linux-source-*)
obj=$tmp/obj
mkdir -p "$obj"

say "configuring: tinyconfig + $(basename "$frag"), olddefconfig"
step "${kmake[@]}" -C "$src" O="$obj" tinyconfig
step "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$frag"
step "${kmake[@]}" -C "$src" O="$obj" olddefconfig
"$here/check-config.sh" "$frag" "$obj/.config" 2>&1 | tee -a "$log"

release=$("${kmake[@]}" -s -C "$src" O="$obj" kernelrelease)
say "compiling Linux $release with make -j$jobs (vmlinux, bzImage)"
step "${kmake[@]}" -C "$src" O="$obj" -j"$jobs" vmlinux bzImage

say "building usr/gen_init_cpio (for the initramfs images)"
out=$tmp/out
mkdir -p "$out"
gcc -O2 -o "$out/gen_init_cpio" "$src/usr/gen_init_cpio.c"

cp "$obj/vmlinux" "$out/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$obj/.config" "$out/config"
cp "$obj/System.map" "$out/System.map"
if ! readelf -nW "$out/vmlinux" | grep -q 'Xen.*0x00000012'; then
	echo "guest: kernel: vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)" >&2
	exit 1
fi
{
	echo "linux-release: $release"
	echo "linux-source: $(dpkg-query -W -f='${Package} ${Version}' linux-source-6.1 2>/dev/null || echo unknown) ($tarball)"
	echo "compiler: $(gcc --version | head -n1)"
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - start)) s"
	echo "vmlinux: $(stat -c %s "$out/vmlinux") bytes"
	echo "bzImage: $(stat -c %s "$out/bzImage") bytes"
	echo "pvh-entry: 0x$(readelf -nW "$out/vmlinux" | sed -n 's/.*(0x00000012).*description data: //p' |
		awk '{ for (i = NF; i >= 1; i--) printf "%s", $i; print "" }')"
} >"$out/build-info.txt"
cp "$log" "$out/build.log"
mv -T "$out" "$final"
rm -f "$parent/$name.failed.log"
say "done in $(($(date +%s) - start)) s: vmlinux $(stat -c %s "$final/vmlinux") bytes, bzImage $(stat -c %s "$final/bzImage") bytes"
exit
}
