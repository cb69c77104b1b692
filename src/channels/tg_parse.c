/* Parsing the Telegram Bot API's JSON (through util/json.c). */
#include "channels/tg_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void tg_error_release(tg_error *e)
{
    if (!e)
        return;
    free(e->description);
    e->description = NULL;
}

/* A copy of the string member key, cut at max bytes (on a UTF-8 boundary); "" when absent. */
static char *str_member(const nc_json *o, const char *key, size_t max)
{
    const char *s = json_string(json_get(o, key));
    if (!s)
        return xstrdup("");
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return xstrndup(s, n);
}

static int64_t int_member(const nc_json *o, const char *key, bool *ok)
{
    int64_t v = 0;
    bool have = json_int(json_get(o, key), &v);
    if (ok)
        *ok = have;
    return have ? v : 0;
}

/* The body as JSON; -EPROTO when it is not (an HTML error page from a proxy, a cut reply). */
static int parse_json(const char *body, size_t len, nc_json **root, nc_error **err)
{
    _cleanup_error_ nc_error *jerr = NULL;
    if (json_parse(body, len, root, &jerr) < 0)
        return nc_error_set(err, EPROTO, "telegram: the reply is not JSON: %s", nc_error_msg(jerr));
    return 0;
}

/* Checks the envelope: returns the "result" member, or NULL with the error set. */
static const nc_json *envelope(const nc_json *root, tg_error *fail, nc_error **err, int *r)
{
    if (!json_is_object(root)) {
        *r = nc_error_set(err, EPROTO, "telegram: the reply is not a JSON object");
        return NULL;
    }
    bool ok = false;
    if (!json_bool(json_get(root, "ok"), &ok)) {
        *r = nc_error_set(err, EPROTO, "telegram: the reply has no 'ok'");
        return NULL;
    }
    if (!ok) {
        tg_error e = {0};
        e.code = int_member(root, "error_code", NULL);
        e.description = str_member(root, "description", 1024);
        const nc_json *p = json_get(root, "parameters");
        if (json_is_object(p)) {
            e.retry_after = int_member(p, "retry_after", NULL);
            if (e.retry_after < 0)
                e.retry_after = 0;
            e.migrate_to = int_member(p, "migrate_to_chat_id", NULL);
        }
        *r = nc_error_set(err, EREMOTEIO, "telegram: error %lld: %s", (long long)e.code,
                          e.description);
        if (fail)
            *fail = e;
        else
            tg_error_release(&e);
        return NULL;
    }
    const nc_json *res = json_get(root, "result");
    if (!res)
        *r = nc_error_set(err, EPROTO, "telegram: the reply has no 'result'");
    return res;
}

int tg_parse_ok(const char *body, size_t len, tg_error *fail, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = parse_json(body, len, &root, err);
    if (r < 0)
        return r;
    r = 0;
    envelope(root, fail, err, &r);
    return r;
}

int tg_parse_me(const char *body, size_t len, char **username, tg_error *fail, nc_error **err)
{
    _cleanup_json_ nc_json *root = NULL;
    int r = parse_json(body, len, &root, err);
    if (r < 0)
        return r;
    r = 0;
    const nc_json *res = envelope(root, fail, err, &r);
    if (!res)
        return r;
    const char *u = json_string(json_get(res, "username"));
    if (!u || !*u || strlen(u) > TG_MAX_NAME)
        return nc_error_set(err, EPROTO, "telegram: getMe has no username");
    *username = xstrdup(u);
    return 0;
}

