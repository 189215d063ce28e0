//! `ms-tui load`: the load engine without the control room, for scripts, CI and comparisons
//! with oha on the same endpoint and rate.
//!
//! Progress goes to stderr once a second; the report goes to stdout (text, or JSON with
//! `--json`), so `ms-tui load … --json > run.json` keeps the numbers apart from the chatter.

use std::process::ExitCode;
use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId};

use super::stats::format_latency as ms;
use super::{LoadHandle, LoadSpec, Summary};

/// `ms-tui load`: open-model load on one scenario, in one mode or both at once.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// The scenario: s1…s8 (or 1…8). Its request, bodies and expected statuses come from the
    /// catalogue; `ms-tui load --list` shows them.
    #[arg(value_parser = parse_scenario, required_unless_present = "list")]
    pub scenario: Option<ScenarioId>,

    /// Which stack to load; `both` runs the two side by side at the same rate.
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    pub mode: Modes,

    /// Target arrival rate in requests per second (per mode). Capped at the scenario's
    /// `max_rate` unless --uncapped. Default: the scenario's default rate.
    #[arg(short = 'q', long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Length of the run in seconds; Ctrl-C stops earlier and still reports.
    #[arg(short = 'z', long = "duration", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration_secs: u64,

    /// Host of the stack's published ports (the catalogue gives the port per mode).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Send to this base URL instead (`http://127.0.0.1:18106`); needs a single --mode.
    #[arg(long, conflicts_with = "host")]
    pub url: Option<String>,

    /// Ignore the catalogue's rate cap (the caps keep a demo from drowning a laptop).
    #[arg(long)]
    pub uncapped: bool,

    /// Per-request timeout in seconds; a request that times out counts as `conn`.
    #[arg(long = "timeout", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,

    /// Print the report as JSON (one object per mode) instead of text.
    #[arg(long)]
    pub json: bool,

    /// List the scenarios with their requests, rates and caps, then exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Modes {
    Sync,
    Async,
    Both,
}

impl Modes {
    fn modes(self) -> &'static [Mode] {
        match self {
            Modes::Sync => &[Mode::Sync],
            Modes::Async => &[Mode::Async],
            Modes::Both => &Mode::ALL,
        }
    }
}

fn parse_scenario(text: &str) -> Result<ScenarioId, String> {
    ScenarioId::parse(text).ok_or_else(|| format!("`{text}` is not a scenario: use s1…s8"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate: give requests per second, more than 0 and at most 1000000"
        )),
    }
}

/// The specs a command line asks for, one per mode, or why it cannot be run.
pub fn specs(args: &LoadArgs) -> anyhow::Result<Vec<LoadSpec>> {
    let Some(id) = args.scenario else {
        anyhow::bail!("a scenario is required (s1…s8); `ms-tui load --list` shows them");
    };
    let modes = args.mode.modes();
    if args.url.is_some() && modes.len() != 1 {
        anyhow::bail!("--url names one service: add --mode sync or --mode async");
    }
    let mut specs = Vec::with_capacity(modes.len());
    for &mode in modes {
        let mut spec = LoadSpec::for_stack(id, mode, &args.host);
        if let Some(url) = &args.url {
            let url = url.trim_end_matches('/');
            reqwest::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("--url {url}: not a URL ({e})"))?;
            spec.base_url = url.to_owned();
        }
        spec.uncapped = args.uncapped;
        if let Some(rate) = args.rate {
            spec.rate = rate;
        }
        spec.duration = Some(Duration::from_secs(args.duration_secs));
        spec.timeout = Duration::from_secs(args.timeout_secs);
        specs.push(spec);
    }
    Ok(specs)
}

/// Runs the command; exit status 1 when any answer was not one the scenario expects.
pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        print!("{}", catalogue_listing());
        return Ok(ExitCode::SUCCESS);
    }
    let specs = specs(&args)?;
    for spec in &specs {
        let asked = spec.rate;
        let rate = spec.effective_rate(asked);
        if rate < asked {
            eprintln!(
                "ms-tui load: {} {} is capped at {rate} req/s by the catalogue (--uncapped lifts it)",
                spec.scenario, spec.mode
            );
        }
    }
    let client = load_client();
    let handles: Vec<LoadHandle> = specs
        .into_iter()
        .map(|spec| super::start(spec, client.clone(), None))
        .collect();

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut elapsed = 0u64;
    let interrupted = loop {
        tokio::select! {
            _ = tick.tick() => {
                elapsed += 1;
                for h in &handles {
                    eprintln!("[{elapsed:>4}s] {}", progress_line(h.spec(), h.target_rate(), &h.summary()));
                }
                if handles.iter().all(LoadHandle::is_finished) {
                    break false;
                }
            }
            _ = tokio::signal::ctrl_c() => break true,
        }
    };
    if interrupted {
        eprintln!("ms-tui load: interrupted; waiting for the requests in flight");
        handles.iter().for_each(LoadHandle::stop);
    }

    let mut reports = Vec::with_capacity(handles.len());
    for h in handles {
        let spec = h.spec().clone();
        let target = h.target_rate();
        reports.push((spec, target, h.finish().await));
    }
    if args.json {
        let json: Vec<_> = reports
            .iter()
            .map(|(spec, target, s)| report_json(spec, *target, s))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for (spec, target, summary) in &reports {
            print!("{}", report_text(spec, *target, summary));
        }
    }
    let clean = reports.iter().all(|(_, _, s)| s.failed == 0);
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One pooled client for every request of the run, as oha keeps its connections: the
/// measurement is the service's, not TCP handshakes'.
pub fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .build()
        // Building only fails when the TLS backend cannot start; no TLS is configured.
        .unwrap_or_default()
}

