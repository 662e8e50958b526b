//! The sign-in page (`/login`). The form posts to the API's
//! `POST /api/v1/session` from the script, then goes to `next` (a path on
//! this site only).

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use super::format::local_path;
use super::{assets, render};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    css: &'static str,
    js: &'static str,
}

pub async fn page(Query(query): Query<LoginQuery>) -> Response {
    render(&LoginPage {
        next: local_path(query.next.as_deref()),
        css: assets::CSS_URL.as_str(),
        js: assets::JS_URL.as_str(),
    })
}
