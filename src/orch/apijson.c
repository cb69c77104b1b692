#include "orch/api_internal.h"

#include <time.h>

#include "orch/apievents.h"
#include "util/xalloc.h"
#include "util/banned.h"

void apijson_time(nc_jgen *g, const char *key, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32]; /* "YYYY-MM-DDTHH:MM:SS" is 19 bytes for any 4-digit year */
    jgen_key(g, key);
    if (ms < 0 || !gmtime_r(&secs, &tm) ||
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        jgen_null(g);
        return;
    }
    _cleanup_free_ char *s = xasprintf("%s.%03dZ", buf, (int)(ms % 1000));
    jgen_str(g, s);
}

void apijson_text(nc_jgen *g, const char *key, const char *s)
{
    jgen_key(g, key);
    api_jgen_text(g, s);
}

void apijson_group(nc_jgen *g, const store_group *grp)
{
    jgen_obj_open(g);
    apijson_text(g, "folder", grp->folder);
    apijson_text(g, "name", grp->name && grp->name[0] ? grp->name : grp->folder);
    apijson_text(g, "trigger", grp->trigger ? grp->trigger : "");
    jgen_kv_bool(g, "requires_trigger", grp->requires_trigger);
    jgen_kv_bool(g, "is_main", grp->is_main);
    apijson_text(g, "image", grp->image ? grp->image : "");
    apijson_time(g, "added", grp->added_ms);
    jgen_obj_close(g);
}

void apijson_message(nc_jgen *g, const store_message *m)
{
    jgen_obj_open(g);
    jgen_kv_int(g, "id", m->id);
    apijson_text(g, "group", m->group);
    apijson_text(g, "chat", m->chat_jid);
    jgen_kv_str(g, "direction", m->outbound ? "out" : "in");
    apijson_text(g, "sender", m->sender);
    apijson_text(g, "text", m->text);
    apijson_text(g, "state", m->state);
    apijson_time(g, "time", m->time_ms);
    if (m->outbound) {
        jgen_kv_int(g, "reply_to", m->reply_to);
    } else if (m->batch) {
        jgen_kv_int(g, "batch", m->batch);
    }
    jgen_kv_int(g, "attempts", m->attempts);
    if (m->error)
        apijson_text(g, "error", m->error);
    if (m->run_id)
        apijson_text(g, "run_id", m->run_id);
    jgen_obj_close(g);
}

void apijson_run(nc_jgen *g, const store_run *r)
{
    jgen_obj_open(g);
    apijson_text(g, "run_id", r->run_id);
    apijson_text(g, "group", r->group);
    apijson_text(g, "state", r->state);
    apijson_time(g, "started", r->started_ms);
    if (r->ended_ms > 0)
        apijson_time(g, "ended", r->ended_ms);
    if (r->outcome) {
        apijson_text(g, "outcome", r->outcome);
        jgen_kv_int(g, "exit_code", r->exit_code);
    }
    if (r->container_id)
        apijson_text(g, "container_id", r->container_id);
    if (r->log_path)
        apijson_text(g, "log_path", r->log_path);
    jgen_obj_close(g);
}
