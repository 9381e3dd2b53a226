/* SPDX-License-Identifier: MIT */
/*
 * src/webconfig.c and src/web_auth.c: the exporter-toolkit web
 * config parsed from good and malformed YAML, and basic authentication
 * against its bcrypt hashes (cost 4: fast enough for a unit test).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <crypt.h>

#include "web_auth.h"
#include "webconfig.h"

/* htpasswd -nbBC 4 prom s3cret; htpasswd -nbBC 4 ops 'pa:ss wörd' */
#define PROM_HASH "$2y$04$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm."
#define OPS_HASH "$2y$04$LGi..66akBY5IXo6f9Mb/Osow5ISzq2tTXMWQQ72SlS3U.rj/XvKW"

static char err[1024];

static struct webconfig *parse_ok(const char *yaml)
{
	struct webconfig *wc = NULL;
	int r = webconfig_parse(yaml, strlen(yaml), "/etc/tcpstate", &wc, err, sizeof(err));

	if (r != 0)
		fail_msg("refused: %s\n%s", err, yaml);
	assert_non_null(wc);
	return wc;
}

/* Refused with -EINVAL, and the message says each of the words. */
static void parse_bad(const char *yaml, const char *want1, const char *want2)
{
	struct webconfig *wc = (struct webconfig *)0x1;
	int r = webconfig_parse(yaml, strlen(yaml), "/etc/tcpstate", &wc, err, sizeof(err));

	if (r != -EINVAL)
		fail_msg("accepted (%d):\n%s", r, yaml);
	assert_ptr_equal(wc, (struct webconfig *)0x1); /* untouched on failure */
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("message '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
}

static void test_full_config(void **unused)
{
	struct webconfig *wc = parse_ok(
		"# a comment\n"
		"tls_server_config:\n"
		"  cert_file: certs/server.crt\n"
		"  key_file: /abs/server.key\n"
		"  client_auth_type: RequireAndVerifyClientCert\n"
		"  client_ca_file: ca.crt\n"
		"  min_version: TLS13\n"
		"  max_version: TLS13\n"
		"  cipher_suites: []\n"
		"  prefer_server_cipher_suites: false\n"
		"http_server_config:\n"
		"  http2: true\n"
		"  headers:\n"
		"    X-Frame-Options: deny\n"
		"    Strict-Transport-Security: max-age=31536000\n"
		"    X-XSS-Protection: ''\n"
		"basic_auth_users:\n"
		"  prom: '" PROM_HASH "'\n"
		"  ops: " OPS_HASH "\n");
	char buf[128];

	assert_true(wc->tls);
	/* Relative to the config file's directory, as exporter-toolkit does; absolute kept. */
	assert_string_equal(wc->cert_file, "/etc/tcpstate/certs/server.crt");
	assert_string_equal(wc->key_file, "/abs/server.key");
	assert_string_equal(wc->client_ca_file, "/etc/tcpstate/ca.crt");
	assert_int_equal(wc->client_auth, WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT);
	assert_int_equal(wc->min_version, 13);
	assert_string_equal(webconfig_tls_priorities(wc, buf, sizeof(buf)), "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	assert_int_equal(wc->n_users, 2);
	assert_string_equal(wc->users[0].name, "prom");
	assert_string_equal(wc->users[0].hash, PROM_HASH);
	assert_string_equal(wc->users[1].name, "ops");
	assert_int_equal(wc->n_headers, 2); /* the blank one is unset */
	assert_string_equal(wc->headers[0].name, "X-Frame-Options");
	assert_string_equal(wc->headers[0].value, "deny");
	assert_string_equal(wc->headers[1].name, "Strict-Transport-Security");
	webconfig_free(wc);
}

static void test_defaults_and_empty(void **unused)
{
	struct webconfig *wc = parse_ok("");
	char buf[128];

	assert_false(wc->tls);
	assert_int_equal(wc->n_users, 0);
	webconfig_free(wc);
	/* Empty sections (YAML null) are absent, as for exporter-toolkit. */
	wc = parse_ok("tls_server_config:\nbasic_auth_users: ~\nhttp_server_config: {}\n");
	assert_false(wc->tls);
	webconfig_free(wc);
	wc = parse_ok("tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n  key_file: k.pem\n");
	assert_true(wc->tls);
	assert_int_equal(wc->min_version, 12);
	assert_int_equal(wc->max_version, 13);
	assert_int_equal(wc->client_auth, WEBCONFIG_NO_CLIENT_CERT);
	assert_string_equal(wc->cert_pem, "-----BEGIN CERTIFICATE-----\n");
	assert_string_equal(webconfig_tls_priorities(wc, buf, sizeof(buf)),
			    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE");
	webconfig_free(wc);
	/* Users only: plain HTTP with basic auth. */
	wc = parse_ok("basic_auth_users:\n  prom: " PROM_HASH "\n");
	assert_false(wc->tls);
	assert_int_equal(wc->n_users, 1);
	webconfig_free(wc);
}

static void test_unknown_keys_name_key_and_line(void **unused)
{
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
		  "line 4: unknown key 'certfile' in tls_server_config", "known: cert_file");
	parse_bad("basic_auth_users:\n  a: " PROM_HASH "\nweb: 1\n", "line 3: unknown key 'web'", NULL);
	parse_bad("http_server_config:\n  headers:\n    Server: x\n", "line 3: unknown key 'Server'",
		  "headers");
	parse_bad("http_server_config:\n  http3: true\n", "line 2: unknown key 'http3'", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  cert_file: b\n", "line 3: cert_file given twice", NULL);
}

static void test_missing_and_conflicting_tls(void **unused)
{
	parse_bad("tls_server_config:\n  cert_file: a.crt\n", "missing key_file", NULL);
	parse_bad("tls_server_config:\n  key_file: a.key\n", "missing cert_file", NULL);
	parse_bad("tls_server_config:\n  min_version: TLS13\n", "no certificate", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n", "both cert and cert_file", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
		  "client_auth_type is NoClientCert", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n"
		  "  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
		  "  max_version: TLS12\n", "min_version TLS13 is above max_version TLS12", NULL);
}

static void test_unimplemented_settings_refused(void **unused)
{
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n",
		  "line 4: client_auth_type VerifyClientCertIfGiven is not supported", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Whatever\n",
		  "unknown client_auth_type 'Whatever'", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n"
		  "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n", "line 5: cipher_suites is not supported", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n",
		  "curve_preferences is not supported", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
		  "client_allowed_sans is not supported", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
		  "min_version TLS10 is not supported", NULL);
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n",
		  "min_version must be TLS12 or TLS13, not 'TLS14'", NULL);
	parse_bad("rate_limit:\n  interval: 1s\n  burst: 5\n", "line 2: rate_limit is not supported", NULL);
	parse_bad("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
		  "X-Frame-Options must be deny or sameorigin, not 'allow'", NULL);
	parse_bad("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\nb\"\n",
		  "control character", NULL);
	parse_bad("http_server_config:\n  http2: maybe\n", "http2 must be true or false", NULL);
}

static void test_bad_users(void **unused)
{
	parse_bad("basic_auth_users:\n  prom: s3cret\n", "line 2: the password of user 'prom' is not a bcrypt hash",
		  NULL);
	/* A hash cut short, a cost out of range, an MD5 crypt. */
	parse_bad("basic_auth_users:\n  prom: '$2y$04$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm'\n",
		  "not a bcrypt hash", NULL);
	parse_bad("basic_auth_users:\n  prom: '$2y$03$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm.'\n",
		  "not a bcrypt hash", NULL);
	parse_bad("basic_auth_users:\n  prom: '$1$abc$def'\n", "not a bcrypt hash", NULL);
	parse_bad("basic_auth_users:\n  prom:\n", "user 'prom' has no bcrypt hash", NULL);
	parse_bad("basic_auth_users:\n  'a:b': " PROM_HASH "\n", "has a ':'", NULL);
	parse_bad("basic_auth_users:\n  prom: " PROM_HASH "\n  prom: " OPS_HASH "\n", "line 3: user 'prom' given twice",
		  NULL);
	parse_bad("basic_auth_users:\n  - prom\n", "basic_auth_users must be a mapping", NULL);
	assert_true(webconfig_bcrypt_hash_valid(PROM_HASH));
	assert_true(webconfig_bcrypt_hash_valid("$2b$31$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm."));
	assert_false(webconfig_bcrypt_hash_valid("$2y$32$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm."));
	assert_false(webconfig_bcrypt_hash_valid("$2x$10$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZm."));
	assert_false(webconfig_bcrypt_hash_valid("$2y$10$1zmSmJ38YGf.X49eH1WevOOGoOX6AiBERXZHSGnyMO7uiHLhVaZ!."));
}

static void test_bad_yaml(void **unused)
{
	parse_bad("tls_server_config:\n  cert_file: [a\n", "not valid YAML", "line ");
	parse_bad("tls_server_config:\n\tcert_file: a\n", "not valid YAML", NULL);
	parse_bad("- a\n- b\n", "must be a mapping", NULL);
	parse_bad("tls_server_config: yes\n", "tls_server_config must be a mapping", NULL);
	parse_bad("basic_auth_users:\n  prom: " PROM_HASH "\n---\nbasic_auth_users: {}\n", "second YAML document",
		  NULL);
	parse_bad("tls_server_config:\n  cert_file: [a, b]\n  key_file: k\n", "cert_file must be a string", NULL);
}

static void test_nul_byte(void **unused)
{
	static const char text[] = "basic_auth_users: {}\n\0rate_limit: {}\n";
	struct webconfig *wc = NULL;

	assert_int_equal(webconfig_parse(text, sizeof(text) - 1, NULL, &wc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL byte"));
	assert_null(wc);
}

static char tmpdir[] = "/tmp/test_webconfig.XXXXXX";

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static void test_load_files(void **unused)
{
	struct webconfig *wc = NULL;
	char path[256], warn[512];
	int r;

	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/web.yml", tmpdir);
	r = webconfig_load(path, &wc, err, sizeof(err), warn, sizeof(warn));
	assert_int_equal(r, -ENOENT);
	/* A key file that is not there, named relative to the config's directory. */
	write_file("web.yml", "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n", 0600);
	write_file("s.crt", "not a certificate\n", 0644);
	r = webconfig_load(path, &wc, err, sizeof(err), warn, sizeof(warn));
	assert_int_equal(r, -ENOENT);
	if (!strstr(err, "key_file") || !strstr(err, "/s.key") || !strstr(err, tmpdir))
		fail_msg("%s", err);
	write_file("s.key", "not a key\n", 0600);
	r = webconfig_load(path, &wc, err, sizeof(err), warn, sizeof(warn));
	assert_int_equal(r, -EINVAL);
	if (!strstr(err, "cannot load the certificate"))
		fail_msg("%s", err);
	/* Users only, the file readable by all: loaded, with a warning. */
	write_file("web.yml", "basic_auth_users:\n  prom: " PROM_HASH "\n", 0644);
	r = webconfig_load(path, &wc, err, sizeof(err), warn, sizeof(warn));
	assert_int_equal(r, 0);
	if (!strstr(warn, "readable by every user (mode 0644)"))
		fail_msg("warning: '%s'", warn);
	webconfig_free(wc);
	write_file("web.yml", "basic_auth_users:\n  prom: " PROM_HASH "\n", 0600);
	r = webconfig_load(path, &wc, err, sizeof(err), warn, sizeof(warn));
	assert_int_equal(r, 0);
	assert_string_equal(warn, "");
	webconfig_free(wc);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(path), 0);
}

static void test_basic_auth(void **unused)
{
	struct webconfig *wc = parse_ok("basic_auth_users:\n  prom: '" PROM_HASH "'\n  ops: '" OPS_HASH "'\n");
	struct web_auth *a = NULL;
	unsigned long runs;

	assert_int_equal(web_auth_new(wc, &a), 0);
	assert_false(web_auth_check(a, "prom", "wrong"));
	assert_false(web_auth_check(a, "prom", ""));
	assert_false(web_auth_check(a, "prom", NULL));
	assert_false(web_auth_check(a, NULL, "s3cret"));
	assert_false(web_auth_check(a, "ops", "s3cret"));       /* another user's password */
	assert_false(web_auth_check(a, "nobody", "s3cret"));    /* no such user */
	assert_false(web_auth_check(a, "prom", "s3cret "));
	runs = web_auth_bcrypt_runs(a);
	assert_int_equal(runs, 5);  /* a bcrypt for the unknown user too: the same time */
	assert_true(web_auth_check(a, "prom", "s3cret"));
	assert_true(web_auth_check(a, "ops", "pa:ss wörd"));  /* a ':' in the password */
	assert_int_equal(web_auth_bcrypt_runs(a), runs + 2);
	/* Remembered: no bcrypt again. Wrong passwords are never remembered. */
	for (int i = 0; i < 10; i++) {
		assert_true(web_auth_check(a, "prom", "s3cret"));
		assert_false(web_auth_check(a, "prom", "wrong"));
	}
	assert_int_equal(web_auth_bcrypt_runs(a), runs + 2 + 10);
	web_auth_free(a);
	webconfig_free(wc);
}

static void test_auth_cache_is_bounded(void **unused)
{
	/* WEB_AUTH_CACHE_SIZE + 1 users (hashes made here, cost 4), each one success. */
	enum { N = WEB_AUTH_CACHE_SIZE + 1 };
	static char yaml[N * 100 + 64];
	struct webconfig *wc;
	struct web_auth *a = NULL;
	size_t len = (size_t)snprintf(yaml, sizeof(yaml), "basic_auth_users:\n");
	char user[16], password[16], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	for (unsigned i = 0; i < N; i++) {
		snprintf(password, sizeof(password), "pw%u", i);
		assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
		memset(&cd, 0, sizeof(cd));
		assert_non_null(crypt_rn(password, salt, &cd, sizeof(cd)));
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "  u%u: '%s'\n", i, cd.output);
	}
	wc = parse_ok(yaml);
	assert_int_equal(web_auth_new(wc, &a), 0);
	for (unsigned i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		snprintf(password, sizeof(password), "pw%u", i);
		assert_true(web_auth_check(a, user, password));
	}
	assert_int_equal(web_auth_bcrypt_runs(a), N);
	/* The newest are remembered; the first one gave way to the last (the table does not grow). */
	assert_true(web_auth_check(a, "u16", "pw16"));
	assert_true(web_auth_check(a, "u1", "pw1"));
	assert_int_equal(web_auth_bcrypt_runs(a), N);
	assert_true(web_auth_check(a, "u0", "pw0"));
	assert_int_equal(web_auth_bcrypt_runs(a), N + 1);
	web_auth_free(a);
	webconfig_free(wc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults_and_empty),
		cmocka_unit_test(test_unknown_keys_name_key_and_line),
		cmocka_unit_test(test_missing_and_conflicting_tls),
		cmocka_unit_test(test_unimplemented_settings_refused),
		cmocka_unit_test(test_bad_users),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_auth_cache_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
