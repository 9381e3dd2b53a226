/* SPDX-License-Identifier: MIT */
/*
 * The pure part of the CLI's option handling: the shared selection options
 * (src/cli_snapshot_args.c), ss's filter words (src/cli_ss_filter.c),
 * getopt's guards, the verbs' option loop and the typo guess (src/cli_args.c),
 * and the loop of the verbs that select sockets (src/cli_snapshot.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"
#include "cli_snapshot.h"

static struct cli_snapshot_args args(void)
{
	struct cli_snapshot_args a;

	cli_snapshot_args_init(&a);
	return a;
}

static void test_named_ids_fill_their_own_lists(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	a.opts.filter = &a.filter;
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_SPORT, "80,443"), 1);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_DPORT, "22"), 1);
	assert_int_equal(cli_snapshot_option(&a, 'p', "53"), 1);
	assert_int_equal(a.filter.n_sports, 2);
	assert_int_equal(a.filter.sports[0], 80);
	assert_int_equal(a.filter.sports[1], 443);
	assert_int_equal(a.filter.n_dports, 1);
	assert_int_equal(a.filter.dports[0], 22);
	assert_int_equal(a.filter.n_ports, 1);
	assert_int_equal(a.filter.ports[0], 53);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_OWNERS, "proc"), 1);
	assert_int_equal(a.opts.owner_source, TS_OWNER_SOURCE_PROC);
	assert_true(a.owners_explicit);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_BACKEND, "procfs"), 1);
	assert_int_equal(a.opts.backend, TS_BACKEND_PROCFS);
}

static void test_bad_values_are_usage_errors(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_SPORT, "0"), -1);
	assert_int_equal(cli_snapshot_option(&a, 'p', "80,,"), 1); /* empty items are skipped */
	assert_int_equal(cli_snapshot_option(&a, 'p', ","), -1);  /* but not all of them */
	assert_int_equal(cli_snapshot_option(&a, 's', "bogus"), -1);
	assert_int_equal(cli_snapshot_option(&a, 'a', "anp"), -1);
	assert_int_equal(cli_snapshot_option(&a, 'c', "a-name-longer-than-15"), -1);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_OWNERS, "ebpf"), -1);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_BACKEND, "raw"), -1);
}

static void test_verb_options_are_left_to_the_verb(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_VERB, "x"), 0);
	assert_int_equal(cli_snapshot_option(&a, 'h', NULL), 0);
	assert_int_equal(cli_snapshot_option(&a, 'i', NULL), 0);
}

static void test_shared_table_has_every_shared_option(void **state)
{
	static const char *const names[] = { "state", "port", "sport", "dport", "addr", "pid", "comm",
					     "netns", "all-netns", "json", "no-owners", "backend",
					     "owners", "verbose" };
	size_t n = 0;

	(void)state;
	for (const struct option *o = cli_snapshot_long_options; o->name; o++, n++)
		assert_string_equal(o->name, names[n]);
	assert_int_equal(n, sizeof(names) / sizeof(names[0]));
}

static int ss(struct cli_snapshot_args *a, const char *words)
{
	char *argv[] = { (char *)words, NULL };

	return cli_ss_filter(a, 1, argv, "list");
}

static void test_ss_state_words(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(ss(&a, "state listen"), 0);
	assert_int_equal(a.filter.states, TS_STATE_BIT(TS_STATE_LISTEN));
	a = args();
	assert_int_equal(ss(&a, "exclude listen"), 0);
	assert_int_equal(a.filter.states, TS_STATE_MASK_ALL & ~TS_STATE_BIT(TS_STATE_LISTEN));
	a = args();
	assert_int_equal(ss(&a, "state listen exclude listen"), -1);
}

static void test_ss_port_words(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(ss(&a, "( dport = :22 and sport == 80 )"), 0);
	assert_int_equal(a.filter.n_dports, 1);
	assert_int_equal(a.filter.dports[0], 22);
	assert_int_equal(a.filter.n_sports, 1);
	assert_int_equal(a.filter.sports[0], 80);
	assert_int_equal(a.filter.states, 0); /* no state word: every state */
}

/* Service names as ss takes them (the services database), in options and ss words;
 * a name that begins like one of ss's operators (ldap, nntp, gopher) is still a name. */
static void test_service_names(void **state)
{
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_SPORT, "http,8080"), 1);
	assert_int_equal(a.filter.n_sports, 2);
	assert_int_equal(a.filter.sports[0], 80);
	assert_int_equal(a.filter.sports[1], 8080);
	assert_int_equal(cli_snapshot_option(&a, CLI_OPT_DPORT, "no-such-service-x"), -1);
	a = args();
	assert_int_equal(ss(&a, "dport = :ldap"), 0);
	assert_int_equal(a.filter.n_dports, 1);
	assert_int_equal(a.filter.dports[0], 389);
	a = args();
	assert_int_equal(ss(&a, "sport = nntp"), 0);
	assert_int_equal(a.filter.sports[0], 119);
}

static void test_ss_words_tcpstate_cannot_do(void **state)
{
	static const char *const bad[] = {
		"dport lt :5", "src 1.2.3.4", "dport = :22 or dport = :80", "not state listen",
		"state", "dport", "( dport = :22", "dport = :22 )", "( state listen )", "frob",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cli_snapshot_args a = args();

		print_message("%s\n", bad[i]);
		assert_int_equal(ss(&a, bad[i]), -1);
	}
}

