/* SPDX-License-Identifier: MIT */
/* ptrace_close_fd()'s architecture layer for x86-64 (see ptrace_close-arch.h). */
#include "close/ptrace_close-arch.h"

#if defined(__x86_64__)

#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

const uint8_t ptrace_arch_syscall_insn[] = { 0x0f, 0x05 }; /* syscall */

int ptrace_arch_save(pid_t tid, struct ptrace_arch_state *s)
{
	if (ptrace(PTRACE_GETREGS, tid, NULL, &s->regs) < 0)
		return -errno;
	/* A 32-bit process would need the i386 numbers and int 0x80. */
	return s->regs.cs == 0x33 ? 0 : -EOPNOTSUPP;
}

int ptrace_arch_restore(pid_t tid, const struct ptrace_arch_state *s)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, &s->regs) < 0 ? -errno : 0;
}

/* Where a syscall instruction may already be: just before the PC, when the
 * tracee stopped on the way out of one (rip is then past it; the restart
 * rewind happens only after get_signal()). */
size_t ptrace_arch_pc_candidates(const struct ptrace_arch_state *s,
				 uint64_t out[PTRACE_ARCH_PC_CANDIDATES_MAX])
{
	out[0] = s->regs.rip - 2;
	return 1;
}

/* orig_rax = -1 keeps the restart logic that runs when the tracee leaves
 * this stop away from our call (rax = __NR_close is no -ERESTART* code
 * either, so this is belt and braces). */
int ptrace_arch_set_call(pid_t tid, const struct ptrace_arch_state *saved, uint64_t insn, int fd)
{
	struct ptrace_arch_state s = *saved;

	s.regs.rip = insn;
	s.regs.rax = __NR_close;
	s.regs.orig_rax = (unsigned long long)-1;
	s.regs.rdi = (unsigned long long)fd;
	return ptrace_arch_restore(tid, &s);
}

int ptrace_arch_fix_entry(pid_t tid, uint64_t nr, int fd, struct ptrace_arch_state *saved)
{
	struct ptrace_arch_state s;
	int r;

	(void)saved;
	if (nr == __NR_close)
		return 0;
	r = ptrace_arch_save(tid, &s);
	if (r < 0)
		return r;
	s.regs.orig_rax = __NR_close;
	s.regs.rdi = (unsigned long long)fd;
	return ptrace_arch_restore(tid, &s);
}

/* The kernel's own code for "restart unless a handler runs" (include/linux/errno.h). */
#define ERESTARTNOHAND 514

bool ptrace_arch_restart_wait(struct ptrace_arch_state *s)
{
	struct user_regs_struct *r = &s->regs;
	bool no_timeout;

	if ((long long)r->rax != -EINTR)
		return false;
	switch ((long long)r->orig_rax) {
	case __NR_epoll_wait:
	case __NR_epoll_pwait:
		no_timeout = (int)r->r10 < 0; /* any negative timeout: wait forever */
		break;
#ifdef __NR_epoll_pwait2
	case __NR_epoll_pwait2:
		no_timeout = r->r10 == 0; /* a NULL struct timespec */
		break;
#endif
	default:
		return false;
	}
	if (!no_timeout)
		return false;
	r->rax = (unsigned long long)-ERESTARTNOHAND;
	return true;
}

/* Nothing beyond the general registers: see struct ptrace_arch_extra. */
int ptrace_arch_save_extra(pid_t tid, struct ptrace_arch_extra *x)
{
	(void)tid;
	(void)x;
	return 0;
}

int ptrace_arch_restore_extra(pid_t tid, const struct ptrace_arch_extra *x)
{
	(void)tid;
	(void)x;
	return 0;
}

void ptrace_arch_free_extra(struct ptrace_arch_extra *x)
{
	(void)x;
}

#endif /* __x86_64__ */
