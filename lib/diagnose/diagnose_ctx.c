/* SPDX-License-Identifier: MIT */
/* Helpers shared by the rules of ts_diagnose(): keyed socket entries, filling in findings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "diagnose/diagnose_ctx.h"
#include "tcpstate/activity.h"

#define MAX_PIDS 64    /* per finding; beyond that the finding keeps the count only */
#define MAX_GROUPS 256 /* per finding */
_Static_assert(DIAGNOSE_GROUP_SLOTS >= 2 * MAX_GROUPS, "a group index at most half full");

int diagnose_ents_push(struct diagnose_ents *e, const struct diagnose_ent *x)
{
	if (array_grow((void **)&e->v, &e->cap, e->n + 1, sizeof(*e->v)) < 0)
		return -ENOMEM;
	e->v[e->n++] = *x;
	return 0;
}

static int cmp_num(long long a, long long b)
{
	return (a > b) - (a < b);
}

static int pid_cmp(const void *a, const void *b)
{
	return cmp_num(*(const pid_t *)a, *(const pid_t *)b);
}

/* Drops repeats from sorted pids; the new count. */
static size_t unique_pids(pid_t *pids, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (k == 0 || pids[k - 1] != pids[i])
			pids[k++] = pids[i];
	return k;
}

static int ent_key_cmp(const struct diagnose_ent *x, const struct diagnose_ent *y)
{
	int r;

	if ((r = cmp_num(x->k_netns, y->k_netns)))
		return r;
	if ((r = cmp_num(x->k_family, y->k_family)))
		return r;
	if ((r = memcmp(&x->k_addr, &y->k_addr, sizeof(x->k_addr))))
		return r;
	if ((r = cmp_num(x->k_port, y->k_port)))
		return r;
	if ((r = cmp_num(x->k_lport, y->k_lport)))
		return r;
	return cmp_num(x->k_pid, y->k_pid);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct diagnose_ent *x = a, *y = b;
	int r = ent_key_cmp(x, y);

	if (r)
		return r;
	if ((r = cmp_num(x->sock, y->sock)))
		return r;
	return cmp_num(x->fd, y->fd);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* What orders the groups of stable_key_sort(): each by its first item's key. */
struct key_sort {
	const char *v;
	size_t size;
	const uint32_t *first; /* per group: its first item */
	int (*key_cmp)(const void *a, const void *b, void *ctx);
	void *ctx;
};

static int group_order_cmp(const void *a, const void *b, void *arg)
{
	const struct key_sort *k = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return k->key_cmp(k->v + (size_t)k->first[x] * k->size, k->v + (size_t)k->first[y] * k->size,
			  k->ctx);
}

/*
 * Sorts n items of size bytes by a key, keeping the items' order within equal
 * keys: the items are grouped by a hash of their key (O(n)), the groups (the
 * distinct keys, few of them where many sockets share a process or a peer)
 * sorted by key_cmp, then the items moved group by group. A sort of all the
 * items by key and then by their order in v gives the same. 0 or -ENOMEM
 * (v untouched then).
 */
static int stable_key_sort(void *v, size_t n, size_t size,
			   uint64_t (*key_hash)(const void *item, void *ctx),
			   int (*key_cmp)(const void *a, const void *b, void *ctx), void *ctx)
{
	size_t n_slots = 16, mask, n_groups = 0;
	uint32_t *slots = NULL, *group = NULL, *first = NULL, *order = NULL;
	char *out = NULL, *items = v;
	int r = -ENOMEM;

	if (n < 2)
		return 0;
	if (n > UINT32_MAX / 2)
		return -ENOMEM;
	while (n_slots < n * 2)
		n_slots *= 2;
	mask = n_slots - 1;
	slots = calloc(n_slots, sizeof(*slots)); /* group + 1; 0: free */
	group = malloc(n * sizeof(*group));
	first = malloc(n * sizeof(*first));
	if (!slots || !group || !first)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *x = items + i * size;
		size_t h = (size_t)key_hash(x, ctx) & mask;

		while (slots[h] && key_cmp(items + (size_t)first[slots[h] - 1] * size, x, ctx) != 0)
			h = (h + 1) & mask;
		if (!slots[h]) {
			first[n_groups] = (uint32_t)i;
			slots[h] = (uint32_t)++n_groups;
		}
		group[i] = slots[h] - 1;
	}
	order = malloc(n_groups * sizeof(*order));
	out = malloc(n * size);
	if (!order || !out)
		goto out;
	for (size_t g = 0; g < n_groups; g++)
		order[g] = (uint32_t)g;
	qsort_r(order, n_groups, sizeof(*order), group_order_cmp,
		&(struct key_sort){ items, size, first, key_cmp, ctx });
	/* slots[g]: where group g starts in out (counts, then their sums in key order). */
	memset(slots, 0, n_groups * sizeof(*slots));
	for (size_t i = 0; i < n; i++)
		slots[group[i]]++;
	for (size_t k = 0, at = 0; k < n_groups; k++) {
		uint32_t count = slots[order[k]];

		slots[order[k]] = (uint32_t)at;
		at += count;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(out + (size_t)slots[group[i]]++ * size, items + i * size, size);
	memcpy(items, out, n * size);
	r = 0;
out:
	free(out);
	free(order);
	free(first);
	free(group);
	free(slots);
	return r;
}

static uint64_t ent_key_hash(const void *item, void *ctx)
{
	const struct diagnose_ent *x = item;
	uint64_t a, b;

	(void)ctx;
	memcpy(&a, &x->k_addr, sizeof(a));
	memcpy(&b, (const char *)&x->k_addr + sizeof(a), sizeof(b));
	return mix64(mix64(mix64((uint64_t)x->k_netns << 32 | (uint64_t)x->k_family << 16 | x->k_port) ^
			   a) ^ b) ^ mix64((uint64_t)(uint32_t)x->k_pid << 16 | x->k_lport);
}

static int ent_key_cmp_r(const void *a, const void *b, void *ctx)
{
	(void)ctx;
	return ent_key_cmp(a, b);
}

/* Whether the entries are in (socket, fd) order, as the gatherers push them. */
static bool ents_in_socket_order(const struct diagnose_ents *e)
{
	for (size_t i = 1; i < e->n; i++) {
		const struct diagnose_ent *x = &e->v[i - 1], *y = &e->v[i];

		if (x->sock > y->sock || (x->sock == y->sock && x->fd > y->fd))
			return false;
	}
	return true;
}

void diagnose_ents_sort(struct diagnose_ents *e)
{
	if (e->n < 2)
		return;
	/* In (socket, fd) order a stable sort by key is ent_cmp's order. */
	if (ents_in_socket_order(e) &&
	    stable_key_sort(e->v, e->n, sizeof(*e->v), ent_key_hash, ent_key_cmp_r, NULL) == 0)
		return;
	qsort(e->v, e->n, sizeof(*e->v), ent_cmp);
}

/* End of the run of entries sharing v[i]'s key. */
size_t diagnose_run_end(const struct diagnose_ents *e, size_t i)
{
	size_t j = i + 1;

	while (j < e->n && ent_key_cmp(&e->v[i], &e->v[j]) == 0)
		j++;
	return j;
}

const struct ts_socket *diagnose_sock_at(const struct diagnose_ctx *c, uint32_t i)
{
	return ts_snapshot_socket(c->snap, i);
}

void diagnose_note_age(struct ts_finding *f, const struct ts_socket *s)
{
	uint64_t age;

	if (ts_socket_peer_silence_ms(s, &age) && (!f->has_age || age > f->age_min_ms)) {
		f->has_age = true;
		f->age_min_ms = age;
	}
}

int diagnose_add_fd(struct ts_finding *f, int fd)
{
	int *v;

	if (fd < 0)
		return 0;
	if (f->n_fds && f->fds[f->n_fds - 1] == fd)
		return 0;
	/* Room for a power of two of them (from 16): one realloc per doubling. */
	if (f->n_fds == 0 || (f->n_fds >= 16 && (f->n_fds & (f->n_fds - 1)) == 0)) {
		size_t cap = f->n_fds ? f->n_fds * 2 : 16;

		v = realloc(f->fds, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->fds = v;
	}
	f->fds[f->n_fds++] = fd;
	return 0;
}

static int int_cmp(const void *a, const void *b)
{
	return cmp_num(*(const int *)a, *(const int *)b);
}

static bool group_key_eq(const struct ts_finding_group *g, const struct ts_finding_group *key)
{
	return g->family == key->family && g->local_port == key->local_port &&
	       g->remote_port == key->remote_port && g->client == key->client &&
	       memcmp(&g->remote_addr, &key->remote_addr, sizeof(key->remote_addr)) == 0;
}

static size_t group_slot(const struct ts_finding_group *key)
{
	uint64_t a, b;

	memcpy(&a, &key->remote_addr, sizeof(a));
	memcpy(&b, (const char *)&key->remote_addr + sizeof(a), sizeof(b));
	return (size_t)mix64(mix64(a ^ mix64(b)) ^ ((uint64_t)key->family << 40 |
			     (uint64_t)key->client << 32 | (uint64_t)key->local_port << 16 |
			     key->remote_port)) & (DIAGNOSE_GROUP_SLOTS - 1);
}

/* The index of f's groups (c->groups follows one finding at a time: made again for another). */
static void group_index_follow(struct diagnose_ctx *c, const struct ts_finding *f)
{
	struct diagnose_group_index *ix = &c->groups;

	if (ix->f == f && ix->n == f->n_groups)
		return;
	memset(ix->slots, 0, sizeof(ix->slots));
	for (size_t i = 0; i < f->n_groups; i++) {
		size_t h = group_slot(&f->groups[i]);

		while (ix->slots[h])
			h = (h + 1) & (DIAGNOSE_GROUP_SLOTS - 1);
		ix->slots[h] = (uint16_t)(i + 1);
	}
	ix->f = f;
	ix->n = f->n_groups;
}

static int add_group(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s,
		     bool with_lport, bool with_rport, bool client, uint64_t unread)
{
	struct ts_finding_group key = { .family = s->family, .client = client };
	struct ts_finding_group *v;
	size_t h;

	if (with_lport)
		key.local_port = s->local_port;
	if (s->flags & TS_SOCK_REMOTE_VALID) {
		key.remote_addr = s->remote_addr;
		if (with_rport)
			key.remote_port = s->remote_port;
	}
	group_index_follow(c, f);
	for (h = group_slot(&key); c->groups.slots[h]; h = (h + 1) & (DIAGNOSE_GROUP_SLOTS - 1)) {
		struct ts_finding_group *g = &f->groups[c->groups.slots[h] - 1];

		if (group_key_eq(g, &key)) {
			g->count++;
			g->unread_bytes += unread;
			g->resets += s->state == TS_STATE_CLOSED && s->pending_error == ECONNRESET;
			return 0;
		}
	}
	if (f->n_groups >= MAX_GROUPS) { /* bounded: the total stays complete, the cap is said */
		f->groups_capped = true;
		f->ungrouped++;
		return 0;
	}
	v = realloc(f->groups, (f->n_groups + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	key.count = 1;
	key.unread_bytes = unread;
	key.resets = s->state == TS_STATE_CLOSED && s->pending_error == ECONNRESET;
	v[f->n_groups++] = key;
	f->groups = v;
	c->groups.slots[h] = (uint16_t)f->n_groups;
	c->groups.n = f->n_groups;
	return 0;
}

/* Adds one socket to the group (family, lport, addr, rport) of f. */
int diagnose_add_group(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s,
		       bool with_lport, bool with_rport, uint64_t unread)
{
	return add_group(c, f, s, with_lport, with_rport, false, unread);
}

static int group_cmp(const void *a, const void *b)
{
	const struct ts_finding_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return cmp_num(x->local_port, y->local_port);
}

/* Ascending, as qsort() with int_cmp: fds (never negative here) in thousands are an LSD
 * radix sort's, 11 bits a pass. */
static void sort_fds(int *v, size_t n)
{
	uint32_t *tmp, *a, *b, max = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] < 0)
			goto fallback;
		else if ((uint32_t)v[i] > max)
			max = (uint32_t)v[i];
	if (n < 256 || !(tmp = malloc(n * sizeof(*tmp))))
		goto fallback;
	a = (uint32_t *)v;
	b = tmp;
	for (unsigned shift = 0; shift < 32 && (max >> shift); shift += 11) {
		size_t count[2049] = { 0 };

		for (size_t i = 0; i < n; i++)
			count[((a[i] >> shift) & 2047) + 1]++;
		for (size_t k = 1; k <= 2048; k++)
			count[k] += count[k - 1];
		for (size_t i = 0; i < n; i++)
			b[count[(a[i] >> shift) & 2047]++] = a[i];
		uint32_t *t = a;
		a = b;
		b = t;
	}
	if (a != (uint32_t *)v)
		memcpy(v, a, n * sizeof(*v));
	free(tmp);
	return;
fallback:
	qsort(v, n, sizeof(*v), int_cmp);
}

void diagnose_finish_lists(struct diagnose_ctx *c, struct ts_finding *f)
{
	c->groups.f = NULL; /* sorted below: the index no longer holds */
	if (f->n_groups > 1)
		qsort(f->groups, f->n_groups, sizeof(*f->groups), group_cmp);
	if (f->n_fds > 1)
		sort_fds(f->fds, f->n_fds);
	/* One local port / remote end for all: say so on the finding itself. */
	if (f->n_groups == 1) {
		if (!f->local_port)
			f->local_port = f->groups[0].local_port;
	}
}

/* The culprit process: comm from the snapshot, facts from procs. */
void diagnose_set_culprit(const struct diagnose_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		      const struct ts_diagnose_procs *procs, pid_t pid, uint32_t process_index)
{
	const struct ts_process *p = ts_snapshot_process(snap, process_index);
	const struct ts_procinfo *pi = ts_diagnose_procs_find(procs, pid);

	(void)c;
	f->pid = pid;
	if (p && p->pid == pid)
		memcpy(f->comm, p->comm, sizeof(f->comm));
	if (pi) {
		f->has_proc = true;
		f->proc = *pi;
	}
}

/* Owner i of a socket, or NULL. */
const struct ts_owner *diagnose_owner_of(const struct diagnose_ctx *c, const struct ts_socket *s, unsigned i)
{
	const struct ts_owner *o = ts_snapshot_owners(c->snap, s);

	return o && i < s->owner_count ? &o[i] : NULL;
}

/* ---- gathering sockets ---- */

/* Per owner (pid 0 / fd -1 for sockets without one), keyed by pid. */
int diagnose_gather_by_pid(const struct diagnose_ctx *c, const struct ts_snapshot *snap, ts_state_mask_t m,
		       bool with_unowned, struct diagnose_ents *e)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s;
		const struct ts_owner *o;
		struct diagnose_ent x = { .sock = (uint32_t)i, .fd = -1 };

		if (!diagnose_state_in(c, snap, i, m))
			continue;
		s = ts_snapshot_socket(snap, i);
		o = ts_snapshot_owners(snap, s);
		if (!o || !s->owner_count) {
			if (with_unowned && diagnose_ents_push(e, &x) < 0)
				return -ENOMEM;
			continue;
		}
		for (unsigned k = 0; k < s->owner_count; k++) {
			x.k_pid = x.pid = o[k].pid;
			x.fd = o[k].fd;
			if (diagnose_ents_push(e, &x) < 0)
				return -ENOMEM;
		}
	}
	diagnose_ents_sort(e);
	return 0;
}

