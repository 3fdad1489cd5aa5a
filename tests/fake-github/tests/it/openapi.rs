//! Faithfulness check: the JSON bodies the fake returns validate against the response schemas of
//! GitHub's OpenAPI description (npm package `@octokit/openapi`, fetched with npm into
//! `$HOME/.cache/shoal-openapi` on first use; never committed).
//!
//! The validator covers the OpenAPI 3.0 subset GitHub's description uses for responses:
//! `$ref`, `type`, `nullable`, `enum`, `properties`, `required`, `additionalProperties`, `items`,
//! `oneOf`/`anyOf` (at least one branch), `allOf`, and `format: date-time`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::{fake, get};

const VERSION: &str = "23.0.2";

fn spec_path() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache").join("shoal-openapi").join(VERSION);
    let file = dir.join("package").join("generated").join("api.github.com.json");
    if file.exists() {
        return file;
    }
    std::fs::create_dir_all(&dir).expect("create the cache dir");
    let tgz = format!("octokit-openapi-{VERSION}.tgz");
    let status = Command::new("npm")
        .args(["pack", "--silent", &format!("@octokit/openapi@{VERSION}")])
        .current_dir(&dir)
        .status()
        .expect("npm is needed to fetch @octokit/openapi");
    assert!(status.success(), "npm pack @octokit/openapi@{VERSION} failed");
    let status = Command::new("tar")
        .args(["xzf", &tgz, "package/generated/api.github.com.json"])
        .current_dir(&dir)
        .status()
        .expect("tar");
    assert!(status.success(), "extracting the OpenAPI description failed");
    let _ = std::fs::remove_file(dir.join(&tgz));
    file
}

struct Validator<'a> {
    spec: &'a Value,
    errors: Vec<String>,
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut s = schema;
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.trim_start_matches('#');
                    s = self.spec.pointer(ptr).unwrap_or(&Value::Null);
                }
                None => break,
            }
        }
        s
    }

    /// Errors of `v` against `schema` (empty when it validates).
    fn check(&self, v: &Value, schema: &Value, at: &str, out: &mut Vec<String>, depth: usize) {
        if depth > 40 {
            return;
        }
        let s = self.resolve(schema);
        if v.is_null() {
            if s.get("nullable") == Some(&Value::Bool(true)) || s.as_object().is_some_and(|o| o.is_empty()) {
                return;
            }
            // A nullable branch inside anyOf/oneOf also admits null.
            let branches = ["anyOf", "oneOf"]
                .iter()
                .filter_map(|k| s.get(*k).and_then(Value::as_array))
                .flatten();
            if branches
                .clone()
                .any(|b| self.resolve(b).get("nullable") == Some(&Value::Bool(true)))
            {
                return;
            }
            if s.get("type").is_some() || s.get("properties").is_some() {
                out.push(format!("{at}: null but not nullable"));
            }
            return;
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for b in all {
                self.check(v, b, at, out, depth + 1);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array) {
                let mut best: Option<Vec<String>> = None;
                for b in branches {
                    let mut e = Vec::new();
                    self.check(v, b, at, &mut e, depth + 1);
                    if e.is_empty() {
                        best = None;
                        break;
                    }
                    if best.as_ref().is_none_or(|x| e.len() < x.len()) {
                        best = Some(e);
                    }
                }
                if let Some(e) = best {
                    out.push(format!("{at}: matches no branch of {key}; closest: {}", e.join("; ")));
                }
            }
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                _ => true,
            };
            if !ok {
                out.push(format!("{at}: expected {t}, got {v}"));
                return;
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            out.push(format!("{at}: {v} not in enum {e:?}"));
        }
        if s.get("format").and_then(Value::as_str) == Some("date-time")
            && let Some(x) = v.as_str()
            && time::OffsetDateTime::parse(x, &time::format_description::well_known::Rfc3339).is_err()
        {
            out.push(format!("{at}: {x:?} is not a date-time"));
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        out.push(format!("{at}: missing required {r:?}"));
                    }
                }
            }
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => self.check(val, ps, &format!("{at}/{k}"), out, depth + 1),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => out.push(format!("{at}: unexpected property {k:?}")),
                        Some(ap) if ap.is_object() => self.check(val, ap, &format!("{at}/{k}"), out, depth + 1),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(arr), Some(items)) = (v.as_array(), s.get("items")) {
            for (i, x) in arr.iter().enumerate() {
                self.check(x, items, &format!("{at}/{i}"), out, depth + 1);
            }
        }
    }

    fn validate(&mut self, template: &str, body: &Value) {
        let pointer = format!(
            "/paths/{}/get/responses/200/content/application~1json/schema",
            template.replace('~', "~0").replace('/', "~1")
        );
        let Some(schema) = self.spec.pointer(&pointer) else {
            self.errors
                .push(format!("{template}: no 200 application/json schema in the description"));
            return;
        };
        let mut out = Vec::new();
        self.check(body, schema, template, &mut out, 0);
        self.errors.extend(out);
    }
}

