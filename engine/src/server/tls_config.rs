//! [`TlsConfig`]: certificates for `wss://`, loaded from PEM files (several,
//! chosen by SNI) or given as a whole `rustls::ServerConfig`, and loaded
//! again on a reload.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// TLS for the server's `wss://` listeners (see
/// [`Builder::tls`](crate::Builder::tls)).
///
/// From PEM files ([`TlsConfig::from_pem_files`], more pairs with
/// [`TlsConfig::with_pem_files`]): rustls with the aws-lc-rs provider, TLS
/// 1.3 and 1.2, ALPN `http/1.1`, no client certificates, stateful session
/// resumption. The certificate for a handshake is the first whose names
/// cover the client's SNI; a client that sends no SNI (one that connects
/// by IP address) gets the first; an SNI no certificate covers is refused
/// (the handshake fails with an alert and the connection closes).
/// [`ServerHandle::reload_tls`](crate::ServerHandle::reload_tls) and the
/// binary's SIGHUP read the files again.
///
/// Or a whole [`rustls::ServerConfig`] ([`TlsConfig::from_rustls`]) for
/// full control (client authentication, other providers, tickets); it is
/// used as given, so set its `alpn_protocols` to `http/1.1` if clients
/// send ALPN (browsers do). 0-RTT data is not read.
#[derive(Clone)]
pub struct TlsConfig {
    source: Source,
}

#[derive(Clone)]
enum Source {
    /// (certificate chain, private key) PEM files, in SNI preference order.
    Files(Vec<(PathBuf, PathBuf)>),
    Config(Arc<ServerConfig>),
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Files(files) => f.debug_struct("TlsConfig").field("files", files).finish(),
            Source::Config(_) => f
                .debug_struct("TlsConfig")
                .field("config", &"rustls")
                .finish(),
        }
    }
}

impl TlsConfig {
    /// A certificate chain (PEM, leaf first) and its private key (PEM:
    /// PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            source: Source::Files(vec![(cert_chain.into(), key.into())]),
        }
    }

    /// One more certificate and key, chosen for the names it covers (SNI).
    /// Ignored for a configuration made by [`TlsConfig::from_rustls`].
    pub fn with_pem_files(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        if let Source::Files(files) = &mut self.source {
            files.push((cert_chain.into(), key.into()));
        }
        self
    }

    /// A rustls configuration, used as it is.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self {
            source: Source::Config(config),
        }
    }

    /// Read the files (again) and build the configuration; an error says
    /// which file and why.
    pub(crate) fn load(&self) -> io::Result<Arc<ServerConfig>> {
        let files = match &self.source {
            Source::Config(c) => return Ok(c.clone()),
            Source::Files(files) => files,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut certs = Vec::with_capacity(files.len());
        for (cert, key) in files {
            certs.push(Arc::new(load_pair(cert, key, &provider)?));
        }
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| io::Error::other(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni { certs }));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> io::Result<CertifiedKey> {
    fn bad<'a>(
        path: &'a Path,
        what: &'static str,
    ) -> impl Fn(rustls::pki_types::pem::Error) -> io::Error + 'a {
        move |e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}: {e}", path.display()),
            )
        }
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(bad(cert, "certificate chain"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad(cert, "certificate chain"))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no certificate in the file", cert.display()),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(bad(key, "private key"))?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} with {}: {e}", cert.display(), key.display()),
        )
    })
}

/// Picks the certificate by the client's SNI (see [`TlsConfig`]).
#[derive(Debug)]
struct BySni {
    certs: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return self.certs.first().cloned();
        };
        let name = ServerName::try_from(name).ok()?;
        let found = self.certs.iter().find(|ck| {
            ck.end_entity_cert()
                .ok()
                .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
                .is_some_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
        });
        if found.is_none() {
            tracing::debug!(sni = ?name, "no certificate for the requested name; refusing");
        }
        found.cloned()
    }
}
