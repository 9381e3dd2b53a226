/* SPDX-License-Identifier: MIT */
/* The BPF loaders' shared pieces (bpf_load.h). */
#ifndef TCPSTATE_NO_BPF

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "snapshot/bpf/bpf_load.h"

static __thread char first_warning[256];

__attribute__((format(printf, 2, 0)))
static int keep_first_warning(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	size_t len;

	if (level != LIBBPF_WARN || first_warning[0])
		return 0;
	vsnprintf(first_warning, sizeof(first_warning), fmt, ap);
	len = strlen(first_warning);
	while (len > 0 && (first_warning[len - 1] == '\n' || first_warning[len - 1] == ' '))
		first_warning[--len] = '\0';
	return 0;
}

void bpf_load_quiet(void)
{
	libbpf_set_print(keep_first_warning);
	first_warning[0] = '\0';
}

const char *bpf_load_first_warning(void)
{
	return first_warning;
}

const char *bpf_load_warning_or(const char *fallback)
{
	return first_warning[0] ? first_warning : fallback;
}

void bpf_status_set(struct ts_bpf_status *st, enum ts_bpf_failure failure, int err,
		    const char *detail)
{
	if (!st)
		return;
	st->failure = failure;
	st->err = err;
	snprintf(st->detail, sizeof(st->detail), "%s", detail ? detail : "");
}

void bpf_verifier_tail(const char *log, char *out, size_t size)
{
	size_t len = strlen(log), start;

	while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	start = len > size - 1 ? len - (size - 1) : 0;
	if (start > 0) {
		const char *nl = memchr(log + start, '\n', len - start);

		start = nl ? (size_t)(nl + 1 - log) : len;
	}
	memcpy(out, log + start, len - start);
	out[len - start] = '\0';
}

#endif
