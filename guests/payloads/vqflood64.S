/* 64-bit payload: a hostile virtio driver that re-posts one buffer on
 * queue 0 of the first virtio-mmio device forever, keeping the avail
 * index just ahead of used: a balloon inflate buffer (one PFN) or a
 * 64 KiB virtio-rng buffer. memvm's monitor and signals must stay served.
 * Prints a dot every 256 buffers the device completed, to show it also
 * keeps serving the guest.
 * Exits with status (2 << 1) | 1 if the device asks for a reset. */
	.code64
	.globl _start
	.text
_start:
	call vio_setup
	cmp $4, %eax               /* virtio-rng: a device-writable buffer */
	jne 1f
	mov $0x410000, %rdi
	mov $0x10000, %esi
	mov $2, %edx
	jmp 2f
1:	mov $0x403000, %rdi        /* balloon: one le32 PFN (5 MiB) */
	movl $0x500, (%rdi)
	mov $4, %esi
	xor %edx, %edx
2:	call vio_desc0
	lea msg(%rip), %rsi
	call puts
	xor %r12d, %r12d
3:	mov VIO_STATUS(%rbx), %eax
	test $VIO_NEEDS_RESET, %eax
	jnz 5f
	mov $VQ_AVAIL, %rax
	movzwl 2(%rax), %ecx
	movzwl (VQ_USED + 2), %edx
	cmp %cx, %dx
	jne 3b                     /* one in flight: wait until used */
	inc %r12d
	test $0xff, %r12d
	jnz 4f
	mov $'.', %al
	call putc
4:	call vio_post0
	jmp 3b
5:	mov $2, %al
	jmp exit_with

#include "lib64.inc"
#include "virtio.inc"

	.section .rodata
msg:	.asciz "vqflood: flooding queue 0\n"
