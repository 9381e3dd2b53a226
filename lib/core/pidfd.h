/* SPDX-License-Identifier: MIT */
#pragma once

/* Our own reference to another process's fd, and checking what it is. */

#include <stdint.h>
#include <sys/types.h>

/* A copy of pid's fd (pidfd_getfd), or -errno (-EBADF: no such fd). */
int pidfd_fd_copy(pid_t pid, int fd);

/*
 * 0 when fd (ours) is the socket with this inode and, when cookie is not 0,
 * this SO_COOKIE; -ESTALE when it is something else; -errno when it cannot
 * be told.
 */
int socket_fd_identity_check(int fd, uint64_t inode, uint64_t cookie);
