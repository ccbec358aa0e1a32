/* 64-bit payload: prints a line, then halts forever with interrupts off.
 * Used to test that signals, Ctrl-A x and the monitor stop memvm. */
	.code64
	.globl _start
	.text
_start:
	lea msg(%rip), %rsi
	call puts
	cli
1:	hlt
	jmp 1b

#include "lib64.inc"

	.section .rodata
msg:	.asciz "idle payload running\n"
