/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Sockets: from a file descriptor to the kernel's struct sock (CO-RE), the
 * connection state kept per (process, fd), and the event header filled
 * from it.
 */
#ifndef CT_SOCK_H
#define CT_SOCK_H

#define CT_AF_INET 2
#define CT_AF_INET6 10
#define CT_SOCK_STREAM 1
#define CT_IPPROTO_TCP 6
#define CT_S_IFMT 00170000
#define CT_S_IFSOCK 0140000

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
	} else {
		/* No socket (Go TLS over another net.Conn, a TLS object not
		 * tied yet): the process's own network namespace, so that its
		 * unattributed plaintext still names its pod. */
		h->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	}
}

#endif
