/* Real-mode payload (ELF32, entry below 1 MiB): prints over the UART with
 * 16-bit code, then returns 0x2a through isa-debug-exit (status 85). */
	.code16
	.globl _start
	.text
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov $msg, %si
1:	lodsb
	test %al, %al
	jz 3f
	mov %al, %bl
2:	mov $0x3fd, %dx
	in %dx, %al
	test $0x20, %al
	jz 2b
	mov %bl, %al
	mov $0x3f8, %dx
	out %al, %dx
	jmp 1b
3:	mov $0x2a, %al
	mov $0x501, %dx
	out %al, %dx
4:	hlt
	jmp 4b

msg:	.asciz "Hello from real mode\n"
