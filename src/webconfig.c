/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file: exporter-toolkit's web configuration, parsed with
 * libyaml's document loader and checked as strictly as exporter-toolkit's
 * yaml.UnmarshalStrict (unknown keys are errors), plus what tcpstate does not
 * implement (refused by name, never ignored).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <yaml.h>

#include "webconfig.h"

struct parse {
	yaml_document_t *doc;
	struct webconfig *wc;
	const char *dir;
	char *err;
	size_t errlen;
};

static int failf(struct parse *p, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "line N: ..." into p->err; -EINVAL. */
static int failf(struct parse *p, const yaml_node_t *at, const char *fmt, ...)
{
	int n = 0;
	va_list ap;

	if (at)
		n = snprintf(p->err, p->errlen, "line %zu: ", at->start_mark.line + 1);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* YAML's null (an empty value, ~, null): the setting is absent, as for exporter-toolkit. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a value";
	}
}

/* A string setting: NULL for null; else a copy. */
static int get_string(struct parse *p, const char *key, const yaml_node_t *v, char **ret)
{
	const char *s = scalar(v);

	if (!s)
		return failf(p, v, "%s must be a string, not %s", key, node_kind(v));
	free(*ret);
	*ret = NULL;
	if (is_null(v))
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int get_bool(struct parse *p, const char *key, const yaml_node_t *v, bool *ret)
{
	static const char *const yes[] = { "true", "yes", "on", "y" }, *const no[] = { "false", "no", "off", "n" };
	const char *s = scalar(v);

	for (size_t i = 0; s && i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return failf(p, v, "%s must be true or false, not '%s'", key, s ? s : node_kind(v));
}

/* A list that tcpstate cannot honour: fine absent or empty, refused otherwise. */
static int refuse_list(struct parse *p, const char *key, const yaml_node_t *v, const char *why)
{
	if (is_null(v) || (v->type == YAML_SEQUENCE_NODE &&
			   v->data.sequence.items.start == v->data.sequence.items.top))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return failf(p, v, "%s must be a list, not %s", key, node_kind(v));
	return failf(p, v, "%s is not supported by tcpstate: %s", key, why);
}

static int join_dir(struct parse *p, char **path)
{
	char *j;

	if (!*path || !**path || **path == '/' || !p->dir)
		return 0;
	if (asprintf(&j, "%s/%s", p->dir, *path) < 0)
		return -ENOMEM;
	free(*path);
	*path = j;
	return 0;
}

#define for_each_pair(p, n, pr, k, v)                                                    \
	for (yaml_node_pair_t *pr = (n)->data.mapping.pairs.start;                         \
	     pr < (n)->data.mapping.pairs.top &&                                           \
	     ((k) = yaml_document_get_node((p)->doc, pr->key),                             \
	      (v) = yaml_document_get_node((p)->doc, pr->value), 1);                       \
	     pr++)

/* Key k of a mapping: a scalar, seen once (seen: bit per index in keys[]). Its index, or <0. */
static int key_index(struct parse *p, const char *section, const yaml_node_t *k,
		     const char *const *keys, size_t n, unsigned *seen)
{
	const char *s = scalar(k);
	char known[512] = "";
	size_t len = 0;

	if (!s)
		return failf(p, k, "a key in %s must be a string, not %s", section, node_kind(k));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, keys[i]) == 0) {
			if (*seen & (1u << i))
				return failf(p, k, "%s given twice in %s", s, section);
			*seen |= 1u << i;
			return (int)i;
		}
		int w = snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", keys[i]);

		if (w > 0 && (size_t)w < sizeof(known) - len)
			len += (size_t)w;
	}
	return failf(p, k, "unknown key '%s' in %s (known: %s)", s, section, known);
}

static int need_mapping(struct parse *p, const char *key, const yaml_node_t *v)
{
	if (v->type != YAML_MAPPING_NODE)
		return failf(p, v, "%s must be a mapping (key: value lines), not %s", key, node_kind(v));
	return 0;
}