/* One entry per socket in m, keyed by (netns, family, remote address[, remote port]). */
int diagnose_gather_by_remote(const struct diagnose_ctx *c, ts_state_mask_t m, bool with_port,
			  bool (*want)(const struct diagnose_ctx *c, const struct ts_socket *s),
			  struct diagnose_ents *e)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s;
		struct diagnose_ent x = { .sock = (uint32_t)i, .fd = -1 };

		if (!diagnose_state_in(c, c->snap, i, m))
			continue;
		s = diagnose_sock_at(c, (uint32_t)i);
		if (want && !want(c, s))
			continue;
		x.k_netns = s->netns_index;
		x.k_family = s->family;
		if (s->flags & TS_SOCK_REMOTE_VALID) {
			x.k_addr = s->remote_addr;
			if (with_port)
				x.k_port = s->remote_port;
		}
		if (diagnose_ents_push(e, &x) < 0)
			return -ENOMEM;
	}
	diagnose_ents_sort(e);
	return 0;
}

/* Pids (and, when a single process holds them all, its fds and facts) of a run of sockets. */
int diagnose_add_owners(struct diagnose_ctx *c, struct ts_finding *f, const struct diagnose_ents *e, size_t i,
		    size_t end)
{
	const struct ts_socket *with_owner = NULL;
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t j = i; r == 0 && j < end; j++) {
		const struct ts_socket *s = diagnose_sock_at(c, e->v[j].sock);

		for (unsigned k = 0; r == 0 && k < s->owner_count; k++) {
			const struct ts_owner *o = diagnose_owner_of(c, s, k);

			if (!o)
				break;
			if (!with_owner)
				with_owner = s;
			if (n && pids[n - 1] == o->pid)
				continue;
			r = array_grow((void **)&pids, &cap, n + 1, sizeof(*pids));
			if (r == 0)
				pids[n++] = o->pid;
		}
	}
	if (r == 0 && n) {
		qsort(pids, n, sizeof(*pids), pid_cmp);
		n = unique_pids(pids, n);
		r = diagnose_set_holders(c, f, c->snap, c->in->procs, with_owner, pids, n);
	}
	free(pids);
	if (r < 0)
		return r;
	if (f->n_pids + f->pids_omitted > 1) { /* several holders: no single culprit process */
		f->pid = 0;
		f->has_proc = false;
		f->comm[0] = '\0';
		return 0;
	}
	for (size_t j = i; r == 0 && f->pid && j < end; j++) {
		const struct ts_socket *s = diagnose_sock_at(c, e->v[j].sock);

		for (unsigned k = 0; r == 0 && k < s->owner_count; k++) {
			const struct ts_owner *o = diagnose_owner_of(c, s, k);

			if (o && o->pid == f->pid)
				r = diagnose_add_fd(f, o->fd);
		}
	}
	return r;
}

