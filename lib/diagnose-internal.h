/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/diagnose*.c: the rule context. */

#include "tcpstate/diagnose.h"
#include "tcpstate/socket.h"

struct diag_ctx {
	const struct ts_diag_input *in;
	const struct ts_snapshot *snap;
	struct ts_diag_thresholds th;
	struct ts_diagnosis *d;
	size_t cap;
	struct ts_diag_sysctls none; /* every setting unavailable */
};

/* Appends a finding with the static texts of kind and the settings of netns_index; NULL on ENOMEM. */
struct ts_finding *diag_add(struct diag_ctx *c, enum ts_finding_kind kind, enum ts_severity sev,
			    uint32_t netns_index);

/* The settings of a namespace (all unavailable when the caller gave none). */
const struct ts_diag_sysctls *diag_sysctls(const struct diag_ctx *c, uint32_t netns_index);

/* The rules; each returns 0 or -ENOMEM. */
int diag_rule_close_wait(struct diag_ctx *c);
int diag_rule_leak(struct diag_ctx *c);
int diag_rule_dead_held(struct diag_ctx *c);
int diag_rule_fin_wait_2(struct diag_ctx *c);
int diag_rule_unacked_close(struct diag_ctx *c);
int diag_rule_time_wait(struct diag_ctx *c);
int diag_rule_listen(struct diag_ctx *c);
int diag_rule_syn_sent(struct diag_ctx *c);
