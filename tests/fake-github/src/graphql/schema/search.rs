//! `search(type: ISSUE)` results.

use super::*;

/// What `search` looks for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SearchType {
    /// Issues and pull requests.
    Issue,
    /// Repositories (not implemented: no results).
    Repository,
    /// Users (not implemented: no results).
    User,
    /// Discussions (not implemented: no results).
    Discussion,
}

/// A search hit.
#[derive(Union, Clone)]
pub enum SearchResultItem {
    /// An issue.
    Issue(Issue),
    /// A pull request.
    PullRequest(PullRequest),
}

/// Search results.
#[derive(SimpleObject)]
pub struct SearchResultItemConnection {
    /// Issues and pulls found.
    pub issue_count: i32,
    /// This page.
    pub nodes: Option<Vec<Option<SearchResultItem>>>,
    /// This page, with cursors.
    pub edges: Option<Vec<Option<SearchResultItemEdge>>>,
    /// Paging.
    pub page_info: PageInfo,
}

/// A search hit and its cursor.
#[derive(SimpleObject)]
pub struct SearchResultItemEdge {
    /// The hit.
    pub node: Option<SearchResultItem>,
    /// Its cursor.
    pub cursor: String,
}
