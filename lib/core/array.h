/* SPDX-License-Identifier: MIT */
#pragma once

/* Growable arrays: the one helper every lib/ file uses to make room. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Grows *array (items of elem_size bytes, *cap of them) so that it holds
 * at least need items, doubling from 16. 0, or -ENOMEM (also when the
 * size would overflow); *array and *cap are untouched then.
 */
static inline int array_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
	size_t n;
	void *p;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 16;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem_size)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*array, n * elem_size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}
