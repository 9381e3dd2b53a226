/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the BPF loaders (owners.c here, lib/trace/bpf/trace_bpf.c) share:
 * libbpf kept quiet with its first warning kept, and struct ts_bpf_status
 * filled. Only in builds with BPF.
 */

#include <stdbool.h>
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

/* Whether the running kernel is at least major.minor (uname). */
bool bpf_load_kernel_at_least(unsigned major, unsigned minor);

/*
 * What the kernel must have before a program is loaded: at least
 * major.minor (for the feature named need, said in the reason) and its BTF.
 * 0, or -EOPNOTSUPP with *st saying why (failure KERNEL).
 */
int bpf_load_kernel_check(unsigned major, unsigned minor, const char *need,
			  struct ts_bpf_status *st);

/*
 * libbpf needs a dozen fds (object BTF, maps, program, link, iterator and its
 * feature probes). Without them it fails in misleading ways: a feature probe
 * that got EMFILE reads as "no global data", and the load then fails with a
 * log about a map "referenced but wasn't created". 0, or -EMFILE/-ENFILE/...
 * with *st saying why.
 */
int bpf_load_fds_available(struct ts_bpf_status *st);

/*
 * Fills *st for a skeleton load that returned r < 0, log being the
 * verifier's log buffer (libbpf fills it only on failure): EPERM means a
 * missing privilege (the kernel answers EPERM for that alone); a load that
 * failed with a verifier log is the verifier's refusal (its end in detail);
 * the rest is "other", with libbpf's first warning when there is one.
 */
void bpf_load_failed(int r, const char *log, struct ts_bpf_status *st);

struct bpf_link;
struct bpf_program;
struct bpf_iter_attach_opts;
struct bpf_object_skeleton;

/*
 * Before a skeleton is opened: bpf_load_kernel_check(major, minor, need),
 * bpf_load_fds_available(), then bpf_load_quiet(). 0 or their error.
 */
int bpf_load_prepare(unsigned major, unsigned minor, const char *need, struct ts_bpf_status *st);

/* After NAME__open() returned NULL: the negative errno, with *st saying why. */
int bpf_load_open_failed(struct ts_bpf_status *st);

/*
 * Loads an opened skeleton (NAME__load() is bpf_object__load_skeleton())
 * with a verifier log buffer for prog, which libbpf fills only when the load
 * fails: 0, or the load's error with *st filled by bpf_load_failed().
 */
int bpf_load_skeleton(struct bpf_object_skeleton *s, struct bpf_program *prog,
		      struct ts_bpf_status *st);

/* bpf_program__attach_iter(), with *st saying why when it fails (NULL, errno set). */
struct bpf_link *bpf_load_attach_iter(struct bpf_program *prog,
				      const struct bpf_iter_attach_opts *opts,
				      struct ts_bpf_status *st);

#define BPF_ITER_RECORD_MAX 256

/*
 * Makes a new iterator from link (in the caller's namespace, for the
 * iterators that have one) and reads it to its end through buf (buf_size
 * bytes, a multiple of rec_size), calling cb with each record of rec_size
 * (<= BPF_ITER_RECORD_MAX) bytes, copied to aligned memory. Records never
 * straddle reads (the kernel writes whole ones); a partial tail is carried
 * over anyway, and one left at the end is -EPROTO. Returns 0, cb's negative
 * value (stops; *st untouched), or -errno with *st saying why.
 */
int bpf_load_read_iter(struct bpf_link *link, char *buf, size_t buf_size, size_t rec_size,
		       int (*cb)(const void *rec, void *userdata), void *userdata,
		       struct ts_bpf_status *st);
