/* SPDX-License-Identifier: MIT */
#pragma once

/* What the C benchmarks (collectbench, diagbench) share to time runs. */

#include <stddef.h>
#include <time.h>

/* The clock id (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...) in milliseconds. */
double bench_clock_ms(clockid_t id);

/* Sorts n times ascending: v[n / 2] is then their median, v[0] their minimum. */
void bench_sort_ms(double *v, size_t n);