static void test_closest_word(void **state)
{
	static const char *const verbs[] = { "doctor", "summary", "list", "tune", "close",
					     "explain", "lab", "demo", "help" };
	const size_t n = sizeof(verbs) / sizeof(verbs[0]);

	(void)state;
	assert_string_equal(cli_closest_word("docter", verbs, n), "doctor");
	assert_string_equal(cli_closest_word("lsit", verbs, n), "list");
	assert_string_equal(cli_closest_word("explian", verbs, n), "explain");
	assert_null(cli_closest_word("frobnicate", verbs, n));
	/* two edits in a short word is another word */
	assert_null(cli_closest_word("lxx", verbs, n));
}

static int getopt_once(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "state", required_argument, NULL, 's' },
		{ 0 },
	};

	optind = 0; /* glibc: start afresh */
	return cli_getopt_long(argc, argv, "s:h", longopts, "tune");
}

static void test_getopt_guards(void **state)
{
	(void)state;
	/* an option that changes the system only by its whole name */
	assert_int_equal(getopt_once(3, (char *[]){ "tune", "--writ", "x", NULL }), '?');
	assert_int_equal(getopt_once(3, (char *[]){ "tune", "--write", "x", NULL }), 'w');
	/* other options by any unambiguous prefix, as getopt does */
	assert_int_equal(getopt_once(3, (char *[]){ "tune", "--sta", "listen", NULL }), 's');
	/* ss's flags are answered, not misread */
	assert_int_equal(getopt_once(2, (char *[]){ "tune", "-tanp", NULL }), '?');
}

/* A verb with its own options, as list has: -i, --sort. */
struct fake_verb {
	int sort_seen, info_seen, helped;
	const char *sort;
};

static struct fake_verb *helped_verb;

static void fake_help(FILE *f)
{
	(void)f;
	helped_verb->helped++;
}

enum { OPT_FAKE_SORT = CLI_OPT_VERB };

static int fake_option(void *ctx, int opt, const char *arg)
{
	struct fake_verb *v = ctx;

	switch (opt) {
	case 'i':
		v->info_seen++;
		return 1;
	case OPT_FAKE_SORT:
		if (strcmp(arg, "bad") == 0)
			return -1;
		v->sort = arg;
		v->sort_seen++;
		return 1;
	}
	return 0;
}

static const struct option fake_longopts[] = {
	{ "info", no_argument, NULL, 'i' },
	{ "sort", required_argument, NULL, OPT_FAKE_SORT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void test_verb_parse(void **state)
{
	struct fake_verb fv = { 0 };
	const struct cli_verb_options v = { "fake", "ih", fake_longopts, fake_help, fake_option, &fv };
	char *line[] = { "fake", "-i", "--sort", "port", "word", NULL };

	(void)state;
	helped_verb = &fv;
	assert_int_equal(cli_verb_parse(&v, 5, line), CLI_PARSE_RUN);
	assert_int_equal(fv.info_seen, 1);
	assert_string_equal(fv.sort, "port");
	assert_string_equal(line[optind], "word"); /* the words after the options are the verb's */
	assert_int_equal(cli_verb_parse(&v, 2, (char *[]){ "fake", "--help", NULL }), EXIT_OK);
	assert_int_equal(fv.helped, 1);
	assert_int_equal(cli_verb_parse(&v, 3, (char *[]){ "fake", "--sort", "bad", NULL }),
			 EXIT_USAGE);
	assert_int_equal(cli_verb_parse(&v, 2, (char *[]){ "fake", "--bogus", NULL }), EXIT_USAGE);
	/* a shared option is no option of a verb that does not select sockets */
	assert_int_equal(cli_verb_parse(&v, 3, (char *[]){ "fake", "--state", "listen", NULL }),
			 EXIT_USAGE);
}

static void test_snapshot_parse_shares_the_options(void **state)
{
	struct fake_verb fv = { 0 };
	const struct cli_verb_options v = { "fake", "ih", fake_longopts, fake_help, fake_option, &fv };
	char *line[] = { "fake", "-s", "listen", "-i", "--dport", "22", "--sort", "age", "-j",
			 "state", "close-wait", NULL };
	struct cli_snapshot_args a = args();

	(void)state;
	assert_int_equal(cli_snapshot_parse(&a, &v, 11, line), CLI_PARSE_RUN);
	assert_int_equal(a.filter.states, TS_STATE_BIT(TS_STATE_LISTEN) |
					  TS_STATE_BIT(TS_STATE_CLOSE_WAIT));
	assert_int_equal(a.filter.n_dports, 1);
	assert_true(a.json);
	assert_int_equal(fv.info_seen, 1);
	assert_string_equal(fv.sort, "age");
	a = args();
	assert_int_equal(cli_snapshot_parse(&a, &v, 3, (char *[]){ "fake", "frob", "x", NULL }),
			 EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_ids_fill_their_own_lists),
		cmocka_unit_test(test_bad_values_are_usage_errors),
		cmocka_unit_test(test_verb_options_are_left_to_the_verb),
		cmocka_unit_test(test_shared_table_has_every_shared_option),
		cmocka_unit_test(test_ss_state_words),
		cmocka_unit_test(test_ss_port_words),
		cmocka_unit_test(test_service_names),
		cmocka_unit_test(test_ss_words_tcpstate_cannot_do),
		cmocka_unit_test(test_closest_word),
		cmocka_unit_test(test_getopt_guards),
		cmocka_unit_test(test_verb_parse),
		cmocka_unit_test(test_snapshot_parse_shares_the_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
