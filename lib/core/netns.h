/* SPDX-License-Identifier: MIT */
#pragma once

/* Network namespaces: naming, resolving, enumerating, entering. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpstate/netns.h"

struct netns_target {
	int fd;          /* O_RDONLY|O_CLOEXEC on the nsfs inode; -1 = the caller's own */
	uint64_t inode;
	char name[64];
	enum ts_netns_kind kind;
	pid_t pid;       /* a process seen in it (0: none known) */
	enum ts_netns_form form;
	bool shadows_pid; /* see struct ts_netns_ref */
};

/*
 * Resolves what users type after --netns (NULL: the caller's namespace) by
 * the rules and with the errors of ts_netns_lookup(), keeping it open.
 */
int netns_resolve(const char *spec, const char *proc_root, struct netns_target *ret);

/* What netns_enumerate() could not open. */
struct netns_denials {
	uint64_t *inodes;          /* identified namespaces we may not open, each once */
	char (*names)[64];         /* their names, as netns_name() gives them */
	size_t n, cap;
	unsigned processes;        /* processes whose /proc/PID/ns/net we may not even stat */
};

void netns_denials_clear(struct netns_denials *d);

/* The same with another directory of names than /run/netns (tests). */
int netns_resolve_in(const char *spec, const char *run_netns, const char *proc_root,
		     struct netns_target *ret);

/*
 * Every network namespace on the host: those bound in /run/netns and those
 * of every process, deduplicated by inode. Processes that vanish are
 * skipped; what we may not open goes to *ret_denied (may be NULL; clear it
 * with netns_denials_clear()). The caller frees with netns_targets_free().
 */
int netns_enumerate(const char *proc_root, struct netns_target **ret, size_t *ret_n,
		    struct netns_denials *ret_denied);

void netns_targets_free(struct netns_target *t, size_t n);

/* The initial network namespace's inode since Linux 6.18 (NET_NS_INIT_INO of
 * linux/nsfs.h); earlier kernels give it a dynamic one (0xF0000000 and up). */
#define NETNS_INIT_INO 0xEFFFFFF9u

/* The name to show for a namespace inode: its /run/netns name, "init" for
 * the initial namespace (NETNS_INIT_INO, or the namespace of pid 1), else
 * "net:[INODE]"; returns which of the three it is. */
enum ts_netns_kind netns_name(uint64_t inode, const char *proc_root, char *buf, size_t size);

/*
 * Moves the calling thread into t (nothing when t->fd < 0) and returns in
 * *ret_saved an fd of the namespace it left (or -1). Returns 0 or -errno.
 */
int netns_enter(const struct netns_target *t, int *ret_saved);

/* Goes back to the namespace netns_enter() left; closes saved. */
int netns_leave(int saved);
