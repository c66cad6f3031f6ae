"""Calls IMService with Debian's python3-thrift, an implementation independent
of the server's, and prints the replies as JSON lines.

Usage: thrift_client.py GEN_DIR HOST PORT framed|buffered COMMANDS_JSON

COMMANDS_JSON is a list of calls, each {"method": "Send", "chat": ..., "text": ...,
"sender": ..., "client_msg_id": ...} or {"method": "Pull", "chat": ..., "cursor": ...,
"limit": ..., "reverse": ...}. Every call runs on one connection, in order.
"""
import json
import sys


def message_to_json(message):
    return {
        "chat": message.Chat,
        "text": message.Text,
        "sender": message.Sender,
        "send_time": message.SendTime,
        "client_msg_id": message.ClientMsgId,
    }


def main():
    gen_dir, host, port, transport_kind, commands_json = sys.argv[1:6]
    sys.path.insert(0, gen_dir)
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from im_service import IMService
    from im_service.ttypes import Message, PullRequest, SendRequest

    if transport_kind not in ("framed", "buffered"):
        sys.exit("unknown transport %r; expected framed or buffered" % transport_kind)
    commands = json.loads(commands_json)
    for command in commands:
        if command.get("method") not in ("Send", "Pull"):
            sys.exit("unknown method %r in COMMANDS_JSON; expected Send or Pull" % command.get("method"))

    socket = TSocket.TSocket(host, int(port))
    socket.setTimeout(5000)
    if transport_kind == "framed":
        transport = TTransport.TFramedTransport(socket)
    else:  # buffered, as checked above
        transport = TTransport.TBufferedTransport(socket)
    client = IMService.Client(TBinaryProtocol.TBinaryProtocol(transport))
    transport.open()
    try:
        for command in commands:
            if command["method"] == "Send":
                message = Message(
                    Chat=command.get("chat"),
                    Text=command.get("text"),
                    Sender=command.get("sender"),
                    SendTime=0,
                    ClientMsgId=command.get("client_msg_id"),
                )
                response = client.Send(SendRequest(message=message))
                reply = {"code": response.Code, "msg": response.Msg, "error_code": response.ErrorCode}
                if response.Stored is not None:
                    reply["stored"] = message_to_json(response.Stored)
            else:  # Pull, as checked above
                request = PullRequest(
                    Chat=command.get("chat"),
                    Cursor=command.get("cursor", 0),
                    Limit=command.get("limit", 0),
                    Reverse=command.get("reverse"),
                )
                response = client.Pull(request)
                reply = {
                    "code": response.Code,
                    "msg": response.Msg,
                    "error_code": response.ErrorCode,
                    "messages": [message_to_json(m) for m in (response.Messages or [])],
                    "has_more": response.HasMore,
                    "next_cursor": response.NextCursor,
                }
            print(json.dumps(reply), flush=True)
    finally:
        transport.close()


if __name__ == "__main__":
    main()
