//! The expected point cost of a GraphQL query, by GitHub's documented formula
//! (<https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api>):
//! every connection (a field with `first` or `last`) needs one request per node of the
//! connections around it; the requests are summed, divided by 100 and rounded, at least 1 point.
//! The relay reserves this much before the call; GitHub's answer (`rateLimit.cost`,
//! `x-ratelimit-remaining`) then replaces the estimate.

use graphql_parser::query::{FragmentDefinition, Selection, SelectionSet, Value};
use std::collections::HashMap;

/// Deepest level walked (the document's nesting is already bounded by the classifier).
const MAX_DEPTH: usize = 64;
/// Most selections visited: fragments spread many times could otherwise blow up the walk.
const MAX_VISITS: usize = 100_000;

/// Points GitHub will charge for running `set` (the selected operation's selection set).
pub fn estimate<'a>(
    set: &SelectionSet<'a, String>,
    fragments: &HashMap<&str, &FragmentDefinition<'a, String>>,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> u64 {
    let mut w = Walk {
        fragments,
        vars,
        requests: 0,
        visits: 0,
    };
    w.walk(set, 1, 0);
    // Rounded to the nearest point, as GitHub documents it.
    (w.requests.saturating_add(50) / 100).max(1)
}

struct Walk<'f, 'a> {
    fragments: &'f HashMap<&'f str, &'f FragmentDefinition<'a, String>>,
    vars: &'f serde_json::Map<String, serde_json::Value>,
    requests: u64,
    visits: usize,
}

impl<'a> Walk<'_, 'a> {
    /// `mult`: how many parent nodes this selection runs for.
    fn walk(&mut self, set: &SelectionSet<'a, String>, mult: u64, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in &set.items {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return;
            }
            match item {
                Selection::Field(f) => {
                    let page = f
                        .arguments
                        .iter()
                        .filter(|(name, _)| name == "first" || name == "last")
                        .find_map(|(_, v)| self.int(v));
                    match page {
                        Some(n) => {
                            self.requests = self.requests.saturating_add(mult);
                            self.walk(&f.selection_set, mult.saturating_mul(n.max(1)), depth + 1);
                        }
                        None => self.walk(&f.selection_set, mult, depth + 1),
                    }
                }
                Selection::InlineFragment(i) => self.walk(&i.selection_set, mult, depth + 1),
                Selection::FragmentSpread(s) => {
                    if let Some(frag) = self.fragments.get(s.fragment_name.as_str()) {
                        self.walk(&frag.selection_set, mult, depth + 1);
                    }
                }
            }
        }
    }

    fn int(&self, v: &Value<'a, String>) -> Option<u64> {
        match v {
            Value::Int(n) => n.as_i64().and_then(|n| u64::try_from(n).ok()),
            Value::Variable(name) => self.vars.get(name).and_then(serde_json::Value::as_u64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::graphql::classify;
    use serde_json::json;

    fn cost(query: &str, vars: serde_json::Value) -> u64 {
        classify(&serde_json::to_vec(&json!({ "query": query, "variables": vars })).unwrap())
            .unwrap()
            .cost
    }

    #[test]
    fn follows_githubs_formula() {
        // 1 (issues) + 100 (labels per issue) = 101 requests: 1 point.
        let q = "{ repository(owner:\"a\", name:\"b\") { issues(first: 100) { nodes { labels(first: 50) { nodes { name } } } } } }";
        assert_eq!(cost(q, json!({})), 1);
        // 1 + 100 + 100 = 201 requests: 2 points (variables and defaults resolved).
        let q = "query($n: Int = 100) { repository(owner:\"a\", name:\"b\") { pullRequests(first: $n) { nodes { labels(first: 1) { totalCount } comments(first: 1) { totalCount } } } } }";
        assert_eq!(cost(q, json!({})), 2);
        assert_eq!(cost(q, json!({"n": 10})), 1);
        // No connection at all: the minimum.
        assert_eq!(cost("{ repository(owner:\"a\", name:\"b\") { id } }", json!({})), 1);
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        let q = "query { repository(owner:\"a\", name:\"b\") { pullRequests(last: 100) { nodes { ...C } } } }
                 fragment C on PullRequest { a: comments(first: 1) { totalCount } b: reviews(first: 1) { totalCount } ... on PullRequest { c: labels(first: 1) { totalCount } } }";
        // 1 + 3 * 100 = 301 requests: 3 points.
        assert_eq!(cost(q, json!({})), 3);
    }

    #[test]
    fn a_fragment_bomb_stays_bounded() {
        let mut q = String::from("query { ...F0 }\n");
        for i in 0..30 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ a: repository(owner:\"a\", name:\"b\") {{ ...F{n} }} b: repository(owner:\"a\", name:\"b\") {{ ...F{n} }} }}\n",
                n = i + 1
            ));
        }
        q.push_str("fragment F30 on Repository { issues(first: 1) { totalCount } }");
        assert!(cost(&q, json!({})) >= 1);
    }
}
