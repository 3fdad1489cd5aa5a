//! GraphQL at `/graphql` and `/api/graphql`: a real executor (async-graphql) over a subset of
//! GitHub's schema, charged by GitHub's documented cost formula
//! (<https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api>).

mod schema;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{EmptyMutation, EmptySubscription, Schema, Value as GqlValue};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::call;
use crate::error::FakeError;
use crate::render::Urls;
use crate::state::{Resource, Shared, TokenKind};
use crate::stats::Counters;

type FakeSchema = Schema<schema::Query, EmptyMutation, EmptySubscription>;

fn schema() -> &'static FakeSchema {
    static SCHEMA: OnceLock<FakeSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::build(schema::Query, EmptyMutation, EmptySubscription).finish())
}

/// The SDL of the fake's GraphQL schema (for docs and tests).
pub fn sdl() -> String {
    schema().sdl()
}

/// Cost of a query by GitHub's formula: every connection (a field with `first` or `last`) needs
/// one request per parent node; the sum divided by 100, rounded, at least 1. Also the node count.
pub fn cost(doc: &ExecutableDocument, operation: Option<&str>, vars: &Value) -> (u64, u64) {
    let Some(acc) = measure(doc, operation, vars) else {
        return (1, 0);
    };
    let points = ((acc.requests as f64) / 100.0).round() as u64;
    (points.max(1), acc.nodes)
}

/// What GitHub refuses before running a query: a `first`/`last` over 100, or more than
/// 500,000 possible nodes. The error object, in GitHub's shape.
pub fn limits_error(doc: &ExecutableDocument, operation: Option<&str>, vars: &Value) -> Option<Value> {
    let acc = measure(doc, operation, vars)?;
    if let Some((field, arg, n)) = acc.too_big {
        return Some(json!({
            "type": "EXCESSIVE_PAGINATION",
            "message": format!("Requesting {n} records on the `{field}` connection exceeds the `{arg}` limit of 100 records.")
        }));
    }
    (acc.nodes > 500_000).then(|| {
        json!({
            "type": "MAX_NODE_LIMIT_EXCEEDED",
            "message": format!("This query requests up to {} possible nodes which exceeds the maximum limit of 500,000.", thousands(acc.nodes))
        })
    })
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Walks the chosen operation (`None` when there is none) and sums its connections.
fn measure(doc: &ExecutableDocument, operation: Option<&str>, vars: &Value) -> Option<Acc> {
    let op = pick_operation(doc, operation)?;
    let mut defaults: HashMap<String, Value> = HashMap::new();
    for v in &op.variable_definitions {
        if let Some(d) = &v.node.default_value {
            defaults.insert(
                v.node.name.node.to_string(),
                d.node.clone().into_json().unwrap_or(Value::Null),
            );
        }
    }
    let mut acc = Acc::default();
    walk(doc, &op.selection_set.node, vars, &defaults, 1, &mut acc, 0);
    Some(acc)
}

#[derive(Default)]
struct Acc {
    requests: u64,
    nodes: u64,
    too_big: Option<(String, &'static str, u64)>,
}

fn pick_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(n)) => ops.iter().find(|(k, _)| k.as_str() == n).map(|(_, v)| &v.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|v| &v.node),
        _ => None,
    }
}

fn walk(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    vars: &Value,
    defaults: &HashMap<String, Value>,
    mult: u64,
    acc: &mut Acc,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let f = &f.node;
                let size = f
                    .arguments
                    .iter()
                    .filter(|(n, _)| n.node.as_str() == "first" || n.node.as_str() == "last")
                    .find_map(|(_, v)| {
                        let resolved = v.node.clone().into_const_with(|name| {
                            let j = vars.get(name.as_str()).or_else(|| defaults.get(name.as_str())).cloned();
                            GqlValue::from_json(j.unwrap_or(Value::Null)).map_err(|_| ())
                        });
                        match resolved {
                            Ok(GqlValue::Number(n)) => n.as_u64(),
                            _ => None,
                        }
                    });
                match size {
                    Some(n) => {
                        if n > 100 && acc.too_big.is_none() {
                            let arg = if f.arguments.iter().any(|(a, _)| a.node.as_str() == "first") {
                                "first"
                            } else {
                                "last"
                            };
                            acc.too_big = Some((f.name.node.to_string(), arg, n));
                        }
                        acc.requests = acc.requests.saturating_add(mult);
                        acc.nodes = acc.nodes.saturating_add(mult.saturating_mul(n));
                        walk(
                            doc,
                            &f.selection_set.node,
                            vars,
                            defaults,
                            mult.saturating_mul(n.max(1)),
                            acc,
                            depth + 1,
                        );
                    }
                    None => walk(doc, &f.selection_set.node, vars, defaults, mult, acc, depth + 1),
                }
            }
            Selection::FragmentSpread(fs) => {
                if let Some(frag) = doc.fragments.get(&fs.node.fragment_name.node) {
                    walk(doc, &frag.node.selection_set.node, vars, defaults, mult, acc, depth + 1);
                }
            }
            Selection::InlineFragment(i) => walk(doc, &i.node.selection_set.node, vars, defaults, mult, acc, depth + 1),
        }
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn json_reply(status: StatusCode, body: &Value, req_id: &str) -> Response {
    let mut r = call::base_response(status, Body::from(body.to_string()), req_id);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v4; format=json"),
    );
    r
}

