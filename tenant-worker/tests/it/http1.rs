//! The worker's own HTTP/1.1 loop, byte for byte on a raw socket: pipelined requests are answered
//! in order, `HEAD` states the length a `GET` gets, and a connection it does not frame itself
//! (a chunked body, `Expect`, HTTP/1.0, a malformed head) is served by hyper from where it was,
//! with the requests after it still answered.

use crate::support::bundle::{self, pat};
use shoal_fake_github::Faults;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PR: &str = "/repos/octo-org/hello-world/pulls/1";
const REPO: &str = "/repos/octo-org/hello-world";
const ACCEPT: &str = "application/vnd.github+json";
const QUERY: &str = r#"{"query":"query { repository(owner: \"octo-org\", name: \"hello-world\") { pullRequest(number: 1) { title } } }"}"#;

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads the answers to `heads.len()` requests from `tcp` (`true`: the request was a `HEAD`).
async fn read_answers(tcp: &mut TcpStream, heads: &[bool]) -> Vec<Answer> {
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    while answers.len() < heads.len() {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut fields);
        if let httparse::Status::Complete(len) = r.parse(&buf).unwrap() {
            let status = r.code.unwrap();
            let headers: HashMap<String, String> = r
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8(h.value.to_vec()).unwrap(),
                    )
                })
                .collect();
            let has_body = status >= 200 && status != 204 && status != 304 && !heads[answers.len()];
            let body_len = if has_body {
                headers["content-length"].parse::<usize>().unwrap()
            } else {
                0
            };
            if status == 100 {
                buf.drain(..len);
                continue;
            }
            if buf.len() >= len + body_len {
                let body = buf[len..len + body_len].to_vec();
                buf.drain(..len + body_len);
                answers.push(Answer { status, headers, body });
                continue;
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed after {} answers", answers.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(
        buf.is_empty(),
        "bytes beyond the answers: {:?}",
        String::from_utf8_lossy(&buf)
    );
    answers
}

/// A request as reqwest sends it for [`bundle::Env::get`] (the answer's links are rooted at its
/// `Host`).
fn get(method: &str, path: &str, env: &bundle::Env) -> String {
    let (host, caller) = (env.relay.addr, &env.caller);
    format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\naccept: {ACCEPT}\r\nauthorization: token {caller}\r\n\r\n")
}

async fn warm(env: &bundle::Env) {
    for path in [PR, REPO] {
        let (status, _, _) = env.get(path, Some(ACCEPT)).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn pipelined_reads_are_answered_in_order_and_head_states_the_length_of_get() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    warm(&env).await;
    let (_, _, pr) = env.get(PR, Some(ACCEPT)).await;
    let (_, _, repo) = env.get(REPO, Some(ACCEPT)).await;
    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    let requests = [
        get("GET", PR, &env),
        get("HEAD", PR, &env),
        get("GET", REPO, &env),
        get("GET", "/healthz", &env),
    ]
    .concat();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let got = read_answers(&mut tcp, &[false, true, false, false]).await;
    assert_eq!(got.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 200, 200, 200]);
    assert!(got[0].body == pr, "the pull request differs from reqwest's");
    assert_eq!(got[1].headers["content-length"], pr.len().to_string());
    assert!(got[2].body == repo, "the repository differs from reqwest's");
    for a in &got[..3] {
        assert_eq!(a.headers["x-shoal-cache"], "HIT");
        assert_eq!(a.headers["x-ratelimit-resource"], "core");
        assert!(a.headers["etag"].starts_with("\"s"), "{:?}", a.headers);
        assert!(httpdate::parse_http_date(&a.headers["date"]).is_ok());
    }
    assert_eq!(got[0].headers["etag"], got[1].headers["etag"]);
    assert_eq!(env.gh.stats().calls, 2);
}

#[tokio::test]
async fn a_chunked_body_hands_the_connection_to_hyper_which_answers_it_and_the_reads_after() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    warm(&env).await;
    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    let chunked = format!(
        "POST /api/graphql HTTP/1.1\r\nhost: relay\r\nauthorization: token {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{QUERY}\r\n0\r\n\r\n",
        env.caller,
        QUERY.len()
    );
    let requests = [get("GET", PR, &env), chunked, get("GET", REPO, &env)].concat();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let got = read_answers(&mut tcp, &[false, false, false]).await;
    assert_eq!(got.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 200, 200]);
    let data: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert!(data["data"]["repository"]["pullRequest"]["title"].is_string(), "{data}");
    assert_eq!(got[1].headers["x-ratelimit-resource"], "graphql");
    assert_eq!(got[2].headers["x-shoal-cache"], "HIT");
}

#[tokio::test]
async fn expect_continue_http_1_0_and_a_malformed_head_are_served_as_hyper_serves_them() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    warm(&env).await;

    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    let head = format!(
        "POST /api/graphql HTTP/1.1\r\nhost: relay\r\nauthorization: token {}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        env.caller,
        QUERY.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut continued = [0u8; 25];
    tcp.read_exact(&mut continued).await.unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(QUERY.as_bytes()).await.unwrap();
    let got = read_answers(&mut tcp, &[false]).await;
    assert_eq!(got[0].status, 200);

    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    let old = format!(
        "GET {PR} HTTP/1.0\r\naccept: {ACCEPT}\r\nauthorization: token {}\r\n\r\n",
        env.caller
    );
    tcp.write_all(old.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.to_ascii_lowercase().contains("x-shoal-cache: hit\r\n"), "{text}");

    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(env.gh.stats().calls, 3);
}

#[tokio::test]
async fn routes_the_loop_does_not_answer_itself_reach_the_router() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    let mut tcp = TcpStream::connect(env.relay.addr).await.unwrap();
    let requests = [
        get("GET", "/healthz", &env),
        get("HEAD", "/healthz", &env),
        get("GET", "/api/graphql", &env),
        get("GET", "/api/v3", &env),
        get("DELETE", REPO, &env),
    ]
    .concat();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let got = read_answers(&mut tcp, &[false, true, false, false, false]).await;
    assert_eq!(
        got.iter().map(|a| a.status).collect::<Vec<_>>(),
        [200, 200, 405, 200, 405]
    );
    assert_eq!(got[1].headers["content-length"], got[0].body.len().to_string());
    assert!(got[2].headers["allow"].contains("POST"), "{:?}", got[2].headers);
    assert!(String::from_utf8_lossy(&got[3].body).contains("current_user_url"));
    assert_eq!(env.gh.stats().calls, 0);
}

#[tokio::test]
async fn shutdown_answers_the_request_in_flight_and_closes_idle_connections() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    env.gh.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let mut busy = TcpStream::connect(env.relay.addr).await.unwrap();
    let mut idle = TcpStream::connect(env.relay.addr).await.unwrap();
    busy.write_all(get("GET", PR, &env).as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let bundle::Env { relay, gh, .. } = env;
    let shutdown = tokio::spawn(relay.shutdown());
    let mut closed = Vec::new();
    idle.read_to_end(&mut closed).await.unwrap();
    assert!(closed.is_empty());
    let got = read_answers(&mut busy, &[false]).await;
    assert_eq!((got[0].status, got[0].headers["x-shoal-cache"].as_str()), (200, "MISS"));
    busy.read_to_end(&mut closed).await.unwrap();
    assert!(closed.is_empty());
    shutdown.await.unwrap();
    assert_eq!(gh.stats().calls, 1);
}
