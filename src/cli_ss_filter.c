/* SPDX-License-Identifier: MIT */
/* ss's filter words after the options: state NAME, exclude NAME, dport = :N, sport = :N. */
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "tcpstate/state.h"

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

/* "state NAME" or "exclude NAME" at t->tok[*i]: NAME's states into *mask. */
static int ss_state_word(const struct ss_tokens *t, size_t *i, ts_state_mask_t *mask, const char *verb)
{
	const char *w = t->tok[*i];
	ts_state_mask_t m;

	if (*i + 1 >= t->n) {
		cli_error("'%s' needs a state name (-s/--state takes the same names)", w);
		return -1;
	}
	if (ts_state_token_parse(t->tok[++*i], &m) < 0) {
		cli_error("unknown state '%s' (see 'tcpstate %s --help')", t->tok[*i], verb);
		return -1;
	}
	*mask |= m;
	return 0;
}

/* "dport = :N" or "sport = :N" at t->tok[*i] ("=", "==" or "eq" optional, ':' optional). */
static int ss_port_word(struct cli_snapshot_args *a, const struct ss_tokens *t, size_t *i,
			const char *verb)
{
	const char *w = t->tok[*i], *v;
	int opt = w[0] == 'd' ? CLI_OPT_DPORT : CLI_OPT_SPORT;

	if (*i + 1 < t->n && (!strcmp(t->tok[*i + 1], "=") || !strcmp(t->tok[*i + 1], "==") ||
			      !strcmp(t->tok[*i + 1], "eq")))
		++*i;
	if (*i + 1 >= t->n) {
		cli_error("'%s' needs a port: %s = :PORT, or --%s PORT", w, w, w);
		return -1;
	}
	v = t->tok[++*i];
	if (strchr("<>!", *v) || !strcmp(v, "ne") || !strcmp(v, "neq") || !strcmp(v, "lt") ||
	    !strcmp(v, "gt") || !strcmp(v, "le") || !strcmp(v, "ge"))
		return ss_unsupported(v, verb);
	if (*v == ':')
		v++;
	return cli_snapshot_option(a, opt, v) < 0 ? -1 : 0;
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
			if (depth > 0) {
				cli_error("'%s' belongs outside the parentheses, as in ss "
					  "(try 'tcpstate %s --help')", w, verb);
				return -1;
			}
			if (ss_state_word(&t, &i, strcmp(w, "state") == 0 ? &incl : &excl, verb) < 0)
				return -1;
			any_state = true;
		} else if (!strcmp(w, "dport") || !strcmp(w, "sport")) {
			if (ss_port_word(a, &t, &i, verb) < 0)
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
