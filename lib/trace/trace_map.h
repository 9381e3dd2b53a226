/* SPDX-License-Identifier: MIT */
#pragma once

/* uint64 -> uint32, open addressing; key 0 is never stored. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trace_map {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n; /* cap: a power of two, or 0 */
};

/* 0, -EINVAL (key 0), -ENOMEM. Replaces the value of a key already in. */
int trace_map_put(struct trace_map *m, uint64_t key, uint32_t val);
bool trace_map_get(const struct trace_map *m, uint64_t key, uint32_t *ret);
bool trace_map_del(struct trace_map *m, uint64_t key);
void trace_map_done(struct trace_map *m);
