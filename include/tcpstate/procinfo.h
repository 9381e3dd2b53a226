/* SPDX-License-Identifier: MIT */
#pragma once

/* Facts about one process that explain its sockets: open-file limit, fd count, identity. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TS_PROCINFO_UNLIMITED UINT64_MAX
#define TS_PROCINFO_CMDLINE_MAX 512
#define TS_PROCINFO_UNIT_MAX 128
#define TS_PROCINFO_CONTAINER_MAX 80

/*
 * Each part is read on its own: a part that could not be read has its
 * *_err set to a negative errno (-EACCES, -ENOENT, -EBADMSG...) and its
 * value left zero/empty. Callers render "unavailable" rather than guess.
 */
struct ts_procinfo {
	pid_t pid;
	uint64_t nofile_soft;  /* RLIMIT_NOFILE, TS_PROCINFO_UNLIMITED for "unlimited" */
	uint64_t nofile_hard;
	int nofile_err;
	uint32_t fd_count;     /* entries of /proc/PID/fd */
	int fd_err;
	char cmdline[TS_PROCINFO_CMDLINE_MAX]; /* arguments joined by spaces ("" for kernel threads) */
	int cmdline_err;
	char unit[TS_PROCINFO_UNIT_MAX];       /* systemd unit ("nginx.service"), "" when none */
	char container[TS_PROCINFO_CONTAINER_MAX]; /* container id or name, "" when none */
	int cgroup_err;
	pid_t ppid;            /* from /proc/PID/stat */
	uint64_t start_ticks;  /* start time after boot, in clock ticks (stat field 22) */
	int stat_err;
};

/*
 * Reads what /proc (proc_root, NULL: "/proc") says about pid.
 * Returns 0 (parts may still carry their own *_err), -ESRCH when the
 * process does not exist (or vanished), -EINVAL for a bad pid.
 * *ret is written only on success.
 */
int ts_procinfo_read(const char *proc_root, pid_t pid, struct ts_procinfo *ret);

/*
 * The process (thread group) that thread pid belongs to: pid itself for a
 * process. Returns 0, -ESRCH (no such thread), -EBADMSG (no Tgid line).
 */
int ts_procinfo_thread_group(const char *proc_root, pid_t pid, pid_t *ret_tgid);

/*
 * Parses the text of /proc/PID/stat: the parent pid and the start time
 * (clock ticks after boot). The command may hold spaces and ')': the fields
 * start after the last ')'. Returns 0 or -EBADMSG.
 */
int ts_procinfo_parse_stat(const char *text, pid_t *ret_ppid, uint64_t *ret_start_ticks);

/*
 * Whether the caller runs in the initial (host's) pid namespace, from the
 * inode of proc_root/self/ns/pid (NULL: /proc). Outside it, processes of
 * other pid namespaces have no pid here: the holders of a namespace's
 * sockets may be invisible. Returns 0, or -errno when it cannot be read.
 */
int ts_pidns_is_initial(const char *proc_root, bool *ret, uint64_t *ret_inode);

/*
 * Parses the text of /proc/PID/limits for "Max open files".
 * Returns 0, or -EBADMSG when the line is missing or malformed.
 */
int ts_procinfo_parse_limits(const char *text, uint64_t *ret_soft, uint64_t *ret_hard);

/*
 * Parses the text of /proc/PID/cgroup: the systemd unit (last "*.service"/
 * "*.scope"/"*.socket" path component that is not a container scope) and the
 * container (docker, containerd, cri-o, podman/libpod, kubepods, lxc).
 * Either may come back empty. Returns 0.
 */
int ts_procinfo_parse_cgroup(const char *text, char *unit, size_t unit_size,
			     char *container, size_t container_size);
