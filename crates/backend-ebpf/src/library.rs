//! Which TLS implementation a file holds, told by the symbols it has (never
//! by its name: a Python wheel's `libssl-3a880ada.so.1.1` is OpenSSL 1.1
//! like the system's `libssl.so.1.1`), and which of its functions carry
//! the plaintext.
//!
//! | implementation | told by | plaintext at |
//! |---|---|---|
//! | OpenSSL 3 | `SSL_read`/`SSL_write` and `SSL_CTX_new_ex` | `SSL_read`, `SSL_write`, `SSL_read_ex`, `SSL_write_ex` |
//! | OpenSSL 1.1 | the same, `OPENSSL_init_ssl` without `SSL_CTX_new_ex` | the same |
//! | BoringSSL | the same and `SSL_CTX_set_custom_verify` | `SSL_read`, `SSL_write` |
//! | GnuTLS | `gnutls_record_recv` and `gnutls_record_send` | `gnutls_record_send2` (`gnutls_record_send` calls it; the latter where there is no `send2`), `gnutls_record_recv`, `gnutls_record_recv_seq` |
//! | NSS | NSPR's `PR_Read`/`PR_Write` (`libnspr4.so`) | `PR_Write`, `PR_Send`, `PR_Writev`, `PR_Read`, `PR_Recv` when the `PRFileDesc` has NSS's SSL layer, which lives in the file exporting `SSL_ImportFD` (`libssl3.so`) |
//!
//! GnuTLS's OpenSSL compatibility library (`libgnutls-openssl.so`) exports
//! `SSL_read`/`SSL_write` on top of GnuTLS; it is not probed, since the
//! GnuTLS functions under it already are (else every byte came twice).

use capture_core::model::TlsLibrary;

use crate::discovery::FoundSymbol;

/// The function family whose uprobes carry a file's plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsApi {
    /// `SSL_read`/`SSL_write` and their `_ex` forms (OpenSSL, BoringSSL).
    OpenSsl,
    /// `gnutls_record_recv`/`gnutls_record_send`.
    GnuTls,
    /// NSPR's `PR_Read`/`PR_Write`/`PR_Recv`/`PR_Send` on SSL-layered descriptors.
    Nspr,
}

/// What a file's symbols say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The TLS implementation, when its version is known.
    pub library: Option<TlsLibrary>,
    /// The functions to probe in it, if any.
    pub api: Option<TlsApi>,
    /// The file holds NSS's SSL I/O layer (exports `SSL_ImportFD`): an
    /// NSPR descriptor whose layer methods point into it is TLS.
    pub nss_ssl_layer: bool,
}

/// Every symbol [`classify`] and the probes look at.
pub const LOOKED_UP: [&str; 21] = [
    "SSL_read",
    "SSL_write",
    "SSL_read_ex",
    "SSL_write_ex",
    "SSL_free",
    "SSL_CTX_new_ex",
    "OPENSSL_init_ssl",
    "SSL_CTX_set_alpn_protos",
    "SSL_CTX_set_custom_verify",
    "gnutls_record_send",
    "gnutls_record_send2",
    "gnutls_record_recv",
    "gnutls_record_recv_seq",
    "gnutls_deinit",
    "PR_Read",
    "PR_Write",
    "PR_Recv",
    "PR_Send",
    "PR_Writev",
    "PR_Close",
    "SSL_ImportFD",
];

