/* The Telegram channel (Bot API over HTTPS, long polling). See channel.h for the runner and
 * README.md for connecting a bot.
 *
 * Inbound: getUpdates with timeout 30 s and the stored offset. Each update is handled in order,
 * and the offset past it (update_id + 1) is stored in the same transaction as its message (or
 * alone, for an update that stores nothing), so a crash neither loses nor repeats a message.
 * A chat is tg:<chat id>; what is known of it is stored (store_chat_seen) whether or not it is
 * registered. Messages of chats that map to no group are ignored (logged at debug), as are
 * those of bots and of senders not on the group's allowlist. A message that mentions the bot's
 * @username is stored with the group's trigger in front, so it starts a turn like the trigger.
 * /chatid answers with the chat's jid (for registering it); from the main group's chat,
 * /register CHAT_ID FOLDER maps a chat to a group, creating it when it does not exist.
 *
 * Outbound: sendMessage, plain text (no parse_mode: nothing to escape), split at 4096
 * characters on line boundaries. sendChatAction "typing" while a turn answers. A 400 or 403
 * (chat not found, bot blocked or kicked) is for good (CHANNEL_PERMANENT): the runner gives the
 * reply up. A group upgraded to a supergroup moves to a new chat id: the 400 that says so
 * (parameters.migrate_to_chat_id), or the update that does (migrate_to_chat_id,
 * migrate_from_chat_id), moves the chat's registration, metadata and pending replies to
 * tg:<new id> (store_chat_migrate), and the reply goes there.
 *
 * The token is in every URL (/bot<token>/<method>): it is cut out of every error (libcurl's
 * text and Telegram's), never logged, and never leaves this process but to api_base. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channels/channel.h"
#include "channels/split.h"
#include "channels/tg_parse.h"
#include "channels/webclient.h"
#include "orch/daemon.h"
#include "orch/router.h"
#include "util/fileutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secretfile.h"
#include "util/strv.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TG_POLL_TIMEOUT_S 30
#define TG_TEXT_LIMIT 4096
#define TG_CURSOR "telegram.offset"
#define TG_TOKEN_FILE_MAX 4096

struct tg {
    struct nc_daemon *d;
    char *token;
    char *base; /* api_base */
    char *username;
    int64_t offset;
    /* The reply being sent in parts: how many of its parts Telegram accepted. A retry goes on
     * from the first part not accepted. (The delivering thread's own.) */
    int64_t part_id;
    size_t parts_done;
};

static bool stop_cb(void *ud)
{
    return channel_should_stop(ud);
}

/* A token is what BotFather gives: digits, ':', then letters, digits, '_' and '-'. Anything else
 * could change the URL it is put in. */
