//! `ms-tui fault`: make one fault without the control room, list the faults in force, or
//! clear them all.
//!
//! Service faults return at once (the service clears them at their TTL). Platform faults keep
//! the command in the foreground until `--for` ends, then revert; Ctrl-C, SIGTERM or SIGHUP
//! revert early. Bad input is refused before anything is touched: a message, exit 2.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use super::control::{self, Faults};
use super::{ActiveFault, FaultKind, FaultMsg, FaultRequest, FaultTarget};
use crate::admin::AdminSettings;
use crate::docker::Project;
use crate::stack::StackOptions;

/// Exit status of a refused command line (as clap's own).
const BAD_INPUT: u8 = 2;
/// Doses and durations the services accept (and ms-tui holds platform faults for).
const MAX_MS: u64 = 60_000;
const MAX_FOR: Duration = Duration::from_secs(3600);
const DEFAULT_FOR: Duration = Duration::from_secs(30);

const EXAMPLES: &str = "\
Examples:
  ms-tui fault search --mode sync latency --ms 1000 --for 30s
  ms-tui fault payment --mode async errors --rate 0.5 --status 500 --route /pay
  ms-tui fault email --mode async slow-consumer --ms 300 --for 2m
  ms-tui fault inventory --mode sync partition --for 20s
  ms-tui fault payment pause --for 10s              (--mode defaults to sync)
  ms-tui fault rabbitmq stop --for 30s              (a broker outage: pause or stop)
  ms-tui fault --list
  ms-tui fault --clear

