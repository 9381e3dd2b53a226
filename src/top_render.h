/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to `tcpstate top`: a frame as lines, for the batch output and the screen. */

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "top_model.h"

enum top_attr {
	TOP_ATTR_NORMAL,
	TOP_ATTR_TITLE,    /* the first line and the section titles */
	TOP_ATTR_HEADER,   /* a table's column names */
	TOP_ATTR_ALERT,    /* a critical finding */
};

/* What the first line says beside the frame. */
struct top_header {
	time_t now;
	double delay_s;
	const char *where;      /* "netns init", "all namespaces (3)" */
	bool owners;            /* owners were scanned */
	bool bpf_kept;          /* from the kept BPF program */
	const char *sockets;    /* cli_socket_source_name() */
	unsigned refresh;       /* 1 for the first */
};

/* Rows each section may take: SIZE_MAX for all (batch). */
struct top_limits {
	size_t rows, stuck, findings;
};

typedef void (*top_line_fn)(void *ctx, enum top_attr attr, const char *line);

/* The frame, line by line (no newline at their ends), sanitized for a terminal. */
void top_render(const struct top_frame *f, const struct top_header *h,
		const struct top_limits *lim, top_line_fn emit, void *ctx);

/* The frame as one JSON object on one line (top --batch --json). 0, or -1 when
 * out could not be written. */
int top_render_json(const struct top_frame *f, const struct top_header *h, FILE *out);

/* The limits for a screen of lines rows (at least 24 fit every section). */
void top_limits_for_screen(size_t lines, struct top_limits *ret);

/* The lines top_render() writes beside the sections' rows. */
#define TOP_FIXED_LINES 16
