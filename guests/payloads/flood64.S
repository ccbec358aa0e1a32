/* 64-bit payload: prints the same line on the UART forever. Used to test
 * that a console nobody reads cannot wedge memvm. */
	.code64
	.globl _start
	.text
_start:
1:	lea msg(%rip), %rsi
	call puts
	jmp 1b

#include "lib64.inc"

	.section .rodata
msg:	.asciz "flood payload: the quick brown fox jumps over the lazy dog 0123456789\n"