/// Answers a GraphQL request.
pub async fn serve(
    sh: Arc<Shared>,
    ip: IpAddr,
    headers: HeaderMap,
    method: Method,
    body: Bytes,
    prefix: &str,
) -> Response {
    let route = format!(
        "{} {}/graphql",
        method.as_str(),
        if prefix.is_empty() { "" } else { "/api" }
    );
    let path = "/graphql";
    let req_id = call::request_id(&sh);
    let res = Resource::Graphql;
    let (caller, call) = match call::authenticate_call(&sh, &headers, res, &route, path) {
        Ok(c) => c,
        Err(e) => return e.into_response_with(&req_id),
    };
    let Some(token) = caller.token.clone() else {
        call.record(Counters {
            unauthorized: 1,
            ..Counters::default()
        });
        let body = json!({
            "message": "This endpoint requires you to be authenticated.",
            "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
        });
        return json_reply(StatusCode::UNAUTHORIZED, &body, &req_id);
    };
    if method != Method::POST {
        call.record(Counters::default());
        return FakeError::NotFound.into_response_with(&req_id);
    }
    if let Some(refused) = call.secondary_limit(&req_id) {
        return refused;
    }
    // Answers that run nothing: counted, not charged.
    let refuse = |body: Value| {
        call.record(Counters::default());
        finish(
            json_reply(StatusCode::OK, &body, &req_id),
            &token.scopes,
            token.kind,
            None,
        )
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            call.record(Counters::default());
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}),
                &req_id,
            );
        }
    };
    let query = parsed["query"].as_str().unwrap_or_default().to_string();
    let vars = parsed
        .get("variables")
        .cloned()
        .filter(|v| v.is_object())
        .unwrap_or_else(|| json!({}));
    let op_name = parsed["operationName"].as_str().map(str::to_string);
    let doc = match async_graphql::parser::parse_query(&query) {
        Ok(d) => d,
        Err(e) => return refuse(json!({"errors": [{"message": format!("Parse error: {e}")}]})),
    };
    if let Some(op) = pick_operation(&doc, op_name.as_deref())
        && op.ty != OperationType::Query
    {
        return refuse(json!({"errors": undefined_root_fields(op)}));
    }
    if let Some(err) = limits_error(&doc, op_name.as_deref(), &vars) {
        return refuse(json!({"errors": [err]}));
    }

    let (points, node_count) = cost(&doc, op_name.as_deref(), &vars);
    let account = caller.account(ip);
    let bucket = match call::spend(&sh, account, res, points) {
        Ok(b) => b,
        Err(exhausted) => {
            call.record(Counters {
                rate_limited: 1,
                ..Counters::default()
            });
            let body = json!({"errors": [{"type": "RATE_LIMITED", "message": call::exhausted_message(account, ip)}]});
            return finish(
                json_reply(StatusCode::OK, &body, &req_id),
                &token.scopes,
                token.kind,
                Some(&exhausted),
            );
        }
    };
    call.record(Counters {
        charged: points,
        ..Counters::default()
    });

    let rate = schema::RateLimit {
        cost: points as i32,
        limit: bucket.limit as i32,
        remaining: bucket.remaining() as i32,
        used: bucket.used as i32,
        reset_at: schema::DateTime(
            OffsetDateTime::from_unix_timestamp(bucket.reset)
                .map(crate::render::ts)
                .unwrap_or_default(),
        ),
        node_count: node_count as i32,
    };
    let urls = Urls::new(format!("{}{prefix}", sh.base_url), sh.base_url.clone());
    let ctx = schema::GqlCtx {
        sh: sh.clone(),
        caller,
        urls,
        rate,
    };
    let mut request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(vars))
        .data(ctx);
    if let Some(op) = op_name {
        request = request.operation_name(op);
    }
    let response = schema().execute(request).await;
    let mut out = serde_json::to_value(&response).unwrap_or_else(|_| json!({"errors": [{"message": "internal"}]}));
    github_error_shape(&mut out);
    finish(
        json_reply(StatusCode::OK, &out, &req_id),
        &token.scopes,
        token.kind,
        Some(&bucket),
    )
}

