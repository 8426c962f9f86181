//! An HTTP load generator for the benchmarks: keep-alive connections sending one request back to
//! back, latencies recorded inside a measured window after a warm-up.

use std::time::{Duration, Instant};

/// One measured load phase.
#[derive(Debug, Default)]
pub struct Load {
    /// Answered 2xx inside the measured window.
    pub ok: u64,
    /// Anything else (a refusal, a transport error).
    pub errors: u64,
    pub first_error: Option<String>,
    pub secs: f64,
    /// Latencies of the successful requests, µs, sorted.
    pub latencies: Vec<u32>,
}

impl Load {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }

    /// Quantile `q` of the latency, ms.
    pub fn ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies[at]) / 1_000.0
    }

    /// The phases of several connections (or runs) as one over `secs`.
    pub fn merge(parts: Vec<Load>, secs: f64) -> Self {
        let mut all = Load { secs, ..Load::default() };
        for part in parts {
            all.ok += part.ok;
            all.errors += part.errors;
            all.first_error = all.first_error.or(part.first_error);
            all.latencies.extend(part.latencies);
        }
        all.latencies.sort_unstable();
        all
    }
}

/// `connections` keep-alive connections each sending `GET url` (with `headers`) back to back for
/// `warm_up`, then `secs` measured.
pub async fn load(
    url: &str,
    headers: Vec<(String, String)>,
    connections: usize,
    warm_up: Duration,
    secs: Duration,
) -> Result<Load, reqwest::Error> {
    let url = url.to_string();
    load_each(move |_| url.clone(), headers, connections, warm_up, secs).await
}

/// As [`load`], each request to the URL `url(n)` makes of its number `n` (0, 1, 2, … across all
/// connections): distinct URIs, so that no answer cache serves them.
pub async fn load_each(
    url: impl Fn(u64) -> String + Send + Sync + 'static,
    headers: Vec<(String, String)>,
    connections: usize,
    warm_up: Duration,
    secs: Duration,
) -> Result<Load, reqwest::Error> {
    let url = std::sync::Arc::new(url);
    let sent_count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now() + warm_up;
    let end = start + secs;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(30)).build()?;
        let (url, headers, sent_count) = (url.clone(), headers.clone(), sent_count.clone());
        tasks.push(tokio::spawn(async move {
            let mut part = Load::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let n = sent_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut request = http.get(url(n));
                for (name, value) in &headers {
                    request = request.header(name, value);
                }
                let outcome = match request.send().await {
                    Ok(answer) if answer.status().is_success() => answer.bytes().await.map_err(|e| e.to_string()),
                    Ok(answer) => {
                        let status = answer.status();
                        Err(format!("{status}: {}", answer.text().await.unwrap_or_default()))
                    }
                    Err(e) => Err(e.to_string()),
                };
                let done = Instant::now();
                if sent < start || done > end {
                    continue;
                }
                match outcome {
                    Ok(_) => {
                        part.ok += 1;
                        part.latencies.push((done - sent).as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Err(error) => {
                        part.errors += 1;
                        part.first_error.get_or_insert(error);
                    }
                }
            }
            part
        }));
    }
    let mut parts = Vec::new();
    for task in tasks {
        parts.push(task.await.expect("a load connection panicked"));
    }
    Ok(Load::merge(parts, secs.as_secs_f64()))
}
