/* 64-bit payload: posts one 64 KiB virtio-rng buffer at 62 MiB, memory the
 * guest never touched, and waits: exit status (1 << 1) | 1 when the device
 * filled it, (2 << 1) | 1 when the device reported an error instead (on
 * hugetlbfs with an empty pool memvm cannot back it). */
	.code64
	.globl _start
	.text
_start:
	call vio_setup
	mov $0x3e00000, %rdi
	mov $0x10000, %esi
	mov $2, %edx
	call vio_desc0
	call vio_post0
1:	mov VIO_STATUS(%rbx), %eax
	test $VIO_NEEDS_RESET, %eax
	jnz 2f
	movzwl (VQ_USED + 2), %edx
	test %edx, %edx
	jz 1b
	lea filled(%rip), %rsi
	call puts
	mov $1, %al
	jmp exit_with
2:	lea failed(%rip), %rsi
	call puts
	mov $2, %al
	jmp exit_with

#include "lib64.inc"
#include "virtio.inc"

	.section .rodata
filled:	.asciz "vqhigh: buffer filled\n"
failed:	.asciz "vqhigh: device error\n"
