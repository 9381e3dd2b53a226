/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace_summary.h"

/* Keys of the holder groups that are not a pid. */
#define KEY_ORPHAN (1ull << 40)
#define KEY_UNKNOWN (1ull << 41)
#define KEY_OTHER (1ull << 42)

static int group_add(struct trace_group *g, const struct ts_trace_event *ev)
{
	g->st.count++;
	if (ev->age != TS_TRACE_AGE_EXACT) {
		g->st.at_least++;
		return 0;
	}
	return trace_durs_add(&g->d, ev->in_old_ns);
}

static int grow(void **items, size_t item_size, void **groups, size_t *cap)
{
	size_t n = *cap ? *cap * 2 : 16;
	void *a = realloc(*items, n * item_size), *b;

	if (!a)
		return -ENOMEM;
	*items = a;
	b = realloc(*groups, n * sizeof(struct trace_group));
	if (!b)
		return -ENOMEM;
	*groups = b;
	*cap = n;
	return 0;
}

static struct trace_group *proc_group(struct trace_acc *acc, const struct ts_trace_socket *s,
				      int *err)
{
	uint64_t key = s->holder == TS_TRACE_HOLDER_PROCESS ? (uint64_t)(uint32_t)s->pid + 1
			: s->holder == TS_TRACE_HOLDER_ORPHAN ? KEY_ORPHAN : KEY_UNKNOWN;
	struct ts_trace_stat_proc *p;
	uint32_t i;

	if (trace_map_get(&acc->proc_by_key, key, &i))
		return &acc->proc_g[i];
	if (acc->n_procs >= TS_TRACE_MAX_GROUPS) {
		key = KEY_OTHER;
		if (trace_map_get(&acc->proc_by_key, key, &i))
			return &acc->proc_g[i];
	}
	if (acc->n_procs == acc->cap_procs &&
	    (*err = grow((void **)&acc->procs, sizeof(*acc->procs), (void **)&acc->proc_g,
			 &acc->cap_procs)) < 0)
		return NULL;
	i = (uint32_t)acc->n_procs;
	if ((*err = trace_map_put(&acc->proc_by_key, key, i)) < 0)
		return NULL;
	acc->n_procs++;
	p = &acc->procs[i];
	memset(p, 0, sizeof(*p));
	memset(&acc->proc_g[i], 0, sizeof(acc->proc_g[i]));
	if (key == KEY_OTHER) {
		p->other = true;
		p->holder = TS_TRACE_HOLDER_UNKNOWN;
	} else {
		p->holder = s->holder;
		p->pid = s->pid;
		memcpy(p->comm, s->comm, TS_COMM_LEN);
	}
	return &acc->proc_g[i];
}

static struct trace_group *port_group(struct trace_acc *acc, uint16_t port, int *err)
{
	uint64_t key = (uint64_t)port + 1;
	struct ts_trace_stat_port *p;
	uint32_t i;

	if (trace_map_get(&acc->port_by_key, key, &i))
		return &acc->port_g[i];
	if (acc->n_ports >= TS_TRACE_MAX_GROUPS) {
		key = KEY_OTHER;
		if (trace_map_get(&acc->port_by_key, key, &i))
			return &acc->port_g[i];
	}
	if (acc->n_ports == acc->cap_ports &&
	    (*err = grow((void **)&acc->ports, sizeof(*acc->ports), (void **)&acc->port_g,
			 &acc->cap_ports)) < 0)
		return NULL;
	i = (uint32_t)acc->n_ports;
	if ((*err = trace_map_put(&acc->port_by_key, key, i)) < 0)
		return NULL;
	acc->n_ports++;
	p = &acc->ports[i];
	memset(p, 0, sizeof(*p));
	memset(&acc->port_g[i], 0, sizeof(acc->port_g[i]));
	p->port = key == KEY_OTHER ? 0 : port;
	p->other = key == KEY_OTHER;
	return &acc->port_g[i];
}

int trace_acc_add(struct trace_acc *acc, const struct ts_trace_event *ev)
{
	struct trace_group *g;
	int err = 0;

	acc->events++;
	if (ev->born || ev->old_state >= TS_STATE_COUNT)
		return 0;
	if ((err = group_add(&acc->state[ev->old_state], ev)) < 0)
		return err;
	g = proc_group(acc, &ev->sock, &err);
	if (!g)
		return err;
	if ((err = group_add(g, ev)) < 0)
		return err;
	if (!ev->sock.local_port)
		return 0;
	g = port_group(acc, ev->sock.local_port, &err);
	if (!g)
		return err;
	return group_add(g, ev);
}

static void finish(struct trace_group *g, struct ts_trace_stat *out)
{
	*out = g->st;
	trace_durs_stat(&g->d, out);
}

static int cmp_proc(const void *a, const void *b)
{
	const struct ts_trace_stat_proc *x = a, *y = b;

	if (x->stat.count != y->stat.count)
		return x->stat.count > y->stat.count ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int cmp_port(const void *a, const void *b)
{
	const struct ts_trace_stat_port *x = a, *y = b;

	if (x->stat.count != y->stat.count)
		return x->stat.count > y->stat.count ? -1 : 1;
	return (x->port > y->port) - (x->port < y->port);
}

int trace_acc_summary(struct trace_acc *acc, struct ts_trace_summary *out)
{
	out->events = acc->events;
	for (unsigned s = 0; s < TS_STATE_COUNT; s++)
		finish(&acc->state[s], &out->per_state[s]);
	out->procs = calloc(acc->n_procs ? acc->n_procs : 1, sizeof(*out->procs));
	out->ports = calloc(acc->n_ports ? acc->n_ports : 1, sizeof(*out->ports));
	if (!out->procs || !out->ports)
		return -ENOMEM;
	for (size_t i = 0; i < acc->n_procs; i++) {
		out->procs[i] = acc->procs[i];
		finish(&acc->proc_g[i], &out->procs[i].stat);
	}
	out->n_procs = acc->n_procs;
	qsort(out->procs, out->n_procs, sizeof(*out->procs), cmp_proc);
	for (size_t i = 0; i < acc->n_ports; i++) {
		out->ports[i] = acc->ports[i];
		finish(&acc->port_g[i], &out->ports[i].stat);
	}
	out->n_ports = acc->n_ports;
	qsort(out->ports, out->n_ports, sizeof(*out->ports), cmp_port);
	return 0;
}

void trace_acc_done(struct trace_acc *acc)
{
	for (unsigned s = 0; s < TS_STATE_COUNT; s++)
		trace_durs_done(&acc->state[s].d);
	for (size_t i = 0; i < acc->n_procs; i++)
		trace_durs_done(&acc->proc_g[i].d);
	for (size_t i = 0; i < acc->n_ports; i++)
		trace_durs_done(&acc->port_g[i].d);
	free(acc->procs);
	free(acc->proc_g);
	free(acc->ports);
	free(acc->port_g);
	trace_map_done(&acc->proc_by_key);
	trace_map_done(&acc->port_by_key);
	memset(acc, 0, sizeof(*acc));
}
