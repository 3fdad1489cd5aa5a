//! Property suites (run by `make test`): the REST path normaliser and the GraphQL classifier
//! never panic, normalised paths are canonical and safe, traversal is refused however it is
//! spelled, no mutation is ever a read, and the memoised GraphQL path answers exactly as the
//! full path does.

use proptest::prelude::*;
use shoal_worker::classify::{classify as classify_route, normalize};
use shoal_worker::graphql::{Operation, classify};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_path_normaliser_never_panics_on_arbitrary_input(path in ".{0,300}", query in proptest::option::of(".{0,300}")) {
        if let Ok(n) = normalize(&path, query.as_deref()) {
            let _ = classify_route(&n);
        }
    }

    #[test]
    fn normalised_paths_are_canonical_and_safe(
        segs in proptest::collection::vec("[A-Za-z0-9._%-]{0,12}", 0..8),
        query in "[a-z_=&%0-9A-F]{0,40}",
        trailing in any::<bool>(),
    ) {
        let path = format!("/{}{}", segs.join("/"), if trailing { "/" } else { "" });
        if let Ok(n) = normalize(&path, Some(&query)) {
            prop_assert!(n.path.starts_with('/'));
            prop_assert!(!n.path.contains("//"));
            prop_assert!(n.path.split('/').all(|s| s != ".." && s != "."));
            let lower = n.path.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2f") && !lower.contains("%2e") && !lower.contains("%5c"));
            // Normalising again changes nothing.
            let again = normalize(&n.path, Some(&n.query)).unwrap();
            prop_assert_eq!(again, n.clone());
            let _ = classify_route(&n);
        }
    }

    #[test]
    fn traversal_and_encoded_separators_are_refused_however_they_are_spelled(
        before in proptest::collection::vec("[a-zA-Z0-9_-]{1,8}", 0..4),
        after in proptest::collection::vec("[a-zA-Z0-9_-]{1,8}", 0..4),
        trick in prop_oneof![
            Just(".."), Just("."), Just("%2e%2e"), Just("%2E%2E"), Just(".%2e"), Just("%2e."), Just("%2e"),
            Just("a%2fb"), Just("a%2Fb"), Just("a%5cb"), Just("a%5Cb"), Just("a\\b"),
            Just("a%00b"), Just("a%0ab"), Just("a%zz"), Just("a%2"), Just("a b"), Just("\u{e9}"),
        ],
        prefix in prop_oneof![Just(""), Just("/api/v3")],
    ) {
        let segments: Vec<&str> = std::iter::once("repos")
            .chain(before.iter().map(String::as_str))
            .chain([trick])
            .chain(after.iter().map(String::as_str))
            .collect();
        let path = format!("{prefix}/{}", segments.join("/"));
        prop_assert!(normalize(&path, None).is_err(), "{path} was accepted");
    }

    #[test]
    fn credentials_in_the_query_string_are_refused(
        key in prop_oneof![Just("access_token"), Just("client_secret"), Just("client_id")],
        value in "[a-z0-9]{0,12}",
        others in proptest::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..3),
    ) {
        let mut pairs = others.clone();
        pairs.insert(others.len() / 2, format!("{key}={value}"));
        prop_assert!(normalize("/repos/o/r", Some(&pairs.join("&"))).is_err());
    }

    #[test]
    fn arbitrary_graphql_requests_are_classified_or_refused_never_a_panic(
        text in ".{0,200}",
        depth in 0usize..120,
        op in proptest::option::of("[A-Za-z]{0,8}"),
        vars_depth in 0usize..200,
    ) {
        let nested = format!("{}{text}{}", "{ a ".repeat(depth), " }".repeat(depth));
        let in_repo = format!("query {{ repository(owner: \"o\", name: \"r\") {{ {text} }} }}");
        let vars: serde_json::Value =
            serde_json::from_str(&format!("{}1{}", "[".repeat(vars_depth), "]".repeat(vars_depth))).unwrap_or_default();
        for q in [text.clone(), nested, in_repo] {
            let body = serde_json::json!({"query": q, "operationName": op, "variables": {"v": vars}});
            let _ = classify(&serde_json::to_vec(&body).unwrap());
        }
        let _ = classify(text.as_bytes());
    }

    #[test]
    fn no_mutation_is_ever_classified_as_a_read(
        name in "[A-Z][a-z]{0,5}",
        field in "[a-z][a-zA-Z]{0,8}",
        alias in proptest::option::of("[a-z]{1,5}"),
        via_fragment in any::<bool>(),
        inline in any::<bool>(),
        comment in any::<bool>(),
        other_query_first in any::<bool>(),
        kw in prop_oneof![Just("mutation"), Just("subscription")],
    ) {
        let sel = format!("{}{field} {{ id }}", alias.map(|a| format!("{a}: ")).unwrap_or_default());
        let root = kw[..1].to_ascii_uppercase() + &kw[1..];
        let body = match (via_fragment, inline) {
            (true, _) => format!("{{ ...F{name} }} fragment F{name} on {root} {{ {sel} }}"),
            (false, true) => format!("{{ ... on {root} {{ {sel} }} }}"),
            (false, false) => format!("{{ {sel} }}"),
        };
        let op = format!("{}{kw} {name} {body}", if comment { "# query Q { a }\n" } else { "" });
        let read = format!("query R{name} {{ repository(owner: \"o\", name: \"r\") {{ id }} }}");
        let doc = if other_query_first { format!("{read}\n{op}") } else { format!("{op}\n{read}") };
        let req = serde_json::json!({"query": doc, "operationName": name});
        if let Ok(c) = classify(&serde_json::to_vec(&req).unwrap()) {
            prop_assert_ne!(c.operation, Operation::Query);
            prop_assert!(!c.is_poolable_read());
        }
    }
}

