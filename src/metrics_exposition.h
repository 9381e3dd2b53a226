/* SPDX-License-Identifier: MIT */
/*
 * Writing a Prometheus exposition (text 0.0.4 or OpenMetrics 1.0.0): a
 * bounded growable buffer and its pieces (a line, a family's HELP and TYPE,
 * a sample's value, a label value). metrics_render.c (one snapshot's model)
 * and metrics_transitions.c (the trace's counters) both write with these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A growable buffer with a maximum size; err set once something did not fit. */
struct metrics_buf {
	char *data;
	size_t len, cap, max;
	int err;
};

void metrics_buf_free(struct metrics_buf *b);

enum metrics_format {
	METRICS_TEXT_004,    /* text/plain; version=0.0.4 */
	METRICS_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/* The Content-Type of a format. */
const char *metrics_content_type(enum metrics_format f);

/* Whether an Accept header asks for OpenMetrics. NULL: no. */
bool metrics_accept_openmetrics(const char *accept);

/* The pieces of an exposition: a line (printf), a family's HELP and TYPE (a
 * counter named with "_total", dropped in OpenMetrics' HELP and TYPE) and a
 * sample's value with its newline. After a failure (b->err) they do nothing. */
void metrics_printf(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_family(struct metrics_buf *b, enum metrics_format f, const char *name, const char *type,
		    const char *help);
void metrics_value(struct metrics_buf *b, double v);

/* A label value as the exposition writes it: term_safe() (controls and
 * bytes that are not UTF-8 become '?'), then '\\' and '"' escaped. */
void metrics_label_value(char *buf, size_t size, const char *s);
