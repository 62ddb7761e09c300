// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cleartap's kernel side: plaintext of TCP sockets at the socket syscalls,
 * plaintext of TLS connections at SSL_read/SSL_write (uprobes), and socket
 * closes. One object holds every variant; the loader switches off what the
 * running kernel cannot load (kprobe, fentry) before loading it.
 *
 * Each event is a struct ct_event header plus up to CT_CHUNK payload bytes,
 * stamped with the byte position of its first byte in that socket
 * direction, so that user space sees exactly which bytes are missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "cleartap.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CT_AF_INET 2
#define CT_AF_INET6 10
#define CT_SOCK_STREAM 1
#define CT_IPPROTO_TCP 6
#define CT_S_IFMT 00170000
#define CT_S_IFSOCK 0140000
#define CT_EINPROGRESS 115
#define CT_TCP_CLOSE 7

/* ---- maps ---------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_config);
} ct_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_filter SEC(".maps");

struct comm_name {
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct comm_name);
	__type(value, __u8);
} comm_filter SEC(".maps");

/* One event being assembled, per CPU. */
struct ct_buf {
	struct ct_event hdr;
	__u8 data[CT_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_buf);
} scratch SEC(".maps");

struct conn_key {
	__u32 pid;
	__u32 fd;
};

/* What is known about one (process, fd). tcp == 0 caches "not a TCP socket". */
struct conn {
	__u64 pos[2];
	__u64 tls_pos[2]; /* end of the TLS plaintext handed out, per direction */
	__u64 netns;
	__u64 sk;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 family;
	__u8 role;
	__u8 tls;
	__u8 tcp;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

/* struct sock * -> (pid, fd), for closes seen below the syscall layer. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn_key);
} socks SEC(".maps");

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

#define CT_MSG_PEEK 2

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct sys_call);
} sys_calls SEC(".maps");

/* An SSL_* call between its entry and its return, per thread. */
struct ssl_call {
	__u64 ssl; /* SSL *, gnutls_session_t or NSPR PRFileDesc * */
	__u64 buf;
	__u64 len_ptr; /* size_t * of the _ex variants, else 0 */
	__u32 is_read;
	__u32 fd; /* set by the nested socket syscall */
	__u8 lib; /* CT_LIB_* */
	__u8 _pad[7];
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

/* An SSL object's socket and plaintext positions; kept across calls. */
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

/* An SSL object whose socket is not known yet (memory BIO, as in node):
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

/* ---- helpers ------------------------------------------------------------- */

/* Wake the reader only once a batch is waiting: one wakeup per event costs a
 * context switch per read/write at high rates. The reader polls with a
 * short timeout, so a lone event waits at most that long. */
#define CT_WAKEUP_BYTES (256 << 10)

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > CT_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline struct ct_config *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ct_cfg, &zero);
}

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		__sync_fetch_and_add(c, n);
}

/* Whether the current process is traced at all. */
static __always_inline int traced(__u32 pid)
{
	struct ct_config *c = cfg();
	if (!c)
		return 0;
	if (pid == c->self_pid)
		return 0;
	if (c->filter_pids && !bpf_map_lookup_elem(&pid_filter, &pid))
		return 0;
	if (c->filter_cgroups) {
		/* The process's cgroup or any cgroup above it (a pod's cgroup
		 * sits below kubepods.slice). */
		__u64 cg = bpf_get_current_cgroup_id();
		int found = bpf_map_lookup_elem(&cgroup_filter, &cg) != 0;
		for (int level = 1; level <= 12 && !found; level++) {
			__u64 up = bpf_get_current_ancestor_cgroup_id(level);
			if (!up)
				break;
			found = bpf_map_lookup_elem(&cgroup_filter, &up) != 0;
		}
		if (!found)
			return 0;
	}
	if (c->filter_comms) {
		struct comm_name n = {};
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		BPF_CORE_READ_STR_INTO(&n.name, leader, comm);
		if (!bpf_map_lookup_elem(&comm_filter, &n))
			return 0;
	}
	return 1;
}

