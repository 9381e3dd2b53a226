/* SPDX-License-Identifier: MIT */
#pragma once

/* Closing an fd inside another process: make it call close(fd) itself. */

#include <stdint.h>
#include <sys/types.h>

/*
 * Seizes pid with ptrace, interrupts it at a safe point, checks that its fd
 * still refers to the socket with this inode (and cookie, when not 0), runs
 * close(fd) in it with saved registers, restores them and detaches.
 * Returns 0 when the tracee's close() succeeded, or: -EINVAL (pid is the
 * caller's own process), -EBUSY (already traced), -EPERM/-EACCES (not
 * allowed), -ESRCH (gone), -ESTALE (the fd no longer is that socket),
 * -EOPNOTSUPP (architecture not supported), -ETIMEDOUT (it did not stop
 * within 5 s; it stays seized until the caller exits), or the negative errno the
 * tracee's close() returned. *ret_detail (may be NULL) gets a short static
 * reason for the CLI.
 */
int ptrace_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail);
