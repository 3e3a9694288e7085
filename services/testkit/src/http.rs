//! Plain HTTP/1.1 over a raw socket, for the gateway's HTTP routes (`/metrics`, the
//! publish and admin APIs, `@connections`): what a test sends is byte for byte what
//! the server gets, and no HTTP client crate is needed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::TestGateway;

/// The sum of the `/metrics` samples whose line starts with `name` (every label set
/// of a family); 0 when there is none.
pub async fn metric(gw: &TestGateway, name: &str) -> f64 {
    let body = http_get(gw, "/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET path`; the body.
pub async fn http_get(gw: &TestGateway, path: &str) -> String {
    http(gw, "GET", path, &[], "").await.1
}

/// A minimal HTTP/1.1 request to `gw`; returns (status, body).
pub async fn http(
    gw: &TestGateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    http_at(gw.port, method, path, headers, body).await
}

/// [`http`] to any server on 127.0.0.1 (e.g. the binary run as a process). The body
/// goes as `application/json`; a chunked answer is decoded.
pub async fn http_at(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            decode_chunked(body)
        } else {
            body.to_owned()
        },
    )
}

fn decode_chunked(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}
