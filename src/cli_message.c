/* SPDX-License-Identifier: MIT */
/*
 * The one message printer of the CLI: "tcpstate: " + text on stderr, made
 * terminal-safe whole; under --json, errors are collected and printed once
 * at exit as a JSON object.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "term_safe.h"

/* Messages quote paths, names and values from files: made terminal-safe whole. */
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fflush(stdout);
	fprintf(stderr, "tcpstate: %s", prefix);
	term_safe_fputs(buf, stderr);
	fputc('\n', stderr);
}

/* Under --json, errors are kept and printed at exit as one JSON object on
 * stderr (cli_json_errors_finish), the first JSON_ERRORS_MAX of them. */
#define JSON_ERRORS_MAX 8
static bool json_errors;
static char json_error_text[JSON_ERRORS_MAX][1024];
static unsigned json_error_count;

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (json_errors) {
		if (json_error_count < JSON_ERRORS_MAX)
			vsnprintf(json_error_text[json_error_count], sizeof(json_error_text[0]), fmt, ap);
		json_error_count++;
	} else {
		vmsg("", fmt, ap);
	}
	va_end(ap);
}

/* Whether the line asks for JSON: -j, --json, or -j in a cluster of flags. */
static bool wants_json(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *w = argv[i];

		if (strcmp(w, "--json") == 0)
			return true;
		if (w[0] == '-' && w[1] != '-' && w[1] && w[strspn(w + 1, "jnAvih") + 1] == '\0' &&
		    strchr(w, 'j'))
			return true;
	}
	return false;
}

/* {"schema_version":1,"error":"first message","messages":[...],"exit_status":N} */
void cli_json_errors_finish(int rc)
{
	json_object *o, *msgs;
	unsigned n = json_error_count < JSON_ERRORS_MAX ? json_error_count : JSON_ERRORS_MAX;

	if (!json_errors || json_error_count == 0)
		return;
	o = json_object_new_object();
	msgs = json_object_new_array();
	for (unsigned i = 0; i < n; i++)
		json_object_array_add(msgs, json_object_new_string(json_error_text[i]));
	json_object_object_add(o, "schema_version", json_object_new_int(1));
	json_object_object_add(o, "error", json_object_new_string(json_error_text[0]));
	json_object_object_add(o, "messages", msgs);
	json_object_object_add(o, "messages_dropped",
			       json_object_new_int64(json_error_count - n));
	json_object_object_add(o, "exit_status", json_object_new_int(rc));
	fflush(stdout);
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void cli_info(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(prefix, fmt, ap);
	va_end(ap);
}

void cli_json_errors_start(int argc, char **argv)
{
	json_errors = wants_json(argc, argv);
}

const char *cli_shell_word(const char *s, char *buf, size_t size)
{
	bool plain = *s && *s != '-';
	size_t n = 0;

	for (const char *p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.' || *p == '/' || *p == ':' || *p == '+';
	if (plain) {
		snprintf(buf, size, "%s", s);
		return buf;
	}
	/* 'it'\''s': single quotes, each ' written as '\'' */
	if (size < 3)
		return "''";
	buf[n++] = '\'';
	for (const char *p = s; *p && n + 5 < size; p++) {
		if (*p == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			buf[n++] = *p;
		}
	}
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}
