//! The worker's own HTTP/1.1 connection loop. Cache hits are most of what a worker answers, and
//! behind hyper and axum a hit spent more on the framework than on the relay: a header map built
//! for the answer from a clone of the entry's (about 15 headers), then encoded again for every
//! answer. Here a request head is parsed with httparse, REST reads and GraphQL queries go
//! straight to their handlers, and their answers are written from the entry's headers as they
//! were encoded when it was cached ([`crate::cache::entry::Prebuilt`]). Every other request
//! goes through the router, its response encoded here.
//!
//! A connection whose requests this loop does not frame itself (a chunked or larger body than
//! GraphQL takes, `Expect`, `Upgrade`, `Connection` other than keep-alive, HTTP/1.0, a head
//! over [`MAX_REQUEST_HEAD`] or one httparse refuses) is handed to hyper, with the bytes read so
//! far, for the rest of its life: it is served as every shoal listener serves.

use crate::cache::entry::header_line;
use crate::relay::answer::Reply;
use crate::relay::{self, Handler};
use crate::worker::Worker;
use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use axum::response::Response;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use shoal_common::serve::{Closing, MAX_REQUEST_HEAD, serve_connection};
use std::cell::RefCell;
use std::io::IoSlice;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// Header fields a request may carry here (hyper takes one with more).
const MAX_HEADERS: usize = 64;
const READ_SIZE: usize = 8 * 1024;
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Serves one accepted connection until it ends or, between requests, the server closes.
pub async fn connection(mut tcp: TcpStream, worker: Arc<Worker>, router: Router, mut closing: Closing) {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(1024);
    loop {
        let head = loop {
            match Head::parse(&buf) {
                Framing::Here(head) => break head,
                Framing::Hyper => {
                    let io = Rewind {
                        read: buf.freeze(),
                        io: tcp,
                    };
                    return serve_connection(io, router, None, closing).await;
                }
                Framing::Partial => {}
            }
            let read = if buf.is_empty() {
                if closing.is_closing() {
                    return;
                }
                tokio::select! {
                    read = read_more(&mut tcp, &mut buf) => read,
                    () = closing.wait() => return,
                }
            } else {
                read_more(&mut tcp, &mut buf).await
            };
            if !read {
                return;
            }
        };
        while buf.len() < head.len + head.body {
            if !read_more(&mut tcp, &mut buf).await {
                return;
            }
        }
        let bytes = buf.split_to(head.len).freeze();
        let body = buf.split_to(head.body).freeze();
        let Some(parts) = head.parts(&bytes) else {
            let _ = tcp.write_all(BAD_REQUEST).await;
            return;
        };
        out.clear();
        if !respond(&worker, &router, parts, body, &mut tcp, &mut out).await || closing.is_closing() {
            return;
        }
    }
}

/// Reads what has arrived into `buf`; false at the end of the stream or on an error.
async fn read_more(tcp: &mut TcpStream, buf: &mut BytesMut) -> bool {
    if buf.capacity() - buf.len() < READ_SIZE / 2 {
        buf.reserve(READ_SIZE);
    }
    matches!(tcp.read_buf(buf).await, Ok(n) if n > 0)
}

/// Answers one request into `tcp`; whether the connection stays open.
async fn respond(
    w: &Arc<Worker>,
    router: &Router,
    parts: Parts,
    body: Bytes,
    tcp: &mut TcpStream,
    out: &mut Vec<u8>,
) -> bool {
    let head = parts.method == Method::HEAD;
    let reply = match relay::handler(&parts.method, parts.uri.path()) {
        Handler::Rest => relay::rest::reply(w, &parts).await,
        Handler::Graphql => relay::graphql::reply(w, Request::from_parts(parts, Body::from(body))).await,
        Handler::Router => {
            let req = Request::from_parts(parts, Body::from(body));
            Reply::Response(router.clone().oneshot(req).await.unwrap_or_else(|e| match e {}))
        }
    };
    match reply {
        Reply::Answer(answer) => {
            answer.write_head(out);
            send(tcp, out, &answer.body).await
        }
        Reply::Response(response) => send_response(tcp, out, response, head).await,
    }
}

