/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * NSS: PR_Writev(fd, iov, iov_size, timeout) on an SSL-layered descriptor.
 * The entry is nss.h's check of the layer, with the PRIOVec array taking
 * the place of the buffer and its length kept in the call; the return
 * walks the vectors for the bytes written (nspr_iov.h).
 */
#ifndef CT_NSS_WRITEV_H
#define CT_NSS_WRITEV_H

SEC("uprobe")
int BPF_KPROBE(nss_writev_entry, void *fd, const void *iov, int iov_size)
{
	if (iov_size <= 0 || iov_size > NSPR_MAX_IOV)
		return 0;
	nspr_enter(ctx, fd, iov, 0);
	/* tls_enter recorded the call unless it was not TLS or nested in
	 * another on the same object: only the call just made is ours. */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ssl_call *sc = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (sc && sc->ssl == (__u64)fd && sc->buf == (__u64)iov)
		sc->iov_cnt = iov_size;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nss_writev_return, int ret)
{
	return tls_return(ret, TLS_RET_PRIOVEC);
}

#endif