static void parse_message(const nc_json *m, tg_update *u)
{
    if (!json_is_object(m))
        return;
    const nc_json *chat = json_get(m, "chat");
    bool ok = false;
    int64_t chat_id = json_is_object(chat) ? int_member(chat, "id", &ok) : 0;
    if (!ok)
        return; /* nothing to answer: TG_NONE */
    u->chat_id = chat_id;
    free(u->chat_type);
    u->chat_type = str_member(chat, "type", 32);
    free(u->chat_title);
    u->chat_title = str_member(chat, "title", TG_MAX_NAME);
    if (!u->chat_title[0]) {
        _cleanup_free_ char *first = str_member(chat, "first_name", TG_MAX_NAME);
        _cleanup_free_ char *last = str_member(chat, "last_name", TG_MAX_NAME);
        free(u->chat_title);
        u->chat_title = last[0] ? xasprintf("%s %s", first, last) : xstrdup(first);
    }
    const nc_json *from = json_get(m, "from");
    if (json_is_object(from)) {
        u->from_id = int_member(from, "id", NULL);
        bool bot = false;
        u->from_bot = json_bool(json_get(from, "is_bot"), &bot) && bot;
        _cleanup_free_ char *first = str_member(from, "first_name", TG_MAX_NAME);
        _cleanup_free_ char *last = str_member(from, "last_name", TG_MAX_NAME);
        _cleanup_free_ char *user = str_member(from, "username", TG_MAX_NAME);
        free(u->from_name);
        if (first[0])
            u->from_name = last[0] ? xasprintf("%s %s", first, last) : xstrdup(first);
        else if (user[0])
            u->from_name = xasprintf("@%s", user);
        else
            u->from_name = xasprintf("%lld", (long long)u->from_id);
    }
    u->migrate_to = int_member(m, "migrate_to_chat_id", NULL);
    u->migrate_from = int_member(m, "migrate_from_chat_id", NULL);
    u->message_id = int_member(m, "message_id", NULL);
    u->date = int_member(m, "date", NULL);
    const char *text = json_string(json_get(m, "text"));
    if (text && *text && strlen(text) <= TG_MAX_TEXT) {
        u->kind = TG_TEXT;
        u->text = xstrdup(text);
    } else {
        u->kind = TG_OTHER; /* a photo, a sticker, a text over the limit, ... */
    }
}

int tg_parse_updates(const char *body, size_t len, tg_update **ret, size_t *n, tg_error *fail,
                     nc_error **err)
{
    *ret = NULL;
    *n = 0;
    _cleanup_json_ nc_json *root = NULL;
    int r = parse_json(body, len, &root, err);
    if (r < 0)
        return r;
    r = 0;
    const nc_json *res = envelope(root, fail, err, &r);
    if (!res)
        return r;
    if (!json_is_array(res))
        return nc_error_set(err, EPROTO, "telegram: getUpdates' result is not an array");
    size_t count = json_array_len(res);
    if (count > TG_MAX_UPDATES)
        return nc_error_set(err, EPROTO, "telegram: %zu updates in one reply (at most %d)", count,
                            TG_MAX_UPDATES);
    tg_update *v = xcalloc(count ? count : 1, sizeof(*v));
    for (size_t i = 0; i < count; i++) {
        const nc_json *u = json_array_at(res, i);
        bool ok = false;
        int64_t id = json_is_object(u) ? int_member(u, "update_id", &ok) : 0;
        if (!ok) {
            tg_updates_free(v, i);
            return nc_error_set(err, EPROTO, "telegram: update %zu has no update_id", i);
        }
        /* The offset stored after an update is update_id + 1: INT64_MAX would overflow. */
        if (id < 0 || id == INT64_MAX) {
            tg_updates_free(v, i);
            return nc_error_set(err, EPROTO,
                                "telegram: update %zu has update_id %lld, out of range", i,
                                (long long)id);
        }
        v[i] = (tg_update){.update_id = id, .kind = TG_NONE};
        v[i].chat_type = xstrdup("");
        v[i].chat_title = xstrdup("");
        v[i].from_name = xstrdup("");
        parse_message(json_get(u, "message"), &v[i]);
    }
    *ret = v;
    *n = count;
    return 0;
}

void tg_updates_free(tg_update *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].chat_type);
        free(v[i].chat_title);
        free(v[i].from_name);
        free(v[i].text);
    }
    free(v);
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

bool tg_mentions(const char *text, const char *username)
{
    size_t n = username ? strlen(username) : 0;
    if (!n || !text)
        return false;
    for (const char *p = strchr(text, '@'); p; p = strchr(p + 1, '@')) {
        if (p > text && name_char(p[-1]))
            continue;
        if (strncasecmp(p + 1, username, n) == 0 && !name_char(p[1 + n]))
            return true;
    }
    return false;
}
