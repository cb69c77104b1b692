/* libFuzzer target for the IPC file parser (src/orch/ipc_file.c), the one parser of bytes an
 * agent writes for the host. The first byte picks the directory (even: messages, odd: tasks),
 * the rest is the file. Besides memory errors, it checks the contract callers rely on: a
 * success gives a request of a type that belongs in that directory with the fields the type
 * requires, and the rule table decides it without crashing; a failure gives -EINVAL, an error
 * message and a zeroed request. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orch/ipc_auth.h"
#include "orch/ipc_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool tasks = data[0] & 1;
    ipc_request q;
    nc_error *err = NULL;
    int r = ipc_parse((const char *)data + 1, size - 1, tasks, &q, &err);
    if (r < 0) {
        CHECK(r == -EINVAL && err && nc_error_msg(err)[0]);
        CHECK(!q.chat_jid && !q.text && !q.task_id && !q.prompt && !q.folder);
        nc_error_free(err);
        return 0;
    }
    CHECK(!err);
    CHECK((q.type == IPC_MESSAGE) == !tasks);
    switch (q.type) {
    case IPC_MESSAGE:
        CHECK(q.chat_jid && *q.chat_jid && q.text && *q.text);
        break;
    case IPC_SCHEDULE_TASK:
        CHECK(q.prompt && q.schedule_type && q.schedule_value && *q.schedule_value);
        break;
    case IPC_PAUSE_TASK:
    case IPC_RESUME_TASK:
    case IPC_CANCEL_TASK:
    case IPC_UPDATE_TASK:
        CHECK(q.task_id && *q.task_id);
        break;
    case IPC_REGISTER_GROUP:
        CHECK(q.jid && q.name && q.folder && q.trigger);
        break;
    case IPC_REFRESH_GROUPS:
        break;
    default:
        CHECK(false);
    }
    ipc_subject s = {.source = "g", .source_main = data[0] & 2, .target = data[0] & 4 ? "g" : NULL};
    const char *why = ipc_authorize(&q, &s);
    CHECK(!why || *why);
    /* A non-main group never gets past the rules for another group's chat or task. */
    s = (ipc_subject){.source = "g", .source_main = false, .target = "other"};
    CHECK(ipc_authorize(&q, &s) != NULL);
    ipc_request_release(&q);
    return 0;
}
