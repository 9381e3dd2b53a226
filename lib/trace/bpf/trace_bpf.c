/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "trace/bpf/trace_bpf.h"

#ifdef TCPSTATE_NO_BPF

int trace_bpf_open(const struct trace_bpf_filter *f, trace_bpf_cb cb, void *userdata,
		   struct trace_bpf **ret, struct ts_bpf_status *ret_status)
{
	memset(ret_status, 0, sizeof(*ret_status));
	ret_status->failure = TS_BPF_FAILURE_NOT_BUILT;
	ret_status->err = EOPNOTSUPP;
	return -EOPNOTSUPP;
}

const char *trace_bpf_hook(const struct trace_bpf *t, enum ts_trace_hook h)
{
	return NULL;
}

int trace_bpf_poll(struct trace_bpf *t, int timeout_ms)
{
	return -EOPNOTSUPP;
}

uint64_t trace_bpf_lost(const struct trace_bpf *t)
{
	return 0;
}

struct trace_bpf *trace_bpf_free(struct trace_bpf *t)
{
	return NULL;
}

bool trace_bpf_built(void)
{
	return false;
}

#else

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "snapshot/bpf/bpf_load.h"
#include "trace/bpf/tstrace_rec.h"
#include "trace.skel.h"

_Static_assert(sizeof(struct tstrace_rec) == 112, "tstrace_rec has implicit padding");

#define VERIFIER_LOG_SIZE (1u << 20)
#define MAX_ALTS 3

/* Each hook and its alternatives, best first (see trace.bpf.c). */
static const struct hook_alts {
	const char *prog[MAX_ALTS];
	const char *where[MAX_ALTS];
} hooks[_TS_TRACE_HOOK_MAX] = {
	[TS_TRACE_HOOK_STATE] = { { "state_tp", "state_raw", "state_fentry" },
				  { "tp_btf/inet_sock_set_state", "raw_tp/inet_sock_set_state",
				    "fentry/tcp_set_state" } },
	[TS_TRACE_HOOK_TW_ENTER] = { { "tw_enter_schedule", "tw_enter_hashdance" },
				     { "fentry/inet_twsk_hashdance_schedule",
				       "fentry/inet_twsk_hashdance" } },
	[TS_TRACE_HOOK_TW_END] = { { "tw_end_destructor", "tw_end_free" },
				   { "fentry/tcp_twsk_destructor", "fentry/inet_twsk_free" } },
	[TS_TRACE_HOOK_BIND] = { { "bind_exit" }, { "fexit/inet_csk_get_port" } },
	[TS_TRACE_HOOK_DESTROY] = { { "destroy_tp" }, { "tp_btf/tcp_destroy_sock" } },
	[TS_TRACE_HOOK_HOLD] = { { "hold", "hold_sys_exit" },
				 { "fentry/fd_install",
				   "tp_btf/sys_exit (socket, accept, accept4)" } },
};

struct trace_bpf {
	struct trace_bpf_skel *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[_TS_TRACE_HOOK_MAX];
	int chosen[_TS_TRACE_HOOK_MAX]; /* index into hooks[h], -1: none */
	trace_bpf_cb cb;
	void *userdata;
	int cb_error;
};

static void set_filter(struct trace_bpf_skel *skel, const struct trace_bpf_filter *f)
{
	struct trace_bpf_skel__rodata *ro = skel->rodata;

	ro->netns_only = f->netns_only;
	for (unsigned i = 0; i < TRACE_BPF_MAX_PORTS; i++) {
		ro->f_ports[i] = f->ports[i];
		ro->f_sports[i] = f->sports[i];
		ro->f_dports[i] = f->dports[i];
	}
	ro->n_ports = f->n_ports;
	ro->n_sports = f->n_sports;
	ro->n_dports = f->n_dports;
}

/* Without a TIME_WAIT entry hook the state change hook tells it. */
static void set_tw_from_state(struct trace_bpf_skel *skel, const int *want)
{
	skel->rodata->tw_from_state = want[TS_TRACE_HOOK_TW_ENTER] < 0;
}

static void unload(struct trace_bpf *t)
{
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		bpf_link__destroy(t->links[h]);
		t->links[h] = NULL;
	}
	trace_bpf_skel__destroy(t->skel);
	t->skel = NULL;
}

/*
 * Opens the object with only the programs want[h] (-1: none of hook h)
 * loaded, loads and attaches them into t. On failure fills st (the
 * verifier's log when it refused) and leaves t without a skeleton.
 */
static int load_attach(struct trace_bpf *t, const struct trace_bpf_filter *f, const int *want,
		       struct ts_bpf_status *st)
{
	struct bpf_program *p, *pick[_TS_TRACE_HOOK_MAX] = { 0 };
	char *log;
	int r;

