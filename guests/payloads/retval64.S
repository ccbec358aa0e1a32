/* 64-bit payload: returns 42 through isa-debug-exit (status 85). */
	.code64
	.globl _start
	.text
_start:
	lea msg(%rip), %rsi
	call puts
	mov $42, %al
	call exit_with

#include "lib64.inc"

	.section .rodata
msg:	.asciz "returning 42\n"
