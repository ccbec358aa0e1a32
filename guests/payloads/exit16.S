/* Real-mode payload that exits at its first instruction through
 * isa-debug-exit (status 1): measures launch-to-first-instruction. */
	.code16
	.globl _start
	.text
_start:
	xor %al, %al
	mov $0x501, %dx
	out %al, %dx
1:	hlt
	jmp 1b
