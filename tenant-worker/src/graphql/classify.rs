//! The GraphQL classifier. It never guesses from text: the document is parsed, the operation is
//! chosen as a GraphQL server would choose it (`operationName`, else the only operation), and the
//! kind of that operation decides. A body that cannot be classified is an error, never a read.

use graphql_parser::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet, parse_query,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Largest query document accepted, in bytes (GitHub's own limit is far below any real need).
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Deepest nesting of `{ ( [` accepted, just under graphql-parser's own recursion limit (50), so a
/// too-deep document gets this clear error rather than a parse error.
const MAX_NESTING: usize = 48;
/// Most fragment spreads followed while walking one operation.
const MAX_SPREADS: usize = 1_000;

/// Why a GraphQL body was refused. Every variant is a 400 for the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphqlError {
    #[error("the body must be JSON with a string \"query\" field")]
    BadBody,
    #[error("the query document is larger than {MAX_QUERY_BYTES} bytes")]
    TooLarge,
    #[error("the query document is nested deeper than {MAX_NESTING} levels")]
    TooDeep,
    #[error("the query document does not parse: {0}")]
    Parse(String),
    #[error("the document has no operation")]
    NoOperation,
    #[error("the document has several operations: set operationName to one of them")]
    AmbiguousOperation,
    #[error("no operation named {0:?} in the document")]
    UnknownOperation(String),
    #[error("fragment {0:?} is used but not defined")]
    UnknownFragment(String),
    #[error("the document spreads fragments too deeply or in a cycle")]
    FragmentLimit,
}

/// The kind of the operation that would run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Query,
    Mutation,
    Subscription,
}

/// A classified GraphQL request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub operation: Operation,
    /// Root fields the selected operation reads (through fragments too), e.g. `repository`, `viewer`.
    pub root_fields: BTreeSet<String>,
    /// Hex SHA-256 of the normalised selected operation, its fragments, variables and operationName.
    pub cache_key: String,
    /// The selected operation and the fragments it uses, printed canonically: the only text sent
    /// upstream, so other operations of the document (a mutation beside a query) never leave.
    pub executed: String,
    /// The request's variables (an object).
    pub variables: serde_json::Value,
    /// The request's `operationName`, if any.
    pub operation_name: Option<String>,
    /// Each root field of the selected operation (through fragments) with its arguments, variables
    /// resolved, so the relay can check which owners a query reads.
    pub root_calls: Vec<RootCall>,
    /// The operation reads only `viewer { login }` (optionally `__typename`), without aliases:
    /// the relay can answer it with the caller's own login.
    pub viewer_login_only: bool,
    /// A query with other root fields and a bare `viewer { login }`: that field was taken out of
    /// [`Self::executed`] (and of the root fields); the relay adds the caller's login to the answer.
    pub viewer_login_merged: bool,
    /// With a bare `viewer { login }`: whether `viewer { __typename }` was asked for too.
    pub viewer_typename: bool,
    /// The points GitHub is expected to charge for [`Self::executed`] (see [`super::cost`]).
    pub cost: u64,
    /// Fields below the root named `viewer...` (`viewerPermission`, `viewerDidAuthor`, ...):
    /// their answer describes whoever sends the query, so a pooled identity's must never reach a
    /// caller (see [`Self::viewer_did_author_derivable`]).
    pub viewer_fields: BTreeSet<String>,
    /// Every `viewerDidAuthor` sits, unaliased, beside an unaliased `author { login }`, and no
    /// other field answers under the keys `viewerDidAuthor`, `author` or `login`: the relay can
    /// set each one from the author's login for the caller.
    pub viewer_did_author_derivable: bool,
}

/// A root field and its arguments (variables substituted; JSON as the server would see them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCall {
    pub name: String,
    /// Where its answer lands under `data`: the alias, else the name.
    pub key: String,
    pub args: serde_json::Map<String, serde_json::Value>,
}

impl RootCall {
    /// A string argument, lower-cased (owner and repository names are case-insensitive).
    pub fn arg_lower(&self, name: &str) -> Option<String> {
        self.args
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase)
    }
}

impl Classified {
    /// A query the relay may serve from pooled identities: not a mutation or subscription, and not
    /// reading `viewer` (whose answer depends on who asks).
    pub fn is_poolable_read(&self) -> bool {
        self.operation == Operation::Query && !self.reads_viewer()
    }

