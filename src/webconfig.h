/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The exporter's web configuration file (--web.config.file), in the format of
 * the Prometheus exporter-toolkit (docs/web-configuration.md there): TLS,
 * basic authentication and extra response headers. Parsed with libyaml,
 * strictly: an unknown key, a wrong type or a setting tcpstate does not
 * implement is an error naming the key and its line, never ignored.
 *
 * Nothing here prints: errors come back as a negative errno and a sentence
 * in the caller's buffer.
 */
#include <stdbool.h>
#include <stddef.h>

#define WEBCONFIG_MAX_FILE (1u << 20)  /* the config file, and each PEM file */
#define WEBCONFIG_MAX_USERS 1000u
#define WEBCONFIG_MAX_HEADERS 5u       /* the five exporter-toolkit allows */

enum webconfig_client_auth {
	WEBCONFIG_NO_CLIENT_CERT,
	WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct webconfig_user {
	char *name;
	char *hash;  /* bcrypt, "$2y$10$..." */
};

struct webconfig_header {
	const char *name;  /* static */
	char *value;
};

struct webconfig {
	/* TLS: on when any TLS setting is given (as exporter-toolkit decides). */
	bool tls;
	char *cert_file, *key_file, *client_ca_file;  /* joined with the file's directory */
	char *cert_pem, *key_pem, *client_ca_pem;     /* inline, or read by webconfig_load() */
	enum webconfig_client_auth client_auth;
	unsigned min_version, max_version;            /* 12 or 13 (TLS 1.2, 1.3) */
	bool prefer_server_cipher_suites;
	struct webconfig_user *users;
	size_t n_users;
	struct webconfig_header headers[WEBCONFIG_MAX_HEADERS];
	size_t n_headers;
};

/*
 * Parses the YAML text (len bytes) of a web config whose directory is dir
 * (relative file names are joined with it). Files are not read. 0 and
 * *ret_wc, or -EINVAL (-ENOMEM) with the problem in err ("line 3: unknown
 * key 'cert' in tls_server_config").
 */
int webconfig_parse(const char *text, size_t len, const char *dir, struct webconfig **ret_wc,
		    char *err, size_t errlen);

/*
 * Reads and parses path, then reads the certificate, key and client CA files
 * it names and checks them with GnuTLS (the key matches the certificate, the
 * CA file holds a certificate). 0 and *ret_wc, or a negative errno with the
 * problem in err. *ret_warn (may be NULL) gets a warning for a config or key
 * file that other users may read, or "".
 */
int webconfig_load(const char *path, struct webconfig **ret_wc, char *err, size_t errlen,
		   char *warn, size_t warnlen);

/* Whether hash is a bcrypt hash as exporter-toolkit accepts ($2a$, $2b$, $2y$, cost 4-31). */
bool webconfig_bcrypt_hash_valid(const char *hash);

/* The GnuTLS priority string for the config's versions ("NORMAL:-VERS-ALL:+VERS-TLS1.3"). */
const char *webconfig_tls_priorities(const struct webconfig *wc, char *buf, size_t size);

struct webconfig *webconfig_free(struct webconfig *wc);
