/* SPDX-License-Identifier: MIT */
#pragma once

/* What the verbs that diagnose (doctor, top) read beside the snapshot. */

#include <stddef.h>

#include "cli_snapshot.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/netstat.h"

/*
 * Settings and counters of each namespace of snap (the one --netns names, or
 * each by name under --all-netns): one entry per namespace, those that cannot
 * be read marked so. 0 or -ENOMEM; free *ret and *ret_netstat with free().
 */
int cli_diagnose_netns_facts(const struct cli_snapshot_args *a, const struct ts_snapshot *snap,
			     struct ts_diagnose_sysctls **ret, struct ts_netstat **ret_netstat,
			     size_t *ret_n);