    pub fn reads_viewer(&self) -> bool {
        self.root_fields.contains("viewer")
    }

    /// Only `__schema` / `__type` / `__typename`: the answer changes only when GitHub's schema does.
    pub fn is_introspection(&self) -> bool {
        !self.root_fields.is_empty() && self.root_fields.iter().all(|f| f.starts_with("__"))
    }
}

#[derive(Deserialize)]
struct Body {
    query: String,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// Classifies a `POST /graphql` body.
pub fn classify(body: &[u8]) -> Result<Classified, GraphqlError> {
    let body: Body = serde_json::from_slice(body).map_err(|_| GraphqlError::BadBody)?;
    let doc = parse(&body.query)?;
    let operation_name = body.operation_name.as_deref().filter(|n| !n.is_empty());
    let selected = select_operation(&doc, operation_name)?;
    let fragments: HashMap<&str, &FragmentDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect();

    let (operation, selection_set) = match selected {
        OperationDefinition::SelectionSet(s) => (Operation::Query, s),
        OperationDefinition::Query(q) => (Operation::Query, &q.selection_set),
        OperationDefinition::Mutation(m) => (Operation::Mutation, &m.selection_set),
        OperationDefinition::Subscription(s) => (Operation::Subscription, &s.selection_set),
    };

    let vars = body
        .variables
        .filter(|v| !v.is_null())
        .unwrap_or(serde_json::Value::Object(Default::default()));
    let mut defaults = serde_json::Map::new();
    let var_defs = match selected {
        OperationDefinition::SelectionSet(_) => &[][..],
        OperationDefinition::Query(q) => &q.variable_definitions[..],
        OperationDefinition::Mutation(m) => &m.variable_definitions[..],
        OperationDefinition::Subscription(s) => &s.variable_definitions[..],
    };
    for d in var_defs {
        if let Some(v) = &d.default_value {
            defaults.insert(d.name.clone(), to_json(v, &serde_json::Map::new(), 0));
        }
    }
    let mut resolved = defaults;
    if let Some(o) = vars.as_object() {
        for (k, v) in o {
            resolved.insert(k.clone(), v.clone());
        }
    }

    // `viewer { login }` beside other root fields (gh's RepositoryNetwork query): the relay answers
    // that part with the caller's login and sends the rest without it.
    let bare_viewer = selection_set.items.iter().position(is_bare_viewer_login);
    let viewer_typename = bare_viewer.is_some_and(|i| match &selection_set.items[i] {
        Selection::Field(v) => v
            .selection_set
            .items
            .iter()
            .any(|x| matches!(x, Selection::Field(f) if f.name == "__typename")),
        _ => false,
    });
    let viewer_login_only = selection_set.items.len() == 1 && bare_viewer.is_some();
    let viewer_login_merged = operation == Operation::Query && selection_set.items.len() > 1 && bare_viewer.is_some();
    let pruned;
    let (selected, selection_set) = match bare_viewer {
        Some(i) if viewer_login_merged => {
            let mut op = selected.clone();
            selection_set_mut(&mut op).items.remove(i);
            pruned = op;
            (&pruned, selection_set_of(&pruned))
        }
        _ => (selected, selection_set),
    };

    let mut walk = Walk {
        fragments: &fragments,
        used: BTreeSet::new(),
        spreads: 0,
        root_fields: BTreeSet::new(),
        root_calls: Vec::new(),
        vars: &resolved,
        viewer_fields: BTreeSet::new(),
        did_author_derivable: true,
    };
    walk.root(selection_set)?;
    let cost = super::cost::estimate(selection_set, &fragments, &resolved);

    // The key covers exactly what the server would execute: the selected operation and the
    // fragments it uses, printed canonically (whitespace and comments gone), plus the variables
    // (serde_json sorts object keys) and the operation name.
    let mut executed = selected.to_string();
    for name in &walk.used {
        if let Some(f) = fragments.get(name.as_str()) {
            executed.push('\n');
            executed.push_str(&f.to_string());
        }
    }
    let mut h = Sha256::new();
    h.update(executed.as_bytes());
    h.update(b"\0vars\0");
    h.update(vars.to_string().as_bytes());
    h.update(b"\0op\0");
    h.update(operation_name.unwrap_or("").as_bytes());

    Ok(Classified {
        operation,
        root_fields: walk.root_fields,
        cache_key: hex::encode(h.finalize()),
        root_calls: walk.root_calls,
        executed,
        variables: vars,
        operation_name: operation_name.map(str::to_string),
        viewer_login_only,
        viewer_login_merged,
        viewer_typename,
        cost,
        viewer_fields: walk.viewer_fields,
        viewer_did_author_derivable: walk.did_author_derivable,
    })
}

/// Parses a query document within the size and nesting limits.
fn parse(query: &str) -> Result<Document<'_, String>, GraphqlError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(GraphqlError::TooLarge);
    }
    if nesting_depth(query) > MAX_NESTING {
        return Err(GraphqlError::TooDeep);
    }
    parse_query::<String>(query).map_err(|e| GraphqlError::Parse(first_line(&e.to_string())))
}

