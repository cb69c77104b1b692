/* libcurl for channels: one easy handle per request (a channel makes a request every few
 * seconds at most; keep-alive is not worth a shared handle across threads). */
#include "channels/webclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"
#include "util/banned.h"

NC_DEFINE_CLEANUP(CURL *, curl_easy_cleanup)
NC_DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all)

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort(); /* fails only when out of memory */
}

char *web_redact(const char *text, const char *secret)
{
    if (!secret || !*secret)
        return xstrdup(text);
    strbuf out = STRBUF_INIT;
    size_t n = strlen(secret);
    for (const char *p = text; *p;) {
        const char *hit = strstr(p, secret);
        if (!hit) {
            strbuf_addstr(&out, p);
            break;
        }
        strbuf_add(&out, p, (size_t)(hit - p));
        strbuf_addstr(&out, "<redacted>");
        p = hit + n;
    }
    return out.buf ? strbuf_detach(&out, NULL) : xstrdup("");
}

struct sink {
    web_response *resp;
    bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->resp->body.len + n > WEB_MAX_BODY) {
        s->too_big = true;
        return 0;
    }
    strbuf_add(&s->resp->body, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t len = n - (sizeof(name) - 1);
        while (len && (*v == ' ' || *v == '\t'))
            v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        free(s->resp->retry_after);
        s->resp->retry_after = xstrndup(v, len);
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const web_request *req = ud;
    return req->cancel && req->cancel(req->userdata) ? 1 : 0;
}

static int errno_of(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return EHOSTUNREACH;
    case CURLE_ABORTED_BY_CALLBACK:
        return ECANCELED;
    case CURLE_WRITE_ERROR:
        return EFBIG;
    default:
        return EPROTO;
    }
}

int web_request_send(const web_request *req, web_response *resp, nc_error **err)
{
    pthread_once(&once, init_once);
    *resp = (web_response){0};
    _cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
    if (!h)
        return nc_error_set(err, ENOMEM, "start a request: out of memory");
    _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
    _cleanup_free_ char *ctype =
        xasprintf("Content-Type: %s", req->content_type ? req->content_type : "application/json");
    if (req->body)
        hdrs = curl_slist_append(hdrs, ctype);
    for (char *const *p = req->headers; p && *p; p++)
        hdrs = curl_slist_append(hdrs, *p);
    hdrs = curl_slist_append(hdrs, "Expect:");
    char errbuf[CURL_ERROR_SIZE] = "";
    struct sink s = {.resp = resp};
    if (curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return nc_error_set(err, EINVAL, "a request URL is not valid");
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    (void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    (void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    (void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req);
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    (void)curl_easy_setopt(h, CURLOPT_USERAGENT, "nanocell");
    if (req->body) {
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (req->method && strcmp(req->method, "POST") == 0) {
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        int e = s.too_big ? EFBIG : errno_of(c);
        _cleanup_free_ char *why =
            web_redact(errbuf[0] ? errbuf : curl_easy_strerror(c), req->redact);
        explicit_bzero(errbuf, sizeof(errbuf)); /* it may quote the URL, and a token in it */
        web_response_release(resp);
        if (e == EFBIG)
            return nc_error_set(err, e, "the reply is larger than %zu bytes", WEB_MAX_BODY);
        return nc_error_set(err, e, "request failed: %s", why);
    }
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

void web_response_release(web_response *r)
{
    strbuf_release(&r->body);
    free(r->retry_after);
    r->retry_after = NULL;
}