static __always_inline void fill_from_sock(struct conn *c, struct sock *sk)
{
	c->sk = (__u64)sk;
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (c->family == CT_AF_INET) {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr);
	}
}

/* fd -> file -> socket -> sock, or NULL when fd is not a TCP socket. */
static __always_inline struct sock *tcp_sock_of(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return 0;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & CT_S_IFMT) != CT_S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != CT_SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != CT_AF_INET && family != CT_AF_INET6)
		return 0;
	__u16 proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (proto != CT_IPPROTO_TCP)
		return 0;
	return sk;
}

/* The connection of (pid, fd), created on first sight (also for sockets
 * opened before cleartap started: the addresses come from the struct sock). */
static __always_inline struct conn *conn_of(__u32 pid, __u32 fd)
{
	struct conn_key key = { .pid = pid, .fd = fd };
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		return c;
	struct conn fresh = {};
	struct sock *sk = tcp_sock_of(fd);
	if (sk) {
		fresh.tcp = 1;
		fill_from_sock(&fresh, sk);
		__u64 skp = (__u64)sk;
		bpf_map_update_elem(&socks, &skp, &key, BPF_ANY);
	}
	bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&conns, &key);
}

/* A new connection from accept() or connect(): positions start at zero. */
static __always_inline void conn_open(__u32 pid, __u32 fd, __u8 role)
{
	struct sock *sk = tcp_sock_of(fd);
	if (!sk)
		return;
	struct conn_key key = { .pid = pid, .fd = fd };
	struct conn fresh = {};
	fresh.tcp = 1;
	fresh.role = role;
	fill_from_sock(&fresh, sk);
	__u64 skp = (__u64)sk;
	bpf_map_update_elem(&socks, &skp, &key, BPF_ANY);
	bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
}

static __always_inline void fill_hdr(struct ct_event *h, __u8 kind, __u8 source, __u8 dir,
				     __u32 pid, __u32 tid, __u32 fd, const struct conn *c)
{
	h->kind = kind;
	h->source = source;
	h->dir = dir;
	h->pid = pid;
	h->tid = tid;
	h->fd = fd;
	h->ts = bpf_ktime_get_ns();
	/* The process's name: the thread group leader's comm. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	BPF_CORE_READ_STR_INTO(&h->comm, leader, comm);
	if (c && c->tcp) {
		h->role = c->role;
		h->family = c->family;
		h->lport = c->lport;
		h->rport = c->rport;
		h->netns = c->netns;
		__builtin_memcpy(h->laddr, c->laddr, 16);
		__builtin_memcpy(h->raddr, c->raddr, 16);
	}
}

/* ---- payload emission ---------------------------------------------------- */

struct emit_ctx {
	struct ct_event hdr;
	__u64 buf;
	__u64 len; /* bytes to capture from buf */
	__u64 pos; /* position of buf[0] */
};

static long emit_chunk(__u32 i, void *arg)
{
	struct emit_ctx *ctx = arg;
	__u64 off = (__u64)i * CT_CHUNK;
	if (off >= ctx->len)
		return 1;
	__u64 n = ctx->len - off;
	if (n > CT_CHUNK)
		n = CT_CHUNK;
	__u32 zero = 0;
	struct ct_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return 1;
	__builtin_memcpy(&b->hdr, &ctx->hdr, sizeof(b->hdr));
	b->hdr.pos = ctx->pos + off;
	b->hdr.chunk_len = n;
	if (bpf_probe_read_user(b->data, n, (void *)(ctx->buf + off))) {
		count(CT_CNT_READ_FAULT, n);
		return 0;
	}
	if (bpf_ringbuf_output(&events, b, sizeof(struct ct_event) + n, rb_flags())) {
		count(CT_CNT_RINGBUF_FULL, 1);
		count(CT_CNT_RINGBUF_FULL_BYTES, n);
	}
	return 0;
}

/* Emits buf[0..len) as chunks starting at byte position pos. */
static __always_inline void emit_buf(struct emit_ctx *ctx)
{
	__u32 loops = (ctx->len + CT_CHUNK - 1) / CT_CHUNK;
	bpf_loop(loops, emit_chunk, ctx, 0);
}

/* A payload-less event at the end of a call whose bytes were not all
 * captured: the stream reached position end, so the missing bytes are a
 * gap even when nothing follows them. */
static __always_inline void emit_end(const struct ct_event *tmpl, __u64 end)
{
	__u32 zero = 0;
	struct ct_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return;
	__builtin_memcpy(&b->hdr, tmpl, sizeof(b->hdr));
	b->hdr.pos = end;
	b->hdr.chunk_len = 0;
	if (bpf_ringbuf_output(&events, &b->hdr, sizeof(b->hdr), rb_flags()))
		count(CT_CNT_RINGBUF_FULL, 1);
}

struct iov_ctx {
	struct emit_ctx e;
	__u64 iov;
	__u64 cnt;
	__u64 left; /* bytes of the call not yet walked */
	__u64 budget; /* bytes still allowed to be captured */
};

static long emit_iov(__u32 i, void *arg)
{
	struct iov_ctx *ctx = arg;
	if (i >= ctx->cnt || ctx->left == 0)
		return 1;
	struct iovec v = {};
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(ctx->iov + (__u64)i * sizeof(struct iovec))))
		return 1;
	__u64 len = v.iov_len;
	if (len > ctx->left)
		len = ctx->left;
	__u64 take = len;
	if (take > ctx->budget)
		take = ctx->budget;
	ctx->e.buf = (__u64)v.iov_base;
	ctx->e.len = take;
	if (take)
		bpf_loop((take + CT_CHUNK - 1) / CT_CHUNK, emit_chunk, &ctx->e, 0);
	ctx->e.pos += len;
	ctx->left -= len;
	ctx->budget -= take;
	return 0;
}

