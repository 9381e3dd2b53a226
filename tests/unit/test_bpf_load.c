/* SPDX-License-Identifier: MIT */
/*
 * The BPF owner and socket programs load on the running kernel. When the
 * verifier rejects one, the test fails with the verifier's own words, so the cause is
 * seen at once on whatever kernel runs the suite. "BPF unavailable" is a pass
 * only where the machine truly cannot run it: built with -Dbpf=disabled, a
 * kernel older than 5.11 or without BTF, or no privilege (not root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcpstate/snapshot.h"

static const char *failure_name(enum ts_bpf_failure f)
{
	switch (f) {
	case TS_BPF_FAILURE_NONE: return "none";
	case TS_BPF_FAILURE_NOT_BUILT: return "not built";
	case TS_BPF_FAILURE_KERNEL: return "kernel";
	case TS_BPF_FAILURE_PRIVILEGE: return "privilege";
	case TS_BPF_FAILURE_VERIFIER: return "verifier rejected the program";
	case TS_BPF_FAILURE_OTHER: return "other";
	}
	return "?";
}

struct program {
	const char *name;
	int (*probe)(struct ts_bpf_status *ret_status);
};

static const struct program owners = { "BPF owner program", ts_owner_source_bpf_probe };
static const struct program sockets = { "BPF socket program", ts_socket_source_bpf_probe };

static void test_program_loads(void **state)
{
	const struct program *p = *state;
	const char *option = getenv("TCPSTATE_BPF_OPTION"); /* meson's -Dbpf */
	struct ts_bpf_status st;
	int r;

	if (!ts_owner_source_bpf_built()) {
		if (option && strcmp(option, "disabled") == 0)
			skip(); /* asked for */
		if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
			print_message("not built: the build host has no kernel BTF\n");
			skip();
		}
		fail_msg("-Dbpf=%s, the kernel has BTF, yet the BPF sources were not built: "
			 "a build tool is missing (clang, llvm-strip, bpftool, libbpf.a, libelf, zlib; "
			 "see meson's summary)", option ? option : "?");
	}
	r = p->probe(&st);
	if (r == 0) {
		assert_int_equal(st.failure, TS_BPF_FAILURE_NONE);
		return;
	}
	if (st.failure == TS_BPF_FAILURE_KERNEL) {
		print_message("this kernel cannot run it: %s\n", st.detail);
		skip();
	}
	if (st.failure == TS_BPF_FAILURE_PRIVILEGE && geteuid() != 0) {
		print_message("not root: cannot load BPF programs\n");
		skip();
	}
	/* cmocka truncates long failure messages: the log goes out first. */
	print_message("the %s does not load on this kernel: %s (%s)\n", p->name,
		      failure_name(st.failure), strerror(st.err));
	if (st.detail[0])
		fprintf(stderr, "--- %s ---\n%s\n--- end ---\n",
			st.failure == TS_BPF_FAILURE_VERIFIER ? "the end of the verifier's log" : "detail",
			st.detail);
	fail_msg("the %s does not load: %s", p->name, failure_name(st.failure));
}

/* The status is always filled and says NONE after a good load, and a
 * failure always names a cause and an errno. */
static void test_status_filled(void **state)
{
	const struct program *p = *state;
	struct ts_bpf_status st;
	int r;

	memset(&st, 0x5a, sizeof(st));
	r = p->probe(&st);
	if (r == 0) {
		assert_int_equal(st.failure, TS_BPF_FAILURE_NONE);
		assert_int_equal(st.err, 0);
	} else {
		assert_int_not_equal(st.failure, TS_BPF_FAILURE_NONE);
		assert_int_equal(st.err, -r);
	}
	assert_non_null(memchr(st.detail, '\0', sizeof(st.detail)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_program_loads, (void *)&owners),
		cmocka_unit_test_prestate(test_status_filled, (void *)&owners),
		cmocka_unit_test_prestate(test_program_loads, (void *)&sockets),
		cmocka_unit_test_prestate(test_status_filled, (void *)&sockets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