/// Rewrites the text of every `search(query:)` in a `POST /graphql` body, literal or variable,
/// with `rewrite` (`None` leaves a text as it is). `None` when nothing changed.
pub fn rewrite_search_texts(
    body: &[u8],
    rewrite: impl FnMut(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, GraphqlError> {
    rewrite_arguments(body, "search", &["query"], rewrite)
}

/// Rewrites the user filters of every `filterBy:` argument (`assignee`, `createdBy`, `mentioned`,
/// as `issues(filterBy:)` takes them), in the literal object or its variables, with `rewrite`.
/// `None` when nothing changed.
pub fn rewrite_filter_by_users(
    body: &[u8],
    rewrite: impl FnMut(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, GraphqlError> {
    rewrite_arguments(
        body,
        "",
        &["filterBy.assignee", "filterBy.createdBy", "filterBy.mentioned"],
        rewrite,
    )
}

/// Rewrites string values at `paths` (`arg` or `arg.key`) of the arguments of fields named
/// `field` (any field when empty), wherever the document gives them: literally, as a variable, or
/// inside a variable's object. The document is re-printed only when a literal changed.
fn rewrite_arguments(
    body: &[u8],
    field: &str,
    paths: &[&str],
    mut rewrite: impl FnMut(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, GraphqlError> {
    use graphql_parser::query::Value as V;
    let mut req: serde_json::Value = serde_json::from_slice(body).map_err(|_| GraphqlError::BadBody)?;
    let query = req
        .get("query")
        .and_then(serde_json::Value::as_str)
        .ok_or(GraphqlError::BadBody)?
        .to_string();
    let mut doc = parse(&query)?;
    let mut literal_changed = false;
    // Variables holding a value at a path: (variable, key within it, if the path has one).
    let mut variables: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for def in &mut doc.definitions {
        let set = match def {
            Definition::Operation(op) => selection_set_mut(op),
            Definition::Fragment(f) => &mut f.selection_set,
        };
        for_each_field_mut(set, &mut |f| {
            if !field.is_empty() && f.name != field {
                return;
            }
            for (name, value) in &mut f.arguments {
                for path in paths {
                    let (arg, key) = match path.split_once('.') {
                        Some((a, k)) => (a, Some(k)),
                        None => (*path, None),
                    };
                    if name != arg {
                        continue;
                    }
                    let target = match (key, &mut *value) {
                        (None, v) => Some(v),
                        (Some(k), V::Object(o)) => o.get_mut(k),
                        (Some(k), V::Variable(var)) => {
                            variables.insert((var.clone(), Some(k.to_string())));
                            None
                        }
                        _ => None,
                    };
                    match target {
                        Some(V::String(text)) => {
                            if let Some(new) = rewrite(text) {
                                *text = new;
                                literal_changed = true;
                            }
                        }
                        Some(V::Variable(var)) => {
                            variables.insert((var.clone(), None));
                        }
                        _ => {}
                    }
                }
            }
        });
    }
    let mut changed = literal_changed;
    if let Some(vars) = req.get_mut("variables").and_then(serde_json::Value::as_object_mut) {
        for (name, key) in &variables {
            let slot = match key {
                None => vars.get_mut(name),
                Some(k) => vars.get_mut(name).and_then(|v| v.get_mut(k)),
            };
            if let Some(serde_json::Value::String(text)) = slot
                && let Some(new) = rewrite(text)
            {
                *text = new;
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    if literal_changed {
        req["query"] = serde_json::Value::String(doc.to_string());
    }
    serde_json::to_vec(&req).map(Some).map_err(|_| GraphqlError::BadBody)
}

/// Calls `f` on every field of `set` and below (fragment definitions are walked by the caller).
fn for_each_field_mut<'a>(
    set: &mut SelectionSet<'a, String>,
    f: &mut impl FnMut(&mut graphql_parser::query::Field<'a, String>),
) {
    for item in &mut set.items {
        let inner = match item {
            Selection::Field(field) => {
                f(field);
                &mut field.selection_set
            }
            Selection::InlineFragment(i) => &mut i.selection_set,
            Selection::FragmentSpread(_) => continue,
        };
        for_each_field_mut(inner, f);
    }
}

fn selection_set_of<'d, 'a>(op: &'d OperationDefinition<'a, String>) -> &'d SelectionSet<'a, String> {
    match op {
        OperationDefinition::SelectionSet(s) => s,
        OperationDefinition::Query(q) => &q.selection_set,
        OperationDefinition::Mutation(m) => &m.selection_set,
        OperationDefinition::Subscription(s) => &s.selection_set,
    }
}

fn selection_set_mut<'d, 'a>(op: &'d mut OperationDefinition<'a, String>) -> &'d mut SelectionSet<'a, String> {
    match op {
        OperationDefinition::SelectionSet(s) => s,
        OperationDefinition::Query(q) => &mut q.selection_set,
        OperationDefinition::Mutation(m) => &mut m.selection_set,
        OperationDefinition::Subscription(s) => &mut s.selection_set,
    }
}

/// Whether a root selection is exactly `viewer { login }` (plus `__typename`), with no alias,
/// argument, directive or fragment.
fn is_bare_viewer_login(sel: &Selection<'_, String>) -> bool {
    let Selection::Field(v) = sel else {
        return false;
    };
    v.name == "viewer"
        && v.alias.is_none()
        && v.arguments.is_empty()
        && v.directives.is_empty()
        && !v.selection_set.items.is_empty()
        && v.selection_set.items.iter().all(|i| match i {
            Selection::Field(f) => {
                (f.name == "login" || f.name == "__typename")
                    && f.alias.is_none()
                    && f.arguments.is_empty()
                    && f.directives.is_empty()
                    && f.selection_set.items.is_empty()
            }
            _ => false,
        })
}

/// A GraphQL value as JSON, variables substituted (a missing variable is null). `depth` bounds
/// recursion on nested lists and objects (the document's nesting is already bounded).
fn to_json(
    v: &graphql_parser::query::Value<'_, String>,
    vars: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
) -> serde_json::Value {
    use graphql_parser::query::Value as V;
    use serde_json::Value as J;
    if depth > MAX_NESTING {
        return J::Null;
    }
    match v {
        V::Variable(name) => vars.get(name).cloned().unwrap_or(J::Null),
        V::Int(n) => n.as_i64().map(J::from).unwrap_or(J::Null),
        V::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
        V::String(s) => J::String(s.clone()),
        V::Boolean(b) => J::Bool(*b),
        V::Null => J::Null,
        V::Enum(e) => J::String(e.clone()),
        V::List(l) => J::Array(l.iter().map(|x| to_json(x, vars, depth + 1)).collect()),
        V::Object(o) => J::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), to_json(x, vars, depth + 1)))
                .collect(),
        ),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

fn select_operation<'d, 'a>(
    doc: &'d Document<'a, String>,
    name: Option<&str>,
) -> Result<&'d OperationDefinition<'a, String>, GraphqlError> {
    let ops: Vec<&OperationDefinition<'a, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(o) => Some(o),
            Definition::Fragment(_) => None,
        })
        .collect();
    match name {
        Some(n) => ops
            .into_iter()
            .find(|o| operation_name(o) == Some(n))
            .ok_or_else(|| GraphqlError::UnknownOperation(n.chars().take(100).collect())),
        None => match ops.as_slice() {
            [] => Err(GraphqlError::NoOperation),
            [only] => Ok(only),
            _ => Err(GraphqlError::AmbiguousOperation),
        },
    }
}

fn operation_name<'d>(op: &'d OperationDefinition<'_, String>) -> Option<&'d str> {
    match op {
        OperationDefinition::SelectionSet(_) => None,
        OperationDefinition::Query(q) => q.name.as_deref(),
        OperationDefinition::Mutation(m) => m.name.as_deref(),
        OperationDefinition::Subscription(s) => s.name.as_deref(),
    }
}

struct Walk<'f, 'a> {
    fragments: &'f HashMap<&'f str, &'f FragmentDefinition<'a, String>>,
    used: BTreeSet<String>,
    spreads: usize,
    root_fields: BTreeSet<String>,
    root_calls: Vec<RootCall>,
    vars: &'f serde_json::Map<String, serde_json::Value>,
    viewer_fields: BTreeSet<String>,
    did_author_derivable: bool,
}

impl<'f, 'a> Walk<'f, 'a> {
    /// Collects the root fields of the operation, looking through fragments at the root, and
    /// checks every fragment used anywhere is defined.
    fn root(&mut self, set: &SelectionSet<'a, String>) -> Result<(), GraphqlError> {
        self.walk(set, true)
    }

    fn walk(&mut self, set: &SelectionSet<'a, String>, at_root: bool) -> Result<(), GraphqlError> {
        if !at_root && field_in(set, "viewerDidAuthor").is_some() {
            let author_login = field_in(set, "author").is_some_and(|a| field_in(&a.selection_set, "login").is_some());
            self.did_author_derivable &= author_login;
        }
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    let keyed = ["viewerDidAuthor", "author", "login"];
                    if let Some(alias) = &f.alias
                        && alias != &f.name
                        && (keyed.contains(&alias.as_str()) || keyed.contains(&f.name.as_str()))
                    {
                        self.did_author_derivable = false;
                    }
                    if !at_root && f.name.starts_with("viewer") {
                        self.viewer_fields.insert(f.name.clone());
                    }
                    if at_root {
                        self.root_fields.insert(f.name.clone());
                        let args = f
                            .arguments
                            .iter()
                            .map(|(k, v)| (k.clone(), to_json(v, self.vars, 0)))
                            .collect();
                        self.root_calls.push(RootCall {
                            name: f.name.clone(),
                            key: f.alias.clone().unwrap_or_else(|| f.name.clone()),
                            args,
                        });
                    }
                    self.walk(&f.selection_set, false)?;
                }
                Selection::InlineFragment(i) => self.walk(&i.selection_set, at_root)?,
                Selection::FragmentSpread(s) => {
                    self.spreads += 1;
                    if self.spreads > MAX_SPREADS {
                        return Err(GraphqlError::FragmentLimit);
                    }
                    let frag = self
                        .fragments
                        .get(s.fragment_name.as_str())
                        .ok_or_else(|| GraphqlError::UnknownFragment(s.fragment_name.chars().take(100).collect()))?;
                    let first_use = self.used.insert(s.fragment_name.clone());
                    // A fragment already walked at this level adds nothing new; walking it again
                    // only matters at the root, where it may add root fields.
                    if first_use || at_root {
                        self.walk(&frag.selection_set, at_root)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The unaliased field `name` directly in `set`.
fn field_in<'s, 'a>(
    set: &'s SelectionSet<'a, String>,
    name: &str,
) -> Option<&'s graphql_parser::query::Field<'a, String>> {
    set.items.iter().find_map(|i| match i {
        Selection::Field(f) if f.name == name && f.alias.is_none() => Some(f),
        _ => None,
    })
}

/// Deepest nesting of brackets outside strings and comments; cheap and never recursive.
fn nesting_depth(query: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '(' | '[' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn body(query: &str, op: Option<&str>, vars: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "query": query, "operationName": op, "variables": vars })).unwrap()
    }

    fn run(query: &str) -> Result<Classified, GraphqlError> {
        classify(&body(query, None, json!({})))
    }

    #[test]
    fn queries_are_reads_and_name_their_root_fields() {
        let c = run(
            "query PR($owner: String!) { repository(owner: $owner, name: \"x\") { pullRequest(number: 1) { title } } }",
        )
        .unwrap();
        assert_eq!(c.operation, Operation::Query);
        assert!(c.is_poolable_read());
        assert_eq!(c.root_fields.iter().collect::<Vec<_>>(), ["repository"]);
        assert_eq!(run("{ rateLimit { remaining } }").unwrap().operation, Operation::Query);
    }

    #[test]
    fn mutations_and_subscriptions_are_never_reads() {
        let m = run("mutation { addComment(input: {subjectId: \"1\", body: \"hi\"}) { clientMutationId } }").unwrap();
        assert_eq!(m.operation, Operation::Mutation);
        assert!(!m.is_poolable_read());
        let s = run("subscription { issueUpdated { id } }").unwrap();
        assert_eq!(s.operation, Operation::Subscription);
        assert!(!s.is_poolable_read());
    }

    #[test]
    fn the_selected_operation_decides_in_a_mixed_document() {
        let doc = "query Read { repository(owner: \"o\", name: \"r\") { id } } mutation Write { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }";
        let read = classify(&body(doc, Some("Read"), json!(null))).unwrap();
        assert_eq!(read.operation, Operation::Query);
        let write = classify(&body(doc, Some("Write"), json!(null))).unwrap();
        assert_eq!(write.operation, Operation::Mutation);
        assert_eq!(
            classify(&body(doc, None, json!(null))),
            Err(GraphqlError::AmbiguousOperation)
        );
        assert!(matches!(
            classify(&body(doc, Some("Nope"), json!(null))),
            Err(GraphqlError::UnknownOperation(_))
        ));
    }

    #[test]
    fn viewer_is_found_through_fragments_and_refused_from_the_pool() {
        let direct = run("{ viewer { login } }").unwrap();
        assert!(direct.reads_viewer() && !direct.is_poolable_read());
        let via_fragment = run("query { ...Who } fragment Who on Query { viewer { login } }").unwrap();
        assert!(via_fragment.reads_viewer());
        let via_inline = run("query { ... on Query { viewer { login } } }").unwrap();
        assert!(via_inline.reads_viewer());
        // A nested field called viewer (not the root one) is not identity-dependent by itself.
        let nested = run("{ repository(owner: \"o\", name: \"r\") { viewerPermission } }").unwrap();
        assert!(nested.is_poolable_read());
    }

    #[test]
    fn viewer_fields_below_the_root_are_named_and_did_author_is_derivable_only_beside_author_login() {
        let c = run("{ repository(owner: \"o\", name: \"r\") { viewerPermission issue(number: 1) { ...C } } } fragment C on Issue { comments(first: 1) { nodes { author { login } viewerDidAuthor } } }").unwrap();
        assert_eq!(
            c.viewer_fields.iter().collect::<Vec<_>>(),
            ["viewerDidAuthor", "viewerPermission"]
        );
        assert!(c.viewer_did_author_derivable);
        for q in [
            "{ node(id: \"x\") { ...on IssueComment { viewerDidAuthor } } }",
            "{ node(id: \"x\") { ...on IssueComment { viewerDidAuthor author { name } } } }",
            "{ node(id: \"x\") { ...on IssueComment { viewerDidAuthor author: editor { login } } } }",
            "{ node(id: \"x\") { ...on IssueComment { mine: viewerDidAuthor author { login } } } }",
            "{ node(id: \"x\") { ...on IssueComment { viewerDidAuthor: isMinimized author { login } } } }",
        ] {
            assert!(!run(q).unwrap().viewer_did_author_derivable, "{q}");
        }
        assert!(run("{ rateLimit { cost } }").unwrap().viewer_fields.is_empty());
    }

    #[test]
    fn undefined_and_cyclic_fragments_are_errors() {
        assert!(matches!(run("{ ...Missing }"), Err(GraphqlError::UnknownFragment(_))));
        let cyclic = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert_eq!(run(cyclic), Err(GraphqlError::FragmentLimit));
    }

    #[test]
    fn cache_key_ignores_formatting_but_not_variables_or_operation() {
        let a = run("query Q { repository(owner: \"o\", name: \"r\") { id } }").unwrap();
        let b = run("query Q {\n  # a comment\n  repository(owner: \"o\",   name: \"r\") {\n    id\n  }\n}").unwrap();
        assert_eq!(a.cache_key, b.cache_key);
        let q = "query Q($n: Int!) { repository(owner: \"o\", name: \"r\") { issue(number: $n) { id } } }";
        let v1 = classify(&body(q, None, json!({"n": 1}))).unwrap();
        let v2 = classify(&body(q, None, json!({"n": 2}))).unwrap();
        assert_ne!(v1.cache_key, v2.cache_key);
        let reordered = classify(&serde_json::to_vec(&json!({"variables": {"n": 1}, "query": q})).unwrap()).unwrap();
        assert_eq!(v1.cache_key, reordered.cache_key);
        // Unused operations in the document do not change the key of the selected one.
        let doc2 = format!("{q} query Other {{ rateLimit {{ cost }} }}");
        let with_other = classify(&body(&doc2, Some("Q"), json!({"n": 1}))).unwrap();
        assert_eq!(
            with_other.cache_key,
            classify(&body(q, Some("Q"), json!({"n": 1}))).unwrap().cache_key
        );
    }

    #[test]
    fn root_calls_resolve_variables_and_defaults() {
        let q = "query Q($owner: String!, $repo: String = \"Hello-World\") { repository(owner: $owner, name: $repo) { id } rateLimit { cost } }";
        let c = classify(&body(q, None, json!({"owner": "Octo-Org"}))).unwrap();
        let repo = c.root_calls.iter().find(|r| r.name == "repository").unwrap();
        assert_eq!(repo.arg_lower("owner").as_deref(), Some("octo-org"));
        assert_eq!(repo.arg_lower("name").as_deref(), Some("hello-world"));
        assert!(c.root_calls.iter().any(|r| r.name == "rateLimit"));
        // Only the selected operation is kept for upstream.
        let doc = format!("{q} mutation M {{ closeIssue(input: {{issueId: \"1\"}}) {{ clientMutationId }} }}");
        let c = classify(&body(&doc, Some("Q"), json!({"owner": "o"}))).unwrap();
        assert!(!c.executed.contains("closeIssue"), "{}", c.executed);
        assert!(c.executed.contains("repository"));
    }

    #[test]
    fn only_a_bare_viewer_login_is_answerable_locally() {
        assert!(run("query UserCurrent { viewer { login } }").unwrap().viewer_login_only);
        let t = run("{ viewer { login __typename } }").unwrap();
        assert!(t.viewer_login_only && t.viewer_typename);
        for q in [
            "{ viewer { login name } }",
            "{ me: viewer { login } }",
            "{ viewer { l: login } }",
            "{ viewer { login } rateLimit { cost } }",
            "{ ...V } fragment V on Query { viewer { login } }",
        ] {
            assert!(!run(q).unwrap().viewer_login_only, "{q}");
        }
    }

    #[test]
    fn search_texts_are_rewritten_literal_variable_and_in_fragments() {
        let upper = |t: &str| t.contains("@me").then(|| t.replace("@me", "alice"));
        let q = "query S($q: String!) { a: search(query: $q, type: ISSUE, first: 1) { issueCount } ...F }
            fragment F on Query { search(query: \"is:pr author:@me \\\"x\\\"\", type: ISSUE, first: 1) { issueCount } }";
        let out = rewrite_search_texts(&body(q, None, json!({"q": "involves:@me", "other": "@me"})), upper)
            .unwrap()
            .unwrap();
        let c = classify(&out).unwrap();
        assert_eq!(c.variables, json!({"q": "involves:alice", "other": "@me"}));
        let texts: Vec<_> = c.root_calls.iter().map(|r| r.args["query"].as_str().unwrap()).collect();
        assert_eq!(texts, ["involves:alice", "is:pr author:alice \"x\""]);
        assert_eq!(
            rewrite_search_texts(
                &body("{ search(query: \"x\", type: ISSUE) { issueCount } }", None, json!({})),
                upper
            ),
            Ok(None)
        );
        assert_eq!(rewrite_search_texts(b"{}", upper), Err(GraphqlError::BadBody));
    }

    #[test]
    fn filter_by_users_are_rewritten_literal_variable_and_inside_a_variable() {
        let me = |t: &str| t.eq_ignore_ascii_case("@me").then(|| "alice".to_string());
        let q = "query I($a: String, $f: IssueFilters) { repository(owner: \"o\", name: \"r\") {
            x: issues(first: 1, filterBy: {assignee: \"@me\", states: OPEN}) { totalCount }
            y: issues(first: 1, filterBy: {createdBy: $a}) { totalCount }
            z: issues(first: 1, filterBy: $f) { totalCount }
            w: issues(first: 1, labels: [\"@me\"]) { totalCount } } }";
        let vars = json!({"a": "@ME", "f": {"mentioned": "@me", "labels": ["@me"]}});
        let out = rewrite_filter_by_users(&body(q, None, vars), me).unwrap().unwrap();
        let req: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            req["variables"],
            json!({"a": "alice", "f": {"mentioned": "alice", "labels": ["@me"]}})
        );
        let text = req["query"].as_str().unwrap();
        assert!(
            text.contains("assignee: \"alice\"") && text.contains("labels: [\"@me\"]"),
            "{text}"
        );
        let none = body(
            "{ repository(owner: \"o\", name: \"r\") { issues(first: 1, filterBy: {assignee: \"bob\"}) { totalCount } } }",
            None,
            json!({}),
        );
        assert_eq!(rewrite_filter_by_users(&none, me), Ok(None));
    }

    #[test]
    fn introspection_is_recognised() {
        assert!(
            run("{ __type(name: \"Issue\") { fields { name } } }")
                .unwrap()
                .is_introspection()
        );
        assert!(
            !run("{ __typename repository(owner: \"o\", name: \"r\") { id } }")
                .unwrap()
                .is_introspection()
        );
    }

    #[test]
    fn bad_bodies_are_clear_errors() {
        assert_eq!(classify(b"not json"), Err(GraphqlError::BadBody));
        assert_eq!(classify(br#"{"query": 5}"#), Err(GraphqlError::BadBody));
        assert!(matches!(run("query {"), Err(GraphqlError::Parse(_))));
        assert_eq!(run(&"{ a ".repeat(100)), Err(GraphqlError::TooDeep));
        // The deepest accepted document parses without exhausting a test thread's stack.
        let deepest = format!("{}{}", "{ a ".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert!(run(&deepest).is_ok());
        assert_eq!(
            run(&format!("{{ a{} }}", " ".repeat(MAX_QUERY_BYTES))),
            Err(GraphqlError::TooLarge)
        );
        assert_eq!(run("fragment F on Query { id }"), Err(GraphqlError::NoOperation));
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9]{0,6}"
    }

    fn arb_op() -> impl Strategy<Value = (Operation, Option<String>, String)> {
        (
            prop_oneof![
                Just(Operation::Query),
                Just(Operation::Mutation),
                Just(Operation::Subscription)
            ],
            proptest::option::of(arb_name()),
            proptest::collection::vec(arb_name(), 1..4),
        )
            .prop_map(|(kind, name, fields)| {
                let kw = match kind {
                    Operation::Query => "query",
                    Operation::Mutation => "mutation",
                    Operation::Subscription => "subscription",
                };
                let sel = fields
                    .iter()
                    .map(|f| format!("{f} {{ id }}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let text = format!("{kw} {} {{ {sel} }}", name.clone().unwrap_or_default());
                (kind, name, text)
            })
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,400}") {
            let _ = classify(s.as_bytes());
            let _ = run(&s);
        }

        #[test]
        fn arbitrary_bracket_soup_never_panics(s in "[{}()\\[\\]a-z .:$@!\"#\n]{0,300}") {
            let _ = run(&s);
        }

        #[test]
        fn no_mutation_or_subscription_is_ever_a_read(ops in proptest::collection::vec(arb_op(), 1..5), pick in any::<prop::sample::Index>()) {
            let doc = ops.iter().map(|(_, _, t)| t.as_str()).collect::<Vec<_>>().join("\n");
            let (kind, name, _) = &ops[pick.index(ops.len())];
            let result = classify(&body(&doc, name.as_deref(), json!({})));
            // An error is a refusal: it is never relayed as a read.
            if let Ok(c) = result {
                // Whatever was selected, a read verdict requires the selected op to be a query.
                if c.is_poolable_read() {
                    prop_assert_eq!(c.operation, Operation::Query);
                }
                // When the picked operation is uniquely named, the verdict is about that one.
                let same_name = ops.iter().filter(|(_, n, _)| n == name).count();
                if name.is_some() && same_name == 1 {
                    prop_assert_eq!(c.operation, *kind);
                }
                if *kind != Operation::Query && name.is_some() && same_name == 1 {
                    prop_assert!(!c.is_poolable_read());
                }
            }
        }
    }
}