/* ---- socket syscalls ----------------------------------------------------- */

static __always_inline int sys_enter(__u32 fd, __u64 buf, __u64 cnt, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!traced(pid))
		return 0;
	if (kind == SYS_BUF || kind == SYS_IOV) {
		struct conn *c = conn_of(pid, fd);
		if (!c || !c->tcp)
			return 0;
	}
	struct sys_call sc = { .buf = buf, .cnt = cnt, .fd = fd, .kind = kind };
	bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY);
	return 0;
}

/* Ties an SSL object to fd (from a nested or following syscall). */
static __always_inline void ssl_bind(__u32 pid, __u32 tid, __u64 ssl, __u32 fd, struct conn *c)
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
		/* The SSL object moved to another socket: a new stream. */
		st->pos[0] = 0;
		st->pos[1] = 0;
	}
	st->fd = fd;
	/* Tell user space, which may hold plaintext of this SSL object whose
	 * socket it did not know yet. */
	__u32 zero = 0;
	struct ct_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return;
	__builtin_memset(&b->hdr, 0, sizeof(b->hdr));
	fill_hdr(&b->hdr, CT_KIND_ASSOC, CT_SRC_TLS, 0, pid, tid, fd, c);
	b->hdr.ssl = ssl;
	if (bpf_ringbuf_output(&events, &b->hdr, sizeof(b->hdr), rb_flags()))
		count(CT_CNT_RINGBUF_FULL, 1);
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

	/* Inside SSL_*: these are the TLS records of that SSL object. */
	struct ssl_call *ssl = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (ssl) {
		ssl->fd = sc.fd;
		ssl_bind(pid, tid, ssl->ssl, sc.fd, c);
	} else {
		__u64 *pending = bpf_map_lookup_elem(&pending_ssl, &tid);
		if (pending && dir == CT_DIR_EGRESS) {
			ssl_bind(pid, tid, *pending, sc.fd, c);
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

	/* The first bytes: a TLS record header marks the socket as TLS for good. */
	__u64 first = sc.buf;
	if (sc.kind == SYS_IOV) {
		struct iovec v = {};
		if (sc.cnt == 0 || bpf_probe_read_user(&v, sizeof(v), (void *)sc.buf))
			return 0;
		first = (__u64)v.iov_base;
	}
	__u8 head[3] = {};
	__u32 have = ret < 3 ? ret : 3;
	if (!bpf_probe_read_user(head, have, (void *)first) && head[0] >= 0x14 && head[0] <= 0x17 &&
	    (have < 2 || head[1] == 0x03) && (have < 3 || head[2] <= 0x04)) {
		c->tls = 1;
		return 0;
	}

	__u64 budget = cf->max_call_bytes;
	if ((__u64)ret > budget)
		count(CT_CNT_CAPPED_BYTES, ret - budget);

	if (sc.kind == SYS_BUF) {
		struct emit_ctx e = {};
		fill_hdr(&e.hdr, CT_KIND_DATA, CT_SRC_SYSCALL, dir, pid, tid, sc.fd, c);
		e.hdr.total_len = ret;
		e.buf = sc.buf;
		e.len = (__u64)ret < budget ? (__u64)ret : budget;
		e.pos = pos;
		emit_buf(&e);
		if ((__u64)ret > budget)
			emit_end(&e.hdr, pos + ret);
	} else {
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
	return sys_enter(ARG(0), ARG(1), 0, SYS_BUF);
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
	return sys_enter(ARG(0), ARG(1), 0, SYS_BUF);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int tp_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_readv")
int tp_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), ARG(1), ARG(2), SYS_IOV);
}
SEC("tracepoint/syscalls/sys_exit_readv")
int tp_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_write")
int tp_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), ARG(1), 0, SYS_BUF);
}
SEC("tracepoint/syscalls/sys_exit_write")
int tp_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_enter_sendto")
int tp_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), ARG(1), 0, SYS_BUF);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int tp_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_enter_writev")
int tp_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), ARG(1), ARG(2), SYS_IOV);
}
SEC("tracepoint/syscalls/sys_exit_writev")
int tp_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}

