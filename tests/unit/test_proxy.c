/* src/proxy: the request parser, names and patterns, the policy's decisions, private address
 * classes, header stripping, the credential's file checks, and a live proxy on real unix
 * sockets (no upstream needed): denials, limits, another group's socket, a tunnel to a local
 * echo server, and a slow client that must not hold up another. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "proxy/addr.h"
#include "proxy/audit.h"
#include "proxy/credential.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"
#include "proxy/request.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static int parse(const char *text, proxy_request *req)
{
    nc_error *err = NULL;
    int r = proxy_request_parse(text, strlen(text), req, &err);
    nc_error_free(err);
    return r;
}

static void test_parse_forms(void **state)
{
    (void)state;
    proxy_request r;
    const char *post = "POST /v1/messages?beta=1 HTTP/1.1\r\nHost: localhost\r\n"
                       "X-Api-Key: agent\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(parse(post, &r), 0);
    assert_int_equal(r.form, PROXY_FORM_ORIGIN);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/v1/messages?beta=1");
    assert_true(r.has_length);
    assert_int_equal(r.content_length, 2);
    assert_int_equal(r.head_len, strlen(post) - 2);
    assert_string_equal(proxy_request_header(&r, "x-api-key"), "agent");
    proxy_request_release(&r);

    assert_int_equal(parse("CONNECT Example.com:443 HTTP/1.1\r\n\r\n", &r), 0);
    assert_int_equal(r.form, PROXY_FORM_AUTHORITY);
    assert_string_equal(r.host, "Example.com");
    assert_int_equal(r.port, 443);
    proxy_request_release(&r);

    assert_int_equal(parse("GET http://example.com/a?b HTTP/1.1\r\n\r\n", &r), 0);
    assert_int_equal(r.form, PROXY_FORM_ABSOLUTE);
    assert_string_equal(r.host, "example.com");
    assert_int_equal(r.port, 80);
    assert_string_equal(r.path, "/a?b");
    proxy_request_release(&r);

    assert_int_equal(parse("GET http://example.com:8080 HTTP/1.0\r\n\r\n", &r), 0);
    assert_int_equal(r.port, 8080);
    assert_string_equal(r.path, "/");
    proxy_request_release(&r);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    proxy_request r;
    assert_int_equal(parse("POST /v1/messages HTTP/1.1\r\nHost: x\r\n", &r), -EAGAIN);
    assert_int_equal(parse("GET / HTTP/1.1\nHost: x\n\n", &r), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nName : v\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(
        parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
        -EBADMSG);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r),
                     -EBADMSG);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &r), -ENOSYS);
    assert_int_equal(parse("GET http://user@host/ HTTP/1.1\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("GET https://host/ HTTP/1.1\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("CONNECT host HTTP/1.1\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("CONNECT host:0 HTTP/1.1\r\n\r\n", &r), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", &r), -EBADMSG);
    /* a head that never ends is refused at the bound, not awaited forever */
    strbuf big = STRBUF_INIT;
    strbuf_addstr(&big, "GET / HTTP/1.1\r\n");
    while (big.len < PROXY_MAX_HEAD + 10)
        strbuf_addstr(&big, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    nc_error *err = NULL;
    assert_int_equal(proxy_request_parse(big.buf, big.len, &r, &err), -EMSGSIZE);
    nc_error_free(err);
    strbuf_release(&big);
    /* too many fields */
    strbuf many = STRBUF_INIT;
    strbuf_addstr(&many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= PROXY_MAX_HEADERS; i++)
        strbuf_addf(&many, "X-%d: v\r\n", i);
    strbuf_addstr(&many, "\r\n");
    assert_int_equal(parse(many.buf, &r), -EMSGSIZE);
    strbuf_release(&many);
}

static int chunked(const char *body, char **out, size_t *used)
{
    strbuf sb = STRBUF_INIT;
    nc_error *err = NULL;
    int r = proxy_chunked_decode(body, strlen(body), 100, &sb, used, &err);
    nc_error_free(err);
    *out = strbuf_detach(&sb, NULL);
    return r;
}

static void test_chunked(void **state)
{
    (void)state;
    char *out;
    size_t used = 0;
    assert_int_equal(chunked("3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\nNEXT", &out, &used),
                     0);
    assert_string_equal(out, "abcde");
    assert_int_equal(used, strlen("3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n"));
    free(out);
    assert_int_equal(chunked("A\r\n0123456789\r\n0\r\n\r\n", &out, &used), 0);
    assert_string_equal(out, "0123456789");
    free(out);
    assert_int_equal(chunked("3\r\nab", &out, &used), -EAGAIN);
    assert_int_equal(used, 0);
    free(out);
    assert_int_equal(chunked("3\r\nabc\r\n0\r\n", &out, &used), -EAGAIN);
    assert_int_equal(used, 8); /* the whole first chunk: a resumed call starts after it */
    assert_string_equal(out, "abc");
    free(out);
    const char *bad[] = {"x\r\n", "3\nabc\r\n0\r\n\r\n", "3\r\nabcd\r\n0\r\n\r\n", "-1\r\n",
                         "fffffffffffffffff\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(chunked(bad[i], &out, &used), -EBADMSG);
        free(out);
    }
    assert_int_equal(chunked("65\r\n", &out, &used), -EMSGSIZE); /* 101 > 100 */
    free(out);
}

