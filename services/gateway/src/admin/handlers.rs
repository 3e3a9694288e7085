//! The page and its event stream.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures::StreamExt;
use std::convert::Infallible;

use crate::app::AppState;

/// `GET /admin`: `web/admin/index.html`, read per request like the game's files.
pub async fn page(State(app): State<AppState>) -> Response {
    let path = app.config.web_dir.join("admin").join("index.html");
    match tokio::fs::read_to_string(&path).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the /admin page");
            (
                StatusCode::NOT_FOUND,
                "the /admin page is not in the web dir",
            )
                .into_response()
        }
    }
}

/// `GET /admin/events`: one `message` event per snapshot, its data the snapshot's
/// JSON. The first comes with the next snapshot (within a second), so it describes
/// the gateway as it is, not as it was when the last page looked. Ends at shutdown.
pub async fn stream(State(app): State<AppState>) -> impl IntoResponse {
    let mut latest = app.admin.subscribe();
    latest.mark_unchanged();
    let snapshots = futures::stream::unfold(latest, |mut latest| async move {
        latest.changed().await.ok()?;
        let json = latest.borrow_and_update().clone();
        Some((Ok::<_, Infallible>(Event::default().data(&*json)), latest))
    });
    Sse::new(snapshots.take_until(app.shutdown.clone().cancelled_owned()))
        .keep_alive(KeepAlive::default())
}
