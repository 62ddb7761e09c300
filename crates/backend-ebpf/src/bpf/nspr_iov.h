/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * NSPR's gathered write, PR_Writev(fd, const PRIOVec *iov, PRInt32 size,
 * timeout): NSS's selfserv answers with it. On an SSL-layered descriptor
 * the SSL layer's writev gathers the vectors into records and sends them
 * through its own static functions, never through PR_* again, so the call
 * carries the plaintext once.
 *
 * A PRIOVec is { char *iov_base; int iov_len; }, not the kernel's iovec
 * (size_t length), so it has its own walk here: bpf_loop over the vectors,
 * each emitting its bytes with emit_chunk through a nested bpf_loop. The
 * verifier checks a callback until two iterations' states match; the
 * bytes left to walk and to capture shrink by a bounded amount every
 * vector (the count is an int return), so on the stack they never would
 * (the program went over the verifier's budget). They live in a per-CPU
 * map instead, whose contents the verifier does not follow.
 *
 * Included before tls.h, whose return path calls nspr_emit_iov for calls
 * that nss_writev.h's entry recorded with their vector count.
 */
#ifndef CT_NSPR_IOV_H
#define CT_NSPR_IOV_H

/* PR_MAX_IOVECTOR_SIZE: NSPR refuses more vectors per call. */
#define NSPR_MAX_IOV 16

struct nspr_iovec {
	__u64 base;
	__s32 len;
	__u32 _pad;
};

/* The walk's counters (see above). */
struct nspr_iov_left {
	__u64 walk; /* bytes of the call not yet walked */
	__u64 capture; /* bytes still allowed to be captured */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nspr_iov_left);
} nspr_iov_walk SEC(".maps");

struct nspr_iov_ctx {
	struct emit_ctx e;
	__u64 iov;
	__u64 cnt;
};

static long emit_nspr_iov(__u32 i, void *arg)
{
	struct nspr_iov_ctx *ctx = arg;
	__u32 zero = 0;
	struct nspr_iov_left *left = bpf_map_lookup_elem(&nspr_iov_walk, &zero);
	if (!left || i >= ctx->cnt || left->walk == 0)
		return 1;
	struct nspr_iovec v = {};
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(ctx->iov + (__u64)i * sizeof(v))))
		return 1;
	if (v.len <= 0)
		return 0;
	__u64 len = (__u64)v.len;
	if (len > left->walk)
		len = left->walk;
	__u64 take = len < left->capture ? len : left->capture;
	left->walk -= len;
	left->capture -= take;
	ctx->e.buf = v.base;
	ctx->e.len = take;
	if (take)
		bpf_loop((take + CT_CHUNK - 1) / CT_CHUNK, emit_chunk, &ctx->e, 0);
	ctx->e.pos += len;
	return 0;
}

/* Emits the first n bytes of the cnt PRIOVecs at iov as the stream's bytes
 * [pos, pos + n), capped by the configured bytes per call; hdr is a filled
 * template. */
static __always_inline void nspr_emit_iov(const struct ct_event *hdr, __u64 iov, __u32 cnt,
					  __u64 n, __u64 pos)
{
	struct ct_config *cf = cfg();
	__u64 budget = cf ? cf->max_call_bytes : 0;
	__u32 zero = 0;
	struct nspr_iov_left *left = bpf_map_lookup_elem(&nspr_iov_walk, &zero);
	if (!left)
		return;
	left->walk = n;
	left->capture = budget;
	if (n > budget)
		count(CT_CNT_CAPPED_BYTES, n - budget);
	struct nspr_iov_ctx v = {};
	__builtin_memcpy(&v.e.hdr, hdr, sizeof(v.e.hdr));
	v.e.hdr.total_len = n;
	v.e.pos = pos;
	v.iov = iov;
	v.cnt = cnt;
	bpf_loop(NSPR_MAX_IOV, emit_nspr_iov, &v, 0);
	if (n > budget)
		emit_end(&v.e.hdr, pos + n);
}

#endif
