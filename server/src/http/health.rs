//! `/healthz` (the process serves), `/readyz` (this node can take traffic) and
//! `/readyz/services` (which service answers, for operators).
//!
//! Readiness is what a load balancer needs: whether sending a user here works. That depends
//! on the store alone; with Redis, Kafka or S3 down a node degrades (local fan-out and rate
//! limits, events kept for later, media refused) but still serves, and taking every node out
//! of rotation for it would turn a partial outage into a total one. Every check runs with a
//! deadline and all at once, so neither endpoint ever hangs on a stalled service.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use protocol::{ErrorBody, Health};
use serde::Serialize;

use super::AppState;
use crate::error::Error;

/// How long one service's check may take before it counts as down.
const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// The checks that decide readiness: the stores (embedded or MongoDB).
const ESSENTIAL: &[&str] = &["store", "mongodb"];

#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The node serves", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Every service the node depends on answers", body = Health),
        (status = 503, description = "A service does not answer, or the node is shutting down", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(Error::Unavailable("this node (shutting down)"));
    }
    let results = run_checks(&state, |name| ESSENTIAL.contains(&name)).await;
    if let Some((name, _)) = results.iter().find(|(_, up)| !up) {
        return Err(Error::Unavailable(name));
    }
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// Every service's state: `{"status": "ok"|"degraded", "services": {name: "up"|"down"}}`,
/// 200 while the node is ready (whatever else is down), 503 when it is not.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServicesHealth {
    /// `ok`, or `degraded` while a service the node can do without is down.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Each service's name and whether it answers: `up` or `down`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub services: BTreeMap<&'static str, &'static str>,
}

#[utoipa::path(
    get, path = "/readyz/services", tag = "health", security(()),
    responses(
        (status = 200, description = "The node is ready; `status` is `degraded` while an optional service is down", body = ServicesHealth),
        (status = 503, description = "The node is not ready", body = ServicesHealth),
    )
)]
pub async fn services(State(state): State<AppState>) -> (StatusCode, Json<ServicesHealth>) {
    let results = run_checks(&state, |_| true).await;
    let ready = !state.draining.load(Ordering::Relaxed)
        && results
            .iter()
            .all(|(name, up)| *up || !ESSENTIAL.contains(name));
    let all_up = results.iter().all(|(_, up)| *up);
    let services = results
        .into_iter()
        .map(|(name, up)| (name, if up { "up" } else { "down" }))
        .collect();
    let status = match (ready, all_up) {
        (false, _) => "unavailable",
        (true, true) => "ok",
        (true, false) => "degraded",
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(ServicesHealth { status, services }))
}

/// Runs the checks `wanted` names, concurrently, each within `CHECK_DEADLINE`.
async fn run_checks(state: &AppState, wanted: impl Fn(&str) -> bool) -> Vec<(&'static str, bool)> {
    let checks = state
        .health_checks
        .iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, check)| async move {
            let up = match tokio::time::timeout(CHECK_DEADLINE, check.check()).await {
                Ok(Ok(())) => true,
                Ok(Err(err)) => {
                    tracing::warn!(service = name, error = %err, "health check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!(service = name, "health check timed out");
                    false
                }
            };
            (*name, up)
        });
    futures_util::future::join_all(checks).await
}
