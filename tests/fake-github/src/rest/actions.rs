//! GitHub Actions: workflow runs, their jobs and artifacts, and workflows.

use serde_json::json;

use super::{Ctx, Reply, repo_link};
use crate::error::FakeError;
use crate::rest::reply::Payload;
use crate::world::{Repo, Run, World};
use crate::{derived, render, zip};

fn find_run(r: &Repo, id: u64) -> Result<&Run, FakeError> {
    r.runs.iter().find(|x| x.id == id).ok_or(FakeError::NotFound)
}

/// `GET /repos/{owner}/{repo}/actions/runs`: filtered by `status` (or conclusion) and `branch`.
pub fn runs(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let list: Vec<_> = r
        .runs
        .iter()
        .filter(|x| {
            ctx.q("status")
                .is_none_or(|s| x.status == s || x.conclusion.as_deref() == Some(s))
        })
        .filter(|x| ctx.q("branch").is_none_or(|b| x.head_branch == b))
        .collect();
    let (range, info) = ctx.paginate(list.len(), repo_link(r, "/actions/runs"));
    Reply::page(
        json!({"total_count": list.len(), "workflow_runs": range.map(|k| render::run(w, ctx.urls, r, list[k])).collect::<Vec<_>>()}),
        info,
    )
}

/// `GET /repos/{owner}/{repo}/actions/runs/{id}`.
pub fn run(w: &World, r: &Repo, id: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let x = find_run(r, id)?;
    Ok(Reply::json(render::run(w, ctx.urls, r, x)).modified(x.updated_at))
}

/// `GET /repos/{owner}/{repo}/actions/runs/{id}/jobs`.
pub fn run_jobs(r: &Repo, id: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let x = find_run(r, id)?;
    let jobs = render::jobs(ctx.urls, r, x);
    let (range, info) = ctx.paginate(jobs.len(), repo_link(r, &format!("/actions/runs/{id}/jobs")));
    Ok(Reply::page(
        json!({"total_count": jobs.len(), "jobs": range.map(|k| jobs[k].clone()).collect::<Vec<_>>()}),
        info,
    ))
}

/// `GET /repos/{owner}/{repo}/actions/runs/{id}/artifacts`: there are never any.
pub fn run_artifacts(r: &Repo, id: u64) -> Result<Reply, FakeError> {
    find_run(r, id)?;
    Ok(Reply::json(json!({"total_count": 0, "artifacts": []})))
}

/// `GET /repos/{owner}/{repo}/actions/runs/{id}/logs`: a zip with one file per job and one per
/// step (`<job>/<step number>_<step name>.txt`, the layout `gh run view --log` reads). GitHub
/// redirects to a storage URL; the fake answers the archive itself. A run still in progress has
/// no logs yet (404, as GitHub).
pub fn run_logs(r: &Repo, id: u64) -> Result<Reply, FakeError> {
    let x = find_run(r, id)?;
    if x.status != "completed" {
        return Err(FakeError::NotFound);
    }
    let mut files = Vec::new();
    for (k, job) in derived::jobs(x).into_iter().enumerate() {
        let at = |t: time::OffsetDateTime| render::ts(t).replace('Z', ".0000000Z");
        let steps = [
            ("Set up job".to_string(), job.started_at),
            (format!("Run {}", job.name), job.started_at + time::Duration::seconds(5)),
        ];
        let mut whole = String::new();
        for (n, (step, t)) in steps.iter().enumerate() {
            let text = format!(
                "{} {step} for {} of run {}\n{} done\n",
                at(*t),
                job.name,
                x.id,
                at(*t + time::Duration::seconds(1))
            );
            whole.push_str(&text);
            files.push((format!("{}/{}_{step}.txt", job.name, n + 1), text));
        }
        files.push((format!("{k}_{}.txt", job.name), whole));
    }
    Ok(Reply {
        body: Payload::Raw(zip::stored(&files), "application/zip"),
        ..Reply::json(serde_json::Value::Null)
    })
}

/// `GET /repos/{owner}/{repo}/actions/workflows`.
pub fn workflows(r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let all = render::workflows(ctx.urls, r);
    let (range, info) = ctx.paginate(all.len(), repo_link(r, "/actions/workflows"));
    Reply::page(
        json!({"total_count": all.len(), "workflows": range.map(|k| all[k].clone()).collect::<Vec<_>>()}),
        info,
    )
}

/// `GET /repos/{owner}/{repo}/actions/workflows/{id}`: by id or file name.
pub fn workflow(r: &Repo, key: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    render::workflows(ctx.urls, r)
        .into_iter()
        .find(|wf| {
            key.parse::<u64>().ok() == wf["id"].as_u64()
                || wf["path"].as_str().is_some_and(|p| p.ends_with(&format!("/{key}")))
        })
        .map(Reply::json)
        .ok_or(FakeError::NotFound)
}
