/* SPDX-License-Identifier: MIT */
/* Command-line habits: whole names for options that change the system, a
 * hint for ss's flags, and a guess at a mistyped verb. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Long options that change the system: getopt_long would take any
 * unambiguous prefix of them ('tune --writ x' wrote a file named x). */
static const char *const whole_names[] = {
	"write", "apply", "save", "revert", "config-root", /* tune */
	"how", "yes",                                       /* close */
	"cleanup",                                          /* lab */
	NULL,
};

static bool needs_whole_name(const char *name)
{
	for (size_t i = 0; whole_names[i]; i++)
		if (strcmp(name, whole_names[i]) == 0)
			return true;
	return false;
}

/* ss's single-letter flags (ss -tanp, -tlnp, -s, ...). */
static const char ss_flags[] = "antlpuxeoimrs46HOZE";

static bool all_ss_flags(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(ss_flags, *s))
			return false;
	return true;
}

/*
 * Whether word (a short-option cluster like "-tanp") is ss's flags that
 * getopt would refuse here: a letter this verb lacks, or -a/-p (which take
 * an address or a port here) followed by more ss letters.
 */
static bool looks_like_ss_flags(const char *word, const char *shortopts)
{
	if (word[0] != '-' || word[1] == '-' || !all_ss_flags(word + 1) || !word[2])
		return false;
	for (const char *c = word + 1; *c; c++) {
		const char *o = strchr(shortopts, *c);

		if (!o)
			return true;
		if (o[1] == ':')
			return (*c == 'a' || *c == 'p') && c[1];
	}
	return false;
}

static void ss_flags_hint(const char *word, const char *verb)
{
	cli_error("'%s' looks like ss flags; tcpstate %s does not take them: it shows TCP only "
		  "and every state unless -s/--state says otherwise, numbers are never "
		  "resolved, owners are always shown (-n/--no-owners skips them), -a is "
		  "--addr ADDR, -p is --port PORT, -s is --state STATE (try 'tcpstate %s --help')",
		  word, verb, verb);
}

int cli_getopt_long(int argc, char **argv, const char *shortopts, const struct option *longopts,
		    const char *verb)
{
	int idx = -1, opt;

	if (optind <= 1) {
		for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
			if (looks_like_ss_flags(argv[i], shortopts)) {
				ss_flags_hint(argv[i], verb);
				optind = argc;
				return '?';
			}
	}
	opt = getopt_long(argc, argv, shortopts, longopts, &idx);
	if (opt == -1 || opt == '?' || idx < 0 || !needs_whole_name(longopts[idx].name))
		return opt;
	/* The word getopt just took: the option's, or the one before its argument. */
	const char *word = argv[optind - 1];

	if (optarg && optarg == argv[optind - 1] && optind >= 2)
		word = argv[optind - 2];
	if (strncmp(word, "--", 2) == 0) {
		size_t n = strcspn(word + 2, "=");

		if (n != strlen(longopts[idx].name) ||
		    strncmp(word + 2, longopts[idx].name, n) != 0) {
			cli_error("option '%.*s' must be written in full: --%s (it changes the "
				  "system; try 'tcpstate %s --help')",
				  (int)(n + 2), word, longopts[idx].name, verb);
			optind = argc;
			return '?';
		}
	}
	return opt;
}

/* ---- a mistyped verb ---- */

/* Optimal string alignment distance (a swap of two neighbours counts 1). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[17][17];

	if (la > 16 || lb > 16)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *cli_closest_word(const char *word, const char *const *words, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3, len = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, words[i]);

		/* Two edits in a word of three letters is another word. */
		if (d < best_d && (d == 1 || len > 4)) {
			best = words[i];
			best_d = d;
		}
	}
	return best;
}

int cli_verb_parse(const struct cli_verb_options *v, int argc, char **argv)
{
	int opt, r;

	optind = 1;
	while ((opt = cli_getopt_long(argc, argv, v->shortopts, v->longopts, v->verb)) != -1) {
		r = v->option && opt != '?' ? v->option(v->ctx, opt, optarg) : 0;
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		if (opt == 'h') {
			v->help(stdout);
			return EXIT_OK;
		}
		fprintf(stderr, "Try 'tcpstate %s --help'.\n", v->verb);
		return EXIT_USAGE;
	}
	return CLI_PARSE_RUN;
}