void diagnose_set_remote(struct ts_finding *f, const struct diagnose_ent *x, bool with_port)
{
	f->family = x->k_family;
	f->has_remote = true;
	f->remote_addr = x->k_addr;
	f->remote_port = with_port ? x->k_port : 0;
}

/* ---- holders: sockets keyed by the set of processes holding them ---- */

static uint64_t pids_hash(const pid_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint64_t)(uint32_t)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int hent_set_cmp(const struct diagnose_hent *x, const struct diagnose_hent *y, const pid_t *pool)
{
	int r;

	if ((r = cmp_num(x->netns, y->netns)))
		return r;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if ((r = cmp_num(x->n, y->n)))
		return r;
	for (uint32_t i = 0; i < x->n; i++)
		if ((r = cmp_num(pool[x->off + i], pool[y->off + i])))
			return r;
	return 0;
}

static int hent_set_cmp_r(const void *a, const void *b, void *pool)
{
	return hent_set_cmp(a, b, pool);
}

static uint64_t hent_key_hash(const void *item, void *pool)
{
	const struct diagnose_hent *x = item;

	(void)pool;
	return mix64(x->hash ^ mix64((uint64_t)x->netns << 32 | x->n));
}

static int hent_cmp(const void *a, const void *b, void *pool)
{
	const struct diagnose_hent *x = a, *y = b;
	int r = hent_set_cmp(x, y, pool);

	return r ? r : cmp_num(x->sock, y->sock);
}

