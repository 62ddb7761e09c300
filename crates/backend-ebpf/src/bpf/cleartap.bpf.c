// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cleartap's kernel side, one object built from one header per concern:
 *
 *   cleartap.h  the layout shared with user space (events, configuration)
 *   maps.h      the shared maps: ring buffer, counters, filters, sockets
 *   process.h   configuration, counters, which processes are traced
 *   sock.h      fd -> struct sock, per-socket state, event headers
 *   emit.h      payload into the ring buffer, chunked, with positions
 *   nspr_iov.h  payload of NSPR's PRIOVec arrays (PR_Writev)
 *   tls.h       what every TLS library probe shares (call state, socket tie)
 *   syscalls.h  socket syscall tracepoints
 *   close.h     socket closes (close(2) and the kernel's close hook)
 *   openssl.h   OpenSSL/BoringSSL uprobes (and their returns for GnuTLS, NSS)
 *   nss.h       NSS: NSPR's PR_* entries, on SSL-layered descriptors only
 *   nss_writev.h  NSS: PR_Writev, its vectors walked at the return
 *   go_tls.h    Go crypto/tls: entry probes and probes on Read's RETs
 *
 * A new TLS library is a new header beside openssl.h, included below. The
 * loader switches off what the running kernel cannot load (kprobe,
 * fentry) before loading.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "cleartap.h"
#include "maps.h"
#include "process.h"
#include "sock.h"
#include "emit.h"
#include "nspr_iov.h"
#include "tls.h"
#include "syscalls.h"
#include "close.h"
#include "openssl.h"
#include "nss.h"
#include "nss_writev.h"
#include "go_tls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
