//! The stylesheet and the script, built into the binary from
//! `collector/assets/` (hand-written, no build step, no third-party code).
//! Their URLs carry a hash of their content, so a browser may keep them
//! for a year and still gets the new file after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub const CSS: &str = include_str!("../../../assets/app.css");
pub const JS: &str = include_str!("../../../assets/app.js");

fn versioned(stem: &str, extension: &str, body: &str) -> String {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    format!("/assets/{stem}.{hash}.{extension}")
}

pub static CSS_URL: LazyLock<String> = LazyLock::new(|| versioned("app", "css", CSS));
pub static JS_URL: LazyLock<String> = LazyLock::new(|| versioned("app", "js", JS));

/// Every served asset: (URL, content type, body).
pub fn all() -> [(&'static str, &'static str, &'static str); 2] {
    [
        (CSS_URL.as_str(), "text/css; charset=utf-8", CSS),
        (JS_URL.as_str(), "text/javascript; charset=utf-8", JS),
    ]
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let wanted = format!("/assets/{name}");
    match all().into_iter().find(|(url, _, _)| *url == wanted) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_change_with_their_content() {
        assert_ne!(versioned("app", "css", "a"), versioned("app", "css", "b"));
        assert!(CSS_URL.starts_with("/assets/app.") && CSS_URL.ends_with(".css"));
        assert!(JS_URL.ends_with(".js"));
    }
}
