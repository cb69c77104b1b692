/* Model mode's NanoClaw tools: the tools of NanoClaw's in-container MCP server
 * (ipc-mcp-stdio.ts) with its names and input schemas, offered to the model beside `bash`:
 *   send_message(text, sender?)
 *   schedule_task(prompt, schedule_type, schedule_value, context_mode?, target_group_jid?,
 *                 script?)
 *   list_tasks()
 *   pause_task(task_id), resume_task(task_id), cancel_task(task_id)
 *   update_task(task_id, prompt?, schedule_type?, schedule_value?, script?)
 *   register_group(jid, name, folder, trigger, requiresTrigger?)
 * register_group and schedule_task's target_group_jid are offered to the main group only; a
 * non-main agent's target is its own chat whatever the model asks, as in NanoClaw.
 *
 * Each tool makes one request of ipcreq.h (the files scripted mode's commands write) and gives
 * back NanoClaw's short result text. Like NanoClaw's, the tools are fire-and-forget: a result
 * says the file was written, not what the host decided. */
#ifndef NC_AGENT_MCPTOOL_H
#define NC_AGENT_MCPTOOL_H

#include <stdbool.h>

#include "agent.h"
#include "util/json.h"
#include "util/strbuf.h"

/* Appends the definitions ({"name","description","input_schema"}) of the tools offered to this
 * agent to g, which is inside the request's open "tools" array. */
void mcptool_add_defs(const struct agent *a, nc_jgen *g);

/* Runs the tool name with the model's input when it is one offered to this agent (returns true):
 * the tool_result text goes to out, and *failed says it is an error (bad input, a refused call,
 * a file that could not be written). Returns false, touching nothing, for any other name. */
bool mcptool_run(const struct agent *a, const char *name, const nc_json *input, strbuf *out,
                 bool *failed);

#endif
