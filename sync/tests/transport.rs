//! The client against answers no portal should give, from a hand-made
//! server on loopback: it refuses plain http to another host, follows no
//! redirect, and stops reading an answer that inflates without bound.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiosk_sync::client::{ClientConfig, ClientError, MAX_RESPONSE, PortalClient};
use kiosk_sync::{DeviceKey, IdentityRef};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Answers every connection with `answer` once the request's headers are
/// in; counts the connections.
async fn serve(answer: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, hits)
}

fn client(url: &str) -> PortalClient {
    PortalClient::new(&ClientConfig::new(url), DeviceKey::generate()).unwrap()
}

fn identity() -> IdentityRef {
    "cccd:079303012345".parse().unwrap()
}

#[test]
fn plain_http_is_refused_for_any_host_but_this_machine() {
    for url in [
        "http://192.0.2.10:8470/",
        "http://portal.example.vn/",
        "http://10.0.0.1/",
    ] {
        let refused =
            PortalClient::new(&ClientConfig::new(url), DeviceKey::generate()).expect_err(url);
        assert!(
            matches!(&refused, ClientError::Address(m) if m.contains("loopback")),
            "{url}: {refused}"
        );
    }
    for url in [
        "http://127.0.0.1:8470/",
        "http://[::1]:8470/",
        "http://localhost/",
    ] {
        assert!(
            PortalClient::new(&ClientConfig::new(url), DeviceKey::generate()).is_ok(),
            "{url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let (elsewhere, elsewhere_hits) = serve(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 24\r\n\r\n{\"account_exists\":false}"
            .to_vec(),
    )
    .await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}v1/checks/duplicate\r\ncontent-length: 0\r\n\r\n"
    );
    let (portal, portal_hits) = serve(redirect.into_bytes()).await;
    let answer = client(&portal).account_exists(&identity()).await;
    assert!(answer.is_err(), "{answer:?}");
    assert_eq!(portal_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the request with the citizen's number went to the redirect's host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_inflates_past_the_bound_is_refused() {
    // 64 MiB of spaces, gzip-compressed to a few tens of kilobytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&block).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < MAX_RESPONSE / 16, "{} bytes", bomb.len());
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    answer.extend_from_slice(&bomb);
    let (portal, _) = serve(answer).await;
    let refused = client(&portal).status_since(0, 500).await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::Protocol(m) if m.contains("over")),
        "{refused}"
    );
}
