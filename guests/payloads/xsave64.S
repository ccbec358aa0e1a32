/* 64-bit payload: executes XSAVE in kernel mode. Hardware hosts run it
 * (status 15); hosts whose KVM emulates kernel mode cannot, and memvm must
 * report the instruction bytes and exit with its emulation status. */
	.code64
	.globl _start
	.text
_start:
	mov %cr4, %rax
	or $(1 << 18), %rax        /* OSXSAVE */
	mov %rax, %cr4
	mov $1, %eax
	xor %edx, %edx
	lea area(%rip), %rdi
	xsave (%rdi)
	lea msg(%rip), %rsi
	call puts
	mov $7, %al
	call exit_with

#include "lib64.inc"

	.section .rodata
msg:	.asciz "xsave ran\n"
	.bss
	.balign 64
area:	.skip 4096
