/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to lib/ptrace_close*.c: what ptrace_close.c needs from the
 * architecture (ptrace_close_x86_64.c, ptrace_close_aarch64.c). Elsewhere
 * PTRACE_ARCH_SUPPORTED is 0 and ptrace_close_fd() is a stub returning
 * -EOPNOTSUPP.
 *
 * The hooks return 0 or a negative errno; -EOPNOTSUPP means a process mode
 * we cannot handle (32-bit, SME streaming). tid is a ptrace-stopped thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__x86_64__)

#include <sys/user.h>

#define PTRACE_ARCH_SUPPORTED 1
#define PTRACE_ARCH_SYSCALL_INSN_LEN 2
#define PTRACE_ARCH_INSN_ALIGN 1

struct ptrace_arch_state {
	struct user_regs_struct regs;
};

/* x86-64 keeps the vector state across syscalls: nothing more to save. */
struct ptrace_arch_extra {
	int unused;
};

#elif defined(__aarch64__)

#include <sys/ptrace.h>
#include <asm/ptrace.h>

#define PTRACE_ARCH_SUPPORTED 1
#define PTRACE_ARCH_SYSCALL_INSN_LEN 4
#define PTRACE_ARCH_INSN_ALIGN 4

struct ptrace_arch_state {
	struct user_pt_regs regs;
	int scno; /* pt_regs->syscallno, NT_ARM_SYSTEM_CALL; not in NT_PRSTATUS */
};

struct ptrace_arch_extra {
	void *sve; /* NT_ARM_SVE contents, or NULL when there is no live SVE state */
	size_t len;
};

#else

#define PTRACE_ARCH_SUPPORTED 0

#endif

#if PTRACE_ARCH_SUPPORTED

/* Most addresses ptrace_arch_pc_candidates() returns. */
#define PTRACE_ARCH_PC_CANDIDATES_MAX 2

/* The system call instruction, found at addresses aligned to PTRACE_ARCH_INSN_ALIGN. */
extern const uint8_t ptrace_arch_syscall_insn[PTRACE_ARCH_SYSCALL_INSN_LEN];

/* Reads the general registers (and what else is needed to restore them). */
int ptrace_arch_save(pid_t tid, struct ptrace_arch_state *s);
/* Writes back registers read by ptrace_arch_save(). */
int ptrace_arch_restore(pid_t tid, const struct ptrace_arch_state *s);

/* Where a syscall instruction may already be next to the saved PC; fills out[] and returns how many. */
size_t ptrace_arch_pc_candidates(const struct ptrace_arch_state *s,
				 uint64_t out[PTRACE_ARCH_PC_CANDIDATES_MAX]);

/* Sets the saved registers, with the PC on the syscall instruction at insn and the arguments of close(fd). */
int ptrace_arch_set_call(pid_t tid, const struct ptrace_arch_state *saved, uint64_t insn, int fd);

/* At the syscall-entry stop of call nr: makes it close(fd) whatever it was. May update *saved
 * so that the interrupted syscall's restart survives. */
int ptrace_arch_fix_entry(pid_t tid, uint64_t nr, int fd, struct ptrace_arch_state *saved);

/*
 * A thread our stop took out of a wait that Linux does not restart by itself
 * after a stop (signal(7): epoll_wait, epoll_pwait, epoll_pwait2 return EINTR
 * then, even with no signal handler): when the wait had no timeout, makes
 * its return value -ERESTARTNOHAND in *s, so that once the thread leaves
 * get_signal() the kernel restarts the call if no handler runs, and returns
 * EINTR if one does, as for any interrupted call. A wait with a timeout is
 * left as it is (a restart would wait its whole timeout again). Returns
 * whether *s changed (write it back with ptrace_arch_restore()). s must be
 * taken at a stop inside get_signal().
 */
bool ptrace_arch_restart_wait(struct ptrace_arch_state *s);
/* State a syscall does not preserve but a thread stopped in user space needs back. On success *x
 * must be released with ptrace_arch_free_extra(); on failure it is left empty (safe to free). */
int ptrace_arch_save_extra(pid_t tid, struct ptrace_arch_extra *x);
int ptrace_arch_restore_extra(pid_t tid, const struct ptrace_arch_extra *x);
/* Accepts a zeroed or already freed *x. */
void ptrace_arch_free_extra(struct ptrace_arch_extra *x);

#endif /* PTRACE_ARCH_SUPPORTED */
