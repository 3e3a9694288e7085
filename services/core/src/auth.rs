//! Who may connect, and to which rooms: JWT verification shared by both homes.
//!
//! The AWS `authorizer` Lambda and the local gateway's connect handler verify the same
//! tokens with the same settings ([`AuthConfig`]), so a token that works locally works
//! on AWS. A token is an HS256 (shared secret) or RS256 (public key) JWT with `exp`
//! required, `aud`/`iss` checked when configured, and an optional `rooms` claim that
//! limits which rooms the connection may join, read, change or emit to.
//!
//! With no key configured, auth is **open**: every connection is anonymous and may use
//! every room. Callers log that loudly at start.

use std::collections::BTreeSet;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::protocol::RoomName;

/// Which rooms a connection may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomAccess {
    /// Any room (open auth, or a token without a `rooms` claim).
    #[default]
    Any,
    /// Only these rooms (the token's `rooms` claim).
    Only(BTreeSet<RoomName>),
}

impl RoomAccess {
    /// Whether `room` may be used.
    pub fn allows(&self, room: &RoomName) -> bool {
        match self {
            RoomAccess::Any => true,
            RoomAccess::Only(rooms) => rooms.contains(room),
        }
    }

    /// The wire form used in authorizer contexts: `*` for any, else names joined by `,`
    /// (room names cannot contain either character).
    pub fn to_context(&self) -> String {
        match self {
            RoomAccess::Any => "*".to_owned(),
            RoomAccess::Only(rooms) => rooms
                .iter()
                .map(RoomName::as_str)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Parse [`RoomAccess::to_context`]'s form. A malformed entry fails closed: it is
    /// dropped, never widened to `Any`.
    pub fn from_context(s: &str) -> RoomAccess {
        if s == "*" {
            return RoomAccess::Any;
        }
        RoomAccess::Only(
            s.split(',')
                .filter_map(|r| RoomName::parse(r).ok())
                .collect(),
        )
    }
}

/// The verified identity behind a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`, if any (`None` for anonymous connections under open auth).
    pub subject: Option<String>,
    /// The rooms it may use.
    pub rooms: RoomAccess,
}

impl Principal {
    /// An anonymous connection under open auth.
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// Token settings, the same on AWS (env vars) and locally (flags with the same names).
/// `Debug` never prints the secret.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// HS256 shared secret (`JWT_SECRET`; on AWS fetched from SSM at cold start).
    pub secret: Option<String>,
    /// RS256 public key, PEM (`JWT_PUBLIC_KEY`).
    pub public_key_pem: Option<String>,
    /// Required `aud` (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Required `iss` (`JWT_ISSUER`).
    pub issuer: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Why a token was refused, or the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A token is required and none was given.
    #[error("a token is required")]
    MissingToken,
    /// The token is malformed, forged, expired, or for another audience or issuer.
    #[error("invalid token: {0}")]
    InvalidToken(#[source] jsonwebtoken::errors::Error),
    /// The `rooms` claim names an invalid room.
    #[error("invalid rooms claim: {0}")]
    InvalidRoomsClaim(String),
    /// The token does not grant the room asked for at connect.
    #[error("the token does not grant room {0}")]
    RoomNotGranted(RoomName),
    /// Both or neither usable keys, or a bad PEM.
    #[error("bad JWT settings: {0}")]
    Config(String),
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

/// Verifies tokens; `None` from [`AuthConfig::verifier`] means open auth.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("aud", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

/// The claims roomcast reads; others are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    rooms: Option<Vec<String>>,
}

impl AuthConfig {
    /// Build the verifier, or `None` for open auth (no key configured).
    pub fn verifier(&self) -> Result<Option<TokenVerifier>, AuthError> {
        let (key, algorithm) = match (non_empty(&self.secret), non_empty(&self.public_key_pem)) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(AuthError::Config(
                    "set either JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256), not both".into(),
                ));
            }
            (Some(secret), None) => (
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            ),
            (None, Some(pem)) => (
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| AuthError::Config(format!("JWT_PUBLIC_KEY: {e}")))?,
                Algorithm::RS256,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp"]);
        match non_empty(&self.audience) {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            // No audience configured: a token's `aud` is not checked against anything.
            None => validation.validate_aud = false,
        }
        if let Some(iss) = non_empty(&self.issuer) {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        Ok(Some(TokenVerifier { key, validation }))
    }
}

impl TokenVerifier {
    /// Verify a token and read who it is for and which rooms it grants.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(AuthError::InvalidToken)?;
        let rooms = match data.claims.rooms {
            None => RoomAccess::Any,
            Some(names) => RoomAccess::Only(
                names
                    .iter()
                    .map(|n| {
                        RoomName::parse(n).map_err(|_| AuthError::InvalidRoomsClaim(n.clone()))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Principal {
            subject: data.claims.sub,
            rooms,
        })
    }
}

/// The whole connect-time decision, shared by the authorizer Lambda and the gateway:
/// verify the token when auth is on, then check the connect room against its grant.
pub fn authorize_connect(
    verifier: Option<&TokenVerifier>,
    token: Option<&str>,
    room: &RoomName,
) -> Result<Principal, AuthError> {
    let Some(verifier) = verifier else {
        return Ok(Principal::anonymous());
    };
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::MissingToken)?;
    let principal = verifier.verify(token)?;
    if !principal.rooms.allows(room) {
        return Err(AuthError::RoomNotGranted(room.clone()));
    }
    Ok(principal)
}

/// A token from an `Authorization` header value: `Bearer <jwt>` or the bare token.
pub fn bearer(header: &str) -> &str {
    let h = header.trim();
    match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => h,
    }
}
