#!/usr/bin/env bash
# Usage: build.sh OUT_DIR        (normally through `make guest`)
# Makes OUT_DIR/{vmlinux,bzImage,init-nosys.cpio,init-busybox.cpio}: copies
# of images kept in a cache outside the work tree, ${MEMVM_CACHE:-/var/cache/memvm}:
#   guest-<khash>/       kernel; khash covers memvm.config, the kernel build
#                        scripts, the linux-source-6.1 version and the compiler
#   guest-init-<ihash>/  initramfs images; ihash covers guests/init/*, the
#                        busybox-static and linux-source-6.1 versions and
#                        the compiler
# A missing entry is built (minutes for the kernel); a present one is reused,
# so a warm `make guest` only hashes a few files and compares a stamp.
set -euo pipefail
# The body is one compound command, read in full before it runs, so editing
# this file during a (long) build cannot derail the running build.
{

out=$1
here=$(cd "$(dirname "$0")" && pwd)

cache=${MEMVM_CACHE:-/var/cache/memvm}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
	fallback=${XDG_CACHE_HOME:-$HOME/.cache}/memvm
	echo "guest: $cache is not writable, using $fallback (set MEMVM_CACHE to choose)" >&2
	cache=$fallback
	mkdir -p "$cache"
fi

pkgver() { dpkg-query -W -f='${Package}=${Version}\n' "$1" 2>/dev/null || echo "$1=missing"; }
cc_id=$(gcc --version 2>/dev/null | head -n1)

khash=$({
	pkgver linux-source-6.1
	echo "$cc_id"
	cd "$here/kernel" && sha256sum memvm.config build-kernel.sh check-config.sh
} | sha256sum | cut -c1-16)
kdir=$cache/guest-$khash

ihash=$({
	pkgver linux-source-6.1 # gen_init_cpio comes from its tree
	pkgver busybox-static
	echo "$cc_id"
	cd "$here/init" && sha256sum nosys.c memhog.c busybox-init.sh build-initramfs.sh
} | sha256sum | cut -c1-16)
idir=$cache/guest-init-$ihash

stamp="$kdir $idir"
images=(vmlinux bzImage init-nosys.cpio init-busybox.cpio)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && [ -d "$kdir" ] && [ -d "$idir" ]; then
	ok=1
	for f in "${images[@]}"; do [ -f "$out/$f" ] || ok=0; done
	if [ "$ok" = 1 ]; then
		echo "guest: up to date ($kdir)"
		exit 0
	fi
fi

if [ -d "$kdir" ]; then
	echo "guest: kernel cached in $kdir"
else
	echo "guest: building kernel into $kdir (takes minutes; progress below)"
	bash "$here/kernel/build-kernel.sh" "$kdir"
fi
if [ -d "$idir" ]; then
	echo "guest: initramfs cached in $idir"
else
	bash "$here/init/build-initramfs.sh" "$idir" "$kdir/gen_init_cpio"
fi

# Copies, not symlinks: the work tree stays usable if the cache is wiped.
mkdir -p "$out"
rm -f "$out/.stamp"
for f in vmlinux bzImage; do
	cp -f "$kdir/$f" "$out/.$f.tmp" && mv -f "$out/.$f.tmp" "$out/$f"
done
for f in init-nosys.cpio init-busybox.cpio; do
	cp -f "$idir/$f" "$out/.$f.tmp" && mv -f "$out/.$f.tmp" "$out/$f"
done
echo "$stamp" >"$out/.stamp"
for f in "${images[@]}"; do
	printf 'guest: %-28s %9d bytes\n' "$out/$f" "$(stat -c %s "$out/$f")"
done
exit
}
