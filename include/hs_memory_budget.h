/*
 * hs_memory_budget: whether the tables the configuration asks for can ever
 * fit.  The tables are reserved at start and become resident only as
 * flows use them, so a max_flows beyond the machine's memory would not
 * fail at start but later, under load, when the kernel runs out.  This
 * module owns the check made before the workers start instead: the most
 * the tables can take (hs_table_bytes_at_most, the policy engine's share)
 * against the memory this process may use, its cgroup's limit or else
 * what the machine has available.
 */
#ifndef HS_MEMORY_BUDGET_H
#define HS_MEMORY_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "hs_policy.h"

/*
 * The memory this process may use, in bytes: the lowest memory limit of
 * its cgroup and the cgroup's ancestors (cgroup v2 memory.max, v1
 * memory.limit_in_bytes), or the machine's MemAvailable if lower.  What
 * set it goes to source.  0 if nothing could be read.  Files are read under
 * root ("" for the real ones; tests give a directory of their own).
 */
uint64_t hs_memory_limit(const char *root, char *source, size_t source_len);

/* The most the tables can take: every queue's table full of IPv6 flows, and its policies' tables. */
uint64_t hs_memory_tables_at_most(uint32_t max_flows, const struct hs_policy_set *policies, uint32_t queues);

/*
 * 0 if tables needing `need` bytes fit in `limit` (or the limit is
 * unknown); else -1 with the reason and the way out in err.
 */
int hs_memory_budget_check(uint64_t need, uint64_t limit, const char *source, uint32_t max_flows, uint32_t queues,
			   char *err, size_t errlen);

#endif
