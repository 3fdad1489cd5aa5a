//! JSON bodies in GitHub's REST shapes (field names and types as in GitHub's REST docs), from
//! the stored [`crate::world`] and the data [`crate::derived`] from it. Rendering only: nothing
//! here decides what the data is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::derived::{self, FileChange};
use crate::world::{Commit, Item, ItemKind, Org, Release, Repo, Run, WORKFLOWS, World, epoch, hash_str, sha_of};

/// Base URLs a body links to, plus a per-request memo of rendered users and repos (a page of
/// 100 pulls embeds the same repo 200 times; rendering it once keeps the fake fast).
#[derive(Debug, Clone)]
pub struct Urls {
    /// API root, e.g. `http://127.0.0.1:PORT` or `http://127.0.0.1:PORT/api/v3`.
    pub api: String,
    /// Web root (html_url), the fake's own host.
    pub web: String,
    memo: Arc<Mutex<Memo>>,
}

#[derive(Debug, Default)]
struct Memo {
    users: HashMap<String, Value>,
    repos: HashMap<u64, Value>,
}

impl Urls {
    /// URL roots for one request.
    pub fn new(api: String, web: String) -> Urls {
        Urls {
            api,
            web,
            memo: Arc::default(),
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// RFC 3339 with a `Z`, as GitHub writes timestamps.
pub fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A GitHub-style global node id (`base64("0{len}:{Kind}{id}")`).
pub fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// A simple user object.
pub fn user(u: &Urls, login: &str, id: u64) -> Value {
    let api = &u.api;
    json!({
        "login": login,
        "id": id,
        "node_id": node_id("User", id),
        "avatar_url": format!("{}/avatars/u/{id}?v=4", u.web),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{}/{login}", u.web),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false
    })
}

/// A user by login, looked up in the world (id 0 when unknown).
pub fn user_by_login(w: &World, u: &Urls, login: &str) -> Value {
    if let Some(v) = u.memo().users.get(login) {
        return v.clone();
    }
    let v = user_by_login_uncached(w, u, login);
    u.memo().users.insert(login.to_string(), v.clone());
    v
}

fn user_by_login_uncached(w: &World, u: &Urls, login: &str) -> Value {
    let id = w
        .user(login)
        .map(|x| x.id)
        .or_else(|| w.org(login).map(|o| o.id))
        .unwrap_or(0);
    let mut v = user(u, login, id);
    if w.org(login).is_some() {
        v["type"] = json!("Organization");
    }
    v
}

/// A user's public profile (`GET /users/{username}`).
pub fn public_user(w: &World, u: &Urls, login: &str, id: u64) -> Value {
    let mut v = user(u, login, id);
    merge(
        &mut v,
        json!({
            "name": w.user(login).map(|x| x.name.clone()),
            "company": null, "blog": "", "location": null, "email": null, "hireable": null, "bio": null,
            "twitter_username": null, "public_repos": w.public_repo_count(login), "public_gists": 0, "followers": 0,
            "following": 0, "created_at": ts(epoch()), "updated_at": ts(epoch())
        }),
    );
    v
}

/// The authenticated user (`GET /user`): the public profile and the private fields.
pub fn private_user(w: &World, u: &Urls, login: &str, id: u64) -> Value {
    let mut v = public_user(w, u, login, id);
    merge(
        &mut v,
        json!({
            "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 0,
            "collaborators": 0, "two_factor_authentication": true,
            "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000}
        }),
    );
    v
}

/// An organisation (simple form, as in `/user/orgs`).
pub fn org_simple(u: &Urls, o: &Org) -> Value {
    let api = &u.api;
    let l = &o.login;
    json!({
        "login": l,
        "id": o.id,
        "node_id": node_id("Organization", o.id),
        "url": format!("{api}/orgs/{l}"),
        "repos_url": format!("{api}/orgs/{l}/repos"),
        "events_url": format!("{api}/orgs/{l}/events"),
        "hooks_url": format!("{api}/orgs/{l}/hooks"),
        "issues_url": format!("{api}/orgs/{l}/issues"),
        "members_url": format!("{api}/orgs/{l}/members{{/member}}"),
        "public_members_url": format!("{api}/orgs/{l}/public_members{{/member}}"),
        "avatar_url": format!("{}/avatars/u/{}?v=4", u.web, o.id),
        "description": format!("The {l} organisation")
    })
}

/// An organisation (full form, `GET /orgs/{org}`).
pub fn org_full(u: &Urls, o: &Org, public_repos: usize) -> Value {
    let mut v = org_simple(u, o);
    merge(
        &mut v,
        json!({
            "name": o.login, "blog": "",
            "twitter_username": null, "is_verified": false, "has_organization_projects": true,
            "has_repository_projects": true, "public_repos": public_repos, "public_gists": 0,
            "followers": 0, "following": 0, "html_url": format!("{}/{}", u.web, o.login),
            "created_at": ts(epoch()), "updated_at": ts(epoch()),
            "archived_at": null, "type": "Organization"
        }),
    );
    v
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

/// A repository (`GET /repos/{owner}/{repo}` shape; lists use the same).
pub fn repo(w: &World, u: &Urls, r: &Repo) -> Value {
    if let Some(v) = u.memo().repos.get(&r.id) {
        return v.clone();
    }
    let v = repo_uncached(w, u, r);
    u.memo().repos.insert(r.id, v.clone());
    v
}

fn repo_uncached(w: &World, u: &Urls, r: &Repo) -> Value {
    let api = &u.api;
    let full = r.full_name();
    let base = format!("{api}/repos/{full}");
    let owner = user_by_login(w, u, &r.owner);
    let open_issues = r.items.iter().filter(|i| i.open).count();
    json!({
        "id": r.id,
        "node_id": node_id("Repository", r.id),
        "name": r.name,
        "full_name": full,
        "private": r.private,
        "owner": owner,
        "html_url": format!("{}/{full}", u.web),
        "description": r.description,
        "fork": false,
        "url": base,
        "forks_url": format!("{base}/forks"),
        "keys_url": format!("{base}/keys{{/key_id}}"),
        "collaborators_url": format!("{base}/collaborators{{/collaborator}}"),
        "teams_url": format!("{base}/teams"),
        "hooks_url": format!("{base}/hooks"),
        "issue_events_url": format!("{base}/issues/events{{/number}}"),
        "events_url": format!("{base}/events"),
        "assignees_url": format!("{base}/assignees{{/user}}"),
        "branches_url": format!("{base}/branches{{/branch}}"),
        "tags_url": format!("{base}/tags"),
        "blobs_url": format!("{base}/git/blobs{{/sha}}"),
        "git_tags_url": format!("{base}/git/tags{{/sha}}"),
        "git_refs_url": format!("{base}/git/refs{{/sha}}"),
        "trees_url": format!("{base}/git/trees{{/sha}}"),
        "statuses_url": format!("{base}/statuses/{{sha}}"),
        "languages_url": format!("{base}/languages"),
        "stargazers_url": format!("{base}/stargazers"),
        "contributors_url": format!("{base}/contributors"),
        "subscribers_url": format!("{base}/subscribers"),
        "subscription_url": format!("{base}/subscription"),
        "commits_url": format!("{base}/commits{{/sha}}"),
        "git_commits_url": format!("{base}/git/commits{{/sha}}"),
        "comments_url": format!("{base}/comments{{/number}}"),
        "issue_comment_url": format!("{base}/issues/comments{{/number}}"),
        "contents_url": format!("{base}/contents/{{+path}}"),
        "compare_url": format!("{base}/compare/{{base}}...{{head}}"),
        "merges_url": format!("{base}/merges"),
        "archive_url": format!("{base}/{{archive_format}}{{/ref}}"),
        "downloads_url": format!("{base}/downloads"),
        "issues_url": format!("{base}/issues{{/number}}"),
        "pulls_url": format!("{base}/pulls{{/number}}"),
        "milestones_url": format!("{base}/milestones{{/number}}"),
        "notifications_url": format!("{base}/notifications{{?since,all,participating}}"),
        "labels_url": format!("{base}/labels{{/name}}"),
        "releases_url": format!("{base}/releases{{/id}}"),
        "deployments_url": format!("{base}/deployments"),
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "pushed_at": ts(r.pushed_at),
        "git_url": format!("git://{}/{full}.git", u.web.trim_start_matches("http://")),
        "ssh_url": format!("git@fake-github:{full}.git"),
        "clone_url": format!("{}/{full}.git", u.web),
        "svn_url": format!("{}/{full}", u.web),
        "homepage": null,
        "size": 108,
        "stargazers_count": hash_str(w.seed, &full) % 500,
        "watchers_count": hash_str(w.seed, &full) % 500,
        "language": "Rust",
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": 0,
        "mirror_url": null,
        "archived": false,
        "disabled": false,
        "open_issues_count": open_issues,
        "license": null,
        "allow_forking": true,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [],
        "visibility": if r.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": open_issues,
        "watchers": hash_str(w.seed, &full) % 500,
        "default_branch": r.default_branch,
        "permissions": {"admin": false, "maintain": false, "push": false, "triage": false, "pull": true},
        "network_count": 0,
        "subscribers_count": 0
    })
}

/// A label object.
pub fn label(u: &Urls, r: &Repo, name: &str, seed: u64) -> Value {
    let l = derived::label(seed, name);
    json!({
        "id": l.id,
        "node_id": node_id("Label", l.id),
        "url": format!("{}/repos/{}/labels/{}", u.api, r.full_name(), name.replace(' ', "%20")),
        "name": l.name,
        "color": l.color,
        "default": name == "bug" || name == "enhancement",
        "description": l.description
    })
}

fn state(i: &Item) -> &'static str {
    if i.open { "open" } else { "closed" }
}

/// An issue's or pull's page address (`html_url`).
pub fn item_html_url(u: &Urls, r: &Repo, i: &Item) -> String {
    let kind = if i.is_pull() { "pull" } else { "issues" };
    format!("{}/{}/{kind}/{}", u.web, r.full_name(), i.number)
}

/// An issue (pulls appear as issues with a `pull_request` key, as on GitHub).
pub fn issue(w: &World, u: &Urls, r: &Repo, i: &Item) -> Value {
    let full = r.full_name();
    let base = format!("{}/repos/{full}", u.api);
    let n = i.number;
    let mut v = json!({
        "id": i.id,
        "node_id": node_id("Issue", i.id),
        "url": format!("{base}/issues/{n}"),
        "repository_url": base,
        "labels_url": format!("{base}/issues/{n}/labels{{/name}}"),
        "comments_url": format!("{base}/issues/{n}/comments"),
        "events_url": format!("{base}/issues/{n}/events"),
        "html_url": item_html_url(u, r, i),
        "number": n,
        "state": state(i),
        "state_reason": if i.open { Value::Null } else { json!("completed") },
        "title": i.title,
        "body": i.body,
        "user": user_by_login(w, u, &i.author),
        "labels": i.labels.iter().map(|l| label(u, r, l, w.seed)).collect::<Vec<_>>(),
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": i.comments,
        "closed_at": i.closed_at.map(ts),
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "closed_by": null,
        "author_association": w.author_association(r, &i.author),
        "reactions": {"url": format!("{base}/issues/{n}/reactions"), "total_count": 0, "+1": 0, "-1": 0,
            "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "timeline_url": format!("{base}/issues/{n}/timeline"),
        "performed_via_github_app": null
    });
    if i.is_pull() {
        v["pull_request"] = json!({
            "url": format!("{base}/pulls/{n}"),
            "html_url": format!("{}/{full}/pull/{n}", u.web),
            "diff_url": format!("{}/{full}/pull/{n}.diff", u.web),
            "patch_url": format!("{}/{full}/pull/{n}.patch", u.web),
            "merged_at": null
        });
    }
    v
}

fn pr_branch(w: &World, u: &Urls, r: &Repo, name: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{name}", r.owner),
        "ref": name,
        "sha": sha,
        "user": user_by_login(w, u, &r.owner),
        "repo": repo(w, u, r)
    })
}

/// A pull request; `full` adds the fields only the single-pull endpoint has.
pub fn pull(w: &World, u: &Urls, r: &Repo, i: &Item, full: bool) -> Value {
    let ItemKind::Pull {
        head_sha,
        base_sha,
        head_ref,
        merged,
        draft,
    } = &i.kind
    else {
        return Value::Null;
    };
    let fname = r.full_name();
    let base = format!("{}/repos/{fname}", u.api);
    let n = i.number;
    let merged_at = if *merged { i.closed_at.map(ts) } else { None };
    let mut v = json!({
        "url": format!("{base}/pulls/{n}"),
        "id": i.id,
        "node_id": node_id("PullRequest", i.id),
        "html_url": format!("{}/{fname}/pull/{n}", u.web),
        "diff_url": format!("{}/{fname}/pull/{n}.diff", u.web),
        "patch_url": format!("{}/{fname}/pull/{n}.patch", u.web),
        "issue_url": format!("{base}/issues/{n}"),
        "commits_url": format!("{base}/pulls/{n}/commits"),
        "review_comments_url": format!("{base}/pulls/{n}/comments"),
        "review_comment_url": format!("{base}/pulls/comments{{/number}}"),
        "comments_url": format!("{base}/issues/{n}/comments"),
        "statuses_url": format!("{base}/statuses/{head_sha}"),
        "number": n,
        "state": state(i),
        "locked": false,
        "title": i.title,
        "user": user_by_login(w, u, &i.author),
        "body": i.body,
        "labels": i.labels.iter().map(|l| label(u, r, l, w.seed)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "closed_at": i.closed_at.map(ts),
        "merged_at": merged_at,
        "merge_commit_sha": sha_of(w.seed, &format!("{fname}#pull{n}#merge")),
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": pr_branch(w, u, r, head_ref, head_sha),
        "base": pr_branch(w, u, r, &r.default_branch, base_sha),
        "_links": {
            "self": {"href": format!("{base}/pulls/{n}")},
            "html": {"href": format!("{}/{fname}/pull/{n}", u.web)},
            "issue": {"href": format!("{base}/issues/{n}")},
            "comments": {"href": format!("{base}/issues/{n}/comments")},
            "review_comments": {"href": format!("{base}/pulls/{n}/comments")},
            "review_comment": {"href": format!("{base}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{base}/pulls/{n}/commits")},
            "statuses": {"href": format!("{base}/statuses/{head_sha}")}
        },
        "author_association": w.author_association(r, &i.author),
        "auto_merge": null,
        "draft": draft
    });
    if full {
        let files = derived::pull_files(w.seed, r, i);
        let additions: u64 = files.iter().map(|f| f.additions).sum();
        let deletions: u64 = files.iter().map(|f| f.deletions).sum();
        merge(
            &mut v,
            json!({
                "merged": merged,
                "mergeable": if i.open { json!(true) } else { Value::Null },
                "rebaseable": if i.open { json!(true) } else { Value::Null },
                "mergeable_state": if i.open { "clean" } else { "unknown" },
                "merged_by": if *merged { user_by_login(w, u, &r.owner) } else { Value::Null },
                "comments": i.comments,
                "review_comments": 0,
                "maintainer_can_modify": false,
                "commits": 2,
                "additions": additions,
                "deletions": deletions,
                "changed_files": files.len()
            }),
        );
    }
    v
}

/// File objects as in `GET /pulls/{n}/files` and in a commit's `files`.
pub fn files(u: &Urls, r: &Repo, sha: &str, list: &[FileChange], seed: u64) -> Vec<Value> {
    let full = r.full_name();
    list.iter()
        .map(|f| {
            json!({
                "sha": sha_of(seed, &format!("{sha}:{}", f.filename)),
                "filename": f.filename,
                "status": "modified",
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
                "blob_url": format!("{}/{full}/blob/{sha}/{}", u.web, f.filename),
                "raw_url": format!("{}/{full}/raw/{sha}/{}", u.web, f.filename),
                "contents_url": format!("{}/repos/{full}/contents/{}?ref={sha}", u.api, f.filename),
                "patch": f.patch
            })
        })
        .collect()
}

/// A unified diff of file changes (`application/vnd.github.diff`).
pub fn diff_text(list: &[FileChange]) -> String {
    let mut out = String::new();
    for f in list {
        out.push_str(&format!(
            "diff --git a/{0} b/{0}\nindex 1111111..2222222 100644\n--- a/{0}\n+++ b/{0}\n{1}\n",
            f.filename, f.patch
        ));
    }
    out
}

/// A commit object (`GET /repos/{owner}/{repo}/commits/{ref}`; lists omit `files` and `stats`).
pub fn commit(w: &World, u: &Urls, r: &Repo, c: &Commit, with_files: bool) -> Value {
    let full = r.full_name();
    let base = format!("{}/repos/{full}", u.api);
    let who = json!({"name": c.author, "email": format!("{}@users.noreply.fake-github", c.author), "date": ts(c.date)});
    let parents: Vec<Value> = c
        .parent
        .iter()
        .map(|p| json!({"sha": p, "url": format!("{base}/commits/{p}"), "html_url": format!("{}/{full}/commit/{p}", u.web)}))
        .collect();
    let mut v = json!({
        "sha": c.sha,
        "node_id": node_id("Commit", hash_str(w.seed, &c.sha) % 1_000_000_000),
        "commit": {
            "author": who,
            "committer": who,
            "message": c.message,
            "tree": {"sha": sha_of(w.seed, &format!("{}:tree", c.sha)), "url": format!("{base}/git/trees/{}", sha_of(w.seed, &format!("{}:tree", c.sha)))},
            "url": format!("{base}/git/commits/{}", c.sha),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
        },
        "url": format!("{base}/commits/{}", c.sha),
        "html_url": format!("{}/{full}/commit/{}", u.web, c.sha),
        "comments_url": format!("{base}/commits/{}/comments", c.sha),
        "author": user_by_login(w, u, &c.author),
        "committer": user_by_login(w, u, &c.author),
        "parents": parents
    });
    if with_files {
        let list = derived::commit_files(w.seed, &c.sha);
        let additions: u64 = list.iter().map(|f| f.additions).sum();
        let deletions: u64 = list.iter().map(|f| f.deletions).sum();
        v["stats"] = json!({"total": additions + deletions, "additions": additions, "deletions": deletions});
        v["files"] = json!(files(u, r, &c.sha, &list, w.seed));
    }
    v
}

/// The reviews of a pull.
pub fn reviews(w: &World, u: &Urls, r: &Repo, i: &Item) -> Vec<Value> {
    let full = r.full_name();
    let html = format!("{}/{full}/pull/{}", u.web, i.number);
    let api = format!("{}/repos/{full}/pulls/{}", u.api, i.number);
    derived::reviews(w.seed, r, i)
        .into_iter()
        .map(|x| {
            json!({
                "id": x.id,
                "node_id": node_id("PullRequestReview", x.id),
                "user": user_by_login(w, u, x.reviewer),
                "body": x.body,
                "state": x.state,
                "html_url": format!("{html}#pullrequestreview-{}", x.id),
                "pull_request_url": api,
                "_links": {"html": {"href": format!("{html}#pullrequestreview-{}", x.id)},
                           "pull_request": {"href": api}},
                "submitted_at": ts(x.submitted_at),
                "commit_id": x.commit_id,
                "author_association": w.author_association(r, x.reviewer)
            })
        })
        .collect()
}

/// A comment's page address (`html_url`).
pub fn comment_html_url(u: &Urls, r: &Repo, i: &Item, id: u64) -> String {
    format!("{}/{}/issues/{}#issuecomment-{id}", u.web, r.full_name(), i.number)
}

/// The comments of an issue or pull.
pub fn comments(w: &World, u: &Urls, r: &Repo, i: &Item) -> Vec<Value> {
    let full = r.full_name();
    derived::comments(i)
        .into_iter()
        .map(|x| {
            json!({
                "id": x.id,
                "node_id": node_id("IssueComment", x.id),
                "url": format!("{}/repos/{full}/issues/comments/{}", u.api, x.id),
                "html_url": comment_html_url(u, r, i, x.id),
                "body": x.body,
                "user": user_by_login(w, u, x.author),
                "created_at": ts(x.created_at),
                "updated_at": ts(x.created_at),
                "issue_url": format!("{}/repos/{full}/issues/{}", u.api, i.number),
                "author_association": w.author_association(r, x.author),
                "performed_via_github_app": null
            })
        })
        .collect()
}

/// A check run's page address (`html_url`, `details_url`).
pub fn check_run_html_url(u: &Urls, r: &Repo, id: u64) -> String {
    format!("{}/{}/runs/{id}", u.web, r.full_name())
}

/// The check runs of a commit.
pub fn check_runs(w: &World, u: &Urls, r: &Repo, sha: &str) -> Vec<Value> {
    let full = r.full_name();
    derived::check_runs(w, sha)
        .into_iter()
        .map(|x| {
            let id = x.id;
            json!({
                "id": id,
                "head_sha": sha,
                "node_id": node_id("CheckRun", id),
                "external_id": "",
                "url": format!("{}/repos/{full}/check-runs/{id}", u.api),
                "html_url": check_run_html_url(u, r, id),
                "details_url": check_run_html_url(u, r, id),
                "status": x.status(),
                "conclusion": x.conclusion,
                "started_at": ts(x.started_at),
                "completed_at": x.completed_at.map(ts),
                "output": {"title": format!("{} {}", x.name, x.conclusion.unwrap_or("running")),
                           "summary": if x.conclusion.is_some() { "Done." } else { "Running." }, "text": null,
                           "annotations_count": 0, "annotations_url": format!("{}/repos/{full}/check-runs/{id}/annotations", u.api)},
                "name": x.name,
                "check_suite": {"id": x.check_suite_id},
                "app": {"id": 15368, "slug": "github-actions", "node_id": node_id("App", 15368), "name": "GitHub Actions",
                        "owner": user(u, "github", 9919), "description": "", "external_url": "https://help.github.com/en/actions",
                        "html_url": format!("{}/apps/github-actions", u.web), "created_at": "2018-07-30T09:30:17Z",
                        "updated_at": "2024-04-10T20:33:16Z", "permissions": {}, "events": []},
                "pull_requests": []
            })
        })
        .collect()
}

/// A workflow run.
pub fn run(w: &World, u: &Urls, r: &Repo, x: &Run) -> Value {
    let full = r.full_name();
    let base = format!("{}/repos/{full}/actions/runs/{}", u.api, x.id);
    let head_commit = r.commits.iter().find(|c| c.sha == x.head_sha);
    json!({
        "id": x.id,
        "name": x.name,
        "node_id": node_id("WorkflowRun", x.id),
        "head_branch": x.head_branch,
        "head_sha": x.head_sha,
        "path": format!(".github/workflows/{}.yml", x.name.to_ascii_lowercase()),
        "display_title": head_commit.map(|c| c.message.clone()).unwrap_or_default(),
        "run_number": x.run_number,
        "event": x.event,
        "status": x.status,
        "conclusion": x.conclusion,
        "workflow_id": x.workflow_id,
        "check_suite_id": 20_000_000 + x.id,
        "check_suite_node_id": node_id("CheckSuite", 20_000_000 + x.id),
        "url": base,
        "html_url": format!("{}/{full}/actions/runs/{}", u.web, x.id),
        "pull_requests": [],
        "created_at": ts(x.created_at),
        "updated_at": ts(x.updated_at),
        "actor": user_by_login(w, u, &r.owner),
        "triggering_actor": user_by_login(w, u, &r.owner),
        "run_attempt": 1,
        "referenced_workflows": [],
        "run_started_at": ts(x.created_at),
        "jobs_url": format!("{base}/jobs"),
        "logs_url": format!("{base}/logs"),
        "check_suite_url": format!("{}/repos/{full}/check-suites/{}", u.api, 20_000_000 + x.id),
        "artifacts_url": format!("{base}/artifacts"),
        "cancel_url": format!("{base}/cancel"),
        "rerun_url": format!("{base}/rerun"),
        "previous_attempt_url": null,
        "workflow_url": format!("{}/repos/{full}/actions/workflows/{}", u.api, x.workflow_id),
        "head_commit": head_commit.map(|c| json!({
            "id": c.sha, "tree_id": sha_of(w.seed, &format!("{}:tree", c.sha)), "message": c.message,
            "timestamp": ts(c.date),
            "author": {"name": c.author, "email": format!("{}@users.noreply.fake-github", c.author)},
            "committer": {"name": c.author, "email": format!("{}@users.noreply.fake-github", c.author)}
        })),
        "repository": repo_minimal(w, u, r),
        "head_repository": repo_minimal(w, u, r)
    })
}

/// The minimal repository object embedded in runs (GitHub's `minimal-repository`).
pub fn repo_minimal(w: &World, u: &Urls, r: &Repo) -> Value {
    repo(w, u, r)
}

/// A release's page address (`html_url`).
pub fn release_html_url(u: &Urls, r: &Repo, x: &Release) -> String {
    format!("{}/{}/releases/tag/{}", u.web, r.full_name(), x.tag)
}

/// A release.
pub fn release(w: &World, u: &Urls, r: &Repo, x: &Release) -> Value {
    let full = r.full_name();
    let base = format!("{}/repos/{full}/releases", u.api);
    json!({
        "url": format!("{base}/{}", x.id),
        "html_url": release_html_url(u, r, x),
        "assets_url": format!("{base}/{}/assets", x.id),
        "upload_url": format!("{}/repos/{full}/releases/{}/assets{{?name,label}}", u.api, x.id),
        "tarball_url": format!("{}/repos/{full}/tarball/{}", u.api, x.tag),
        "zipball_url": format!("{}/repos/{full}/zipball/{}", u.api, x.tag),
        "id": x.id,
        "node_id": node_id("Release", x.id),
        "tag_name": x.tag,
        "target_commitish": r.default_branch,
        "name": x.name,
        "body": x.body,
        "draft": false,
        "prerelease": x.prerelease,
        "immutable": false,
        "created_at": ts(x.created_at),
        "published_at": ts(x.published_at),
        "updated_at": ts(x.published_at),
        "author": user_by_login(w, u, &x.author),
        "assets": []
    })
}

/// Content of a file of the fixed tree, with `{repo}` filled in.
pub fn file_content(r: &Repo, template: &str) -> String {
    template.replace("{repo}", &r.name)
}

/// A contents entry (file or dir); `content` is added for a file read.
pub fn content_entry(
    w: &World,
    u: &Urls,
    r: &Repo,
    path: &str,
    is_dir: bool,
    content: Option<&str>,
    git_ref: &str,
) -> Value {
    let full = r.full_name();
    let sha = sha_of(w.seed, &format!("{full}:{path}:{git_ref}"));
    let name = path.rsplit('/').next().unwrap_or(path);
    let kind = if is_dir { "dir" } else { "file" };
    let url = format!("{}/repos/{full}/contents/{path}?ref={git_ref}", u.api);
    let git_url = format!(
        "{}/repos/{full}/git/{}/{sha}",
        u.api,
        if is_dir { "trees" } else { "blobs" }
    );
    let html_url = format!(
        "{}/{full}/{}/{git_ref}/{path}",
        u.web,
        if is_dir { "tree" } else { "blob" }
    );
    let mut v = json!({
        "type": kind,
        "name": name,
        "path": path,
        "sha": sha,
        "size": content.map(|c| c.len()).unwrap_or(0),
        "url": url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": if is_dir { Value::Null } else { json!(format!("{}/{full}/raw/{git_ref}/{path}", u.web)) },
        "_links": {"self": url, "git": git_url, "html": html_url}
    });
    if let Some(c) = content {
        let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_bytes());
        // GitHub wraps base64 content at 60 characters per line.
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(60)
            .map(|ch| String::from_utf8_lossy(ch).into_owned())
            .collect();
        v["content"] = json!(format!("{}\n", wrapped.join("\n")));
        v["encoding"] = json!("base64");
    }
    v
}

/// The repo's workflows, as the runs reference them.
pub fn workflows(u: &Urls, r: &Repo) -> Vec<Value> {
    let full = r.full_name();
    WORKFLOWS
        .iter()
        .map(|(id, name)| {
            let file = format!(".github/workflows/{}.yml", name.to_ascii_lowercase());
            json!({
                "id": id,
                "node_id": node_id("Workflow", *id),
                "name": name,
                "path": file,
                "state": "active",
                "created_at": ts(r.created_at),
                "updated_at": ts(r.created_at),
                "url": format!("{}/repos/{full}/actions/workflows/{id}", u.api),
                "html_url": format!("{}/{full}/blob/{}/{file}", u.web, r.default_branch),
                "badge_url": format!("{}/{full}/workflows/{name}/badge.svg", u.web)
            })
        })
        .collect()
}

/// The jobs of a workflow run.
pub fn jobs(u: &Urls, r: &Repo, x: &Run) -> Vec<Value> {
    let full = r.full_name();
    derived::jobs(x)
        .into_iter()
        .map(|job| {
            let id = job.id;
            let status = if job.completed_at.is_some() {
                "completed"
            } else {
                "in_progress"
            };
            let conclusion = job.completed_at.and(x.conclusion.clone());
            let completed_at = job.completed_at.map(ts);
            let step_start = job.started_at + time::Duration::seconds(5);
            json!({
                "id": id,
                "run_id": x.id,
                "run_url": format!("{}/repos/{full}/actions/runs/{}", u.api, x.id),
                "run_attempt": 1,
                "node_id": node_id("Job", id),
                "head_sha": x.head_sha,
                "head_branch": x.head_branch,
                "url": format!("{}/repos/{full}/actions/jobs/{id}", u.api),
                "html_url": format!("{}/{full}/actions/runs/{}/job/{id}", u.web, x.id),
                "status": status,
                "conclusion": conclusion,
                "created_at": ts(job.started_at),
                "started_at": ts(job.started_at),
                "completed_at": completed_at,
                "name": job.name,
                "steps": [
                    {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1,
                     "started_at": ts(job.started_at), "completed_at": ts(step_start)},
                    {"name": format!("Run {}", job.name), "status": status, "conclusion": conclusion, "number": 2,
                     "started_at": ts(step_start), "completed_at": completed_at}
                ],
                "check_run_url": format!("{}/repos/{full}/check-runs/{id}", u.api),
                "labels": ["ubuntu-latest"],
                "runner_id": 1,
                "runner_name": "GitHub Actions 1",
                "runner_group_id": 1,
                "runner_group_name": "GitHub Actions",
                "workflow_name": x.name
            })
        })
        .collect()
}
