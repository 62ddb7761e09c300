/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Putting events in the ring buffer: a header plus up to CT_CHUNK payload
 * bytes each, stamped with the position of the first byte in its socket
 * direction, so that user space sees exactly which bytes are missing.
 */
#ifndef CT_EMIT_H
#define CT_EMIT_H

/* Wake the reader only once a batch is waiting: one wakeup per event costs a
 * context switch per read/write at high rates. The reader polls with a
 * short timeout, so a lone event waits at most that long. */
#define CT_WAKEUP_BYTES (256 << 10)

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > CT_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

/* The per-CPU event under construction. */
static __always_inline struct ct_buf *scratch_buf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* Emits a payload-less event (close, association, end of a capped call). */
static __always_inline void emit_header(const struct ct_event *h)
{
	if (bpf_ringbuf_output(&events, (void *)h, sizeof(*h), rb_flags()))
		count(CT_CNT_RINGBUF_FULL, 1);
}

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
	struct ct_buf *b = scratch_buf();
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

/* A payload of at most `size` bytes goes straight into a ring-buffer
 * reservation of that fixed size (the verifier wants a constant): one copy
 * of the bytes instead of two through the scratch buffer, and no loop. The
 * record is longer than header + chunk_len; user space reads chunk_len
 * bytes and skips the rest. Two sizes keep the slack of small requests
 * small while a typical response still fits. */
#define CT_SMALL_CHUNK 256
#define CT_MEDIUM_CHUNK 1024

#define EMIT_RESERVED(size)                                                                   \
	do {                                                                                  \
		struct {                                                                      \
			struct ct_event hdr;                                                  \
			__u8 data[size];                                                      \
		} *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);                           \
		if (!r) {                                                                     \
			count(CT_CNT_RINGBUF_FULL, 1);                                        \
			count(CT_CNT_RINGBUF_FULL_BYTES, n);                                  \
			return;                                                               \
		}                                                                             \
		__builtin_memcpy(&r->hdr, &ctx->hdr, sizeof(r->hdr));                         \
		r->hdr.pos = ctx->pos;                                                        \
		r->hdr.chunk_len = n;                                                         \
		if (bpf_probe_read_user(r->data, n, (void *)ctx->buf)) {                      \
			bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);                             \
			count(CT_CNT_READ_FAULT, n);                                          \
			return;                                                               \
		}                                                                             \
		bpf_ringbuf_submit(r, rb_flags());                                            \
	} while (0)

/* Emits buf[0..len) as chunks starting at byte position pos. */
static __always_inline void emit_buf(struct emit_ctx *ctx)
{
	__u64 n = ctx->len;
	if (n == 0)
		return;
	if (n <= CT_SMALL_CHUNK) {
		EMIT_RESERVED(CT_SMALL_CHUNK);
		return;
	}
	if (n <= CT_MEDIUM_CHUNK) {
		EMIT_RESERVED(CT_MEDIUM_CHUNK);
		return;
	}
	__u32 loops = (n + CT_CHUNK - 1) / CT_CHUNK;
	bpf_loop(loops, emit_chunk, ctx, 0);
}

/* A payload-less event at the end of a call whose bytes were not all
 * captured: the stream reached position end, so the missing bytes are a
 * gap even when nothing follows them. */
static __always_inline void emit_end(const struct ct_event *tmpl, __u64 end)
{
	struct ct_buf *b = scratch_buf();
	if (!b)
		return;
	__builtin_memcpy(&b->hdr, tmpl, sizeof(b->hdr));
	b->hdr.pos = end;
	b->hdr.chunk_len = 0;
	emit_header(&b->hdr);
}

/* Emits n bytes at buf as the stream's bytes [pos, pos + n), capped by the
 * configured bytes per call; the header is a filled template. */
static __always_inline void emit_call(struct emit_ctx *e, __u64 buf, __u64 n, __u64 pos)
{
	struct ct_config *cf = cfg();
	__u64 budget = cf ? cf->max_call_bytes : 0;
	if (n > budget)
		count(CT_CNT_CAPPED_BYTES, n - budget);
	e->hdr.total_len = n;
	e->buf = buf;
	e->len = n < budget ? n : budget;
	e->pos = pos;
	emit_buf(e);
	if (n > budget)
		emit_end(&e->hdr, pos + n);
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

#endif
