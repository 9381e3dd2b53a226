/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The exporter's HTTP server as --web.config.file configures it, between
 * libmicrohttpd and the exporter's request handler: TLS (libmicrohttpd's own,
 * GnuTLS), client certificates, basic authentication and extra headers.
 * Without a web config it adds nothing.
 */
#include <stdbool.h>
#include <microhttpd.h>

struct web_server;

/*
 * Reads and checks the web config at path (NULL: none) for a server whose
 * requests, once admitted, go to handler(cls, ...). 0 and *ret, or -1 after
 * saying on stderr what is wrong with which file.
 */
int web_server_new(const char *path, MHD_AccessHandlerCallback handler, void *cls,
		   struct web_server **ret);

/* What MHD_start_daemon() takes for it: flags to add, the handler and its
 * closure, and an option array (MHD_OPTION_ARRAY) ended by MHD_OPTION_END. */
unsigned web_server_mhd_flags(const struct web_server *w);
enum MHD_Result web_server_on_request(void *cls, struct MHD_Connection *c, const char *url,
				      const char *method, const char *version, const char *upload,
				      size_t *upload_size, void **state);
struct MHD_OptionItem *web_server_mhd_options(struct web_server *w);

/* "https" or "http". */
const char *web_server_scheme(const struct web_server *w);

/* Adds the configured headers (http_server_config.headers) to a response of connection c. */
void web_server_add_headers(struct MHD_Connection *c, struct MHD_Response *resp);

struct web_server *web_server_free(struct web_server *w);
