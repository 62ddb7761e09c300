/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The layout shared by the BPF programs and user space. src/event.rs reads
 * struct ct_event and src/loader.rs writes struct ct_config; neither is kept
 * in step by hand: the asserts below pin this side, and the crate's
 * `layout` test reads the compiled object's BTF and checks that every
 * offset and size the Rust side uses is the one clang laid out.
 */
#ifndef CLEARTAP_H
#define CLEARTAP_H

/* Payload bytes per ring-buffer event; a larger read or write is split. */
#define CT_CHUNK 16384
/* iovec entries looked at per readv/writev/recvmsg/sendmsg. */
#define CT_MAX_IOV 32

#define CT_KIND_DATA 1
#define CT_KIND_CLOSE 2
#define CT_KIND_ASSOC 3

#define CT_SRC_SYSCALL 1
#define CT_SRC_TLS 2    /* a TLS library's read/write (OpenSSL, BoringSSL, ...) */
#define CT_SRC_GO_TLS 3 /* Go's crypto/tls.(*Conn).Read/Write */

/* Which TLS implementation a TLS event came from (the uprobe's attach
 * cookie); 0 for syscall events. */
#define CT_LIB_NONE 0
#define CT_LIB_OPENSSL_3 1
#define CT_LIB_OPENSSL_1_1 2
#define CT_LIB_BORINGSSL 3
#define CT_LIB_GNUTLS 4
#define CT_LIB_NSS 5
#define CT_LIB_GO 6

/* Direction seen from the traced process. */
#define CT_DIR_EGRESS 0  /* the process wrote the bytes */
#define CT_DIR_INGRESS 1 /* the process read the bytes */

#define CT_ROLE_UNKNOWN 0
#define CT_ROLE_CLIENT 1 /* connect() */
#define CT_ROLE_SERVER 2 /* accept() */

#define CT_FD_UNKNOWN 0xffffffffu

/* Indices of the per-CPU counter array. */
#define CT_CNT_RINGBUF_FULL 0       /* events lost to a full ring buffer */
#define CT_CNT_RINGBUF_FULL_BYTES 1 /* payload bytes in them */
#define CT_CNT_CAPPED_BYTES 2       /* bytes beyond max_call_bytes */
#define CT_CNT_READ_FAULT 3         /* user memory that could not be read */
#define CT_CNT_MAX 4

/* 120 bytes, followed by chunk_len payload bytes. */
struct ct_event {
	__u8 kind;
	__u8 source;
	__u8 dir;
	__u8 role;
	__u8 family; /* 0 unknown, 2 AF_INET, 10 AF_INET6 */
	__u8 flags;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u8 tls_library; /* CT_LIB_* */
	__u8 _pad0;
	__u32 pid;
	__u32 tid;
	__u32 fd;
	__u32 chunk_len;
	__u32 _pad1;
	__u64 ts; /* CLOCK_MONOTONIC ns */
	__u64 pos; /* position of the first payload byte in this direction */
	__u64 total_len; /* bytes moved by the whole call */
	__u64 netns;
	__u64 ssl; /* the TLS connection object (SSL*, *tls.Conn) for TLS events */
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
};

struct ct_config {
	__u32 self_pid;
	__u32 filter_pids; /* 1: only tgids present in pid_filter */
	__u32 filter_cgroups; /* 1: only cgroup ids present in cgroup_filter */
	__u32 capture_syscall; /* 0: SSL-only mode */
	__u32 capture_egress; /* 0: skip connections the process opened */
	__u32 filter_comms; /* 1: only process names present in comm_filter */
	__u64 max_call_bytes; /* payload bytes captured per call at most */
};

/* The offsets src/event.rs's `field` module names (checked again from BTF
 * by the Rust `layout` test). */
#define CT_ASSERT_AT(type, member, at)                                                        \
	_Static_assert(__builtin_offsetof(struct type, member) == (at), #type "." #member " moved")
CT_ASSERT_AT(ct_event, kind, 0);
CT_ASSERT_AT(ct_event, source, 1);
CT_ASSERT_AT(ct_event, dir, 2);
CT_ASSERT_AT(ct_event, role, 3);
CT_ASSERT_AT(ct_event, family, 4);
CT_ASSERT_AT(ct_event, lport, 6);
CT_ASSERT_AT(ct_event, rport, 8);
CT_ASSERT_AT(ct_event, tls_library, 10);
CT_ASSERT_AT(ct_event, pid, 12);
CT_ASSERT_AT(ct_event, tid, 16);
CT_ASSERT_AT(ct_event, fd, 20);
CT_ASSERT_AT(ct_event, chunk_len, 24);
CT_ASSERT_AT(ct_event, ts, 32);
CT_ASSERT_AT(ct_event, pos, 40);
CT_ASSERT_AT(ct_event, total_len, 48);
CT_ASSERT_AT(ct_event, netns, 56);
CT_ASSERT_AT(ct_event, ssl, 64);
CT_ASSERT_AT(ct_event, laddr, 72);
CT_ASSERT_AT(ct_event, raddr, 88);
CT_ASSERT_AT(ct_event, comm, 104);
_Static_assert(sizeof(struct ct_event) == 120, "ct_event is 120 bytes");
CT_ASSERT_AT(ct_config, max_call_bytes, 24);
_Static_assert(sizeof(struct ct_config) == 32, "ct_config is 32 bytes");

#endif