/* recvmsg/sendmsg: the iovec array is read from the user msghdr at entry. */
static __always_inline int msg_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)ARG(1)))
		return 0;
	return sys_enter(ARG(0), (__u64)m.msg_iov, m.msg_iovlen, SYS_IOV);
}
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tp_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ARG(2) & CT_MSG_PEEK)
		return 0;
	return msg_enter(ctx);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int tp_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tp_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ctx);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int tp_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, CT_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int tp_enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), 0, 0, SYS_ACCEPT);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}
SEC("tracepoint/syscalls/sys_enter_accept")
int tp_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), 0, 0, SYS_ACCEPT);
}
SEC("tracepoint/syscalls/sys_exit_accept")
int tp_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}
SEC("tracepoint/syscalls/sys_enter_connect")
int tp_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter(ARG(0), 0, 0, SYS_CONNECT);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int tp_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret, 0);
}

/* ---- closes -------------------------------------------------------------- */

static __always_inline void emit_close(__u32 pid, __u32 tid, __u32 fd, struct conn *c)
{
	__u32 zero = 0;
	struct ct_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return;
	__builtin_memset(&b->hdr, 0, sizeof(b->hdr));
	fill_hdr(&b->hdr, CT_KIND_CLOSE, CT_SRC_SYSCALL, 0, pid, tid, fd, c);
	/* The final positions (written, read) of the stream user space got. */
	b->hdr.pos = c->pos[0];
	b->hdr.total_len = c->pos[1];
	if (c->tls) {
		b->hdr.source = CT_SRC_TLS;
		b->hdr.pos = c->tls_pos[0];
		b->hdr.total_len = c->tls_pos[1];
	}
	if (bpf_ringbuf_output(&events, &b->hdr, sizeof(b->hdr), rb_flags()))
		count(CT_CNT_RINGBUF_FULL, 1);
}

