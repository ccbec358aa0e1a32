#!/usr/bin/env bash
# Usage: build-host.sh FINAL_DIR KERNEL_DEB
# Builds the nested KVM host's boot files from Debian's own kernel package
# (unpacked, never installed) and busybox-static, in a temporary directory
# next to FINAL_DIR, renamed into place only on success:
#   vmlinuz            the package's kernel
#   initramfs.cpio     busybox, the modules below (in load order), /init
#   build-info.txt     what went in
# Called by guests/nested/host.sh.
set -euo pipefail
{

final=$1 deb=$2
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$final")
parent=$(dirname "$final")

say() { echo "nested: host: $*"; }

# What the host needs: KVM on AMD-V, the machine's root over 9p, and
# virtio-serial to forward the monitor sockets. Their dependencies are
# read from each module's depends= string (the .deb has no modules.dep).
WANT="kvm-amd 9p 9pnet_virtio virtio_pci virtio_console"

exec 9>"$parent/.$name.lock"
flock 9
[ -d "$final" ] && exit 0
rm -rf "$parent/.tmp-$name".*
tmp=$(mktemp -d "$parent/.tmp-$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$tmp/pkg"
kver=$(ls "$tmp/pkg/lib/modules")
mods=$tmp/pkg/lib/modules/$kver/kernel

declare -A path
while IFS= read -r f; do
	m=$(basename "$f" .ko)
	path[$m]=$f
	path[${m//-/_}]=$f
done < <(find "$mods" -name '*.ko')

order=()
declare -A seen
add() {
	local m=$1 f deps d
	f=${path[$m]:-}
	[ -n "$f" ] || { echo "nested: host: module $m not in $(basename "$deb")" >&2; exit 1; }
	m=$(basename "$f" .ko)
	[ -n "${seen[$m]:-}" ] && return 0
	seen[$m]=1
	deps=$(strings -a "$f" | sed -n 's/^depends=//p' | head -1)
	for d in ${deps//,/ }; do add "$d"; done
	order+=("$m")
}
for m in $WANT; do add "$m"; done
say "modules (load order): ${order[*]}"

root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules,tmp}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
for m in "${order[@]}"; do
	cp "${path[$m]}" "$root/lib/modules/$m.ko"
	echo "$m" >>"$root/lib/modules/order"
done
cp "$here/host-init.sh" "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$tmp/initramfs.cpio"

mkdir -p "$tmp/out"
mv "$tmp/initramfs.cpio" "$tmp/out/"
cp "$tmp/pkg/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
{
	echo "kernel-package: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
	echo "kernel-release: $kver"
	echo "busybox: $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null)"
	echo "modules: ${order[*]}"
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$tmp/out/build-info.txt"
mv -T "$tmp/out" "$final"
say "ready in $final ($kver)"
exit
}
