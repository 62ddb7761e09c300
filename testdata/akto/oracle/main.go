// Command oracle prints, for the HTTP/1 bytes of recorded TCP streams, the
// Kafka message fields that Akto's eBPF collector derives from those bytes:
// it reads requests with net/http's ReadRequest and responses with
// ReadResponse, pairs them in order, builds the header maps, bodies, path,
// status and key the way Akto's collector does (its
// trafficUtil/kafkaUtil/parser.go and kafka.go), and writes one JSON object
// per message. Written for cleartap's tests from the behaviour of Akto's
// code; it is the ground truth scripts/akto-ground-truth.sh records.
//
// usage: oracle DIR   (DIR holds N.client, N.server and N.addr per stream)
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "TRACK": true, "PATCH": true}

var clientIPHeaders = []string{"x-forwarded-for", "x-real-ip", "x-cluster-client-ip",
	"true-client-ip", "x-original-forwarded-for", "x-client-ip", "client-ip"}

type message struct {
	Stream            string            `json:"stream"`
	Index             int               `json:"index"`
	Key               string            `json:"key"`
	CollectionDetails string            `json:"collection_details"`
	Fields            map[string]string `json:"fields"`
}

func main() {
	dir := os.Args[1]
	clients, _ := filepath.Glob(filepath.Join(dir, "*.client"))
	sort.Strings(clients)
	out := json.NewEncoder(os.Stdout)
	for _, c := range clients {
		stream := strings.TrimSuffix(filepath.Base(c), ".client")
		reqBuf, _ := os.ReadFile(c)
		respBuf, _ := os.ReadFile(strings.TrimSuffix(c, ".client") + ".server")
		addr, _ := os.ReadFile(strings.TrimSuffix(c, ".client") + ".addr")
		ends := strings.Fields(string(addr))
		for i, m := range messages(reqBuf, respBuf, ends[0], ends[1]) {
			m.Stream, m.Index = stream, i
			out.Encode(m)
		}
	}
}

func messages(reqBuf, respBuf []byte, ip, destIP string) []message {
	r := bufio.NewReader(bytes.NewReader(reqBuf))
	var reqs []*http.Request
	var reqBodies []string
	for {
		req, err := http.ReadRequest(r)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "request:", err)
			return nil
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			body = []byte{}
		}
		reqs = append(reqs, req)
		reqBodies = append(reqBodies, string(body))
	}
	r = bufio.NewReader(bytes.NewReader(respBuf))
	var resps []*http.Response
	var respBodies []string
	for {
		resp, err := http.ReadResponse(r, nil)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "response:", err)
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			body = []byte{}
		}
		if enc := resp.Header["Content-Encoding"]; len(enc) > 0 && (enc[0] == "gzip" || enc[0] == "deflate") {
			var zr *gzip.Reader
			zr, err = gzip.NewReader(bytes.NewBuffer(body))
			if err != nil {
				body = []byte{}
			} else {
				body, err = io.ReadAll(zr)
				if err != nil {
					body = []byte{}
				}
			}
		}
		resps = append(resps, resp)
		respBodies = append(respBodies, string(body))
	}
	n := len(reqs)
	if len(resps) < n {
		n = len(resps)
	}
	var out []message
	for i := 0; i < n; i++ {
		req, resp := reqs[i], resps[i]
		if !methods[strings.ToUpper(req.Method)] {
			continue
		}
		reqMap, lower := map[string]string{}, map[string]string{}
		for name, values := range req.Header {
			for _, v := range values {
				reqMap[name] = v
				lower[strings.ToLower(name)] = v
			}
		}
		reqMap["host"] = req.Host
		respMap := map[string]string{}
		for name, values := range resp.Header {
			for _, v := range values {
				respMap[name] = v
			}
		}
		reqJSON, _ := json.Marshal(reqMap)
		respJSON, _ := json.Marshal(respMap)
		url := req.URL.String()
		key := ip
	keyLoop:
		for _, h := range clientIPHeaders {
			if v, ok := lower[h]; ok {
				for _, part := range strings.Split(v, ",") {
					if p := strings.TrimSpace(part); p != "" {
						key = p
						break keyLoop
					}
				}
			}
		}
		details := ""
		if req.Host != "" && req.Method != "" && url != "" {
			details = fmt.Sprintf("%s|%s|%s", req.Host, req.Method, url)
		}
		out = append(out, message{
			Key:               key,
			CollectionDetails: details,
			Fields: map[string]string{
				"path":            url,
				"requestHeaders":  string(reqJSON),
				"responseHeaders": string(respJSON),
				"method":          req.Method,
				"requestPayload":  reqBodies[i],
				"responsePayload": respBodies[i],
				"ip":              ip,
				"destIp":          destIP,
				"statusCode":      fmt.Sprint(resp.StatusCode),
				"type":            req.Proto,
				"status":          resp.Status,
			},
		})
	}
	return out
}