/// Encodes a router's response (its body collected; none are streamed) and sends it.
async fn send_response(tcp: &mut TcpStream, out: &mut Vec<u8>, response: Response, head: bool) -> bool {
    let (p, body) = response.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return false;
    };
    let mut length = body.len();
    let mut close = false;
    status_line(out, p.status);
    for (name, value) in &p.headers {
        if name == header::CONTENT_LENGTH {
            // A response to HEAD (axum empties its body) states the length a GET gets.
            if let Some(n) = value.to_str().ok().and_then(|v| v.parse().ok()) {
                length = length.max(n);
            }
            continue;
        }
        if name == header::TRANSFER_ENCODING || name == header::DATE {
            continue;
        }
        close |= name == header::CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close");
        header_line(out, name.as_str(), value.as_bytes());
    }
    end_head(out, p.status, length);
    let body = if head || !states_length(p.status) {
        &[][..]
    } else {
        &body[..]
    };
    send(tcp, out, body).await && !close
}

/// Writes `head` then `body` in as few system calls as the socket takes.
async fn send(tcp: &mut TcpStream, mut head: &[u8], mut body: &[u8]) -> bool {
    while !head.is_empty() || !body.is_empty() {
        let n = match tcp.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    true
}

/// Whether a response with `status` has a body and so states its length (not 1xx, 204, 304).
pub fn states_length(status: StatusCode) -> bool {
    !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
}

/// Appends `HTTP/1.1 <code> <reason>`.
pub fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `date` line of the current second, as hyper keeps it.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((0, Vec::new())) };
}

/// Appends `content-length` (where [`states_length`]), `date` and the blank line.
pub fn end_head(out: &mut Vec<u8>, status: StatusCode, length: usize) {
    if states_length(status) {
        header_line(out, "content-length", itoa::Buffer::new().format(length).as_bytes());
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, line)| {
        if *at != secs || line.is_empty() {
            line.clear();
            header_line(line, "date", httpdate::fmt_http_date(now).as_bytes());
            *at = secs;
        }
        out.extend_from_slice(line);
    });
    out.extend_from_slice(b"\r\n");
}

/// A request head as httparse found it: offsets into the bytes it was parsed from.
struct Head {
    method: Method,
    target: Range<usize>,
    fields: [(Range<usize>, Range<usize>); MAX_HEADERS],
    count: usize,
    /// The head's length, then the body's (`Content-Length`, 0 without).
    len: usize,
    body: usize,
}

// A `Head` lives on the stack once per request; boxing it would add an allocation to each.
#[allow(clippy::large_enum_variant)]
enum Framing {
    Here(Head),
    /// More bytes are needed.
    Partial,
    /// Hyper serves the connection from here on.
    Hyper,
}

impl Head {
    fn parse(buf: &[u8]) -> Framing {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) if len <= MAX_REQUEST_HEAD => len,
            Ok(httparse::Status::Partial) if buf.len() <= MAX_REQUEST_HEAD => return Framing::Partial,
            _ => return Framing::Hyper,
        };
        let (Some(1), Some(method), Some(target)) = (req.version, req.method, req.path) else {
            return Framing::Hyper;
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return Framing::Hyper;
        };
        let at = |s: &[u8]| {
            let start = s.as_ptr() as usize - buf.as_ptr() as usize;
            start..start + s.len()
        };
        let mut head = Head {
            method,
            target: at(target.as_bytes()),
            fields: std::array::from_fn(|_| (0..0, 0..0)),
            count: req.headers.len(),
            len,
            body: 0,
        };
        let mut length = None;
        for (i, h) in req.headers.iter().enumerate() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<usize>().ok());
                match (length, n) {
                    (None, Some(n)) => length = Some(n),
                    _ => return Framing::Hyper,
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
                || name.eq_ignore_ascii_case("upgrade")
                || (name.eq_ignore_ascii_case("connection") && !h.value.eq_ignore_ascii_case(b"keep-alive"))
            {
                return Framing::Hyper;
            }
            head.fields[i] = (at(name.as_bytes()), at(h.value));
        }
        head.body = length.unwrap_or(0);
        if head.body > relay::graphql::MAX_BODY_BYTES {
            return Framing::Hyper;
        }
        Framing::Here(head)
    }

    /// The request's parts, slices of `bytes` (the head); `None` if a field is not valid.
    fn parts(self, bytes: &Bytes) -> Option<Parts> {
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = self.method;
        parts.uri = Uri::from_maybe_shared(bytes.slice(self.target)).ok()?;
        parts.version = Version::HTTP_11;
        let mut headers = HeaderMap::with_capacity(self.count);
        for (name, value) in self.fields.into_iter().take(self.count) {
            let name = HeaderName::from_bytes(&bytes[name]).ok()?;
            headers.append(name, HeaderValue::from_maybe_shared(bytes.slice(value)).ok()?);
        }
        parts.headers = headers;
        Some(parts)
    }
}

/// The connection for hyper: the bytes already read come first.
struct Rewind {
    read: Bytes,
    io: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
