/* 64-bit payload: installs a #BP handler, executes int3 in kernel mode and
 * checks the handler ran and returned to the next instruction. The host
 * emulator cannot run INT3; memvm must inject #BP itself. */
	.code64
	.globl _start
	.text
_start:
	/* IDT entry 3: 64-bit interrupt gate to bp_handler, selector 0x10. */
	lea bp_handler(%rip), %rax
	lea idt(%rip), %rdi
	mov %ax, 3*16(%rdi)            /* offset 15:0 */
	movw $0x10, 3*16+2(%rdi)       /* selector */
	movw $0x8e00, 3*16+4(%rdi)     /* present, DPL0, interrupt gate */
	shr $16, %rax
	mov %ax, 3*16+6(%rdi)          /* offset 31:16 */
	shr $16, %rax
	mov %eax, 3*16+8(%rdi)         /* offset 63:32 */
	lidt idtr(%rip)

	movq $0, hits(%rip)
	int3
after:
	/* The handler saw RIP == after (trap semantics) and counted once. */
	cmpq $1, hits(%rip)
	jne bad
	lea after(%rip), %rax
	cmp %rax, seen_rip(%rip)
	jne bad
	lea ok_msg(%rip), %rsi
	call puts
	mov $3, %al            /* status 7 */
	call exit_with
bad:
	lea bad_msg(%rip), %rsi
	call puts
	mov $1, %al            /* status 3 */
	call exit_with

bp_handler:
	incq hits(%rip)
	mov (%rsp), %rax       /* saved RIP */
	mov %rax, seen_rip(%rip)
	lea bp_msg(%rip), %rsi
	call puts
	iretq

#include "lib64.inc"

	.section .rodata
bp_msg:	.asciz "#BP handler ran\n"
ok_msg:	.asciz "int3 returned to the next instruction\n"
bad_msg: .asciz "int3 handling went wrong\n"

	.data
	.balign 16
idtr:	.word 256*16-1
	.quad idt
hits:	.quad 0
seen_rip: .quad 0

	.bss
	.balign 16
idt:	.skip 256*16
