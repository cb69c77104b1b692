/* nanocell run: one agent turn in a verified, hardened container. Results go to stdout as they
 * arrive; progress and warnings to stderr, and at the end the session id. With --json, a
 * failure also ends stdout with one {"type":"error","error":...,"exit":N} object. Exit
 * status: 0 success, 1 the agent failed (an error result, a non-zero exit, OOM, a timeout with
 * no result), 2 usage or configuration, 3 the engine is unreachable or the sandbox could not be
 * verified, 128+N when signal N (SIGHUP, SIGINT, SIGTERM) interrupted it, and 141 (SIGPIPE's)
 * when stdout was closed under it (`nanocell run ... | head -1`); in those cases the container
 * is stopped and removed first. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/turn.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
#include "proxy/proxy.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/termsafe.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A prompt read from stdin ("-") is bounded like a result. */
#define RUN_MAX_STDIN_PROMPT (1024 * 1024)

static const char usage_text[] =
    "usage: nanocell run [-c|--config FILE] [-H|--host URI] [-g|--group G] [-i|--image IMAGE]\n"
    "                    [-t|--timeout S] [-s|--session ID] [-j|--json] [-v|--verbose]\n"
    "                    [-q|--quiet] -- PROMPT\n"
    "\n"
    "Runs one agent turn in a hardened container that nanocell verifies before the prompt\n"
    "reaches it, and prints the agent's results as they arrive. PROMPT '-' reads it from stdin.\n"
    "\n"
    "  -g, --group G      the group (default \"default\": an ordinary group, not the main\n"
    "                     group); its folders live under the data dir\n"
    "  -i, --image IMAGE  the agent image (default: agent.image)\n"
    "  -t, --timeout S    with no new result for S seconds, stop the container (then kill\n"
    "                     it) and end the turn as timed out; S is seconds (\"5\", \"0.5\") or\n"
    "                     a duration (\"500ms\", \"2m\", \"1h\"), at most 30 days. Without it:\n"
    "                     agent.timeout, at least agent.idle_timeout + 30s\n"
    "  -s, --session ID   continue a session the agent reported earlier (the last one is\n"
    "                     printed at the end, \"nanocell: session: ID\", or is --json's\n"
    "                     newSessionId)\n"
    "  -j, --json         one JSON object per result on stdout, session updates included; a\n"
    "                     failure adds {\"type\":\"error\",\"error\":\"...\",\"exit\":N} as the\n"
    "                     last line\n"
    "  -v, --verbose      also show the agent's stderr\n"
    "  -q, --quiet        no progress lines and no session line\n"
    "\n"
    "The turn lasts until the agent exits. run tells it to finish (the _close file) when it\n"
    "reports its query complete and, without --timeout, once it has been quiet (no output, no\n"
    "IPC files) for agent.quiet_close (10s) after a result. With --timeout S nothing closes\n"
    "the agent before S seconds without a result. Each close is shown as a progress line and\n"
    "kept in the run log.\n"
    "\n"
    "Exit status: 0 success, 1 the agent failed, 2 usage or configuration error, 3 engine\n"
    "unreachable or sandbox not verified, 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM,\n"
    "141 stdout was closed (the container is stopped and removed first in these cases).\n";

static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    int saved = errno;
    got_signal = sig;
    ssize_t ignored = write(signal_pipe[1], "x", 1);
    (void)ignored;
    errno = saved;
}

struct run_ui {
    bool json;
    bool verbose;
    bool quiet;
    bool stdout_closed; /* a write to stdout failed with EPIPE */
};

/* After each write to stdout: when the reader is gone (EPIPE), the turn is stopped as a
 * signal stops it, and ends with SIGPIPE's status. Other write errors are reported once. */
static void check_stdout(struct run_ui *ui)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return;
    int e = errno;
    clearerr(stdout);
    if (ui->stdout_closed)
        return;
    if (e != EPIPE) {
        log_warn("cannot write a result to stdout: %s", strerror(e));
        return;
    }
    ui->stdout_closed = true;
    log_warn("stdout was closed (EPIPE): stopping the turn");
    if (!got_signal)
        got_signal = SIGPIPE;
    ssize_t ignored = write(signal_pipe[1], "x", 1);
    (void)ignored;
}

/* With --json, a failure is also the last line on stdout: {"type":"error","error":msg,
 * "exit":code}. The result objects before it have no "type". */
static void json_error(struct run_ui *ui, int code, const char *msg)
{
    if (!ui->json || ui->stdout_closed)
        return;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_str(g, "type", "error");
    jgen_kv_str(g, "error", msg);
    jgen_kv_int(g, "exit", code);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf out = STRBUF_INIT;
    if (jgen_finish(g, &out, NULL) == 0)
        printf("%s\n", out.buf);
    check_stdout(ui);
}

