/*
 * memory_budget: the check, at start, that the tables the configuration
 * asks for can ever fit (see include/hs_memory_budget.h).
 *
 * The limit is the lowest of the memory limits on the way from the
 * process's cgroup up to the root, in whichever hierarchy has the memory
 * controller (cgroup v2 memory.max; v1 memory.limit_in_bytes, where no
 * limit reads as a number near 2^63), and the machine's MemAvailable.
 */
#include "hs_memory_budget.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_policy_engine.h"
#include "hs_table.h"

#define NO_LIMIT (UINT64_C(1) << 62)    /* at or above this, a cgroup limit means none */

/* The first line of a file, without its newline; false if it cannot be read. */
static bool read_line(const char *root, const char *path, char *buf, size_t size)
{
	char full[4096];

	snprintf(full, sizeof(full), "%s%s", root, path);
	FILE *f = fopen(full, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* A limit file's value; NO_LIMIT for "max", absent or unreadable. */
static uint64_t limit_value(const char *root, const char *path)
{
	char line[64], *end;

	if (!read_line(root, path, line, sizeof(line)) || strcmp(line, "max") == 0)
		return NO_LIMIT;
	unsigned long long v = strtoull(line, &end, 10);
	return end == line || *end != '\0' || v >= NO_LIMIT ? NO_LIMIT : (uint64_t)v;
}

/* The lowest limit in dir/cgroup and every ancestor of cgroup, up to dir itself. */
static uint64_t lowest_up_the_tree(const char *root, const char *dir, const char *cgroup, const char *file)
{
	char path[4096], rel[2048];
	uint64_t lowest = NO_LIMIT;

	snprintf(rel, sizeof(rel), "%s", cgroup);
	for (;;) {
		size_t len = strlen(rel);
		while (len > 0 && rel[len - 1] == '/')
			rel[--len] = '\0';
		snprintf(path, sizeof(path), "%s%s/%s", dir, rel, file);
		uint64_t v = limit_value(root, path);
		if (v < lowest)
			lowest = v;
		char *slash = strrchr(rel, '/');
		if (len == 0 || !slash)
			break;
		*slash = '\0';
	}
	return lowest;
}

/* The lowest cgroup memory limit over the process's cgroups (both versions). */
static uint64_t cgroup_limit(const char *root)
{
	char full[4096], line[4096];
	uint64_t lowest = NO_LIMIT;

	snprintf(full, sizeof(full), "%s/proc/self/cgroup", root);
	FILE *f = fopen(full, "re");
	if (!f)
		return NO_LIMIT;
	while (fgets(line, sizeof(line), f)) {
		/* "id:controllers:path" */
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *controllers = c1 + 1, *path = c2 + 1;
		uint64_t v = NO_LIMIT;
		if (controllers[0] == '\0') {
			/* cgroup v2: mounted at /sys/fs/cgroup, or at .../unified beside v1 hierarchies. */
			uint64_t a = lowest_up_the_tree(root, "/sys/fs/cgroup", path, "memory.max");
			uint64_t b = lowest_up_the_tree(root, "/sys/fs/cgroup/unified", path, "memory.max");
			v = a < b ? a : b;
		} else {
			char list[256];
			snprintf(list, sizeof(list), ",%s,", controllers);
			if (strstr(list, ",memory,"))
				v = lowest_up_the_tree(root, "/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
		}
		if (v < lowest)
			lowest = v;
	}
	fclose(f);
	return lowest;
}

/* MemAvailable in bytes; NO_LIMIT if it cannot be read. */
static uint64_t mem_available(const char *root)
{
	char full[4096], line[256];
	uint64_t v = NO_LIMIT;

	snprintf(full, sizeof(full), "%s/proc/meminfo", root);
	FILE *f = fopen(full, "re");
	if (!f)
		return NO_LIMIT;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			v = (uint64_t)kb * 1024u;
			break;
		}
	}
	fclose(f);
	return v;
}

uint64_t hs_memory_limit(const char *root, char *source, size_t source_len)
{
	uint64_t cg = cgroup_limit(root), avail = mem_available(root);

	if (cg == NO_LIMIT && avail == NO_LIMIT) {
		snprintf(source, source_len, "unknown");
		return 0;
	}
	if (cg < avail) {
		snprintf(source, source_len, "the cgroup's memory limit");
		return cg;
	}
	snprintf(source, source_len, "MemAvailable");
	return avail;
}

uint64_t hs_memory_tables_at_most(uint32_t max_flows, const struct hs_policy_set *policies, uint32_t queues)
{
	uint64_t per_queue = hs_table_bytes_at_most(max_flows) + hs_policy_engine_bytes_at_most(max_flows, policies);

	return per_queue * queues;
}

int hs_memory_budget_check(uint64_t need, uint64_t limit, const char *source, uint32_t max_flows, uint32_t queues,
			   char *err, size_t errlen)
{
	if (limit == 0 || need <= limit)
		return 0;
	snprintf(err, errlen,
		 "table.max_flows %" PRIu32 ": %" PRIu32 " queue%s of that many flows (IPv6, with the index and the "
		 "policies' tables) may take %.1f MiB, more than the %.1f MiB this process may use (%s); lower "
		 "table.max_flows",
		 max_flows, queues, queues == 1 ? "" : "s", (double)need / (1 << 20), (double)limit / (1 << 20),
		 source);
	return -1;
}