	bpf_load_quiet();
	errno = 0;
	t->skel = trace_bpf_skel__open();
	if (!t->skel) {
		r = errno > 0 ? -errno : -ENOMEM;
		bpf_status_set(st, r == -EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER, -r,
			   bpf_load_warning_or("opening the BPF object failed"));
		return r;
	}
	set_filter(t->skel, f);
	set_tw_from_state(t->skel, want);
	bpf_object__for_each_program(p, t->skel->obj)
		bpf_program__set_autoload(p, false);
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		if (want[h] < 0)
			continue;
		pick[h] = bpf_object__find_program_by_name(t->skel->obj, hooks[h].prog[want[h]]);
		if (pick[h])
			bpf_program__set_autoload(pick[h], true);
	}
	log = calloc(1, VERIFIER_LOG_SIZE);
	if (!log) {
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		r = -ENOMEM;
		goto out_destroy;
	}
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++)
		if (pick[h])
			bpf_program__set_log_buf(pick[h], log, VERIFIER_LOG_SIZE);
	r = trace_bpf_skel__load(t->skel);
	if (r < 0) {
		if (log[0]) {
			bpf_status_set(st, TS_BPF_FAILURE_VERIFIER, -r, NULL);
			bpf_verifier_tail(log, st->detail, sizeof(st->detail));
		} else {
			bpf_status_set(st, r == -EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER,
				   -r, bpf_load_warning_or("loading the BPF object failed"));
		}
		free(log);
		goto out_destroy;
	}
	free(log);
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		if (!pick[h])
			continue;
		t->links[h] = bpf_program__attach(pick[h]);
		if (!t->links[h]) {
			char why[200];

			r = -errno;
			snprintf(why, sizeof(why), "attaching %s failed", hooks[h].where[want[h]]);
			bpf_status_set(st, r == -EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER,
				   -r, why);
			goto out_destroy;
		}
	}
	return 0;

out_destroy:
	unload(t);
	return r;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct trace_bpf *t = ctx;
	int r = t->cb(data, len, t->userdata);

	if (r < 0) {
		t->cb_error = r;
		return r;
	}
	return 0;
}

int trace_bpf_open(const struct trace_bpf_filter *f, trace_bpf_cb cb, void *userdata,
		   struct trace_bpf **ret, struct ts_bpf_status *ret_status)
{
	struct ts_bpf_status first = { 0 }, ignored;
	struct trace_bpf *t;
	int want[_TS_TRACE_HOOK_MAX], r;

	memset(ret_status, 0, sizeof(*ret_status));
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		bpf_status_set(ret_status, TS_BPF_FAILURE_KERNEL, EOPNOTSUPP,
			   "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing: "
			   "CONFIG_DEBUG_INFO_BTF)");
		return -EOPNOTSUPP;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		bpf_status_set(ret_status, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		return -ENOMEM;
	}
	t->cb = cb;
	t->userdata = userdata;

	/* Each hook alone, alternatives in order: the first that loads and
	 * attaches here serves it. The state change hook is required. */
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		t->chosen[h] = -1;
		for (int a = 0; a < MAX_ALTS && hooks[h].prog[a]; a++) {
			struct ts_bpf_status *st = h == TS_TRACE_HOOK_STATE && a == 0 ? &first : &ignored;

			for (int k = 0; k < _TS_TRACE_HOOK_MAX; k++)
				want[k] = k == h ? a : -1;
			r = load_attach(t, f, want, st);
			if (r == 0) {
				t->chosen[h] = a;
				unload(t);
				break;
			}
			if (r == -EPERM && h == TS_TRACE_HOOK_STATE && a == 0 &&
			    first.failure == TS_BPF_FAILURE_PRIVILEGE && geteuid() != 0) {
				*ret_status = first;
				free(t);
				return r;
			}
		}
		if (h == TS_TRACE_HOOK_STATE && t->chosen[h] < 0) {
			*ret_status = first;
			r = first.err ? -first.err : -EOPNOTSUPP;
			free(t);
			return r;
		}
	}
	r = load_attach(t, f, t->chosen, ret_status);
	if (r < 0) {
		free(t);
		return r;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_record, t, NULL);
	if (!t->rb) {
		r = -errno;
		bpf_status_set(ret_status, TS_BPF_FAILURE_OTHER, -r, "opening the ring buffer failed");
		trace_bpf_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

bool trace_bpf_built(void)
{
	return true;
}

const char *trace_bpf_hook(const struct trace_bpf *t, enum ts_trace_hook h)
{
	if (!t || h >= _TS_TRACE_HOOK_MAX || t->chosen[h] < 0)
		return NULL;
	return hooks[h].where[t->chosen[h]];
}

int trace_bpf_poll(struct trace_bpf *t, int timeout_ms)
{
	int r;

	t->cb_error = 0;
	r = ring_buffer__poll(t->rb, timeout_ms);
	if (t->cb_error < 0)
		return t->cb_error;
	return r;
}

uint64_t trace_bpf_lost(const struct trace_bpf *t)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals, sum = 0;
	uint32_t zero = 0;

	if (ncpu <= 0)
		return 0;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.lost), &zero, vals) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	free(vals);
	return sum;
}

struct trace_bpf *trace_bpf_free(struct trace_bpf *t)
{
	if (!t)
		return NULL;
	ring_buffer__free(t->rb);
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++)
		bpf_link__destroy(t->links[h]);
	trace_bpf_skel__destroy(t->skel);
	free(t);
	return NULL;
}

#endif
