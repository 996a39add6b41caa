//! What the plugin adds to a streamed reply, in the real app's window
//! (release build, WebKitGTK under Xvfb, driven over WebDriver), against
//! the same stream from the fake OpenRouter read directly in Rust:
//!
//! - latency per delta: from the fake handing a content delta to the
//!   connection (`FakeOpenRouter::last_stream_sent_at`) to its arrival,
//!   with a paced script; in the page, arrival is the Channel message
//!   carrying the delta (`performance.timeOrigin + performance.now()`);
//! - deltas per second with an unpaced script, and how many Channel
//!   messages carried them (the plugin joins deltas that are ready).
//!
//! The page's timer resolution is measured first and reported. WebKitGTK's
//! steps by 1 ms, too coarse for a 1 ms target, so the page interpolates
//! arrivals between its steps (see `PAGE_READ`), and the figures read off
//! the steps alone are reported beside them as a cross-check. Prints a
//! table and, with `--json FILE`, writes the figures for
//! `bench/report.py`. Linux only (Xvfb, WebKitGTK, tauri-driver):
//! elsewhere it says so.

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!(
        "the streaming benchmark drives the app in a real window (Xvfb, WebKitGTK, tauri-driver): it runs on Linux only"
    );
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use fake_openrouter::desktop::{Desktop, DesktopOptions};
    use fake_openrouter::webdriver::Session;
    use fake_openrouter::{FakeOpenRouter, StreamScript};
    use serde_json::{Value, json};

    /// Each measurement this many times; the median run is reported. A
    /// few deltas in a hundred wait a millisecond or more for a core on a
    /// small machine, which moves one run's p95 a lot: five runs, not three.
    const RUNS: usize = 5;
    /// The paced script of the latency measurement.
    const PACED_DELTAS: usize = 400;
    const PACE: Duration = Duration::from_millis(5);
    /// The unpaced script of the throughput measurement.
    const BULK_DELTAS: usize = 20_000;
    const MODEL: &str = "openai/gpt-4o-mini";

    pub fn main() {
        let json_out = std::env::args()
            .skip_while(|a| a != "--json")
            .nth(1)
            .map(PathBuf::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let figures = runtime.block_on(measure());
        print_table(&figures);
        if let Some(path) = json_out {
            std::fs::write(path, serde_json::to_vec_pretty(&figures).unwrap()).unwrap();
        }
    }

    /// `n` deltas, each a token of its own ("d0 ", "d1 ", …): a reader
    /// counts the deltas in joined text by its spaces.
    fn script(n: usize, pace: Duration) -> StreamScript {
        StreamScript {
            deltas: (0..n).map(|i| format!("d{i} ")).collect(),
            pace,
            ..StreamScript::default()
        }
    }

    fn since_epoch() -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
    }

    async fn measure() -> Value {
        let desktop = Desktop::start("stream-bench", DesktopOptions::default()).await;
        let session = desktop.launch().await;
        session.click("connect").await.unwrap();
        session.wait_for_state("connected").await.unwrap();
        // The health check that follows a connect, out of the way.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let key = desktop
            .fake
            .issued_keys()
            .last()
            .expect("a key was issued")
            .key
            .clone();
        let direct = Direct::new(&desktop.fake, &key);

        let timer = timer_resolution(&session).await;
        eprintln!("page timer: {timer}");
        let step_ms = timer["median_us"].as_f64().unwrap() / 1000.0;

        // A warm-up of each reader, not counted.
        desktop
            .fake
            .set_stream_script(script(50, Duration::from_millis(1)));
        direct.read(&desktop.fake, 50).await;
        page_read(&desktop.fake, &session, 50, true, step_ms).await;

        let mut latency_runs = Vec::new();
        desktop.fake.set_stream_script(script(PACED_DELTAS, PACE));
        for run in 0..RUNS {
            let direct_run = direct.read(&desktop.fake, PACED_DELTAS).await;
            let cpu = CpuTimes::now();
            let page_run = page_read(&desktop.fake, &session, PACED_DELTAS, true, step_ms).await;
            let busy = cpu.busy_percent();
            let clock = page_run.clock.as_ref().unwrap();
            let figures = json!({
                "direct_ms": percentiles(&direct_run.latencies_ms(|a| a.fine_ms)),
                "page_ms": percentiles(&page_run.latencies_ms(|a| a.fine_ms)),
                "page_by_step_ms": percentiles(&page_run.latencies_ms(|a| a.raw_ms)),
                "page_messages": page_run.messages(),
                "page_clock_offset_ms": clock.offset_ms,
                "page_clock_spread_ms": clock.quartile_spread_ms,
                "machine_busy_percent": busy,
            });
            eprintln!("latency run {run}: {figures}");
            latency_runs.push(figures);
        }

        let mut throughput_runs = Vec::new();
        desktop
            .fake
            .set_stream_script(script(BULK_DELTAS, Duration::ZERO));
        for run in 0..RUNS {
            let direct_run = direct.read(&desktop.fake, BULK_DELTAS).await;
            let cpu = CpuTimes::now();
            let page_run = page_read(&desktop.fake, &session, BULK_DELTAS, false, step_ms).await;
            let busy = cpu.busy_percent();
            let figures = json!({
                "direct_per_s": direct_run.deltas_per_second(),
                "page_per_s": page_run.deltas_per_second(),
                "fake_per_s": page_run.sent_per_second(),
                "page_messages": page_run.messages(),
                "page_largest_message": page_run.largest_message(),
                "page_last_delta_behind_ms": page_run.last_delta_behind_ms(),
                "page_last_delta_to_done_ms": page_run.last_delta_to_done_ms(),
                "machine_busy_percent": busy,
            });
            eprintln!("throughput run {run}: {figures}");
            throughput_runs.push(figures);
        }
        session.quit().await.unwrap();
        drop(desktop);

        let median_of = |runs: &[Value], pointer: &str| {
            median(
                runs.iter()
                    .map(|r| r.pointer(pointer).unwrap().as_f64().unwrap()),
            )
        };
        let range_of = |runs: &[Value], pointer: &str| {
            let values = runs
                .iter()
                .map(|r| r.pointer(pointer).unwrap().as_f64().unwrap());
            json!([
                values.clone().fold(f64::INFINITY, f64::min),
                values.fold(f64::NEG_INFINITY, f64::max),
            ])
        };
        let p = |runs: &[Value], key: &str| {
            json!({
                "p50": median_of(runs, &format!("/{key}/p50")),
                "p95": median_of(runs, &format!("/{key}/p95")),
                "min": median_of(runs, &format!("/{key}/min")),
            })
        };
        let direct = p(&latency_runs, "direct_ms");
        let page = p(&latency_runs, "page_ms");
        let added = |at: &str| page[at].as_f64().unwrap() - direct[at].as_f64().unwrap();
        let paced_messages = median_of(&latency_runs, "/page_messages");
        let bulk_messages = median_of(&throughput_runs, "/page_messages");
        json!({
            "runs": RUNS,
            "timer": timer,
            "latency": {
                "deltas": PACED_DELTAS,
                "pace_ms": PACE.as_secs_f64() * 1000.0,
                "direct_ms": direct,
                "page_ms": page,
                "added_ms": {"p50": added("p50"), "p95": added("p95")},
                "page_p95_range_ms": range_of(&latency_runs, "/page_ms/p95"),
                "page_by_step_ms": p(&latency_runs, "page_by_step_ms"),
                "page_messages": paced_messages,
                "messages_per_delta": paced_messages / PACED_DELTAS as f64,
                "page_clock_offset_ms": median_of(&latency_runs, "/page_clock_offset_ms"),
                "page_clock_spread_ms": median_of(&latency_runs, "/page_clock_spread_ms"),
                "machine_busy_percent": median_of(&latency_runs, "/machine_busy_percent"),
                "per_run": latency_runs,
            },
            "throughput": {
                "deltas": BULK_DELTAS,
                "direct_per_s": median_of(&throughput_runs, "/direct_per_s"),
                "page_per_s": median_of(&throughput_runs, "/page_per_s"),
                "fake_per_s": median_of(&throughput_runs, "/fake_per_s"),
                "page_messages": bulk_messages,
                "messages_per_delta": bulk_messages / BULK_DELTAS as f64,
                "page_last_delta_behind_ms": median_of(&throughput_runs, "/page_last_delta_behind_ms"),
                "page_last_delta_to_done_ms": median_of(&throughput_runs, "/page_last_delta_to_done_ms"),
                "machine_busy_percent": median_of(&throughput_runs, "/machine_busy_percent"),
                "per_run": throughput_runs,
            },
        })
    }

    /// The machine's CPU time so far (`/proc/stat`), to tell a run that
    /// shared the machine with other work.
    struct CpuTimes {
        busy: u64,
        total: u64,
    }

    impl CpuTimes {
        fn now() -> CpuTimes {
            let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
            let times: Vec<u64> = stat
                .lines()
                .next()
                .expect("the cpu line")
                .split_whitespace()
                .skip(1)
                .map(|t| t.parse().expect("a count"))
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let idle = times[3] + times[4];
            let total: u64 = times.iter().take(8).sum();
            CpuTimes {
                busy: total - idle,
                total,
            }
        }

        /// How busy all cores were since `self`, in percent.
        fn busy_percent(&self) -> f64 {
            let now = CpuTimes::now();
            let total = now.total.saturating_sub(self.total).max(1);
            100.0 * now.busy.saturating_sub(self.busy) as f64 / total as f64
        }
    }

    /// The smallest and the typical nonzero step between successive
    /// `performance.now()` calls in a busy loop, in the app's page.
    async fn timer_resolution(session: &Session) -> Value {
        let steps = session
            .js(
                "const steps = []; let prev = performance.now(); const end = prev + 300;\
                 while (prev < end) { const t = performance.now(); if (t !== prev) { steps.push(t - prev); prev = t; } }\
                 return steps;",
            )
            .await
            .expect("the page answers");
        let mut steps: Vec<f64> = steps
            .as_array()
            .expect("a list of steps")
            .iter()
            .map(|s| s.as_f64().unwrap() * 1000.0)
            .collect();
        steps.sort_by(f64::total_cmp);
        let min_us = steps[0];
        let median_us = steps[steps.len() / 2];
        // Coarse: the clock can't tell apart times a tenth of the 1 ms
        // target apart.
        json!({
            "min_us": min_us,
            "median_us": median_us,
            "steps": steps.len(),
            "coarse": min_us > 100.0,
        })
    }

    /// One group of deltas arriving together: one SSE event in Rust, one
    /// Channel message in the page.
    struct Arrival {
        /// When, as wall-clock ms since the epoch: in the page, interpolated
        /// between the page clock's steps.
        fine_ms: f64,
        /// In the page: the page clock's step it arrived in, taken at its
        /// middle (the same as `fine_ms` in Rust).
        raw_ms: f64,
        deltas: usize,
    }

    /// How the page's clock was set against the wall clock.
    struct Clock {
        /// The wall clock less the page clock as the latter steps.
        offset_ms: f64,
        /// Half the spread between the quartiles of its samples.
        quartile_spread_ms: f64,
    }

    /// Arrival times of deltas, as seen by one reader, with the fake's
    /// send times of the same stream.
    struct Reading {
        arrivals: Vec<Arrival>,
        /// When the end arrived (`[DONE]`, or the page's `done`).
        done_ms: f64,
        /// The fake's send time of each delta, ms since the epoch.
        sent_ms: Vec<f64>,
        /// The page's clock (`None` in Rust).
        clock: Option<Clock>,
    }

    impl Reading {
        fn deltas(&self) -> usize {
            self.arrivals.iter().map(|a| a.deltas).sum()
        }

        fn messages(&self) -> usize {
            self.arrivals.len()
        }

        fn largest_message(&self) -> usize {
            self.arrivals.iter().map(|a| a.deltas).max().unwrap_or(0)
        }

        /// Each delta's arrival less its send time, with `time` the arrival.
        fn latencies_ms(&self, time: impl Fn(&Arrival) -> f64) -> Vec<f64> {
            let mut latencies = Vec::with_capacity(self.sent_ms.len());
            let mut sent = self.sent_ms.iter();
            for arrival in &self.arrivals {
                for _ in 0..arrival.deltas {
                    latencies.push(time(arrival) - sent.next().expect("as many deltas as sent"));
                }
            }
            latencies
        }

        /// The deltas after the first group, over the time from the first
        /// group to the end.
        fn deltas_per_second(&self) -> f64 {
            let first = &self.arrivals[0];
            (self.deltas() - first.deltas) as f64 / ((self.done_ms - first.raw_ms) / 1000.0)
        }

        /// How fast the fake handed out the deltas.
        fn sent_per_second(&self) -> f64 {
            let span = self.sent_ms.last().unwrap() - self.sent_ms[0];
            (self.sent_ms.len() - 1) as f64 / (span / 1000.0)
        }

        fn last_delta_to_done_ms(&self) -> f64 {
            self.done_ms - self.arrivals.last().unwrap().raw_ms
        }

        /// How long after the fake sent the last delta it arrived.
        fn last_delta_behind_ms(&self) -> f64 {
            self.arrivals.last().unwrap().raw_ms - self.sent_ms.last().unwrap()
        }

        fn check(&self, expected: usize, who: &str) {
            assert_eq!(self.deltas(), expected, "{who}: every delta arrives");
            assert_eq!(
                self.sent_ms.len(),
                expected,
                "{who}: the fake sent them all"
            );
        }
    }

    /// The send times of the stream that just ended, once the fake has
    /// stored them.
    async fn sent_times(fake: &FakeOpenRouter, finished_before: usize) -> Vec<f64> {
        for _ in 0..500 {
            if fake.streams_finished() > finished_before {
                return fake
                    .last_stream_sent_at()
                    .iter()
                    .map(|t| t.as_secs_f64() * 1000.0)
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the fake never finished the stream");
    }

    /// The stream read in Rust: SSE parsed by hand, the time taken at each
    /// content delta.
    struct Direct {
        http: reqwest::Client,
        url: String,
        key: String,
    }

    impl Direct {
        fn new(fake: &FakeOpenRouter, key: &str) -> Direct {
            Direct {
                http: reqwest::Client::builder().no_proxy().build().unwrap(),
                url: format!("{}/api/v1/chat/completions", fake.url()),
                key: key.to_owned(),
            }
        }

        async fn read(&self, fake: &FakeOpenRouter, expected: usize) -> Reading {
            let finished_before = fake.streams_finished();
            let mut response = self
                .http
                .post(&self.url)
                .bearer_auth(&self.key)
                .json(&json!({
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "bench"}],
                    "stream": true,
                }))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let mut buffer: Vec<u8> = Vec::new();
            let mut arrivals = Vec::new();
            let mut done_ms = None;
            while let Some(bytes) = response.chunk().await.unwrap() {
                buffer.extend_from_slice(&bytes);
                // Each complete event, then what is left kept for the next
                // read.
                let mut start = 0;
                while let Some(end) = buffer[start..].windows(2).position(|w| w == b"\n\n") {
                    let event = std::str::from_utf8(&buffer[start..start + end]).unwrap();
                    start += end + 2;
                    for line in event.lines() {
                        let Some(data) = line.strip_prefix("data: ") else {
                            continue;
                        };
                        if data == "[DONE]" {
                            done_ms = Some(since_epoch().as_secs_f64() * 1000.0);
                            continue;
                        }
                        let chunk: Value = serde_json::from_str(data).unwrap();
                        let content = chunk
                            .pointer("/choices/0/delta/content")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if !content.is_empty() {
                            let now = since_epoch().as_secs_f64() * 1000.0;
                            arrivals.push(Arrival {
                                fine_ms: now,
                                raw_ms: now,
                                deltas: content.matches(' ').count(),
                            });
                        }
                    }
                }
                buffer.drain(..start);
            }
            let sent_ms = sent_times(fake, finished_before).await;
            let reading = Reading {
                arrivals,
                done_ms: done_ms.expect("the stream ends with [DONE]"),
                sent_ms,
                clock: None,
            };
            reading.check(expected, "direct");
            reading
        }
    }

    /// Reads a reply in the page through the plugin, with a Channel of its
    /// own: each delta message's arrival and how many deltas it holds.
    ///
    /// The page's clock, `performance.timeOrigin + performance.now()` (P),
    /// may step coarsely (WebKitGTK's steps by 1 ms), so times between its
    /// steps are told by counting the turns of a busy loop:
    ///
    /// - first, where P steps on the wall clock: a loop reads `Date.now()`
    ///   (the wall clock, in whole ms) and P on each turn; the wall clock
    ///   at one of P's steps is the last `Date.now()` step plus the turns
    ///   since it, at the loop's turns per ms. `delta` (the median of 41
    ///   `samples`) is what the wall clock reads less P as P steps;
    /// - then, with `FINE`, each message's arrival: a loop reading P runs
    ///   to P's next step; the arrival is that step's wall time less the
    ///   turns it took, at the turns a whole step takes (`turnsPerStep`,
    ///   measured with the same loop beforehand). Up to one step of busy
    ///   loop per message; a loop held up makes an arrival look later,
    ///   never earlier.
    ///
    /// `raw` is P on arrival.
    const PAGE_READ: &str = r#"
