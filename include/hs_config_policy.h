/*
 * hs_config_policy: loading the `policies:` list (config_policy.c).
 */
#ifndef HS_CONFIG_POLICY_H
#define HS_CONFIG_POLICY_H

#include "hs_config_walk.h"

/* Loads and checks the list at `path` into ld->config->policies. */
void cfg_load_policies(struct cfg_loader *ld, const char *path, const yaml_node_t *value);

#endif