SEC("tracepoint/syscalls/sys_enter_close")
int tp_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct conn_key key = { .pid = pid, .fd = (__u32)ARG(0) };
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

/* Three variants of the same hook; the loader keeps exactly one. */
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

/* ---- TLS uprobes --------------------------------------------------------- */

static __always_inline int ssl_enter(void *ctx, void *ssl, const void *buf, void *len_ptr,
				     __u32 is_read)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	if (!traced(pid))
		return 0;
	/* A TLS call inside another on the same object (a library's public
	 * function calling another public one) is the same bytes: keep the
	 * outer call. */
	struct ssl_call *outer = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (outer && outer->ssl == (__u64)ssl && outer->buf == (__u64)buf)
		return 0;
	struct ssl_call sc = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.len_ptr = (__u64)len_ptr,
		.is_read = is_read,
		.fd = CT_FD_UNKNOWN,
		.lib = (__u8)bpf_get_attach_cookie(ctx),
	};
	bpf_map_update_elem(&ssl_calls, &tid, &sc, BPF_ANY);
	return 0;
}

static __always_inline int ssl_return(long ret, int is_ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct ssl_call *scp = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (!scp)
		return 0;
	struct ssl_call sc = *scp;
	bpf_map_delete_elem(&ssl_calls, &tid);

	__u64 n = 0;
	if (is_ex) {
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
				ssl_bind(pid, tid, sc.ssl, *lr, lc);
				fd = *lr;
			}
		}
	}
	if (fd == CT_FD_UNKNOWN) {
		/* The next socket write of this thread will tell. */
		__u64 s = sc.ssl;
		bpf_map_update_elem(&pending_ssl, &tid, &s, BPF_ANY);
	}

	__u8 dir = sc.is_read ? CT_DIR_INGRESS : CT_DIR_EGRESS;
	__u64 pos = st->pos[dir & 1];
	st->pos[dir & 1] = pos + n;

	struct conn *c = 0;
	if (fd != CT_FD_UNKNOWN) {
		c = conn_of(pid, fd);
		if (c) {
			c->tls = 1;
			c->tls_pos[dir & 1] = pos + n;
		}
	}
	struct ct_config *cf = cfg();
	if (!cf)
		return 0;
	if (!cf->capture_egress && c && c->role == CT_ROLE_CLIENT)
		return 0;
	__u64 budget = cf->max_call_bytes;
	if (n > budget)
		count(CT_CNT_CAPPED_BYTES, n - budget);

	struct emit_ctx e = {};
	fill_hdr(&e.hdr, CT_KIND_DATA, CT_SRC_TLS, dir, pid, tid, fd, c);
	e.hdr.ssl = sc.ssl;
	e.hdr.tls_library = sc.lib;
	e.hdr.total_len = n;
	e.buf = sc.buf;
	e.len = n < budget ? n : budget;
	e.pos = pos;
	emit_buf(&e);
	if (n > budget)
		emit_end(&e.hdr, pos + n);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_entry, void *ssl, const void *buf, int num)
{
	return ssl_enter(ctx, ssl, buf, 0, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_return, int ret)
{
	return ssl_return(ret, 0);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_entry, void *ssl, void *buf, int num)
{
	return ssl_enter(ctx, ssl, buf, 0, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_return, int ret)
{
	return ssl_return(ret, 0);
}
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_entry, void *ssl, const void *buf, size_t num, size_t *written)
{
	return ssl_enter(ctx, ssl, buf, written, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_return, int ret)
{
	return ssl_return(ret, 1);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_entry, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return ssl_enter(ctx, ssl, buf, readbytes, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_return, int ret)
{
	return ssl_return(ret, 1);
}
SEC("uprobe")
int BPF_KPROBE(ssl_free_entry, void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k = { .pid = id >> 32, .ssl = (__u64)ssl };
	bpf_map_delete_elem(&ssl_states, &k);
	return 0;
}

#include "nss.h"
