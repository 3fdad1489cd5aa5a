//! A relayed answer before it goes on the wire, and the two ways it does: as an axum response (on
//! a connection hyper serves) or straight into HTTP/1.1 bytes from the entry's encoded headers
//! ([`crate::server::http1`], which spares a cache hit the header map).

use crate::cache::entry::header_line;
use crate::coordinator::PoolBudget;
use crate::error::Error;
use crate::fetch::Served;
use crate::headers;
use crate::route::Resource;
use crate::server::http1;
use crate::worker::Worker;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// What a relay handler answers.
pub enum Reply {
    /// A cached or relayed representation.
    Answer(Answer),
    /// A response the relay makes itself: `/rate_limit`, the caller's own `viewer`, an error.
    Response(Response),
}

impl Reply {
    /// As an axum response.
    pub fn into_response(self) -> Response {
        match self {
            Reply::Answer(a) => a.into_response(),
            Reply::Response(r) => r,
        }
    }
}

/// A handler's outcome as its callers take it, an error as its response (counted here).
pub fn settle(w: &Worker, handled: Result<Reply, Error>) -> Reply {
    handled.unwrap_or_else(|e| {
        w.stats.error();
        Reply::Response(e.into_response())
    })
}

/// A cached or relayed representation as one caller gets it.
pub struct Answer {
    pub status: StatusCode,
    pub served: Served,
    /// What is sent: empty for `HEAD` and `304`.
    pub body: Bytes,
    /// The `Content-Length` of the representation (a `HEAD` states the length a `GET` gets).
    pub length: usize,
    /// Replaces the entry's relay ETag (an answer made the caller's own).
    pub etag: Option<HeaderValue>,
    /// `Link` / `Location` rooted at the caller's base.
    pub links: Vec<(HeaderName, HeaderValue)>,
    pub pool: PoolBudget,
    pub resource: Resource,
}

impl Answer {
    /// As an axum response.
    pub fn into_response(self) -> Response {
        let sends_length = http1::states_length(self.status) && self.body.len() != self.length;
        let e = &self.served.entry;
        let mut h = e.prebuilt.map.clone();
        if let Some(etag) = self.etag {
            h.insert(header::ETAG, etag);
        }
        for (k, v) in self.links {
            h.append(k, v);
        }
        h.insert(
            headers::X_SHOAL_CACHE,
            HeaderValue::from_static(self.served.status.as_str()),
        );
        headers::insert_pool(&mut h, self.pool, self.resource.as_str());
        if sends_length {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(self.length));
        }
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = h;
        resp
    }

    /// Appends the status line and headers, encoded for HTTP/1.1; the body is [`Answer::body`].
    pub fn write_head(&self, out: &mut Vec<u8>) {
        let e = &self.served.entry;
        http1::status_line(out, self.status);
        out.extend_from_slice(&e.prebuilt.lines);
        header_line(
            out,
            header::ETAG.as_str(),
            self.etag.as_ref().unwrap_or(&e.relay_etag).as_bytes(),
        );
        for (k, v) in &self.links {
            header_line(out, k.as_str(), v.as_bytes());
        }
        header_line(
            out,
            headers::X_SHOAL_CACHE.as_str(),
            self.served.status.as_str().as_bytes(),
        );
        headers::pool_lines(out, self.pool, self.resource.as_str());
        http1::end_head(out, self.status, self.length);
    }
}
