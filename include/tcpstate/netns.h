/* SPDX-License-Identifier: MIT */
#pragma once

/* What users type after --netns, and the one set of rules that reads it. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpstate/socket.h"

/*
 * The forms of a --netns argument, tried in this order:
 *   - a spec with a '/' is a PATH to a namespace file (/proc/PID/ns/net, a
 *     bind mount such as /run/netns/NAME);
 *   - otherwise a NAME in /run/netns, when that entry exists, even when the
 *     name is made of digits (`ip netns add 15475`): a name wins over a pid;
 *   - otherwise digits are a PID, whose /proc/PID/ns/net is opened.
 */
enum ts_netns_form {
	TS_NETNS_FORM_OWN,  /* no argument: the caller's namespace */
	TS_NETNS_FORM_NAME,
	TS_NETNS_FORM_PATH,
	TS_NETNS_FORM_PID,
};

struct ts_netns_ref {
	enum ts_netns_form form;
	uint64_t inode;
	pid_t pid;          /* TS_NETNS_FORM_PID: that pid; else 0 */
	bool shadows_pid;   /* a NAME made of digits while a process with that pid exists */
	char name[64];      /* as tcpstate shows it: the /run/netns name, "init", "net:[INODE]" */
	enum ts_netns_kind kind;
};

/*
 * Resolves spec (NULL: the caller's namespace) by the rules above and checks
 * that it is a network namespace. proc_root: NULL for "/proc". Returns 0 or
 * one distinct negative errno per bad form (*ret untouched then):
 *   -EINVAL        empty, "." or ".." (no namespace can have those names)
 *   -ENAMETOOLONG  a name longer than NAME_MAX, a path of PATH_MAX bytes or
 *                  more (never truncated: a cut path could name another file)
 *   -ENOENT        no such name in /run/netns, or no such path
 *   -ESRCH         digits: no such name in /run/netns and no process with that pid
 *   -ERANGE        digits: no such name in /run/netns and no valid pid (0, > INT_MAX)
 *   -ELOOP         too many symbolic links (a loop) on the path
 *   -ENOTDIR       a component of the path is not a directory
 *   -ENOTTY        the file is not a namespace (not on nsfs)
 *   -EMEDIUMTYPE   a namespace of another type (/proc/PID/ns/mnt, ...)
 *   -EACCES/-EPERM not permitted to open it; -ENOMEM, -EMFILE, ... as open(2)
 */
int ts_netns_lookup(const char *spec, const char *proc_root, struct ts_netns_ref *ret);
