/* src/config.c: defaults, config.example.toml (must parse to exactly the defaults and name
 * every key), errors with file:line:column, groups, the search order and install id. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util/fileutil.h"
#include "util/toml.h"
#include "util/xalloc.h"

static nc_config *parse_ok(const char *text)
{
    nc_config *c = NULL;
    nc_error *err = NULL;
    if (config_parse(text, strlen(text), "t.toml", &c, &err) < 0)
        fail_msg("parse: %s", nc_error_msg(err));
    return c;
}

static void parse_fails(const char *text, const char *want)
{
    nc_config *c = NULL;
    nc_error *err = NULL;
    assert_true(config_parse(text, strlen(text), "t.toml", &c, &err) < 0);
    assert_null(c);
    if (strcmp(err->msg, want) != 0)
        fail_msg("config error:\n got  '%s'\n want '%s'", err->msg, want);
    nc_error_free(err);
}

static void test_defaults(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *c = config_defaults();
    assert_string_equal(c->engine_host, "");
    assert_int_equal(c->engine_connect_timeout_ms, 5000);
    assert_int_equal(c->engine_request_timeout_ms, 30000);
    assert_int_equal(c->engine_max_response, 8u * 1024 * 1024);
    assert_string_equal(c->install_id, "");
    assert_int_equal(c->ngroups, 0);
    assert_null(c->path);
    const sandbox_settings *s = &c->sandbox;
    assert_true(s->read_only_rootfs);
    assert_true(s->no_new_privileges);
    assert_null(s->cap_add);
    assert_string_equal(s->network, "none");
    assert_int_equal(s->memory, 512u * 1024 * 1024);
    assert_int_equal(s->pids_limit, 256);
    assert_int_equal(s->nano_cpus, 1000000000);
    assert_int_equal(s->nofile, 1024);
    assert_int_equal(s->nproc, 512);
    assert_string_equal(s->user, "1000:1000");
    assert_int_equal(s->tmp_size, 64u * 1024 * 1024);
    assert_string_equal(s->seccomp_profile, "");
    assert_true(s->init);
    assert_null(s->mounts);
    assert_string_equal(s->on_rejected_mount, "refuse");
    strbuf loose = STRBUF_INIT;
    assert_int_equal(sandbox_settings_loosened(s, s, &loose), 0);
    strbuf_release(&loose);
}

static void test_group_overrides(void **state)
{
    (void)state;
    /* The global [sandbox] comes after the groups: they still start from it. */
    _cleanup_config_ nc_config *c = parse_ok("[[group]]\nname = \"big\"\n"
                                             "[group.sandbox]\nmemory = \"2g\"\ncpus = \"0.25\"\n"
                                             "cap_add = [\"net_bind_service\"]\n"
                                             "[[group]]\nname = \"plain\"\nsandbox.nofile = 64\n"
                                             "[sandbox]\npids_limit = 64\nnetwork = \"bridge\"\n");
    const sandbox_settings *big = config_sandbox(c, "big");
    const sandbox_settings *plain = config_sandbox(c, "plain");
    const sandbox_settings *other = config_sandbox(c, "unlisted");
    assert_int_equal(big->memory, 2ull * 1024 * 1024 * 1024);
    assert_int_equal(big->nano_cpus, 250000000);
    assert_string_equal(big->cap_add[0], "net_bind_service");
    assert_int_equal(big->pids_limit, 64);
    assert_string_equal(big->network, "bridge");
    assert_int_equal(plain->memory, 512u * 1024 * 1024);
    assert_int_equal(plain->pids_limit, 64);
    assert_int_equal(plain->nofile, 64);
    assert_int_equal(big->nofile, 1024);
    assert_ptr_equal(other, &c->sandbox);
    _cleanup_config_ nc_config *d = config_defaults();
    strbuf loose = STRBUF_INIT;
    assert_int_equal(sandbox_settings_loosened(big, &d->sandbox, &loose), 3);
    assert_non_null(strstr(loose.buf, "cap_add 'net_bind_service'"));
    assert_non_null(strstr(loose.buf, "network 'bridge'"));
    assert_non_null(strstr(loose.buf, "memory raised"));
    strbuf_release(&loose);
}

