//! Prometheus metrics at `/metrics`: request counts and latency (recorded by the HTTP
//! adapter), approvals and slot refusals, emails sent, retried and failed, the outbox
//! queue's depth and age, and database pool usage (sampled at scrape time).

use std::sync::OnceLock;
use std::time::Duration;

use clients_persistence::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};
use tokio::sync::watch;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (later calls reuse it: tests start several
/// services in one process).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case this handle
            // renders an empty page rather than crashing the service.
            let _ = metrics::set_global_recorder(recorder);
            // Counters exist from the start (at 0), so dashboards and `rate()` see them
            // before the first approval, refusal or failed email.
            for name in [
                "clients_approvals_total",
                "clients_slot_refusals_total",
                "clients_emails_sent_total",
                "clients_emails_retried_total",
                "clients_emails_failed_total",
            ] {
                metrics::counter!(name).increment(0);
            }
            handle
        })
        .clone()
}

/// How often recorded latencies are folded into their histograms.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Folds recorded latencies into their histograms every `every` until shutdown is
/// signalled on `stop` (or its sender is gone), then once more. The recorder keeps each
/// latency sample until it is folded (8 bytes a request): without this, a process that
/// nobody scrapes grows without bound, and a scraped one holds every sample since the
/// last scrape (measured: the bench server's peak RSS, docs/performance.md round 11).
/// The library's own exporters run the same upkeep (every 5 s); this crate builds only
/// the recorder, so it runs it here.
pub async fn upkeep(handle: PrometheusHandle, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stop.changed() => break,
        }
    }
    handle.run_upkeep();
}

/// Counts what a delivery round did.
pub fn record_delivery(report: &clients_domain::DeliveryReport) {
    metrics::counter!("clients_emails_sent_total").increment(u64::from(report.sent));
    metrics::counter!("clients_emails_retried_total").increment(u64::from(report.retried));
    metrics::counter!("clients_emails_failed_total").increment(u64::from(report.failed));
}

/// `GET /metrics`.
#[handler]
pub async fn endpoint(Data(store): Data<&Store>, Data(handle): Data<&PrometheusHandle>) -> Response {
    let pool = store.pool_stats();
    metrics::gauge!("clients_db_pool_connections", "state" => "open").set(f64::from(pool.size));
    metrics::gauge!("clients_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    match store.outbox_stats().await {
        Ok(outbox) => {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("clients_outbox_pending_messages").set(outbox.pending as f64);
            let age = outbox.oldest_pending.map_or(0.0, |t| (chrono::Utc::now() - t).as_seconds_f64().max(0.0));
            metrics::gauge!("clients_outbox_oldest_pending_age_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "outbox stats unavailable"),
    }
    Response::builder().status(StatusCode::OK).content_type("text/plain; version=0.0.4").body(handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upkeep_runs_until_shutdown_is_signalled() {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(upkeep(handle(), Duration::from_millis(5), stopped));
        metrics::histogram!("clients_test_upkeep_seconds").record(0.002);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!task.is_finished(), "upkeep stopped before shutdown");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("upkeep stops at shutdown").unwrap();
        assert!(handle().render().contains("clients_test_upkeep_seconds_count 1"));
    }
}
