//! What a REST handler answers: a [`Reply`] the pipeline (`api`) turns into a response by adding
//! validators, rate-limit headers and `Link`.

use axum::http::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

/// What a handler answers; the pipeline adds validators, rate-limit headers and Link.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Payload,
    /// `Last-Modified`, when the resource has one.
    pub last_modified: Option<OffsetDateTime>,
    /// Pagination, when the body is one page of a list.
    pub page: Option<PageInfo>,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
    /// `X-GitHub-Media-Type` value.
    pub media: &'static str,
}

/// A response body.
#[derive(Debug)]
pub enum Payload {
    /// JSON.
    Json(Value),
    /// Raw bytes with a content type (diff, patch, raw file).
    Raw(Vec<u8>, &'static str),
    /// No body.
    Empty,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// Current page (1-based).
    pub page: usize,
    /// Last page (at least 1).
    pub last: usize,
    /// Path Link headers point to (GitHub uses `/repositories/{id}/...` for repo lists).
    pub link_path: String,
}

impl Reply {
    /// A 200 JSON answer.
    pub fn json(v: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Payload::Json(v),
            last_modified: None,
            page: None,
            headers: Vec::new(),
            media: "github.v3; format=json",
        }
    }

    /// One page of a list, as JSON.
    pub fn page(v: Value, info: PageInfo) -> Reply {
        Reply {
            page: Some(info),
            ..Reply::json(v)
        }
    }

    /// An answer without a body.
    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: Payload::Empty,
            ..Reply::json(Value::Null)
        }
    }

    /// A 200 with a raw body (`application/vnd.github.raw` and friends).
    pub fn raw(text: String, content_type: &'static str, media: &'static str) -> Reply {
        Reply {
            body: Payload::Raw(text.into_bytes(), content_type),
            media,
            ..Reply::json(Value::Null)
        }
    }

    /// A unified diff (`application/vnd.github.diff`).
    pub fn diff(text: String) -> Reply {
        Reply::raw(
            text,
            "application/vnd.github.diff; charset=utf-8",
            "github.v3; param=diff; format=diff",
        )
    }

    /// A mail-formatted patch series (`application/vnd.github.patch`).
    pub fn patch(text: String) -> Reply {
        Reply::raw(
            text,
            "application/vnd.github.patch; charset=utf-8",
            "github.v3; param=patch; format=patch",
        )
    }

    /// Sets `Last-Modified`.
    pub fn modified(mut self, t: OffsetDateTime) -> Reply {
        self.last_modified = Some(t);
        self
    }

    /// Sets `Last-Modified` when there is one.
    pub fn modified_at(mut self, t: Option<OffsetDateTime>) -> Reply {
        self.last_modified = t;
        self
    }

    /// Sets the status.
    pub fn status(mut self, s: StatusCode) -> Reply {
        self.status = s;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}