static void test_header_stripping(void **state)
{
    (void)state;
    proxy_request r;
    assert_int_equal(parse("POST /v1/messages HTTP/1.1\r\nAuthorization: Bearer a\r\n"
                           "Connection: close, X-Hop\r\nX-Hop: 1\r\nContent-Type: a/b\r\n\r\n",
                           &r),
                     0);
    const char *stripped[] = {"authorization",    "x-api-key", "X-Api-Key",  "proxy-authorization",
                              "Proxy-Connection", "cookie",    "connection", "transfer-encoding",
                              "content-length",   "host",      "te",         "upgrade",
                              "expect",           "x-hop"};
    for (size_t i = 0; i < sizeof(stripped) / sizeof(*stripped); i++)
        assert_true(proxy_header_stripped(&r, stripped[i]));
    const char *kept[] = {"content-type", "anthropic-version", "anthropic-beta", "accept",
                          "user-agent"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++)
        assert_false(proxy_header_stripped(&r, kept[i]));
    proxy_request_release(&r);
}

static void expect_name(const char *in, const char *want)
{
    char *got = proxy_name_normalize(in, strlen(in));
    if (!want) {
        if (got)
            fail_msg("'%s' was taken as the name '%s'", in, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_names(void **state)
{
    (void)state;
    expect_name("Example.COM.", "example.com");
    expect_name("localhost", "localhost");
    expect_name("a-b.c9.io", "a-b.c9.io");
    const char *not_names[] = {"127.0.0.1", "2130706433", "0x7f.1",   "0x7f",    "127.1",
                               "[::1]",     "::1",        "1.2.3.4.", "-a.com",  "a-.com",
                               "a..b",      "",           ".",        "a_b.com", "a b.com"};
    for (size_t i = 0; i < sizeof(not_names) / sizeof(*not_names); i++)
        expect_name(not_names[i], NULL);
}

static void test_hostport_patterns(void **state)
{
    (void)state;
    proxy_hostport hp;
    nc_error *err = NULL;
    assert_int_equal(proxy_hostport_parse("*.github.com:443", true, &hp, &err), 0);
    assert_true(proxy_hostport_match(&hp, "api.github.com", 443));
    assert_true(proxy_hostport_match(&hp, "a.b.github.com", 443));
    assert_false(proxy_hostport_match(&hp, "github.com", 443));
    assert_false(proxy_hostport_match(&hp, "evilgithub.com", 443));
    assert_false(proxy_hostport_match(&hp, "api.github.com", 80));
    proxy_hostport_release(&hp);
    const char *bad[] = {"github.com",  "github.com:", "github.com:0",   "github.com:65536",
                         "1.2.3.4:443", "[::1]:443",   "*.github.com:*", "github.com:44a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_true(proxy_hostport_parse(bad[i], true, &hp, &err) < 0);
        nc_error_free(err);
        err = NULL;
    }
    assert_true(proxy_hostport_parse("*.github.com:443", false, &hp, &err) < 0);
    nc_error_free(err);
}

static egress_policy *policy_from(const char *text)
{
    egress_policy *p = NULL;
    nc_error *err = NULL;
    if (egress_policy_parse(text, strlen(text), "t.toml", &p, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    return p;
}

static bool allows(const egress_policy *p, const char *name, uint16_t port, bool *priv)
{
    char *rule = NULL;
    bool priv_ok = false;
    bool ok = egress_allows(p, name, port, &rule, &priv_ok);
    assert_non_null(rule);
    free(rule);
    if (priv)
        *priv = priv_ok;
    return ok;
}

static void test_policy_decisions(void **state)
{
    (void)state;
    egress_policy *p =
        policy_from("[model]\nupstreams = [\"https://api.anthropic.com\"]\nmethods = [\"POST\"]\n"
                    "paths = [\"/v1/messages\"]\n[egress]\n"
                    "allow = [\"*.github.com:443\", \"pypi.org:443\", \"localhost:8080\"]\n"
                    "deny = [\"gist.github.com:443\"]\nallow_private = [\"localhost:8080\"]\n");
    bool priv = true;
    assert_true(allows(p, "api.github.com", 443, &priv));
    assert_false(priv);
    assert_false(allows(p, "gist.github.com", 443, NULL)); /* deny wins */
    assert_false(allows(p, "github.com", 443, NULL));
    assert_false(allows(p, "pypi.org", 80, NULL)); /* ports are scoped */
    assert_false(allows(p, "pypi.org", 3128, NULL));
    assert_false(allows(p, "example.com", 443, NULL));
    assert_true(allows(p, "localhost", 8080, &priv));
    assert_true(priv);

    const char *why;
    assert_true(egress_model_allows(p, "POST", "/v1/messages", &why));
    assert_true(egress_model_allows(p, "POST", "/v1/messages?beta=true", &why));
    assert_true(egress_model_allows(p, "POST", "/v1/messages/count_tokens", &why));
    assert_false(egress_model_allows(p, "GET", "/v1/messages", &why));
    assert_false(egress_model_allows(p, "POST", "/v1/messagesX", &why));
    assert_false(egress_model_allows(p, "POST", "/v1/files", &why));
    assert_false(egress_model_allows(p, "POST", "/v1/messages/../files", &why));
    assert_false(egress_model_allows(p, "POST", "/v1/messages/%2e%2e/files", &why));
    assert_false(egress_model_allows(p, "POST", "//v1/messages", &why));
    egress_policy_free(p);
}

static void test_policy_files(void **state)
{
    (void)state;
    /* the built-in policy: the Anthropic API only, nothing else */
    egress_policy *p = NULL;
    nc_error *err = NULL;
    assert_int_equal(egress_policy_load("", &p, &err), 0);
    assert_int_equal(p->nupstreams, 1);
    assert_string_equal(p->upstreams[0].host, "api.anthropic.com");
    assert_int_equal(p->allow.n, 0);
    egress_policy_free(p);
    const char *bad[] = {
        "[model]\nupstreams = [\"http://x.com\"]\nmethods=[\"POST\"]\npaths=[\"/\"]\n",
        "[model]\nupstreams = [\"https://x.com\"]\nmethods=[\"post\"]\npaths=[\"/\"]\n",
        "[model]\nupstreams = [\"https://x.com\"]\nmethods=[\"POST\"]\npaths=[\"v1\"]\n",
        "[model]\nupstreams = [\"https://x.com\"]\nmethods=[\"POST\"]\npaths=[\"/\"]\n"
        "[egress]\nallow = [\"10.0.0.1:443\"]\n",
        "[model]\nupstreams = [\"https://x.com\"]\nmethods=[\"POST\"]\npaths=[\"/\"]\n"
        "[egress]\nallow = [\"x.com\"]\n",
        "[model]\nupstreams = [\"https://x.com\"]\nmethods=[\"POST\"]\npaths=[\"/\"]\n"
        "[egress]\nalow = []\n",
        "[model]\nmethods=[\"POST\"]\npaths=[\"/\"]\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        p = NULL;
        if (egress_policy_parse(bad[i], strlen(bad[i]), "t.toml", &p, &err) == 0)
            fail_msg("policy %zu was accepted", i);
        nc_error_free(err);
        err = NULL;
    }
    /* the configured upstream must be one of the policy's */
    proxy_settings s = {.upstream = "https://elsewhere.example", .policy = ""};
    assert_int_equal(egress_policy_for(&s, &p, &err), -EPERM);
    nc_error_free(err);
    err = NULL;
    char *allow[] = {"extra.example.com:443", NULL};
    s = (proxy_settings){.upstream = "https://api.anthropic.com/", .policy = "", .allow = allow};
    assert_int_equal(egress_policy_for(&s, &p, &err), 0);
    assert_true(allows(p, "extra.example.com", 443, NULL));
    egress_policy_free(p);
}

static bool priv4(const char *a)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &sa.sin_addr), 1);
    return proxy_addr_private((struct sockaddr *)&sa);
}

static bool priv6(const char *a)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &sa.sin6_addr), 1);
    return proxy_addr_private((struct sockaddr *)&sa);
}

