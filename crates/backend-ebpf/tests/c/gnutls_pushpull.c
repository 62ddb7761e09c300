/*
 * A GnuTLS client with its own transport functions
 * (gnutls_transport_set_push_function / _pull_function), as applications
 * that run TLS over their own I/O layer have. It sends one HTTP request to
 * 127.0.0.1:PORT and prints the response.
 *
 *   gnutls_pushpull socket PORT PATH  push/pull call send()/recv() on the
 *                                     TCP socket, in the GnuTLS call
 *   gnutls_pushpull thread PORT PATH  push/pull write/read one end of a
 *                                     unix socket pair; two relay threads
 *                                     move the records between its other
 *                                     end and the TCP socket (the thread
 *                                     calling GnuTLS never touches TCP)
 *
 *   gnutls_pushpull serve PORT CERT KEY
 *                                     the server side of "thread": listens
 *                                     on 127.0.0.1:PORT, answers one
 *                                     request with 200 and a small body
 *
 * It says "session 0x..." (the gnutls_session_t) on stderr, and the server
 * "listening" once it listens.
 */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t push_send(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	return send((int)(intptr_t)p, data, len, 0);
}

static ssize_t pull_recv(gnutls_transport_ptr_t p, void *data, size_t len)
{
	return recv((int)(intptr_t)p, data, len, 0);
}

static ssize_t push_write(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	return write((int)(intptr_t)p, data, len);
}

static ssize_t pull_read(gnutls_transport_ptr_t p, void *data, size_t len)
{
	return read((int)(intptr_t)p, data, len);
}

struct relay {
	int from, to;
};

/* Copies from -> to until EOF, then half-closes to. */
static void *relay(void *arg)
{
	struct relay *r = arg;
	char buf[16384];
	ssize_t n;
	while ((n = read(r->from, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(r->to, buf + off, n - off);
			if (w <= 0)
				return NULL;
			off += w;
		}
	}
	shutdown(r->to, SHUT_WR);
	return NULL;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "%s: %s\n", what, rc ? gnutls_strerror(rc) : "failed");
	return 1;
}

/* Session I/O through a unix socket pair whose other end two relay threads
 * connect to tcp: the thread calling GnuTLS never touches the TCP socket. */
static int relay_through_threads(gnutls_session_t session, int tcp)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair))
		return -1;
	static struct relay out, in;
	out = (struct relay){ .from = pair[1], .to = tcp };
	in = (struct relay){ .from = tcp, .to = pair[1] };
	pthread_t t1, t2;
	if (pthread_create(&t1, NULL, relay, &out) || pthread_create(&t2, NULL, relay, &in))
		return -1;
	/* The default pull-timeout function polls this fd: a socket. */
	gnutls_transport_set_ptr(session, (gnutls_transport_ptr_t)(intptr_t)pair[0]);
	gnutls_transport_set_push_function(session, push_write);
	gnutls_transport_set_pull_function(session, pull_read);
	return 0;
}

static const char body[] = "pushpull server body\n";

/* One connection on 127.0.0.1:port, one request, one response. */
static int serve(int port, const char *cert, const char *key)
{
	int lsn = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsn, 1))
		return fail("listen", 0);
	fprintf(stderr, "listening\n");
	gnutls_certificate_credentials_t cred;
	gnutls_session_t session;
	int rc;
	if ((rc = gnutls_global_init()) || (rc = gnutls_certificate_allocate_credentials(&cred)) ||
	    (rc = gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM)) ||
	    (rc = gnutls_init(&session, GNUTLS_SERVER)) || (rc = gnutls_set_default_priority(session)) ||
	    (rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)))
		return fail("setup", rc);
	fprintf(stderr, "session %p\n", (void *)session);
	int tcp = accept(lsn, NULL, NULL);
	if (tcp < 0 || relay_through_threads(session, tcp))
		return fail("accept", 0);
	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		return fail("handshake", rc);
	char req[4096];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		ssize_t n = gnutls_record_recv(session, req + got, sizeof(req) - 1 - got);
		if (n == 0 || (n < 0 && gnutls_error_is_fatal(n)))
			return fail("recv", n < 0 ? (int)n : 0);
		if (n > 0)
			got += n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	char resp[512];
	int len = snprintf(resp, sizeof(resp),
			   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n\r\n%s",
			   sizeof(body) - 1, body);
	for (int off = 0; off < len;) {
		ssize_t n = gnutls_record_send(session, resp + off, len - off);
		if (n < 0 && gnutls_error_is_fatal(n))
			return fail("send", (int)n);
		if (n > 0)
			off += n;
	}
	gnutls_bye(session, GNUTLS_SHUT_WR);
	/* The relay moves the last records before the process ends. */
	usleep(200 * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), argv[3], argv[4]);
	if (argc != 4 || (strcmp(argv[1], "socket") && strcmp(argv[1], "thread"))) {
		fprintf(stderr, "usage: %s socket|thread PORT PATH | serve PORT CERT KEY\n", argv[0]);
		return 2;
	}
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (tcp < 0 || connect(tcp, (struct sockaddr *)&sa, sizeof(sa)))
		return fail("connect", 0);

	gnutls_certificate_credentials_t cred;
	gnutls_session_t session;
	int rc;
	if ((rc = gnutls_global_init()) || (rc = gnutls_certificate_allocate_credentials(&cred)) ||
	    (rc = gnutls_init(&session, GNUTLS_CLIENT)) || (rc = gnutls_set_default_priority(session)) ||
	    (rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)))
		return fail("setup", rc);
	fprintf(stderr, "session %p\n", (void *)session);

	if (!strcmp(argv[1], "socket")) {
		gnutls_transport_set_ptr(session, (gnutls_transport_ptr_t)(intptr_t)tcp);
		gnutls_transport_set_push_function(session, push_send);
		gnutls_transport_set_pull_function(session, pull_recv);
	} else if (relay_through_threads(session, tcp)) {
		return fail("relay threads", 0);
	}

	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		return fail("handshake", rc);

	char req[512];
	int len = snprintf(req, sizeof(req),
			   "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", argv[3]);
	for (int off = 0; off < len;) {
		ssize_t n = gnutls_record_send(session, req + off, len - off);
		if (n < 0 && gnutls_error_is_fatal(n))
			return fail("send", (int)n);
		if (n > 0)
			off += n;
	}
	char buf[16384];
	for (;;) {
		ssize_t n = gnutls_record_recv(session, buf, sizeof(buf));
		if (n == 0 || (n < 0 && gnutls_error_is_fatal(n)))
			break;
		if (n > 0)
			fwrite(buf, 1, n, stdout);
	}
	fflush(stdout);
	gnutls_bye(session, GNUTLS_SHUT_WR);
	gnutls_deinit(session);
	gnutls_certificate_free_credentials(cred);
	return 0;
}
