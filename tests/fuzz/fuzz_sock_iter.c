/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a read() of the BPF socket iterator returns, records
 * of struct sockets_event one after the other (lib/snapshot/sock_iter.c), as a
 * program that disagreed with its loader (another build's) might write them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snapshot/snapshot.h"
#include "snapshot/sock_iter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_snapshot *snap = snapshot_new();
	struct sock_iter_ctx ctx = { .snap = snap, .want_info = size % 2 == 0 };
	size_t n = 0;

	if (!snap)
		return 0;
	for (size_t off = 0; off + sizeof(struct sockets_event) <= size; off += sizeof(struct sockets_event)) {
		struct sockets_event e;

		memcpy(&e, data + off, sizeof(e));
		if (sock_iter_append(&e, &ctx) < 0)
			break; /* -ENOMEM */
		n++;
	}
	if (ctx.malformed + snap->n_sockets != n)
		abort(); /* every record is a socket or counted as malformed */
	for (size_t i = 0; i < snap->n_sockets; i++) {
		const struct ts_socket *s = &snap->sockets[i];

		if (s->state >= _TS_STATE_MAX || (s->family != AF_INET && s->family != AF_INET6) ||
		    s->timer >= _TS_TIMER_MAX)
			abort(); /* only known states, families and timers get in */
		if (!ctx.want_info && (s->flags & TS_SOCK_HAS_INFO))
			abort();
	}
	ts_snapshot_free(snap);
	return 0;
}
