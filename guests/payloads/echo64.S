/* 64-bit payload: echoes UART input in upper case until a newline, then
 * returns 0x10 through isa-debug-exit (status 33). Tests serial input. */
	.code64
	.globl _start
	.text
_start:
	lea prompt(%rip), %rsi
	call puts
1:	mov $COM1_LSR, %dx
	in %dx, %al
	test $0x01, %al            /* data ready */
	jz 1b
	mov $COM1, %dx
	in %dx, %al
	cmp $'\n', %al
	je 3f
	cmp $'\r', %al
	je 3f
	cmp $'a', %al
	jb 2f
	cmp $'z', %al
	ja 2f
	sub $0x20, %al
2:	call putc
	jmp 1b
3:	mov $'\n', %al
	call putc
	mov $0x10, %al
	call exit_with

#include "lib64.inc"

	.section .rodata
prompt:	.asciz "echo> "
