/* PLACEHOLDER until the api branch merges: the local API's server side. */
#ifndef NC_ORCH_API_H
#define NC_ORCH_API_H
#include "util/error.h"
typedef struct api_server api_server;
struct nc_daemon;
int api_listen(const char *path, int *ret_fd, nc_error **err);
int api_start(struct nc_daemon *d, int fd, unsigned max_clients, api_server **ret, nc_error **err);
void api_stop(api_server *s);
#endif