#[tokio::test]
async fn json_bodies_validate_against_githubs_openapi_description() {
    let spec: Value =
        serde_json::from_slice(&std::fs::read(spec_path()).expect("read the description")).expect("parse");
    let gh = fake().await;
    let t = gh.add_token("octocat");
    let sha = {
        let c: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/commits", &[])
            .await
            .json()
            .await
            .unwrap();
        c[0]["sha"].as_str().unwrap().to_string()
    };
    let run = {
        let r: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/actions/runs", &[])
            .await
            .json()
            .await
            .unwrap();
        r["workflow_runs"][0]["id"].as_u64().unwrap()
    };
    let r = "/repos/octo-org/hello-world";
    let cases: Vec<(&str, String)> = vec![
        ("/repos/{owner}/{repo}", r.to_string()),
        ("/repos/{owner}/{repo}/pulls", format!("{r}/pulls?state=all")),
        ("/repos/{owner}/{repo}/pulls/{pull_number}", format!("{r}/pulls/1")),
        (
            "/repos/{owner}/{repo}/pulls/{pull_number}/files",
            format!("{r}/pulls/1/files"),
        ),
        (
            "/repos/{owner}/{repo}/pulls/{pull_number}/commits",
            format!("{r}/pulls/1/commits"),
        ),
        (
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            format!("{r}/pulls/1/reviews"),
        ),
        ("/repos/{owner}/{repo}/issues", format!("{r}/issues?state=all")),
        ("/repos/{owner}/{repo}/issues/{issue_number}", format!("{r}/issues/2")),
        (
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            format!("{r}/issues/1/comments"),
        ),
        ("/repos/{owner}/{repo}/commits", format!("{r}/commits")),
        ("/repos/{owner}/{repo}/commits/{ref}", format!("{r}/commits/{sha}")),
        (
            "/repos/{owner}/{repo}/commits/{ref}/check-runs",
            format!("{r}/commits/{sha}/check-runs"),
        ),
        ("/repos/{owner}/{repo}/actions/runs", format!("{r}/actions/runs")),
        (
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            format!("{r}/actions/runs/{run}"),
        ),
        (
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            format!("{r}/actions/runs/{run}/jobs"),
        ),
        (
            "/repos/{owner}/{repo}/actions/workflows",
            format!("{r}/actions/workflows"),
        ),
        (
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}",
            format!("{r}/actions/workflows/100"),
        ),
        ("/repos/{owner}/{repo}/releases", format!("{r}/releases")),
        ("/repos/{owner}/{repo}/releases/latest", format!("{r}/releases/latest")),
        (
            "/repos/{owner}/{repo}/releases/tags/{tag}",
            format!("{r}/releases/tags/v1.0.0"),
        ),
        (
            "/repos/{owner}/{repo}/contents/{path}",
            format!("{r}/contents/README.md"),
        ),
        ("/repos/{owner}/{repo}/contents/{path}", format!("{r}/contents/src")),
        (
            "/repos/{owner}/{repo}/compare/{basehead}",
            format!("{r}/compare/v1.0.0...main"),
        ),
        (
            "/search/issues",
            "/search/issues?q=repo:octo-org/hello-world".to_string(),
        ),
        ("/rate_limit", "/rate_limit".to_string()),
        ("/user", "/user".to_string()),
        ("/user/orgs", "/user/orgs".to_string()),
        ("/user/emails", "/user/emails".to_string()),
        ("/orgs/{org}", "/orgs/octo-org".to_string()),
        ("/orgs/{org}/repos", "/orgs/octo-org/repos".to_string()),
        ("/orgs/{org}/members", "/orgs/octo-org/members".to_string()),
        (
            "/orgs/{org}/memberships/{username}",
            "/orgs/octo-org/memberships/monalisa".to_string(),
        ),
        (
            "/user/memberships/orgs/{org}",
            "/user/memberships/orgs/octo-org".to_string(),
        ),
        ("/users/{username}", "/users/octocat".to_string()),
        ("/meta", "/meta".to_string()),
    ];
    let mut v = Validator {
        spec: &spec,
        errors: Vec::new(),
    };
    for (template, path) in &cases {
        let resp = get(&gh, Some(&t), path, &[]).await;
        assert_eq!(resp.status(), 200, "{path}");
        let body: Value = resp.json().await.unwrap();
        v.validate(template, &body);
    }
    assert!(
        v.errors.is_empty(),
        "{} schema violations:\n{}",
        v.errors.len(),
        v.errors.join("\n")
    );
}
