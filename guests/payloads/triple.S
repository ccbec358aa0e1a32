/* 64-bit payload: an exception with no usable IDT escalates to a triple
 * fault, which memvm reports as a crash. */
	.code64
	.globl _start
	.text
_start:
	lea msg(%rip), %rsi
	call puts
	lidt null_idtr(%rip)
	ud2

#include "lib64.inc"

	.section .rodata
msg:	.asciz "about to triple-fault\n"
	.balign 16
null_idtr: .word 0
	.quad 0
