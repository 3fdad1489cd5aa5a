//! Releases and their assets (`release list`, `release view`).

use super::*;

/// A release asset (never produced; present for the schema).
#[derive(SimpleObject, Clone)]
pub struct ReleaseAsset {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: i32,
    /// Download URL.
    pub url: URI,
}

/// A release.
#[derive(Clone)]
pub struct Release {
    pub(super) repo: usize,
    pub(super) id: u64,
}

impl Release {
    fn with<T: Default>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(&GqlCtx, &World, &Repo, &crate::world::Release) -> T,
    ) -> T {
        let g = gctx(ctx);
        let w = g.sh.world();
        let r = &w.repos[self.repo];
        r.releases
            .iter()
            .find(|x| x.id == self.id)
            .map(|x| f(g, &w, r, x))
            .unwrap_or_default()
    }
}

#[Object]
impl Release {
    async fn id(&self) -> async_graphql::ID {
        gid("Release", self.id)
    }
    async fn database_id(&self) -> Option<i64> {
        Some(self.id as i64)
    }
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.with(ctx, |_, _, _, x| x.name.clone()))
    }
    async fn tag_name(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, x| x.tag.clone())
    }
    async fn description(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.with(ctx, |_, _, _, x| x.body.clone()))
    }
    async fn is_draft(&self) -> bool {
        false
    }
    async fn is_prerelease(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, _, _, x| x.prerelease)
    }
    async fn is_latest(&self, ctx: &Context<'_>) -> bool {
        let w = gctx(ctx).sh.world();
        w.repos[self.repo].releases.first().is_some_and(|x| x.id == self.id)
    }
    async fn created_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, x| dt(x.created_at))
    }
    async fn published_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        Some(self.with(ctx, |_, _, _, x| dt(x.published_at)))
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        self.with(ctx, |g, _, r, x| URI(render::release_html_url(&g.urls, r, x)))
    }
    async fn author(&self, ctx: &Context<'_>) -> Option<User> {
        self.with(ctx, |_, w, _, x| Some(User::of(w, &x.author)))
    }
    async fn release_assets(&self, first: Option<i32>, after: Option<String>) -> ReleaseAssetConnection {
        ReleaseAssetConnection::of(Vec::new(), first, after, None, None)
    }
}
