//! `GET /metrics`: the pipeline's counters (`store_notifications_total{store, outcome}`) and
//! verification histogram (`store_notification_verify_seconds{store}`), reported by the library's
//! `metrics` feature, plus the gateway's own gauges, in Prometheus text format.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's Prometheus recorder (one per process: the `metrics` facade is global).
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Metrics {
    /// Installs the recorder the first time (later calls share it). If another recorder is
    /// already installed (a program embedding the gateway's library), `/metrics` shows only
    /// the gateway's gauges.
    pub fn install() -> Metrics {
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => {
                    tracing::warn!(
                        "a metrics recorder is installed already: /metrics shows gauges only"
                    );
                    None
                }
            }
        });
        Metrics {
            handle: handle.clone(),
        }
    }

    /// The Prometheus text: the recorded metrics and `store_notifications_gateway_database_up`.
    pub fn render(&self, database_up: bool) -> String {
        let mut text = self
            .handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default();
        text.push_str(
            "# HELP store_notifications_gateway_database_up Whether the database answered within 1 s.\n\
             # TYPE store_notifications_gateway_database_up gauge\n",
        );
        text.push_str(&format!(
            "store_notifications_gateway_database_up {}\n",
            u8::from(database_up)
        ));
        text
    }
}
