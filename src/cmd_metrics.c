/* SPDX-License-Identifier: MIT */
/* tcpstate metrics: the exporter's exposition once, for node_exporter's textfile collector. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "metrics.h"

#define OPT_OUTPUT 'o'

static void metrics_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate metrics [--output FILE] [selection options] [OPTIONS]\n"
		"\n"
		"Writes the exposition of 'tcpstate exporter' once (Prometheus text format\n"
		"0.0.4), for node_exporter's textfile collector: every network namespace by\n"
		"default. With --output the file is replaced atomically (written to a\n"
		"temporary file in the same directory, then renamed over FILE), so the\n"
		"collector never reads half of it; name it *.prom in the collector's\n"
		"directory. There is no growth series (it needs two snapshots: use the\n"
		"exporter, or rate() in Prometheus).\n"
		"\n"
		"%s"
		"%s"
		"Output:\n"
		"  -o, --output FILE      write to FILE (mode 0644) instead of standard output\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error (the snapshot failed: FILE is left as it was;\n"
		"or processes could not be inspected for lack of file descriptors), 2 usage\n"
		"error.\n",
		CLI_SNAPSHOT_HELP, METRICS_HELP);
}

/* Replaces path with data: a temporary file beside it, fsync, rename. */
static int write_atomically(const char *path, const char *data, size_t len)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), tmp[4096];
	int fd, r = 0, n;

	if (!dcopy || !bcopy) {
		free(dcopy);
		free(bcopy);
		return -ENOMEM;
	}
	/* A hidden name (the textfile collector reads only *.prom) in FILE's directory. */
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy));
	free(dcopy);
	free(bcopy);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

struct metrics_args {
	struct metrics_config cfg;
	const char *output;
};

static int metrics_verb_option(void *ctx, int opt, const char *arg)
{
	struct metrics_args *ma = ctx;

	if (opt == OPT_OUTPUT) {
		ma->output = arg;
		return 1;
	}
	return metrics_option(&ma->cfg, opt, arg);
}

int cmd_metrics(int argc, char **argv)
{
	static const struct option long_opts[] = {
		METRICS_LONG_OPTIONS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct metrics_args ma = { 0 };
	const struct cli_verb_options v = { "metrics", "o:h", long_opts, metrics_help,
					    metrics_verb_option, &ma };
	struct metrics_buf b = { .max = 64u << 20 };
	struct metrics_model *m = NULL;
	struct metrics_config *cfg = &ma.cfg;
	const char *output;
	int r, rc = EXIT_ERROR;

	metrics_config_init(cfg);
	r = cli_snapshot_parse(&cfg->args, &v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (metrics_config_finish(cfg, "metrics") < 0)
		return EXIT_USAGE;
	output = ma.output;

	r = metrics_collect(cfg, false, NULL, &m);
	if (r < 0) {
		cli_error("cannot take a snapshot: %s", strerror(-r));
		return EXIT_ERROR;
	}
	if (!m->ok) /* said on stderr; the file is left as it was */
		goto out;
	m->collections = 1;
	r = metrics_render(m, cfg, METRICS_TEXT_004, &b);
	if (r < 0) {
		cli_error("cannot render the metrics: %s", strerror(-r));
		goto out;
	}
	if (output) {
		r = write_atomically(output, b.data, b.len);
		if (r < 0) {
			cli_error("cannot write %s: %s", output, strerror(-r));
			goto out;
		}
	} else if (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
		cli_error("cannot write the output");
		goto out;
	}
	rc = EXIT_OK;
out:
	metrics_buf_free(&b);
	metrics_model_free(m);
	return rc;
}
