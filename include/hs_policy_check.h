/*
 * hs_policy_check: warnings about a policy set as a whole (policy_check.c).
 */
#ifndef HS_POLICY_CHECK_H
#define HS_POLICY_CHECK_H

#include <stdbool.h>

#include "hs_config_walk.h"
#include "hs_policy.h"

/* What set-wide checks need to know about each stored policy. */
struct hs_policy_note {
	bool ok;                    /* no error was reported for it */
	const yaml_node_t *anchor;  /* what a warning about it underlines */
};

/* Warns at each policy that can never act or that overlaps an earlier one; notes[i] is set->items[i]'s. */
void hs_policy_check_set(struct cfg_loader *ld, const struct hs_policy_set *set, const struct hs_policy_note *notes);

#endif
