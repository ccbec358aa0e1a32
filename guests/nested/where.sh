# Sourced by tests/run.sh and guests/run.sh: where memvm's VMs run.
# vm_host prints "native" (this machine's /dev/kvm), "inside" (already in
# the nested KVM host) or "nested" (no usable /dev/kvm, or MEMVM_NESTED=1:
# boot the nested host, guests/nested/host.sh).
vm_host() {
	if [ "${MEMVM_NESTED:-}" = inside ]; then
		echo inside
	elif [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ "${MEMVM_NESTED:-0}" != 1 ]; then
		echo native
	else
		echo nested
	fi
}
