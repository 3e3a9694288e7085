//! Who may see `/admin`: with `--api-key` set, a request must carry the key, as the
//! publish API's `x-api-key` header, as `?key=` (a browser cannot set headers on a
//! page load or on `EventSource`), or as the cookie a `?key=` request sets. The cookie
//! lets the page's modules and its event stream follow without the key in their URLs:
//! `HttpOnly` (scripts cannot read it), `SameSite=Strict`, `Path=/admin`, for the
//! browser session. Without `--api-key`, `/admin` is open like everything else.

use axum::extract::{Query, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use roomcast_core::protocol::ErrorCode;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::{constant_time_eq, error_response};

/// The cookie carrying the key, hex-encoded (any key is then a valid cookie value).
const COOKIE_NAME: &str = "roomcast_admin_key";

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Let the request through if it carries the API key (or none is configured);
/// otherwise answer 401. A key given as `?key=` is remembered in the cookie.
pub async fn require_key(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = app.config.api_key.as_deref() else {
        return next.run(request).await;
    };
    let in_query = Query::<KeyQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|q| q.0.key)
        .is_some_and(|given| constant_time_eq(given.as_bytes(), key.as_bytes()));
    let headers = request.headers();
    let in_header = headers
        .get("x-api-key")
        .is_some_and(|given| constant_time_eq(given.as_bytes(), key.as_bytes()));
    let in_cookie = cookie(headers, COOKIE_NAME)
        .is_some_and(|given| constant_time_eq(given.as_bytes(), hex(key.as_bytes()).as_bytes()));
    if !(in_query || in_header || in_cookie) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "missing or wrong API key: open /admin?key=YOUR_KEY",
        );
    }
    let mut response = next.run(request).await;
    if in_query {
        let value = format!(
            "{COOKIE_NAME}={}; Path=/admin; HttpOnly; SameSite=Strict",
            hex(key.as_bytes())
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; roomcast_admin_key=6b; b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE_NAME), Some("6b"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn hex_encodes_any_key() {
        assert_eq!(hex(b"k; ="), "6b3b203d");
    }
}
