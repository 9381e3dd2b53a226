/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to `tcpstate doctor`: its report as text and as one JSON document (stdout). */

#include <stdbool.h>
#include <stdint.h>

#include "cli_snapshot.h"
#include "tcpstate/diagnose.h"

/* How to render a diagnosis. */
struct doctor_view {
	enum ts_severity min;   /* findings at or above */
	unsigned interval;      /* 0, or the seconds between the two looks */
	bool pidns_known;       /* pidns_initial means something */
	bool pidns_initial;     /* tcpstate runs in the host's pid namespace */
	uint64_t pidns_inode;
};

/* The state counts, then the findings at or above v->min, worst first. */
struct json_object;
/* A finding's first keys in every JSON document that lists findings (doctor,
 * top): severity, kind, title, state, netns. */
struct json_object *doctor_finding_json_head(const struct ts_finding *f, const struct ts_snapshot *snap);

void doctor_print_text(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, const struct doctor_view *v);
void doctor_print_json(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, const struct doctor_view *v);
