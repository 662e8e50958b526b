//! Who is calling: a session cookie or an `Authorization: Bearer` API token,
//! checked on every API request, with CSRF protection for cookie-carried
//! unsafe requests, and the audit writer every change goes through.
//!
//! CSRF: a session has a random token, returned at sign-in (body and the
//! readable `forewarn_csrf` cookie). A cookie-authenticated POST, PUT, PATCH
//! or DELETE must echo it in `X-CSRF-Token`; another site can make a
//! browser send the cookie but cannot read the token. The session cookie is
//! also `SameSite=Strict`. Bearer tokens are never sent by a browser on its
//! own, so they need no CSRF token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::serve::IncomingStream;

use super::authz::Principal;
use super::config::IpRange;
use super::error::ApiError;
use super::secrets;
use super::state::ConsoleState;
use crate::clock::now_unix;
use crate::listen::web::WebListener;
use crate::store::console::NewAuditEntry;

pub const SESSION_COOKIE: &str = "forewarn_session";
pub const CSRF_COOKIE: &str = "forewarn_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session { id_hash: String, csrf_token: String },
    ApiToken { id: String },
}

/// An authenticated caller of the API.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub credential: Credential,
    /// The client address, for the audit log.
    pub source: String,
}

impl Caller {
    /// The audit row of a change this caller makes now, for a store method
    /// that writes it in the change's own transaction.
    pub fn audit_entry(
        &self,
        action: &str,
        target: &str,
        detail: impl Into<String>,
    ) -> NewAuditEntry {
        audit_entry(&self.principal.name, action, target, detail, &self.source)
    }

    /// Writes one audit row for a change this caller made.
    pub async fn audit(
        &self,
        state: &ConsoleState,
        action: &str,
        target: &str,
        detail: impl Into<String>,
    ) -> Result<(), ApiError> {
        audit(
            state,
            &self.principal.name,
            action,
            target,
            detail,
            &self.source,
        )
        .await
    }
}

/// The audit row of something `actor` does now from `source`.
pub fn audit_entry(
    actor: &str,
    action: &str,
    target: &str,
    detail: impl Into<String>,
    source: &str,
) -> NewAuditEntry {
    NewAuditEntry {
        at: now_unix(),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        detail: detail.into(),
        source: source.into(),
    }
}

/// Writes one audit row on its own: for what changes nothing stored (a
/// refused sign-in); a change passes its row to the store method instead.
pub async fn audit(
    state: &ConsoleState,
    actor: &str,
    action: &str,
    target: &str,
    detail: impl Into<String>,
    source: &str,
) -> Result<(), ApiError> {
    state
        .store
        .append_audit(audit_entry(actor, action, target, detail, source))
        .await?;
    Ok(())
}

/// The peer address of a web port connection, for the collector's bounded
/// listener and a plain one (axum provides this only for the plain one).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, WebListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, WebListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The client's address: the peer of the connection, or, when that peer is
/// one of `trusted_proxies`, the address the proxies name in
/// `X-Forwarded-For`: the rightmost entry that is not itself a trusted
/// proxy (entries to its left are the client's own say, and any client can
/// write them).
pub fn source(parts: &Parts, trusted_proxies: &[IpRange]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|info| info.0.0.ip())
    else {
        return "unknown".into();
    };
    client_address(peer, &parts.headers, trusted_proxies).to_string()
}

/// The pure part of [`source`].
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpRange]) -> IpAddr {
    let trusted = |addr: IpAddr| trusted_proxies.iter().any(|range| range.contains(addr));
    if !trusted(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(addr) => hops.push(addr),
                // A malformed list cannot be read safely: keep the proxy's own address.
                Err(_) => return peer,
            }
        }
    }
    hops.iter()
        .rev()
        .find(|addr| !trusted(**addr))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<ConsoleState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let source = source(parts, &state.settings.trusted_proxies);
        let now = now_unix();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let secret = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthenticated(
                        "the Authorization header must be \"Bearer <API token>\"",
                    )
                })?;
            return bearer(state, secret.trim(), source, now).await;
        }
        let Some(session_id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::unauthenticated(
                "sign in first (POST /api/v1/session) or send an API token as \"Authorization: Bearer <token>\"",
            ));
        };
        let id_hash = secrets::hash(&session_id);
        let expired = || ApiError::unauthenticated("your session has ended: sign in again");
        let Some(session) = state.store.session(&id_hash).await? else {
            return Err(expired());
        };
        if session.expires_at <= now
            || session.last_seen_at + state.settings.session_idle_secs <= now
        {
            state.store.delete_session(&id_hash, None).await?;
            return Err(expired());
        }
        let user = state
            .store
            .user(&session.username)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(expired)?;
        if !is_safe(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !secrets::same(sent, &session.csrf_token) {
                return Err(ApiError::csrf(
                    "missing or wrong X-CSRF-Token header: send the csrf_token you got at sign-in (also in the forewarn_csrf cookie)",
                ));
            }
        }
        state.store.touch_session(&id_hash, now).await?;
        Ok(Caller {
            principal: Principal {
                name: user.username,
                role: user.role,
                scope: user.scope,
            },
            credential: Credential::Session {
                id_hash,
                csrf_token: session.csrf_token,
            },
            source,
        })
    }
}

async fn bearer(
    state: &ConsoleState,
    secret: &str,
    source: String,
    now: i64,
) -> Result<Caller, ApiError> {
    let refused = |why: &str| ApiError::unauthenticated(format!("API token refused: {why}"));
    let Some(token) = state
        .store
        .api_token_by_hash(&secrets::hash(secret))
        .await?
    else {
        return Err(refused("unknown token"));
    };
    if token.revoked_at.is_some() {
        return Err(refused("it has been revoked"));
    }
    if token.expires_at <= now {
        return Err(refused("it has expired; create a new one"));
    }
    let mut principal = Principal {
        name: format!("token:{}", token.id),
        role: token.role,
        scope: token.scope,
    };
    if let Some(owner) = &token.owner {
        let user = state
            .store
            .user(owner)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| refused("the user who made it is disabled or removed"))?;
        principal = principal.narrowed(user.role, &user.scope);
    }
    state.store.touch_api_token(&token.id, now).await?;
    Ok(Caller {
        principal,
        credential: Credential::ApiToken { id: token.id },
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; forewarn_session=abc; forewarn_csrf=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxies = [IpRange::parse("10.0.0.0/24").unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_address(proxy, &headers, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(stranger, &headers, &proxies), stranger);
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        assert_eq!(client_address(proxy, &HeaderMap::new(), &proxies), proxy);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_a_bad_list_is_ignored() {
        let proxies = [IpRange::parse("10.0.0.0/24").unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let spoofed = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.6"]);
        assert_eq!(
            client_address(proxy, &spoofed, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let only_proxies = forwarded(&["10.0.0.7, 10.0.0.6"]);
        assert_eq!(
            client_address(proxy, &only_proxies, &proxies),
            "10.0.0.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_address(proxy, &forwarded(&["203.0.113.9, junk"]), &proxies),
            proxy
        );
    }
}
