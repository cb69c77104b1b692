/* Doctor's checks of the channels' configuration: see checks.h. */
#include "channels/checks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

#define SECRET_MIN_LEN 16
#define SECRET_FILE_MAX 4096

struct out {
    channel_check_fn fn;
    void *ud;
};

static void say(const struct out *o, channel_check_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const struct out *o, channel_check_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    o->fn(o->ud, st, text);
    free(text);
}

bool channel_url_cleartext_remote(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return false; /* https:// (config refuses other schemes) */
    const char *h = url + 7;
    const char *at = h + strcspn(h, "/?#");
    const char *user = memchr(h, '@', (size_t)(at - h));
    if (user)
        h = user + 1;
    size_t n;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close > at)
            return true;
        n = (size_t)(close + 1 - h);
    } else {
        n = strcspn(h, ":/?#");
    }
    if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0))
        return false;
    /* 127.0.0.0/8, written as four decimal parts. */
    if (n >= 7 && strncmp(h, "127.", 4) == 0) {
        unsigned a, b, c, d;
        char tail;
        _cleanup_free_ char *host = xstrndup(h, n);
        if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
            c < 256 && d < 256)
            return false;
    }
    return true;
}

/* A file holding a secret: regular, this user's, unreadable by others. Returns whether the
 * daemon would accept it (and says why not); *len is the secret's length when it read it. */
static bool check_secret_file(const struct out *o, const char *what, const char *path, size_t *len)
{
    *len = 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        say(o, CHANNEL_CHECK_PROBLEM, "%s '%s' %s: the daemon will not start", what, path,
            e == ENOENT  ? "does not exist"
            : e == ELOOP ? "is a symbolic link"
                         : strerror(e));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        say(o, CHANNEL_CHECK_PROBLEM, "%s '%s' is not a regular file: the daemon will not start",
            what, path);
        return false;
    }
    if (st.st_uid != geteuid()) {
        say(o, CHANNEL_CHECK_PROBLEM,
            "%s '%s' is owned by uid %u, not by this user (uid %u): the daemon refuses it", what,
            path, (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if (st.st_mode & 077) {
        say(o, CHANNEL_CHECK_PROBLEM,
            "%s '%s' has mode %04o: others can read the secret, and the daemon refuses it; run "
            "chmod 600 '%s'",
            what, path, (unsigned)(st.st_mode & 07777), path);
        return false;
    }
    char buf[SECRET_FILE_MAX + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 || (size_t)n > SECRET_FILE_MAX) {
        explicit_bzero(buf, sizeof(buf));
        say(o, CHANNEL_CHECK_PROBLEM, "%s '%s' cannot be read%s", what, path,
            n < 0 ? "" : ": it is too large");
        return false;
    }
    size_t l = (size_t)n;
    while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r' || buf[l - 1] == ' '))
        l--;
    explicit_bzero(buf, sizeof(buf));
    *len = l;
    say(o, CHANNEL_CHECK_OK, "%s '%s': mode %04o, owned by this user", what, path,
        (unsigned)(st.st_mode & 07777));
    return true;
}

static void check_telegram(const struct out *o, const nc_config *cfg)
{
    if (!*cfg->telegram_token && !*cfg->telegram_token_file)
        return;
    if (*cfg->telegram_token_file) {
        size_t len = 0;
        if (check_secret_file(o, "telegram.token_file", cfg->telegram_token_file, &len) && len == 0)
            say(o, CHANNEL_CHECK_PROBLEM,
                "telegram.token_file '%s' is empty: the daemon will "
                "not start",
                cfg->telegram_token_file);
    } else {
        struct stat st;
        if (cfg->path && stat(cfg->path, &st) == 0 && (st.st_mode & 077))
            say(o, CHANNEL_CHECK_WARN,
                "telegram.token is written in '%s', which others can read (mode %04o): move it "
                "to telegram.token_file (chmod 600)",
                cfg->path, (unsigned)(st.st_mode & 07777));
        else
            say(o, CHANNEL_CHECK_OK, "telegram.token is set in the configuration file");
    }
    if (channel_url_cleartext_remote(cfg->telegram_api_base))
        say(o, CHANNEL_CHECK_PROBLEM,
            "telegram.api_base '%s' is plain http to another host: the bot token (in every URL) "
            "and every message would cross the network in the clear; use https",
            cfg->telegram_api_base);
    else if (strncasecmp(cfg->telegram_api_base, "http://", 7) == 0)
        say(o, CHANNEL_CHECK_OK, "telegram.api_base '%s' is plain http, but to this host",
            cfg->telegram_api_base);
    else
        say(o, CHANNEL_CHECK_OK, "telegram.api_base '%s' is https", cfg->telegram_api_base);
}

static void check_hook(const struct out *o, const nc_hook_config *h)
{
    size_t len = 0;
    bool readable = true;
    if (h->secret_file) {
        _cleanup_free_ char *what = xasprintf("hook '%s': secret_file", h->name);
        readable = check_secret_file(o, what, h->secret_file, &len);
    } else {
        len = h->secret ? strlen(h->secret) : 0;
    }
    if (readable && len < SECRET_MIN_LEN)
        say(o, CHANNEL_CHECK_PROBLEM,
            "hook '%s': the secret is %zu bytes, under %d: the daemon refuses it", h->name, len,
            SECRET_MIN_LEN);
    else if (readable && len < CHANNEL_SECRET_GOOD_LEN)
        say(o, CHANNEL_CHECK_WARN,
            "hook '%s': the secret is only %zu bytes: use %d random bytes or more (openssl rand "
            "-hex 32)",
            h->name, len, CHANNEL_SECRET_GOOD_LEN);
    else if (readable)
        say(o, CHANNEL_CHECK_OK, "hook '%s': the secret is %zu bytes", h->name, len);
    if (!h->url)
        return;
    if (channel_url_cleartext_remote(h->url))
        say(o, CHANNEL_CHECK_PROBLEM,
            "hook '%s': url '%s' is plain http to another host: replies would cross the "
            "network in the clear; use https",
            h->name, h->url);
    else
        say(o, CHANNEL_CHECK_OK, "hook '%s': url '%s' is %s", h->name, h->url,
            strncasecmp(h->url, "http://", 7) == 0 ? "plain http, but to this host" : "https");
}

void channels_check_config(const nc_config *cfg, channel_check_fn fn, void *userdata)
{
    struct out o = {fn, userdata};
    check_telegram(&o, cfg);
    for (size_t i = 0; i < cfg->nhooks; i++)
        check_hook(&o, &cfg->hooks[i]);
}
