/* SPDX-License-Identifier: MIT */
/* tcpstate tune: the audit as text and as one JSON document. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "term_safe.h"
#include "tune.h"

/* Tabs in sysctl.d lines are layout, shown as spaces; the rest is
 * term_safe()'s rule, the one every renderer uses. */
static char *tabs_to_spaces(const char *src)
{
	char *t = strdup(src ? src : "");

	for (char *p = t; p && *p; p++)
		if (*p == '\t')
			*p = ' ';
	return t;
}

void tune_sanitize(char *dst, size_t size, const char *src)
{
	char *t = tabs_to_spaces(src);

	term_safe(dst, size, t ? t : "?");
	free(t);
}

void tune_print_safe(const char *s)
{
	char *t = tabs_to_spaces(s);

	term_safe_fputs(t ? t : "?", stdout);
	free(t);
}

static void governs_text(ts_state_mask_t m, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (m & TS_STATE_BIT(st))
			len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
						len ? "," : "", ts_state_name(st));
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static json_object *governs_json(ts_state_mask_t m)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (m & TS_STATE_BIT(st))
			json_object_array_add(a, json_object_new_string(ts_state_name(st)));
	}
	return a;
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void print_observed(const struct tune_audit *a)
{
	const struct ts_tune_observed *o = &a->obs;
	char addr[INET6_ADDRSTRLEN] = "?";

	printf("Sockets: %u TIME_WAIT (%u outgoing", o->count[TS_STATE_TIME_WAIT], o->tw_outgoing);
	if (o->tw_top_count) {
		inet_ntop(o->tw_top_family, &o->tw_top_addr, addr, sizeof(addr));
		printf(", at most %u to %s%s%s:%u", o->tw_top_count,
		       o->tw_top_family == AF_INET6 ? "[" : "", addr,
		       o->tw_top_family == AF_INET6 ? "]" : "", o->tw_top_port);
	}
	printf("), %u FIN_WAIT_2 (%u orphaned), %u orphaned and %u held in FIN_WAIT_1/LAST_ACK/CLOSING,\n"
	       "         %u CLOSE_WAIT, %u LISTEN (%u with a full accept queue), %u SYN_RECEIVED, %u SYN_SENT\n",
	       o->count[TS_STATE_FIN_WAIT_2], o->fin_wait_2_orphans, o->closing_orphans,
	       o->closing_held, o->count[TS_STATE_CLOSE_WAIT], o->count[TS_STATE_LISTEN],
	       o->listen_full, o->count[TS_STATE_SYN_RECEIVED], o->count[TS_STATE_SYN_SENT]);
}