const finish = arguments[arguments.length - 1];
const P = () => performance.timeOrigin + performance.now();
const median = (values) => values.slice().sort((a, b) => a - b)[values.length >> 1];
const offsets = []; const turnsPerMs = [];
{
  let i = 0, lastWall = Date.now(), lastP = P(), wallAt = -1, wallValue = 0, stepAt = -1;
  const stop = lastP + 400;
  while (offsets.length < 41 && lastP < stop) {
    i++;
    const wall = Date.now(); const p = P();
    if (wall !== lastWall) { wallAt = i; wallValue = wall; lastWall = wall; }
    if (p !== lastP) {
      if (stepAt >= 0) turnsPerMs.push((i - stepAt) / (p - lastP));
      if (wallAt >= 0 && stepAt >= 0) offsets.push([i - wallAt, p, wallValue]);
      stepAt = i; lastP = p;
    }
  }
}
const perMs = median(turnsPerMs);
const samples = offsets.map(([turns, p, wall]) => wall + turns / perMs - p);
const delta = median(samples);
const toNextStep = () => {
  const p0 = P(); let p = p0, n = 0;
  while (p === p0) { p = P(); n++; }
  return [p0, p, n];
};
const whole = []; const steps = [];
toNextStep();
for (let k = 0; k < 100; k++) { const [p0, p, n] = toNextStep(); whole.push(n); steps.push(p - p0); }
const turnsPerStep = median(whole); const step = median(steps);
const stamp = () => {
  if (!FINE) { const p0 = P(); return [p0, p0]; }
  const [p0, p, n] = toNextStep();
  return [p0, p + delta - Math.min(n / turnsPerStep, 1) * step];
};
const arrivals = [];
const channel = new window.__TAURI__.core.Channel();
channel.onmessage = (m) => {
  const [raw, fine] = stamp();
  if (m.type === 'delta') {
    let n = 0; const c = m.content;
    for (let i = c.indexOf(' '); i !== -1; i = c.indexOf(' ', i + 1)) n++;
    arrivals.push(raw, fine, n);
  } else if (m.type === 'done') {
    finish({arrivals, doneAt: raw, length: m.result.content.length, delta, samples});
  } else if (m.type === 'failed') {
    finish({error: m.error});
  }
};
window.__TAURI__.core.invoke('plugin:openrouter|chat', {
  request: {model: MODEL, messages: [{role: 'user', content: 'bench'}]},
  onEvent: channel,
}).catch((e) => finish({error: e}));
"#;

    /// The stream read in the app's page through the plugin (see
    /// [`PAGE_READ`]); `fine` interpolates arrivals between the page
    /// clock's steps, of `step_ms`.
    async fn page_read(
        fake: &FakeOpenRouter,
        session: &Session,
        expected: usize,
        fine: bool,
        step_ms: f64,
    ) -> Reading {
        let finished_before = fake.streams_finished();
        let script = PAGE_READ
            .replace("FINE", if fine { "true" } else { "false" })
            .replace("MODEL", &format!("'{MODEL}'"));
        let answer = session.js_async(&script).await.expect("the page answers");
        assert!(answer.get("error").is_none(), "the reply failed: {answer}");
        let sent_ms = sent_times(fake, finished_before).await;
        let delta = answer["delta"].as_f64().expect("the page's clock set");
        let mut samples: Vec<f64> = answer["samples"]
            .as_array()
            .expect("the clock's samples")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        samples.sort_by(f64::total_cmp);
        let quartile_spread_ms = samples[samples.len() * 3 / 4] - samples[samples.len() / 4];
        let flat: Vec<f64> = answer["arrivals"]
            .as_array()
            .expect("arrivals")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // P on arrival, taken as the middle of its step.
        let raw = |p: f64| p + delta + step_ms / 2.0;
        let arrivals = flat
            .chunks(3)
            .map(|a| Arrival {
                fine_ms: if fine { a[1] } else { raw(a[0]) },
                raw_ms: raw(a[0]),
                deltas: a[2] as usize,
            })
            .collect();
        let reading = Reading {
            arrivals,
            done_ms: raw(answer["doneAt"].as_f64().unwrap()),
            sent_ms,
            clock: Some(Clock {
                offset_ms: delta,
                quartile_spread_ms,
            }),
        };
        reading.check(expected, "page");
        let length: usize = (0..expected).map(|i| format!("d{i} ").len()).sum();
        assert_eq!(
            answer["length"].as_u64(),
            Some(length as u64),
            "the whole reply"
        );
        reading
    }

    fn percentiles(values: &[f64]) -> Value {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        let at = |p: f64| values[((values.len() as f64 - 1.0) * p).round() as usize];
        json!({
            "min": at(0.0),
            "p50": at(0.50),
            "p95": at(0.95),
            "max": at(1.0),
            "n": values.len(),
        })
    }

    fn median(values: impl Iterator<Item = f64>) -> f64 {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    fn print_table(figures: &Value) {
        let f = |pointer: &str| figures.pointer(pointer).unwrap().as_f64().unwrap();
        let coarse = figures["timer"]["coarse"] == true;
        println!(
            "streaming a reply, medians of {} runs; the page's timer steps by {:.1} µs{}",
            figures["runs"],
            f("/timer/min_us"),
            if coarse { " (coarse)" } else { "" }
        );
        println!(
            "{:<50} {:>9} {:>9} {:>9}",
            format!(
                "latency per delta ({} deltas, {} ms apart)",
                figures["latency"]["deltas"],
                f("/latency/pace_ms")
            ),
            "min ms",
            "p50 ms",
            "p95 ms"
        );
        for (label, key) in [
            ("  direct (reqwest, SSE parsed in Rust)", "direct_ms"),
            ("  page (plugin, Channel), interpolated", "page_ms"),
            (
                "  page, by the timer's steps (cross-check)",
                "page_by_step_ms",
            ),
        ] {
            println!(
                "{:<50} {:>9.3} {:>9.3} {:>9.3}",
                label,
                f(&format!("/latency/{key}/min")),
                f(&format!("/latency/{key}/p50")),
                f(&format!("/latency/{key}/p95"))
            );
        }
        println!(
            "{:<50} {:>9} {:>9.3} {:>9.3}   target p95 < 1 ms: {}",
            "  added by the plugin (page − direct)",
            "",
            f("/latency/added_ms/p50"),
            f("/latency/added_ms/p95"),
            if f("/latency/added_ms/p95") < 1.0 {
                "met"
            } else {
                "missed"
            }
        );
        println!(
            "  page p95 over the runs: {:.3} to {:.3} ms; all cores {:.0} % busy while the page read",
            f("/latency/page_p95_range_ms/0"),
            f("/latency/page_p95_range_ms/1"),
            f("/latency/machine_busy_percent")
        );
        println!(
            "  Channel messages: {:.0} for {} deltas; page clock set to the wall clock within ±{:.3} ms (quartiles)",
            f("/latency/page_messages"),
            figures["latency"]["deltas"],
            f("/latency/page_clock_spread_ms")
        );
        println!(
            "deltas per second ({} deltas, unpaced)",
            figures["throughput"]["deltas"]
        );
        println!(
            "  direct {:.0}/s, page {:.0}/s   target ≥ 10000/s: {} (the fake sent {:.0}/s during the page's run)",
            f("/throughput/direct_per_s"),
            f("/throughput/page_per_s"),
            if f("/throughput/page_per_s") >= 10_000.0 {
                "met"
            } else {
                "missed"
            },
            f("/throughput/fake_per_s")
        );
        println!(
            "  Channel messages: {:.0} ({:.4} per delta); the last delta reached the page {:.1} ms after the fake sent it, done {:.1} ms later",
            f("/throughput/page_messages"),
            f("/throughput/messages_per_delta"),
            f("/throughput/page_last_delta_behind_ms"),
            f("/throughput/page_last_delta_to_done_ms")
        );
    }
}
