# Bare-metal test payloads: tiny ELF images assembled from source.
PAYLOAD_DIR := $(BUILD)/payloads
PAYLOADS64 := hello64 retval64 int3 fwait64 triple reset64 xsave64 echo64 idle64 flood64 vqflood64 vqhigh64 exits64
PAYLOADS16 := real16 exit16
PAYLOAD_BINS := $(PAYLOADS64:%=$(PAYLOAD_DIR)/%.elf) $(PAYLOADS16:%=$(PAYLOAD_DIR)/%.elf)

payloads: $(PAYLOAD_BINS)

$(PAYLOAD_DIR)/%.elf: guests/payloads/%.S guests/payloads/lib64.inc guests/payloads/virtio.inc
	@mkdir -p $(dir $@)
	$(CC) -c -nostdlib -ffreestanding -Iguests/payloads -o $(@:.elf=.o) $<
	ld -N --no-warn-rwx-segments -m elf_x86_64 -nostdlib -static -e _start -Ttext=0x200000 --section-start=.note.Xen=0x1ff000 -o $@ $(@:.elf=.o)

$(PAYLOADS16:%=$(PAYLOAD_DIR)/%.elf): $(PAYLOAD_DIR)/%.elf: guests/payloads/%.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -nostdlib -ffreestanding -o $(@:.elf=.o) $<
	ld -N --no-warn-rwx-segments -m elf_i386 -nostdlib -static -e _start -Ttext=0x7c00 -o $@ $(@:.elf=.o)