int diagnose_gather_by_holders(const struct diagnose_ctx *c, ts_state_mask_t m, bool with_unowned,
			   struct diagnose_holders *h)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s;
		const struct ts_owner *o;
		struct diagnose_hent x = { .sock = (uint32_t)i };

		if (!diagnose_state_in(c, c->snap, i, m))
			continue;
		s = diagnose_sock_at(c, (uint32_t)i);
		if (!s->owner_count && !with_unowned)
			continue;
		o = ts_snapshot_owners(c->snap, s);
		x.netns = s->netns_index;
		if (array_grow((void **)&h->pool, &h->cap_pool, h->n_pool + s->owner_count + 1,
			       sizeof(*h->pool)) < 0 ||
		    array_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)) < 0)
			return -ENOMEM;
		x.off = (uint32_t)h->n_pool;
		for (unsigned k = 0; o && k < s->owner_count; k++)
			h->pool[h->n_pool + k] = o[k].pid;
		if (o && s->owner_count > 1)
			qsort(h->pool + h->n_pool, s->owner_count, sizeof(*h->pool), pid_cmp);
		x.n = o ? (uint32_t)unique_pids(h->pool + h->n_pool, s->owner_count) : 0;
		x.hash = pids_hash(h->pool + x.off, x.n);
		h->n_pool += x.n;
		h->v[h->n++] = x;
	}
	/* Pushed in socket order: a stable sort by holder set is hent_cmp's order. */
	if (h->n > 1 && stable_key_sort(h->v, h->n, sizeof(*h->v), hent_key_hash, hent_set_cmp_r,
					h->pool) < 0)
		qsort_r(h->v, h->n, sizeof(*h->v), hent_cmp, h->pool);
	return 0;
}