/* Logs an error, reports it on stdout too with --json, and returns code. */
static int fail(struct run_ui *ui, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct run_ui *ui, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    log_error("%s", msg);
    json_error(ui, code, msg);
    return code;
}

static void print_result(const agent_result *r, void *userdata)
{
    struct run_ui *ui = userdata;
    if (ui->json) {
        _cleanup_jgen_ nc_jgen *g = jgen_new();
        jgen_obj_open(g);
        jgen_kv_str(g, "status", r->success ? "success" : "error");
        jgen_key(g, "result");
        if (r->result)
            jgen_str(g, r->result);
        else
            jgen_null(g);
        if (r->session)
            jgen_kv_str(g, "newSessionId", r->session);
        if (r->error)
            jgen_kv_str(g, "error", r->error);
        jgen_obj_close(g);
        _cleanup_strbuf_ strbuf out = STRBUF_INIT;
        if (jgen_finish(g, &out, NULL) == 0)
            printf("%s\n", out.buf);
    } else if (!r->success) {
        log_error("agent error: %s", r->error ? r->error : r->result ? r->result : "(no text)");
    } else if (r->result) {
        /* The agent's text, for a person: made safe for the terminal like every log line. */
        _cleanup_free_ char *text = termsafe_cstr(r->result, TERMSAFE_TEXT);
        log_passthrough_end();
        fputs(text, stdout);
        if (!*text || text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
    }
    check_stdout(ui);
}

static void print_progress(const char *msg, void *userdata)
{
    struct run_ui *ui = userdata;
    if (!ui->quiet)
        log_info("%s", msg);
}

static void print_warning(const char *msg, void *userdata)
{
    (void)userdata;
    log_warn("%s", msg);
}

static void print_stderr(const char *data, size_t len, void *userdata)
{
    struct run_ui *ui = userdata;
    if (ui->verbose)
        log_passthrough(data, len);
}

/* --timeout: a duration as the config takes it (a bare number is seconds), above zero. */
static char *parse_timeout(const char *s, uint64_t *ms)
{
    _cleanup_error_ nc_error *err = NULL;
    if (parse_duration_ms(s, ms, &err) < 0 && err->code == ERANGE)
        return xasprintf("--timeout: %s, the longest a turn may be given", nc_error_msg(err));
    if (err)
        return xasprintf("--timeout: %s; expected seconds (\"5\", \"0.5\") or a duration "
                         "(\"500ms\", \"2m\", \"1h\")",
                         nc_error_msg(err));
    if (*ms == 0)
        return xasprintf("--timeout '%s': must be more than 0", s);
    return NULL;
}

/* The session id as the agent sent it, with anything that could drive a terminal shown as
 * '?'. */
static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    default:
        return "a signal";
    }
}

static char *read_prompt_stdin(void)
{
    _cleanup_strbuf_ strbuf sb = STRBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        if (sb.len + n > RUN_MAX_STDIN_PROMPT)
            return NULL;
        strbuf_add(&sb, buf, n);
    }
    return strbuf_detach(&sb, NULL);
}

