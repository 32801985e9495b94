//! `/healthz` (the process serves) and `/readyz` (every service it depends on answers, and
//! it is not shutting down).

use std::sync::atomic::Ordering;

use app::protocol::Health;
use axum::Json;
use axum::extract::State;

use super::AppState;
use crate::error::Error;

pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(Error::Unavailable("this node (shutting down)"));
    }
    for (name, check) in state.health_checks.iter() {
        if let Err(err) = check.check().await {
            tracing::warn!(service = name, error = %err, "readiness check failed");
            return Err(Error::Unavailable(name));
        }
    }
    Ok(Json(Health {
        status: "ok".into(),
    }))
}
