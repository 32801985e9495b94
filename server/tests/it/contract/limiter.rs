//! The `RateLimiter` contract: fixed windows per key, counted atomically across callers.

use std::sync::Arc;
use std::time::Duration;

use server::ports::RateLimiter;

use super::fixtures::unique;

/// A window long enough that it cannot end while a test runs.
const LONG: Duration = Duration::from_secs(600);

/// Hits up to the limit pass; the next ones are told to wait, at most the window.
pub async fn passes_up_to_the_limit_then_asks_to_wait(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique());
    for n in 1..=3 {
        assert_eq!(
            limiter.hit(&key, 3, LONG).await.expect("hit"),
            None,
            "hit {n} is allowed"
        );
    }
    for _ in 0..2 {
        let wait = limiter
            .hit(&key, 3, LONG)
            .await
            .expect("hit")
            .expect("over the limit");
        assert!(
            wait > Duration::ZERO && wait <= LONG,
            "wait {wait:?} lies within the window"
        );
    }
}

/// Keys count separately: one exhausted key does not limit another.
pub async fn counts_each_key_apart(limiter: &dyn RateLimiter) {
    let (busy, quiet) = (
        format!("contract:{}", unique()),
        format!("contract:{}", unique()),
    );
    for _ in 0..2 {
        limiter.hit(&busy, 2, LONG).await.expect("hit");
    }
    assert!(
        limiter.hit(&busy, 2, LONG).await.expect("hit").is_some(),
        "busy is limited"
    );
    assert_eq!(
        limiter.hit(&quiet, 2, LONG).await.expect("hit"),
        None,
        "quiet is not"
    );
}

/// Once the window has passed, counting starts again.
pub async fn starts_counting_again_after_the_window(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique());
    let window = Duration::from_millis(200);
    for _ in 0..2 {
        assert_eq!(limiter.hit(&key, 2, window).await.expect("hit"), None);
    }
    let wait = limiter
        .hit(&key, 2, window)
        .await
        .expect("hit")
        .expect("over the limit");
    assert!(wait <= window, "wait {wait:?} lies within the window");

    // Sleeping is the point here: the window is time. The margin absorbs clock granularity.
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    for n in 1..=2 {
        assert_eq!(
            limiter.hit(&key, 2, window).await.expect("hit"),
            None,
            "hit {n} of a new window"
        );
    }
    assert!(
        limiter.hit(&key, 2, window).await.expect("hit").is_some(),
        "limited again"
    );
}

/// 50 concurrent hits on a limit of 10: exactly 10 pass, as on a counter shared by nodes.
pub async fn counts_concurrent_hits_exactly(limiter: Arc<dyn RateLimiter>) {
    let key = format!("contract:{}", unique());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (limiter, key) = (Arc::clone(&limiter), key.clone());
            tokio::spawn(async move { limiter.hit(&key, 10, LONG).await })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        passed += usize::from(task.await.expect("task ran").expect("hit").is_none());
    }
    assert_eq!(passed, 10);
}

/// A key's window is its own: however many other keys are counted, with whatever windows,
/// a limited key stays limited until its own window ends. The count of other keys passes
/// any plausible in-memory clean-up threshold (the embedded limiter sweeps above 10 000).
pub async fn keeps_a_keys_window_whatever_other_keys_do(limiter: &dyn RateLimiter) {
    let limited = format!("contract:{}", unique());
    limiter.hit(&limited, 1, LONG).await.expect("hit");
    assert!(
        limiter.hit(&limited, 1, LONG).await.expect("hit").is_some(),
        "limited"
    );

    let brief = Duration::from_millis(1);
    let run = unique();
    for n in 0..10_050 {
        limiter
            .hit(&format!("contract:{run}:{n}"), 1, brief)
            .await
            .expect("hit another key");
    }
    let still = limiter.hit(&limited, 1, LONG).await.expect("hit");
    assert!(
        still.is_some(),
        "other keys' traffic reset a window that has not ended"
    );
}
