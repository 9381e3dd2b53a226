/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the BPF loaders (owners.c here, lib/trace/bpf/trace_bpf.c) share:
 * libbpf kept quiet with its first warning kept, and struct ts_bpf_status
 * filled. Only in builds with BPF.
 */

#include <stddef.h>

#include "tcpstate/snapshot.h"

/*
 * Routes libbpf's messages to this file (nothing reaches stderr: the library
 * never prints) and forgets the previous warning: call before opening an
 * object. bpf_load_first_warning() is then the first warning of this thread
 * since, "" when none; it names the cause when the errno alone misleads (a
 * vmlinux BTF that could not be read for want of memory ends in ESRCH).
 */
void bpf_load_quiet(void);
const char *bpf_load_first_warning(void);
/* That warning, or fallback when there was none. */
const char *bpf_load_warning_or(const char *fallback);

/* Fills *st (NULL: nothing); detail NULL means "". */
void bpf_status_set(struct ts_bpf_status *st, enum ts_bpf_failure failure, int err,
		    const char *detail);

/* The end of a verifier log into out, whole lines: the verdict is there, just
 * before the statistics ("verification time", "processed N insns"). */
void bpf_verifier_tail(const char *log, char *out, size_t size);
