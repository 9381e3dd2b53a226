/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to `tcpstate doctor`: its report as text and as one JSON document (stdout). */

#include "cli_filter.h"
#include "tcpstate/diagnose.h"

/*
 * The state counts, then the findings at or above min, worst first.
 * interval: 0, or the seconds between the two looks.
 */
void doctor_print_text(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, enum ts_severity min, unsigned interval);
void doctor_print_json(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, enum ts_severity min, unsigned interval);