size_t diagnose_holders_run_end(const struct diagnose_holders *h, size_t i)
{
	size_t j = i + 1;

	while (j < h->n && hent_set_cmp(&h->v[i], &h->v[j], h->pool) == 0)
		j++;
	return j;
}

void diagnose_holders_free(struct diagnose_holders *h)
{
	free(h->v);
	free(h->pool);
	*h = (struct diagnose_holders){ 0 };
}

/* A pid with what orders it among the holders of one socket set. */
struct pid_rank {
	pid_t pid;
	unsigned depth;      /* ancestors among the other holders: a parent before its children */
	bool known;          /* start time read */
	uint64_t start;
};

static int rank_cmp(const void *a, const void *b)
{
	const struct pid_rank *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	if (x->known != y->known)
		return x->known ? -1 : 1;
	if (x->known && x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return cmp_num(x->pid, y->pid);
}

/* Orders pids parent first: ancestors before descendants (ppid), then the oldest
 * (start time: the same clock tick is common for a fork), then pid. Pids wrap:
 * a child may have the lower pid. 0 or -ENOMEM. */
static int order_pids(const struct ts_diagnose_procs *procs, pid_t *pids, size_t n)
{
	struct pid_rank *r;

	if (n < 2)
		return 0;
	r = calloc(n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_procinfo *p = ts_diagnose_procs_find(procs, pids[i]);

		r[i].pid = pids[i];
		r[i].known = p && !p->stat_err;
		r[i].start = r[i].known ? p->start_ticks : 0;
		/* Walk up through the holders (bounded: a cycle cannot happen, pids could be reused). */
		for (size_t step = 0; p && !p->stat_err && step < n; step++) {
			const struct ts_procinfo *up = NULL;

			for (size_t k = 0; k < n && !up; k++)
				if (pids[k] == p->ppid && pids[k] != p->pid)
					up = ts_diagnose_procs_find(procs, pids[k]);
			if (!up)
				break;
			r[i].depth++;
			p = up;
		}
	}
	qsort(r, n, sizeof(*r), rank_cmp);
	for (size_t i = 0; i < n; i++)
		pids[i] = r[i].pid;
	free(r);
	return 0;
}

int diagnose_set_holders(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		     const struct ts_diagnose_procs *procs, const struct ts_socket *s, const pid_t *pids,
		     size_t n)
{
	const struct ts_owner *o = s ? ts_snapshot_owners(snap, s) : NULL;
	size_t keep = n < MAX_PIDS ? n : MAX_PIDS;
	pid_t *v;

	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, pids, n * sizeof(*v));
	if (order_pids(procs, v, n) < 0) {
		free(v);
		return -ENOMEM;
	}
	free(f->pids);
	f->pids = v;
	f->n_pids = keep;
	f->pids_omitted = n - keep;
	for (unsigned k = 0; o && k < s->owner_count; k++)
		if (o[k].pid == v[0]) {
			diagnose_set_culprit(c, f, snap, procs, v[0], o[k].process_index);
			return 0;
		}
	diagnose_set_culprit(c, f, snap, procs, v[0], UINT32_MAX);
	return 0;
}

