//! TLS for the reference portal: the certificate `portal init` makes (self
//! signed: kiosks pin it, they do not chain it to a CA), and the listener
//! that serves the kiosk API over rustls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A new self-signed certificate for `names` (DNS names or IP addresses):
/// its PEM, its private key's PEM, and its pin (SHA-256 of the DER).
pub fn self_signed(names: &[String]) -> Result<(String, String, [u8; 32]), String> {
    let certified =
        rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| e.to_string())?;
    let pin = kiosk_sync::client::certificate_pin(certified.cert.der());
    Ok((
        certified.cert.pem(),
        certified.signing_key.serialize_pem(),
        pin,
    ))
}

/// The pin of the first certificate in a PEM file's text.
pub fn pin_of_pem(cert_pem: &str) -> Result<[u8; 32], String> {
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(kiosk_sync::client::certificate_pin(cert.as_ref()))
}

/// A rustls server configuration from PEM texts.
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("key: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// Accepts TCP connections and completes their TLS handshakes, each in a
/// task of its own with its own deadline: a connection that never sends a
/// ClientHello holds up nobody else. A failed or stalled handshake is
/// dropped.
pub struct TlsListener {
    address: SocketAddr,
    handshaken: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Handshakes under way at once; past it, new connections wait in the
/// kernel's backlog until one ends (by success or its deadline).
const MAX_HANDSHAKES: usize = 512;

impl TlsListener {
    /// Starts accepting on the current tokio runtime.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let address = tcp.local_addr().expect("a bound listener has an address");
        let acceptor = TlsAcceptor::from(config);
        let (done, handshaken) = tokio::sync::mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: let it pass.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        drop(slot);
                        let _ = done.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener {
            address,
            handshaken,
            accepting,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accepting task is gone (its runtime is shutting down):
            // nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
}
