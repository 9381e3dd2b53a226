/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "bench_clock.h"

double bench_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void bench_sort_ms(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
}