/* ---- facts about sockets the rules share ---- */

bool diagnose_is_accepted(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	uint32_t key = s->netns_index << 16 | s->local_port;
	size_t lo = 0, hi = c->n_listen;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->listen_keys[mid] == key)
			return true;
		if (c->listen_keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int diagnose_add_stable_group(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s,
			  uint64_t unread)
{
	bool accepted = diagnose_is_accepted(c, s) || !(s->flags & TS_SOCK_REMOTE_VALID);

	return add_group(c, f, s, accepted, !accepted, !accepted, unread);
}

int diagnose_age_check(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	uint64_t age;

	if (!ts_socket_peer_silence_ms(s, &age))
		return -ENODATA;
	return age >= (uint64_t)c->th.min_age_s * 1000;
}

bool diagnose_old_enough(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	return diagnose_age_check(c, s) != 0;
}

bool diagnose_cw_settled(const struct diagnose_ctx *c, const struct ts_snapshot *snap, const struct ts_socket *s,
		     bool *unknown)
{
	const struct ts_snapshot *other;
	const struct sock_index *idx;
	int old = diagnose_age_check(c, s);
	uint32_t k;

	if (unknown)
		*unknown = false;
	if (old >= 0)
		return old;
	if (!c->has_idx) {
		if (unknown)
			*unknown = true;
		return true;
	}
	/* No tcp_info: old enough when the other look has it in CLOSE_WAIT too. */
	other = snap == c->snap ? c->in->later : c->snap;
	idx = snap == c->snap ? &c->idx_later : &c->idx_first;
	/* (an index not built is one no socket is looked for in: see diagnose_ctx_prepare()) */
	k = s->inode && idx->slots ? sock_index_find(idx, s->inode, s->cookie) : UINT32_MAX;
	return k != UINT32_MAX && ts_snapshot_socket(other, k)->state == TS_STATE_CLOSE_WAIT;
}

/* An address as IPv4 when it is IPv4-mapped IPv6 (::ffff:a.b.c.d): a dual-stack socket's peer. */
static void addr_norm(uint8_t family, const struct in6_addr *a, uint8_t *ret_family,
		      struct in6_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a)) {
		*ret_family = AF_INET;
		ret->s6_addr32[0] = a->s6_addr32[3];
	} else if (family == AF_INET) {
		*ret_family = AF_INET;
		ret->s6_addr32[0] = a->s6_addr32[0];
	} else {
		*ret_family = family;
		*ret = *a;
	}
}

