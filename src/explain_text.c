/* SPDX-License-Identifier: MIT */
/* tcpstate explain: composed sentences, fields wrapped to the terminal, durations. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "explain.h"
#include "term_safe.h"

#define LABEL_WIDTH 14

void explain_text_add(struct explain_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= sizeof(t->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	t->len += (size_t)n;
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

/* ---- fields wrapped at the terminal width ---- */

static bool is_unit(const char *w, size_t n)
{
	static const char *const units[] = { "s", "ms", "min", "h", "d" };

	while (n > 0 && strchr(",.;:)", w[n - 1]))
		n--;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && strncmp(w, units[i], n) == 0)
			return true;
	return false;
}

/*
 * Length of the next piece that must not be broken across lines: a word, a
 * `command` in backquotes with what sticks to it, or a number with its unit.
 */
static size_t piece_len(const char *p)
{
	size_t n = strcspn(p, " ");

	if (*p == '`') {
		const char *end = strchr(p + 1, '`');

		if (end)
			return (size_t)(end + 1 - p) + strcspn(end + 1, " ");
	}
	if (n > 0 && isdigit((unsigned char)p[0]) && strspn(p, "0123456789.") == n && p[n] == ' ') {
		size_t m = strcspn(p + n + 1, " ");

		if (is_unit(p + n + 1, m))
			return n + 1 + m;
	}
	return n;
}

/*
 * "  Label         text wrapped at width, continued under the text". Every
 * field passes here, so the names, values and command lines in it are made
 * terminal-safe here (an explain_text is smaller than safe).
 */
void explain_field(FILE *f, unsigned width, const char *label, const char *text)
{
	unsigned indent = 2 + LABEL_WIDTH, col;
	char safe[8192];
	const char *p = term_safe(safe, sizeof(safe), text);

	fprintf(f, "  %-*s", LABEL_WIDTH, label);
	col = indent;
	if (strlen(label) >= LABEL_WIDTH) {
		fputc(' ', f);
		col = 2 + (unsigned)strlen(label) + 1;
	}
	for (bool first = true; *p;) {
		size_t n;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		n = piece_len(p);
		if (!first && col + 1 + n > width) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
			first = true;
		}
		if (!first) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, n, f);
		col += (unsigned)n;
		p += n;
		first = false;
	}
	fputc('\n', f);
}

/* ---- durations ---- */

void explain_fmt_duration(char *buf, size_t size, uint32_t ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%u ms", ms);
	else if (ms < 120000)
		snprintf(buf, size, "%.1f s", ms / 1000.0);
	else if (ms < 7200000)
		snprintf(buf, size, "%u min %u s", ms / 60000, ms / 1000 % 60);
	else if (ms < 172800000)
		snprintf(buf, size, "%u h %u min", ms / 3600000, ms / 60000 % 60);
	else
		snprintf(buf, size, "%u d %u h", ms / 86400000, ms / 3600000 % 24);
}
