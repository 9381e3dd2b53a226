/* SPDX-License-Identifier: MIT */
#pragma once

/* Kernel settings (/proc/sys) of a network namespace, and what we know of them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/state.h"
#include "tcpstate/sysctl_registry.h" /* what we know of each setting */

struct ts_sysctl;

/*
 * Opens the settings of a namespace: netns as for ts_snapshot_opts (NULL:
 * the caller's; a /run/netns name, a path or a pid); root is the /proc/sys
 * to use (NULL: "/proc/sys"; tests pass a fake tree, then netns must be NULL).
 * net.* settings are per namespace: they are opened from inside it.
 * Returns 0, -ENOMEM, or an error of ts_netns_lookup() (tcpstate/netns.h)
 * for netns.
 */
int ts_sysctl_open(const char *netns, const char *root, struct ts_sysctl **ret);
struct ts_sysctl *ts_sysctl_free(struct ts_sysctl *s); /* accepts NULL, returns NULL */

/*
 * Reads one setting by its dotted name ("net.ipv4.tcp_fin_timeout"), as
 * text without the trailing newline (tabs between fields, as the kernel
 * prints them). Returns 0, -ENOENT (this kernel has no such setting),
 * -EACCES, -ENOBUFS (the value does not fit buf), -EINVAL (bad name:
 * only [a-z0-9_.-], no empty components, no "..").
 */
int ts_sysctl_read(struct ts_sysctl *s, const char *name, char *buf, size_t size);

/* Reads a setting holding one integer. -EBADMSG when it holds something else. */
int ts_sysctl_read_int(struct ts_sysctl *s, const char *name, int64_t *ret);

/* Writes one setting (text). Returns 0 or -errno (-EINVAL: the kernel refused the value). */
int ts_sysctl_write(struct ts_sysctl *s, const char *name, const char *value);