/* The tuple (netns, ends) of s, normalized; reversed: as its peer sees it. */
struct tuple {
	struct in6_addr a, b;
	uint32_t netns;
	uint16_t pa, pb;
	uint8_t fa, fb;
};

static void tuple_of(const struct ts_socket *s, bool reversed, struct tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->netns = s->netns_index;
	if (!reversed) {
		addr_norm(s->family, &s->local_addr, &t->fa, &t->a);
		addr_norm(s->family, &s->remote_addr, &t->fb, &t->b);
		t->pa = s->local_port;
		t->pb = s->remote_port;
	} else {
		addr_norm(s->family, &s->remote_addr, &t->fa, &t->a);
		addr_norm(s->family, &s->local_addr, &t->fb, &t->b);
		t->pa = s->remote_port;
		t->pb = s->local_port;
	}
}

static uint32_t tuple_hash(const struct tuple *t)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)t;

	for (size_t i = 0; i < sizeof(*t); i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static int diagnose_tuple_index_build(struct diagnose_ctx *c)
{
	size_t n = ts_snapshot_socket_count(c->snap), want = 0, size = 16;
	struct diagnose_tuple_index *ix = &c->cw_peers;

	for (size_t i = 0; i < n; i++)
		want += c->states[i] == TS_STATE_CLOSE_WAIT;
	if (!want)
		return 0;
	while (size < want * 2)
		size *= 2;
	ix->slots = calloc(size, sizeof(*ix->slots));
	if (!ix->slots)
		return -ENOMEM;
	ix->mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s;
		struct tuple t;
		uint32_t h;

		if (c->states[i] != TS_STATE_CLOSE_WAIT)
			continue;
		s = diagnose_sock_at(c, (uint32_t)i);
		if (!(s->flags & TS_SOCK_REMOTE_VALID))
			continue;
		tuple_of(s, false, &t);
		for (h = tuple_hash(&t); ix->slots[h & ix->mask]; h++)
			;
		ix->slots[h & ix->mask] = (uint32_t)i + 1;
	}
	return 0;
}

const struct ts_socket *diagnose_cw_peer(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	const struct diagnose_tuple_index *ix = &c->cw_peers;
	struct tuple want, t;
	uint32_t h;

	if (!ix->slots || !(s->flags & TS_SOCK_REMOTE_VALID))
		return NULL;
	tuple_of(s, true, &want);
	for (h = tuple_hash(&want); ix->slots[h & ix->mask]; h++) {
		const struct ts_socket *p = diagnose_sock_at(c, ix->slots[h & ix->mask] - 1);

		tuple_of(p, false, &t);
		if (memcmp(&t, &want, sizeof(t)) == 0)
			return p;
	}
	return NULL;
}

