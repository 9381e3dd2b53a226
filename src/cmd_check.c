/* SPDX-License-Identifier: MIT */
/* tcpstate check: a Nagios/Icinga plugin over doctor's findings. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "metrics.h"
#include "term_safe.h"

/* The Monitoring Plugins API's exit codes. */
enum {
	CHECK_OK = 0,
	CHECK_WARNING = 1,
	CHECK_CRITICAL = 2,
	CHECK_UNKNOWN = 3,
};

static void check_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate check [selection options] [OPTIONS]\n"
		"\n"
		"A Nagios / Icinga plugin: runs the doctor's rules once (default thresholds,\n"
		"every network namespace unless --netns) and prints one status line with\n"
		"performance data:\n"
		"  TCPSTATE CRITICAL - 1 critical, 0 warning, 2 info findings; worst: ... | ...\n"
		"Performance data: findings per severity, sockets per state (all namespaces),\n"
		"namespaces, and the time taken.\n"
		"\n"
		"%s"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 OK (no warning or critical finding), 1 WARNING, 2 CRITICAL,\n"
		"3 UNKNOWN (the snapshot failed, or a usage error), as the Monitoring Plugins\n"
		"API defines them.\n",
		CLI_SNAPSHOT_HELP);
}

static void perfdata(const struct metrics_model *m)
{
	uint32_t total[_TS_STATE_MAX] = { 0 };

	for (int s = _TS_SEVERITY_MAX - 1; s >= 0; s--) {
		unsigned n = 0;

		for (int k = 0; k < _TS_FINDING_MAX; k++)
			n += m->findings[s][k];
		printf(" findings_%s=%u;;;0", ts_severity_name((enum ts_severity)s), n);
	}
	for (size_t i = 0; i < m->n_ns; i++)
		for (int s = 0; s < _TS_STATE_MAX; s++)
			total[s] += m->ns[i].states[s];
	for (int s = 0; s < TS_STATE_COUNT; s++) {
		char label[32];
		size_t k = 0;

		for (const char *c = ts_state_name((enum ts_state)s); *c && k + 1 < sizeof(label); c++)
			label[k++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		label[k] = '\0';
		printf(" %s=%u;;;0", label, total[s]);
	}
	printf(" netns=%zu;;;0 time=%.3fs;;;0\n", m->n_ns, m->duration_s);
}

int cmd_check(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const status[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	struct metrics_model *m = NULL;
	struct metrics_config cfg;
	const struct cli_verb_options v = { "check", "h", long_opts, check_help, NULL, NULL };
	unsigned n[_TS_SEVERITY_MAX] = { 0 };
	int r, rc;

	metrics_config_init(&cfg);
	r = cli_snapshot_parse(&cfg.args, &v, argc, argv);
	if (r == EXIT_OK)
		return CHECK_OK; /* --help */
	if (r != CLI_PARSE_RUN)
		goto usage;
	if (metrics_config_finish(&cfg, "check") < 0)
		goto usage;

	r = metrics_collect(&cfg, false, NULL, &m);
	if (r < 0 || !m->ok) {
		printf("TCPSTATE UNKNOWN - cannot take a snapshot%s%s\n", r < 0 ? ": " : " (see stderr)",
		       r < 0 ? strerror(-r) : "");
		metrics_model_free(m);
		return CHECK_UNKNOWN;
	}
	for (int s = 0; s < _TS_SEVERITY_MAX; s++)
		for (int k = 0; k < _TS_FINDING_MAX; k++)
			n[s] += m->findings[s][k];
	rc = n[TS_SEVERITY_CRITICAL] ? CHECK_CRITICAL : n[TS_SEVERITY_WARNING] ? CHECK_WARNING : CHECK_OK;
	/* The plugin API reads '|' as the start of performance data: none in the text. */
	for (char *p = m->worst_text; *p; p++)
		if (*p == '|')
			*p = '/';
	printf("TCPSTATE %s - %u critical, %u warning, %u info findings", status[rc],
	       n[TS_SEVERITY_CRITICAL], n[TS_SEVERITY_WARNING], n[TS_SEVERITY_INFO]);
	if (!m->owners_known)
		printf(" (owners not scanned: process rules did not run)");
	if (m->has_worst && m->worst_severity >= TS_SEVERITY_WARNING)
		printf("; worst: %s", TERM_SAFE(m->worst_text));
	printf(" |");
	perfdata(m);
	metrics_model_free(m);
	if (fflush(stdout) != 0)
		return CHECK_UNKNOWN;
	return rc;
usage:
	return CHECK_UNKNOWN;
}
