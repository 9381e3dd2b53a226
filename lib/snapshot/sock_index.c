/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/sock_index.h"

static inline size_t hash_inode(uint64_t ino)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino;
}

int sock_index_build(const struct ts_socket *s, size_t n, struct sock_index *ret)
{
	size_t size = 64;

	while (size < n * 2)
		size *= 2;
	if (ret->slots && ret->cap >= size) {
		memset(ret->slots, 0, size * sizeof(*ret->slots));
	} else {
		sock_index_free(ret);
		ret->slots = calloc(size, sizeof(*ret->slots));
		if (!ret->slots)
			return -ENOMEM;
		ret->cap = size;
	}
	ret->mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		size_t h;

		if (s[i].inode == 0) /* TIME_WAIT and request sockets: no fd */
			continue;
		h = hash_inode(s[i].inode) & ret->mask;
		while (ret->slots[h].inode && (ret->slots[h].inode != s[i].inode ||
					       ret->slots[h].cookie_lo != (uint32_t)s[i].cookie))
			h = (h + 1) & ret->mask;
		if (ret->slots[h].inode)
			continue; /* same socket dumped twice: keep the first */
		ret->slots[h].inode = s[i].inode;
		ret->slots[h].socket_index = (uint32_t)i;
		ret->slots[h].cookie_lo = (uint32_t)s[i].cookie;
	}
	return 0;
}

uint32_t sock_index_find(const struct sock_index *idx, uint64_t inode, uint64_t cookie)
{
	size_t h = hash_inode(inode) & idx->mask;

	while (idx->slots[h].inode) {
		if (idx->slots[h].inode == inode &&
		    (!cookie || !idx->slots[h].cookie_lo ||
		     idx->slots[h].cookie_lo == (uint32_t)cookie))
			return idx->slots[h].socket_index;
		h = (h + 1) & idx->mask;
	}
	return UINT32_MAX;
}

void sock_index_free(struct sock_index *idx)
{
	free(idx->slots);
	idx->slots = NULL;
	idx->mask = 0;
	idx->cap = 0;
}