/// gh 2.23's recorded request bodies (`gh pr view`, `gh issue list`, ...).
fn recorded_bodies() -> Vec<String> {
    let recorded: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../../tests/fake-github/tests/gh-2.23-requests.json")).unwrap();
    recorded
        .iter()
        .filter_map(|r| r.get("graphql"))
        .map(|g| g.to_string())
        .collect()
}

/// A GraphQL body built from pieces that exercise every rule of the full path: `@me` in searches
/// and `filterBy` (literal and variable), mutations beside the query, spread through fragments,
/// in comments, selected or not by `operationName`, and formatting that must not matter.
fn arb_body() -> impl Strategy<Value = String> {
    let assignee = prop_oneof![
        Just("\"@me\"".to_string()),
        Just("\"bob\"".to_string()),
        Just("$a".to_string())
    ];
    let search = prop_oneof![
        Just(""),
        Just(" s: search(query: \"is:pr author:@me\", type: ISSUE, first: 1) { issueCount }"),
        Just(" s: search(query: $q, type: ISSUE, first: 1) { issueCount }"),
    ];
    let mutation = prop_oneof![
        Just(""),
        Just("mutation W { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }"),
        Just("mutation W { ...M } fragment M on Mutation { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }"),
        Just("# mutation W { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }\n"),
        Just("mutation { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }"),
    ];
    let op = prop_oneof![Just(None), Just(Some("R")), Just(Some("W")), Just(Some("Nope"))];
    let vars = (
        proptest::option::of(prop_oneof![Just("@me"), Just("@ME"), Just("bob")]),
        proptest::option::of(prop_oneof![Just("involves:@me"), Just("repo:octo-org/x")]),
    );
    (assignee, search, mutation, any::<bool>(), any::<bool>(), op, vars, any::<bool>()).prop_map(
        |(assignee, search, mutation, via_fragment, mutation_first, op, (a, q), spaced)| {
            let issues = format!("issues(first: 1, filterBy: {{assignee: {assignee}}}) {{ totalCount }}");
            let read = if via_fragment {
                format!(
                    "query R($a: String, $q: String!) {{ ...Q{search} }} fragment Q on Query {{ repository(owner: \"octo-org\", name: \"hello-world\") {{ {issues} }} }}"
                )
            } else {
                format!(
                    "query R($a: String, $q: String!) {{ repository(owner: \"octo-org\", name: \"hello-world\") {{ {issues} }}{search} }}"
                )
            };
            let mut doc = if mutation_first {
                format!("{mutation}\n{read}")
            } else {
                format!("{read}\n{mutation}")
            };
            if spaced {
                doc = doc.replace(' ', "  \n ");
            }
            let mut vars = serde_json::Map::new();
            if let Some(a) = a {
                vars.insert("a".into(), a.into());
            }
            if let Some(q) = q {
                vars.insert("q".into(), q.into());
            }
            serde_json::json!({"query": doc, "operationName": op, "variables": vars}).to_string()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The memoised path gives exactly the full path's answer, for every body of a stream with
    /// repeats, through a memo small enough to fill and evict, and never a read that carries a
    /// mutation upstream.
    #[test]
    fn the_memoised_graphql_path_agrees_with_the_full_path(
        pool in proptest::collection::vec(arb_body(), 1..8),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0..3usize), 1..40),
        entries in 1..4usize,
    ) {
        use shoal_worker::graphql::memo::Memo;
        use shoal_worker::relay::graphql::{prepare, prepare_memoised};
        let mut pool = pool;
        pool.extend(recorded_bodies());
        let memo = Memo::new(entries, 1 << 20);
        for (pick, who) in picks {
            let body = &pool[pick.index(pool.len())];
            let login = ["", "alice", "Bob"][who];
            let fast = prepare_memoised(&memo, body.as_bytes(), login);
            let full = prepare(body.as_bytes(), login);
            match (&fast, &full) {
                (Ok(fast), Ok(full)) => prop_assert_eq!(&**fast, full),
                (Err(a), Err(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
                _ => prop_assert!(false, "memoised {fast:?} but full {full:?} for {body}"),
            }
            prop_assert!(memo.len() <= entries);
            if let Ok(p) = &fast {
                let upstream = String::from_utf8_lossy(&p.upstream_body);
                if p.classified.operation == Operation::Query {
                    prop_assert!(!upstream.contains("closeIssue"), "{upstream}");
                    prop_assert!(!p.classified.root_fields.contains("closeIssue"));
                } else {
                    prop_assert!(!p.classified.is_poolable_read());
                }
            }
        }
    }
}
