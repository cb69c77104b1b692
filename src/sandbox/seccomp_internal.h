/* The validated form of a seccomp profile, shared by src/sandbox/seccomp_parse.c (validation),
 * seccomp_build.c (compiling with libseccomp) and seccomp.c (the public API). Nothing outside
 * these files includes this header. */
#ifndef NC_SANDBOX_SECCOMP_INTERNAL_H
#define NC_SANDBOX_SECCOMP_INTERNAL_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/json.h"

/* More architectures than libseccomp knows, so a group (duplicates refused) always fits. */
#define SC_MAX_ARCHES 32

/* Filter flags, SECCOMP_FILTER_FLAG_* in the profile. */
enum {
    SC_FLAG_TSYNC = 1 << 0,
    SC_FLAG_LOG = 1 << 1,
    SC_FLAG_SPEC_ALLOW = 1 << 2,
    SC_FLAG_WAIT_KILLABLE_RECV = 1 << 3,
};

typedef struct sc_arg {
    unsigned index; /* 0..5 */
    enum scmp_compare op;
    uint64_t value;     /* datum_a: the mask for SCMP_CMP_MASKED_EQ */
    uint64_t value_two; /* datum_b: the datum for SCMP_CMP_MASKED_EQ */
} sc_arg;

/* One includes or excludes object. Strings are borrowed from the model's JSON tree. */
typedef struct sc_cond {
    size_t ncaps;        /* capabilities named (all are treated as dropped) */
    const char **arches; /* Go architecture names */
    size_t narches;
    bool has_min_kernel;
    unsigned kmajor, kminor;
} sc_cond;

typedef struct sc_rule {
    const char **names; /* borrowed from the tree */
    size_t nnames;
    bool legacy_name; /* the rule used "name", not "names" (for messages) */
    uint32_t action;  /* libseccomp action, errno or trace value included */
    sc_arg *args;
    size_t nargs;
    bool split; /* an index repeats: every condition is a rule of its own */
    sc_cond inc, exc;
} sc_rule;

/* The architectures compiled into one filter: main (for includes/excludes.arches) first. */
typedef struct sc_group {
    uint32_t arches[SC_MAX_ARCHES];
    size_t narches;
} sc_group;

struct sc_model {
    nc_json *root; /* owns every string the model borrows */
    uint32_t default_action;
    unsigned flags;
    sc_group *groups;
    size_t ngroups;
    sc_rule *rules;
    size_t nrules;
};

/* Validates the document into a model. Takes ownership of root, also on failure. Errors
 * name the place in the document ("syscalls[3].names[2]: ..."). */
int sc_parse_model(nc_json *root, struct sc_model **ret, nc_error **err);
void sc_model_free(struct sc_model *m);
NC_DEFINE_CLEANUP(struct sc_model *, sc_model_free)

/* The libseccomp name of an architecture token ("x86_64"), or "unknown". */
const char *sc_arch_name(uint32_t token);
/* The token for a Go architecture name (amd64, arm64, x32, ...); 0 when the name is not one,
 * or the installed libseccomp does not know the architecture. */
uint32_t sc_goarch_token(const char *goarch);

/* The running kernel's major.minor, for minKernel; 0.0 when uname says nothing usable. */
void sc_kernel_version(unsigned *major, unsigned *minor);

/* True when rule applies to a filter whose main architecture is main, with every capability
 * dropped, on kernel kmajor.kminor. */
bool sc_rule_applies(const sc_rule *r, uint32_t main, unsigned kmajor, unsigned kminor);

/* Builds the filter for one group. With for_load, the filter flags become attributes. */
int sc_build_group(const struct sc_model *m, const sc_group *g, bool for_load, scmp_filter_ctx *ret,
                   nc_error **err);

/* Builds every group and exports it, proving that it compiles and fits the kernel's limit. */
int sc_compile_check(const struct sc_model *m, nc_error **err);

#endif
