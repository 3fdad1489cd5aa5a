//! `GET /api/v1/tenants/{slug}/stats?range=`: the dashboard's numbers as JSON, for admins (what
//! `shoal stats` prints).

use super::schema::{AdminRefusals, ErrorOut, TenantSlug};
use crate::Error;
use crate::access::TenantAdmin;
use crate::state::AppState;
use crate::tenants::stats::{self, Range, TenantStats};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use utoipa::IntoParams;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/tenants/{slug}/stats", get(get_tenant_stats))
}

/// The range asked for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand from the raw query, so a bad one gets the API's error body
struct RangeQuery {
    /// `1h`, `24h` (default), `7d` or `30d`: whole hours up to the end of the current one.
    #[param(pattern = "^(1h|24h|7d|30d)$")]
    range: Option<String>,
}

/// The `range` parameter of a raw query string.
fn range_of(query: Option<&str>) -> Result<Range, Error> {
    let value = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "range")
            .map(|(_, v)| v.into_owned())
    });
    Range::parse(value.as_deref())
}

/// The tenant's use over a range: requests by cache status, units spent and saved, series per
/// bucket, identities with budgets, members, caller tokens, routes, top repositories and the
/// month so far.
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/stats", tag = "admin", params(TenantSlug, RangeQuery),
    responses(
        (status = 200, description = "The numbers over the range.", body = TenantStats),
        (status = 400, description = "An unknown range.", body = ErrorOut),
        AdminRefusals,
    ),
)]
pub(super) async fn get_tenant_stats(
    State(state): State<AppState>,
    admin: TenantAdmin,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<TenantStats>, Error> {
    let range = range_of(query.as_deref())?;
    Ok(axum::Json(stats::get(&state, &admin, range).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_comes_from_the_query_string() {
        assert_eq!(range_of(None).unwrap(), Range::Day);
        assert_eq!(range_of(Some("x=1&range=30d")).unwrap(), Range::Month);
        assert!(range_of(Some("range=1y")).is_err());
    }
}
