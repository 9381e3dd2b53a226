/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file in libmicrohttpd: TLS by MHD_USE_TLS (GnuTLS) with the
 * certificate and key handed over in memory (PEM), client certificates
 * required and verified in the handshake, basic authentication before the
 * exporter's handler sees a request, and the configured headers on every
 * response.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "cli.h"
#include "web_auth.h"
#include "web_server.h"
#include "webconfig.h"

#define REALM "tcpstate exporter"
#define WEB_OPTIONS_MAX 8

struct web_server {
	struct webconfig *wc;
	struct web_auth *auth;
	MHD_AccessHandlerCallback handler;
	void *cls;
	char priorities[128];
	struct MHD_OptionItem opts[WEB_OPTIONS_MAX];
};

static const char unauthorized[] = "Unauthorized\n";
static const char forbidden[] = "Forbidden: a client certificate signed by the configured CA is required\n";

static gnutls_session_t tls_session(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

/*
 * A new connection, before its TLS handshake: the configured headers find the
 * server through the socket context, and with RequireAndVerifyClientCert the
 * handshake itself requires a client certificate and verifies it against
 * client_ca_file (libmicrohttpd alone only asks for one).
 */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct web_server *w = cls;
	gnutls_session_t s;

	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	*socket_context = w;
	if (w->wc->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT && (s = tls_session(c))) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(s, NULL, 0);
	}
}

void web_server_add_headers(struct MHD_Connection *c, struct MHD_Response *resp)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct web_server *w = ci ? ci->socket_context : NULL;

	if (!w)
		return;
	for (size_t i = 0; i < w->wc->n_headers; i++)
		MHD_add_response_header(resp, w->wc->headers[i].name, w->wc->headers[i].value);
}

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								     MHD_RESPMEM_PERSISTENT);
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	web_server_add_headers(c, resp);
	if (status == MHD_HTTP_UNAUTHORIZED)
		r = MHD_queue_basic_auth_fail_response(c, REALM, resp);
	else
		r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* The handshake verified it already; checked again, so that no request passes unverified. */
static bool client_cert_verified(struct MHD_Connection *c)
{
	gnutls_session_t s = tls_session(c);
	unsigned status = 1;

	return s && gnutls_certificate_type_get(s) == GNUTLS_CRT_X509 &&
	       gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

static bool basic_auth_ok(struct web_server *w, struct MHD_Connection *c)
{
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &password);
	bool ok = web_auth_check(w->auth, user, password);

	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	if (user)
		MHD_free(user);
	return ok;
}

enum MHD_Result web_server_on_request(void *cls, struct MHD_Connection *c, const char *url,
				      const char *method, const char *version, const char *upload,
				      size_t *upload_size, void **state)
{
	struct web_server *w = cls;

	/* The first call of a request (its headers): admitted, or answered here. */
	if (!*state) {
		if (w->wc->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT && !client_cert_verified(c))
			return refuse(c, MHD_HTTP_FORBIDDEN, forbidden);
		if (w->wc->n_users && !basic_auth_ok(w, c))
			return refuse(c, MHD_HTTP_UNAUTHORIZED, unauthorized);
	}
	return w->handler(w->cls, c, url, method, version, upload, upload_size, state);
}

int web_server_new(const char *path, MHD_AccessHandlerCallback handler, void *cls,
		   struct web_server **ret)
{
	struct web_server *w = calloc(1, sizeof(*w));
	char err[1024], warn[1024];
	size_t n = 0;
	int r;

	if (!w) {
		cli_error("%s", strerror(ENOMEM));
		return -1;
	}
	w->handler = handler;
	w->cls = cls;
	r = path ? webconfig_load(path, &w->wc, err, sizeof(err), warn, sizeof(warn))
		 : webconfig_parse("", 0, NULL, &w->wc, err, sizeof(err));
	if (r < 0) {
		cli_error("--web.config.file %s: %s", path ? path : "", err);
		free(w);
		return -1;
	}
	if (path && *warn)
		cli_warn("--web.config.file %s: %s", path, warn);
	if (w->wc->tls && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		cli_error("--web.config.file %s configures TLS, but this libmicrohttpd was built without "
			  "TLS support (MHD_FEATURE_TLS): install one built with GnuTLS (Debian's is)", path);
		goto fail;
	}
	if (w->wc->n_users && web_auth_new(w->wc, &w->auth) < 0) {
		cli_error("cannot set up basic authentication: %s", strerror(ENOMEM));
		goto fail;
	}
	w->opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, w };
	if (w->wc->tls) {
		webconfig_tls_priorities(w->wc, w->priorities, sizeof(w->priorities));
		w->opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, w->wc->cert_pem };
		w->opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, w->wc->key_pem };
		w->opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, w->priorities };
		if (w->wc->client_ca_pem)
			w->opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
								w->wc->client_ca_pem };
	}
	w->opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	*ret = w;
	return 0;
fail:
	web_server_free(w);
	return -1;
}

unsigned web_server_mhd_flags(const struct web_server *w)
{
	return w->wc->tls ? MHD_USE_TLS : 0;
}

struct MHD_OptionItem *web_server_mhd_options(struct web_server *w)
{
	return w->opts;
}

const char *web_server_scheme(const struct web_server *w)
{
	return w->wc->tls ? "https" : "http";
}

struct web_server *web_server_free(struct web_server *w)
{
	if (!w)
		return NULL;
	web_auth_free(w->auth);
	webconfig_free(w->wc);
	free(w);
	return NULL;
}
