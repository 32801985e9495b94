//! The `HealthCheck` contract: a dependency that is up answers `Ok`.

use server::ports::HealthCheck;

/// A reachable service passes its check, every time it is asked.
pub async fn answers_ok_while_up(check: &dyn HealthCheck) {
    for _ in 0..3 {
        check.check().await.expect("the service is up");
    }
}