static int tls_version(struct parse *p, const char *key, const yaml_node_t *v, unsigned *ret)
{
	const char *s = scalar(v);

	if (s && !strcmp(s, "TLS12"))
		*ret = 12;
	else if (s && !strcmp(s, "TLS13"))
		*ret = 13;
	else if (s && (!strcmp(s, "TLS10") || !strcmp(s, "TLS11")))
		return failf(p, v, "%s %s is not supported by tcpstate: TLS 1.0 and 1.1 are obsolete "
				   "(RFC 8996); use TLS12 or TLS13", key, s);
	else
		return failf(p, v, "%s must be TLS12 or TLS13, not '%s'", key, s ? s : node_kind(v));
	return 0;
}

enum {
	K_CERT_FILE, K_KEY_FILE, K_CERT, K_KEY, K_CLIENT_CA, K_CLIENT_CA_FILE, K_CLIENT_AUTH_TYPE,
	K_CLIENT_ALLOWED_SANS, K_MIN_VERSION, K_MAX_VERSION, K_CIPHER_SUITES,
	K_PREFER_SERVER_CIPHER_SUITES, K_CURVE_PREFERENCES, K_TLS_COUNT,
};

static int parse_tls(struct parse *p, const yaml_node_t *n)
{
	static const char *const keys[K_TLS_COUNT] = {
		[K_CERT_FILE] = "cert_file", [K_KEY_FILE] = "key_file", [K_CERT] = "cert",
		[K_KEY] = "key", [K_CLIENT_CA] = "client_ca", [K_CLIENT_CA_FILE] = "client_ca_file",
		[K_CLIENT_AUTH_TYPE] = "client_auth_type", [K_CLIENT_ALLOWED_SANS] = "client_allowed_sans",
		[K_MIN_VERSION] = "min_version", [K_MAX_VERSION] = "max_version",
		[K_CIPHER_SUITES] = "cipher_suites",
		[K_PREFER_SERVER_CIPHER_SUITES] = "prefer_server_cipher_suites",
		[K_CURVE_PREFERENCES] = "curve_preferences",
	};
	struct webconfig *wc = p->wc;
	char *auth = NULL;
	unsigned seen = 0;
	yaml_node_t *k, *v;
	int r = 0;

	for_each_pair(p, n, pr, k, v) {
		int i = key_index(p, "tls_server_config", k, keys, K_TLS_COUNT, &seen);

		if (i < 0)
			return i;
		switch (i) {
		case K_CERT_FILE: r = get_string(p, keys[i], v, &wc->cert_file); break;
		case K_KEY_FILE: r = get_string(p, keys[i], v, &wc->key_file); break;
		case K_CERT: r = get_string(p, keys[i], v, &wc->cert_pem); break;
		case K_KEY: r = get_string(p, keys[i], v, &wc->key_pem); break;
		case K_CLIENT_CA: r = get_string(p, keys[i], v, &wc->client_ca_pem); break;
		case K_CLIENT_CA_FILE: r = get_string(p, keys[i], v, &wc->client_ca_file); break;
		case K_CLIENT_AUTH_TYPE:
			r = get_string(p, keys[i], v, &auth);
			if (r < 0 || !auth || !strcmp(auth, "NoClientCert")) {
				wc->client_auth = WEBCONFIG_NO_CLIENT_CERT;
			} else if (!strcmp(auth, "RequireAndVerifyClientCert")) {
				wc->client_auth = WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT;
			} else if (!strcmp(auth, "RequestClientCert") || !strcmp(auth, "RequireAnyClientCert") ||
				   !strcmp(auth, "RequireClientCert") || !strcmp(auth, "VerifyClientCertIfGiven")) {
				r = failf(p, v, "client_auth_type %s is not supported by tcpstate: use "
						"RequireAndVerifyClientCert (the one mode that authenticates "
						"clients) or NoClientCert", auth);
			} else {
				r = failf(p, v, "unknown client_auth_type '%s' (NoClientCert or "
						"RequireAndVerifyClientCert)", auth);
			}
			if (auth)
				wc->tls = true;
			free(auth);
			auth = NULL;
			break;
		case K_CLIENT_ALLOWED_SANS:
			r = refuse_list(p, keys[i], v, "a client certificate signed by client_ca_file is "
					"accepted whatever its names");
			break;
		case K_MIN_VERSION: r = is_null(v) ? 0 : tls_version(p, keys[i], v, &wc->min_version); break;
		case K_MAX_VERSION: r = is_null(v) ? 0 : tls_version(p, keys[i], v, &wc->max_version); break;
		case K_CIPHER_SUITES:
			r = refuse_list(p, keys[i], v, "GnuTLS's NORMAL suites are used (remove it)");
			break;
		case K_PREFER_SERVER_CIPHER_SUITES:
			r = is_null(v) ? 0 : get_bool(p, keys[i], v, &wc->prefer_server_cipher_suites);
			break;
		case K_CURVE_PREFERENCES:
			r = refuse_list(p, keys[i], v, "GnuTLS's NORMAL groups are used (remove it)");
			break;
		}
		if (r < 0)
			return r;
	}
	if (wc->cert_file || wc->key_file || wc->cert_pem || wc->key_pem || wc->client_ca_file ||
	    wc->client_ca_pem)
		wc->tls = true;
	if (!wc->tls) {
		if (seen)
			return failf(p, n, "tls_server_config has no certificate: TLS needs cert_file (or "
					   "cert) and key_file (or key); remove the section to serve plain HTTP");
		return 0;
	}
	if (wc->cert_file && wc->cert_pem)
		return failf(p, n, "tls_server_config has both cert and cert_file: give one");
	if (wc->key_file && wc->key_pem)
		return failf(p, n, "tls_server_config has both key and key_file: give one");
	if (wc->client_ca_file && wc->client_ca_pem)
		return failf(p, n, "tls_server_config has both client_ca and client_ca_file: give one");
	if (!wc->cert_file && !wc->cert_pem)
		return failf(p, n, "tls_server_config is missing cert_file (or cert)");
	if (!wc->key_file && !wc->key_pem)
		return failf(p, n, "tls_server_config is missing key_file (or key)");
	if ((wc->client_ca_file || wc->client_ca_pem) && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
		return failf(p, n, "client_ca_file is set but client_auth_type is NoClientCert: set "
				   "client_auth_type: RequireAndVerifyClientCert to check client certificates");
	if (!wc->client_ca_file && !wc->client_ca_pem && wc->client_auth != WEBCONFIG_NO_CLIENT_CERT)
		return failf(p, n, "client_auth_type RequireAndVerifyClientCert needs client_ca_file (or "
				   "client_ca): the CA that signs the clients' certificates");
	if (wc->min_version > wc->max_version)
		return failf(p, n, "min_version TLS%u is above max_version TLS%u", wc->min_version,
			     wc->max_version);
	if ((r = join_dir(p, &wc->cert_file)) < 0 || (r = join_dir(p, &wc->key_file)) < 0 ||
	    (r = join_dir(p, &wc->client_ca_file)) < 0)
		return r;
	return 0;
}

/* The headers exporter-toolkit allows, and the values it allows for some. */
static const struct {
	const char *name;
	const char *values[3];
} allowed_headers[WEBCONFIG_MAX_HEADERS] = {
	{ "Content-Security-Policy", { NULL } },
	{ "X-Frame-Options", { "deny", "sameorigin", NULL } },
	{ "X-Content-Type-Options", { "nosniff", NULL } },
	{ "X-XSS-Protection", { NULL } },
	{ "Strict-Transport-Security", { NULL } },
};

static int parse_headers(struct parse *p, const yaml_node_t *n)
{
	const char *names[WEBCONFIG_MAX_HEADERS];
	unsigned seen = 0;
	yaml_node_t *k, *v;
	char *val = NULL;
	int r;

	if ((r = need_mapping(p, "headers", n)) < 0)
		return r;
	for (size_t i = 0; i < WEBCONFIG_MAX_HEADERS; i++)
		names[i] = allowed_headers[i].name;
	for_each_pair(p, n, pr, k, v) {
		int i = key_index(p, "http_server_config.headers (the headers exporter-toolkit allows)",
				  k, names, WEBCONFIG_MAX_HEADERS, &seen);

		if (i < 0)
			return i;
		if ((r = get_string(p, names[i], v, &val)) < 0)
			return r;
		if (!val || !*val) { /* unset if blank */
			free(val);
			val = NULL;
			continue;
		}
		for (const char *c = val; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				free(val);
				return failf(p, v, "the value of %s has a control character", names[i]);
			}
		}
		if (allowed_headers[i].values[0]) {
			bool ok = false;

			for (size_t j = 0; allowed_headers[i].values[j]; j++)
				ok |= strcmp(val, allowed_headers[i].values[j]) == 0;
			if (!ok) {
				r = failf(p, v, "%s must be %s%s%s, not '%s'", names[i],
					  allowed_headers[i].values[0],
					  allowed_headers[i].values[1] ? " or " : "",
					  allowed_headers[i].values[1] ? allowed_headers[i].values[1] : "", val);
				free(val);
				return r;
			}
		}
		p->wc->headers[p->wc->n_headers].name = names[i];
		p->wc->headers[p->wc->n_headers++].value = val;
		val = NULL;
	}
	return 0;
}