/* The example documents every key with its default: it must parse to exactly the defaults,
 * and every key of the schema must be set in it (uncommented). */
static void test_example_is_the_defaults(void **state)
{
    (void)state;
    const char *root = getenv("NANOCELL_ROOT");
    _cleanup_free_ char *path = xasprintf("%s/config.example.toml", root ? root : ".");
    _cleanup_strbuf_ strbuf text = STRBUF_INIT;
    nc_error *err = NULL;
    if (read_file(path, 1 << 20, &text, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    _cleanup_config_ nc_config *c = NULL;
    if (config_parse(text.buf, text.len, path, &c, &err) < 0)
        fail_msg("%s", nc_error_msg(err));
    _cleanup_config_ nc_config *d = config_defaults();
    _cleanup_free_ char *diff = config_diff(c, d);
    if (diff)
        fail_msg("config.example.toml differs from the built-in defaults: %s", diff);
    _cleanup_(toml_freep) toml_node *tree = NULL;
    assert_int_equal(toml_parse(text.buf, text.len, path, &tree, NULL), 0);
    for (const char *const *k = config_key_names(); *k; k++) {
        _cleanup_free_ char *name = xstrdup(*k);
        const toml_node *n = tree;
        for (char *part = name, *dot; n && part; part = dot) {
            dot = strchr(part, '.');
            if (dot)
                *dot++ = '\0';
            n = toml_get(n, part);
        }
        if (!n)
            fail_msg("config.example.toml does not document key '%s'", *k);
    }
}

static void test_values(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *c = parse_ok("[install]\nid = \"team-a\"\ndata_dir = \"/srv/nc\"\n"
                                             "[engine]\nhost = \"unix:///run/x.sock\"\n"
                                             "request_timeout = \"2m\"\nmax_response_size = 65536\n"
                                             "connect_timeout = \"250ms\"\n"
                                             "[[group]]\nname = \"main\"\nmain = true\n"
                                             "[[group]]\nname = \"family_chat-1\"\n");
    assert_string_equal(c->install_id, "team-a");
    assert_string_equal(c->data_dir, "/srv/nc");
    assert_string_equal(c->engine_host, "unix:///run/x.sock");
    assert_int_equal(c->engine_request_timeout_ms, 120000);
    assert_int_equal(c->engine_connect_timeout_ms, 250);
    assert_int_equal(c->engine_max_response, 65536);
    assert_int_equal(c->ngroups, 2);
    assert_true(config_group(c, "main")->main);
    assert_false(config_group(c, "family_chat-1")->main);
    assert_null(config_group(c, "other"));
    assert_string_equal(c->path, "t.toml");
    /* Dotted keys mean the same as tables. */
    _cleanup_config_ nc_config *d = parse_ok("engine.request_timeout = \"2m\"\n");
    assert_int_equal(d->engine_request_timeout_ms, 120000);
}

static void test_errors(void **state)
{
    (void)state;
    parse_fails("[engine]\nrequest_timout = \"5s\"\n",
                "t.toml:2:18: key 'engine.request_timout': unknown key");
    parse_fails("[engin]\nhost = \"\"\n", "t.toml:1:1: key 'engin': unknown table");
    /* An empty table is a typo too, at the root and below a known table. */
    parse_fails("[typo]\n", "t.toml:1:1: key 'typo': unknown table");
    parse_fails("[sandbox.nested]\n", "t.toml:1:1: key 'sandbox.nested': unknown table");
    parse_fails("engin.host = \"\"\n", "t.toml:1:1: key 'engin': unknown table");
    parse_fails("[engine]\nrequest_timeout = true\n",
                "t.toml:2:19: key 'engine.request_timeout': expected a duration such as \"30s\", "
                "\"5m\" or 60 (seconds)");
    parse_fails("[engine]\nrequest_timeout = \"2d\"\n",
                "t.toml:2:19: key 'engine.request_timeout': invalid duration '2d': unknown unit "
                "'d'");
    parse_fails("[engine]\nrequest_timeout = \"50ms\"\n",
                "t.toml:2:19: key 'engine.request_timeout': must be between 100ms and 1h");
    parse_fails("[engine]\nmax_response_size = \"1k\"\n",
                "t.toml:2:21: key 'engine.max_response_size': must be between 64k and 1g");
    parse_fails("[engine]\nhost = \"ssh://u@1.2.3.4\"\n",
                "t.toml:2:8: key 'engine.host': engine address 'ssh://u@1.2.3.4': ssh engines "
                "are not supported, since nanocell never runs other programs; forward the remote "
                "socket with 'ssh -N -L /tmp/engine.sock:/var/run/docker.sock host' and use "
                "unix:///tmp/engine.sock (README: remote engines)");
    parse_fails("[engine]\nhost = \"tcp://1.2.3.4:2375/base\"\n",
                "t.toml:2:8: key 'engine.host': engine address 'tcp://1.2.3.4:2375/base': a base "
                "path after a tcp address is not supported");
    parse_fails("[engine]\ntls_ca = \"ca.pem\"\n",
                "t.toml:2:10: key 'engine.tls_ca': 'ca.pem' must be an absolute path");
    parse_fails("[engine]\ntls_server_name = \"a/b\"\n",
                "t.toml:2:19: key 'engine.tls_server_name': 'a/b' is not a host name or address");
    parse_fails("[engine]\nhost = true\n",
                "t.toml:2:8: key 'engine.host': expected a string, got boolean");
    parse_fails("[install]\nid = \"a b\"\n",
                "t.toml:2:6: key 'install.id': install id 'a b' may only hold letters, digits, - "
                "and _");
    parse_fails("[install]\ndata_dir = \"rel/dir\"\n",
                "t.toml:2:12: key 'install.data_dir': 'rel/dir' must be an absolute path");
    parse_fails("[sandbox]\nuser = \"1000\"\n",
                "t.toml:2:8: key 'sandbox.user': user '1000' must be numeric \"uid:gid\", e.g. "
                "\"1000:1000\"");
    parse_fails("[sandbox]\nuser = \"app:app\"\n",
                "t.toml:2:8: key 'sandbox.user': user 'app:app' must be numeric \"uid:gid\", "
                "e.g. \"1000:1000\"");
    parse_fails("[[group]]\nmain = true\n", "t.toml:1:1: [[group]] needs a name");
    parse_fails("[[group]]\nname = \"Global\"\n",
                "t.toml:2:8: key 'group.name': a group name is 1-64 letters, digits, - or _, "
                "starting with a letter or digit, and not 'global'");
    parse_fails("[[group]]\nname = \"a\"\n[[group]]\nname = \"a\"\n",
                "t.toml:3:1: group 'a' is defined twice");
    parse_fails("[[group]]\nname = \"a\"\nmemroy = \"1g\"\n",
                "t.toml:3:10: key 'memroy': unknown key in [[group]]");
    parse_fails("group = \"x\"\n",
                "t.toml:1:9: key 'group': groups are written as [[group]] tables");
}

/* agent.home (a tmpfs) and agent.state_dir (a bind) are mount targets: each must be a normal
 * absolute path a mount can carry, and neither may cover or sit in nanocell's other mounts. */
/* [[engines]] for serve, and a group's engine_labels. */
static void test_engines(void **state)
{
    (void)state;
    nc_config *c = parse_ok("[[engines]]\nhost = \"unix:///var/run/docker.sock\"\n"
                            "max_containers = 3\nlabels = [\"local\", \"gpu=yes\"]\n"
                            "[[engines]]\nhost = \"tcp://10.0.0.2:2376\"\n"
                            "tls_ca = \"/etc/nc/ca.pem\"\ntls_server_name = \"e2\"\n"
                            "[[group]]\nname = \"g\"\nengine_labels = [\"gpu=yes\"]\n");
    assert_int_equal(c->nengines, 2);
    assert_string_equal(c->engines[0].host, "unix:///var/run/docker.sock");
    assert_int_equal(c->engines[0].max_containers, 3);
    assert_string_equal(c->engines[0].labels[1], "gpu=yes");
    assert_null(c->engines[0].labels[2]);
    assert_string_equal(c->engines[1].tls_ca, "/etc/nc/ca.pem");
    assert_string_equal(c->engines[1].tls_server_name, "e2");
    assert_int_equal(c->engines[1].max_containers, 0);
    assert_string_equal(config_group(c, "g")->engine_labels[0], "gpu=yes");
    config_free(c);
    c = parse_ok("");
    assert_int_equal(c->nengines, 0);
    config_free(c);

    parse_fails("[[engines]]\nmax_containers = 1\n", "t.toml:1:1: [[engines]] needs a host");
    parse_fails("[engines]\nhost = \"unix:///s\"\n",
                "t.toml:1:1: key 'engines': engines are written as [[engines]] tables");
    parse_fails("[[engines]]\nhost = \"ssh://h\"\n",
                "t.toml:2:8: key 'engines.host': engine address 'ssh://h': ssh engines are not "
                "supported, since nanocell never runs other programs; forward the remote socket "
                "with 'ssh -N -L /tmp/engine.sock:/var/run/docker.sock host' and use "
                "unix:///tmp/engine.sock (README: remote engines)");
    parse_fails("[[engines]]\nhost = \"unix:///s\"\n[[engines]]\nhost = \"unix:///s\"\n",
                "t.toml:3:1: engine 'unix:///s' is listed twice");
    parse_fails("[[engines]]\nhost = \"unix:///s\"\nmax_containers = -1\n",
                "t.toml:3:18: key 'engines.max_containers': expected an integer from 0 to 4096");
    parse_fails("[[engines]]\nhost = \"unix:///s\"\ntls_key = \"k.pem\"\n",
                "t.toml:3:11: key 'engines.tls_key': must be an absolute path");
    parse_fails("[[engines]]\nhost = \"unix:///s\"\nlabels = [\"a b\"]\n",
                "t.toml:3:11: key 'engines.labels': a label is 1-63 letters, digits, '-', '_', "
                "'.' or '='");
    parse_fails("[[engines]]\nhost = \"unix:///s\"\nhots = 1\n",
                "t.toml:3:8: key 'hots': unknown key in [[engines]]");
    parse_fails("[[group]]\nname = \"g\"\nengine_labels = \"gpu\"\n",
                "t.toml:3:17: key 'group.engine_labels': expected an array of strings");
}

static void test_agent_dirs(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *d = config_defaults();
    assert_string_equal(d->agent_home, "/home/agent");
    assert_string_equal(d->agent_state_dir, "/home/agent/.claude");
    /* NanoClaw's image, and a state dir outside HOME. */
    _cleanup_config_ nc_config *n =
        parse_ok("[agent]\nhome = \"/home/node\"\nstate_dir = \"/home/node/.claude\"\n");
    assert_string_equal(n->agent_home, "/home/node");
    assert_string_equal(n->agent_state_dir, "/home/node/.claude");
    _cleanup_config_ nc_config *w = parse_ok("[agent]\nstate_dir = \"/workspace/state\"\n");
    assert_string_equal(w->agent_state_dir, "/workspace/state");
    parse_fails("[agent]\nhome = \"home\"\n",
                "t.toml:2:8: key 'agent.home': 'home' must be an absolute path other than '/'");
    parse_fails("[agent]\nhome = \"/\"\n",
                "t.toml:2:8: key 'agent.home': '/' must be an absolute path other than '/'");
    parse_fails("[agent]\nstate_dir = \"/home/a/../b\"\n",
                "t.toml:2:13: key 'agent.state_dir': '/home/a/../b' must be a normal path (no "
                "'//', '.' or '..')");
    parse_fails("[agent]\nstate_dir = \"/home/a/\"\n",
                "t.toml:2:13: key 'agent.state_dir': '/home/a/' must be a normal path (no '//', "
                "'.' or '..')");
    parse_fails("[agent]\nhome = \"/home/a,ro\"\n",
                "t.toml:2:8: key 'agent.home': '/home/a,ro' holds a character a mount cannot "
                "carry");
    parse_fails("[agent]\nhome = \"/proc/x\"\n",
                "t.toml:2:8: key 'agent.home': '/proc/x' lies in /proc");
    /* HOME is never the workspace, nor over or inside nanocell's other mounts. */
    parse_fails("[agent]\nhome = \"/workspace/group\"\n",
                "t.toml: key 'agent.home': '/workspace/group' overlaps nanocell's mount "
                "'/workspace/group'");
    parse_fails("[agent]\nhome = \"/workspace\"\n",
                "t.toml: key 'agent.home': '/workspace' overlaps nanocell's mount "
                "'/workspace/group'");
    parse_fails("[agent]\nstate_dir = \"/workspace/global/s\"\n",
                "t.toml: key 'agent.state_dir': '/workspace/global/s' overlaps nanocell's mount "
                "'/workspace/global'");
    parse_fails("[agent]\nhome = \"/tmp\"\n",
                "t.toml: key 'agent.home': '/tmp' overlaps the tmpfs '/tmp'");
    parse_fails("[agent]\nstate_dir = \"/home/agent\"\n",
                "t.toml: key 'agent.state_dir': '/home/agent' is or contains agent.home "
                "'/home/agent': the state dir is mounted inside HOME (e.g. "
                "'/home/agent/.claude'), never over it");
    parse_fails("[agent]\nstate_dir = \"/home\"\n",
                "t.toml: key 'agent.state_dir': '/home' is or contains agent.home '/home/agent': "
                "the state dir is mounted inside HOME (e.g. '/home/agent/.claude'), never over "
                "it");
}

/* Durations from the file: the forms the command line takes (a bare number is seconds, as a
 * string or an integer), and a range check on every one, so a huge value never wraps. */
static void test_durations(void **state)
{
    (void)state;
    _cleanup_config_ nc_config *c =
        parse_ok("[agent]\ntimeout = \"60\"\nidle_timeout = 90\n[engine]\nrequest_timeout = "
                 "\"0.5\"\nconnect_timeout = \"1.5s\"\n");
    assert_int_equal(c->agent_timeout_ms, 60000);
    assert_int_equal(c->agent_idle_timeout_ms, 90000);
    assert_int_equal(c->engine_request_timeout_ms, 500);
    assert_int_equal(c->engine_connect_timeout_ms, 1500);
    _cleanup_config_ nc_config *d = parse_ok("[agent]\ntimeout = \"2m\"\nidle_timeout = \"1h\"\n");
    assert_int_equal(d->agent_timeout_ms, 120000);
    assert_int_equal(d->agent_idle_timeout_ms, 3600000);

    parse_fails("[agent]\ntimeout = \"18446744073709551615ms\"\n",
                "t.toml:2:11: key 'agent.timeout': invalid duration '18446744073709551615ms': "
                "more than 30 days");
    parse_fails("[agent]\ntimeout = 18446744073709551\n",
                "t.toml:2:11: key 'agent.timeout': 18446744073709551 seconds is more than 30 days");
    parse_fails("[agent]\ntimeout = 2592001\n",
                "t.toml:2:11: key 'agent.timeout': 2592001 seconds is more than 30 days");
    parse_fails("[agent]\nidle_timeout = -5\n",
                "t.toml:2:16: key 'agent.idle_timeout': a duration must not be negative");
    parse_fails("[agent]\ntimeout = \"200h\"\n",
                "t.toml:2:11: key 'agent.timeout': must be between 1s and 168h");
    parse_fails("[agent]\ntimeout = 0\n",
                "t.toml:2:11: key 'agent.timeout': must be between 1s and 168h");
    parse_fails("[engine]\nconnect_timeout = \"0.0001\"\n",
                "t.toml:2:19: key 'engine.connect_timeout': invalid duration '0.0001': finer "
                "than a millisecond");
    parse_fails("[engine]\nrequest_timeout = \"2d\"\n",
                "t.toml:2:19: key 'engine.request_timeout': invalid duration '2d': unknown unit "
                "'d'");
}

static void test_group_names(void **state)
{
    (void)state;
    assert_true(config_valid_group_name("main"));
    assert_true(config_valid_group_name("whatsapp_family-chat"));
    assert_true(config_valid_group_name("0"));
    assert_false(config_valid_group_name(""));
    assert_false(config_valid_group_name("-x"));
    assert_false(config_valid_group_name("_x"));
    assert_false(config_valid_group_name("a/b"));
    assert_false(config_valid_group_name(".."));
    assert_false(config_valid_group_name("GLOBAL"));
    char n[70];
    memset(n, 'a', 65);
    n[65] = '\0';
    assert_false(config_valid_group_name(n));
    n[64] = '\0';
    assert_true(config_valid_group_name(n));
}

static void test_search_order_and_install_id(void **state)
{
    (void)state;
    char dir[] = "/tmp/nanocell-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *xdg = xasprintf("%s/xdg", dir);
    _cleanup_free_ char *cfgdir = xasprintf("%s/xdg/nanocell", dir);
    _cleanup_free_ char *cfg = xasprintf("%s/config.toml", cfgdir);
    _cleanup_free_ char *data = xasprintf("%s/data", dir);
    assert_int_equal(mkdir_p(cfgdir, 0700, NULL), 0);
    _cleanup_free_ char *text = xasprintf("[install]\ndata_dir = \"%s\"\n", data);
    assert_int_equal(write_file_atomic(cfg, text, strlen(text), 0600, NULL), 0);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    unsetenv("NANOCELL_CONFIG");
    nc_config *c = NULL;
    nc_error *err = NULL;
    assert_int_equal(config_load(NULL, &c, &err), 0);
    assert_string_equal(c->path, cfg);
    assert_int_equal(config_resolve(c, &err), 0);
    assert_int_equal(strlen(c->install_id), 12);
    _cleanup_free_ char *first = xstrdup(c->install_id);
    config_free(c);
    /* The id is kept: the next load finds the same. */
    assert_int_equal(config_load(NULL, &c, &err), 0);
    assert_int_equal(config_resolve(c, &err), 0);
    assert_string_equal(c->install_id, first);
    config_free(c);
    /* An explicit path that does not exist is an error, never a silent fallback. */
    setenv("NANOCELL_CONFIG", "/nonexistent/nanocell.toml", 1);
    assert_int_equal(config_load(NULL, &c, &err), -ENOENT);
    assert_non_null(strstr(err->msg, "/nonexistent/nanocell.toml"));
    nc_error_free(err);
    err = NULL;
    assert_int_equal(config_load("/nonexistent/x.toml", &c, &err), -ENOENT);
    nc_error_free(err);
    unsetenv("NANOCELL_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_example_is_the_defaults),
        cmocka_unit_test(test_values),          cmocka_unit_test(test_durations),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_engines),
        cmocka_unit_test(test_agent_dirs),      cmocka_unit_test(test_group_names),
        cmocka_unit_test(test_group_overrides), cmocka_unit_test(test_search_order_and_install_id),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
