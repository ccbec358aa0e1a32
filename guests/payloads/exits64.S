/* 64-bit payload for the exit-cost benchmark: prints "exits: go", then
 * writes port 0x80 (no device: every write is an exit the VMM handles in
 * user space) 20000 times, prints "exits: done" and leaves through
 * isa-debug-exit (status 1). */
	.code64
	.globl _start
	.text
_start:
	lea go_msg(%rip), %rsi
	call puts
	mov $20000, %ecx
1:	out %al, $0x80
	dec %ecx
	jnz 1b
	lea done_msg(%rip), %rsi
	call puts
	xor %eax, %eax
	call exit_with

#include "lib64.inc"

	.section .rodata
go_msg:	.asciz "exits: go\n"
done_msg: .asciz "exits: done\n"
