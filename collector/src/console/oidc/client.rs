//! The collector as an OpenID Connect client (the `openidconnect` crate):
//! discovery, the authorization URL with PKCE, state and nonce, and the code
//! exchange whose ID token is verified (signature by the provider's keys,
//! issuer, audience = our client id, expiry, nonce) before any claim is read.

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope as OidcScope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use forewarn_secret::Secret;

use crate::console::config::OidcConfig;

/// How long discovered provider metadata (endpoints, signing keys) is
/// reused before it is fetched again, so a key rotation is picked up.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Bound on each call to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Claims the crate does not model (the role claim above all), kept as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot reach the OpenID provider at {issuer}: {message}")]
    Unreachable { issuer: String, message: String },
    #[error("the OpenID provider refused the code exchange: {0}")]
    Exchange(String),
    #[error("the OpenID provider sent no ID token")]
    NoIdToken,
    #[error("the provider's ID token was refused: {0}")]
    IdToken(String),
}

/// What the browser keeps between leaving for the provider and coming
/// back: the state to compare, the PKCE verifier and the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub state: String,
    pub verifier: String,
    pub nonce: String,
}

impl PendingLogin {
    /// The cookie form: three URL-safe random strings joined by `.`.
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.verifier, self.nonce)
    }

    pub fn from_cookie(value: &str) -> Option<Self> {
        let mut parts = value.split('.');
        let pending = Self {
            state: parts.next()?.to_owned(),
            verifier: parts.next()?.to_owned(),
            nonce: parts.next()?.to_owned(),
        };
        parts.next().is_none().then_some(pending)
    }
}

/// Sign-in with one provider; its metadata is fetched at first use (the
/// collector starts even while the provider is down) and cached.
#[derive(Debug)]
pub struct OidcLogin {
    pub config: OidcConfig,
    secret: Secret,
    http: reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl OidcLogin {
    pub fn new(config: OidcConfig, secret: Secret) -> Self {
        // No redirects: the provider's endpoints answer directly, and a
        // followed redirect would let a response steer the collector's requests.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            config,
            secret,
            http,
            metadata: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<ProviderClient, OidcError> {
        let unreachable = |message: String| OidcError::Unreachable {
            issuer: self.config.issuer_url.clone(),
            message,
        };
        let metadata = {
            let mut cached = self.metadata.lock().await;
            match cached.as_ref() {
                Some((at, metadata)) if at.elapsed() < METADATA_TTL => metadata.clone(),
                _ => {
                    let issuer = IssuerUrl::new(self.config.issuer_url.clone())
                        .map_err(|err| unreachable(err.to_string()))?;
                    let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                        .await
                        .map_err(|err| unreachable(error_chain(&err)))?;
                    *cached = Some((Instant::now(), metadata.clone()));
                    metadata
                }
            }
        };
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|err| unreachable(format!("console.oidc.redirect_url: {err}")))?;
        Ok(ProviderClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL and what the browser must keep.
    pub async fn begin(&self) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(OidcScope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        };
        Ok((url.to_string(), pending))
    }

    /// Exchanges `code` (with the PKCE verifier) and returns the verified
    /// ID token's claims, standard and others, as one JSON object.
    pub async fn finish(
        &self,
        code: String,
        pending: &PendingLogin,
    ) -> Result<Map<String, Value>, OidcError> {
        let client = self.client().await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|err| OidcError::Exchange(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(response) => OidcError::Exchange(format!(
                    "{}{}",
                    response.error(),
                    response
                        .error_description()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )),
                other => OidcError::Exchange(error_chain(&other)),
            })?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .map_err(|err| OidcError::IdToken(err.to_string()))?;
        match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(OidcError::IdToken(
                "its claims are not a JSON object".into(),
            )),
        }
    }
}

/// An error with its causes, for a message a person can act on.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_login_round_trips_through_its_cookie_and_refuses_others() {
        let pending = PendingLogin {
            state: "s-1_x".into(),
            verifier: "v".into(),
            nonce: "n".into(),
        };
        assert_eq!(
            PendingLogin::from_cookie(&pending.to_cookie()),
            Some(pending)
        );
        assert_eq!(PendingLogin::from_cookie("a.b"), None);
        assert_eq!(PendingLogin::from_cookie("a.b.c.d"), None);
    }
}
