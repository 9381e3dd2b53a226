/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "snapshot/snapshot.h"

struct ts_snapshot *snapshot_new(void)
{
	return calloc(1, sizeof(struct ts_snapshot));
}

int snapshot_reserve(struct ts_snapshot *snap, size_t sockets, size_t owners)
{
	int r = array_grow((void **)&snap->sockets, &snap->cap_sockets, sockets, sizeof(*snap->sockets));

	if (r == 0)
		r = array_grow((void **)&snap->owners, &snap->cap_owners, owners, sizeof(*snap->owners));
	return r;
}

int snapshot_socket_append(struct ts_snapshot *snap, const struct ts_socket *s)
{
	int r = array_grow((void **)&snap->sockets, &snap->cap_sockets, snap->n_sockets + 1,
		     sizeof(*snap->sockets));

	if (r < 0)
		return r;
	snap->sockets[snap->n_sockets++] = *s;
	return 0;
}

int snapshot_netns_append(struct ts_snapshot *snap, const struct ts_netns *ns, uint32_t *ret_index)
{
	int r = array_grow((void **)&snap->netns, &snap->cap_netns, snap->n_netns + 1,
		     sizeof(*snap->netns));

	if (r < 0)
		return r;
	snap->netns[snap->n_netns] = *ns;
	*ret_index = (uint32_t)snap->n_netns++;
	return 0;
}

int snapshot_owner_append(struct ts_snapshot *snap, const struct ts_owner *o)
{
	int r = array_grow((void **)&snap->owners, &snap->cap_owners, snap->n_owners + 1,
		     sizeof(*snap->owners));

	if (r < 0)
		return r;
	snap->owners[snap->n_owners++] = *o;
	return 0;
}

int snapshot_process_append(struct ts_snapshot *snap, const struct ts_process *p, uint32_t *ret_index)
{
	int r = array_grow((void **)&snap->processes, &snap->cap_processes, snap->n_processes + 1,
		     sizeof(*snap->processes));

	if (r < 0)
		return r;
	snap->processes[snap->n_processes] = *p;
	*ret_index = (uint32_t)snap->n_processes++;
	return 0;
}

struct ts_snapshot *ts_snapshot_free(struct ts_snapshot *snap)
{
	if (!snap)
		return NULL;
	free(snap->sockets);
	free(snap->owners);
	free(snap->processes);
	free(snap->netns);
	free(snap);
	return NULL;
}

size_t ts_snapshot_socket_count(const struct ts_snapshot *snap)
{
	return snap->n_sockets;
}

const struct ts_socket *ts_snapshot_socket(const struct ts_snapshot *snap, size_t i)
{
	return i < snap->n_sockets ? &snap->sockets[i] : NULL;
}

const struct ts_owner *ts_snapshot_owners(const struct ts_snapshot *snap, const struct ts_socket *s)
{
	if (s->owner_count == 0 || s->owner_first >= snap->n_owners)
		return NULL;
	return &snap->owners[s->owner_first];
}

size_t ts_snapshot_process_count(const struct ts_snapshot *snap)
{
	return snap->n_processes;
}

const struct ts_process *ts_snapshot_process(const struct ts_snapshot *snap, uint32_t index)
{
	return index < snap->n_processes ? &snap->processes[index] : NULL;
}

size_t ts_snapshot_netns_count(const struct ts_snapshot *snap)
{
	return snap->n_netns;
}

const struct ts_netns *ts_snapshot_netns(const struct ts_snapshot *snap, uint32_t index)
{
	return index < snap->n_netns ? &snap->netns[index] : NULL;
}

const struct ts_snapshot_stats *ts_snapshot_stats(const struct ts_snapshot *snap)
{
	return &snap->stats;
}

int snapshot_owners_finalize(struct ts_snapshot *snap)
{
	struct ts_owner *sorted;
	uint32_t *pos;
	size_t i;

	for (i = 0; i < snap->n_sockets; i++) {
		snap->sockets[i].owner_count = 0;
		snap->sockets[i].owner_first = UINT32_MAX;
	}
	if (snap->n_owners == 0)
		return 0;

	/* Counting sort by socket: O(n), keeps scan order within a socket. */
	sorted = malloc(snap->n_owners * sizeof(*sorted));
	pos = calloc(snap->n_sockets + 1, sizeof(*pos));
	if (!sorted || !pos) {
		free(sorted);
		free(pos);
		return -ENOMEM;
	}
	for (i = 0; i < snap->n_owners; i++)
		pos[snap->owners[i].socket_index + 1]++;
	for (i = 0; i < snap->n_sockets; i++)
		pos[i + 1] += pos[i];
	for (i = 0; i < snap->n_sockets; i++) {
		uint32_t count = pos[i + 1] - pos[i];

		snap->sockets[i].owner_first = count ? pos[i] : UINT32_MAX;
		snap->sockets[i].owner_count = count > UINT16_MAX ? UINT16_MAX : (uint16_t)count;
	}
	for (i = 0; i < snap->n_owners; i++)
		sorted[pos[snap->owners[i].socket_index]++] = snap->owners[i];
	free(pos);
	/* Within a socket, by pid then fd: the walk's order depends on threads. */
	for (i = 0; i < snap->n_sockets; i++) {
		uint32_t count = snap->sockets[i].owner_count;
		struct ts_owner *o;

		if (count < 2)
			continue;
		o = &sorted[snap->sockets[i].owner_first];
		for (uint32_t a = 1; a < count; a++) {
			struct ts_owner key = o[a];
			uint32_t b = a;

			while (b > 0 && (o[b - 1].pid > key.pid ||
					 (o[b - 1].pid == key.pid && o[b - 1].fd > key.fd))) {
				o[b] = o[b - 1];
				b--;
			}
			o[b] = key;
		}
	}
	free(snap->owners);
	snap->owners = sorted;
	snap->cap_owners = snap->n_owners;
	return 0;
}
