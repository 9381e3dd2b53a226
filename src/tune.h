/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to `tcpstate tune`: cmd_tune.c (options, the audit), tune_output.c
 * (text and JSON), tune_apply.c (--write, --apply, --revert), tune_sysctl.c
 * (opening the settings, errno as words).
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "tcpstate/sysctl_conf.h"
#include "tcpstate/sysctl.h"

#define TUNE_BACKUP_DIR "/var/lib/tcpstate"
/* A backup holds at most the ~20 audited settings: anything far larger is not one. */
#define TUNE_BACKUP_SIZE_MAX (64 * 1024)

#define TUNE_CLOSE_WAIT_NOTE                                                                   \
	"No sysctl ends CLOSE_WAIT: the peer has closed, and the program holding the socket "  \
	"must call close(). 'tcpstate doctor' names the program."

struct tune_args {
	const char *netns;
	const char *write;
	const char *save;
	const char *revert;
	const char *config_root;
	bool apply;
	bool json;
};

/* One setting to change: old -> new. */
struct tune_change {
	const char *name;
	char from[128];
	char to[128];
	const char *reason;
};

struct tune_audit {
	struct ts_snapshot *snap;
	struct ts_tune_observed obs;
	struct ts_tune_row *rows;
	size_t n_rows;
	struct ts_sysctl_conf *conf;
	struct ts_lint_finding *findings;
	size_t n_findings;
	char netns_name[64];
	enum ts_netns_kind netns_kind;
	char netns_reopen[PATH_MAX]; /* what opens it again (--netns's path, /proc/PID/ns/net); "": nothing */
	uint64_t netns_inode;
	struct tune_change *changes;  /* what --write and --apply do */
	size_t n_changes;
	const char **host_skipped;    /* host-wide changes left out for a namespace target */
	size_t n_host_skipped;
};

/* ---- tune_sysctl.c ---- */

/* strerror() of an errno, negative or not. */
const char *tune_errno_text(int r);
/* ts_sysctl_open() that says on stderr why it failed. */
int tune_open_sysctl(const char *netns, struct ts_sysctl **ret);

/* ---- tune_output.c ---- */

/*
 * For the terminal and the files tune writes: src (NULL: "") with tabs as
 * spaces and every other control character (C0, DEL, C1, bytes that are
 * not UTF-8) as '?', truncated to size between characters. Every string
 * read from a file goes through it (or tune_print_safe(), to stdout)
 * before it is shown.
 */
void tune_sanitize(char *dst, size_t size, const char *src);
void tune_print_safe(const char *s);
void tune_print_audit(const struct tune_args *ta, const struct tune_audit *a);
/* The audit as one JSON document, with "written", "backup" and "applied" still empty. */
json_object *tune_audit_json(const struct tune_args *ta, const struct tune_audit *a);

/* ---- tune_apply.c: each prints its errors, and returns 0 or -1 ---- */

/* --write: the changes as a sysctl.d drop-in. */
int tune_write_dropin(const struct tune_args *ta, const struct tune_audit *a);
/* --apply: saves the old values to backup (filled in, "" if none), then writes the new ones. */
int tune_apply(const struct tune_args *ta, struct ts_sysctl *s, const struct tune_audit *a,
	       json_object *applied, char *backup, size_t backup_size);
/* --revert: returns an exit code. */
int tune_revert(const struct tune_args *ta);
