/* SPDX-License-Identifier: MIT */
/*
 * Loader of owners.bpf.c: opens and loads the skeleton, makes an iterator
 * of it and reads its records. Built with -DTCPSTATE_NO_BPF it is stubs
 * that say "not built". libbpf is linked statically and silenced: the
 * library never prints; why a load failed travels in struct ts_bpf_status.
 */
#include <errno.h>
#include <string.h>

#include "snapshot/bpf/owners.h"

#ifdef TCPSTATE_NO_BPF

static int not_built(struct ts_bpf_status *ret_status)
{
	if (ret_status) {
		memset(ret_status, 0, sizeof(*ret_status));
		ret_status->failure = TS_BPF_FAILURE_NOT_BUILT;
		ret_status->err = EOPNOTSUPP;
	}
	return -EOPNOTSUPP;
}

int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata, struct ts_bpf_status *ret_status)
{
	return not_built(ret_status);
}

int bpf_owners_probe(struct ts_bpf_status *ret_status)
{
	return not_built(ret_status);
}

int bpf_owners_open(struct bpf_owners **ret, struct ts_bpf_status *ret_status)
{
	return not_built(ret_status);
}

int bpf_owners_read(struct bpf_owners *h, pid_t only_pid, uint32_t kernel_states,
		    int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata,
		    struct ts_bpf_status *ret_status)
{
	return not_built(ret_status);
}

struct bpf_owners *bpf_owners_close(struct bpf_owners *h)
{
	return NULL;
}

int bpf_owners_built(void)
{
	return 0;
}

#else

#include <arpa/inet.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "snapshot/bpf/bpf_load.h"
#include "snapshot/bpf/owners_event.h"
#include "owners.skel.h"

_Static_assert(sizeof(struct owners_event) == 96, "owners_event has implicit padding");
_Static_assert(sizeof(((struct owners_event *)0)->local_addr) == sizeof(struct in6_addr),
	       "address sizes differ");
_Static_assert(OWNERS_COMM_LEN == TS_COMM_LEN, "comm sizes differ");

#define READ_CHUNK (1u << 20)

int bpf_owners_built(void)
{
	return 1;
}

/* What each record goes through on its way to the caller. */
struct emit_ctx {
	pid_t only_pid;
	uint32_t kernel_states;
	int (*cb)(const struct bpf_owner_rec *r, void *userdata);
	void *userdata;
};

static int emit(const void *rec, void *userdata)
{
	const struct owners_event *e = rec;
	const struct emit_ctx *c = userdata;
	struct bpf_owner_rec r = {
		.inode = e->inode,
		.cookie = e->cookie,
		.pid = (pid_t)e->tgid,
		.fd = (int)e->fd,
		.uid = (uid_t)e->uid,
		.family = e->family,
		.protocol = e->protocol,
		.state = e->state,
		.local_port = ntohs(e->local_port),
		.remote_port = ntohs(e->remote_port),
		.sk_err = e->sk_err,
	};

	/* Also when the kernel ignored the link info (before 6.1). */
	if (c->only_pid && r.pid != c->only_pid)
		return 0;
	/* The kernel-side mask is fixed at load: a kept program filters here. */
	if (c->kernel_states && (r.state >= 32 || !(c->kernel_states & (1u << r.state))))
		return 0;
	memcpy(r.comm, e->comm, sizeof(r.comm));
	r.comm[sizeof(r.comm) - 1] = '\0';
	memcpy(&r.local_addr, e->local_addr, sizeof(r.local_addr));
	memcpy(&r.remote_addr, e->remote_addr, sizeof(r.remote_addr));
	return c->cb(&r, c->userdata);
}

/* Reads a new iterator of link to its end. */
static int read_iter(struct bpf_link *link, pid_t only_pid, uint32_t kernel_states,
		     int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata,
		     struct ts_bpf_status *st)
{
	struct emit_ctx c = { only_pid, kernel_states, cb, userdata };
	char *buf = malloc(READ_CHUNK);
	int r;

