/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "term_safe.h"
#include "tcpstate/snapshot.h"
#include "tcpstate/state.h"

static const struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "doctor", cmd_doctor, "the state summary, then what is stuck, who holds it and what to do (default)" },
	{ "summary", cmd_summary, "count sockets per state, and the top holders of closing sockets" },
	{ "list", cmd_list, "list TCP sockets in all 13 states with their owners" },
	{ "tune", cmd_tune, "audit TCP sysctls against what the sockets show; write, apply or revert changes" },
	{ "top", cmd_top, "a live view: state counts per second, growing holders, stuck sockets, findings" },
	{ "trace", cmd_trace, "follow state changes as they happen, with holders and time in state (root)" },
	{ "close", cmd_close, "end selected sockets: RST (sock_diag), FIN (shutdown) or close the fd in its owner" },
	{ "explain", cmd_explain, "what a state means, who must act, what ends it; or the story of one socket" },
	{ "lab", cmd_lab, "build real sockets in chosen states inside a throwaway network namespace" },
	{ "exporter", cmd_exporter, "serve Prometheus metrics of every namespace over HTTP (/metrics)" },
	{ "metrics", cmd_metrics, "write those metrics once, for node_exporter's textfile collector" },
	{ "check", cmd_check, "a Nagios/Icinga plugin: exit 0/1/2/3 from the doctor's findings" },
	{ "demo", cmd_demo, "a CLOSE_WAIT leak among healthy traffic in a throwaway namespace, the doctor on it (root)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate [VERB] [OPTIONS]\n"
		"\n"
		"Finds stuck TCP connections and the programs that hold them.\n"
		"\n"
		"Verbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f,
		"\n"
		"Without a verb, tcpstate runs 'doctor'. 'tcpstate VERB --help' (or 'tcpstate\n"
		"help VERB') tells more. Options may come before the verb: 'tcpstate -v\n"
		"summary' is 'tcpstate summary -v'.\n"
		"  -h, --help      this text\n"
		"  -V, --version   print the version\n"
		"\n"
		"\n"
		"Exit status: 0 success, 1 error, 2 usage error; doctor also exits 3 (findings)\n"
		"and close 4 (sockets skipped). Each verb's --help lists its own.\n");
}

/* For shell completion (documented in tcpstate(8), not in --help): the words
 * --state accepts, one a line, the 13 states then the groups, from the
 * parser's own tables. */
static int list_states(void)
{
	for (unsigned s = 0; s < TS_STATE_COUNT; s++) {
		const char *name = ts_state_name((enum ts_state)s);
		ts_state_mask_t m = 0;
		char word[32];
		size_t n = 0;

		for (const char *c = name; *c && n + 1 < sizeof(word); c++)
			word[n++] = *c == '_' ? '-' : (char)tolower((unsigned char)*c);
		word[n] = '\0';
		/* "closing" is the group; the state alone is written "CLOSING". */
		if (ts_state_token_parse(word, &m) < 0 || m != TS_STATE_BIT(s))
			snprintf(word, sizeof(word), "%s", name);
		puts(word);
	}
	for (unsigned i = 0; ts_state_group_name(i); i++)
		puts(ts_state_group_name(i));
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(name, verbs[i].name) == 0)
			return &verbs[i];
	return NULL;
}

/* Whether word is one of the shared selection options that takes an
 * argument ("-N", "--netns"), by the table the verbs parse them with. */
static bool takes_argument(const char *word)
{
	for (const struct option *o = cli_snapshot_long_options; o->name; o++) {
		const char *s = o->val < 0x100 ? strchr(CLI_SNAPSHOT_SHORT_OPTIONS, o->val) : NULL;

		if (o->has_arg != required_argument)
			continue;
		if (strncmp(word, "--", 2) == 0 && strcmp(word + 2, o->name) == 0)
			return true;
		if (s && s[1] == ':' && word[1] == o->val && word[2] == '\0')
			return true;
	}
	return false;
}

/*
 * Options written before the verb ("tcpstate -v summary"): the leading
 * words that are options, and the argument of those that take one, up to a
 * verb. How many words precede the verb, or 0 when no verb follows them
 * (then the whole line is the default verb's).
 */
static int options_before_verb(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0)
		i += takes_argument(argv[i]) ? 2 : 1;
	return i > 1 && i < argc && find_verb(argv[i]) ? i - 1 : 0;
}

static int unknown_verb(const char *word)
{
	const char *names[sizeof(verbs) / sizeof(verbs[0]) + 1];
	const char *near;
	size_t n = 0;

	for (; n < sizeof(verbs) / sizeof(verbs[0]); n++)
		names[n] = verbs[n].name;
	names[n++] = "help";
	near = cli_closest_word(word, names, n);
	if (near)
		cli_error("unknown verb '%s'; did you mean '%s'? (try 'tcpstate --help')", word, near);
	else
		cli_error("unknown verb '%s' (try 'tcpstate --help')", word);
	return EXIT_USAGE;
}

static int run(int argc, char **argv)
{
	const struct verb *v;
	int before;

	if (argc < 2)
		return cmd_doctor(1, (char *[]){ "doctor", NULL });

	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		usage(stdout);
		return EXIT_OK;
	}
	/* "help VERB" is "VERB --help". */
	if (strcmp(argv[1], "help") == 0) {
		if (argc > 3) {
			cli_error("help takes one verb (try 'tcpstate --help')");
			return EXIT_USAGE;
		}
		v = find_verb(argv[2]);
		if (!v)
			return unknown_verb(argv[2]);
		return v->run(2, (char *[]){ (char *)v->name, "--help", NULL });
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("tcpstate %s\n", TCPSTATE_VERSION);
		printf("BPF owner source: %s\n", ts_owner_source_bpf_built() ? "built" : "not built");
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--list-states") == 0 && argc == 2)
		return list_states();
	v = find_verb(argv[1]);
	if (v)
		return v->run(argc - 1, argv + 1);

	/* Options before a verb are the verb's: move the verb to the front. */
	before = options_before_verb(argc, argv);
	if (before > 0) {
		char *verb = argv[before + 1];

		memmove(argv + 2, argv + 1, (size_t)before * sizeof(*argv));
		argv[1] = verb;
		return find_verb(verb)->run(argc - 1, argv + 1);
	}
	/* Options without a verb belong to the default verb. */
	if (argv[1][0] == '-') {
		argv[0] = "doctor";
		return cmd_doctor(argc, argv);
	}
	return unknown_verb(argv[1]);
}

int main(int argc, char **argv)
{
	int rc;

	cli_json_errors_start(argc, argv);
	rc = run(argc, argv);
	cli_json_errors_finish(rc);
	return rc;
}
