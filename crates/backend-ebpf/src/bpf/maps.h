/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The maps every part shares: the ring buffer and its scratch space, the
 * counters, the configuration and filters, and what is known per socket.
 * State private to one part (a syscall between enter and exit, an SSL call
 * between entry and return) lives in that part's header.
 */
#ifndef CT_MAPS_H
#define CT_MAPS_H

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
	__u8 tls_source; /* CT_SRC_* of the TLS plaintext, for its close event */
	__u8 tls_lib;    /* CT_LIB_* of it */
	__u8 _pad[6];
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

#endif
