/* The IPC rule table (see ipc_auth.h). */
#include "orch/ipc_auth.h"

#include <string.h>

#include "config.h"
#include "util/banned.h"

static bool own(const ipc_subject *s)
{
    return s->target && strcmp(s->target, s->source) == 0;
}

const char *ipc_authorize(const ipc_request *q, const ipc_subject *s)
{
    switch (q->type) {
    case IPC_MESSAGE:
        /* Main may write to any chat, even one no group maps (NanoClaw's rule). */
        if (s->source_main || own(s))
            return NULL;
        return s->target ? "the chat belongs to another group" : "the chat is not the group's";
    case IPC_SCHEDULE_TASK:
        if (!s->target)
            return "the target chat is not a registered group's";
        if (s->source_main || own(s))
            return NULL;
        return "only the main group schedules tasks for another group";
    case IPC_PAUSE_TASK:
    case IPC_RESUME_TASK:
    case IPC_CANCEL_TASK:
    case IPC_UPDATE_TASK:
        if (!s->target)
            return "no such task";
        if (s->source_main || own(s))
            return NULL;
        return "the task belongs to another group";
    case IPC_REFRESH_GROUPS:
        return s->source_main ? NULL : "only the main group refreshes groups";
    case IPC_REGISTER_GROUP:
        if (!s->source_main)
            return "only the main group registers groups";
        if (q->sets_is_main)
            return "is_main cannot be set through IPC";
        if (!q->folder || !config_valid_group_name(q->folder))
            return "the folder is not a valid group name";
        return NULL;
    default:
        return "unknown type";
    }
}