static bool token_ok(const char *t)
{
    if (!*t || strlen(t) > 256)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == ':' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Wipes and frees a string that holds the token (the token itself, a URL built from it). */
static void free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static void free_secretp(char **s)
{
    free_secret(*s);
}

static int tg_open(const nc_config *cfg, struct nc_daemon *d, void **state, nc_error **err)
{
    _cleanup_(free_secretp) char *token = NULL;
    if (cfg->telegram_token_file[0]) {
        if (cfg->telegram_token[0])
            return nc_error_set(err, EINVAL, "set telegram.token or telegram.token_file, not both");
        size_t len = 0;
        int r = secretfile_read(cfg->telegram_token_file, TG_TOKEN_FILE_MAX, &token, &len, err);
        if (r < 0)
            return nc_error_wrap(err, "telegram.token_file");
    } else if (cfg->telegram_token[0]) {
        token = xstrdup(cfg->telegram_token);
    } else {
        return 0; /* not configured */
    }
    if (!token_ok(token))
        return nc_error_set(err, EINVAL,
                            "the telegram token is not a bot token (digits, ':', letters, "
                            "digits, '_' and '-')");
    struct tg *t = xnew0(struct tg);
    t->d = d;
    t->token = TAKE_PTR(token);
    t->base = xstrdup(cfg->telegram_api_base);
    _cleanup_error_ nc_error *cerr = NULL;
    if (store_cursor_get(daemon_store(d), TG_CURSOR, &t->offset, &cerr) < 0) {
        free_secret(t->token);
        free(t->base);
        free(t);
        return nc_error_set(err, cerr->code, "%s", nc_error_msg(cerr));
    }
    *state = t;
    return 0;
}

static void tg_close(void *state)
{
    struct tg *t = state;
    if (!t)
        return;
    free_secret(t->token);
    free(t->base);
    free(t->username);
    free(t);
}

/* Calls method with a JSON body; fills *resp for any HTTP reply. The error never holds the
 * token. A 429 or a reply with retry_after (or Retry-After) tells the runner how long to wait. */
static int call(struct tg *t, channel *ch, const char *method, const char *body, long timeout_ms,
                web_response *resp, nc_error **err)
{
    _cleanup_(free_secretp) char *url = xasprintf("%s/bot%s/%s", t->base, t->token, method);
    web_request req = {
        .method = "POST",
        .url = url,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = timeout_ms,
        .redact = t->token,
        .cancel = stop_cb,
        .userdata = ch,
    };
    int r = web_request_send(&req, resp, err);
    if (r < 0)
        return nc_error_wrap(err, "telegram: %s", method);
    return 0;
}

/* The reply as an error, when it is one: -EREMOTEIO (Telegram said ok:false), -EPROTO, or
 * -CHANNEL_PERMANENT for a 400 or 403 (a chat not found, a bot blocked or kicked, a text
 * Telegram refuses: no retry can help). *migrate_to (when not NULL): the chat's new id, when
 * Telegram says it moved (a group upgraded to a supergroup), else 0. */
static int reply_error(struct tg *t, channel *ch, const char *method, const web_response *resp,
                       int64_t *migrate_to, nc_error **err)
{
    if (migrate_to)
        *migrate_to = 0;
    tg_error fail = {0};
    _cleanup_error_ nc_error *perr = NULL;
    int r = tg_parse_ok(resp->body.buf ? resp->body.buf : "", resp->body.len, &fail, &perr);
    if (r == 0 && resp->status / 100 == 2)
        return 0;
    int64_t retry = fail.retry_after;
    if (!retry && resp->retry_after)
        retry = strtoll(resp->retry_after, NULL, 10);
    if (retry > 0)
        channel_retry_after(ch, channel_retry_after_ms_of(retry));
    if (migrate_to && fail.migrate_to && fail.migrate_to != INT64_MIN)
        *migrate_to = fail.migrate_to;
    _cleanup_free_ char *desc = fail.description ? web_redact(fail.description, t->token) : NULL;
    tg_error_release(&fail);
    /* 401: Telegram refuses the token itself; no request can succeed until it is changed. */
    int code = resp->status == 429                          ? EAGAIN
               : resp->status == 401                        ? CHANNEL_UNAUTHORIZED
               : resp->status == 400 || resp->status == 403 ? CHANNEL_PERMANENT
                                                            : EREMOTEIO;
    if (desc)
        return nc_error_set(err, code, "telegram: %s: HTTP %ld: %s%s", method, resp->status, desc,
                            retry > 0 ? " (retry_after given)" : "");
    return nc_error_set(err, EPROTO, "telegram: %s: HTTP %ld and no Bot API reply", method,
                        resp->status);
}

static int simple_call(struct tg *t, channel *ch, const char *method, nc_jgen *g,
                       int64_t *migrate_to, nc_error **err)
{
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    if (jgen_finish(g, &body, err) < 0)
        return nc_error_wrap(err, "telegram: %s", method);
    web_response resp = {0};
    int r = call(t, ch, method, body.buf, 30000, &resp, err);
    if (r >= 0)
        r = reply_error(t, ch, method, &resp, migrate_to, err);
    web_response_release(&resp);
    return r;
}

static int send_text(struct tg *t, channel *ch, int64_t chat_id, const char *text,
                     int64_t *migrate_to, nc_error **err)
{
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_int(g, "chat_id", chat_id);
    jgen_kv_str(g, "text", text);
    jgen_obj_close(g);
    return simple_call(t, ch, "sendMessage", g, migrate_to, err);
}

/* A note straight back to a chat (not a stored reply): best effort, failures logged. */
static void note(struct tg *t, channel *ch, int64_t chat_id, const char *text)
{
    _cleanup_error_ nc_error *err = NULL;
    if (send_text(t, ch, chat_id, text, NULL, &err) < 0)
        log_warn("channel telegram: answer chat tg:%lld: %s", (long long)chat_id,
                 nc_error_msg(err));
}

static int get_me(struct tg *t, channel *ch, nc_error **err)
{
    web_response resp = {0};
    int r = call(t, ch, "getMe", "{}", 30000, &resp, err);
    if (r >= 0)
        r = reply_error(t, ch, "getMe", &resp, NULL, err);
    if (r >= 0) {
        tg_error fail = {0};
        r = tg_parse_me(resp.body.buf, resp.body.len, &t->username, &fail, err);
        tg_error_release(&fail);
    }
    web_response_release(&resp);
    if (r >= 0)
        log_info("channel telegram: connected as @%s", t->username);
    return r;
}

/* The command word of text ("/chatid" or "/chatid@thisbot"), when it is one for this bot. */
static bool is_command(const char *text, const char *cmd, const char *username)
{
    size_t n = strlen(cmd);
    if (strncmp(text, cmd, n) != 0)
        return false;
    const char *p = text + n;
    if (*p == '@') {
        size_t u = strcspn(p + 1, " \t\n");
        if (!username || u != strlen(username) || strncasecmp(p + 1, username, u) != 0)
            return false;
        p += 1 + u;
    }
    return *p == '\0' || *p == ' ' || *p == '\t' || *p == '\n';
}

/* /register CHAT_ID FOLDER from the main group's chat. */
static void do_register(struct tg *t, channel *ch, int64_t from_chat, const char *args)
{
    store *st = daemon_store(t->d);
    char id[32], folder[CONFIG_GROUP_NAME_MAX + 2];
    int used = 0;
    if (sscanf(args, "%31s %65s%n", id, folder, &used) != 2 || args[used] != '\0') {
        note(t, ch, from_chat, "usage: /register CHAT_ID FOLDER");
        return;
    }
    const char *num = strncmp(id, "tg:", 3) == 0 ? id + 3 : id;
    char *end = NULL;
    errno = 0;
    long long chat = strtoll(num, &end, 10);
    if (!*num || *end || errno) {
        note(t, ch, from_chat, "register: CHAT_ID is a number (what /chatid answers)");
        return;
    }
    _cleanup_error_ nc_error *err = NULL;
    store_group g = {0};
    if (store_group_get(st, folder, &g, &err) == -ENOENT) {
        nc_error_free(TAKE_PTR(err));
        store_group ng = {
            .folder = folder, .name = "", .trigger = "", .requires_trigger = true, .image = ""};
        _cleanup_free_ char *local = xasprintf("local:%s", folder);
        if (store_group_add(st, &ng, &err) < 0 || store_chat_map(st, local, folder, &err) < 0) {
            _cleanup_free_ char *msg = xasprintf("register: %s", nc_error_msg(err));
            note(t, ch, from_chat, msg);
            return;
        }
    }
    store_group_release(&g);
    nc_error_free(TAKE_PTR(err));
    _cleanup_free_ char *jid = xasprintf("tg:%lld", chat);
    if (store_chat_map(st, jid, folder, &err) < 0) {
        _cleanup_free_ char *msg = xasprintf("register: %s", nc_error_msg(err));
        note(t, ch, from_chat, msg);
        return;
    }
    daemon_groups_changed(t->d);
    log_info("channel telegram: chat %s registered to group %s from the main chat", jid, folder);
    _cleanup_free_ char *msg = xasprintf("%s now talks to group %s", jid, folder);
    note(t, ch, from_chat, msg);
}

/* Chat from moved to chat to (a group upgraded to a supergroup): its registration, metadata and
 * pending replies follow, so the group keeps talking to it. */
static void migrate_chat(struct tg *t, int64_t from, int64_t to)
{
    _cleanup_free_ char *old_jid = xasprintf("tg:%lld", (long long)from);
    _cleanup_free_ char *new_jid = xasprintf("tg:%lld", (long long)to);
    _cleanup_error_ nc_error *err = NULL;
    bool moved = false;
    if (store_chat_migrate(daemon_store(t->d), old_jid, new_jid, &moved, &err) < 0) {
        log_error("channel telegram: move chat %s to %s: %s", old_jid, new_jid, nc_error_msg(err));
        return;
    }
    if (moved) {
        daemon_groups_changed(t->d);
        log_info("channel telegram: chat %s became %s (upgraded to a supergroup): its group "
                 "follows",
                 old_jid, new_jid);
    }
}

/* Moves the offset past an update that stores no message. */
static int skip(struct tg *t, int64_t next, nc_error **err)
{
    int r = store_cursor_set(daemon_store(t->d), TG_CURSOR, next, err);
    if (r >= 0)
        t->offset = next;
    return r;
}

/* One update: stored (with the offset) or skipped (the offset alone). */
static int handle(struct tg *t, channel *ch, const tg_update *u, nc_error **err)
{
    int64_t next = u->update_id + 1;
    if (u->kind == TG_NONE)
        return skip(t, next, err);
    store *st = daemon_store(t->d);
    _cleanup_free_ char *jid = xasprintf("tg:%lld", (long long)u->chat_id);
    _cleanup_error_ nc_error *serr = NULL;
    channel_chat_seen(ch, jid, u->chat_title, u->chat_type);
    if (u->migrate_to || u->migrate_from) {
        if (u->migrate_to)
            migrate_chat(t, u->chat_id, u->migrate_to);
        else
            migrate_chat(t, u->migrate_from, u->chat_id);
        return skip(t, next, err);
    }
    const char *text = u->kind == TG_TEXT ? u->text : "";
    if (u->kind == TG_TEXT && is_command(text, "/chatid", t->username)) {
        _cleanup_free_ char *msg = xasprintf("%s", jid);
        note(t, ch, u->chat_id, msg);
        return skip(t, next, err);
    }
    _cleanup_free_ char *folder = NULL;
    int r = store_chat_group(st, jid, &folder, &serr);
    if (r == -ENOENT) {
        log_debug("channel telegram: message from unregistered chat %s ignored (register it with "
                  "nanocell groups add G --telegram %lld)",
                  jid, (long long)u->chat_id);
        return skip(t, next, err);
    }
    if (r < 0)
        return nc_error_set(err, serr->code, "%s", nc_error_msg(serr));
    if (u->from_bot) {
        log_debug("channel telegram: message from a bot in %s ignored", jid);
        return skip(t, next, err);
    }
    _cleanup_free_ char *sender_id = xasprintf("%lld", (long long)u->from_id);
    bool allowed = true;
    if (store_sender_allowed(st, folder, sender_id, &allowed, &serr) < 0)
        return nc_error_set(err, serr->code, "%s", nc_error_msg(serr));
    if (!allowed) {
        log_debug("channel telegram: sender %s is not on group %s's allowlist: message dropped",
                  sender_id, folder);
        return skip(t, next, err);
    }
    if (u->kind == TG_OTHER) {
        note(t, ch, u->chat_id, "only text is supported");
        return skip(t, next, err);
    }
    store_group g = {0};
    if (store_group_get(st, folder, &g, &serr) < 0)
        return nc_error_set(err, serr->code, "%s", nc_error_msg(serr));
    if (g.is_main && is_command(text, "/register", t->username)) {
        const char *args = text + strcspn(text, " \t\n");
        args += strspn(args, " \t\n");
        do_register(t, ch, u->chat_id, args);
        store_group_release(&g);
        return skip(t, next, err);
    }
    _cleanup_free_ char *name = daemon_assistant_name(t->d);
    _cleanup_free_ char *trigger = router_group_trigger(g.trigger, name);
    store_group_release(&g);
    /* A mention of the bot is its trigger: a leading one is replaced by it, another one gets
     * it in front (as NanoClaw does). */
    _cleanup_free_ char *stored = NULL;
    if (!router_trigger_matches(trigger, text) && tg_mentions(text, t->username)) {
        const char *p = text + strspn(text, " \t\n");
        size_t ulen = strlen(t->username);
        if (p[0] == '@' && strncasecmp(p + 1, t->username, ulen) == 0)
            stored = xasprintf("%s%s", trigger, p + 1 + ulen);
        else
            stored = xasprintf("%s %s", trigger, text);
    }
    int64_t id = 0;
    r = daemon_post_message_cursor(t->d, folder, jid, u->from_name, stored ? stored : text,
                                   TG_CURSOR, next, &id, err);
    if (r < 0)
        return r;
    t->offset = next;
    channel_count_received(ch);
    log_debug("channel telegram: message %lld from %s stored for group %s", (long long)id, jid,
              folder);
    return 0;
}

static int tg_receive(void *state, channel *ch, nc_error **err)
{
    struct tg *t = state;
    if (!t->username) {
        int r = get_me(t, ch, err);
        if (r < 0)
            return r;
        channel_connected(ch);
    }
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_int(g, "offset", t->offset);
    jgen_kv_int(g, "timeout", TG_POLL_TIMEOUT_S);
    jgen_key(g, "allowed_updates");
    jgen_arr_open(g);
    jgen_str(g, "message");
    jgen_arr_close(g);
    jgen_obj_close(g);
    _cleanup_strbuf_ strbuf body = STRBUF_INIT;
    int r = jgen_finish(g, &body, err);
    if (r < 0)
        return r;
    web_response resp = {0};
    r = call(t, ch, "getUpdates", body.buf, (TG_POLL_TIMEOUT_S + 15) * 1000L, &resp, err);
    if (r >= 0)
        r = reply_error(t, ch, "getUpdates", &resp, NULL, err);
    if (r < 0) {
        web_response_release(&resp);
        return r;
    }
    channel_connected(ch);
    tg_update *v = NULL;
    size_t n = 0;
    r = tg_parse_updates(resp.body.buf, resp.body.len, &v, &n, NULL, err);
    web_response_release(&resp);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (v[i].update_id < t->offset)
            continue; /* already stored: Telegram may repeat what it was not told about */
        r = handle(t, ch, &v[i], err);
    }
    tg_updates_free(v, n);
    return r;
}

