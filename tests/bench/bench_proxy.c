/* The proxy's added latency to the first byte of a streamed response (scripts/bench-proxy.sh):
 * the same streamed POST /v1/messages to the same fake Messages API, directly over HTTPS and
 * through the proxy's unix socket (a new connection each time, as agents do), interleaved. Prints
 * each side's median and p90 time to the first body byte, and the median difference. The direct
 * client keeps one libcurl handle, as the proxy keeps its upstream handles, so both sides parse
 * their CA bundle once and reuse a connection where the server allows it (the fake closes after a
 * stream).
 *
 * usage: bench_proxy CONFIG RUNS. CONFIG's [proxy] names the fake as upstream, its key and CA. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proxy/proxy.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

static const char body[] = "{\"model\":\"bench\",\"max_tokens\":16,\"stream\":true,"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

struct first {
    uint64_t start_us, first_us;
};

static size_t on_data(char *d, size_t s, size_t n, void *ud)
{
    (void)d;
    struct first *f = ud;
    if (!f->first_us)
        f->first_us = mono_us();
    return s * n;
}

/* Microseconds to the first body byte, or 0 on failure. */
static uint64_t one(CURL *h, const char *url, const char *unix_path, const char *ca,
                    const char *key)
{
    curl_easy_reset(h);
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "content-type: application/json");
    hd = curl_slist_append(hd, "anthropic-version: 2023-06-01");
    char *k = NULL;
    if (key) {
        k = xasprintf("x-api-key: %s", key);
        hd = curl_slist_append(hd, k);
    }
    struct first f = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    f.start_us = mono_us();
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_slist_free_all(hd);
    free(k);
    if (rc != CURLE_OK || status != 200 || !f.first_us) {
        fprintf(stderr, "bench_proxy: %s: %s, HTTP %ld\n", unix_path ? "proxy" : "direct",
                curl_easy_strerror(rc), status);
        return 0;
    }
    return f.first_us - f.start_us;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_proxy CONFIG RUNS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* as nanocell run and serve (proxy/proxy.h) */
    size_t runs = (size_t)strtoul(argv[2], NULL, 10);
    if (runs < 1)
        runs = 1;
    nc_config *cfg = NULL;
    nc_error *err = NULL;
    proxy *p = NULL;
    const char *sock = NULL;
    if (config_load(argv[1], &cfg, &err) < 0 || config_resolve(cfg, &err) < 0 ||
        proxy_new(cfg, &p, &err) < 0 || proxy_add_group(p, cfg, "bench", &sock, &err) < 0) {
        fprintf(stderr, "bench_proxy: %s\n", nc_error_msg(err));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    FILE *kf = fopen(cfg->proxy.api_key_file, "r");
    char key[256] = "";
    if (!kf || !fgets(key, sizeof(key), kf)) {
        fprintf(stderr, "bench_proxy: cannot read the key file\n");
        return 1;
    }
    fclose(kf);
    key[strcspn(key, "\r\n")] = '\0';
    char *direct_url = xasprintf("%s/v1/messages", cfg->proxy.upstream);
    uint64_t *d = xcalloc(runs, sizeof(*d)), *x = xcalloc(runs, sizeof(*x));
    CURL *dh = curl_easy_init(), *ph = curl_easy_init();
    /* warm both paths once */
    (void)one(dh, direct_url, NULL, cfg->proxy.ca_file, key);
    (void)one(ph, "http://localhost/v1/messages", sock, NULL, NULL);
    for (size_t i = 0; i < runs; i++) {
        proxy_begin_turn(p, "bench", NULL); /* the per-turn limits never get in the way */
        d[i] = one(dh, direct_url, NULL, cfg->proxy.ca_file, key);
        x[i] = one(ph, "http://localhost/v1/messages", sock, NULL, NULL);
        if (!d[i] || !x[i])
            return 1;
    }
    double dm = pct(d, runs, 0.5), d9 = pct(d, runs, 0.9);
    double xm = pct(x, runs, 0.5), x9 = pct(x, runs, 0.9);
    printf("%-40s %9s %9s\n", "first byte of a streamed response", "median", "p90");
    printf("%-40s %6.2f ms %6.2f ms\n", "direct HTTPS to the fake", dm, d9);
    printf("%-40s %6.2f ms %6.2f ms\n", "through the proxy socket", xm, x9);
    printf("%-40s %6.2f ms (ratio %.2fx)\n", "added by the proxy (median)", xm - dm, xm / dm);
    curl_easy_cleanup(dh);
    curl_easy_cleanup(ph);
    proxy_free(p);
    config_free(cfg);
    free(direct_url);
    free(d);
    free(x);
    return 0;
}
