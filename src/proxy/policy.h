/* The egress policy (policies/egress.toml): which model upstreams, methods and paths the
 * agent may use with the credential, and which host:port pairs it may reach by CONNECT or
 * plain HTTP. Unknown keys and tables are errors, as in the configuration.
 *
 * A group's effective policy is its policy file (proxy.policy, or the built-in one) with the
 * configuration's proxy.allow, proxy.deny and proxy.allow_private appended, and it requires
 * proxy.upstream to be one of the policy's model upstreams. */
#ifndef NC_PROXY_POLICY_H
#define NC_PROXY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/addr.h"
#include "proxy/settings.h"
#include "util/cleanup.h"
#include "util/error.h"

extern const char nc_builtin_egress_policy[];
extern const char nc_builtin_egress_policy_end[];
#define NC_BUILTIN_EGRESS_NAME "built-in egress policy (policies/egress.toml)"

typedef struct egress_rules {
    proxy_hostport *v;
    char **text; /* each entry as written, for the audit log's rule field */
    size_t n;
} egress_rules;

typedef struct egress_policy {
    char *source;
    proxy_url *upstreams;
    size_t nupstreams;
    char **methods;
    char **paths;
    egress_rules allow, deny, allow_private;
} egress_policy;

int egress_policy_parse(const char *text, size_t len, const char *source, egress_policy **ret,
                        nc_error **err);
/* path "" is the built-in policy. */
int egress_policy_load(const char *path, egress_policy **ret, nc_error **err);
/* A group's effective policy (above). */
int egress_policy_for(const proxy_settings *s, egress_policy **ret, nc_error **err);
void egress_policy_free(egress_policy *p);
NC_DEFINE_CLEANUP(egress_policy *, egress_policy_free)
/* One line describing the policy, for `policy check` and doctor. Allocated. */
char *egress_policy_describe(const egress_policy *p);

/* The decision for a tunnel or plain-HTTP request to name:port (a normalized name). Returns
 * true when allowed. *rule names the entry that decided ("deny *.x:443", "allow a.b:443") or
 * why nothing did; *private_ok is set when an allow_private entry matches. */
bool egress_allows(const egress_policy *p, const char *name, uint16_t port, char **rule,
                   bool *private_ok);
/* Whether a model request may go upstream: its method is listed and the path (before any '?')
 * is a normal path (only unreserved characters and '/', no '.' or '..' segments) under one of
 * the prefixes, at a segment boundary. *why is a static reason when not. */
bool egress_model_allows(const egress_policy *p, const char *method, const char *target,
                         const char **why);

#endif
