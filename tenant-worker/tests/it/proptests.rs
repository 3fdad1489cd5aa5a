//! Property suites (run by `make test`): the REST path normaliser and the GraphQL classifier
//! never panic, normalised paths are canonical and safe, traversal is refused however it is
//! spelled, and no mutation is ever a read.

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
