/* 64-bit payload: asks for a reset through the i8042 (0xFE command). */
	.code64
	.globl _start
	.text
_start:
	lea msg(%rip), %rsi
	call puts
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b

#include "lib64.inc"

	.section .rodata
msg:	.asciz "requesting reset\n"
