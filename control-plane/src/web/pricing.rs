//! The public pricing page: every plan from [`crate::billing::plans`].

use crate::billing::{Overage, Plan};
use crate::http::{Layout, PageError};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::routing::get;
use tower_sessions::Session;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/pricing", get(get_pricing))
}

#[derive(Template, WebTemplate)]
#[template(path = "pricing.html")]
struct PricingPage {
    layout: Layout,
    plans: [Plan; 3],
}

async fn get_pricing(session: Session) -> Result<PricingPage, PageError> {
    Ok(PricingPage {
        layout: Layout::load(&session).await?,
        plans: Plan::ALL,
    })
}

impl PricingPage {
    fn metered(&self, plan: &Plan) -> bool {
        plan.limits().overage == Overage::Metered
    }
}