Service faults (latency, errors, slow-consumer) go to the service's PUT /admin/faults and
return at once: the service clears the fault itself when --for ends. Platform faults
(partition, pause, stop, kill) stay in the foreground until --for ends, then revert;
Ctrl-C or SIGTERM reverts early. A partition takes the container off the stack's network
(it keeps running, reaching no broker, database or peer) and reconnects it with its compose
aliases. --list reads what is in force from the platform itself (paused, stopped or
disconnected containers, each service's GET /admin/faults), so it also shows what a killed
ms-tui left; --clear reverts all of it.

Network delay or loss between containers (tc netem) is not available: this kernel has no
netem (`tc qdisc add ... netem` fails with \"qdisc kind is unknown\").";

/// `ms-tui fault`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = EXAMPLES)]
pub struct FaultArgs {
    /// The target: a service (user, payment, product, report, order, analytics, email,
    /// search, cache, inventory), `gateway`, or `rabbitmq` / `postgres` (an outage: pause or
    /// stop). `async/email` and `email-async` name the mode too; `email#2` names the second
    /// consumer of async e-mail (a replica, `ms-tui scale`).
    pub target: Option<String>,

    /// latency | errors | slow-consumer | partition | pause | stop | kill
    pub kind: Option<String>,

    /// The stack of a service target (default sync).
    #[arg(long)]
    pub mode: Option<String>,

    /// latency: milliseconds added before each matching request (0–60000);
    /// slow-consumer: before each consumed message.
    #[arg(long)]
    pub ms: Option<u64>,

    /// latency: uniform extra of up to this many milliseconds (0–60000).
    #[arg(long)]
    pub jitter_ms: Option<u64>,

    /// errors: the share of matching requests that fail (0 < R ≤ 1; default 1).
    #[arg(long)]
    pub rate: Option<f64>,

    /// errors: the status they answer (500–599; default 503).
    #[arg(long)]
    pub status: Option<u16>,

    /// latency / errors: only paths starting with this (e.g. /search).
    #[arg(long)]
    pub route: Option<String>,

    /// How long it lasts: 30s, 2m, 500ms, 1h or plain seconds (1 s – 1 h; default 30s).
    #[arg(long = "for")]
    pub duration: Option<String>,

    /// Print every fault in force (exit 0, also when there is none).
    #[arg(long)]
    pub list: bool,

    /// Revert every fault in force, whoever made it.
    #[arg(long)]
    pub clear: bool,

    /// Host of the stack's published ports (the services' admin API).
    #[arg(long, env = "MS_TUI_HOST", default_value = "127.0.0.1")]
    pub host: String,

    #[command(flatten)]
    pub stack: StackOptions,
}

/// What a valid command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    List,
    Clear,
    Make(FaultRequest),
}

/// Checks the command line; nothing is touched before this says yes.
pub fn plan(args: &FaultArgs) -> Result<Plan, String> {
    let dose_given = args.ms.is_some()
        || args.jitter_ms.is_some()
        || args.rate.is_some()
        || args.status.is_some()
        || args.route.is_some()
        || args.duration.is_some()
        || args.mode.is_some();
    if args.list || args.clear {
        if args.list && args.clear {
            return Err("--list and --clear go alone, not together".into());
        }
        if args.target.is_some() || args.kind.is_some() || dose_given {
            return Err(format!(
                "--{} takes no target, kind or dose",
                if args.list { "list" } else { "clear" }
            ));
        }
        return Ok(if args.list { Plan::List } else { Plan::Clear });
    }
    let (Some(target), Some(kind)) = (&args.target, &args.kind) else {
        return Err("name a target and a fault kind, e.g. `ms-tui fault search latency --ms 500`, or use --list / --clear".into());
    };
    let target = parse_target(target, args.mode.as_deref())?;
    let kind = parse_kind(kind, args)?;
    if args.route.is_some() && !matches!(kind, FaultKind::Latency { .. } | FaultKind::Errors { .. })
    {
        return Err("--route applies to latency and errors only".into());
    }
    if let Some(route) = &args.route
        && !route.starts_with('/')
    {
        return Err(format!("--route {route}: a path prefix starts with /"));
    }
    let duration = match &args.duration {
        Some(text) => parse_duration(text)?,
        None => DEFAULT_FOR,
    };
    control::check(&target, &kind).map_err(|e| format!("{e:#}"))?;
    Ok(Plan::Make(FaultRequest {
        target,
        kind,
        route_prefix: args.route.clone(),
        duration,
    }))
}

/// `email` (with `--mode`), `async/email`, `email-async`, `gateway`, `rabbitmq`; `#n` after
/// an async service names its replica n (`async/email#2`, `email#2 --mode async`).
fn parse_target(text: &str, mode: Option<&str>) -> Result<FaultTarget, String> {
    let Some((text, number)) = text.split_once('#') else {
        return parse_main_target(text, mode);
    };
    let replica: u32 = number
        .parse()
        .map_err(|_| format!("#{number}: a replica's number is 1, 2, …"))?;
    // A replica is async by nature: a bare service name means its async consumer.
    let main = parse_main_target(text, mode.or(Some("async")))
        .or_else(|_| parse_main_target(text, mode))?;
    let service = common::scenario::Service::ALL
        .into_iter()
        .find(|s| s.name() == main.service);
    match service {
        Some(s) if main.group == "async" && crate::stack::scale::scalable(s) && replica >= 1 => {
            Ok(FaultTarget::replica_of(&main.service, replica))
        }
        _ if replica == 0 => Err(format!(
            "{text}#0: replicas are numbered from 1 (the main container)"
        )),
        _ => Err(format!(
            "{text}#{replica}: only the consumers of an async service have replicas (ms-tui scale --help)"
        )),
    }
}

fn parse_main_target(text: &str, mode: Option<&str>) -> Result<FaultTarget, String> {
    let mode = match mode {
        None => None,
        Some(m @ ("sync" | "async")) => Some(m),
        Some(other) => return Err(format!("--mode {other}: sync or async")),
    };
    let (named, service) = if let Some((m, s)) = text.split_once('/') {
        (Some(m), s)
    } else if let Some(s) = text.strip_suffix("-async") {
        (Some("async"), s)
    } else if let Some(s) = text.strip_suffix("-sync") {
        (Some("sync"), s)
    } else {
        (None, text)
    };
    let infra = ["gateway", "rabbitmq", "postgres"].contains(&service);
    if infra {
        if mode.is_some() || named.is_some_and(|m| m != "infra") {
            return Err(format!(
                "{service} is shared by both stacks: it takes no --mode"
            ));
        }
        return Ok(FaultTarget {
            group: "infra".into(),
            service: service.into(),
        });
    }
    let known = common::scenario::Service::ALL
        .iter()
        .any(|s| s.name() == service);
    if !known {
        return Err(format!(
            "{text}: no such target; one of user, payment, product, report, order, analytics, \
             email, search, cache, inventory, gateway, rabbitmq, postgres"
        ));
    }
    let group = match (named, mode) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!("{text} is {a}, but --mode says {b}"));
        }
        (Some(m @ ("sync" | "async")), _) | (None, Some(m)) => m,
        (Some(other), _) => return Err(format!("{text}: {other} is not sync or async")),
        (None, None) => "sync",
    };
    Ok(FaultTarget {
        group: group.into(),
        service: service.into(),
    })
}

