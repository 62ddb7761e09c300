/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Go's crypto/tls: plaintext at (*Conn).Write (entry) and (*Conn).Read
 * (entry, and every RET instruction of the function), Go 1.17+ on amd64.
 *
 * Go's register ABI passes the receiver and arguments in RAX, RBX, RCX,
 * ... and returns results in the same registers; R14 holds the running
 * goroutine. Never uretprobes: they rewrite the return address on the
 * stack, and Go moves goroutine stacks (the copy keeps the trampoline's
 * address, and the program crashes). So Read's entry saves its
 * (connection, buffer) keyed by goroutine — not by thread: a goroutine may
 * be resumed on another thread — and a uprobe on each RET of Read, found by
 * user space disassembling the function, emits the bytes read.
 *
 * The socket: *tls.Conn -> its net.Conn interface (data word) ->
 * *net.TCPConn (net.conn) -> *netFD -> pfd.Sysfd, at offsets user space
 * read from the binary's DWARF or from a table by Go version, in
 * go_layouts at the index the attach cookie carries. The fd is accepted
 * only when the netFD says AF_INET/AF_INET6 and SOCK_STREAM and the fd is a
 * TCP socket of the process; otherwise (a tls.Conn over a unix socket, a
 * pipe, another tls.Conn) the bytes go out keyed by the connection object,
 * without socket (fd CT_FD_UNKNOWN).
 */
#ifndef CT_GO_TLS_H
#define CT_GO_TLS_H

#define GO_MAX_LAYOUTS 64
#define GO_MAX_FD (1 << 24)

/* Byte offsets into one binary's structs (src/go/layout.rs). */
struct go_layout {
	__u32 tls_conn; /* crypto/tls.Conn.conn: the net.Conn interface */
	__u32 conn_fd; /* net.conn.fd, at the start of *net.TCPConn */
	__u32 sysfd; /* net.netFD.pfd + internal/poll.FD.Sysfd */
	__u32 family; /* net.netFD.family */
	__u32 sotype; /* net.netFD.sotype */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GO_MAX_LAYOUTS);
	__type(key, __u32);
	__type(value, struct go_layout);
} go_layouts SEC(".maps");

struct go_read_key {
	__u32 pid;
	__u32 _pad;
	__u64 g; /* the goroutine (R14) */
};

/* A Read between its entry and a RET. */
struct go_read {
	__u64 conn;
	__u64 buf;
	__u32 layout;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct go_read_key);
	__type(value, struct go_read);
} go_reads SEC(".maps");

/* The TCP socket under a *tls.Conn, or CT_FD_UNKNOWN. */
static __always_inline __u32 go_socket_fd(__u64 conn, __u32 layout)
{
	struct go_layout *l = bpf_map_lookup_elem(&go_layouts, &layout);
	if (!l)
		return CT_FD_UNKNOWN;
	__u64 tcpconn = 0, netfd = 0;
	__s64 sysfd = -1, family = 0, sotype = 0;
	/* An interface is (itab, data): the data word is the *net.TCPConn. */
	if (bpf_probe_read_user(&tcpconn, sizeof(tcpconn), (void *)(conn + l->tls_conn + 8)) ||
	    !tcpconn)
		return CT_FD_UNKNOWN;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(tcpconn + l->conn_fd)) || !netfd)
		return CT_FD_UNKNOWN;
	if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + l->sysfd)) ||
	    bpf_probe_read_user(&family, sizeof(family), (void *)(netfd + l->family)) ||
	    bpf_probe_read_user(&sotype, sizeof(sotype), (void *)(netfd + l->sotype)))
		return CT_FD_UNKNOWN;
	if ((family != CT_AF_INET && family != CT_AF_INET6) || sotype != CT_SOCK_STREAM ||
	    sysfd < 0 || sysfd >= GO_MAX_FD)
		return CT_FD_UNKNOWN;
	return (__u32)sysfd;
}

/* Emits n plaintext bytes at buf of connection object conn. */
static __always_inline int go_emit(__u64 conn, __u64 buf, __u64 n, __u8 dir, __u32 layout)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (n == 0)
		return 0;
	__u32 fd = go_socket_fd(conn, layout);
	struct conn *c = 0;
	if (fd != CT_FD_UNKNOWN) {
		c = conn_of(pid, fd);
		if (!c || !c->tcp) {
			c = 0;
			fd = CT_FD_UNKNOWN;
		}
	}
	__u64 pos;
	if (c) {
		/* Positions live with the socket: they start afresh with each
		 * connection, whatever object address Go reuses. */
		c->tls = 1;
		c->tls_source = CT_SRC_GO_TLS;
		c->tls_lib = CT_LIB_GO;
		pos = c->tls_pos[dir & 1];
		c->tls_pos[dir & 1] = pos + n;
	} else {
		struct ssl_key k = { .pid = pid, .ssl = conn };
		struct ssl_state *st = bpf_map_lookup_elem(&ssl_states, &k);
		if (!st) {
			struct ssl_state fresh = { .fd = CT_FD_UNKNOWN };
			bpf_map_update_elem(&ssl_states, &k, &fresh, BPF_NOEXIST);
			st = bpf_map_lookup_elem(&ssl_states, &k);
			if (!st)
				return 0;
		}
		pos = st->pos[dir & 1];
		st->pos[dir & 1] = pos + n;
	}
	struct ct_config *cf = cfg();
	if (!cf)
		return 0;
	if (!cf->capture_egress && c && c->role == CT_ROLE_CLIENT)
		return 0;
	struct emit_ctx e = {};
	fill_hdr(&e.hdr, CT_KIND_DATA, CT_SRC_GO_TLS, dir, pid, tid, fd, c);
	e.hdr.ssl = conn;
	e.hdr.tls_library = CT_LIB_GO;
	emit_call(&e, buf, n, pos);
	return 0;
}

/* func (c *Conn) Write(b []byte) (int, error): c in RAX, b in RBX/RCX/RDI. */
SEC("uprobe")
int go_tls_write_entry(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(pid))
		return 0;
	return go_emit(ctx->ax, ctx->bx, ctx->cx, CT_DIR_EGRESS, (__u32)bpf_get_attach_cookie(ctx));
}

/* func (c *Conn) Read(b []byte) (int, error): remember c and b. */
SEC("uprobe")
int go_tls_read_entry(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(pid))
		return 0;
	struct go_read_key k = { .pid = pid, .g = ctx->r14 };
	struct go_read r = {
		.conn = ctx->ax,
		.buf = ctx->bx,
		.layout = (__u32)bpf_get_attach_cookie(ctx),
	};
	bpf_map_update_elem(&go_reads, &k, &r, BPF_ANY);
	return 0;
}

/* A RET of Read: n in RAX (the error, if any, in RBX/RCX). */
SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct go_read_key k = { .pid = pid, .g = ctx->r14 };
	struct go_read *rp = bpf_map_lookup_elem(&go_reads, &k);
	if (!rp)
		return 0;
	struct go_read r = *rp;
	bpf_map_delete_elem(&go_reads, &k);
	__s64 n = (__s64)ctx->ax;
	if (n <= 0)
		return 0;
	return go_emit(r.conn, r.buf, (__u64)n, CT_DIR_INGRESS, r.layout);
}

#endif
