/*
 * hs_config_print: the effective configuration as YAML (config_print.c),
 * what `handshaked -t -v` prints.
 */
#ifndef HS_CONFIG_PRINT_H
#define HS_CONFIG_PRINT_H

#include <stdio.h>

#include "hs_config.h"

/* Writes every setting, defaults included, as a handshaked.yaml that loads into the same configuration. */
void hs_config_print(FILE *out, const struct hs_config *config);

#endif
