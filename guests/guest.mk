# memvm tiny guest (included by the top-level Makefile).
#   make guest   leaves $(BUILD)/guest/{vmlinux,bzImage,init-nosys.cpio,init-busybox.cpio}
# The images are built once per input hash in ${MEMVM_CACHE:-/var/cache/memvm}
# (see guests/README.md); a warm run only checks hashes. Needs the packages
# of `make deps-guest`. MEMVM_GUEST_VERBOSE=1 shows the full kernel build.

.PHONY: guest
guest:
	@bash guests/build.sh $(BUILD)/guest
