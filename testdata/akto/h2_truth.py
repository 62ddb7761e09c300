#!/usr/bin/env python3
"""Prints, for each complete HTTP/2 exchange of a capture, the Akto message
fields Akto's collector derives from it, from tshark's HTTP/2 dissection
(an independent decoder): the header maps with pseudo-headers and `host`
(last value of a name wins; gRPC trailers join the response's), bodies in
base64 (gRPC: messages without their 5-byte prefixes), `type` `HTTP/2.0` or
`gRPC`, `status` the code — the shape of Akto's HTTP/2 path
(trafficUtil/kafkaUtil/http2_parse.go and its tests).

A body tshark decodes (Content-Encoding) is given decoded, under
"decoded": Akto sends the coded bytes, which tshark does not show.

usage: tshark -r CAP [-d ...] -T json --no-duplicate-keys -J "tcp ip ipv6 http2" | h2_truth.py
"""
import base64
import json
import sys

def listify(x):
    return x if isinstance(x, list) else [x]

def grpc_messages(data):
    out, i = b"", 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 1:i + 5], "big")
        if i + 5 + n > len(data):
            break
        out += data[i + 5:i + 5 + n]
        i += 5 + n
    return out

streams = {}
order = []
for pkt in json.load(sys.stdin):
    layers = pkt["_source"]["layers"]
    if "http2" not in layers:
        continue
    ip = layers.get("ipv6") or layers.get("ip")
    src = listify(ip.get("ipv6.src") or ip.get("ip.src"))[0]
    dst = listify(ip.get("ipv6.dst") or ip.get("ip.dst"))[0]
    tcp = layers["tcp"]
    sport, dport = listify(tcp["tcp.srcport"])[0], listify(tcp["tcp.dstport"])[0]
    conn = listify(tcp["tcp.stream"])[0]
    for h2 in listify(layers["http2"]):
        for st in listify(h2.get("http2.stream", [])):
            if not isinstance(st, dict) or "http2.type" not in st:
                continue
            typ = listify(st["http2.type"])[0]
            sid = listify(st["http2.streamid"])[0]
            if sid == "0" or typ not in ("0", "1"):
                continue
            key = (conn, sid)
            s = streams.get(key)
            if s is None:
                s = streams[key] = {"client": (src, sport), "server": (dst, dport),
                                    "req": [], "resp": [], "trailers": [],
                                    "req_data": b"", "resp_data": b"",
                                    "req_end": False, "resp_end": False}
                order.append(key)
            from_client = (src, sport) == s["client"]
            end = listify(st["http2.flags_tree"]["http2.flags.end_stream"])[0] == "1"
            if typ == "1":
                fields = [(listify(h["http2.header.name"])[0], listify(h.get("http2.header.value", [""]))[0])
                          for h in listify(st.get("http2.header", []))]
                if from_client:
                    s["req"] += fields
                elif s["resp"]:
                    s["trailers"] += fields
                else:
                    s["resp"] += fields
            else:
                # tshark shows a content-encoded body decoded only: keep
                # that, and say the raw bytes are not known here.
                coded = [v for k, v in st.items() if k.startswith("Content-encoded entity body")]
                src_st = listify(coded[0])[0] if coded else st
                hexdata = listify(src_st.get("http2.data.data", [""]))[0]
                data = bytes.fromhex(hexdata.replace(":", "")) if hexdata else b""
                side = "req" if from_client else "resp"
                if coded:
                    # Shown on the body's last frame, for the whole body.
                    s[side + "_data"] = data
                    s[side + "_decoded"] = True
                else:
                    s[side + "_data"] += data
            if end:
                s["req_end" if from_client else "resp_end"] = True

def addr(a):
    host, port = a
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

for key in order:
    s = streams[key]
    if not (s["req_end"] and s["resp_end"] and s["req"] and s["resp"]):
        continue
    req = dict(s["req"])
    grpc = req.get("content-type", "").startswith("application/grpc")
    req_map = {}
    for k, v in s["req"]:
        req_map[k] = v
    host = req.get(":authority") or req.get("host", "")
    req_map["host"] = host
    resp_map = {}
    for k, v in s["resp"] + (s["trailers"] if grpc else []):
        resp_map[k] = v
    body = (lambda d: grpc_messages(d)) if grpc else (lambda d: d)
    status = dict(s["resp"]).get(":status", "")
    fields = {
        "path": req.get(":path", ""),
        "method": req.get(":method", ""),
        "type": "gRPC" if grpc else "HTTP/2.0",
        "requestHeaders": json.dumps(req_map, sort_keys=True, separators=(",", ":")),
        "responseHeaders": json.dumps(resp_map, sort_keys=True, separators=(",", ":")),
        "requestPayload": base64.b64encode(body(s["req_data"])).decode(),
        "responsePayload": base64.b64encode(body(s["resp_data"])).decode(),
        "ip": addr(s["client"]),
        "destIp": addr(s["server"]),
        "statusCode": status,
        "status": status,
    }
    decoded = {}
    for side, field in (("req", "requestPayload"), ("resp", "responsePayload")):
        if s.get(side + "_decoded"):
            # Akto sends the coded bytes in base64; tshark gives them decoded.
            decoded[field] = base64.b64encode(s[side + "_data"]).decode()
            del fields[field]
    print(json.dumps({"stream": key[0], "index": key[1], "decoded": decoded,
                      "collection_details": f"{host}|{fields['method']}|{fields['path']}",
                      "key": fields["ip"], "fields": fields}))