void tune_print_audit(const struct tune_args *ta, const struct tune_audit *a)
{
	bool host_note = false;

	if (a->netns_kind == TS_NETNS_UNNAMED)
		printf("TCP settings of network namespace %s\n", TERM_SAFE(a->netns_name));
	else
		printf("TCP settings of network namespace %s (net:[%llu])\n", TERM_SAFE(a->netns_name),
		       (unsigned long long)a->netns_inode);
	print_observed(a);
	putchar('\n');
	printf("%-30s %-13s %-13s %-8s %-13s %s\n", "SETTING", "CURRENT", "DEFAULT", "ACTION",
	       "RECOMMENDED", "GOVERNS");
	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		char cur[128], def[128], rec[128], gov[160];

		tune_sanitize(cur, sizeof(cur), row->action == TS_TUNE_UNAVAILABLE ? "-" : row->current);
		tune_sanitize(def, sizeof(def), row->info->kernel_default ? row->info->kernel_default
									       : "(memory)");
		tune_sanitize(rec, sizeof(rec), row->recommended[0] ? row->recommended : "");
		governs_text(row->info->governs, gov, sizeof(gov));
		size_t rl = strlen(row->reason);

		printf("%-30s %-13s %-13s %-8s %-13s %s%s\n", row->info->name, TERM_SAFE(cur), def,
		       ts_tune_action_name(row->action), rec[0] ? rec : "-",
		       row->info->governs ? gov : "(no state)",
		       !row->info->per_netns ? " [host-wide]" : "");
		printf("    %s%s\n", row->reason, rl && row->reason[rl - 1] == '.' ? "" : ".");
		host_note |= !row->info->per_netns;
	}
	putchar('\n');
	printf("CLOSE_WAIT: %s", TUNE_CLOSE_WAIT_NOTE);
	if (a->obs.count[TS_STATE_CLOSE_WAIT])
		printf(" (%u socket%s in CLOSE_WAIT here now.)", a->obs.count[TS_STATE_CLOSE_WAIT],
		       a->obs.count[TS_STATE_CLOSE_WAIT] == 1 ? "" : "s");
	putchar('\n');
	if (host_note && ta->netns)
		printf("Host-wide settings are shown as the host has them; tcpstate does not change "
		       "them for a --netns target.\n");

	putchar('\n');
	printf("Configuration files under ");
	tune_print_safe(ta->config_root ? ta->config_root : "/");
	printf(" (%zu read; compared with the running values where tcpstate runs):\n",
	       a->conf->n_files);
	if (a->n_findings == 0)
		printf("  no findings\n");
	/* Everything but the severity comes from the files: shown sanitized. */
	for (size_t i = 0; i < a->n_findings; i++) {
		const struct ts_lint_finding *f = &a->findings[i];

		printf("  ");
		tune_print_safe(f->file);
		printf(":%u: %s: ", f->line, ts_lint_severity_name(f->severity));
		if (f->key) {
			tune_print_safe(f->key);
			printf(" = ");
			tune_print_safe(f->value);
			printf(": ");
		}
		tune_print_safe(f->message);
		putchar('\n');
	}

	putchar('\n');
	if (a->n_changes == 0 && a->n_host_skipped == 0)
		printf("No change recommended: keep the settings.\n");
	else if (!ta->apply && !ta->write)
		printf("%zu change%s recommended; nothing was changed. Use --write FILE for a sysctl.d "
		       "drop-in, or --apply (the old values are saved for --revert).\n",
		       a->n_changes, a->n_changes == 1 ? "" : "s");
	for (size_t i = 0; i < a->n_host_skipped; i++)
		printf("Not for a namespace target: %s is host-wide; change it on the host if at all.\n",
		       a->host_skipped[i]);
}

static json_object *observed_json(const struct ts_tune_observed *o)
{
	json_object *obs = json_object_new_object(), *states = json_object_new_object();

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		json_object_object_add(states, ts_state_name(st), json_object_new_int64(o->count[st]));
	}
	json_object_object_add(obs, "states", states);
	json_object_object_add(obs, "fin_wait_2_orphans", json_object_new_int64(o->fin_wait_2_orphans));
	json_object_object_add(obs, "closing_orphans", json_object_new_int64(o->closing_orphans));
	json_object_object_add(obs, "closing_held", json_object_new_int64(o->closing_held));
	json_object_object_add(obs, "time_wait_outgoing", json_object_new_int64(o->tw_outgoing));
	if (o->tw_top_count) {
		json_object *t = json_object_new_object();
		char addr[INET6_ADDRSTRLEN] = "?";

		inet_ntop(o->tw_top_family, &o->tw_top_addr, addr, sizeof(addr));
		json_object_object_add(t, "remote_addr", json_object_new_string(addr));
		json_object_object_add(t, "remote_port", json_object_new_int(o->tw_top_port));
		json_object_object_add(t, "count", json_object_new_int64(o->tw_top_count));
		json_object_object_add(obs, "time_wait_top", t);
	} else {
		json_object_object_add(obs, "time_wait_top", NULL);
	}
	json_object_object_add(obs, "listen_full", json_object_new_int64(o->listen_full));
	json_object_object_add(obs, "listen_at_somaxconn", json_object_new_int64(o->listen_at_somaxconn));
	json_object_object_add(obs, "syn_received_top", json_object_new_int64(o->syn_recv_top));
	return obs;
}