fn parse_kind(word: &str, args: &FaultArgs) -> Result<FaultKind, String> {
    let only = |allowed: &[&str]| -> Result<(), String> {
        let given = [
            ("ms", args.ms.is_some()),
            ("jitter-ms", args.jitter_ms.is_some()),
            ("rate", args.rate.is_some()),
            ("status", args.status.is_some()),
        ];
        match given
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
        {
            Some((name, _)) => Err(format!("--{name} does not apply to {word}")),
            None => Ok(()),
        }
    };
    let ms = |what: &str| -> Result<u64, String> {
        match args.ms {
            None => Err(format!("{what} needs --ms N (1–{MAX_MS})")),
            Some(ms) if ms > MAX_MS => Err(format!("--ms {ms}: at most {MAX_MS}")),
            Some(ms) => Ok(ms),
        }
    };
    match word {
        "latency" => {
            only(&["ms", "jitter-ms"])?;
            let jitter_ms = args.jitter_ms.unwrap_or(0);
            if jitter_ms > MAX_MS {
                return Err(format!("--jitter-ms {jitter_ms}: at most {MAX_MS}"));
            }
            let ms = ms("latency")?;
            if ms == 0 && jitter_ms == 0 {
                return Err("latency of 0 ms and no jitter injects nothing".into());
            }
            Ok(FaultKind::Latency { ms, jitter_ms })
        }
        "errors" => {
            only(&["rate", "status"])?;
            let rate = args.rate.unwrap_or(1.0);
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(format!("--rate {rate}: a share above 0 and at most 1"));
            }
            let status = args.status.unwrap_or(503);
            if !(500..=599).contains(&status) {
                return Err(format!("--status {status}: 500–599"));
            }
            Ok(FaultKind::Errors { rate, status })
        }
        "slow-consumer" => {
            only(&["ms"])?;
            match ms("slow-consumer")? {
                0 => Err("slow-consumer of 0 ms injects nothing".into()),
                ms => Ok(FaultKind::SlowConsumer { ms }),
            }
        }
        "partition" | "pause" | "stop" | "kill" => {
            only(&[])?;
            Ok(match word {
                "partition" => FaultKind::Partition,
                "pause" => FaultKind::Pause,
                "stop" => FaultKind::Stop,
                _ => FaultKind::Kill,
            })
        }
        other => Err(format!(
            "{other}: no such fault; one of latency, errors, slow-consumer, partition, pause, \
             stop, kill"
        )),
    }
}

/// `30s`, `2m`, `1h`, `500ms`, `45`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::units::duration(text, true).map_err(|e| format!("--for {e}"))?;
    if duration < Duration::from_secs(1) || duration > MAX_FOR {
        return Err(format!("--for {}: between 1s and 1h", text.trim()));
    }
    Ok(duration)
}

