/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What every TLS library probe shares: a read or write call between its
 * entry and its return (per thread), the TLS connection object's socket and
 * plaintext positions (kept across calls), and the emission of plaintext.
 *
 * A library's header (openssl.h, ...) only says where its functions keep
 * the object, the buffer and the result: its entry probe calls tls_enter,
 * its return probe tls_return. The uprobe's attach cookie names the
 * library (CT_LIB_*), so one program serves every library sharing an ABI.
 *
 * How the object is tied to its socket, without struct offsets: while a
 * call runs on a thread, the socket syscall it makes names the fd
 * (syscalls.h calls tls_bind); the tie is kept for later buffered reads
 * that make no syscall. For memory BIOs (node), the socket read just
 * before a read, or written just after a write, on the same thread names it.
 */
#ifndef CT_TLS_H
#define CT_TLS_H

/* A TLS read or write between its entry and its return, per thread. The
 * entry stays in the map after the return, with ssl set to 0: the thread's
 * next call writes it in place, so a call costs two lookups instead of an
 * insertion and a deletion in an LRU map (each takes the map's locks). */
struct ssl_call {
	__u64 ssl; /* SSL *, gnutls_session_t or NSPR PRFileDesc *; 0: no call */
	__u64 buf;
	__u64 len_ptr; /* size_t * of the _ex variants, else 0 */
	__u32 is_read;
	__u32 fd; /* the object's socket as known at entry, or set by the nested syscall */
	__u32 lib; /* CT_LIB_* */
	__u32 iov_cnt; /* PRIOVecs at buf (PR_Writev, nspr_iov.h), else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

struct ssl_key {
	__u32 pid;
	__u32 _pad;
	__u64 ssl;
};

/* A TLS object's socket and plaintext positions; kept across calls. */
struct ssl_state {
	__u64 pos[2];
	__u32 fd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, struct ssl_state);
} ssl_states SEC(".maps");

/* A TLS object whose socket is not known yet (memory BIO, as in node):
 * the next socket syscall of the thread names it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} pending_ssl SEC(".maps");

/* The last TCP socket a thread read from (memory-BIO SSL_read follows it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} last_read SEC(".maps");

/* Processes holding a TLS object that no nested syscall tied to a socket
 * (memory BIO): in SSL-only mode only their socket reads are remembered in
 * last_read; other processes' syscalls outside TLS calls are not looked at. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} bio_pids SEC(".maps");

/* Ties a TLS object to fd (from a nested or following syscall). */
static __always_inline void tls_bind(__u32 pid, __u32 tid, __u64 ssl, __u32 fd, struct conn *c)
{
	struct ssl_key k = { .pid = pid, .ssl = ssl };
	struct ssl_state *st = bpf_map_lookup_elem(&ssl_states, &k);
	c->tls = 1;
	if (!st) {
		struct ssl_state fresh = { .fd = fd };
		bpf_map_update_elem(&ssl_states, &k, &fresh, BPF_ANY);
		return;
	}
	if (st->fd == fd)
		return;
	if (st->fd != CT_FD_UNKNOWN) {
		/* The object moved to another socket: a new stream. */
		st->pos[0] = 0;
		st->pos[1] = 0;
	}
	st->fd = fd;
	/* Tell user space, which may hold plaintext of this object whose
	 * socket it did not know yet. */
	struct ct_buf *b = scratch_buf();
	if (!b)
		return;
	__builtin_memset(&b->hdr, 0, sizeof(b->hdr));
	fill_hdr(&b->hdr, CT_KIND_ASSOC, CT_SRC_TLS, 0, pid, tid, fd, c);
	b->hdr.ssl = ssl;
	emit_header(&b->hdr);
}

/* Entry of a read or write on object ssl; ctx is the uprobe's, whose attach
 * cookie names the library. */