/// GitHub's errors for a mutation or subscription: none of its root fields exist.
fn undefined_root_fields(op: &async_graphql::parser::types::OperationDefinition) -> Vec<Value> {
    let type_name = if op.ty == OperationType::Mutation {
        "Mutation"
    } else {
        "Subscription"
    };
    op.selection_set
        .node
        .items
        .iter()
        .filter_map(|s| match &s.node {
            Selection::Field(f) => Some(json!({
                "path": [type_name.to_ascii_lowercase(), f.node.name.node.as_str()],
                "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": f.node.name.node.as_str()},
                "locations": [{"line": f.pos.line, "column": f.pos.column}],
                "message": format!("Field '{}' doesn't exist on type '{type_name}'", f.node.name.node)
            })),
            _ => None,
        })
        .collect()
}

/// GitHub puts an error's `type` (NOT_FOUND, FORBIDDEN) at the top level of the error object.
fn github_error_shape(out: &mut Value) {
    let Some(errors) = out.get_mut("errors").and_then(Value::as_array_mut) else {
        return;
    };
    for e in errors {
        let ty = e
            .get_mut("extensions")
            .and_then(|x| x.as_object_mut())
            .and_then(|x| x.remove("type"));
        if let Some(ty) = ty {
            e["type"] = ty;
        }
        if e.get("extensions")
            .and_then(Value::as_object)
            .is_some_and(|x| x.is_empty())
            && let Some(obj) = e.as_object_mut()
        {
            obj.remove("extensions");
        }
    }
}

fn finish(mut resp: Response, scopes: &str, kind: TokenKind, bucket: Option<&crate::state::Bucket>) -> Response {
    let h = resp.headers_mut();
    if kind != TokenKind::Installation {
        h.insert("x-oauth-scopes", hv(scopes));
    }
    if let Some(b) = bucket {
        h.insert("x-ratelimit-limit", hv(&b.limit.to_string()));
        h.insert("x-ratelimit-remaining", hv(&b.remaining().to_string()));
        h.insert("x-ratelimit-used", hv(&b.used.to_string()));
        h.insert("x-ratelimit-reset", hv(&b.reset.to_string()));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("graphql"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(q: &str, vars: Value) -> (u64, u64) {
        cost(&async_graphql::parser::parse_query(q).expect("parse"), None, &vars)
    }

    #[test]
    fn over_100_per_page_and_over_500k_nodes_are_refused() {
        let doc = |q: &str| async_graphql::parser::parse_query(q).expect("parse");
        let e = limits_error(
            &doc("{ viewer { organizations(first: 101) { totalCount } } }"),
            None,
            &json!({}),
        )
        .unwrap();
        assert_eq!(e["type"], "EXCESSIVE_PAGINATION");
        let q = "{ repository(owner:\"a\", name:\"b\") { issues(first: 100) { nodes { comments(first: 100) { nodes { reactions(first: 100) { totalCount } } } } } } }";
        let e = limits_error(&doc(q), None, &json!({})).unwrap();
        assert_eq!(e["type"], "MAX_NODE_LIMIT_EXCEEDED");
        assert!(
            e["message"].as_str().unwrap().contains("1,010,100 possible nodes"),
            "{e}"
        );
        assert!(limits_error(&doc("{ viewer { login } }"), None, &json!({})).is_none());
    }

    #[test]
    fn cost_follows_githubs_example() {
        // GitHub's documented example: 1 + 100 + 100*50... here: repository{issues(first:100){nodes{labels(first:50)}}}
        // requests = 1 (issues) + 100 (labels per issue) = 101 -> 1 point; nodes = 100 + 5000.
        let q = "query { repository(owner:\"a\", name:\"b\") { issues(first: 100) { nodes { labels(first: 50) { nodes { name } } } } } }";
        assert_eq!(c(q, json!({})), (1, 5100));
        // 50 connections of 100 under a 100 list: 1 + 100*... -> (1 + 100 + 100) = 201 -> 2 points.
        let q = "query($n: Int = 100) { viewer { a: organizations(first: $n) { nodes { login } } } repository(owner:\"a\", name:\"b\") { pullRequests(first: $n) { nodes { labels(first: 1) { totalCount } comments(first: 1) { totalCount } } } } }";
        assert_eq!(c(q, json!({})).0, 2);
        assert_eq!(c("{ viewer { login } }", json!({})), (1, 0));
    }
}
