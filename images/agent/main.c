/* nanocell's reference agent: speaks NanoClaw's v1 agent protocol on stdin/stdout and through
 * files under $NANOCELL_WORKSPACE/ipc (README.md).
 *
 * `nanocell-agent relay` runs only the egress relay (egress.h).
 *
 * Flow: start the egress relay when the proxy socket is set, read all of stdin (the host verifies
 * the sandbox meanwhile), parse the input, fold in pending follow-ups, run the query (scripted, or
 * the model when NANOCELL_MODEL_SOCKET is set), emit the session-update marker, then wait on
 * ipc/input (inotify, at most IPC_POLL_MS) for follow-ups and
 * `_close` until the host closes the session.
 *
 * Exit status: 0 when the host closed the session (or there is no ipc/input), 1 when the input
 * could not be parsed or stdout is gone, C for a scripted `exit C`, 128+N on signal N. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "gate.h"
#include "egress.h"
#include "ipc.h"
#include "model.h"
#include "protocol.h"
#include "script.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define IPC_POLL_MS 250

static void on_signal(int sig)
{
    /* As PID 1 in its container the agent gets no default action for SIGTERM: end at once, so
     * `docker stop` does not have to wait for SIGKILL. */
    _exit(128 + sig);
}

static void setup_signals(void)
{
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL); /* a gone host shows as EPIPE on write */
    struct sigaction term = {.sa_handler = on_signal};
    sigemptyset(&term.sa_mask);
    sigaction(SIGTERM, &term, NULL);
    sigaction(SIGINT, &term, NULL);
    sigaction(SIGHUP, &term, NULL);
}

/* Runs one query and writes its result(s). Returns 0, SCRIPT_EXIT with *exit_code, or a negative
 * errno when stdout is gone. */
static int run_query(struct agent *a, const char *prompt, int *exit_code)
{
    if (!a->model)
        return script_run(a, prompt, exit_code);
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ nc_error *err = NULL;
    if (model_query(a->model, a, prompt, &text, &err) < 0)
        return proto_error(a->session_id, nc_error_msg(err));
    return proto_result(a->session_id, text);
}

/* Orphans of tool commands are re-parented to the agent when it is PID 1: reap them. */
static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void agent_clear(struct agent *a)
{
    free(a->workspace);
    free(a->session_id);
    free(a->group_folder);
    free(a->chat_jid);
    free(a->assistant_name);
    model_free(a->model);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "relay") == 0)
        return egress_main();
    setup_signals();
    /* The relay is up before any tool runs: tools find their HTTPS_PROXY listening. */
    egress_start(getenv("NANOCELL_MODEL_SOCKET"));

    _cleanup_strbuf_ strbuf raw = STRBUF_INIT;
    _cleanup_error_ nc_error *err = NULL;
    struct agent_input in = {0};
    if (proto_read_all(STDIN_FILENO, &raw, &err) < 0 ||
        proto_parse_input(raw.buf ? raw.buf : "", raw.len, &in, &err) < 0) {
        _cleanup_free_ char *msg = xasprintf("Failed to parse input: %s", nc_error_msg(err));
        proto_error(NULL, msg);
        return 1;
    }
    strbuf_release(&raw);
    uint64_t input_us = mono_us();

    const char *ws = getenv("NANOCELL_WORKSPACE");
    struct agent a = {
        .workspace = xstrdup(ws && *ws ? ws : "/workspace"),
        .session_id = in.session_id ? TAKE_PTR(in.session_id) : proto_new_session_id(),
        .group_folder = TAKE_PTR(in.group_folder),
        .chat_jid = TAKE_PTR(in.chat_jid),
        .assistant_name = in.assistant_name ? TAKE_PTR(in.assistant_name) : xstrdup("Andy"),
        .is_main = in.is_main,
        .is_scheduled = in.is_scheduled,
        .model = model_from_env(),
        .input_us = input_us,
    };

    _cleanup_strbuf_ strbuf prompt = STRBUF_INIT;
    /* A scheduled task: its pre-check script decides whether the agent wakes at all; the model
     * is told what NanoClaw tells it. A scripted agent runs the prompt's commands as they are. */
    if (in.is_scheduled && in.script) {
        bool wake;
        _cleanup_free_ char *data = NULL, *why = NULL;
        gate_run(in.script, &wake, &data, &why);
        if (!wake) {
            fprintf(stderr, "nanocell-agent: task not run: %s\n", why);
            int rc = proto_session_update(a.session_id) < 0;
            proto_input_clear(&in);
            agent_clear(&a);
            return rc;
        }
        _cleanup_free_ char *p = a.model ? gate_prompt(in.prompt, data, true) : NULL;
        strbuf_addstr(&prompt, p ? p : in.prompt);
    } else if (in.is_scheduled && a.model) {
        _cleanup_free_ char *p = gate_prompt(in.prompt, NULL, false);
        strbuf_addstr(&prompt, p);
    } else {
        strbuf_addstr(&prompt, in.prompt);
    }
    proto_input_clear(&in);
    (void)ipc_take_close(&a); /* stale, from an earlier container */
    ipc_drain_input(&a, &prompt);

    int status = 0;
    for (;;) {
        int exit_code = 0;
        int r = run_query(&a, strbuf_str(&prompt), &exit_code);
        if (r == SCRIPT_EXIT) {
            status = exit_code;
            break;
        }
        if (r < 0 || proto_session_update(a.session_id) < 0) {
            status = 1;
            break;
        }
        if (!ipc_input_exists(&a))
            break;
        strbuf_reset(&prompt);
        bool closed = false;
        /* The host writes `_close` when the session goes idle (its idle timeout), so this wait
         * is bounded by the host; a gone host ends the agent with the container. */
        while (!closed && !prompt.len) {
            ipc_wait(&a, IPC_POLL_MS);
            reap_orphans();
            closed = ipc_take_close(&a);
            if (!closed)
                ipc_drain_input(&a, &prompt);
        }
        if (closed)
            break;
    }
    agent_clear(&a);
    return status;
}
