/* nanocell run: one agent turn in a verified, hardened container. Results go to stdout as they
 * arrive; progress and warnings to stderr. Exit status: 0 success, 1 the agent failed (an error
 * result, a non-zero exit, OOM, a timeout with no result), 2 usage or configuration, 3 the
 * engine is unreachable or the sandbox could not be verified, 130/143 interrupted by
 * SIGINT/SIGTERM (the container is stopped and removed first). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/turn.h"
#include "cmd/cmd.h"
#include "cmd/commands.h"
#include "cmd/common.h"
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
    "  -t, --timeout S    stop the container when no result came for S seconds (\"5\", \"2m\")\n"
    "  -s, --session ID   continue a session the agent reported earlier\n"
    "  -j, --json         one JSON object per result on stdout, session updates included\n"
    "  -v, --verbose      also show the agent's stderr\n"
    "  -q, --quiet        no progress lines\n"
    "\n"
    "Exit status: 0 success, 1 the agent failed, 2 usage or configuration error, 3 engine\n"
    "unreachable or sandbox not verified, 130/143 interrupted (container removed first).\n";

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
};

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
    fflush(stdout);
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

static int parse_timeout(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    double secs = strtod(s, &end);
    if (!errno && end != s && !*end && secs > 0 && secs <= 7 * 24 * 3600) {
        *ms = (uint64_t)(secs * 1000);
        return *ms ? 0 : -1;
    }
    return parse_duration_ms(s, ms, NULL) == 0 && *ms ? 0 : -1;
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
    int o;
    while ((o = getopt_long(argc, argv, CMD_COMMON_SHORT "g:i:t:s:jvq", opts, NULL)) != -1) {
        int rc = cmd_option(o, &common, usage_text);
        if (rc >= 0)
            return rc;
        switch (rc == CMD_OPT_OTHER ? o : 0) {
        case 'g':
            group = optarg;
            break;
        case 'i':
            image = optarg;
            break;
        case 't':
            if (parse_timeout(optarg, &timeout_ms) < 0) {
                log_error("--timeout '%s': expected seconds (\"5\", \"0.5\") or a duration "
                          "(\"2m\")",
                          optarg);
                return EXIT_USAGE;
            }
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
    if (optind >= argc) {
        log_error("no prompt: nanocell run [options] -- PROMPT");
        return EXIT_USAGE;
    }
    _cleanup_free_ char *prompt = NULL;
    if (optind == argc - 1 && strcmp(argv[optind], "-") == 0) {
        prompt = read_prompt_stdin();
        if (!prompt) {
            log_error("the prompt on stdin is larger than %d bytes", RUN_MAX_STDIN_PROMPT);
            return EXIT_USAGE;
        }
    } else {
        strbuf sb = STRBUF_INIT;
        for (int i = optind; i < argc; i++)
            strbuf_addf(&sb, "%s%s", i > optind ? " " : "", argv[i]);
        prompt = strbuf_detach(&sb, NULL);
    }
    if (!config_valid_group_name(group)) {
        log_error("invalid group name '%s': 1-64 letters, digits, - or _, and not 'global'", group);
        return EXIT_USAGE;
    }
    _cleanup_config_ nc_config *cfg = NULL;
    _cleanup_engine_ engine *e = NULL;
    int rc = cmd_connect(&common, &cfg, &e);
    if (rc)
        return rc;
    if (!ui.quiet)
        log_info("engine %s %s (API 1.%d) at %s", engine_kind_name(e->kind), e->version,
                 e->api_minor, e->ep.uri);

    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("pipe: %s", strerror(errno));
        return EXIT_ENGINE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    turn_request req = {
        .cfg = cfg,
        .e = e,
        .group = group,
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
    if (res.status != TURN_OK)
        log_error("%s", res.message ? res.message : "the turn failed");
    if (res.log_path && !ui.quiet)
        log_info("run log: %s", res.log_path);
    rc = exit_status(res.status);
    turn_result_release(&res);
    return rc;
}