/// Decides from the symbols found in a file (`exported_only`: ignore those
/// from `.symtab`, as for shared libraries). `None`: nothing TLS in it.
pub fn classify(symbols: &[FoundSymbol], exported_only: bool) -> Option<Classified> {
    let has = |name: &str| {
        symbols
            .iter()
            .any(|s| s.name == name && !(exported_only && s.from_symtab))
    };
    let nss_ssl_layer = has("SSL_ImportFD");
    let (library, api) = if has("gnutls_record_recv")
        && (has("gnutls_record_send") || has("gnutls_record_send2"))
    {
        (Some(TlsLibrary::GnuTls), Some(TlsApi::GnuTls))
    } else if has("PR_Read") && has("PR_Write") {
        (Some(TlsLibrary::Nss), Some(TlsApi::Nspr))
    } else if (has("SSL_read") || has("SSL_read_ex")) && (has("SSL_write") || has("SSL_write_ex")) {
        let library = if has("SSL_CTX_set_custom_verify") {
            Some(TlsLibrary::BoringSsl)
        } else if has("SSL_CTX_new_ex") {
            Some(TlsLibrary::OpenSsl3)
        } else if has("OPENSSL_init_ssl") {
            Some(TlsLibrary::OpenSsl11)
        } else if has("SSL_CTX_set_alpn_protos") {
            // OpenSSL 1.0.2: probed alike, its version not named.
            None
        } else {
            // GnuTLS's OpenSSL compatibility layer (or pre-1.0.2 OpenSSL):
            // what it carries is seen at GnuTLS's own functions.
            return nss_ssl_layer.then_some(Classified {
                library: Some(TlsLibrary::Nss),
                api: None,
                nss_ssl_layer,
            });
        };
        (library, Some(TlsApi::OpenSsl))
    } else if nss_ssl_layer {
        (Some(TlsLibrary::Nss), None)
    } else {
        return None;
    };
    Some(Classified {
        library,
        api,
        nss_ssl_layer,
    })
}

/// One uprobe: the BPF program, the function it goes on, entry or return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// BPF program name in `cleartap.bpf.c`.
    pub program: &'static str,
    /// Function symbol.
    pub symbol: &'static str,
    /// A return probe (uretprobe).
    pub retprobe: bool,
}

const fn p(program: &'static str, symbol: &'static str, retprobe: bool) -> Probe {
    Probe {
        program,
        symbol,
        retprobe,
    }
}

const OPENSSL_PROBES: [Probe; 9] = [
    p("ssl_write_entry", "SSL_write", false),
    p("ssl_write_return", "SSL_write", true),
    p("ssl_read_entry", "SSL_read", false),
    p("ssl_read_return", "SSL_read", true),
    p("ssl_write_ex_entry", "SSL_write_ex", false),
    p("ssl_write_ex_return", "SSL_write_ex", true),
    p("ssl_read_ex_entry", "SSL_read_ex", false),
    p("ssl_read_ex_return", "SSL_read_ex", true),
    p("ssl_free_entry", "SSL_free", false),
];

/// `gnutls_record_*(session, data, size)` returns the bytes moved, like
/// `SSL_read`/`SSL_write(ssl, buf, num)`: the same programs serve.
const GNUTLS_PROBES: [Probe; 9] = [
    p("ssl_write_entry", "gnutls_record_send2", false),
    p("ssl_write_return", "gnutls_record_send2", true),
    p("ssl_write_entry", "gnutls_record_send", false),
    p("ssl_write_return", "gnutls_record_send", true),
    p("ssl_read_entry", "gnutls_record_recv", false),
    p("ssl_read_return", "gnutls_record_recv", true),
    p("ssl_read_entry", "gnutls_record_recv_seq", false),
    p("ssl_read_return", "gnutls_record_recv_seq", true),
    p("ssl_free_entry", "gnutls_deinit", false),
];

/// `PR_*(fd, buf, amount, ...)`: the entry programs check the SSL layer.
/// `PR_Writev(fd, iov, size, timeout)`, which selfserv answers with, has
/// its own programs: the return walks the `PRIOVec` array.
const NSPR_PROBES: [Probe; 11] = [
    p("nss_write_entry", "PR_Write", false),
    p("ssl_write_return", "PR_Write", true),
    p("nss_write_entry", "PR_Send", false),
    p("ssl_write_return", "PR_Send", true),
    p("nss_writev_entry", "PR_Writev", false),
    p("nss_writev_return", "PR_Writev", true),
    p("nss_read_entry", "PR_Read", false),
    p("ssl_read_return", "PR_Read", true),
    p("nss_recv_entry", "PR_Recv", false),
    p("ssl_read_return", "PR_Recv", true),
    p("ssl_free_entry", "PR_Close", false),
];

