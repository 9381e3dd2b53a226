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

int trace_bpf_drain(struct trace_bpf *t)
{
	return -EOPNOTSUPP;
}

int trace_bpf_loss(const struct trace_bpf *t, struct trace_bpf_loss *ret)
{
	return -EOPNOTSUPP;
}

bool trace_bpf_has_backup(const struct trace_bpf *t)
{
	return false;
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
	const char *backup[MAX_ALTS]; /* attached after prog: the changes it was skipped for */
} hooks[_TS_TRACE_HOOK_MAX] = {
	[TS_TRACE_HOOK_STATE] = { { "state_tp", "state_raw", "state_fentry" },
				  { "tp_btf/inet_sock_set_state", "raw_tp/inet_sock_set_state",
				    "fentry/tcp_set_state" },
				  { "state_tp_backup", "state_raw_backup", "state_fentry_backup" } },
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
	struct bpf_link *backup_link;   /* of the state hook; NULL: it did not attach */
	struct bpf_program *progs[_TS_TRACE_HOOK_MAX], *backup_prog;
	int chosen[_TS_TRACE_HOOK_MAX]; /* index into hooks[h], -1: none */
	trace_bpf_cb cb;
	void *userdata;
	int cb_error;
	size_t budget; /* drain: records left to read (0: no bound) */
};

/* Records the ring buffer holds at most (each after an 8-byte header). */
#define RING_RECORDS_MAX (TRACE_RING_BYTES / (sizeof(struct tstrace_rec) + 8))

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
	bpf_link__destroy(t->backup_link);
	t->backup_link = NULL;
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		bpf_link__destroy(t->links[h]);
		t->links[h] = NULL;
		t->progs[h] = NULL;
	}
	t->backup_prog = NULL;
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
	struct bpf_program *p, *pick[_TS_TRACE_HOOK_MAX] = { 0 }, *backup = NULL;
	char *log;
	int r;

	bpf_load_quiet();
	errno = 0;
	t->skel = trace_bpf_skel__open();
	if (!t->skel)
		return bpf_load_open_failed(st);
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
		if (pick[h] && hooks[h].backup[want[h]]) {
			backup = bpf_object__find_program_by_name(t->skel->obj,
								  hooks[h].backup[want[h]]);
			if (backup)
				bpf_program__set_autoload(backup, true);
		}
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
		bpf_load_failed(r, log, st);
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
		t->progs[h] = pick[h];
	}
	/* After the first one, so that it runs after it. Without it, the
	 * changes the first one is skipped for are only counted. */
	if (backup) {
		t->backup_link = bpf_program__attach(backup);
		t->backup_prog = t->backup_link ? backup : NULL;
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
	if (t->budget && --t->budget == 0)
		return -EALREADY; /* drained what was there: stop, not an error */
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
	t->budget = 0;
	r = ring_buffer__poll(t->rb, timeout_ms);
	/* Woken only past TRACE_WAKEUP_BYTES: read what waits below that too. */
	if (r == 0 && t->cb_error == 0)
		r = ring_buffer__consume(t->rb);
	if (t->cb_error < 0)
		return t->cb_error;
	return r;
}

int trace_bpf_drain(struct trace_bpf *t)
{
	int r;

	t->cb_error = 0;
	/* As many as the buffer can hold: what was there, not what keeps coming. */
	t->budget = RING_RECORDS_MAX;
	r = ring_buffer__consume(t->rb);
	t->budget = 0;
	if (t->cb_error < 0)
		return t->cb_error;
	return r == -EALREADY ? 0 : r;
}

/* Slot of the per-CPU "lost" map, summed over the CPUs. */
static int lost_slot(const struct trace_bpf *t, uint32_t slot, uint64_t *ret)
{
	int ncpu = libbpf_num_possible_cpus(), r;
	uint64_t *vals, sum = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	r = bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.lost), &slot, vals) < 0 ? -errno : 0;
	for (int i = 0; r == 0 && i < ncpu; i++)
		sum += vals[i];
	free(vals);
	if (r == 0)
		*ret = sum;
	return r;
}

/* Runs of p the kernel skipped (p was running on that CPU already). */
static uint64_t prog_misses(const struct bpf_program *p)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	if (!p)
		return 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) < 0)
		return 0;
	return info.recursion_misses;
}

int trace_bpf_loss(const struct trace_bpf *t, struct trace_bpf_loss *ret)
{
	uint64_t ev = 0, other = 0, rescued = 0, skipped;
	int r;

	if ((r = lost_slot(t, TRACE_LOST_EVENT, &ev)) < 0 ||
	    (r = lost_slot(t, TRACE_LOST_OTHER, &other)) < 0 ||
	    (r = lost_slot(t, TRACE_LOST_RESCUED, &rescued)) < 0)
		return r;
	/* Every change the first program was skipped for, and the backup
	 * did not take (the backup was busy too, or not attached). */
	skipped = prog_misses(t->progs[TS_TRACE_HOOK_STATE]);
	skipped = skipped > rescued ? skipped - rescued : 0;
	ret->events_dropped = ev;
	ret->events_skipped = skipped;
	ret->other = other + prog_misses(t->progs[TS_TRACE_HOOK_HOLD]) +
		     prog_misses(t->progs[TS_TRACE_HOOK_DESTROY]) +
		     prog_misses(t->progs[TS_TRACE_HOOK_BIND]) +
		     prog_misses(t->progs[TS_TRACE_HOOK_TW_ENTER]) +
		     prog_misses(t->progs[TS_TRACE_HOOK_TW_END]);
	ret->rescued = rescued;
	return 0;
}

bool trace_bpf_has_backup(const struct trace_bpf *t)
{
	return t && t->backup_link;
}

struct trace_bpf *trace_bpf_free(struct trace_bpf *t)
{
	if (!t)
		return NULL;
	ring_buffer__free(t->rb);
	bpf_link__destroy(t->backup_link);
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++)
		bpf_link__destroy(t->links[h]);
	trace_bpf_skel__destroy(t->skel);
	free(t);
	return NULL;
}

#endif