static __always_inline int tls_enter(void *ctx, void *ssl, const void *buf, void *len_ptr,
				     __u32 is_read)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!ssl || !traced(pid))
		return 0;
	/* A TLS call inside another on the same object (a library's public
	 * function calling another public one) is the same bytes: keep the
	 * outer call. */
	struct ssl_call *cur = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (cur && cur->ssl == (__u64)ssl && cur->buf == (__u64)buf)
		return 0;
	__u32 lib = (__u32)bpf_get_attach_cookie(ctx);
	/* The socket the object is tied to already: a nested syscall on it
	 * then needs no work (syscalls.h, ssl_only_io). */
	struct ssl_key k = { .pid = pid, .ssl = (__u64)ssl };
	struct ssl_state *st = bpf_map_lookup_elem(&ssl_states, &k);
	struct ssl_call sc = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.len_ptr = (__u64)len_ptr,
		.is_read = is_read,
		.fd = st ? st->fd : CT_FD_UNKNOWN,
		.lib = lib,
	};
	if (cur)
		*cur = sc;
	else
		bpf_map_update_elem(&ssl_calls, &tid, &sc, BPF_ANY);
	return 0;
}

/* How a TLS call's return value gives the bytes it moved (tls_return's shape). */
#define TLS_RET_COUNT 0   /* the count itself, <= 0 when none */
#define TLS_RET_EX 1      /* 1/0, the count behind len_ptr */
#define TLS_RET_PRIOVEC 2 /* the count, the bytes in the PRIOVecs at buf */

/* The call of this thread returned: ret is the library's return value,
 * read as shape (TLS_RET_*) says. */
static __always_inline int tls_return(long ret, int shape)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct ssl_call *scp = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (!scp || !scp->ssl)
		return 0;
	struct ssl_call sc = *scp;
	scp->ssl = 0;

	__u64 n = 0;
	if (shape == TLS_RET_EX) {
		if (ret != 1 || !sc.len_ptr)
			return 0;
		if (bpf_probe_read_user(&n, sizeof(n), (void *)sc.len_ptr))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		n = ret;
	}
	if (n == 0)
		return 0;

	struct ssl_key k = { .pid = pid, .ssl = sc.ssl };
	struct ssl_state *st = bpf_map_lookup_elem(&ssl_states, &k);
	if (!st) {
		struct ssl_state fresh = { .fd = CT_FD_UNKNOWN };
		bpf_map_update_elem(&ssl_states, &k, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&ssl_states, &k);
		if (!st)
			return 0;
	}
	__u32 fd = st->fd;
	if (fd == CT_FD_UNKNOWN && sc.is_read) {
		/* Memory BIO: the ciphertext came from the last socket this
		 * thread read. */
		__u32 *lr = bpf_map_lookup_elem(&last_read, &tid);
		if (lr) {
			struct conn *lc = conn_of(pid, *lr);
			if (lc && lc->tcp) {
				tls_bind(pid, tid, sc.ssl, *lr, lc);
				fd = *lr;
			}
		}
	}
	if (fd == CT_FD_UNKNOWN) {
		/* The next socket write of this thread will tell. */
		__u64 s = sc.ssl;
		bpf_map_update_elem(&pending_ssl, &tid, &s, BPF_ANY);
		__u8 one = 1;
		bpf_map_update_elem(&bio_pids, &pid, &one, BPF_ANY);
	}

	__u8 dir = sc.is_read ? CT_DIR_INGRESS : CT_DIR_EGRESS;
	__u64 pos = st->pos[dir & 1];
	st->pos[dir & 1] = pos + n;

	struct conn *c = 0;
	if (fd != CT_FD_UNKNOWN) {
		c = conn_of(pid, fd);
		if (c) {
			c->tls = 1;
			c->tls_source = CT_SRC_TLS;
			c->tls_lib = sc.lib;
			c->tls_pos[dir & 1] = pos + n;
		}
	}
	struct ct_config *cf = cfg();
	if (!cf)
		return 0;
	if (!cf->capture_egress && c && c->role == CT_ROLE_CLIENT)
		return 0;

	struct emit_ctx e = {};
	fill_hdr(&e.hdr, CT_KIND_DATA, CT_SRC_TLS, dir, pid, tid, fd, c);
	e.hdr.ssl = sc.ssl;
	e.hdr.tls_library = sc.lib;
	if (shape == TLS_RET_PRIOVEC)
		nspr_emit_iov(&e.hdr, sc.buf, sc.iov_cnt, n, pos);
	else
		emit_call(&e, sc.buf, n, pos);
	return 0;
}

/* The TLS object is freed: forget its state. */
static __always_inline int tls_free(void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k = { .pid = id >> 32, .ssl = (__u64)ssl };
	bpf_map_delete_elem(&ssl_states, &k);
	return 0;
}

#endif