/// Runs `ms-tui fault`.
pub async fn run(args: FaultArgs) -> anyhow::Result<ExitCode> {
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("ms-tui fault: {message}\n(nothing was changed; see ms-tui fault --help)");
            return Ok(ExitCode::from(BAD_INPUT));
        }
    };
    let admin = AdminSettings::discover(&args.host, &args.stack);
    let mut faults = Faults::new(Project::default(), admin);
    match plan {
        Plan::List => list(&mut faults).await,
        Plan::Clear => clear(&mut faults).await,
        Plan::Make(request) if request.kind.is_service_fault() => {
            let fault = faults.apply(&request).await?;
            println!(
                "made {} ({}{}), for {}; the service clears it by itself",
                fault.key(),
                fault.kind.dose(),
                route(&fault),
                seconds(request.duration)
            );
            Ok(ExitCode::SUCCESS)
        }
        Plan::Make(request) => hold(&mut faults, &request).await,
    }
}

async fn list(faults: &mut Faults) -> anyhow::Result<ExitCode> {
    let (list, error) = faults.list().await;
    if let Some(error) = &error {
        eprintln!(
            "ms-tui fault: the Docker engine cannot be read ({error}); platform faults are not listed"
        );
    }
    if list.is_empty() {
        println!("no faults in force");
    }
    let now = std::time::SystemTime::now();
    for fault in &list {
        let left = match fault.time_left(now) {
            Some(left) => format!("{} left", seconds(left)),
            None => "no known end (left by an ms-tui that is gone?)".into(),
        };
        println!(
            "{:<32} {:<22} {left}",
            fault.key(),
            format!("{}{}", fault.kind.dose(), route(fault))
        );
    }
    Ok(if error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn clear(faults: &mut Faults) -> anyhow::Result<ExitCode> {
    let reports = faults.revert_all("cleared by ms-tui fault --clear").await;
    if reports.is_empty() {
        println!("no faults in force; nothing to clear");
    }
    Ok(print_reports(&reports))
}

/// A platform fault: made, held until `--for` ends or a signal, then reverted.
async fn hold(faults: &mut Faults, request: &FaultRequest) -> anyhow::Result<ExitCode> {
    // Before the fault is made: from here on these signals revert instead of killing.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let fault = faults.apply(request).await?;
    let began = Instant::now();
    println!(
        "made {} for {} (Ctrl-C or SIGTERM reverts it early)",
        fault.key(),
        seconds(request.duration)
    );
    let why = tokio::select! {
        _ = tokio::time::sleep(request.duration) => "--for ended",
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "Ctrl-C",
        _ = hangup.recv() => "SIGHUP",
    };
    println!("{why} after {}: reverting", seconds(began.elapsed()));
    let reports = faults.revert_ours(why).await;
    Ok(print_reports(&reports))
}

/// One line per report; failure when any revert failed.
fn print_reports(reports: &[FaultMsg]) -> ExitCode {
    let mut failed = false;
    for report in reports {
        match report {
            FaultMsg::Reverted { key, why } => println!("reverted {key} ({why})"),
            FaultMsg::Failed {
                key,
                error,
                unrevertable,
            } => {
                failed = true;
                let still = if *unrevertable {
                    " — IT IS STILL IN FORCE; try `ms-tui fault --clear` when Docker answers"
                } else {
                    ""
                };
                eprintln!("ms-tui fault: could NOT revert {key}: {error}{still}");
            }
            FaultMsg::Applied(_) | FaultMsg::Active(_) => {}
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn route(fault: &ActiveFault) -> String {
    fault
        .route_prefix
        .as_ref()
        .map(|r| format!(" on {r}*"))
        .unwrap_or_default()
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FaultArgs,
    }

    fn plan_of(line: &str) -> Result<Plan, String> {
        let words = std::iter::once("fault").chain(line.split_whitespace());
        plan(&Cli::try_parse_from(words).map_err(|e| e.to_string())?.args)
    }

    fn made(line: &str) -> FaultRequest {
        match plan_of(line) {
            Ok(Plan::Make(request)) => request,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn good_lines_make_the_fault_they_say() {
        let r =
            made("search --mode sync latency --ms 1000 --jitter-ms 200 --route /search --for 2m");
        assert_eq!(r.target, FaultTarget::service("search", common::Mode::Sync));
        assert_eq!(
            r.kind,
            FaultKind::Latency {
                ms: 1000,
                jitter_ms: 200
            }
        );
        assert_eq!(r.route_prefix.as_deref(), Some("/search"));
        assert_eq!(r.duration, Duration::from_secs(120));
        let r = made("async/payment errors --rate 0.5");
        assert_eq!(r.target.label(), "async/payment");
        assert_eq!(
            r.kind,
            FaultKind::Errors {
                rate: 0.5,
                status: 503
            }
        );
        assert_eq!(r.duration, DEFAULT_FOR);
        assert_eq!(made("email-async partition").target.label(), "async/email");
        assert_eq!(
            made("payment pause --for 10").target.label(),
            "sync/payment"
        );
        let r = made("rabbitmq stop --for 20s");
        assert_eq!(
            (r.target.label(), r.kind),
            ("infra/rabbitmq".into(), FaultKind::Stop)
        );
        assert_eq!(made("gateway partition").target.label(), "infra/gateway");
        assert_eq!(plan_of("--list"), Ok(Plan::List));
        assert_eq!(plan_of("--clear"), Ok(Plan::Clear));
    }

    #[test]
    fn a_replica_is_named_by_its_number_after_an_async_consumer() {
        assert_eq!(made("email#2 kill").target.label(), "async/email#2");
        assert_eq!(made("async/email#3 pause").target.label(), "async/email#3");
        assert_eq!(made("email-async#2 stop").target.label(), "async/email#2");
        let slow = made("payment#2 --mode async slow-consumer --ms 300");
        assert_eq!(slow.target, FaultTarget::replica_of("payment", 2));
        // #1 is the main container itself.
        assert_eq!(made("email#1 kill").target.label(), "async/email");
        for (line, says) in [
            ("user#2 kill", "only the consumers"),
            ("email#2 --mode sync kill", "only the consumers"),
            ("rabbitmq#2 stop", "only the consumers"),
            ("email#0 kill", "numbered from 1"),
            ("email#x kill", "a replica's number"),
        ] {
            let error = plan_of(line).unwrap_err();
            assert!(error.contains(says), "{line}: {error}");
        }
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        for (line, says) in [
            ("", "name a target"),
            ("search", "name a target"),
            ("nosuch pause", "no such target"),
            ("search nap", "no such fault"),
            ("search latency", "needs --ms"),
            ("search latency --ms 60001", "at most 60000"),
            ("search latency --ms 0", "injects nothing"),
            ("search errors --rate 1.5", "--rate"),
            ("search errors --rate 0", "--rate"),
            ("search errors --status 404", "500–599"),
            ("search partition --ms 5", "--ms does not apply"),
            ("search pause --route /x", "--route applies"),
            ("search latency --ms 5 --route x", "starts with /"),
            ("search --mode both pause", "sync or async"),
            ("search-async --mode sync pause", "--mode says sync"),
            (
                "email --mode sync slow-consumer --ms 100",
                "consume no messages",
            ),
            ("rabbitmq partition", "pause or a stop"),
            ("postgres kill", "pause or a stop"),
            ("rabbitmq --mode async pause", "takes no --mode"),
            ("rabbitmq latency --ms 5", "no admin API"),
            ("gateway errors", "no admin API"),
            ("search pause --for 0s", "between 1s and 1h"),
            ("search pause --for 2h", "between 1s and 1h"),
            ("search pause --for soon", "a duration like"),
            ("search pause --for 3d", "units are"),
            ("--list --clear", "not together"),
            ("--list search", "takes no target"),
            ("--clear --for 5s", "takes no target"),
        ] {
            match plan_of(line) {
                Err(message) => assert!(message.contains(says), "{line:?}: {message}"),
                Ok(plan) => panic!("{line:?} was accepted: {plan:?}"),
            }
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    }
}
