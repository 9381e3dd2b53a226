/* SPDX-License-Identifier: MIT */
/*
 * Loader of sockets.bpf.c: loads the skeleton once, makes an iterator of it
 * per read (in the caller's namespace) and hands each record to a callback.
 * Built with -DTCPSTATE_NO_BPF it is stubs that say "not built".
 */
#include <errno.h>
#include <string.h>

#include "snapshot/bpf/sockets.h"

#ifdef TCPSTATE_NO_BPF

int bpf_sockets_open(struct bpf_sockets **ret, struct ts_bpf_status *ret_status)
{
	if (ret_status) {
		memset(ret_status, 0, sizeof(*ret_status));
		ret_status->failure = TS_BPF_FAILURE_NOT_BUILT;
		ret_status->err = EOPNOTSUPP;
	}
	return -EOPNOTSUPP;
}

int bpf_sockets_read(struct bpf_sockets *h, uint32_t kernel_states,
		     int (*cb)(const struct sockets_event *e, void *userdata), void *userdata,
		     struct ts_bpf_status *ret_status)
{
	return bpf_sockets_open(NULL, ret_status);
}

struct bpf_sockets *bpf_sockets_close(struct bpf_sockets *h)
{
	return NULL;
}

int bpf_sockets_built(void)
{
	return 0;
}

#else

#include <linux/types.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "snapshot/bpf/bpf_load.h"
#include "snapshot/bpf/sockets_event.h"
#include "sockets.skel.h"

_Static_assert(sizeof(struct sockets_event) == 128, "sockets_event has implicit padding");

#define READ_CHUNK (1u << 20)

struct bpf_sockets {
	struct sockets_bpf *skel;
	struct bpf_link *link;
	char *buf; /* READ_CHUNK, kept between reads */
};

int bpf_sockets_built(void)
{
	return 1;
}

static int load(struct sockets_bpf **ret, struct ts_bpf_status *st)
{
	struct sockets_bpf *skel;
	/* iter/tcp and bpf_skc_to_*() are 5.9. */
	int r = bpf_load_prepare(5, 9, "iter/tcp", st);

	if (r < 0)
		return r;
	errno = 0;
	skel = sockets_bpf__open();
	if (!skel)
		return bpf_load_open_failed(st);
	r = bpf_load_skeleton(skel->skeleton, skel->progs.sockets, st);
	if (r == 0 && skel->kconfig->CONFIG_HZ == 0) {
		/* libbpf found no kernel config: the program cannot turn jiffies
		 * into time, and a wrong time is worse than the dump. */
		r = -EOPNOTSUPP;
		bpf_status_set(st, TS_BPF_FAILURE_KERNEL, EOPNOTSUPP,
			       "the kernel's HZ is unknown (no /proc/config.gz nor "
			       "/boot/config-RELEASE)");
	}
	if (r < 0) {
		sockets_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

int bpf_sockets_open(struct bpf_sockets **ret, struct ts_bpf_status *ret_status)
{
	struct bpf_sockets *h;
	int r;

	if (ret_status)
		memset(ret_status, 0, sizeof(*ret_status));
	h = calloc(1, sizeof(*h));
	if (h)
		h->buf = malloc(READ_CHUNK);
	if (!h || !h->buf) {
		free(h);
		bpf_status_set(ret_status, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		return -ENOMEM;
	}
	r = load(&h->skel, ret_status);
	if (r < 0)
		goto out_free;
	h->link = bpf_load_attach_iter(h->skel->progs.sockets, NULL, ret_status);
	if (!h->link) {
		r = -errno;
		sockets_bpf__destroy(h->skel);
		goto out_free;
	}
	*ret = h;
	return 0;
out_free:
	free(h->buf);
	free(h);
	return r;
}

struct read_ctx {
	int (*cb)(const struct sockets_event *e, void *userdata);
	void *userdata;
};

/* bpf_load_read_iter() copies each record to aligned memory. */
static int one(const void *rec, void *userdata)
{
	const struct read_ctx *c = userdata;

	return c->cb(rec, c->userdata);
}

int bpf_sockets_read(struct bpf_sockets *h, uint32_t kernel_states,
		     int (*cb)(const struct sockets_event *e, void *userdata), void *userdata,
		     struct ts_bpf_status *ret_status)
{
	struct read_ctx c = { cb, userdata };

	h->skel->data->state_mask = kernel_states ? kernel_states : UINT32_MAX;
	return bpf_load_read_iter(h->link, h->buf, READ_CHUNK, sizeof(struct sockets_event), one,
				  &c, ret_status);
}

struct bpf_sockets *bpf_sockets_close(struct bpf_sockets *h)
{
	if (!h)
		return NULL;
	bpf_link__destroy(h->link);
	sockets_bpf__destroy(h->skel);
	free(h->buf);
	free(h);
	return NULL;
}

#endif
