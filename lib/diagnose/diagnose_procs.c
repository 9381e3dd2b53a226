/* SPDX-License-Identifier: MIT */
/* The process facts a diagnosis reads (fd counts and limits of the holders), by pid. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/diagnose.h"
#include "tcpstate/procinfo.h"

static int procinfo_cmp(const void *a, const void *b)
{
	const struct ts_procinfo *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int ts_diagnose_procs_collect(const struct ts_snapshot *snap, const char *proc_root,
			  struct ts_diagnose_procs *ret)
{
	size_t n_pids = ts_snapshot_process_count(snap), n = 0;
	struct ts_procinfo *v = NULL;
	pid_t *pids = NULL;

	/* Distinct pids of every owner: the snapshot's processes (one per
	 * holder, not one per owner: 1M sockets are often held by few). */
	if (n_pids) {
		pids = malloc(n_pids * sizeof(*pids));
		if (!pids)
			goto oom;
		for (size_t i = 0; i < n_pids; i++)
			pids[i] = ts_snapshot_process(snap, (uint32_t)i)->pid;
		qsort(pids, n_pids, sizeof(*pids), pid_cmp);
		v = calloc(n_pids, sizeof(*v));
		if (!v)
			goto oom;
	}
	for (size_t i = 0; i < n_pids; i++) {
		int r;

		if (i > 0 && pids[i] == pids[i - 1])
			continue;
		r = ts_procinfo_read(proc_root, pids[i], &v[n]);
		if (r == -ENOMEM)
			goto oom;
		if (r < 0) /* vanished (or a bad pid): no facts, not an error */
			continue;
		n++;
	}
	free(pids);
	*ret = (struct ts_diagnose_procs){ v, n };
	return 0;
oom:
	free(pids);
	free(v);
	return -ENOMEM;
}

void ts_diagnose_procs_clear(struct ts_diagnose_procs *p)
{
	if (!p)
		return;
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

const struct ts_procinfo *ts_diagnose_procs_find(const struct ts_diagnose_procs *p, pid_t pid)
{
	struct ts_procinfo key = { .pid = pid };

	if (!p || !p->n)
		return NULL;
	return bsearch(&key, p->v, p->n, sizeof(*p->v), procinfo_cmp);
}