/* "tg:<integer>" -> the chat id. */
static int chat_of(const char *jid, int64_t *id, nc_error **err)
{
    const char *num = jid + 3;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(num, &end, 10);
    if (strncmp(jid, "tg:", 3) != 0 || !*num || *end || errno)
        return nc_error_set(err, EINVAL, "telegram: '%s' is not a telegram chat", jid);
    *id = v;
    return 0;
}

static int tg_send(void *state, channel *ch, const store_message *m, nc_error **err)
{
    struct tg *t = state;
    int64_t chat;
    int r = chat_of(m->chat_jid, &chat, err);
    if (r < 0)
        return r;
    if (t->part_id != m->id) {
        t->part_id = m->id;
        t->parts_done = 0;
    }
    /* Agent output is any bytes: Telegram refuses a text that is not UTF-8 with a 400 for good. */
    _cleanup_free_ char *text = split_utf8_clean(m->text);
    char **parts = split_text(text, TG_TEXT_LIMIT);
    for (size_t i = t->parts_done; parts[i] && r >= 0; i++) {
        int64_t moved_to = 0;
        r = send_text(t, ch, chat, parts[i], &moved_to, err);
        if (r < 0 && moved_to && moved_to != chat) {
            /* The chat moved: the group follows, and this part goes to its new id. */
            migrate_chat(t, chat, moved_to);
            chat = moved_to;
            nc_error_free(TAKE_PTR(*err));
            r = send_text(t, ch, chat, parts[i], NULL, err);
        }
        if (r >= 0)
            t->parts_done = i + 1;
    }
    strv_free(parts);
    return r;
}

static int tg_typing(void *state, channel *ch, const char *chat_jid, nc_error **err)
{
    struct tg *t = state;
    int64_t chat;
    int r = chat_of(chat_jid, &chat, err);
    if (r < 0)
        return r;
    _cleanup_jgen_ nc_jgen *g = jgen_new();
    jgen_obj_open(g);
    jgen_kv_int(g, "chat_id", chat);
    jgen_kv_str(g, "action", "typing");
    jgen_obj_close(g);
    return simple_call(t, ch, "sendChatAction", g, NULL, err);
}

const channel_ops channel_telegram_ops = {
    .name = "telegram",
    .prefix = "tg:",
    .open = tg_open,
    .receive = tg_receive,
    .send = tg_send,
    .typing = tg_typing,
    .close = tg_close,
};