static int parse_http(struct parse *p, const yaml_node_t *n)
{
	static const char *const keys[] = { "http2", "headers" };
	unsigned seen = 0;
	yaml_node_t *k, *v;
	bool http2;
	int r = 0;

	for_each_pair(p, n, pr, k, v) {
		int i = key_index(p, "http_server_config", k, keys, 2, &seen);

		if (i < 0)
			return i;
		if (is_null(v))
			continue;
		/* http2: accepted either way; libmicrohttpd speaks HTTP/1.1 (as Go without it). */
		r = i == 0 ? get_bool(p, keys[i], v, &http2) : parse_headers(p, v);
		if (r < 0)
			return r;
	}
	return 0;
}

bool webconfig_bcrypt_hash_valid(const char *h)
{
	static const char b64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned cost;

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return false;
	cost = (unsigned)(h[4] - '0') * 10 + (unsigned)(h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	return strspn(h + 7, b64) == 53;
}

static int parse_users(struct parse *p, const yaml_node_t *n)
{
	struct webconfig *wc = p->wc;
	yaml_node_t *k, *v;
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	int r;

	if (count > WEBCONFIG_MAX_USERS)
		return failf(p, n, "basic_auth_users has %zu users, more than %u", count, WEBCONFIG_MAX_USERS);
	wc->users = calloc(count ? count : 1, sizeof(*wc->users));
	if (!wc->users)
		return -ENOMEM;
	for_each_pair(p, n, pr, k, v) {
		struct webconfig_user *u = &wc->users[wc->n_users];
		const char *name = scalar(k);

		if (!name || !*name)
			return failf(p, k, "a user name in basic_auth_users must be a non-empty string");
		if (strchr(name, ':'))
			return failf(p, k, "user name '%s' has a ':', which basic authentication cannot "
					   "carry (RFC 7617)", name);
		for (size_t i = 0; i < wc->n_users; i++)
			if (strcmp(wc->users[i].name, name) == 0)
				return failf(p, k, "user '%s' given twice in basic_auth_users", name);
		if (is_null(v) || !scalar(v))
			return failf(p, v, "user '%s' has no bcrypt hash", name);
		if (!webconfig_bcrypt_hash_valid(scalar(v)))
			return failf(p, v, "the password of user '%s' is not a bcrypt hash ($2y$, $2b$ or "
					   "$2a$, cost 04-31, 60 characters, as 'htpasswd -nbBC 10 USER "
					   "PASSWORD' prints after the ':')", name);
		u->name = strdup(name);
		u->hash = strdup(scalar(v));
		wc->n_users++;
		if (!u->name || !u->hash)
			return -ENOMEM;
	}
	r = 0;
	return r;
}

static int parse_root(struct parse *p, const yaml_node_t *root)
{
	static const char *const keys[] = { "tls_server_config", "http_server_config",
					    "basic_auth_users", "rate_limit" };
	unsigned seen = 0;
	yaml_node_t *k, *v;
	int r;

	if (is_null(root))
		return 0; /* an empty file: no TLS, no users */
	if (root->type != YAML_MAPPING_NODE)
		return failf(p, root, "the web config must be a mapping (tls_server_config:, "
				      "basic_auth_users:, ...), not %s", node_kind(root));
	for_each_pair(p, root, pr, k, v) {
		int i = key_index(p, "the web config", k, keys, 4, &seen);

		if (i < 0)
			return i;
		if (is_null(v))
			continue;
		if ((r = need_mapping(p, keys[i], v)) < 0)
			return r;
		switch (i) {
		case 0: r = parse_tls(p, v); break;
		case 1: r = parse_http(p, v); break;
		case 2: r = parse_users(p, v); break;
		case 3:
			r = failf(p, v, "rate_limit is not supported by tcpstate (--max-connections bounds "
					"the connections served at once)");
			break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int webconfig_parse(const char *text, size_t len, const char *dir, struct webconfig **ret_wc,
		    char *err, size_t errlen)
{
	struct webconfig *wc = calloc(1, sizeof(*wc));
	struct parse p = { .wc = wc, .dir = dir, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, next;
	int r;

	if (errlen)
		err[0] = '\0';
	if (!wc)
		return -ENOMEM;
	wc->min_version = 12;
	wc->max_version = 13;
	wc->prefer_server_cipher_suites = true;
	if (memchr(text, '\0', len)) {
		webconfig_free(wc);
		return failf(&p, NULL, "the file has a NUL byte: not YAML");
	}
	if (!yaml_parser_initialize(&parser)) {
		webconfig_free(wc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = failf(&p, NULL, "line %zu: not valid YAML: %s%s%s", parser.problem_mark.line + 1,
			  parser.problem ? parser.problem : "syntax error",
			  parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		webconfig_free(wc);
		return r;
	}
	p.doc = &doc;
	{
		yaml_node_t *root = yaml_document_get_root_node(&doc);

		r = root ? parse_root(&p, root) : 0;
	}
	if (r == 0) {
		/* One document only: a second one would be ignored by a YAML unmarshaler. */
		if (!yaml_parser_load(&parser, &next)) {
			r = failf(&p, NULL, "line %zu: not valid YAML: %s", parser.problem_mark.line + 1,
				  parser.problem ? parser.problem : "syntax error");
		} else {
			if (yaml_document_get_root_node(&next))
				r = failf(&p, yaml_document_get_root_node(&next),
					  "a second YAML document ('---'): the web config is one");
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r < 0) {
		if (r == -ENOMEM && errlen)
			snprintf(err, errlen, "%s", strerror(ENOMEM));
		webconfig_free(wc);
		return r;
	}
	*ret_wc = wc;
	return 0;
}

/* The whole of a regular file, at most max bytes, NUL-terminated. */
static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len, struct stat *ret_st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t len = 0;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out_close;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		goto out_close;
	}
	buf = malloc(max + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(buf);
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			free(buf);
			goto out_close;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	if (ret_st)
		*ret_st = st;
	r = 0;
out_close:
	close(fd);
	return r;
}

static int read_pem(const char *key, const char *path, char **ret, struct stat *st, char *err, size_t errlen)
{
	size_t len;
	int r = read_small_file(path, WEBCONFIG_MAX_FILE, ret, &len, st);

	if (r == -EFBIG)
		snprintf(err, errlen, "%s %s: larger than %u KiB", key, path, WEBCONFIG_MAX_FILE >> 10);
	else if (r < 0)
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(-r));
	return r;
}

/* The certificate, key and CA as GnuTLS will take them in libmicrohttpd. */
static int check_tls(const struct webconfig *wc, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = { (unsigned char *)wc->cert_pem, (unsigned)strlen(wc->cert_pem) };
	gnutls_datum_t key = { (unsigned char *)wc->key_pem, (unsigned)strlen(wc->key_pem) };
	gnutls_priority_t prio;
	char pbuf[128];
	const char *where;
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		snprintf(err, errlen, "the key (%s) does not match the certificate (%s)",
			 wc->key_file ? wc->key_file : "key", wc->cert_file ? wc->cert_file : "cert");
		r = -EINVAL;
		goto out;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot load the certificate (%s) and key (%s): %s (both PEM; an "
			 "encrypted key is not supported)", wc->cert_file ? wc->cert_file : "cert",
			 wc->key_file ? wc->key_file : "key", gnutls_strerror(r));
		r = -EINVAL;
		goto out;
	}
	if (wc->client_ca_pem) {
		gnutls_datum_t ca = { (unsigned char *)wc->client_ca_pem, (unsigned)strlen(wc->client_ca_pem) };

		r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			snprintf(err, errlen, "%s holds no PEM certificate%s%s",
				 wc->client_ca_file ? wc->client_ca_file : "client_ca",
				 r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
			r = -EINVAL;
			goto out;
		}
	}
	r = gnutls_priority_init(&prio, webconfig_tls_priorities(wc, pbuf, sizeof(pbuf)), &where);
	if (r < 0) {
		snprintf(err, errlen, "GnuTLS refuses the priorities '%s': %s", pbuf, gnutls_strerror(r));
		r = -EINVAL;
		goto out;
	}
	gnutls_priority_deinit(prio);
	r = 0;
out:
	gnutls_certificate_free_credentials(cred);
	return r;
}

static void dir_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, size, ".");
	else if (slash == path)
		snprintf(buf, size, "/");
	else
		snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

static void add_warning(char *warn, size_t warnlen, const char *what, const char *path, const struct stat *st)
{
	size_t n = strlen(warn);

	if (!warnlen || !(st->st_mode & S_IROTH))
		return;
	snprintf(warn + n, warnlen - n, "%s%s (%s) is readable by every user (mode %04o): chmod o-r %s",
		 n ? "; " : "", path, what, (unsigned)(st->st_mode & 07777), path);
}

int webconfig_load(const char *path, struct webconfig **ret_wc, char *err, size_t errlen,
		   char *warn, size_t warnlen)
{
	struct webconfig *wc = NULL;
	struct stat st;
	char *text, dir[4096], perr[512];
	size_t len;
	int r;

	if (warnlen)
		warn[0] = '\0';
	r = read_small_file(path, WEBCONFIG_MAX_FILE, &text, &len, &st);
	if (r < 0) {
		snprintf(err, errlen, "%s", r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	dir_of(path, dir, sizeof(dir));
	r = webconfig_parse(text, len, dir, &wc, perr, sizeof(perr));
	free(text);
	if (r < 0) {
		snprintf(err, errlen, "%s", perr);
		return r;
	}
	if (wc->n_users || (wc->tls && !wc->key_file))
		add_warning(warn, warnlen, wc->n_users ? "the web config, with password hashes"
						       : "the web config, with the TLS private key", path, &st);
	if (wc->tls) {
		if (wc->cert_file && (r = read_pem("cert_file", wc->cert_file, &wc->cert_pem, &st, err, errlen)) < 0)
			goto fail;
		if (wc->key_file) {
			if ((r = read_pem("key_file", wc->key_file, &wc->key_pem, &st, err, errlen)) < 0)
				goto fail;
			add_warning(warn, warnlen, "the TLS private key", wc->key_file, &st);
		}
		if (wc->client_ca_file &&
		    (r = read_pem("client_ca_file", wc->client_ca_file, &wc->client_ca_pem, &st, err, errlen)) < 0)
			goto fail;
		if ((r = check_tls(wc, err, errlen)) < 0)
			goto fail;
	}
	*ret_wc = wc;
	return 0;
fail:
	webconfig_free(wc);
	return r;
}

const char *webconfig_tls_priorities(const struct webconfig *wc, char *buf, size_t size)
{
	snprintf(buf, size, "NORMAL:-VERS-ALL%s%s%s", wc->max_version >= 13 ? ":+VERS-TLS1.3" : "",
		 wc->min_version <= 12 ? ":+VERS-TLS1.2" : "",
		 wc->prefer_server_cipher_suites ? ":%SERVER_PRECEDENCE" : "");
	return buf;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct webconfig *webconfig_free(struct webconfig *wc)
{
	if (!wc)
		return NULL;
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	free(wc->cert_pem);
	free_secret(wc->key_pem);
	free(wc->client_ca_pem);
	for (size_t i = 0; i < wc->n_users; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	for (size_t i = 0; i < wc->n_headers; i++)
		free(wc->headers[i].value);
	free(wc);
	return NULL;
}