static void test_private_addresses(void **state)
{
    (void)state;
    const char *priv[] = {"127.0.0.1",  "127.255.0.9", "10.1.2.3",        "169.254.169.254",
                          "100.64.0.1", "192.168.1.1", "172.16.0.1",      "172.31.255.255",
                          "0.0.0.0",    "224.0.0.1",   "255.255.255.255", "192.0.0.170"};
    for (size_t i = 0; i < sizeof(priv) / sizeof(*priv); i++)
        if (!priv4(priv[i]))
            fail_msg("%s taken as public", priv[i]);
    const char *pub[] = {"8.8.8.8", "1.1.1.1", "172.15.0.1", "172.32.0.1", "160.79.104.10"};
    for (size_t i = 0; i < sizeof(pub) / sizeof(*pub); i++)
        if (priv4(pub[i]))
            fail_msg("%s taken as private", pub[i]);
    const char *priv_6[] = {"::1",
                            "::",
                            "fe80::1",
                            "fd00:ec2::254",
                            "fc00::1",
                            "ff02::1",
                            "::ffff:127.0.0.1",
                            "::ffff:169.254.169.254",
                            "64:ff9b::a9fe:a9fe",
                            "2001:db8::1",
                            "::127.0.0.1"};
    for (size_t i = 0; i < sizeof(priv_6) / sizeof(*priv_6); i++)
        if (!priv6(priv_6[i]))
            fail_msg("%s taken as public", priv_6[i]);
    assert_false(priv6("2606:4700::1111"));
    assert_false(priv6("::ffff:8.8.8.8"));
}