static int exit_status(turn_status s)
{
    switch (s) {
    case TURN_OK:
        return EXIT_OK;
    case TURN_AGENT_ERROR:
        return EXIT_AGENT_ERROR;
    case TURN_CONFIG:
        return EXIT_USAGE;
    case TURN_INTERRUPTED:
        return 128 + (got_signal ? (int)got_signal : SIGINT);
    case TURN_ENGINE:
    case TURN_SANDBOX:
    default:
        return EXIT_ENGINE;
    }
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {CMD_COMMON_OPTIONS,
                                         {"group", required_argument, NULL, 'g'},
                                         {"image", required_argument, NULL, 'i'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"session", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    cmd_common common = {0};
    const char *group = "default", *image = NULL, *session = NULL;
    uint64_t timeout_ms = 0;
    struct run_ui ui = {0};
    int o, usage_rc = 0;
    _cleanup_free_ char *timeout_error = NULL;
    /* The whole line is read before a usage error is reported, so that --json is known. */
    while ((o = getopt_long(argc, argv, CMD_COMMON_SHORT "g:i:t:s:jvq", opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc == EXIT_OK)
            return rc; /* --help */
        if (rc > 0) {
            usage_rc = rc;
            continue;
        }
        switch (rc == CMD_OPT_OTHER ? o : 0) {
        case 'g':
            group = optarg;
            break;
        case 'i':
            image = optarg;
            break;
        case 't':
            free(timeout_error);
            timeout_error = parse_timeout(optarg, &timeout_ms);
            break;
        case 's':
            session = optarg;
            break;
        case 'j':
            ui.json = true;
            break;
        case 'v':
            ui.verbose = true;
            break;
        case 'q':
            ui.quiet = true;
            break;
        default:
            break; /* a common option, already stored */
        }
    }
    if (usage_rc) {
        json_error(&ui, usage_rc, "invalid command line: see nanocell run --help");
        return usage_rc;
    }
    if (timeout_error)
        return fail(&ui, EXIT_USAGE, "%s", timeout_error);
    if (optind >= argc)
        return fail(&ui, EXIT_USAGE, "no prompt: nanocell run [options] -- PROMPT");
    _cleanup_free_ char *prompt = NULL;
    if (optind == argc - 1 && strcmp(argv[optind], "-") == 0) {
        prompt = read_prompt_stdin();
        if (!prompt)
            return fail(&ui, EXIT_USAGE, "the prompt on stdin is larger than %d bytes",
                        RUN_MAX_STDIN_PROMPT);
    } else {
        strbuf sb = STRBUF_INIT;
        for (int i = optind; i < argc; i++)
            strbuf_addf(&sb, "%s%s", i > optind ? " " : "", argv[i]);
        prompt = strbuf_detach(&sb, NULL);
    }
    if (!config_valid_group_name(group))
        return fail(&ui, EXIT_USAGE,
                    "invalid group name '%s': 1-64 letters, digits, - or _, and not 'global'",
                    group);
    _cleanup_config_ nc_config *cfg = NULL;
    _cleanup_engine_ engine *e = NULL;
    _cleanup_free_ char *connect_error = NULL;
    int rc = cmd_connect_msg(&common, &cfg, &e, &connect_error);
    if (rc) {
        json_error(&ui, rc, connect_error ? connect_error : "could not connect");
        return rc;
    }
    if (!ui.quiet)
        log_info("engine %s %s (API 1.%d) at %s", engine_kind_name(e->kind), e->version,
                 e->api_minor, e->ep.uri);

    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return fail(&ui, EXIT_ENGINE, "pipe: %s", strerror(errno));
    /* A closed terminal (SIGHUP) stops the turn like SIGINT and SIGTERM, so the container never
     * outlives its owner; a closed stdout shows as EPIPE (check_stdout), not as a signal. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* With a credential configured, the turn gets a proxy of its own (threads in this process)
     * and model mode; without one, no proxy runs and the agent has no route out at all. */
    _cleanup_(proxy_freep) proxy *px = NULL;
    const char *proxy_socket = NULL;
    _cleanup_free_ char *run_id = turn_make_run_id();
    if (proxy_settings_enabled(config_proxy(cfg, group))) {
        cmd_no_core_dumps();
        _cleanup_error_ nc_error *perr = NULL;
        if (proxy_new(cfg, &px, &perr) < 0 ||
            proxy_add_group(px, cfg, group, &proxy_socket, &perr) < 0)
            return fail(&ui, EXIT_USAGE, "%s", nc_error_msg(perr));
        proxy_begin_turn(px, group, run_id);
    }

    turn_request req = {
        .cfg = cfg,
        .e = e,
        .group = group,
        .run_id = run_id,
        .proxy_socket = proxy_socket,
        .prompt = prompt,
        .session_id = session,
        .image = image,
        .timeout_ms = timeout_ms,
        .close_when_idle = true,
        .cancel_fd = signal_pipe[0],
        .cb = {.on_result = print_result,
               .on_progress = print_progress,
               .on_warning = print_warning,
               .on_stderr = print_stderr,
               .userdata = &ui},
    };
    turn_result res;
    turn_run(&req, &res);
    log_passthrough_end();
    rc = exit_status(res.status);
    _cleanup_free_ char *msg = NULL;
    if (res.status == TURN_INTERRUPTED && got_signal == SIGPIPE)
        msg = xstrdup("stdout was closed: the container was stopped and removed");
    else if (res.status == TURN_INTERRUPTED)
        msg = xasprintf("interrupted by %s: the container was stopped and removed",
                        signal_name((int)got_signal));
    else if (res.status != TURN_OK)
        msg = xstrdup(res.message ? res.message : "the turn failed");
    if (msg)
        log_error("%s", msg);
    if (res.log_path && !ui.quiet)
        log_info("run log: %s", res.log_path);
    if (res.session_id && !ui.json && !ui.quiet) {
        log_info("session: %s", res.session_id); /* made safe by the logger */
    }
    if (msg)
        json_error(&ui, rc, msg);
    turn_result_release(&res);
    return rc;
}
