/* What config.c shares with config_engines.c. */
#ifndef NC_CONFIG_INTERNAL_H
#define NC_CONFIG_INTERNAL_H

#include "config.h"
#include "util/toml.h"

/* [[engines]] (an array of tables) into c->engines. */
int config_parse_engines(nc_config *c, const toml_node *arr, const char *file, nc_error **err);
void config_engines_free(nc_config *c);
/* An array of labels (strings of letters, digits, - _ . =). */
int config_parse_labels(const toml_node *v, const char *key, const char *file, char ***out,
                        nc_error **err);

#endif
