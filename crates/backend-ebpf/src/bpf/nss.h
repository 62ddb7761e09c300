/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * NSS: the application hands plaintext to NSPR's PR_Write/PR_Send and takes
 * it from PR_Read/PR_Recv on a PRFileDesc, a stack of I/O layers. NSS's SSL
 * layer sits in that stack (under Firefox's own layer, over the TCP
 * socket) and calls the layer below through its method table, never
 * through PR_* again, so the PR_* call the application makes is the one
 * plaintext call. The same PR_* functions also serve plain sockets and
 * files: a call is TLS only when a layer of its descriptor, walking down,
 * has its methods in a file holding NSS's SSL layer (libssl3.so), whose
 * (device, inode) user space put in nss_ssl_files. The layer's functions
 * are in that file's text; its method table itself is in .bss, anonymous.
 *
 * Its entry programs call tls_enter (tls.h); the returns are openssl.h's.
 */
#ifndef CT_NSS_H
#define CT_NSS_H

/* struct PRFileDesc { PRIOMethods *methods; PRFilePrivate *secret;
 *                     PRFileDesc *lower, *higher; ... } */
#define NSPR_FD_LOWER 16
/* struct PRIOMethods { PRDescType file_type; PRCloseFN close; PRReadFN read; ... } */
#define NSPR_METHODS_READ 16
/* Layers walked down from the descriptor the application used. */
#define NSPR_MAX_LAYERS 4
#define NSPR_MSG_PEEK 0x2

struct file_key {
	__u64 dev; /* super_block s_dev: major << 20 | minor */
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct file_key);
	__type(value, __u8);
} nss_ssl_files SEC(".maps");

/* (pid, layer read function) -> 1 when it is NSS's SSL layer, 2 when not:
 * the VMA lookup is done once per layer kind and process. */
struct nspr_method_key {
	__u32 pid;
	__u32 _pad;
	__u64 fn;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct nspr_method_key);
	__type(value, __u8);
} nspr_methods SEC(".maps");

static long vma_in_ssl_file(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	__u8 *is_ssl = data;
	struct file *f = vma->vm_file;
	if (!f)
		return 0;
	struct file_key k = {
		.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev),
		.ino = BPF_CORE_READ(f, f_inode, i_ino),
	};
	if (bpf_map_lookup_elem(&nss_ssl_files, &k))
		*is_ssl = 1;
	return 0;
}

/* Whether the layer method `fn` of process `pid` is NSS's SSL layer. */
static __always_inline int nspr_method_is_ssl(__u32 pid, __u64 fn)
{
	struct nspr_method_key k = { .pid = pid, .fn = fn };
	__u8 *known = bpf_map_lookup_elem(&nspr_methods, &k);
	if (known)
		return *known == 1;
	__u8 is_ssl = 0;
	struct task_struct *task = bpf_get_current_task_btf();
	/* -EBUSY (mmap lock contended) or -ENOENT: decide no, cache nothing. */
	if (bpf_find_vma(task, fn, vma_in_ssl_file, &is_ssl, 0))
		return 0;
	__u8 v = is_ssl ? 1 : 2;
	bpf_map_update_elem(&nspr_methods, &k, &v, BPF_ANY);
	return is_ssl;
}

static __always_inline int nspr_is_ssl(__u32 pid, __u64 fd)
{
	for (int i = 0; i < NSPR_MAX_LAYERS && fd; i++) {
		__u64 methods = 0, fn = 0;
		if (bpf_probe_read_user(&methods, sizeof(methods), (void *)fd) || !methods)
			return 0;
		if (bpf_probe_read_user(&fn, sizeof(fn), (void *)(methods + NSPR_METHODS_READ)))
			return 0;
		if (fn && nspr_method_is_ssl(pid, fn))
			return 1;
		if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(fd + NSPR_FD_LOWER)))
			return 0;
	}
	return 0;
}

static __always_inline int nspr_enter(void *ctx, void *fd, const void *buf, __u32 is_read)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(pid) || !nspr_is_ssl(pid, (__u64)fd))
		return 0;
	return tls_enter(ctx, fd, buf, 0, is_read);
}

SEC("uprobe")
int BPF_KPROBE(nss_write_entry, void *fd, const void *buf, int amount)
{
	return nspr_enter(ctx, fd, buf, 0);
}
SEC("uprobe")
int BPF_KPROBE(nss_read_entry, void *fd, void *buf, int amount)
{
	return nspr_enter(ctx, fd, buf, 1);
}
SEC("uprobe")
int BPF_KPROBE(nss_recv_entry, void *fd, void *buf, int amount, int flags)
{
	/* A peek consumes nothing: the bytes come again in a later read. */
	if (flags & NSPR_MSG_PEEK)
		return 0;
	return nspr_enter(ctx, fd, buf, 1);
}

#endif