	if (!buf) {
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		return -ENOMEM;
	}
	r = bpf_load_read_iter(link, buf, READ_CHUNK, sizeof(struct owners_event), emit, &c, st);
	free(buf);
	return r;
}

/* Opens and loads the skeleton; on failure fills *st. */
static int load(uint32_t kernel_states, struct owners_bpf **ret, struct ts_bpf_status *st)
{
	struct owners_bpf *skel;
	/* bpf_sock_from_file() is 5.11. */
	int r = bpf_load_prepare(5, 11, "bpf_sock_from_file", st);

	if (r < 0)
		return r;
	errno = 0;
	skel = owners_bpf__open();
	if (!skel)
		return bpf_load_open_failed(st);
	/* Read-only data: the verifier prunes what the mask rules out. */
	skel->rodata->state_mask = kernel_states ? kernel_states : UINT32_MAX;
	r = bpf_load_skeleton(skel->skeleton, skel->progs.owners, st);
	if (r < 0) {
		owners_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

int bpf_owners_probe(struct ts_bpf_status *ret_status)
{
	struct owners_bpf *skel;
	int r;

	if (ret_status)
		memset(ret_status, 0, sizeof(*ret_status));
	r = load(0, &skel, ret_status);
	if (r < 0)
		return r;
	owners_bpf__destroy(skel);
	return 0;
}

int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata, struct ts_bpf_status *ret_status)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, attach);
	union bpf_iter_link_info linfo;
	struct owners_bpf *skel;
	struct bpf_link *link;
	int r;

	r = load(kernel_states, &skel, ret_status);
	if (r < 0)
		return r;

	/* Task iterators take a pid from Linux 6.1 on; older ones walk all. */
	if (only_pid && bpf_load_kernel_at_least(6, 1)) {
		memset(&linfo, 0, sizeof(linfo));
		linfo.task.pid = (__u32)only_pid;
		attach.link_info = &linfo;
		attach.link_info_len = sizeof(linfo);
	}
	link = bpf_load_attach_iter(skel->progs.owners, &attach, ret_status);
	if (!link) {
		r = -errno;
		if (only_pid && (r == -ESRCH || r == -ENOENT)) {
			r = 0; /* no such process: it holds nothing */
			if (ret_status)
				memset(ret_status, 0, sizeof(*ret_status));
		}
		goto out_destroy;
	}
	/* The program already kept only kernel_states. */
	r = read_iter(link, only_pid, 0, cb, userdata, ret_status);
	bpf_link__destroy(link);
out_destroy:
	owners_bpf__destroy(skel);
	return r;
}

struct bpf_owners {
	struct owners_bpf *skel;
	struct bpf_link *link;
};

int bpf_owners_open(struct bpf_owners **ret, struct ts_bpf_status *ret_status)
{
	struct bpf_owners *h;
	int r;

	if (ret_status)
		memset(ret_status, 0, sizeof(*ret_status));
	h = calloc(1, sizeof(*h));
	if (!h) {
		bpf_status_set(ret_status, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		return -ENOMEM;
	}
	/* Every state: each read asks for its own. */
	r = load(0, &h->skel, ret_status);
	if (r < 0)
		goto out_free;
	h->link = bpf_load_attach_iter(h->skel->progs.owners, NULL, ret_status);
	if (!h->link) {
		r = -errno;
		owners_bpf__destroy(h->skel);
		goto out_free;
	}
	*ret = h;
	return 0;
out_free:
	free(h);
	return r;
}

int bpf_owners_read(struct bpf_owners *h, pid_t only_pid, uint32_t kernel_states,
		    int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata,
		    struct ts_bpf_status *ret_status)
{
	return read_iter(h->link, only_pid, kernel_states, cb, userdata, ret_status);
}

struct bpf_owners *bpf_owners_close(struct bpf_owners *h)
{
	if (!h)
		return NULL;
	bpf_link__destroy(h->link);
	owners_bpf__destroy(h->skel);
	free(h);
	return NULL;
}

#endif
