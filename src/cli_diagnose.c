/* SPDX-License-Identifier: MIT */
/* What the verbs that diagnose (doctor, top) read beside the snapshot. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "cli_diagnose.h"
#include "tcpstate/sysctl.h"

/*
 * What reopens namespace ns of snap (a --netns argument; NULL: our own) into
 * *ret: --netns's, or under --all-netns ts_netns_reopen_spec()'s (its name,
 * /proc/1/ns/net for init, or through a process seen in it). -ENOENT when
 * nothing can reopen it.
 */
static int netns_spec(const struct cli_snapshot_args *a, const struct ts_netns *ns, char *buf,
		      size_t size, const char **ret)
{
	int r;

	if (!a->opts.all_netns) {
		*ret = a->opts.netns;
		return 0;
	}
	r = ts_netns_reopen_spec(ns, a->opts.proc_root, buf, size);
	if (r < 0)
		return r;
	*ret = buf;
	return 0;
}

/* Settings and counters of each namespace of snap: the one named by --netns, or each by name. */
int cli_diagnose_netns_facts(const struct cli_snapshot_args *a, const struct ts_snapshot *snap,
			     struct ts_diagnose_sysctls **ret, struct ts_netstat **ret_netstat,
			     size_t *ret_n)
{
	size_t n = ts_snapshot_netns_count(snap);
	struct ts_diagnose_sysctls *v = calloc(n ? n : 1, sizeof(*v));
	struct ts_netstat *ns_v = calloc(n ? n : 1, sizeof(*ns_v));

	if (!v || !ns_v) {
		free(v);
		free(ns_v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ts_netns *ns = ts_snapshot_netns(snap, (uint32_t)i);
		struct ts_sysctl *s = NULL;
		const char *target;
		char specbuf[PATH_MAX];
		int r = netns_spec(a, ns, specbuf, sizeof(specbuf), &target);

		if (r < 0) {
			ts_diagnose_sysctls_unavailable(&v[i], r);
			continue;
		}
		/* Counters that cannot be read are left out (have 0), not fatal. */
		(void)ts_netstat_read(target, &ns_v[i]);
		r = ts_sysctl_open(target, NULL, &s);
		if (r < 0) {
			ts_diagnose_sysctls_unavailable(&v[i], r);
			continue;
		}
		ts_diagnose_sysctls_read(s, &v[i]);
		ts_sysctl_free(s);
	}
	*ret = v;
	*ret_netstat = ns_v;
	*ret_n = n;
	return 0;
}
