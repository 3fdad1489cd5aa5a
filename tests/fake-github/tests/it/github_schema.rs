//! The fake's GraphQL schema is a subset of GitHub's published one (npm `@octokit/graphql-schema`,
//! installed by `infra/dev/ensure-test-clients.sh`): every type, field, argument, enum value and
//! union member the fake declares exists in GitHub's schema, with the same type.

use std::collections::HashMap;
use std::path::PathBuf;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

/// A type definition reduced to what is compared: its kind and its members with their types
/// (fields and their arguments as `field(arg)`, enum values and union members with no type).
fn members(sdl: &str) -> HashMap<String, (&'static str, HashMap<String, String>)> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let mut out = HashMap::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = t.node;
        let mut m = HashMap::new();
        let kind = match &t.kind {
            TypeKind::Scalar => "scalar",
            TypeKind::Object(o) => {
                for f in &o.fields {
                    field(&mut m, &f.node);
                }
                "type"
            }
            TypeKind::Interface(i) => {
                for f in &i.fields {
                    field(&mut m, &f.node);
                }
                "interface"
            }
            TypeKind::Union(u) => {
                for x in &u.members {
                    m.insert(x.node.to_string(), String::new());
                }
                "union"
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    m.insert(v.node.value.node.to_string(), String::new());
                }
                "enum"
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    m.insert(f.node.name.node.to_string(), f.node.ty.node.to_string());
                }
                "input"
            }
        };
        out.insert(t.name.node.to_string(), (kind, m));
    }
    out
}

fn field(m: &mut HashMap<String, String>, f: &async_graphql::parser::types::FieldDefinition) {
    let name = f.name.node.to_string();
    m.insert(name.clone(), f.ty.node.to_string());
    for a in &f.arguments {
        m.insert(format!("{name}({})", a.node.name.node), a.node.ty.node.to_string());
    }
}

fn github_sdl() -> String {
    let path = PathBuf::from(std::env::var("HOME").expect("HOME"))
        .join(".cache/shoal-npm/node_modules/@octokit/graphql-schema/schema.graphql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (installed by infra/dev/ensure-test-clients.sh)",
            path.display()
        )
    })
}

#[test]
fn every_type_field_and_argument_of_the_fake_exists_in_githubs_schema_with_the_same_type() {
    let github = members(&github_sdl());
    let fake = members(&shoal_fake_github::graphql_sdl());
    let mut wrong = Vec::new();
    for (name, (kind, fields)) in &fake {
        if name.starts_with("__") {
            continue;
        }
        let Some((gh_kind, gh_fields)) = github.get(name) else {
            wrong.push(format!("{kind} {name}: not in GitHub's schema"));
            continue;
        };
        if gh_kind != kind {
            wrong.push(format!("{name}: a {kind} here, a {gh_kind} at GitHub"));
        }
        for (member, ty) in fields {
            match gh_fields.get(member) {
                None => wrong.push(format!("{name}.{member}: not in GitHub's schema")),
                Some(gh_ty) if gh_ty != ty => wrong.push(format!("{name}.{member}: {ty} here, {gh_ty} at GitHub")),
                Some(_) => {}
            }
        }
    }
    wrong.sort();
    assert!(wrong.is_empty(), "{} differences:\n{}", wrong.len(), wrong.join("\n"));
}
