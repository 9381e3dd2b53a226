/* SPDX-License-Identifier: MIT */
/* Command-line habits: whole names for options that change the system, hints
 * for ss's flags and words, and a guess at a mistyped verb. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "cli_filter.h"
#include "tcpstate/state.h"
#include "tcpstate/util.h"

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

/* ---- ss's filter words: state NAME, exclude NAME, dport = :N, sport = :N ---- */

#define SS_MAX_TOKENS 64

struct ss_tokens {
	char buf[1024];
	const char *tok[SS_MAX_TOKENS];
	size_t n;
};

/* Splits the words on blanks and around parentheses (ss's filter is often one quoted word). */
static int ss_tokenize(int argc, char **argv, struct ss_tokens *t)
{
	size_t used = 0;

	t->n = 0;
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p;) {
			size_t len;

			if (*p == ' ' || *p == '\t' || *p == '\n') {
				p++;
				continue;
			}
			len = (*p == '(' || *p == ')') ? 1 : strcspn(p, " \t\n()");
			if (t->n >= SS_MAX_TOKENS || used + len + 1 > sizeof(t->buf)) {
				cli_error("filter expression too long (at most %d words)", SS_MAX_TOKENS);
				return -1;
			}
			memcpy(t->buf + used, p, len);
			t->buf[used + len] = '\0';
			t->tok[t->n++] = t->buf + used;
			used += len + 1;
			p += len;
		}
	}
	return 0;
}

static int ss_unsupported(const char *tok, const char *verb)
{
	const char *use;

	if (!strcmp(tok, "src") || !strcmp(tok, "dst") || !strcmp(tok, "host"))
		use = "-a/--addr ADDR[/LEN] (local or remote address)";
	else if (!strcmp(tok, "or") || !strcmp(tok, "||") || !strcmp(tok, ","))
		use = "one option with a list: --dport 80,443 (values of one option are ORed, "
		      "options are ANDed)";
	else if (!strcmp(tok, "not") || !strcmp(tok, "!"))
		use = "exclude STATE for states; ports and addresses cannot be negated";
	else if (!strcmp(tok, "<") || !strcmp(tok, ">") || !strcmp(tok, "<=") ||
		 !strcmp(tok, ">=") || !strcmp(tok, "lt") || !strcmp(tok, "gt") ||
		 !strcmp(tok, "le") || !strcmp(tok, "ge") || !strcmp(tok, "!=") ||
		 !strcmp(tok, "neq") || !strcmp(tok, "ne"))
		use = "--sport P[,P...] or --dport P[,P...] (exact ports only)";
	else
		use = "-s/--state, --sport, --dport, -p/--port or -a/--addr";
	cli_error("'%s' is not understood here; use %s (try 'tcpstate %s --help')", tok, use, verb);
	return -1;
}

int cli_ss_filter(struct cli_snapshot_args *a, int argc, char **argv, const char *verb)
{
	struct ss_tokens t;
	ts_state_mask_t incl = 0, excl = 0;
	int depth = 0;
	bool any_state = false;

	if (argc <= 0)
		return 0;
	if (ss_tokenize(argc, argv, &t) < 0)
		return -1;
	for (size_t i = 0; i < t.n; i++) {
		const char *w = t.tok[i];

		if (!strcmp(w, "(")) {
			depth++;
		} else if (!strcmp(w, ")")) {
			if (--depth < 0) {
				cli_error("unbalanced ')' in the filter (try 'tcpstate %s --help')", verb);
				return -1;
			}
		} else if (!strcmp(w, "and") || !strcmp(w, "&&") || !strcmp(w, "&")) {
			continue;
		} else if (!strcmp(w, "state") || !strcmp(w, "exclude") || !strcmp(w, "excl")) {
			ts_state_mask_t m;
			bool ex = strcmp(w, "state") != 0;

			if (depth > 0) {
				cli_error("'%s' belongs outside the parentheses, as in ss "
					  "(try 'tcpstate %s --help')", w, verb);
				return -1;
			}
			if (i + 1 >= t.n) {
				cli_error("'%s' needs a state name (-s/--state takes the same names)", w);
				return -1;
			}
			if (ts_state_token_parse(t.tok[++i], &m) < 0) {
				cli_error("unknown state '%s' (see 'tcpstate %s --help')", t.tok[i], verb);
				return -1;
			}
			if (ex)
				excl |= m;
			else
				incl |= m;
			any_state = true;
		} else if (!strcmp(w, "dport") || !strcmp(w, "sport")) {
			const char *v;
			int opt = w[0] == 'd' ? 0x101 : 0x100;

			if (i + 1 < t.n && (!strcmp(t.tok[i + 1], "=") || !strcmp(t.tok[i + 1], "==") ||
					    !strcmp(t.tok[i + 1], "eq")))
				i++;
			if (i + 1 >= t.n) {
				cli_error("'%s' needs a port: %s = :PORT, or --%s PORT", w, w, w);
				return -1;
			}
			v = t.tok[++i];
			if (*v != ':' && strchr("<>!nlg", *v))
				return ss_unsupported(v, verb);
			if (*v == ':')
				v++;
			if (cli_snapshot_option(a, opt, v) < 0)
				return -1;
		} else {
			return ss_unsupported(w, verb);
		}
	}
	if (depth != 0) {
		cli_error("unbalanced '(' in the filter (try 'tcpstate %s --help')", verb);
		return -1;
	}
	if (any_state) {
		ts_state_mask_t m = incl | a->filter.states;

		if (!m)
			m = TS_STATE_MASK_ALL;
		m &= ~excl;
		if (!m) {
			cli_error("the state words leave no state to show");
			return -1;
		}
		a->filter.states = m;
	}
	return 0;
}

/* ---- JSON documents ---- */

void cli_json_header(struct json_object *root)
{
	char buf[32] = "";
	struct timespec ts;
	struct tm tm;

	json_object_object_add(root, "schema_version", json_object_new_int(CLI_JSON_SCHEMA_VERSION));
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm))
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(root, "generated_at", buf[0] ? json_object_new_string(buf) : NULL);
}

int cli_snapshot_args_finish(struct cli_snapshot_args *a, int argc, char **argv, const char *verb)
{
	if (optind < argc && cli_ss_filter(a, argc - optind, argv + optind, verb) < 0)
		return -1;
	return cli_snapshot_args_check(a);
}
