/*
 * test_memory_budget: the start-up check that the tables can ever fit.
 * The limit is read from a directory laid out as /proc and /sys/fs/cgroup
 * are (cgroup v2, v1, limits on an ancestor, none at all); the tables'
 * worst case follows max_flows and the policies; a configuration that
 * cannot fit is refused with the numbers and the way out.
 */
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

#include "hs_memory_budget.h"
#include "hs_policy_engine.h"
#include "hs_table.h"

static char root[256];

/* Writes text to root/path, making the directories on the way. */
static void put(const char *path, const char *text)
{
	char full[1024];

	snprintf(full, sizeof(full), "%s%s", root, path);
	for (char *p = full + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(full, 0700);
		*p = '/';
	}
	FILE *f = fopen(full, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int fresh_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/hs-test-memory.XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int remove_root(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_cgroup_v2_ancestor(void **state)
{
	char source[64];

	(void)state;
	put("/proc/self/cgroup", "0::/system.slice/handshaked.service\n");
	put("/proc/meminfo", "MemTotal:       8000000 kB\nMemAvailable:   4000000 kB\n");
	put("/sys/fs/cgroup/system.slice/handshaked.service/memory.max", "max\n");
	put("/sys/fs/cgroup/system.slice/memory.max", "1073741824\n");
	assert_int_equal(hs_memory_limit(root, source, sizeof(source)), 1073741824);
	assert_string_equal(source, "the cgroup's memory limit");
	/* The service's own limit, lower, wins. */
	put("/sys/fs/cgroup/system.slice/handshaked.service/memory.max", "268435456\n");
	assert_int_equal(hs_memory_limit(root, source, sizeof(source)), 268435456);
}

static void test_cgroup_v1(void **state)
{
	char source[64];

	(void)state;
	put("/proc/self/cgroup", "5:cpu,cpuacct:/\n4:memory:/a/b\n0::/\n");
	put("/proc/meminfo", "MemAvailable:   4000000 kB\n");
	/* v1 says "no limit" with a number near 2^63. */
	put("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "9223372036854771712\n");
	put("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "536870912\n");
	assert_int_equal(hs_memory_limit(root, source, sizeof(source)), 536870912);
}

static void test_no_cgroup_limit(void **state)
{
	char source[64];

	(void)state;
	put("/proc/self/cgroup", "0::/\n");
	put("/sys/fs/cgroup/memory.max", "garbage\n");
	put("/proc/meminfo", "MemTotal:       8000000 kB\nMemAvailable:   4000000 kB\n");
	assert_int_equal(hs_memory_limit(root, source, sizeof(source)), 4000000ull * 1024);
	assert_string_equal(source, "MemAvailable");
}

static void test_nothing_readable(void **state)
{
	char source[64];

	(void)state;
	assert_int_equal(hs_memory_limit(root, source, sizeof(source)), 0);
	assert_string_equal(source, "unknown");
	/* Unknown means no refusal. */
	char err[256] = "";
	assert_int_equal(hs_memory_budget_check(UINT64_MAX, 0, source, 1, 1, err, sizeof(err)), 0);
}

static void test_worst_case_and_refusal(void **state)
{
	struct hs_policy_set none, limits;
	char err[512];

	(void)state;
	memset(&none, 0, sizeof(none));
	memset(&limits, 0, sizeof(limits));
	limits.count = 1;
	limits.items[0].has_limit = true;
	limits.items[0].limit_per = HS_PER_SOURCE;

	/* A full table of IPv6 flows: 124 bytes each and 6.4 of index (64 bytes a 10 flows); no policy adds little. */
	uint64_t table = hs_table_bytes_at_most(HS_TABLE_MAX_FLOWS);
	assert_true(table >= (uint64_t)HS_TABLE_MAX_FLOWS * 124 + HS_TABLE_MAX_FLOWS / 10 * 64);
	uint64_t plain = hs_memory_tables_at_most(HS_TABLE_MAX_FLOWS, &none, 2);
	assert_true(plain >= 2 * table && plain < 2 * table + 2 * (1u << 20));
	/* A per-source limit may fill a count table of 2 x max_flows slots. */
	uint64_t limited = hs_memory_tables_at_most(HS_TABLE_MAX_FLOWS, &limits, 1);
	assert_true(limited >= table + 2ull * HS_TABLE_MAX_FLOWS * 16);

	assert_int_equal(hs_memory_budget_check(plain, plain, "MemAvailable", HS_TABLE_MAX_FLOWS, 2, err, sizeof(err)),
			 0);
	assert_int_equal(hs_memory_budget_check(plain, plain - 1, "the cgroup's memory limit", HS_TABLE_MAX_FLOWS, 2,
						err, sizeof(err)),
			 -1);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "table.max_flows 16777216"));
	assert_non_null(strstr(err, "2 queues"));
	assert_non_null(strstr(err, "the cgroup's memory limit"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cgroup_v2_ancestor, fresh_root, remove_root),
		cmocka_unit_test_setup_teardown(test_cgroup_v1, fresh_root, remove_root),
		cmocka_unit_test_setup_teardown(test_no_cgroup_limit, fresh_root, remove_root),
		cmocka_unit_test_setup_teardown(test_nothing_readable, fresh_root, remove_root),
		cmocka_unit_test(test_worst_case_and_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