/* ---- the credential ---- */

static char *tmpdir;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nanocell-proxy.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    tmpdir = xstrdup(tmpl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmpdir);
    return 0;
}

static char *write_key(const char *name, const char *text, mode_t mode)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_credential(void **state)
{
    (void)state;
    const char *secret = "sk-unit-secret-1234";
    _cleanup_free_ char *good = write_key("k1", "sk-unit-secret-1234\n", 0600);
    proxy_settings s = {.api_key_file = good};
    proxy_credential *c = NULL;
    nc_error *err = NULL;
    assert_int_equal(proxy_credential_load(&s, &c, &err), 0);
    assert_string_equal(proxy_credential_key(c), secret);
    proxy_credential_free(c);

    const struct {
        const char *name, *text;
        mode_t mode;
    } bad[] = {{"k2", "sk-unit-secret-1234\n", 0644},
               {"k3", "sk-unit-secret-1234\n", 0640},
               {"k4", "sk-unit-secret-1234\nsecond\n", 0600},
               {"k5", "", 0600},
               {"k6", "sk-unit secret-1234", 0600}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        _cleanup_free_ char *path = write_key(bad[i].name, bad[i].text, bad[i].mode);
        s.api_key_file = path;
        assert_true(proxy_credential_load(&s, &c, &err) < 0);
        /* the message names the file, never what it holds */
        assert_null(strstr(nc_error_msg(err), "secret"));
        nc_error_free(err);
        err = NULL;
    }
    _cleanup_free_ char *link = xasprintf("%s/link", tmpdir);
    assert_int_equal(symlink(good, link), 0);
    s.api_key_file = link;
    assert_true(proxy_credential_load(&s, &c, &err) < 0);
    nc_error_free(err);
    err = NULL;
    /* A FIFO is refused, not waited on (the alarm turns a blocked open into a failure). */
    _cleanup_free_ char *fifo = xasprintf("%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    s.api_key_file = fifo;
    alarm(20);
    assert_int_equal(proxy_credential_load(&s, &c, &err), -EINVAL);
    alarm(0);
    assert_non_null(strstr(nc_error_msg(err), "is a fifo"));
    nc_error_free(err);
    err = NULL;

    setenv("NC_TEST_PROXY_KEY", "sk-env-secret", 1);
    s = (proxy_settings){.api_key_env = "NC_TEST_PROXY_KEY"};
    assert_int_equal(proxy_credential_load(&s, &c, &err), 0);
    assert_string_equal(proxy_credential_key(c), "sk-env-secret");
    assert_null(strstr(proxy_credential_source(c), "sk-env"));
    proxy_credential_free(c);
    s.api_key_env = "NC_TEST_PROXY_KEY_UNSET";
    assert_true(proxy_credential_load(&s, &c, &err) < 0);
    nc_error_free(err);
}

static void test_config_keys(void **state)
{
    (void)state;
    const char *text = "[proxy]\napi_key_env = \"K\"\nallow = [\"a.example.com:443\"]\n"
                       "[[group]]\nname = \"g\"\nproxy.allow = [\"b.example.com:443\"]\n"
                       "proxy.max_requests_per_turn = 3\n";
    nc_config *c = NULL;
    nc_error *err = NULL;
    assert_int_equal(config_parse(text, strlen(text), "t.toml", &c, &err), 0);
    assert_string_equal(config_proxy(c, "other")->allow[0], "a.example.com:443");
    assert_string_equal(config_proxy(c, "g")->allow[0], "b.example.com:443");
    assert_int_equal(config_proxy(c, "g")->max_requests_per_turn, 3);
    assert_string_equal(config_proxy(c, "g")->api_key_env, "K"); /* inherited */
    assert_true(proxy_settings_enabled(config_proxy(c, "g")));
    config_free(c);
    const char *bad[] = {"[proxy]\nallow = [\"1.2.3.4:443\"]\n",
                         "[proxy]\ndeny = [\"x.com\"]\n",
                         "[proxy]\nupstream = \"http://api.anthropic.com\"\n",
                         "[proxy]\napi_key_env = \"A-B\"\n",
                         "[proxy]\napi_key_file = \"rel\"\n",
                         "[[group]]\nname = \"g\"\nproxy.nope = 1\n",
                         "[agent]\nmodel = \"a b\"\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        c = NULL;
        if (config_parse(bad[i], strlen(bad[i]), "t.toml", &c, &err) == 0)
            fail_msg("config %zu was accepted", i);
        nc_error_free(err);
        err = NULL;
    }
    c = config_defaults();
    assert_false(proxy_settings_enabled(&c->proxy)); /* no key: model mode off */
    config_free(c);
}

static void test_audit_format(void **state)
{
    (void)state;
    proxy_audit_entry e = {.time_ms = 1000,
                           .group = "g",
                           .run_id = "r",
                           .kind = "model",
                           .method = "POST",
                           .host = "h",
                           .port = 443,
                           .path = "/v1/messages?key=sk-in-query",
                           .status = 200,
                           .rule = "x"};
    strbuf line = STRBUF_INIT;
    proxy_audit_format(&e, &line);
    assert_non_null(strstr(line.buf, "\"path\":\"/v1/messages\""));
    assert_null(strstr(line.buf, "sk-in-query"));
    assert_int_equal(line.buf[line.len - 1], '\n');
    assert_null(strchr(line.buf, '\n') + 1 < line.buf + line.len ? strchr(line.buf, '\n') + 1
                                                                 : NULL);
    strbuf_release(&line);
}

static void test_audit_rotation(void **state)
{
    (void)state;
    _cleanup_free_ char *path = xasprintf("%s/rot.log", tmpdir);
    _cleanup_free_ char *old = xasprintf("%s/rot.log.1", tmpdir);
    proxy_audit *a = NULL;
    nc_error *err = NULL;
    assert_int_equal(proxy_audit_open(path, 1000, &a, &err), 0);
    proxy_audit_entry e = {.time_ms = 1000, .group = "g", .kind = "model", .status = 200};
    for (int i = 0; i < 30; i++)
        proxy_audit_write(a, &e);
    assert_int_equal(proxy_audit_failures(a), 0);
    proxy_audit_close(a);
    struct stat st, st1;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(stat(old, &st1), 0); /* rotated */
    assert_true(st.st_size <= 1000);
    assert_true(st1.st_size <= 1000);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* ---- a live proxy ---- */

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends req on a fresh connection and returns everything the proxy answers until it closes. */
static char *exchange(const char *sock, const char *req)
{
    int fd = connect_unix(sock);
    /* A refusal that needs no request (a busy group) may close before the request is sent */
    ssize_t w = write(fd, req, strlen(req));
    if (w < 0)
        assert_int_equal(errno, EPIPE);
    else
        assert_int_equal(w, (ssize_t)strlen(req));
    strbuf out = STRBUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        strbuf_add(&out, buf, (size_t)n);
    close(fd);
    return strbuf_detach(&out, NULL);
}

static void expect_status(const char *sock, const char *req, const char *status, const char *in)
{
    char *resp = exchange(sock, req);
    if (strncmp(resp, status, strlen(status)) != 0 || (in && !strstr(resp, in)))
        fail_msg("want '%s' (with '%s'), got: %s", status, in ? in : "", resp);
    free(resp);
}

static void read_until(int fd, strbuf *sb, const char *needle);

/* A TCP echo server on 127.0.0.1 for the tunnel: echoes one connection, then exits. */
struct echo {
    int lfd;
    uint16_t port;
    pthread_t t;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    int fd = accept(e->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            break;
    close(fd);
    return NULL;
}

static void echo_start(struct echo *e)
{
    e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(e->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t l = sizeof(sa);
    getsockname(e->lfd, (struct sockaddr *)&sa, &l);
    e->port = ntohs(sa.sin_port);
    assert_int_equal(listen(e->lfd, 4), 0);
    assert_int_equal(pthread_create(&e->t, NULL, echo_main, e), 0);
}

static void test_live_proxy(void **state)
{
    (void)state;
    struct echo echo;
    echo_start(&echo);
    setenv("NC_TEST_PROXY_KEY", "sk-live-secret", 1);
    _cleanup_free_ char *text = xasprintf(
        "[install]\ndata_dir = \"%s/data\"\n[proxy]\napi_key_env = \"NC_TEST_PROXY_KEY\"\n"
        "max_request_bytes = \"2k\"\nmax_requests_per_turn = 20\nheader_timeout = \"30s\"\n"
        "allow = [\"localhost:%u\", \"private.localhost:%u\"]\n"
        "allow_private = [\"localhost:%u\"]\n"
        "[[group]]\nname = \"b\"\nproxy.allow = []\nproxy.max_requests_per_turn = 1\n"
        "[[group]]\nname = \"c\"\nproxy.allow_private = []\n"
        "[[group]]\nname = \"d\"\nproxy.max_connections = 1\n"
        "[[group]]\nname = \"e\"\nproxy.header_timeout = \"100ms\"\n",
        tmpdir, echo.port, echo.port, echo.port);
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    assert_int_equal(config_parse(text, strlen(text), "t.toml", &cfg, &err), 0);
    assert_int_equal(config_resolve(cfg, &err), 0);
    proxy *p = NULL;
    if (proxy_new(cfg, &p, &err) < 0 || proxy_add_group(p, cfg, "a", NULL, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    const char *sa = NULL, *sb = NULL;
    assert_int_equal(proxy_add_group(p, cfg, "a", &sa, &err), 0);
    assert_int_equal(proxy_add_group(p, cfg, "b", &sb, &err), 0);
    const char *sc = NULL, *sd = NULL, *se = NULL;
    assert_int_equal(proxy_add_group(p, cfg, "c", &sc, &err), 0);
    assert_int_equal(proxy_add_group(p, cfg, "d", &sd, &err), 0);
    assert_int_equal(proxy_add_group(p, cfg, "e", &se, &err), 0);
    assert_string_not_equal(sa, sb);
    proxy_begin_turn(p, "a", "run-a");
    proxy_begin_turn(p, "b", "run-b");
    struct stat st;
    assert_int_equal(stat(sa, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 1000); /* sandbox.user's default */
        assert_int_equal(st.st_mode & 0777, 0600);
    }

    /* A slow client holds its own connection open with half a head... */
    int slow = connect_unix(sa);
    assert_int_equal(write(slow, "POST /v1/mess", 13), 13);

    /* ...while every other request is answered. */
    expect_status(sa, "POST /v1/files HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 403",
                  "path not allowed");
    expect_status(sa, "GET /v1/messages HTTP/1.1\r\n\r\n", "HTTP/1.1 403", "method");
    expect_status(sa, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 403", "not allowed");
    expect_status(sa, "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 403", "not a host name");
    expect_status(sa, "CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n", "HTTP/1.1 403",
                  "not a host name");
    _cleanup_free_ char *other_port =
        xasprintf("CONNECT localhost:%u HTTP/1.1\r\n\r\n", (unsigned)(echo.port ^ 1));
    expect_status(sa, other_port, "HTTP/1.1 403", "not allowed");
    /* allowed by name, but the name resolves to loopback and no allow_private entry matches */
    _cleanup_free_ char *priv =
        xasprintf("CONNECT private.localhost:%u HTTP/1.1\r\n\r\n", echo.port);
    char *resp = exchange(sa, priv);
    /* resolvers differ on *.localhost: refused as private (403) or not found (502) */
    if (strncmp(resp, "HTTP/1.1 403", 12) != 0 && strncmp(resp, "HTTP/1.1 502", 12) != 0)
        fail_msg("private.localhost: %s", resp);
    assert_null(strstr(resp, "200 Connection"));
    free(resp);
    _cleanup_free_ char *plain =
        xasprintf("GET http://localhost:%u/x HTTP/1.1\r\n\r\n", (unsigned)(echo.port ^ 1));
    expect_status(sa, plain, "HTTP/1.1 403", "not allowed");
    /* oversized */
    expect_status(sa, "POST /v1/messages HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", "HTTP/1.1 429",
                  "max_request_bytes");
    /* chunked bodies are decoded, within the same size limit */
    expect_status(sa,
                  "POST /v1/files HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "2\r\n{}\r\n0\r\n\r\n",
                  "HTTP/1.1 403", "path not allowed");
    expect_status(sa,
                  "POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "800\r\n",
                  "HTTP/1.1 429", "longer than");
    expect_status(sa,
                  "POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "zz\r\n\r\n",
                  "HTTP/1.1 400", "chunk");
    expect_status(sa, "GET / HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400", NULL);

    /* the tunnel: allowed name and port, loopback allowed explicitly */
    int fd = connect_unix(sa);
    _cleanup_free_ char *conn = xasprintf("CONNECT localhost:%u HTTP/1.1\r\n\r\nearly", echo.port);
    assert_int_equal(write(fd, conn, strlen(conn)), (ssize_t)strlen(conn));
    strbuf got = STRBUF_INIT;
    char buf[256];
    while (!strstr(strbuf_str(&got), "early")) {
        ssize_t n = read(fd, buf, sizeof(buf));
        assert_true(n > 0);
        strbuf_add(&got, buf, (size_t)n);
    }
    assert_non_null(strstr(got.buf, "HTTP/1.1 200 Connection Established\r\n\r\n"));
    assert_int_equal(write(fd, " late", 5), 5);
    while (!strstr(strbuf_str(&got), "early late")) {
        ssize_t n = read(fd, buf, sizeof(buf));
        assert_true(n > 0);
        strbuf_add(&got, buf, (size_t)n);
    }
    strbuf_release(&got);
    close(fd);
    pthread_join(echo.t, NULL);
    close(echo.lfd);

    /* group c: the same allow list without allow_private: localhost resolves to loopback */
    _cleanup_free_ char *to_echo = xasprintf("CONNECT localhost:%u HTTP/1.1\r\n\r\n", echo.port);
    expect_status(sc, to_echo, "HTTP/1.1 403", "resolves to a private, loopback or link-local");
    _cleanup_free_ char *plain_echo =
        xasprintf("GET http://localhost:%u/ HTTP/1.1\r\n\r\n", echo.port);
    expect_status(sc, plain_echo, "HTTP/1.1 403", "resolves to a private");

    /* group b: its own policy and limits, whatever the request claims */
    expect_status(sb, other_port, "HTTP/1.1 403", "not allowed");
    expect_status(sb, "GET /v1/messages HTTP/1.1\r\n\r\n", "HTTP/1.1 429", "max_requests_per_turn");
    proxy_begin_turn(p, "b", "run-b2");
    expect_status(sb, "GET /v1/messages HTTP/1.1\r\n\r\n", "HTTP/1.1 403", "method");

    /* group d: one connection at a time. Connections are accepted in order, so while the
     * first holds its slot (its head timeout is 30 s), the second is refused. */
    int hold = connect_unix(sd);
    assert_int_equal(write(hold, "GET", 3), 3);
    expect_status(sd, "GET /v1/messages HTTP/1.1\r\n\r\n", "HTTP/1.1 429", "max_connections");
    close(hold);
    /* group e: a head must come within 100 ms */
    int dribble = connect_unix(se);
    assert_int_equal(write(dribble, "GET", 3), 3);
    strbuf timed = STRBUF_INIT;
    read_until(dribble, &timed, "\r\n\r\n");
    assert_int_equal(strncmp(timed.buf, "HTTP/1.1 408", 12), 0);
    strbuf_release(&timed);
    close(dribble);

    close(slow);
    proxy_free(p); /* ends and joins every connection */

    /* the audit log: a line per request, the key nowhere */
    _cleanup_free_ char *audit_path = proxy_audit_path(cfg->data_dir);
    strbuf log = STRBUF_INIT;
    int afd = open(audit_path, O_RDONLY);
    assert_true(afd >= 0);
    ssize_t n;
    while ((n = read(afd, buf, sizeof(buf))) > 0)
        strbuf_add(&log, buf, (size_t)n);
    close(afd);
    assert_null(strstr(log.buf, "sk-live-secret"));
    assert_non_null(strstr(log.buf, "\"group\":\"b\",\"run_id\":\"run-b2\""));
    assert_non_null(strstr(log.buf, "\"kind\":\"connect\""));
    assert_non_null(strstr(log.buf, "\"status\":429"));
    strbuf_release(&log);
    config_free(cfg);
}

/* ---- forwarding to a fake Messages API over TLS (python3 and openssl, when installed) ---- */

extern char **environ;

/* Starts argv with its output discarded; -1 when the program cannot be run at all. */
static pid_t spawn(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return r == 0 ? pid : -1;
}

/* The exit status of argv; -1 when it cannot be run (not installed). */
static int run_wait(char *const argv[])
{
    pid_t pid = spawn(argv);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) != 127 ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    strbuf sb = STRBUF_INIT;
    int fd = open(path, O_RDONLY);
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        strbuf_add(&sb, buf, (size_t)n);
    if (fd >= 0)
        close(fd);
    return strbuf_detach(&sb, NULL);
}

/* Reads from fd into sb until it holds needle; fails after 60 s (a deadlock guard, not a
 * timing check: a proxy that buffered the whole response would never deliver it). */
static void read_until(int fd, strbuf *sb, const char *needle)
{
    char buf[4096];
    while (!strstr(strbuf_str(sb), needle)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 60000) != 1)
            fail_msg("no '%s' from the proxy; got: %s", needle, strbuf_str(sb));
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            fail_msg("the proxy closed before '%s'; got: %s", needle, strbuf_str(sb));
        strbuf_add(sb, buf, (size_t)n);
    }
}

static void test_forward_stream(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = xasprintf("%s/fwd", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    _cleanup_free_ char *crt = xasprintf("%s/tls.crt", dir), *key = xasprintf("%s/tls.key", dir);
    char *ossl[] = {"openssl",  "req",
                    "-x509",    "-newkey",
                    "rsa:2048", "-nodes",
                    "-keyout",  key,
                    "-out",     crt,
                    "-days",    "1",
                    "-subj",    "/CN=localhost",
                    "-addext",  "subjectAltName=IP:127.0.0.1",
                    NULL};
    int rc = run_wait(ossl);
    if (rc < 0)
        skip(); /* openssl missing: scripts/install-deps.sh installs it for make test */
    assert_int_equal(rc, 0);
    _cleanup_free_ char *keyfile = write_key("fwd-key", "sk-stream-secret\n", 0600);
    _cleanup_free_ char *portf = xasprintf("%s/port", dir), *log = xasprintf("%s/api.log", dir);
    const char *root = getenv("NANOCELL_SRCDIR");
    _cleanup_free_ char *fake =
        xasprintf("%s/tests/support/fake_messages_api.py", root ? root : ".");
    char *py[] = {"python3", fake,          "--cert", crt,     "--key", key, "--api-key-file",
                  keyfile,   "--port-file", portf,    "--log", log,     NULL};
    pid_t fpid = spawn(py);
    if (fpid < 0)
        skip();
    _cleanup_free_ char *port = NULL;
    for (int i = 0; i < 300 && !(port && *port); i++) {
        free(port);
        port = slurp(portf);
        if (!*port)
            usleep(100 * 1000);
    }
    assert_true(*port);
    port[strcspn(port, "\n")] = '\0';
    _cleanup_free_ char *policy = xasprintf("%s/egress.toml", dir);
    _cleanup_free_ char *ptext =
        xasprintf("[model]\nupstreams = [\"https://127.0.0.1:%s\"]\nmethods = [\"POST\"]\n"
                  "paths = [\"/v1/messages\"]\n",
                  port);
    free(write_key("fwd/egress.toml", ptext, 0600));
    _cleanup_free_ char *text = xasprintf(
        "[install]\ndata_dir = \"%s/data\"\n[proxy]\nupstream = \"https://127.0.0.1:%s\"\n"
        "api_key_file = \"%s\"\nca_file = \"%s\"\npolicy = \"%s\"\n",
        dir, port, keyfile, crt, policy);
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    proxy *p = NULL;
    const char *sock = NULL;
    if (config_parse(text, strlen(text), "t.toml", &cfg, &err) < 0 ||
        config_resolve(cfg, &err) < 0 || proxy_new(cfg, &p, &err) < 0 ||
        proxy_add_group(p, cfg, "s", &sock, &err) < 0)
        fail_msg("%s", nc_error_msg(err));

    /* A streamed reply: its first event arrives while the fake still holds the rest back. */
    _cleanup_free_ char *gate = xasprintf("%s/gate", dir);
    const char *body = "{\"model\":\"m\",\"max_tokens\":8,\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    _cleanup_free_ char *req = xasprintf(
        "POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "X-Api-Key: agent-made-up\r\nAuthorization: Bearer agent-token\r\n"
        "Proxy-Authorization: Basic eA==\r\nanthropic-version: 2023-06-01\r\n"
        "x-test-gate: %s\r\nContent-Length: %zu\r\n\r\n%s",
        gate, strlen(body), body);
    int fd = connect_unix(sock);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    strbuf got = STRBUF_INIT;
    read_until(fd, &got, "event: message_start");
    assert_int_equal(strncmp(got.buf, "HTTP/1.1 200", 12), 0);
    assert_non_null(strstr(got.buf, "text/event-stream"));
    assert_null(strstr(got.buf, "message_stop"));
    free(write_key("fwd/gate", "", 0600));
    read_until(fd, &got, "event: message_stop");
    close(fd);
    strbuf_release(&got);

    /* An error from upstream comes through as it is. */
    _cleanup_free_ char *bad =
        xasprintf("POST /v1/messages/count_tokens HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    char *resp = exchange(sock, bad);
    assert_non_null(strstr(resp, "\"input_tokens\": 42"));
    free(resp);

    proxy_free(p);
    config_free(cfg);
    kill(fpid, SIGTERM);
    waitpid(fpid, NULL, 0);

    /* The fake saw the configured key, and nothing the agent sent to stand for one. */
    _cleanup_free_ char *seen = slurp(log);
    assert_non_null(strstr(seen, "\"x-api-key\": \"sk-stream-secret\""));
    assert_null(strstr(seen, "agent-made-up"));
    assert_null(strstr(seen, "authorization"));
    assert_null(strstr(seen, "agent-token"));
    assert_non_null(strstr(seen, "\"anthropic-version\": \"2023-06-01\""));
    assert_non_null(strstr(seen, "\"content-length\": \"2\""));
    assert_null(strstr(seen, "transfer-encoding"));
    _cleanup_free_ char *audit_path = xasprintf("%s/data/proxy/audit.log", dir);
    _cleanup_free_ char *audit = slurp(audit_path);
    assert_null(strstr(audit, "sk-stream-secret"));
    assert_non_null(strstr(audit, "\"kind\":\"model\""));
}

int main(void)
{
    /* As nanocell run and serve do: a peer that closed first is EPIPE, not a signal (the
     * proxy refuses a busy group's connection before reading it). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),       cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_header_stripping),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_chunked),           cmocka_unit_test(test_hostport_patterns),
        cmocka_unit_test(test_policy_decisions),  cmocka_unit_test(test_policy_files),
        cmocka_unit_test(test_private_addresses), cmocka_unit_test(test_credential),
        cmocka_unit_test(test_config_keys),       cmocka_unit_test(test_audit_format),
        cmocka_unit_test(test_live_proxy),        cmocka_unit_test(test_forward_stream),
        cmocka_unit_test(test_audit_rotation),
    };
    return cmocka_run_group_tests_name("proxy", tests, setup, teardown);
}
