//! Counting WebSocket connects and refusals for `/metrics` and `/admin`, from the
//! status `$connect` answers: a middleware on the socket route, so the upgrade code
//! keeps no counters of its own.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;

/// Why a connect was refused, from the status it got.
fn refusal(status: StatusCode) -> &'static str {
    match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "unauthorized",
        _ => "bad_request",
    }
}

/// Run `$connect` and count what it answered: 101 is a connect, anything else a
/// refusal.
pub async fn count(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    match response.status() {
        StatusCode::SWITCHING_PROTOCOLS => app.metrics.connect(),
        status => app.metrics.connect_refused(refusal(status)),
    }
    response
}