impl TlsApi {
    /// The uprobes to put on a file with these `symbols`.
    pub fn probes(self, symbols: &[FoundSymbol]) -> Vec<Probe> {
        let has = |name: &str| symbols.iter().any(|s| s.name == name);
        let all: &[Probe] = match self {
            Self::OpenSsl => &OPENSSL_PROBES,
            Self::GnuTls => &GNUTLS_PROBES,
            Self::Nspr => &NSPR_PROBES,
        };
        all.iter()
            .copied()
            .filter(|probe| has(probe.symbol))
            // gnutls_record_send only calls gnutls_record_send2: probing
            // both would see each write twice.
            .filter(|probe| !(probe.symbol == "gnutls_record_send" && has("gnutls_record_send2")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(names: &[&str]) -> Vec<FoundSymbol> {
        names
            .iter()
            .map(|n| FoundSymbol {
                name: (*n).to_owned(),
                offset: 0x1000,
                address: 0x401000,
                size: 16,
                from_symtab: false,
            })
            .collect()
    }

    #[test]
    fn tells_the_libraries_apart_by_symbols() {
        let c = |names: &[&str]| classify(&syms(names), true);
        let ossl = ["SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex"];
        let with = |extra: &str| {
            let mut v = ossl.to_vec();
            v.push(extra);
            c(&v).map(|x| (x.library, x.api))
        };
        assert_eq!(
            with("SSL_CTX_new_ex"),
            Some((Some(TlsLibrary::OpenSsl3), Some(TlsApi::OpenSsl)))
        );
        assert_eq!(
            with("OPENSSL_init_ssl"),
            Some((Some(TlsLibrary::OpenSsl11), Some(TlsApi::OpenSsl)))
        );
        assert_eq!(
            with("SSL_CTX_set_custom_verify"),
            Some((Some(TlsLibrary::BoringSsl), Some(TlsApi::OpenSsl)))
        );
        // libgnutls-openssl: SSL_read/SSL_write over GnuTLS, not probed.
        assert_eq!(c(&["SSL_read", "SSL_write", "SSL_library_init"]), None);
        let g = c(&["gnutls_record_recv", "gnutls_record_send"]).unwrap();
        assert_eq!(
            (g.library, g.api),
            (Some(TlsLibrary::GnuTls), Some(TlsApi::GnuTls))
        );
        let nspr = c(&["PR_Read", "PR_Write", "PR_Send"]).unwrap();
        assert_eq!(nspr.api, Some(TlsApi::Nspr));
        assert!(!nspr.nss_ssl_layer);
        let ssl3 = c(&["SSL_ImportFD"]).unwrap();
        assert_eq!((ssl3.api, ssl3.nss_ssl_layer), (None, true));
        assert_eq!(c(&["malloc"]), None);
    }

    #[test]
    fn symtab_only_symbols_count_for_binaries_not_libraries() {
        let mut s = syms(&["SSL_read", "SSL_write", "SSL_CTX_new_ex"]);
        for x in &mut s {
            x.from_symtab = true;
        }
        assert_eq!(classify(&s, true), None);
        assert_eq!(
            classify(&s, false).and_then(|c| c.library),
            Some(TlsLibrary::OpenSsl3)
        );
    }

    #[test]
    fn gnutls_send_is_probed_once() {
        let both = syms(&[
            "gnutls_record_send",
            "gnutls_record_send2",
            "gnutls_record_recv",
        ]);
        let probes = TlsApi::GnuTls.probes(&both);
        assert!(probes.iter().all(|p| p.symbol != "gnutls_record_send"));
        assert!(probes.iter().any(|p| p.symbol == "gnutls_record_send2"));
        let old = syms(&["gnutls_record_send", "gnutls_record_recv"]);
        assert!(
            TlsApi::GnuTls
                .probes(&old)
                .iter()
                .any(|p| p.symbol == "gnutls_record_send")
        );
    }
}
