/* SPDX-License-Identifier: MIT */
/* tcpstate explain STATE: a page per state, as text and as JSON. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "explain.h"

const char *explain_actor_name(enum ts_actor a)
{
	switch (a) {
	case TS_ACTOR_NOBODY:
		return "nobody";
	case TS_ACTOR_THIS_PROGRAM:
		return "this_program";
	case TS_ACTOR_PEER_PROGRAM:
		return "peer_program";
	case TS_ACTOR_KERNEL_TIMER:
		return "kernel_timer";
	case TS_ACTOR_NETWORK:
		return "network";
	}
	return "unknown";
}

void explain_settings_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info,
			   const char *label)
{
	bool first = true;

	if (!info->sysctls || !info->sysctls[0]) {
		explain_field(f, c->width, label,
			      "none: no sysctl bounds this state and no kernel timer ends it.");
		return;
	}
	for (const char *const *n = info->sysctls; *n; n++) {
		const struct explain_setting *s = explain_setting_get(c, *n);
		const struct ts_sysctl_info *k = ts_sysctl_lookup(*n);
		struct explain_text t = { .len = 0 };

		if (s->err)
			explain_text_add(&t, "%s = unavailable (%s)", *n, strerror(-s->err));
		else
			explain_text_add(&t, "%s = %s", *n, s->value);
		if (k && k->kernel_default && !s->err && strcmp(k->kernel_default, s->value) != 0)
			explain_text_add(&t, " (kernel default %s)", k->kernel_default);
		explain_field(f, c->width, first ? label : "", t.buf);
		first = false;
	}
}

void explain_page_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info)
{
	fprintf(f, "%s\n", ts_state_name(info->state));
	explain_field(f, c->width, "Meaning", info->meaning);
	explain_field(f, c->width, "Closed first", info->closed_first);
	explain_field(f, c->width, "Who must act", info->who_must_act);
	explain_field(f, c->width, "What ends it", info->ends_it);
	explain_settings_text(f, c, info, "Settings");
	explain_field(f, c->width, "Causes", info->causes);
	explain_field(f, c->width, "How to see", info->how_to_see);
}

/* ---- JSON output ---- */

json_object *explain_settings_json(struct explain_ctx *c, const struct ts_state_info *info)
{
	json_object *arr = json_object_new_array();

	for (const char *const *n = info->sysctls; n && *n; n++) {
		const struct explain_setting *s = explain_setting_get(c, *n);
		const struct ts_sysctl_info *k = ts_sysctl_lookup(*n);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(*n));
		json_object_object_add(o, "value", s->err ? NULL : json_object_new_string(s->value));
		json_object_object_add(o, "error", s->err ? json_object_new_string(strerror(-s->err)) : NULL);
		json_object_object_add(o, "kernel_default",
				       k && k->kernel_default ? json_object_new_string(k->kernel_default) : NULL);
		json_object_object_add(o, "what", k && k->what ? json_object_new_string(k->what) : NULL);
		json_object_array_add(arr, o);
	}
	return arr;
}

json_object *explain_page_json(struct explain_ctx *c, const struct ts_state_info *info)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "state", json_object_new_string(ts_state_name(info->state)));
	json_object_object_add(o, "meaning", json_object_new_string(info->meaning));
	json_object_object_add(o, "closed_first", json_object_new_string(info->closed_first));
	json_object_object_add(o, "actor", json_object_new_string(explain_actor_name(info->actor)));
	json_object_object_add(o, "who_must_act", json_object_new_string(info->who_must_act));
	json_object_object_add(o, "ends_it", json_object_new_string(info->ends_it));
	json_object_object_add(o, "settings", explain_settings_json(c, info));
	json_object_object_add(o, "causes", json_object_new_string(info->causes));
	json_object_object_add(o, "how_to_see", json_object_new_string(info->how_to_see));
	return o;
}
