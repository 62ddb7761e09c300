/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Socket syscalls (tracepoints, every kernel): plaintext of TCP sockets at
 * read/write/readv/writev/recvfrom/sendto/recvmsg/sendmsg, new connections
 * at accept/accept4/connect. A syscall made inside a TLS library call ties
 * that call's object to the socket (tls.h), and a socket whose first bytes
 * are a TLS record is TLS for good: its ciphertext is never emitted.
 */
#ifndef CT_SYSCALLS_H
#define CT_SYSCALLS_H

#define CT_EINPROGRESS 115
#define CT_MSG_PEEK 2

#define SYS_BUF 1
#define SYS_IOV 2
#define SYS_ACCEPT 3
#define SYS_CONNECT 4

/* A syscall between its enter and its exit, per thread. LRU: a thread that
 * dies inside a call leaves its entry behind. */
struct sys_call {
	__u64 buf; /* buffer, or iovec array */
	__u64 cnt; /* iovec count for SYS_IOV */
	__u32 fd;
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct sys_call);
} sys_calls SEC(".maps");

/* SSL-only mode: reads and writes matter only as far as they tie a TLS
 * object to its socket, and the fd, known at the syscall's entry, is all
 * that takes. So the loader leaves their exit tracepoints unattached
 * (loader.rs), and the entry does the work: inside a TLS call whose object
 * is not yet tied to this fd (its entry looked the object up), tie it; a
 * write after a TLS call that found no socket (pending_ssl) ties that
 * object; a read of a process with memory-BIO objects (bio_pids) is
 * remembered in last_read. Anything else, other processes' syscalls above
 * all, costs a lookup or two. */
static __always_inline void ssl_only_io(__u32 pid, __u32 tid, __u32 fd, __u8 dir)
{
	struct ssl_call *call = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (call && call->ssl) {
		if (call->fd == fd)
			return;
		struct conn *c = conn_of(pid, fd);
		if (!c || !c->tcp)
			return;
		call->fd = fd;
		tls_bind(pid, tid, call->ssl, fd, c);
		return;
	}
	if (dir == CT_DIR_EGRESS) {
		__u64 *pending = bpf_map_lookup_elem(&pending_ssl, &tid);
		if (!pending)
			return;
		__u64 ssl = *pending;
		struct conn *c = conn_of(pid, fd);
		if (!c || !c->tcp)
			return;
		tls_bind(pid, tid, ssl, fd, c);
		bpf_map_delete_elem(&pending_ssl, &tid);
		return;
	}
	if (!bpf_map_lookup_elem(&bio_pids, &pid))
		return;
	struct conn *c = conn_of(pid, fd);
	if (c && c->tcp)
		bpf_map_update_elem(&last_read, &tid, &fd, BPF_ANY);
}

/* Whether syscall plaintext is captured (else SSL-only mode, ssl_only_io). */
static __always_inline int capture_syscall(void)
{
	struct ct_config *cf = cfg();
	return cf && cf->capture_syscall;
}

/* A read or write (kind SYS_BUF or SYS_IOV) of fd is entered. */
static __always_inline int sys_enter_io(__u32 fd, __u64 buf, __u64 cnt, __u32 kind, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!capture_syscall()) {
		ssl_only_io(pid, tid, fd, dir);
		return 0;
	}
	if (!traced(pid))
		return 0;
	struct conn *c = conn_of(pid, fd);
	if (!c || !c->tcp)
		return 0;
	struct sys_call sc = { .buf = buf, .cnt = cnt, .fd = fd, .kind = kind };
	bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY);
	return 0;
}

/* An accept or connect (kind SYS_ACCEPT or SYS_CONNECT) on fd is entered. */
static __always_inline int sys_enter_conn(__u32 fd, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!traced(pid))
		return 0;
	struct sys_call sc = { .fd = fd, .kind = kind };
	bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY);
	return 0;
}

/* True (and the socket marked TLS) when the call's first bytes are a TLS
 * record header: 0x14-0x17, 0x03, 0x00-0x04. */
static __always_inline int starts_tls_record(struct conn *c, const struct sys_call *sc, long ret)
{
	__u64 first = sc->buf;
	if (sc->kind == SYS_IOV) {
		struct iovec v = {};
		if (sc->cnt == 0 || bpf_probe_read_user(&v, sizeof(v), (void *)sc->buf))
			return 1;
		first = (__u64)v.iov_base;
	}
	__u8 head[3] = {};
	__u32 have = ret < 3 ? ret : 3;
	if (!bpf_probe_read_user(head, have, (void *)first) && head[0] >= 0x14 && head[0] <= 0x17 &&
	    (have < 2 || head[1] == 0x03) && (have < 3 || head[2] <= 0x04)) {
		c->tls = 1;
		return 1;
	}
	return 0;
}

