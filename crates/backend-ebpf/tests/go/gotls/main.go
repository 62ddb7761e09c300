// gotls is the Go program the Go TLS tests trace: an HTTPS server and
// client from the standard library only (it builds offline with
// GO111MODULE=off), one binary per toolchain and build mode.
//
//	gotls selftest -cert C -key K -proto h1|h2 -big N
//	    serves on 127.0.0.1:0, prints "port P", waits for a line on stdin,
//	    then runs its client against itself: GET /hello, POST /echo with an
//	    N-byte body, GET /big?n=N; prints one line per response and exits.
//	gotls server -cert C -key K
//	    serves on 127.0.0.1:0, prints "port P", runs until killed.
//	gotls client -proto h1|h2 [-conns N] [-path P] [-body N] URL
//	    N concurrent connections (one request each), prints one line per
//	    response, in request order.
//
// Response lines: "<status> <proto> <body length> <sha256 of body>".
// Bodies are pattern(n): byte i is (i*7+3) mod 251, so the tests can
// rebuild them.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7 + 3) % 251)
	}
	return b
}

// deep recurses with a large frame, so the goroutine's stack grows (and
// moves) between the handler's reads.
//
//go:noinline
func deep(n int) int {
	var frame [512]byte
	frame[n%512] = byte(n)
	if n == 0 {
		return int(frame[0])
	}
	return deep(n-1) + int(frame[n%512])
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from go\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		sum := sha256.Sum256(body)
		fmt.Fprintf(w, "got %d %x\n", len(body), sum)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(pattern(n))
	})
	mux.HandleFunc("/recurse", func(w http.ResponseWriter, r *http.Request) {
		depth, _ := strconv.Atoi(r.URL.Query().Get("depth"))
		want := deep(depth)
		total, same := 0, true
		buf := make([]byte, 1000)
		for {
			// Recursing between reads grows (and moves) the stack.
			same = same && deep(depth) == want
			n, err := r.Body.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
		fmt.Fprintf(w, "read %d, recursed to %d: %d %v\n", total, depth, want, same)
	})
	return mux
}

func serve(cert, key string) (net.Listener, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: handler(), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"h2", "http/1.1"},
	}}
	go srv.ServeTLS(ln, "", "")
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	return ln, nil
}

func newClient(proto string) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: proto == "h2"}
	if proto == "h1" {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func do(c *http.Client, method, url string, body []byte) string {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return "error " + err.Error()
	}
	req.Header.Set("X-Test", "gotls")
	resp, err := c.Do(req)
	if err != nil {
		return "error " + err.Error()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "error " + err.Error()
	}
	return fmt.Sprintf("%d %s %d %x", resp.StatusCode, resp.Proto, len(data), sha256.Sum256(data))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gotls selftest|server|client ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	cert := fs.String("cert", "", "certificate file")
	key := fs.String("key", "", "key file")
	proto := fs.String("proto", "h2", "h1 or h2")
	big := fs.Int("big", 5<<20, "size of the large bodies")
	conns := fs.Int("conns", 1, "concurrent connections")
	path := fs.String("path", "/hello", "client request path")
	bodyLen := fs.Int("body", -1, "client POST body size (-1: GET)")
	fs.Parse(os.Args[2:])

	switch os.Args[1] {
	case "selftest":
		ln, err := serve(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bufio.NewReader(os.Stdin).ReadString('\n')
		base := "https://" + ln.Addr().String()
		c := newClient(*proto)
		fmt.Println(do(c, "GET", base+"/hello", nil))
		fmt.Println(do(c, "POST", base+"/echo", pattern(*big)))
		fmt.Println(do(c, "GET", base+"/big?n="+strconv.Itoa(*big), nil))
	case "server":
		if _, err := serve(*cert, *key); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		select {}
	case "client":
		url := fs.Arg(0)
		out := make([]string, *conns)
		var wg sync.WaitGroup
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var body []byte
				method := "GET"
				if *bodyLen >= 0 {
					method, body = "POST", pattern(*bodyLen)
				}
				out[i] = do(newClient(*proto), method, url+*path, body)
			}(i)
		}
		wg.Wait()
		for _, l := range out {
			fmt.Println(l)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
