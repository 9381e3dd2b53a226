/* SPDX-License-Identifier: MIT */
/* The one sanitizer every text renderer uses for foreign strings (term_safe.h). */
#include <stdbool.h>
#include <stdint.h>

#include "term_safe.h"

/* Unicode controls that reorder or hide text (bidi overrides, zero width). */
static bool hidden_control(uint32_t cp)
{
	return cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

/* Length (1..4) and code point of the UTF-8 character at p; 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *ret)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] < 0x80) {
		*ret = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0; /* continuation byte, C1 byte, 0xc0/0xc1, 0xf5-0xff */
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret = cp;
	return n;
}

static bool control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || hidden_control(cp);
}

/*
 * Length of the character at p (1..4) when it may be shown as it is,
 * 0 when its first byte must become '?'. p is NUL-terminated.
 */
static size_t safe_char_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n = utf8_decode(p, &cp);

	return n && !control(cp) ? n : 0;
}

char *term_safe(char *buf, size_t size, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t len = 0;

	if (size == 0)
		return buf;
	while (*p) {
		size_t n = safe_char_len(p);

		if (len + (n ? n : 1) >= size)
			break;
		if (n == 0) {
			buf[len++] = '?';
			p++;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			buf[len++] = (char)p[i];
		p += n;
	}
	buf[len] = '\0';
	return buf;
}

void term_safe_fputs(const char *s, FILE *f)
{
	char chunk[256];

	if (!s)
		return;
	while (*s) {
		const unsigned char *p = (const unsigned char *)s;
		size_t len = 0;

		/* Whole characters only, so a chunk never splits one. */
		while (*p && len + 4 < sizeof(chunk)) {
			size_t n = safe_char_len(p);

			if (n == 0) {
				chunk[len++] = '?';
				p++;
				continue;
			}
			for (size_t i = 0; i < n; i++)
				chunk[len++] = (char)p[i];
			p += n;
		}
		fwrite(chunk, 1, len, f);
		s = (const char *)p;
	}
}

void term_safe_json_puts(const char *json, FILE *f)
{
	const unsigned char *p = (const unsigned char *)json, *done = p;

	while (*p) {
		uint32_t cp;
		size_t n;

		if (*p < 0x7f) { /* json-c escaped the C0 controls already */
			p++;
			continue;
		}
		n = utf8_decode(p, &cp);
		if (n && !control(cp)) {
			p += n;
			continue;
		}
		fwrite(done, 1, (size_t)(p - done), f);
		if (n)
			fprintf(f, "\\u%04x", (unsigned)cp); /* lossless: the same text, escaped */
		else
			fputs("\\ufffd", f); /* not UTF-8: JSON cannot carry the byte */
		p += n ? n : 1;
		done = p;
	}
	fputs((const char *)done, f);
	fputc('\n', f);
}
