/* Seccomp profiles: the public API of seccomp.h: loading (validation is in seccomp_parse.c,
 * compiling in seccomp_build.c), the canonical form and its digest, and writing it out. */
#include "sandbox/seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "sandbox/seccomp_internal.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

void seccomp_policy_free(seccomp_policy *p)
{
    if (!p)
        return;
    free(p->source);
    free(p->canonical);
    strv_free(p->architectures);
    sc_model_free(p->model);
    free(p);
}

int seccomp_policy_load_text(const char *text, size_t len, const char *source, seccomp_policy **ret,
                             nc_error **err)
{
    if (len > SECCOMP_POLICY_MAX_BYTES)
        return nc_error_set(err, EFBIG, "policy '%s': larger than %d bytes", source,
                            SECCOMP_POLICY_MAX_BYTES);
    nc_json *root = NULL;
    int r = json_parse(text, len, &root, err);
    if (r < 0)
        return nc_error_wrap(err, "policy '%s'", source);
    _cleanup_(sc_model_freep) struct sc_model *m = NULL;
    if ((r = sc_parse_model(root, &m, err)) < 0)
        return nc_error_wrap(err, "policy '%s'", source);
    if ((r = sc_compile_check(m, err)) < 0)
        return nc_error_wrap(err, "policy '%s'", source);

    _cleanup_seccomp_policy_ seccomp_policy *p = xnew0(seccomp_policy);
    p->source = xstrdup(source);
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_value(g, m->root, true);
    _cleanup_strbuf_ strbuf canon = STRBUF_INIT;
    if ((r = jgen_finish(g, &canon, err)) < 0)
        return nc_error_wrap(err, "policy '%s': canonical form", source);
    sha256_hex(canon.buf, canon.len, p->digest);
    p->canonical = strbuf_detach(&canon, NULL);
    p->nrules = m->nrules;
    p->caps_rule = -1;
    for (size_t i = 0; i < m->nrules; i++) {
        p->nnames += m->rules[i].nnames;
        if (p->caps_rule < 0 && (m->rules[i].inc.ncaps || m->rules[i].exc.ncaps))
            p->caps_rule = (long)i;
    }
    for (size_t gi = 0; gi < m->ngroups; gi++) {
        for (size_t a = 0; a < m->groups[gi].narches; a++) {
            _cleanup_free_ char *up =
                xasprintf("SCMP_ARCH_%s", sc_arch_name(m->groups[gi].arches[a]));
            for (char *s = up; *s; s++)
                *s = (char)toupper((unsigned char)*s);
            if (!strv_contains(p->architectures, up))
                strv_push(&p->architectures, up);
        }
    }
    p->model = TAKE_PTR(m);
    *ret = TAKE_PTR(p);
    return 0;
}

int seccomp_policy_load_file(const char *path, seccomp_policy **ret, nc_error **err)
{
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    int r = read_file(path, SECCOMP_POLICY_MAX_BYTES, &text, err);
    if (r < 0)
        return nc_error_wrap(err, "policy '%s'", path);
    return seccomp_policy_load_text(text.buf ? text.buf : "", text.len, path, ret, err);
}

int seccomp_policy_write(const seccomp_policy *p, const char *dir, mode_t mode, char **ret_path,
                         nc_error **err)
{
    int r = mkdir_p(dir, 0755, err);
    if (r < 0)
        return nc_error_wrap(err, "write policy '%s'", p->source);
    _cleanup_free_ char *path = xasprintf("%s/%s.json", dir, p->digest);
    size_t len = strlen(p->canonical);
    _cleanup_strbuf_ strbuf old = STRBUF_INIT;
    nc_error *rerr = NULL;
    /* Reuse only an exact copy: a truncated or altered file is replaced. */
    if (read_file(path, len, &old, &rerr) == 0 && old.len == len &&
        memcmp(old.buf, p->canonical, len) == 0) {
        if (chmod(path, mode) < 0)
            return nc_error_set(err, errno, "set the mode of '%s': %s", path, strerror(errno));
        *ret_path = TAKE_PTR(path);
        return 0;
    }
    nc_error_free(rerr);
    if ((r = write_file_atomic(path, p->canonical, len, mode, err)) < 0)
        return nc_error_wrap(err, "write policy '%s'", p->source);
    *ret_path = TAKE_PTR(path);
    return 0;
}
