/* SPDX-License-Identifier: MIT */
/* Writing a Prometheus exposition: see metrics_exposition.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics_exposition.h"
#include "term_safe.h"

#define LABEL_MAX 512

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void bvprintf(struct metrics_buf *b, const char *fmt, va_list args)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_copy(ap, args);
		n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t need = b->len + (size_t)n + 1, nc = b->cap ? b->cap : 4096;

		while (nc < need)
			nc *= 2;
		if (b->max && nc > b->max)
			nc = b->max;
		if (nc < need) {
			b->err = -EFBIG;
			return;
		}
		char *v = realloc(b->data, nc);

		if (!v) {
			b->err = -ENOMEM;
			return;
		}
		b->data = v;
		b->cap = nc;
	}
}

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bvprintf(b, fmt, ap);
	va_end(ap);
}

void metrics_label_value(char *buf, size_t size, const char *s)
{
	char safe[LABEL_MAX];
	size_t n = 0;

	term_safe(safe, sizeof(safe), s);
	for (const char *p = safe; *p && n + 2 < size; p++) {
		if (*p == '\\' || *p == '"')
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	buf[n] = '\0';
}

const char *metrics_content_type(enum metrics_format f)
{
	return f == METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
					: "text/plain; version=0.0.4; charset=utf-8";
}

bool metrics_accept_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";

	/* Prometheus asks "application/openmetrics-text;version=1.0.0;q=0.5,...,text/plain;
	 * version=0.0.4;q=0.3,...": a media range naming it, without q=0, is taken. */
	for (const char *p = accept; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char range[256];

		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		snprintf(range, sizeof(range), "%.*s", (int)len, p);
		if (strncasecmp(range, om, sizeof(om) - 1) == 0 &&
		    (range[sizeof(om) - 1] == '\0' || range[sizeof(om) - 1] == ';' ||
		     range[sizeof(om) - 1] == ' ')) {
			const char *q = strstr(range, "q=");

			if (!q || strtod(q + 2, NULL) > 0)
				return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* HELP and TYPE of a family; a counter's name ends in "_total" (OpenMetrics drops it here). */
void metrics_family(struct metrics_buf *b, enum metrics_format f, const char *name, const char *type,
		    const char *help)
{
	size_t len = strlen(name);

	if (f == METRICS_OPENMETRICS && strcmp(type, "counter") == 0 && len > 6 &&
	    strcmp(name + len - 6, "_total") == 0)
		len -= 6;
	metrics_printf(b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, name, help, (int)len, name, type);
}

void metrics_value(struct metrics_buf *b, double v)
{
	if (v == (double)(int64_t)v && v < 9.0e15 && v > -9.0e15)
		metrics_printf(b, " %" PRId64 "\n", (int64_t)v);
	else
		metrics_printf(b, " %.15g\n", v);
}
