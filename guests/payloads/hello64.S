/* 64-bit payload: prints a line over the UART and powers off (status 0). */
	.code64
	.globl _start
	.text
_start:
	lea msg(%rip), %rsi
	call puts
	call poweroff

#include "lib64.inc"

	.section .rodata
msg:	.asciz "Hello from a memvm 64-bit payload\n"
