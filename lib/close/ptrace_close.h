/* SPDX-License-Identifier: MIT */
#pragma once

/* Closing an fd inside another process: make it call close(fd) itself. */

#include <stdint.h>
#include <sys/types.h>

/*
 * Seizes pid with ptrace, interrupts it at a safe point, checks that its fd
 * still refers to the socket with this inode (and cookie, when not 0) and
 * that closing it would not wait for the peer, runs close(fd) in it with
 * saved registers, restores them and detaches.
 *
 * Once the tracee's registers and signal mask are changed, they are restored
 * before this returns, whatever happens: a close() still blocked 5 s after it
 * started, or when SIGINT, SIGTERM, SIGHUP or SIGQUIT is pending for the
 * caller, is interrupted (PTRACE_INTERRUPT) and then waited for. Those
 * signals and SIGTSTP are blocked in the calling thread while the process is
 * held, so they take effect only after; they stay pending for the caller.
 *
 * Returns 0 when the fd was released (close() in Linux releases it even when
 * it is interrupted or fails), or: -EINVAL (pid is the caller's own process),
 * -EBUSY (already traced), -EPERM/-EACCES (not allowed), -ESRCH (gone, also
 * when it died during the close), -ESTALE (the fd no longer is that socket),
 * -EAGAIN (SO_LINGER with data the peer has not acknowledged: close() would
 * block the process; not touched), -EINTR (an ending signal was pending
 * before close() ran: not touched), -EOPNOTSUPP (architecture not supported),
 * -ETIMEDOUT (it did not stop within 5 s; its registers were not touched, it
 * stays seized until the caller exits), or the negative errno the tracee's
 * close() returned when the fd is still open. *ret_detail (may be NULL) gets
 * a short static sentence for the CLI, which says how the fd was closed.
 */
int ptrace_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail);
