/* 64-bit payload: runs FWAIT in kernel mode with no x87 exception pending,
 * as Linux does at every task exit (fpu__drop), and checks execution goes
 * on at the next instruction. The PVM host's emulator cannot run FWAIT;
 * memvm must do it for the guest. */
	.code64
	.globl _start
	.text
_start:
	fninit
	fwait
	lea ok_msg(%rip), %rsi
	call puts
	mov $3, %al            /* status 7 */
	call exit_with

#include "lib64.inc"

	.section .rodata
ok_msg:	.asciz "fwait went on to the next instruction\n"
