/* SPDX-License-Identifier: MIT */
/* ptrace_close_fd()'s architecture layer for arm64 (see ptrace_close-arch.h). */
#include "close/ptrace_close-arch.h"

#if defined(__aarch64__)

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <asm/ptrace.h>

#ifndef NT_ARM_SSVE
#define NT_ARM_SSVE 0x40b
#endif

const uint8_t ptrace_arch_syscall_insn[] = { 0x01, 0x00, 0x00, 0xd4 }; /* svc #0 */

static int regset(pid_t tid, int req, int type, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	if (ptrace(req, tid, (void *)(long)type, &iov) < 0)
		return -errno;
	/* A 32-bit (compat) tracee has a smaller NT_PRSTATUS. */
	return iov.iov_len == len ? 0 : -EOPNOTSUPP;
}

int ptrace_arch_save(pid_t tid, struct ptrace_arch_state *s)
{
	int r = regset(tid, PTRACE_GETREGSET, NT_PRSTATUS, &s->regs, sizeof(s->regs));

	if (r < 0)
		return r;
	return regset(tid, PTRACE_GETREGSET, NT_ARM_SYSTEM_CALL, &s->scno, sizeof(s->scno));
}

int ptrace_arch_restore(pid_t tid, const struct ptrace_arch_state *s)
{
	struct ptrace_arch_state c = *s;
	int r = regset(tid, PTRACE_SETREGSET, NT_PRSTATUS, &c.regs, sizeof(c.regs));

	if (r < 0)
		return r;
	return regset(tid, PTRACE_SETREGSET, NT_ARM_SYSTEM_CALL, &c.scno, sizeof(c.scno));
}

/*
 * arm64 prepares the restart before get_signal(): a tracee interrupted in a
 * restartable syscall stops with pc already on its svc (restart_addr) and
 * x0 = orig_x0. Using that very svc lets do_signal() still apply
 * ERESTART_RESTARTBLOCK (x8 = restart_syscall), which we notice at the entry
 * stop (ptrace_arch_fix_entry). Otherwise the svc just before pc.
 */
size_t ptrace_arch_pc_candidates(const struct ptrace_arch_state *s,
				 uint64_t out[PTRACE_ARCH_PC_CANDIDATES_MAX])
{
	out[0] = s->regs.pc;
	out[1] = s->regs.pc - 4;
	return 2;
}

/*
 * Not done here: arm64 takes its restart decision before get_signal(), and
 * by our stop x0 already holds -EINTR in place of the wait's first argument
 * (orig_x0 is not visible to ptrace), so the call cannot be set up again.
 * An epoll wait cut short by the stop returns EINTR, as after SIGSTOP and
 * SIGCONT (signal(7)).
 */
bool ptrace_arch_restart_wait(struct ptrace_arch_state *s)
{
	(void)s;
	return false;
}

int ptrace_arch_set_call(pid_t tid, const struct ptrace_arch_state *saved, uint64_t insn, int fd)
{
	struct ptrace_arch_state s = *saved;

	s.regs.pc = insn;
	s.regs.regs[8] = __NR_close;
	s.regs.regs[0] = (uint64_t)fd;
	s.scno = -1;
	return ptrace_arch_restore(tid, &s);
}

int ptrace_arch_fix_entry(pid_t tid, uint64_t nr, int fd, struct ptrace_arch_state *saved)
{
	struct ptrace_arch_state s;
	int r;

	if (nr == __NR_close)
		return 0;
	/* do_signal() rewrote x8 for the interrupted syscall's restart: keep
	 * that for when the tracee goes back to it. */
	if (nr == __NR_restart_syscall)
		saved->regs.regs[8] = __NR_restart_syscall;
	r = ptrace_arch_save(tid, &s);
	if (r < 0)
		return r;
	s.scno = __NR_close;
	s.regs.regs[0] = (uint64_t)fd;
	return ptrace_arch_restore(tid, &s);
}

/*
 * A syscall zeroes SVE state above the 128-bit V registers, and P0-15 and
 * FFR: a thread stopped in user space in the middle of SVE code gets it
 * back from here. SME streaming mode would be left by the syscall: refused.
 */
int ptrace_arch_save_extra(pid_t tid, struct ptrace_arch_extra *x)
{
	struct user_sve_header h = { 0 };
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };

	x->sve = NULL;
	x->len = 0;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SSVE, &iov) == 0 &&
	    iov.iov_len >= sizeof(h) && (h.flags & SVE_PT_REGS_MASK) == SVE_PT_REGS_SVE)
		return -EOPNOTSUPP;
	iov.iov_len = sizeof(h);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SVE, &iov) < 0 || iov.iov_len < sizeof(h) ||
	    (h.flags & SVE_PT_REGS_MASK) != SVE_PT_REGS_SVE || h.size < sizeof(h))
		return 0; /* no SVE, or only the FPSIMD part, which syscalls keep */
	x->sve = malloc(h.size);
	if (!x->sve)
		return -ENOMEM;
	iov = (struct iovec){ .iov_base = x->sve, .iov_len = h.size };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SVE, &iov) < 0) {
		int r = -errno;

		free(x->sve);
		x->sve = NULL;
		return r;
	}
	x->len = iov.iov_len;
	return 0;
}

int ptrace_arch_restore_extra(pid_t tid, const struct ptrace_arch_extra *x)
{
	struct iovec iov = { .iov_base = x->sve, .iov_len = x->len };

	if (!x->sve)
		return 0;
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SVE, &iov) < 0 ? -errno : 0;
}

void ptrace_arch_free_extra(struct ptrace_arch_extra *x)
{
	free(x->sve);
	x->sve = NULL;
}

#endif /* __aarch64__ */
