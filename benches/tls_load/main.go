// tls_load drives a TLS server that wrk cannot: servers that echo what
// they read (gnutls-serv without --http) or answer once and close (NSS's
// selfserv). CONNS connections, each writing a request and reading the
// answer in a loop for DURATION; a connection the server closed is dialled
// again. It prints the completed round trips and their rate, as wrk does:
//
//	N requests in S s
//	Requests/sec: R
//
// -echo: the answer is the request's bytes (keep-alive); otherwise the
// answer runs to the server's close.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:443", "server address")
	conns := flag.Int("c", 32, "connections")
	duration := flag.Duration("d", 10*time.Second, "duration")
	echo := flag.Bool("echo", false, "the server echoes (keep-alive); otherwise it closes after answering")
	flag.Parse()

	req := []byte("GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tls_load\r\nAccept: */*\r\n\r\n")
	if *echo {
		// An echo is line-based in gnutls-serv: one line of the same size.
		req = append(bytes.Repeat([]byte("x"), len(req)-1), '\n')
	}
	cfg := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(*conns)}
	var done, failed atomic.Int64
	start := time.Now()
	end := start.Add(*duration)
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			var c *tls.Conn
			for time.Now().Before(end) {
				if c == nil {
					var err error
					c, err = tls.Dial("tcp", *addr, cfg)
					if err != nil {
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				c.SetDeadline(end.Add(time.Second))
				if _, err := c.Write(req); err != nil {
					c.Close()
					c = nil
					failed.Add(1)
					continue
				}
				if *echo {
					if _, err := io.ReadFull(c, buf[:len(req)]); err != nil {
						c.Close()
						c = nil
						failed.Add(1)
						continue
					}
				} else {
					if _, err := io.CopyBuffer(io.Discard, c, buf); err != nil {
						failed.Add(1)
					}
					c.Close()
					c = nil
				}
				done.Add(1)
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("  %d requests in %.2fs, %d errors\n", done.Load(), secs, failed.Load())
	fmt.Printf("Requests/sec: %.2f\n", float64(done.Load())/secs)
	if done.Load() == 0 {
		os.Exit(1)
	}
}
