/* The scripted `proxy-request` command: one raw request line to the host's proxy socket, for
 * tests of what the proxy allows from inside a container (busybox has no unix-socket client). */
#ifndef NC_AGENT_PROXYREQ_H
#define NC_AGENT_PROXYREQ_H

#include "util/error.h"
#include "util/strbuf.h"

/* Where the proxy socket is mounted; NANOCELL_PROXY_SOCKET overrides it. */
#define PROXYREQ_SOCKET "/run/nanocell/proxy.sock"

/* Sends "LINE\r\nHost: nanocell\r\n\r\n" (line: "CONNECT host:port HTTP/1.1", "GET
 * http://h/ HTTP/1.1", ...) and appends the response's status line to out. At most 10 s. */
int proxyreq_run(const char *line, strbuf *out, nc_error **err);

#endif