static __always_inline int sys_exit(long ret, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct sys_call *scp = bpf_map_lookup_elem(&sys_calls, &tid);
	if (!scp)
		return 0;
	struct sys_call sc = *scp;
	bpf_map_delete_elem(&sys_calls, &tid);

	if (sc.kind == SYS_ACCEPT) {
		if (ret >= 0)
			conn_open(pid, (__u32)ret, CT_ROLE_SERVER);
		return 0;
	}
	if (sc.kind == SYS_CONNECT) {
		if (ret == 0 || ret == -CT_EINPROGRESS)
			conn_open(pid, sc.fd, CT_ROLE_CLIENT);
		return 0;
	}

	struct conn *c = conn_of(pid, sc.fd);
	if (!c || !c->tcp)
		return 0;

	/* Inside a TLS library call: these are the TLS records of its object. */
	struct ssl_call *ssl = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (ssl && ssl->ssl) {
		ssl->fd = sc.fd;
		tls_bind(pid, tid, ssl->ssl, sc.fd, c);
	} else {
		__u64 *pending = bpf_map_lookup_elem(&pending_ssl, &tid);
		if (pending && dir == CT_DIR_EGRESS) {
			tls_bind(pid, tid, *pending, sc.fd, c);
			bpf_map_delete_elem(&pending_ssl, &tid);
		}
	}
	if (ret <= 0)
		return 0;
	if (dir == CT_DIR_INGRESS) {
		__u32 fd = sc.fd;
		bpf_map_update_elem(&last_read, &tid, &fd, BPF_ANY);
	}

	__u64 pos = c->pos[dir & 1];
	c->pos[dir & 1] = pos + ret;
	if (c->tls)
		return 0;

	struct ct_config *cf = cfg();
	if (!cf || !cf->capture_syscall)
		return 0;
	if (!cf->capture_egress && c->role == CT_ROLE_CLIENT)
		return 0;
	if (starts_tls_record(c, &sc, ret))
		return 0;

	if (sc.kind == SYS_BUF) {
		struct emit_ctx e = {};
		fill_hdr(&e.hdr, CT_KIND_DATA, CT_SRC_SYSCALL, dir, pid, tid, sc.fd, c);
		emit_call(&e, sc.buf, ret, pos);
	} else {
		__u64 budget = cf->max_call_bytes;
		if ((__u64)ret > budget)
			count(CT_CNT_CAPPED_BYTES, ret - budget);
		struct iov_ctx v = {};
		fill_hdr(&v.e.hdr, CT_KIND_DATA, CT_SRC_SYSCALL, dir, pid, tid, sc.fd, c);
		v.e.hdr.total_len = ret;
		v.e.pos = pos;
		v.iov = sc.buf;
		v.cnt = sc.cnt;
		v.left = ret;
		v.budget = budget;
		bpf_loop(CT_MAX_IOV, emit_iov, &v, 0);
		if (v.left || (__u64)ret > budget)
			emit_end(&v.e.hdr, pos + ret);
	}
	return 0;
}

#define ARG(i) ((__u64)ctx->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int tp_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_io(ARG(0), ARG(1), 0, SYS_BUF, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_read")
int tp_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tp_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	/* A peek consumes nothing: the bytes come again in a later read. */
	if (ARG(3) & CT_MSG_PEEK)
		return 0;
	return sys_enter_io(ARG(0), ARG(1), 0, SYS_BUF, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int tp_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_readv")
int tp_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_io(ARG(0), ARG(1), ARG(2), SYS_IOV, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_readv")
int tp_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_write")
int tp_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_io(ARG(0), ARG(1), 0, SYS_BUF, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_write")
int tp_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_enter_sendto")
int tp_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_io(ARG(0), ARG(1), 0, SYS_BUF, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int tp_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_enter_writev")
int tp_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_io(ARG(0), ARG(1), ARG(2), SYS_IOV, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_writev")
int tp_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}

/* recvmsg/sendmsg: the iovec array is read from the user msghdr at entry. */
static __always_inline int msg_enter(struct trace_event_raw_sys_enter *ctx, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!capture_syscall()) {
		ssl_only_io(pid, tid, ARG(0), dir);
		return 0;
	}
	if (!traced(pid))
		return 0;
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)ARG(1)))
		return 0;
	return sys_enter_io(ARG(0), (__u64)m.msg_iov, m.msg_iovlen, SYS_IOV, dir);
}
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tp_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(2) & CT_MSG_PEEK)
		return 0;
	return msg_enter(ctx, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int tp_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tp_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ctx, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int tp_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int tp_enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_conn(ARG(0), SYS_ACCEPT);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}
SEC("tracepoint/syscalls/sys_enter_accept")
int tp_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_conn(ARG(0), SYS_ACCEPT);
}
SEC("tracepoint/syscalls/sys_exit_accept")
int tp_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}
SEC("tracepoint/syscalls/sys_enter_connect")
int tp_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter_conn(ARG(0), SYS_CONNECT);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int tp_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}

#endif