static const struct diagnose_pid_count *stale_of(const struct diagnose_ctx *c, pid_t pid)
{
	size_t lo = 0, hi = c->n_stale;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->stale[mid].pid == pid)
			return &c->stale[mid];
		if (c->stale[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool near_fd_limit(const struct diagnose_ctx *c, const struct ts_procinfo *p)
{
	if (!p || p->fd_err || p->nofile_err || p->nofile_soft == TS_PROCINFO_UNLIMITED ||
	    p->nofile_soft == 0)
		return false;
	return (uint64_t)p->fd_count * 100 >= (uint64_t)c->th.fd_critical_pct * p->nofile_soft;
}

void diagnose_holders_severity(const struct diagnose_ctx *c, struct ts_finding *f)
{
	for (size_t i = 0; i < f->n_pids; i++) {
		const struct diagnose_pid_count *st = stale_of(c, f->pids[i]);

		if (st && st->count >= c->th.close_wait_critical) {
			f->severity = TS_SEVERITY_CRITICAL;
			f->severity_reason = TS_SEV_REASON_HELD;
			f->held_stale = st->count;
			f->severity_pid = f->pids[i];
			return;
		}
	}
	for (size_t i = 0; i < f->n_pids; i++)
		if (near_fd_limit(c, ts_diagnose_procs_find(c->in->procs, f->pids[i]))) {
			f->severity = TS_SEVERITY_CRITICAL;
			f->severity_reason = TS_SEV_REASON_FD_LIMIT;
			f->severity_pid = f->pids[i];
			return;
		}
}

static int u32_cmp(const void *a, const void *b)
{
	return cmp_num(*(const uint32_t *)a, *(const uint32_t *)b);
}

/* Per pid: CLOSE_WAIT sockets old enough and CLOSED sockets it holds (each socket once per pid). */
static int stale_counts(struct diagnose_ctx *c)
{
	struct diagnose_ents e = { 0 };
	int r = diagnose_gather_by_pid(c, c->snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT) | TS_STATE_BIT(TS_STATE_CLOSED),
				   false, &e);

	if (r == 0 && e.n) {
		c->stale = calloc(e.n, sizeof(*c->stale));
		if (!c->stale)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < e.n; i++) {
		const struct ts_socket *s = diagnose_sock_at(c, e.v[i].sock);
		bool counts = s->state == TS_STATE_CLOSED ? diagnose_old_enough(c, s)
							  : diagnose_cw_settled(c, c->snap, s, NULL);

		if (c->n_stale == 0 || c->stale[c->n_stale - 1].pid != e.v[i].pid)
			c->stale[c->n_stale++] = (struct diagnose_pid_count){ .pid = e.v[i].pid };
		if (counts && (i == 0 || e.v[i].sock != e.v[i - 1].sock || e.v[i].pid != e.v[i - 1].pid))
			c->stale[c->n_stale - 1].count++;
	}
	free(e.v);
	return r;
}

int diagnose_ctx_prepare(struct diagnose_ctx *c)
{
	size_t n = ts_snapshot_socket_count(c->snap), n_listen = 0;
	bool any_fin_wait_2 = false, need_idx_first = false;
	int r;

	c->states = malloc(n ? n : 1);
	if (!c->states)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint8_t st = diagnose_sock_at(c, (uint32_t)i)->state;

		c->states[i] = st;
		n_listen += st == TS_STATE_LISTEN;
		any_fin_wait_2 |= st == TS_STATE_FIN_WAIT_2;
	}
	if (c->in->later) {
		size_t n_later = ts_snapshot_socket_count(c->in->later);

		c->states_later = malloc(n_later ? n_later : 1);
		if (!c->states_later)
			return -ENOMEM;
		for (size_t i = 0; i < n_later; i++) {
			const struct ts_socket *s = ts_snapshot_socket(c->in->later, i);

			c->states_later[i] = s->state;
			/* Only a later CLOSE_WAIT socket without tcp_info is looked for in
			 * the first look (diagnose_cw_settled()). */
			need_idx_first |= s->state == TS_STATE_CLOSE_WAIT && !(s->flags & TS_SOCK_HAS_INFO);
		}
	}
	if (n_listen) {
		c->listen_keys = malloc(n_listen * sizeof(*c->listen_keys));
		if (!c->listen_keys)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct ts_socket *s = diagnose_sock_at(c, (uint32_t)i);

			if (c->states[i] == TS_STATE_LISTEN)
				c->listen_keys[c->n_listen++] = s->netns_index << 16 | s->local_port;
		}
		qsort(c->listen_keys, c->n_listen, sizeof(*c->listen_keys), u32_cmp);
	}
	if (c->in->later) {
		const struct ts_snapshot *l = c->in->later;

		r = need_idx_first ? sock_index_build(ts_snapshot_socket(c->snap, 0), n, &c->idx_first) : 0;
		if (r == 0)
			r = sock_index_build(ts_snapshot_socket(l, 0), ts_snapshot_socket_count(l),
					     &c->idx_later);
		if (r < 0)
			return r;
		c->has_idx = true;
	}
	r = stale_counts(c);
	if (r == 0 && any_fin_wait_2)
		r = diagnose_tuple_index_build(c);
	return r;
}

void diagnose_ctx_release(struct diagnose_ctx *c)
{
	free(c->states);
	free(c->states_later);
	free(c->listen_keys);
	free(c->stale);
	free(c->cw_peers.slots);
	sock_index_free(&c->idx_first);
	sock_index_free(&c->idx_later);
}
