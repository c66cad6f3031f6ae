// Thrift IDL of the im-service RPC API.
//
// Fields 1-4 of Message and every field of the requests and of the first
// responses match the interface of the TikTok Tech Immersion 2023 IM template,
// so clients generated from that IDL interoperate unchanged. Fields with higher
// ids are optional extensions that such clients skip.

namespace go rpc
namespace py im_service

struct Message {
    1: string Chat
    2: string Text
    3: string Sender
    // Microseconds since the Unix epoch, assigned by the server. Ignored on Send.
    4: i64 SendTime
    // Idempotency key (1-64 characters): repeating a Send with the same chat,
    // sender and ClientMsgId returns the stored message instead of a new one.
    5: optional string ClientMsgId
}

struct SendRequest {
    1: required Message message
}

struct SendResponse {
    // 0 on success, otherwise the HTTP-like status of the failure (400, 413, 503, 500).
    1: required i32 Code
    2: required string Msg
    // The stored message (canonical chat id, send time), set when Code is 0.
    3: optional Message Stored
    // Stable error code such as INVALID_ARGUMENT, set when Code is not 0.
    4: optional string ErrorCode
}

struct PullRequest {
    1: required string Chat
    // Microseconds since the Unix epoch; 0 reads from the oldest (or, with
    // Reverse, from the newest) message.
    2: required i64 Cursor
    // Page size, 1-1000; 0 selects the default of 10.
    3: required i32 Limit
    4: optional bool Reverse
}

struct PullResponse {
    1: required i32 Code
    2: required string Msg
    3: optional list<Message> Messages
    4: optional bool HasMore
    // SendTime of the first message of the next page, or 0 when HasMore is false.
    5: optional i64 NextCursor
    // Stable error code such as INVALID_ARGUMENT, set when Code is not 0.
    6: optional string ErrorCode
}

service IMService {
    SendResponse Send(1: SendRequest req)
    PullResponse Pull(2: PullRequest req)
}
