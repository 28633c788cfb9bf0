/*
 * hs_policy_reach: whether each timed policy can reach its `idle` under the
 * table's timeouts (policy_reach.c), checked once the whole configuration
 * is loaded, since the timeouts may come after the policies in the file.
 */
#ifndef HS_POLICY_REACH_H
#define HS_POLICY_REACH_H

#include "hs_config_walk.h"

/* Warns at the idle of each timed policy that no flow it matches can stay idle long enough for. */
void hs_policy_check_reach(struct cfg_loader *ld);

#endif
