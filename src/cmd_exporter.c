/* SPDX-License-Identifier: MIT */
/*
 * tcpstate exporter: /metrics for Prometheus (text 0.0.4, or OpenMetrics when
 * the scraper asks for it) and a landing page at /, served by libmicrohttpd.
 * Scrapes that arrive while a snapshot is being taken wait for it and share
 * it; each snapshot frees the previous one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "cli.h"
#include "web_server.h"
#include "metrics.h"
#include "metrics_trace.h"
#include "tcpstate/util.h"

#define DEFAULT_LISTEN ":9977"
#define DEFAULT_MAX_CONNECTIONS 32u
#define CONNECTION_TIMEOUT_S 10u      /* idle or slow clients are dropped after this */
#define CONNECTION_MEMORY 16384u      /* request line + headers must fit: else 414 or 431 */
#define EXPOSITION_MAX (64u << 20)    /* bound of one exposition */
enum { OPT_LISTEN = CLI_OPT_VERB, OPT_MAX_CONNECTIONS, OPT_WEB_CONFIG_FILE };

struct exporter {
	struct metrics_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t want;        /* to the collector: a scrape waits */
	pthread_cond_t done;        /* from it: gen went up */
	bool busy;                  /* a snapshot is asked for or being taken */
	bool stop;
	uint64_t gen;               /* snapshots finished */
	struct metrics_model *cur;  /* the latest */
	struct metrics_history hist;
	uint64_t errors, collections;
	bool failing;               /* the last snapshot failed (said once on stderr) */
};

static void exporter_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate exporter [--listen ADDR:PORT] [selection options] [OPTIONS]\n"
		"\n"
		"Serves Prometheus metrics at http://ADDR:PORT/metrics (text format 0.0.4, or\n"
		"OpenMetrics when the scraper asks for it in Accept) and a page at /. By\n"
		"default it covers every network namespace of the host (containers included);\n"
		"each series names its namespace. Each scrape takes a snapshot; scrapes that\n"
		"arrive while one is being taken share it. Only GET and HEAD of / and /metrics\n"
		"are answered (405 for other methods, 404 for other paths).\n"
		"\n"
		"Series: sockets per namespace and state; per process (pid, comm, systemd\n"
		"unit, container, namespace) sockets per closing state, open files,\n"
		"RLIMIT_NOFILE, the oldest CLOSE_WAIT (a lower bound) and CLOSE_WAIT growth\n"
		"per second since the previous snapshot; sockets per listening port and\n"
		"state; doctor's findings by severity and kind; the settings that govern\n"
		"the states, per namespace; scrape duration, errors and owner source.\n"
		"From the trace program, kept loaded: state changes per namespace and\n"
		"(from, to) state since the start, and histograms of the time spent in the\n"
		"state left (only exact times: states entered while the exporter runs).\n"
		"\n"
		"%s"
		"%s"
		"%s"
		"Exporter:\n"
		"      --listen ADDR:PORT where to listen (default " DEFAULT_LISTEN "): 127.0.0.1:9977,\n"
		"                         [::1]:9977, or :PORT for every address (IPv6 and\n"
		"                         IPv4); port 0 takes a free port (said on stderr)\n"
		"      --max-connections N  connections at once (default %u, 1-1024); more\n"
		"                         are refused. Requests whose line and headers exceed\n"
		"                         %u bytes get 414 or 431; a client idle %u s is dropped\n"
		"      --web.config.file FILE  TLS, client certificates, basic authentication\n"
		"                         and response headers, in the Prometheus\n"
		"                         exporter-toolkit's web configuration format (YAML;\n"
		"                         see tcpstate-exporter(8)); read at start (a bad file\n"
		"                         exits 2) and on SIGHUP (a bad file is not applied)\n"
		"  -h, --help             this text\n"
		"\n"
		"Without --web.config.file: plain HTTP, no authentication; listen on an address\n"
		"only the Prometheus server reaches.\n"
		"\n"
		"Exit status: 0 after SIGINT or SIGTERM, 1 error (cannot listen, or the first\n"
		"snapshot failed), 2 usage error or a web config that cannot be used.\n",
		CLI_SNAPSHOT_HELP, METRICS_HELP, METRICS_TRACE_HELP, DEFAULT_MAX_CONNECTIONS, CONNECTION_MEMORY,
		CONNECTION_TIMEOUT_S);
}

