/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "trace/trace_map.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	/* murmur3's fmix64: kernel addresses differ in a few middle bits. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static int grow(struct trace_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct trace_map bigger = { .cap = cap };

	bigger.keys = calloc(cap, sizeof(*bigger.keys));
	bigger.vals = calloc(cap, sizeof(*bigger.vals));
	if (!bigger.keys || !bigger.vals) {
		free(bigger.keys);
		free(bigger.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			(void)trace_map_put(&bigger, m->keys[i], m->vals[i]);
	trace_map_done(m);
	*m = bigger;
	return 0;
}

int trace_map_put(struct trace_map *m, uint64_t key, uint32_t val)
{
	size_t i;

	if (key == 0)
		return -EINVAL;
	if ((m->n + 1) * 4 > m->cap * 3) {
		int r = grow(m);

		if (r < 0)
			return r;
	}
	for (i = slot_of(key, m->cap); m->keys[i] && m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

static bool find(const struct trace_map *m, uint64_t key, size_t *ret)
{
	if (!m->cap || key == 0)
		return false;
	for (size_t i = slot_of(key, m->cap); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key) {
			*ret = i;
			return true;
		}
	return false;
}

bool trace_map_get(const struct trace_map *m, uint64_t key, uint32_t *ret)
{
	size_t i;

	if (!find(m, key, &i))
		return false;
	*ret = m->vals[i];
	return true;
}

bool trace_map_del(struct trace_map *m, uint64_t key)
{
	size_t i, j, mask = m->cap - 1;

	if (!find(m, key, &i))
		return false;
	/* Backward shift: move later entries of the run into the hole when
	 * their home slot is not between the hole and them. */
	m->keys[i] = 0;
	m->n--;
	for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = slot_of(m->keys[j], m->cap);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->keys[j] = 0;
			i = j;
		}
	}
	return true;
}

void trace_map_done(struct trace_map *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct trace_map){ 0 };
}