pub fn progress_line(spec: &LoadSpec, target: f64, s: &Summary) -> String {
    format!(
        "{} {:<5} target {target:.0}/s  answers {}  achieved {:.1}/s  p50 {}  p99 {}  failed {}",
        spec.scenario,
        spec.mode,
        s.count,
        s.achieved_rate,
        ms(s.p50),
        ms(s.p99),
        s.failed
    )
}

pub fn report_text(spec: &LoadSpec, target: f64, s: &Summary) -> String {
    let entry = scenario::get(spec.scenario);
    let request = entry.request(spec.mode);
    format!(
        "{} {} — {} {}{}  target {target:.0} req/s (open model, latency from the intended send time)\n  \
         answers {}  expected {}  failed {}  achieved {:.1} req/s\n  \
         p50 {}  p95 {}  p99 {}  max {}\n  \
         statuses {}\n",
        spec.scenario,
        spec.mode,
        request.method,
        spec.base_url,
        request.path,
        s.count,
        s.ok,
        s.failed,
        s.achieved_rate,
        ms(s.p50),
        ms(s.p95),
        ms(s.p99),
        ms(s.max),
        s.labels()
    )
}

pub fn report_json(spec: &LoadSpec, target: f64, s: &Summary) -> serde_json::Value {
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    serde_json::json!({
        "scenario": spec.scenario,
        "mode": spec.mode,
        "url": format!("{}{}", spec.base_url, scenario::get(spec.scenario).request(spec.mode).path),
        "target_rate": target,
        "achieved_rate": s.achieved_rate,
        "answers": s.count,
        "expected": s.ok,
        "failed": s.failed,
        "p50_ms": millis(s.p50),
        "p95_ms": millis(s.p95),
        "p99_ms": millis(s.p99),
        "max_ms": millis(s.max),
        "statuses": s.by_label,
    })
}

/// `ms-tui load --list`: what each scenario sends in each mode, and its rates.
pub fn catalogue_listing() -> String {
    let mut text = String::new();
    for entry in &scenario::CATALOGUE {
        text.push_str(&format!(
            "{} {} — default {} req/s, cap {} req/s{}\n",
            entry.id,
            entry.title,
            entry.default_rate,
            entry.max_rate,
            entry
                .max_in_flight
                .map(|n| format!(", at most {n} in flight"))
                .unwrap_or_default()
        ));
        for mode in Mode::ALL {
            let r = entry.request(mode);
            text.push_str(&format!(
                "  {mode:<5} {} :{}{}  expects {:?}\n",
                r.method,
                r.port(mode),
                r.path,
                r.expected
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|c| c.load)
    }

    #[test]
    fn both_modes_target_the_catalogue_ports() {
        let specs = specs(&parse(&["s6", "-q", "300", "-z", "5"]).unwrap()).unwrap();
        let urls: Vec<_> = specs.iter().map(|s| s.base_url.as_str()).collect();
        assert_eq!(urls, ["http://127.0.0.1:8006", "http://127.0.0.1:8106"]);
        assert!(specs.iter().all(|s| s.rate == 300.0));
        assert_eq!(specs[0].duration, Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_url_needs_a_single_mode() {
        let args = parse(&["6", "--url", "http://127.0.0.1:18106"]).unwrap();
        assert!(specs(&args).unwrap_err().to_string().contains("--mode"));
        let args = parse(&["6", "--mode", "async", "--url", "http://127.0.0.1:18106/"]).unwrap();
        assert_eq!(specs(&args).unwrap()[0].base_url, "http://127.0.0.1:18106");
        let args = parse(&["6", "--mode", "async", "--url", "not a url"]).unwrap();
        assert!(specs(&args).is_err());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for bad in [
            &["s9"][..],
            &["s1", "-q", "0"],
            &["s1", "-q", "-5"],
            &["s1", "-q", "NaN"],
            &["s1", "-z", "0"],
            &["s1", "--mode", "both-ish"],
            &[],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = parse(&["s9"]).err().unwrap().to_string();
        assert!(err.contains("s1…s8"), "{err}");
        assert!(parse(&["--list"]).is_ok());
    }

    #[test]
    fn reports_name_the_numbers() {
        let spec = &specs(&parse(&["s1", "--mode", "async"]).unwrap()).unwrap()[0];
        let mut summary = Summary {
            count: 10,
            ok: 9,
            failed: 1,
            p50: Duration::from_micros(1500),
            p95: Duration::from_millis(12),
            p99: Duration::from_millis(1500),
            max: Duration::from_secs(2),
            achieved_rate: 9.9,
            by_label: Default::default(),
        };
        summary.by_label.insert("202".into(), 9);
        summary.by_label.insert("503".into(), 1);
        let text = report_text(spec, 10.0, &summary);
        for needle in [
            "S1 async",
            "p50 1.50 ms",
            "p95 12.0 ms",
            "p99 1.50 s",
            "202×9 503×1",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        let json = report_json(spec, 10.0, &summary);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["p50_ms"], 1.5);
        assert_eq!(json["scenario"], "s1");
        assert!(catalogue_listing().contains("S8"));
    }
}
