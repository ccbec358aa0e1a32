#!/bin/bash
# The nested KVM host's set-up errors (guests/nested/host.sh): each is one
# line that names the problem and the fix, with status 125, and starts no QEMU.
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$TESTS_TMP
H=guests/nested/host.sh

# expect_nested_error NAME REGEX ENV... -- : runs `host.sh run -- true`.
expect_nested_error() {
	local name=$1 re=$2; shift 2
	env "$@" /bin/bash "$H" run -- true </dev/null >"$T/out" 2>"$T/err"
	local r=$?
	expect_eq "$name: exit status 125" 125 "$r"
	expect_match "$name: message" "$re" "$T/err"
	expect_eq "$name: one line" 1 "$(grep -vc '^nested: ' "$T/err")"
}

expect_nested_error "too little memory" \
	"^memvm: nested KVM host: needs [0-9]+ MiB of free memory, the machine has [0-9]+ MiB available: free memory or set MEMVM_NESTED_MEM" \
	MEMVM_NESTED_MEM=100000000

# A PATH with what host.sh needs before it looks for QEMU, and no QEMU.
mkdir -p "$T/bin"
for b in dirname mkdir awk; do ln -s "$(command -v $b)" "$T/bin/$b"; done
expect_nested_error "QEMU missing" \
	"^memvm: nested KVM host: qemu-system-x86_64 is missing: run 'make deps-nested' as root" \
	PATH="$T/bin"

# No network: an empty cache forces the kernel package's download.
if is_root && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
	# (a small host, so that the memory check passes even inside one)
	unshare -n env MEMVM_CACHE="$T/cache" MEMVM_NESTED_MEM=1024 /bin/bash "$H" run -- true </dev/null >"$T/out" 2>"$T/err"
	r=$?
	expect_eq "no network for the kernel package: exit status 125" 125 "$r"
	expect_match "no network for the kernel package: message" \
		"^memvm: nested KVM host: (cannot download linux-image-.*the nested host needs network access to Debian's archive once|cannot find Debian's kernel package)" "$T/err"
	expect_eq "no network for the kernel package: one error line" 1 "$(grep -c '^memvm: ' "$T/err")"
else
	fail "no network for the kernel package" "needs root and unshare -n"
fi
rm -rf "$T"
