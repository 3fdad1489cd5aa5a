//! Fields that describe the viewer's relation to an object (`viewerPermission`,
//! `viewerCanUpdate`, `viewerSubscription`, ...): GitHub answers them for whoever sends the query,
//! so a pooled identity's answer must never reach a caller. `viewerDidAuthor` is answered for the
//! caller from the `author { login }` beside it; every other one hands the query back
//! (`fallback_local`), because only the caller's own credentials can answer it.

use super::Classified;
use serde_json::Value;

/// Why the relay cannot serve `c` for the caller whose login is `login` (empty when unknown), or
/// `None` when it can.
pub fn refusal(c: &Classified, login: &str) -> Option<String> {
    if let Some(field) = c.viewer_fields.iter().find(|f| *f != "viewerDidAuthor") {
        return Some(format!(
            "this query reads {field}, which GitHub answers for whoever sends it; send it with your own credentials"
        ));
    }
    let did_author = c.viewer_fields.contains("viewerDidAuthor");
    if did_author && !c.viewer_did_author_derivable {
        return Some(
            "this query reads viewerDidAuthor without author { login } beside it; send it with your own credentials"
                .into(),
        );
    }
    if did_author && login.is_empty() {
        return Some(
            "this query reads viewerDidAuthor and the caller's login is not known here; send it with your own credentials"
                .into(),
        );
    }
    None
}

/// Sets every `viewerDidAuthor` in `answer` to whether the `author` beside it is `login`.
pub fn answer_did_author(answer: &mut Value, login: &str) {
    match answer {
        Value::Object(o) => {
            if o.contains_key("viewerDidAuthor") {
                let mine = o
                    .get("author")
                    .and_then(|a| a.get("login"))
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.eq_ignore_ascii_case(login));
                o.insert("viewerDidAuthor".into(), Value::Bool(mine));
            }
            o.values_mut().for_each(|v| answer_did_author(v, login));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| answer_did_author(v, login)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn did_author_follows_the_author_beside_it() {
        let mut v = json!({"data": {"a": {"nodes": [
            {"author": {"login": "Octocat"}, "viewerDidAuthor": false},
            {"author": {"login": "hubot"}, "viewerDidAuthor": true},
            {"author": null, "viewerDidAuthor": true}
        ]}}});
        answer_did_author(&mut v, "octocat");
        let mine: Vec<_> = v["data"]["a"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["viewerDidAuthor"].clone())
            .collect();
        assert_eq!(mine, [json!(true), json!(false), json!(false)]);
    }
}
