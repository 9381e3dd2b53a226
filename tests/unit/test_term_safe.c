/* SPDX-License-Identifier: MIT */
/* src/term_safe.c: what reaches a terminal from another process or a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "term_safe.h"

static const char *safe(const char *s)
{
	static char buf[256];

	return term_safe(buf, sizeof(buf), s);
}

static void test_controls_become_question_marks(void **state)
{
	(void)state;
	assert_string_equal(safe("\x1b[2J\x1b]0;pwned\x07"), "?[2J?]0;pwned?");
	assert_string_equal(safe("a\nb\rc\td\x7f" "e"), "a?b?c?d?e");
	assert_string_equal(safe("\x9b" "31m"), "?31m");          /* raw C1 CSI */
	assert_string_equal(safe("\xc2\x9b" "31m"), "??31m");     /* U+009B as UTF-8 */
	assert_string_equal(safe("\xc2\x85"), "??");              /* U+0085 NEL */
	assert_string_equal(safe("x\xe2\x80\xae" "gpj.exe"), "x???gpj.exe"); /* U+202E */
	assert_string_equal(safe("\xef\xbb\xbf" "a"), "???a");    /* U+FEFF */
	assert_string_equal(safe(NULL), "");
}

static void test_text_passes(void **state)
{
	(void)state;
	assert_string_equal(safe("nginx: worker process"), "nginx: worker process");
	assert_string_equal(safe("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7"),
			    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7");
	assert_string_equal(safe("\xc2\xa0"), "\xc2\xa0"); /* U+00A0 is text */
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	assert_string_equal(safe("\xff\xfe"), "??");
	assert_string_equal(safe("\xc0\xaf"), "??");             /* overlong '/' */
	assert_string_equal(safe("\xed\xa0\x80"), "???");        /* surrogate */
	assert_string_equal(safe("\xf4\x90\x80\x80"), "????");   /* > U+10FFFF */
	assert_string_equal(safe("a\xe6\x97"), "a??");           /* cut short */
	assert_string_equal(safe("\xe6\x97\x1b"), "???");        /* cut by a control */
}

static void test_bounds_never_split_a_character(void **state)
{
	char buf[5];

	(void)state;
	assert_string_equal(term_safe(buf, sizeof(buf), "abcdef"), "abcd");
	assert_string_equal(term_safe(buf, sizeof(buf), "ab\xe6\x97\xa5"), "ab");
	assert_string_equal(term_safe(buf, sizeof(buf), "a\xe6\x97\xa5"), "a\xe6\x97\xa5");
	assert_string_equal(term_safe(buf, 1, "abc"), "");
	assert_string_equal(TERM_SAFE("x\x1by"), "x?y");
}

static void test_fputs_unbounded(void **state)
{
	char *big = malloc(3001), *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	(void)state;
	assert_non_null(big);
	assert_non_null(f);
	for (size_t i = 0; i < 1000; i++)
		memcpy(big + 3 * i, "\xe6\x97\xa5", 3); /* a 3-byte character across chunks */
	big[3000] = '\0';
	big[1500] = '\x1b';
	term_safe_fputs(big, f);
	fclose(f);
	assert_int_equal(size, 3000); /* one '?' per byte of the broken character */
	assert_memory_equal(out + 1500, "???", 3);
	assert_null(memchr(out, '\x1b', size));
	assert_memory_equal(out + 2997, "\xe6\x97\xa5", 3);
	free(big);
	free(out);
}

static char *json_out(const char *json)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	assert_non_null(f);
	term_safe_json_puts(json, f);
	fclose(f);
	return out;
}

static void test_json_keeps_the_text_escaped(void **state)
{
	char *out;

	(void)state;
	/* What json-c writes for a comm of ESC, U+009B, DEL, U+202E, 0xff, and text. */
	out = json_out("{\"comm\":\"\\u001b[2J\xc2\x9b\x7f\xe2\x80\xae\xff caf\xc3\xa9\"}");
	assert_string_equal(out, "{\"comm\":\"\\u001b[2J\\u009b\\u007f\\u202e\\ufffd caf\xc3\xa9\"}\n");
	free(out);
	out = json_out("[1,\"plain\"]");
	assert_string_equal(out, "[1,\"plain\"]\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls_become_question_marks),
		cmocka_unit_test(test_text_passes),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_bounds_never_split_a_character),
		cmocka_unit_test(test_fputs_unbounded),
		cmocka_unit_test(test_json_keeps_the_text_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
