//! A repository's labels (`gh label list`): searched by `query`, ordered by `LabelOrder`.

use async_graphql::{Enum, InputObject};

use super::{Label, OrderDirection, label_node};
use crate::world::{Repo, World};

/// Fields labels can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LabelOrderField {
    /// Name.
    Name,
    /// Creation.
    CreatedAt,
}

/// Ordering of labels.
#[derive(InputObject, Debug, Clone)]
pub struct LabelOrder {
    /// Field.
    pub field: LabelOrderField,
    /// Direction.
    pub direction: OrderDirection,
}

/// The labels used in `r`, those whose name or description contains `query` (case-insensitive),
/// in `order`. A label's creation order is its first use; GitHub's default is by creation.
pub fn repo_labels(w: &World, r: &Repo, query: Option<&str>, order: Option<&LabelOrder>) -> Vec<Label> {
    let mut names: Vec<&str> = Vec::new();
    for name in r.items.iter().flat_map(|i| i.labels.iter()) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if order.is_some_and(|o| o.field == LabelOrderField::Name) {
        names.sort_by_key(|n| n.to_ascii_lowercase());
    }
    if order.is_some_and(|o| o.direction == OrderDirection::Desc) {
        names.reverse();
    }
    let needle = query.unwrap_or_default().to_ascii_lowercase();
    names
        .into_iter()
        .map(|name| label_node(w.seed, name))
        .filter(|l| {
            l.name.to_ascii_lowercase().contains(&needle)
                || l.description
                    .as_deref()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .contains(&needle)
        })
        .collect()
}
