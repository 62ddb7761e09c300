/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * OpenSSL 1.1/3 and BoringSSL: SSL_read/SSL_write (int return: bytes or
 * <= 0) and SSL_read_ex/SSL_write_ex (1 on success, the count behind a
 * size_t *). GnuTLS's gnutls_record_recv/send(session, data, size) have the
 * SSL_read/SSL_write shape, and NSS's PR_* returns too: the same programs
 * serve them (library.rs says which goes where). The loader attaches them
 * with the library's CT_LIB_* cookie.
 */
#ifndef CT_OPENSSL_H
#define CT_OPENSSL_H

SEC("uprobe")
int BPF_KPROBE(ssl_write_entry, void *ssl, const void *buf, int num)
{
	return tls_enter(ctx, ssl, buf, 0, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_return, int ret)
{
	return tls_return(ret, 0);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_entry, void *ssl, void *buf, int num)
{
	return tls_enter(ctx, ssl, buf, 0, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_return, int ret)
{
	return tls_return(ret, 0);
}
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_entry, void *ssl, const void *buf, size_t num, size_t *written)
{
	return tls_enter(ctx, ssl, buf, written, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_return, int ret)
{
	return tls_return(ret, 1);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_entry, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return tls_enter(ctx, ssl, buf, readbytes, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_return, int ret)
{
	return tls_return(ret, 1);
}
SEC("uprobe")
int BPF_KPROBE(ssl_free_entry, void *ssl)
{
	return tls_free(ssl);
}

#endif
