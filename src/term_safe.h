/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Text from another process or a file (command names, command lines,
 * cgroup units, /run/netns names, sysctl values, sysctl.d lines), made fit
 * for a terminal before any text renderer prints it. What a terminal would
 * act on or what would fake the layout becomes '?', one per byte:
 *   - C0 controls (ESC, CR, LF and TAB included) and DEL;
 *   - C1 controls, as raw bytes 0x80-0x9f or as UTF-8 U+0080-U+009F
 *     (0x9b and U+009B are CSI on some terminals);
 *   - bytes that are not valid UTF-8 (stray, overlong, surrogate, > U+10FFFF,
 *     cut short);
 *   - the Unicode controls that reorder or hide what is shown: U+061C,
 *     U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF.
 * Valid UTF-8 text otherwise passes unchanged, so names in any script stay
 * readable, and ps prints '?' for the same bytes.
 *
 * JSON keeps the text: json-c writes C0 controls as \u00XX, and
 * term_safe_json_puts() escapes the rest of the controls above the same way.
 */

#include <stddef.h>
#include <stdio.h>

/* Copies s (NULL: "") into buf, at most size - 1 bytes and never half a
 * character, and returns buf. */
char *term_safe(char *buf, size_t size, const char *s);

/* Writes s to f as term_safe() would make it, without a length limit. */
void term_safe_fputs(const char *s, FILE *f);

/*
 * Writes a JSON text from json-c and a newline to f, with DEL, C1 and the
 * hidden Unicode controls inside its strings written as \uXXXX (the same
 * string to a JSON reader), and each byte that is not UTF-8 as \ufffd (a JSON
 * text must be UTF-8). Nothing else changes.
 */
void term_safe_json_puts(const char *json, FILE *f);

#define TERM_SAFE_MAX 1024

/* term_safe() into a buffer that lives until the end of the enclosing
 * block: for printf arguments (at most TERM_SAFE_MAX - 1 bytes). */
#define TERM_SAFE(s) term_safe((char[TERM_SAFE_MAX]){ 0 }, TERM_SAFE_MAX, (s))
