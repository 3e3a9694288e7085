//! The cause chain of real failed posts (a local socket answering as API Gateway does,
//! a refused connect) and the log budget over a storm.

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_apigatewaymanagement::config::Credentials;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::poster::ApiGwPoster;

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// An endpoint that answers every request with `status` and API Gateway's error type
/// header and body, e.g. (403, "ForbiddenException", "Forbidden").
async fn answering(status: u16, error_type: &'static str, message: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the whole request (headers and body) before answering, so the
                // client sees the answer, not a reset.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = format!(r#"{{"message":"{message}"}}"#);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nx-amzn-errortype: {error_type}\r\n\
                     content-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/dev")
}

async fn fail_against(endpoint: &str) -> PostFailure {
    let poster = ApiGwPoster::new(&sdk().await, endpoint);
    let to = ConnectionId::generate();
    poster
        .try_post(&to, &Bytes::from_static(b"{}"))
        .await
        .expect_err("the post fails")
}

#[tokio::test]
async fn a_wrong_key_shows_its_status_and_message() {
    let failure = fail_against(&answering(403, "ForbiddenException", "Forbidden").await).await;
    assert_eq!(failure.kind, "http_403");
    assert!(failure.cause.starts_with("HTTP 403: "), "{}", failure.cause);
    assert!(failure.cause.contains("Forbidden"), "{}", failure.cause);
    // Core's own lines (its debug line, a job's error) print the error alone: it says
    // why too.
    let PostError::Backend(e) = &failure.error else {
        panic!("{:?}", failure.error)
    };
    assert!(e.to_string().contains("HTTP 403"), "{e}");
}

#[tokio::test]
async fn a_gone_client_is_gone_with_its_status() {
    let failure = fail_against(&answering(410, "GoneException", "Gone").await).await;
    assert!(
        matches!(failure.error, PostError::Gone),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.kind, "http_410");
    assert!(failure.cause.starts_with("HTTP 410: "), "{}", failure.cause);
}

#[tokio::test]
async fn a_refused_connect_shows_the_socket_error() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let failure = fail_against(&format!("http://127.0.0.1:{port}/dev")).await;
    assert_eq!(failure.kind, "connect", "{}", failure.cause);
    assert!(
        failure.cause.to_lowercase().contains("connection refused"),
        "{}",
        failure.cause
    );
}

#[test]
fn the_chain_joins_sources_once_each() {
    #[derive(Debug)]
    struct Outer(std::io::Error, &'static str);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    let inner = || std::io::Error::other("dns error: no such host");
    assert_eq!(
        cause_chain(&Outer(inner(), "dispatch failure")),
        "dispatch failure: dns error: no such host"
    );
    // A message that already includes its source's text does not repeat it.
    assert_eq!(
        cause_chain(&Outer(inner(), "client error (dns error: no such host)")),
        "client error (dns error: no such host)"
    );
}

/// What a `tracing` subscriber writes, for reading back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The broadcaster's path: core's deliverer calls `Poster::post`, which logs the
/// failure itself, once, with its cause, and still hands core the error to act on.
#[tokio::test]
async fn a_failed_post_through_the_poster_trait_logs_one_warn_line_with_its_cause() {
    use roomcast_core::ports::Poster;
    let endpoint = answering(403, "ForbiddenException", "Forbidden").await;
    let poster = ApiGwPoster::new(&sdk().await, &endpoint);
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime: the guard covers the whole post.
    let guard = tracing::subscriber::set_default(subscriber);
    let result = poster
        .post(&ConnectionId::generate(), &Bytes::from_static(b"{}"))
        .await;
    drop(guard);
    assert!(matches!(result, Err(PostError::Backend(_))), "{result:?}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("post failed")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains(" WARN "), "{text}");
    assert!(
        lines[0].contains("HTTP 403: service error: ForbiddenException"),
        "{text}"
    );
    assert!(lines[0].contains(&endpoint), "{text}");
}

#[test]
fn a_storm_of_failures_logs_the_budget_and_one_summary() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // A kind of its own: the budget is per process, shared with the other tests.
    let failure = PostFailure {
        error: PostError::Gone,
        kind: "http_499_storm_test".into(),
        cause: "HTTP 499: service error: StormException".into(),
        endpoint: "http://127.0.0.1:9/dev".into(),
    };
    let to = ConnectionId::generate();
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..1000 {
            failure.warn("post failed", &to);
        }
        report_suppressed();
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let failed = lines.iter().filter(|l| l.contains("post failed")).count();
    // Unless the loop straddled a second, when the next window's budget logs a few more.
    assert!(
        (LINES_PER_SECOND as usize..=2 * LINES_PER_SECOND as usize).contains(&failed),
        "{failed} lines:\n{text}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("post failed") || l.contains("StormException")),
        "each line has its cause:\n{text}"
    );
    let summaries: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("similar post failures"))
        .collect();
    assert!(!summaries.is_empty() && summaries.len() <= 2, "{text}");
    let reported: u64 = summaries
        .iter()
        .map(|l| {
            let after = l.split("suppressed ").nth(1).unwrap();
            after.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(reported as usize + failed, 1000, "{text}");
}
