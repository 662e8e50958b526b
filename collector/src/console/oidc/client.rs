//! The collector as an OpenID Connect client (the `openidconnect` crate):
//! discovery, the authorization URL with PKCE, state and nonce, and the code
//! exchange whose ID token is verified (signature by the provider's keys,
//! issuer, audience = our client id, expiry, nonce) before any claim is read.
//!
//! Many providers put the group or role claims only in the userinfo answer
//! unless told otherwise. So, automatically: when the verified ID token
//! lacks the role claim or the user-name claim and the provider advertises a
//! userinfo endpoint, the collector asks it with the access token it just
//! received. The answer must be about the ID token's subject (`sub`), and it
//! only fills claims the ID token lacks; the ID token's own claims win.
//!
//! Signing out ends the session at the provider too when its discovery
//! document advertises `end_session_endpoint` (RP-initiated logout): see
//! [`OidcLogin::end_session_url`].

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IdTokenFields,
    IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, RequestTokenError,
    Scope as OidcScope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use forewarn_secret::Secret;

use crate::causes::with_causes;
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

type ProviderIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
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
    #[error("the OpenID provider's userinfo endpoint refused or failed: {0}")]
    UserInfo(String),
}

/// A verified sign-in: the claims (the ID token's, completed from userinfo)
/// and the ID token itself, kept for signing out at the provider.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub claims: Map<String, Value>,
    pub id_token: String,
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
    metadata: Mutex<Option<(Instant, ProviderMetadataWithLogout)>>,
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

    fn unreachable(&self, message: String) -> OidcError {
        OidcError::Unreachable {
            issuer: self.config.issuer_url.clone(),
            message,
        }
    }

    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer_url.clone())
            .map_err(|err| self.unreachable(err.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|err| self.unreachable(with_causes(&err)))?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn client(&self) -> Result<ProviderClient, OidcError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|err| self.unreachable(format!("console.oidc.redirect_url: {err}")))?;
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
    /// ID token's claims, standard and others, as one JSON object, completed
    /// from userinfo when the ID token lacks the role or user-name claim.
    pub async fn finish(
        &self,
        code: String,
        pending: &PendingLogin,
    ) -> Result<SignedIn, OidcError> {
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
                other => OidcError::Exchange(with_causes(&other)),
            })?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let verified = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .map_err(|err| OidcError::IdToken(err.to_string()))?;
        let mut claims = match serde_json::to_value(verified) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(OidcError::IdToken(
                    "its claims are not a JSON object".into(),
                ));
            }
        };
        let lacking = [&self.config.role_claim, &self.config.username_claim]
            .into_iter()
            .any(|claim| !claims.contains_key(claim));
        // `Err` here means the provider advertises no userinfo endpoint.
        if lacking
            && let Ok(request) = client.user_info(
                tokens.access_token().clone(),
                Some(verified.subject().clone()),
            )
        {
            let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = request
                .request_async(&self.http)
                .await
                .map_err(|err| OidcError::UserInfo(with_causes(&err)))?;
            if let Ok(Value::Object(more)) = serde_json::to_value(info) {
                fill_missing(&mut claims, more);
            }
        }
        Ok(SignedIn {
            claims,
            id_token: id_token.to_string(),
        })
    }

    /// Where to send the browser to end its session at the provider too, as
    /// OpenID Connect RP-Initiated Logout 1.0 says: the provider's
    /// `end_session_endpoint` with the ID token as `id_token_hint`, our
    /// client id, and `post_logout_redirect_uri` back to this console's
    /// `/login` (the origin of `redirect_url`; register it at the provider).
    /// `None` when the provider advertises no such endpoint.
    pub async fn end_session_url(&self, id_token: &str) -> Result<Option<String>, OidcError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let back = post_logout_url(&self.config.redirect_url)
            .map_err(|err| self.unreachable(format!("console.oidc.redirect_url: {err}")))?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.config.client_id.clone()))
            .set_post_logout_redirect_uri(back);
        if let Ok(token) = id_token.parse::<ProviderIdToken>() {
            request = request.set_id_token_hint(&token);
        }
        Ok(Some(request.http_get_url().to_string()))
    }
}

/// `/login` on the origin of the callback URL.
pub fn post_logout_url(redirect_url: &str) -> Result<PostLogoutRedirectUrl, String> {
    let mut url = openidconnect::url::Url::parse(redirect_url).map_err(|err| err.to_string())?;
    url.set_path("/login");
    url.set_query(None);
    url.set_fragment(None);
    PostLogoutRedirectUrl::new(url.to_string()).map_err(|err| err.to_string())
}

/// Adds the claims of `more` that `claims` does not have; the ID token's own
/// claims are never replaced.
fn fill_missing(claims: &mut Map<String, Value>, more: Map<String, Value>) {
    for (name, value) in more {
        claims.entry(name).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn userinfo_fills_only_what_the_id_token_lacks() {
        let mut claims = json!({"sub": "u1", "preferred_username": "olga"})
            .as_object()
            .unwrap()
            .clone();
        let info = json!({"sub": "u1", "preferred_username": "mallory", "groups": ["helpdesk"]});
        fill_missing(&mut claims, info.as_object().unwrap().clone());
        assert_eq!(
            Value::Object(claims),
            json!({"sub": "u1", "preferred_username": "olga", "groups": ["helpdesk"]})
        );
    }

    #[test]
    fn after_signing_out_at_the_provider_the_browser_comes_back_to_login() {
        assert_eq!(
            post_logout_url("https://forewarn.example.com:8443/api/v1/session/oidc/callback?x=1")
                .unwrap()
                .as_str(),
            "https://forewarn.example.com:8443/login"
        );
        assert!(post_logout_url("not a url").is_err());
    }

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
