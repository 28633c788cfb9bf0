/*
 * hs_config_policy: loading the `policies:` list (config_policy.c).
 */
#ifndef HS_CONFIG_POLICY_H
#define HS_CONFIG_POLICY_H

#include "hs_config_walk.h"

/* The names limit.per and rate.per take, indexed by enum hs_policy_scope. */
extern const char *const hs_policy_scope_names[HS_PER_DESTINATION + 1];

/* Loads and checks the list at `path` into ld->config->policies. */
void cfg_load_policies(struct cfg_loader *ld, const char *path, const yaml_node_t *value);

#endif
