/* A streamed Messages API reply ("stream": true, server-sent events) put back together.
 *
 * The events are message_start, content_block_start / _delta / _stop, message_delta (with the
 * stop_reason), message_stop, ping and error. Text blocks collect their text_delta pieces and
 * tool_use blocks their input_json_delta pieces (parsed at the end; none means {}). Other block
 * types (thinking, ...) and other delta types are dropped: the agent only sends back text and
 * tool_use. Unknown event types are ignored, as the API asks of clients. */
#ifndef NC_AGENT_SSE_H
#define NC_AGENT_SSE_H

#include <stddef.h>

#include "util/error.h"
#include "util/json.h"

#define SSE_MAX_BLOCKS 256

/* Parses the whole event stream body[0..len) into the object a non-streamed reply would be:
 * {"content":[...],"stop_reason":...}. An error event is EIO with its message; a stream that
 * ends before message_stop is EPROTO ("truncated"); a malformed event or a block index at or
 * over SSE_MAX_BLOCKS is EPROTO. */
int sse_assemble(const char *body, size_t len, nc_json **ret_reply, nc_error **err);

#endif
