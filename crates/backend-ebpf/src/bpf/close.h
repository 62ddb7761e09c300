/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Socket closes: at close(2), and below the syscall layer (process exit,
 * reset) through one of three variants of the same hook, of which the
 * loader keeps exactly one (fentry, else kprobe, else a tracepoint).
 */
#ifndef CT_CLOSE_H
#define CT_CLOSE_H

#define CT_TCP_CLOSE 7

static __always_inline void emit_close(__u32 pid, __u32 tid, __u32 fd, struct conn *c)
{
	struct ct_buf *b = scratch_buf();
	if (!b)
		return;
	__builtin_memset(&b->hdr, 0, sizeof(b->hdr));
	fill_hdr(&b->hdr, CT_KIND_CLOSE, CT_SRC_SYSCALL, 0, pid, tid, fd, c);
	/* The final positions (written, read) of the stream user space got. */
	b->hdr.pos = c->pos[0];
	b->hdr.total_len = c->pos[1];
	if (c->tls) {
		b->hdr.source = c->tls_source ? c->tls_source : CT_SRC_TLS;
		b->hdr.tls_library = c->tls_lib;
		b->hdr.pos = c->tls_pos[0];
		b->hdr.total_len = c->tls_pos[1];
	}
	emit_header(&b->hdr);
}

SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct conn_key key = { .pid = pid, .fd = (__u32)ctx->args[0] };
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	if (c->tcp) {
		__u64 sk = c->sk;
		bpf_map_delete_elem(&socks, &sk);
		if (traced(pid))
			emit_close(pid, tid, key.fd, c);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* A TCP socket went away below the syscall layer (process exit, RST):
 * close the (pid, fd) that still refers to it. */
static __always_inline int sock_gone(__u64 sk)
{
	struct conn_key *kp = bpf_map_lookup_elem(&socks, &sk);
	if (!kp)
		return 0;
	struct conn_key key = *kp;
	bpf_map_delete_elem(&socks, &sk);
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c || c->sk != sk)
		return 0;
	emit_close(key.pid, 0, key.fd, c);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("fentry/tcp_close")
int BPF_PROG(fentry_tcp_close, struct sock *sk, long timeout)
{
	return sock_gone((__u64)sk);
}

SEC("kprobe/tcp_close")
int BPF_KPROBE(kprobe_tcp_close, struct sock *sk)
{
	return sock_gone((__u64)sk);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tp_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != CT_IPPROTO_TCP || ctx->newstate != CT_TCP_CLOSE)
		return 0;
	/* A socket still held by a file is not gone: it reaches TCP_CLOSE on
	 * its way to TIME_WAIT after a half-close, or on a reset, while the
	 * process may still read what was received; its close() ends it. */
	struct sock *sk = (struct sock *)ctx->skaddr;
	if (BPF_CORE_READ(sk, sk_socket))
		return 0;
	return sock_gone((__u64)sk);
}

#endif