static json_object *settings_json(const struct tune_audit *a)
{
	json_object *settings = json_object_new_array();

	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(row->info->name));
		json_object_object_add(e, "current", row->action == TS_TUNE_UNAVAILABLE ? NULL
						     : json_object_new_string(row->current));
		json_object_object_add(e, "default", str_or_null(row->info->kernel_default));
		json_object_object_add(e, "governs", governs_json(row->info->governs));
		json_object_object_add(e, "per_netns", json_object_new_boolean(row->info->per_netns));
		json_object_object_add(e, "what", json_object_new_string(row->info->what));
		json_object_object_add(e, "action", json_object_new_string(ts_tune_action_name(row->action)));
		json_object_object_add(e, "recommended",
				       row->recommended[0] ? json_object_new_string(row->recommended) : NULL);
		json_object_object_add(e, "reason", json_object_new_string(row->reason));
		json_object_array_add(settings, e);
	}
	return settings;
}

/* The configuration files read and what the lint found in them. */
static json_object *config_json(const struct tune_args *ta, const struct tune_audit *a)
{
	json_object *conf = json_object_new_object(), *files = json_object_new_array();
	json_object *findings = json_object_new_array();

	json_object_object_add(conf, "root", json_object_new_string(ta->config_root ? ta->config_root : "/"));
	for (size_t i = 0; i < a->conf->n_files; i++)
		json_object_array_add(files, json_object_new_string(a->conf->files[i]));
	json_object_object_add(conf, "files", files);
	for (size_t i = 0; i < a->n_findings; i++) {
		const struct ts_lint_finding *f = &a->findings[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "file", json_object_new_string(f->file));
		json_object_object_add(e, "line", json_object_new_int64(f->line));
		json_object_object_add(e, "kind", json_object_new_string(ts_lint_kind_name(f->kind)));
		json_object_object_add(e, "severity",
				       json_object_new_string(ts_lint_severity_name(f->severity)));
		json_object_object_add(e, "key", str_or_null(f->key));
		json_object_object_add(e, "value", str_or_null(f->value));
		json_object_object_add(e, "current", str_or_null(f->current));
		json_object_object_add(e, "message", json_object_new_string(f->message));
		json_object_array_add(findings, e);
	}
	json_object_object_add(conf, "findings", findings);
	return conf;
}

json_object *tune_audit_json(const struct tune_args *ta, const struct tune_audit *a)
{
	const struct ts_tune_observed *o = &a->obs;
	json_object *root = json_object_new_object(), *ns = json_object_new_object();
	json_object *cw = json_object_new_object(), *changes = json_object_new_array();
	json_object *skipped = json_object_new_array();

	json_object_object_add(ns, "name", json_object_new_string(a->netns_name));
	json_object_object_add(ns, "inode", json_object_new_int64((int64_t)a->netns_inode));
	json_object_object_add(root, "netns", ns);
	json_object_object_add(root, "observed", observed_json(o));
	json_object_object_add(root, "settings", settings_json(a));
	json_object_object_add(cw, "count", json_object_new_int64(o->count[TS_STATE_CLOSE_WAIT]));
	json_object_object_add(cw, "note", json_object_new_string(TUNE_CLOSE_WAIT_NOTE));
	json_object_object_add(root, "close_wait", cw);
	json_object_object_add(root, "config", config_json(ta, a));
	for (size_t i = 0; i < a->n_changes; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(a->changes[i].name));
		json_object_object_add(e, "from", json_object_new_string(a->changes[i].from));
		json_object_object_add(e, "to", json_object_new_string(a->changes[i].to));
		json_object_array_add(changes, e);
	}
	json_object_object_add(root, "changes", changes);
	for (size_t i = 0; i < a->n_host_skipped; i++)
		json_object_array_add(skipped, json_object_new_string(a->host_skipped[i]));
	json_object_object_add(root, "host_wide_skipped", skipped);
	json_object_object_add(root, "written", NULL);
	json_object_object_add(root, "backup", NULL);
	json_object_object_add(root, "applied", json_object_new_array());
	return root;
}