/* ---- listening ---- */

/*
 * ADDR:PORT: an IPv4 address, [IPv6], "localhost" or nothing (every address,
 * both families) before the last ':'. Fills *ret (sockaddr_in or _in6).
 * -1 on a usage error (reported).
 */
static int parse_listen(const char *arg, struct sockaddr_storage *ret, socklen_t *ret_len, bool *ret_any)
{
	const char *colon = strrchr(arg, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen;
	uint32_t port;

	memset(ret, 0, sizeof(*ret));
	*ret_any = false;
	if (!colon || ts_parse_u32(colon + 1, 0, 65535, &port) < 0)
		goto bad;
	hlen = (size_t)(colon - arg);
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (hlen == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*s6);
		*ret_any = true;
		return 0;
	}
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;

		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ret;

	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		goto bad;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*ret_len = sizeof(*s4);
	return 0;
bad:
	cli_error("bad --listen '%s' (ADDR:PORT: 127.0.0.1:9977, [::1]:9977, :9977; port 0-65535)", arg);
	return -1;
}

static int listen_on(struct sockaddr_storage *sa, socklen_t len, bool any, char *name, size_t size)
{
	int one = 1, zero = 0, fd;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && any && (errno == EAFNOSUPPORT || errno == EINVAL)) {
		/* No IPv6 on this host: every IPv4 address. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		uint16_t port = ((struct sockaddr_in6 *)sa)->sin6_port;

		memset(sa, 0, sizeof(*sa));
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		len = sizeof(*s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->ss_family == AF_INET6 && any)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)sa, len) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (sa->ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof(a));
		snprintf(name, size, "[%s]:%u", a, ntohs(((struct sockaddr_in6 *)sa)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
		snprintf(name, size, "%s:%u", a, ntohs(((struct sockaddr_in *)sa)->sin_port));
	}
	return fd;
}

/* ---- snapshots, shared ---- */

/* One snapshot, published as e->cur. Called with lock held; drops it meanwhile. */
static void snapshot_take(struct exporter *e, bool quiet)
{
	struct metrics_model *m = NULL;
	int r;

	pthread_mutex_unlock(&e->lock);
	r = metrics_collect(&e->cfg, quiet, &e->hist, &m);
	pthread_mutex_lock(&e->lock);
	e->collections++;
	if (r < 0 || !m->ok) {
		e->errors++;
		if (!e->failing && quiet)
			cli_warn("snapshot failed: %s (counted in tcpstate_scrape_errors_total; said once "
				 "until one succeeds)", strerror(r < 0 ? -r : -m->err));
		e->failing = true;
	} else {
		e->failing = false;
	}
	if (m) {
		metrics_model_free(e->cur);
		e->cur = m;
	} else if (e->cur) {
		e->cur->ok = false; /* out of memory: the old data are not served as new */
	}
	e->gen++;
	pthread_cond_broadcast(&e->done);
}

/*
 * The collector thread: every snapshot is taken here, so that its memory is
 * allocated and freed in one malloc arena (scrapes come on a new thread each,
 * and glibc keeps freed memory per arena), and handed back to the system after
 * each one.
 */
static void *collector(void *arg)
{
	struct exporter *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->busy && !e->stop)
			pthread_cond_wait(&e->want, &e->lock);
		if (e->stop)
			break;
		snapshot_take(e, true);
		e->busy = false;
		pthread_mutex_unlock(&e->lock);
		malloc_trim(0);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/*
 * A snapshot for a scrape: one asked for now, or the one being taken when the
 * scrape came (shared: concurrent scrapes take one snapshot). Called with lock
 * held.
 */
static void snapshot_shared(struct exporter *e)
{
	uint64_t target = e->gen + 1;

	if (!e->busy) {
		e->busy = true;
		pthread_cond_signal(&e->want);
	}
	while (e->gen < target)
		pthread_cond_wait(&e->done, &e->lock);
}

/* ---- HTTP ---- */

static const char landing[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tcpstate exporter</title></head>\n"
	"<body><h1>tcpstate exporter</h1>\n"
	"<p>TCP sockets in 13 states per network namespace, the processes holding closing "
	"sockets, listening ports, and the findings of <code>tcpstate doctor</code>.</p>\n"
	"<p><a href=\"/metrics\">Metrics</a></p>\n"
	"<p>tcpstate " TCPSTATE_VERSION "; see tcpstate-exporter(8).</p>\n</body></html>\n";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result r;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	web_server_add_headers(c, resp);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

#define TEXT(c, status, s) reply((c), (status), "text/plain; charset=utf-8", (char *)(s), strlen(s), \
				 MHD_RESPMEM_PERSISTENT)

static enum MHD_Result serve_metrics(struct exporter *e, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	enum metrics_format f = metrics_accept_openmetrics(accept) ? METRICS_OPENMETRICS : METRICS_TEXT_004;
	struct metrics_buf b = { .max = EXPOSITION_MAX };
	int r;

	pthread_mutex_lock(&e->lock);
	snapshot_shared(e);
	if (!e->cur) {
		pthread_mutex_unlock(&e->lock);
		return TEXT(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	e->cur->scrape_errors = e->errors;
	e->cur->collections = e->collections;
	r = metrics_render(e->cur, &e->cfg, f, &b);
	pthread_mutex_unlock(&e->lock);
	if (r < 0) {
		metrics_buf_free(&b);
		return TEXT(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics\n");
	}
	return reply(c, MHD_HTTP_OK, metrics_content_type(f), b.data, b.len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	static int seen, body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return TEXT(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (!*state) { /* headers only: answer when the request is complete */
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_size) { /* a GET with a body: drop it, refuse the request */
		*upload_size = 0;
		*state = &body;
		return MHD_YES;
	}
	if (*state == &body)
		return TEXT(c, MHD_HTTP_BAD_REQUEST, "GET and HEAD take no body\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(cls, c);
	if (strcmp(url, "/") == 0)
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)landing,
			     sizeof(landing) - 1, MHD_RESPMEM_PERSISTENT);
	return TEXT(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
}

/* ---- the verb ---- */

struct exporter_args {
	struct metrics_config *cfg;
	const char *listen;
	unsigned max_conn;
	const char *web_config;
};

static int exporter_option(void *ctx, int opt, const char *arg)
{
	struct exporter_args *ea = ctx;
	uint32_t v;

	switch (opt) {
	case OPT_LISTEN:
		ea->listen = arg;
		return 1;
	case OPT_MAX_CONNECTIONS:
		if (ts_parse_u32(arg, 1, 1024, &v) < 0) {
			cli_error("bad --max-connections '%s' (a number from 1 to 1024)", arg);
			return -1;
		}
		ea->max_conn = v;
		return 1;
	case OPT_WEB_CONFIG_FILE: /* empty: none, as for exporter-toolkit */
		ea->web_config = *arg ? arg : NULL;
		return 1;
	}
	return metrics_option(ea->cfg, opt, arg);
}

static int parse(int argc, char **argv, struct metrics_config *cfg, const char **listen_arg,
		 unsigned *max_conn, const char **web_config)
{
	static const struct option long_opts[] = {
		METRICS_LONG_OPTIONS,
		METRICS_TRACE_LONG_OPTIONS,
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
		{ "web.config.file", required_argument, NULL, OPT_WEB_CONFIG_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct exporter_args ea = { cfg, *listen_arg, *max_conn, NULL };
	const struct cli_verb_options v = { "exporter", "h", long_opts, exporter_help,
					    exporter_option, &ea };
	int r = cli_snapshot_parse(&cfg->args, &v, argc, argv);

	if (r != CLI_PARSE_RUN)
		return r;
	if (metrics_config_finish(cfg, "exporter") < 0)
		return EXIT_USAGE;
	*listen_arg = ea.listen;
	*max_conn = ea.max_conn;
	*web_config = ea.web_config;
	return -1;
}

/*
 * A thread per connection: the connection limit is one count (a thread pool splits it
 * between its threads, and leaves connections over a thread's share waiting). ITC: a
 * SIGHUP's new server takes over the socket from the old one (MHD_quiesce_daemon).
 */
static struct MHD_Daemon *start_daemon(struct web_server *web, int fd, unsigned max_conn)
{
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_POLL | MHD_USE_ITC | web_server_mhd_flags(web),
				0, NULL, NULL, web_server_on_request, web,
				MHD_OPTION_ARRAY, web_server_mhd_options(web),
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, max_conn,
				MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				MHD_OPTION_END);
}

/*
 * SIGHUP: the web config read again. A valid one gets a new server on the same
 * socket, for the connections from now on; the old server stops accepting and
 * ends once its connections are answered. An invalid one changes nothing.
 */
static struct MHD_Daemon *reload_web(struct MHD_Daemon *d, struct web_server **web, const char *path,
				     struct exporter *e, int fd, unsigned max_conn)
{
	struct web_server *nw;
	struct MHD_Daemon *nd;

	if (web_server_new(path, on_request, e, &nw) < 0) {
		cli_warn("SIGHUP: the web config in use is kept (the error above)");
		return d;
	}
	nd = start_daemon(nw, fd, max_conn);
	if (!nd) {
		cli_warn("SIGHUP: cannot start the HTTP server with the new web config; the one in "
			 "use is kept");
		web_server_free(nw);
		return d;
	}
	if (MHD_quiesce_daemon(d) == MHD_INVALID_SOCKET) {
		/* Not with MHD_USE_ITC; stopping d now would close nd's socket: d stays. */
		cli_warn("SIGHUP: the previous web config still serves the connections the old "
			 "server accepts (libmicrohttpd could not stop it accepting)");
		*web = nw;
		return nd;
	}
	MHD_stop_daemon(d); /* the socket stays open (quiesced): nd listens on it */
	web_server_free(*web);
	*web = nw;
	cli_info("", "SIGHUP: web config %s read again (%s)", path, web_server_scheme(nw));
	return nd;
}

/* Serves until SIGINT or SIGTERM. *fd_taken: libmicrohttpd took the socket (it closes it). */
static int serve(struct exporter *e, struct web_server **web, const char *web_config, int fd,
		 unsigned max_conn, bool *fd_taken)
{
	struct MHD_Daemon *d;
	pthread_t tid;
	sigset_t stop;
	int sig = 0, r;

	/* Blocked here, before MHD's threads exist, so that only sigwait() takes them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = pthread_create(&tid, NULL, collector, e);
	if (r != 0) {
		cli_error("cannot start the collector thread: %s", strerror(r));
		return EXIT_ERROR;
	}
	/* Non-blocking: for a moment after a SIGHUP two servers poll it. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	d = start_daemon(*web, fd, max_conn);
	if (d) {
		*fd_taken = true;
		for (;;) {
			if (sigwait(&stop, &sig) != 0)
				continue;
			if (sig == SIGINT || sig == SIGTERM)
				break;
			if (web_config) /* SIGHUP; without a web config, nothing to read again */
				d = reload_web(d, web, web_config, e, fd, max_conn);
		}
		MHD_stop_daemon(d); /* waits for the connections' threads: no scrape waits now */
	} else {
		cli_error("cannot start the HTTP server (libmicrohttpd)");
	}
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->want);
	pthread_mutex_unlock(&e->lock);
	pthread_join(tid, NULL);
	return d ? EXIT_OK : EXIT_ERROR;
}

#define EXPORTER_MMAP_THRESHOLD (256 * 1024)

int cmd_exporter(int argc, char **argv)
{
	struct exporter e = { .lock = PTHREAD_MUTEX_INITIALIZER, .want = PTHREAD_COND_INITIALIZER,
			      .done = PTHREAD_COND_INITIALIZER };
	const char *listen_arg = DEFAULT_LISTEN, *web_config = NULL;
	struct web_server *web = NULL;
	unsigned max_conn = DEFAULT_MAX_CONNECTIONS;
	struct sockaddr_storage sa;
	socklen_t len;
	char name[INET6_ADDRSTRLEN + 16];
	bool any, fd_taken = false;
	int fd, rc;

	/* The largest arrays of a snapshot (sockets, owners, the join's index)
	 * are kept by the collector for the next one (ts_collector_recycle()).
	 * Other large ones get pages of their own and give them back when freed,
	 * at a fixed threshold: glibc's moving one would put them on the heap
	 * after the first scrape, where holes between scrapes keep RSS wandering. */
	mallopt(M_MMAP_THRESHOLD, EXPORTER_MMAP_THRESHOLD);
	metrics_config_init(&e.cfg);
	rc = parse(argc, argv, &e.cfg, &listen_arg, &max_conn, &web_config);
	if (rc >= 0)
		return rc;
	if (parse_listen(listen_arg, &sa, &len, &any) < 0)
		return EXIT_USAGE;
	/* The web config is read and checked before anything else is set up: a bad one fails fast. */
	if (web_server_new(web_config, on_request, &e, &web) < 0)
		return EXIT_USAGE;
	fd = listen_on(&sa, len, any, name, sizeof(name));
	if (fd < 0) {
		cli_error("cannot listen on %s: %s", listen_arg, strerror(-fd));
		web_server_free(web);
		return EXIT_ERROR;
	}
	/* The owner program stays loaded from one scrape to the next. */
	{
		struct ts_snapshot_status st;
		int r = ts_collector_new(&e.cfg.args.opts, &e.cfg.collector, &st);

		if (r < 0) {
			cli_snapshot_report_failure(&e.cfg.args, r, &st);
			close(fd);
			web_server_free(web);
			return EXIT_ERROR;
		}
	}
	/* The first snapshot says on stderr what is missing (privilege, BPF, namespaces) and
	 * fails the start when none can be taken: a wrong --netns shows at once. */
	pthread_mutex_lock(&e.lock);
	snapshot_take(&e, false);
	rc = e.cur && e.cur->ok ? EXIT_OK : EXIT_ERROR;
	pthread_mutex_unlock(&e.lock);
	if (!e.cur)
		cli_error("cannot take a snapshot: %s", strerror(ENOMEM));
	if (rc == EXIT_OK) {
		int r = metrics_trace_start(&e.cfg); /* the trace's failing to load is said, not fatal */

		if (r < 0) {
			cli_error("cannot start the transitions: %s", strerror(-r));
			rc = EXIT_ERROR;
		}
	}
	if (rc == EXIT_OK) {
		cli_info("", "exporter listening on %s://%s/metrics", web_server_scheme(web), name);
		rc = serve(&e, &web, web_config, fd, max_conn, &fd_taken);
	}
	if (!fd_taken)
		close(fd);
	metrics_trace_stop(&e.cfg);
	metrics_model_free(e.cur);
	metrics_history_clear(&e.hist);
	ts_collector_free(e.cfg.collector);
	web_server_free(web);
	return rc;
}
