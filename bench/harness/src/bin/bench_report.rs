//! Turns the raw lines `bench/run.sh` collects into `bench/RESULTS.md`: medians over the
//! interleaved rounds, ratios to the echo baseline measured in the same run, the issue's
//! targets and pass/miss. It also prints the main table to stdout.
//!
//! Raw line kinds (one per line, `key=value` tokens after the kind):
//! - `META key=rest of line` — run metadata (commit, date, machine, parameters);
//! - `PHASE phase=… round=… requests=… rps=… p50_us=… p99_us=… non2xx=… … cpu_us_per_req=…`;
//! - `NI phase=…` — the phase's endpoint answered 501;
//! - `PROBE phase=… statuses=… first_error=…`;
//! - `SEED …`, `LISTWALK …` — the lines the `seed` and `listwalk` binaries print;
//! - `METRIC name=… value=…` — start-up times (ms) and RSS (KiB).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "bench-report",
    about = "Write bench/RESULTS.md from run.sh's raw results"
)]
struct Args {
    /// The raw results file written by run.sh.
    #[arg(long)]
    raw: PathBuf,
    /// Where to write the Markdown report.
    #[arg(long)]
    out: PathBuf,
    /// A hand-written analysis (why targets are missed) to include in the report.
    #[arg(long)]
    analysis: Option<PathBuf>,
}

type Fields = HashMap<String, String>;

struct Raw {
    meta: BTreeMap<String, String>,
    lines: Vec<(String, Fields)>,
}

fn parse(text: &str) -> Raw {
    let mut meta = BTreeMap::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((kind, rest)) = line.split_once(' ') else {
            continue;
        };
        if kind == "META" {
            if let Some((k, v)) = rest.split_once('=') {
                meta.insert(k.trim().to_string(), v.trim().to_string());
            }
            continue;
        }
        let mut fields = Fields::new();
        // `first_error=` is free text and always last.
        let (rest, first_error) = match rest.split_once("first_error=") {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        for tok in rest.split_whitespace() {
            if let Some((k, v)) = tok.split_once('=') {
                fields.insert(k.to_string(), v.to_string());
            }
        }
        if let Some(e) = first_error {
            fields.insert("first_error".into(), e.trim().to_string());
        }
        lines.push((kind.to_string(), fields));
    }
    Raw { meta, lines }
}

fn num(f: &Fields, k: &str) -> Option<f64> {
    f.get(k).and_then(|v| v.parse().ok())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

enum Check {
    /// req/s ≥ factor × the median req/s of that phase.
    RatioAtLeast(&'static str, f64),
    P99AtMostMs(f64),
    RecordsPerSecAtLeast(f64),
}

struct PhaseDef {
    key: &'static str,
    label: &'static str,
    records_per_request: f64,
    baseline: Option<&'static str>,
    checks: &'static [Check],
}

const PHASES: &[PhaseDef] = &[
    PhaseDef {
        key: "echo-get",
        label: "echo GET (baseline)",
        records_per_request: 1.0,
        baseline: None,
        checks: &[],
    },
    PhaseDef {
        key: "get",
        label: "GET by id",
        records_per_request: 1.0,
        baseline: Some("echo-get"),
        checks: &[
            Check::RatioAtLeast("echo-get", 0.7),
            Check::P99AtMostMs(5.0),
        ],
    },
    PhaseDef {
        key: "echo-patch",
        label: "echo PATCH (baseline)",
        records_per_request: 1.0,
        baseline: None,
        checks: &[],
    },
    PhaseDef {
        key: "patch",
        label: "PATCH 3 properties (durability process)",
        records_per_request: 1.0,
        baseline: Some("echo-patch"),
        checks: &[Check::RatioAtLeast("echo-patch", 0.4)],
    },
    PhaseDef {
        key: "echo-search",
        label: "echo search (baseline)",
        records_per_request: 1.0,
        baseline: None,
        checks: &[],
    },
    PhaseDef {
        key: "search-eq",
        label: "search EQ on email",
        records_per_request: 1.0,
        baseline: Some("echo-search"),
        checks: &[
            Check::RatioAtLeast("echo-get", 0.5),
            Check::P99AtMostMs(5.0),
        ],
    },
    PhaseDef {
        key: "batch-read",
        label: "batch read 100",
        records_per_request: 100.0,
        baseline: Some("echo-search"),
        checks: &[],
    },
    PhaseDef {
        key: "batch-upsert",
        label: "batch upsert 100 by email",
        records_per_request: 100.0,
        baseline: Some("echo-search"),
        checks: &[Check::RecordsPerSecAtLeast(50_000.0)],
    },
    PhaseDef {
        key: "search-range",
        label: "search range + sort, limit 100",
        records_per_request: 1.0,
        baseline: Some("echo-search"),
        checks: &[Check::P99AtMostMs(50.0)],
    },
    PhaseDef {
        key: "search-query",
        label: "search `query` name token",
        records_per_request: 1.0,
        baseline: Some("echo-search"),
        checks: &[Check::P99AtMostMs(50.0)],
    },
    PhaseDef {
        key: "search-under-writes",
        label: "search range + sort, 1 connection, while 64 connections PATCH (informative)",
        records_per_request: 1.0,
        baseline: None,
        checks: &[],
    },
    PhaseDef {
        key: "echo-patch-f",
        label: "echo PATCH (baseline, full-durability block)",
        records_per_request: 1.0,
        baseline: None,
        checks: &[],
    },
    PhaseDef {
        key: "patch-full",
        label: "PATCH 3 properties (`--durability full`)",
        records_per_request: 1.0,
        baseline: Some("echo-patch-f"),
        checks: &[Check::RatioAtLeast("echo-patch-f", 0.25)],
    },
];

#[derive(Default)]
struct PhaseStats {
    rounds: usize,
    rps: Option<f64>,
    rps_min: f64,
    rps_max: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    cpu_us: Option<f64>,
    non2xx: u64,
    socket_errors: u64,
    not_implemented: bool,
    probe_error: Option<String>,
}

fn stats(raw: &Raw, key: &str) -> PhaseStats {
    let mut s = PhaseStats::default();
    let mut rps = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut cpu = Vec::new();
    for (kind, f) in &raw.lines {
        if f.get("phase").map(String::as_str) != Some(key) {
            continue;
        }
        match kind.as_str() {
            "NI" => s.not_implemented = true,
            "PROBE" => {
                if let Some(e) = f.get("first_error").filter(|e| !e.is_empty()) {
                    s.probe_error = Some(e.clone());
                }
            }
            "PHASE" => {
                s.rounds += 1;
                rps.extend(num(f, "rps"));
                p50.extend(num(f, "p50_us"));
                p99.extend(num(f, "p99_us"));
                cpu.extend(num(f, "cpu_us_per_req"));
                s.non2xx += num(f, "non2xx").unwrap_or(0.0) as u64;
                s.socket_errors += ["connect_errors", "read_errors", "write_errors", "timeouts"]
                    .iter()
                    .map(|k| num(f, k).unwrap_or(0.0) as u64)
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    s.rps_min = rps.iter().copied().fold(f64::INFINITY, f64::min);
    s.rps_max = rps.iter().copied().fold(0.0, f64::max);
    s.rps = median(rps);
    s.p50_us = median(p50);
    s.p99_us = median(p99);
    s.cpu_us = median(cpu);
    s
}

fn fmt_int(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn fmt_lat(us: Option<f64>) -> String {
    match us {
        None => "–".into(),
        Some(us) if us < 1000.0 => format!("{us:.0} µs"),
        Some(us) => format!("{:.2} ms", us / 1000.0),
    }
}

fn fmt_kib(kib: f64) -> String {
    format!("{:.0} MiB", kib / 1024.0)
}

struct Row {
    cells: Vec<String>,
}

fn table(header: &[&str], rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        header.iter().map(|_| " --- |").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.cells.join(" | "));
    }
    s
}

fn phase_rows(raw: &Raw, all: &HashMap<&str, PhaseStats>) -> Vec<Row> {
    let mut rows = Vec::new();
    for def in PHASES {
        let s = &all[def.key];
        let mut cells = vec![format!("{} (`{}`)", def.label, def.key)];
        if s.not_implemented {
            cells.extend(["–", "–", "–", "–", "–", "–", "–"].map(String::from));
            cells.push(target_text(def));
            cells.push("not implemented (501)".into());
            rows.push(Row { cells });
            continue;
        }
        let Some(rps) = s.rps else {
            cells.extend(["–", "–", "–", "–", "–", "–", "–"].map(String::from));
            cells.push(target_text(def));
            cells.push("not run".into());
            rows.push(Row { cells });
            continue;
        };
        cells.push(format!(
            "{} ({}–{})",
            fmt_int(rps),
            fmt_int(s.rps_min),
            fmt_int(s.rps_max)
        ));
        cells.push(if def.records_per_request > 1.0 {
            fmt_int(rps * def.records_per_request)
        } else {
            "".into()
        });
        cells.push(fmt_lat(s.p50_us));
        cells.push(fmt_lat(s.p99_us));
        cells.push(s.cpu_us.map_or("–".into(), |c| format!("{c:.0}")));
        match def.baseline {
            Some(b) => {
                cells.push(format!("`{b}`"));
                cells.push(
                    all[b]
                        .rps
                        .map_or("–".into(), |base| format!("{:.2}×", rps / base)),
                );
            }
            None => cells.extend(["".to_string(), "".to_string()]),
        }
        cells.push(target_text(def));
        let mut results: Vec<String> = def
            .checks
            .iter()
            .map(|c| check_result(c, s, all, def))
            .collect();
        if s.non2xx > 0 || s.socket_errors > 0 {
            results.push(format!(
                "**flagged**: {} non-2xx, {} socket errors/timeouts",
                s.non2xx, s.socket_errors
            ));
        }
        cells.push(results.join("; "));
        rows.push(Row { cells });
    }
    let _ = raw;
    rows
}

fn target_text(def: &PhaseDef) -> String {
    def.checks
        .iter()
        .map(|c| match c {
            Check::RatioAtLeast(b, f) => format!("≥ {f} × `{b}`"),
            Check::P99AtMostMs(ms) => format!("p99 ≤ {ms} ms"),
            Check::RecordsPerSecAtLeast(r) => format!("≥ {} records/s", fmt_int(*r)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "**MISS**"
    }
}

fn check_result(
    c: &Check,
    s: &PhaseStats,
    all: &HashMap<&str, PhaseStats>,
    def: &PhaseDef,
) -> String {
    let rps = s.rps.unwrap_or(0.0);
    match c {
        Check::RatioAtLeast(b, f) => match all[b].rps {
            Some(base) => format!("{} ({:.2}× `{b}`)", pass(rps / base >= *f), rps / base),
            None => format!("n/a (`{b}` not measured)"),
        },
        Check::P99AtMostMs(ms) => match s.p99_us {
            Some(p) => format!("{} (p99 {})", pass(p <= ms * 1000.0), fmt_lat(Some(p))),
            None => "n/a".into(),
        },
        Check::RecordsPerSecAtLeast(r) => {
            let rate = rps * def.records_per_request;
            format!("{} ({} records/s)", pass(rate >= *r), fmt_int(rate))
        }
    }
}

fn find<'a>(raw: &'a Raw, kind: &str) -> Option<&'a Fields> {
    raw.lines.iter().find(|(k, _)| k == kind).map(|(_, f)| f)
}

fn metric(raw: &Raw, name: &str) -> Option<f64> {
    raw.lines
        .iter()
        .filter(|(k, f)| k == "METRIC" && f.get("name").map(String::as_str) == Some(name))
        .find_map(|(_, f)| num(f, "value"))
}

fn other_rows(raw: &Raw) -> Vec<Row> {
    let records = raw
        .meta
        .get("records")
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(0.0);
    let full_size = records >= 1_000_000.0;
    let mut rows = Vec::new();
    let row = |a: &str, b: String, c: &str, d: String| Row {
        cells: vec![a.to_string(), b, c.to_string(), d],
    };

    match find(raw, "SEED") {
        Some(f) => {
            let n = num(f, "records").unwrap_or(0.0);
            let secs = num(f, "seconds").unwrap_or(0.0);
            let rate = num(f, "records_per_s").unwrap_or(0.0);
            let single = f.get("mode").map(String::as_str) == Some("single");
            let value = format!(
                "{} records in {secs:.1} s = {} records/s{}",
                fmt_int(n),
                fmt_int(rate),
                if single {
                    " (via single creates: batch/create not implemented)"
                } else {
                    " (batch/create, 100 per request)"
                }
            );
            let result = if single {
                "n/a (single creates)".to_string()
            } else if full_size {
                pass(secs <= 30.0).to_string()
            } else {
                format!(
                    "{} (scaled: ≥ 33,334 records/s; {} records projects to {:.1} s for 1M)",
                    pass(rate >= 1_000_000.0 / 30.0),
                    fmt_int(n),
                    1_000_000.0 / rate.max(1e-9)
                )
            };
            rows.push(row("seeding", value, "1M in ≤ 30 s", result));
        }
        None => rows.push(row("seeding", "–".into(), "1M in ≤ 30 s", "not run".into())),
    }

    match find(raw, "LISTWALK") {
        Some(f) => {
            let status = f.get("status").map(String::as_str).unwrap_or("?");
            let rate = num(f, "records_per_s").unwrap_or(0.0);
            let value = format!(
                "{} records, {} pages in {:.1} s = {} records/s",
                fmt_int(num(f, "records").unwrap_or(0.0)),
                fmt_int(num(f, "pages").unwrap_or(0.0)),
                num(f, "seconds").unwrap_or(0.0),
                fmt_int(rate)
            );
            let result = match status {
                "ok" => pass(rate >= 100_000.0).to_string(),
                "not_implemented" => "not implemented (501)".to_string(),
                "timeout" => format!(
                    "{} (stopped at the time bound before the end)",
                    pass(rate >= 100_000.0)
                ),
                other => format!("error: {other}"),
            };
            rows.push(row(
                "list walk (limit 100, one connection)",
                if status == "not_implemented" {
                    "–".into()
                } else {
                    value
                },
                "≥ 100,000 records/s",
                result,
            ));
        }
        None => rows.push(row(
            "list walk (limit 100, one connection)",
            "–".into(),
            "≥ 100,000 records/s",
            "not run".into(),
        )),
    }

    let rss: Vec<(&str, f64)> = [
        ("after seeding", "rss_after_seed_kib"),
        ("after the phases", "rss_after_phases_kib"),
        ("peak (VmHWM) of that process", "hwm_after_phases_kib"),
        ("at the end (restarted server)", "rss_end_kib"),
    ]
    .iter()
    .filter_map(|(label, name)| metric(raw, name).map(|v| (*label, v)))
    .collect();
    if !rss.is_empty() {
        let value = rss
            .iter()
            .map(|(l, v)| format!("{} {l}", fmt_kib(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        // The target is on the resident set with the store loaded, not on the transient peak.
        let worst = rss
            .iter()
            .filter(|(l, _)| !l.starts_with("peak"))
            .map(|(_, v)| *v)
            .fold(0.0, f64::max);
        let ok = worst <= 1024.0 * 1024.0;
        let result = if full_size {
            pass(ok).to_string()
        } else {
            format!(
                "{} at {} records (the target is for 1M)",
                pass(ok),
                fmt_int(records)
            )
        };
        rows.push(row("server RSS", value, "≤ 1 GiB at 1M contacts", result));
    }

    let disk: Vec<String> = [
        ("after seeding", "after_seed"),
        ("after the phases", "after_phases"),
    ]
    .iter()
    .filter_map(|(label, when)| {
        let store = metric(raw, &format!("store_{when}_kib"))?;
        let wal = metric(raw, &format!("wal_{when}_kib")).unwrap_or(0.0);
        Some(format!("{} {label} (WAL {})", fmt_kib(store), fmt_kib(wal)))
    })
    .collect();
    if !disk.is_empty() {
        rows.push(row(
            "store on disk",
            disk.join(", "),
            "–",
            "informative".to_string(),
        ));
    }

    for (name, label) in [
        ("startup_empty_ms", "start-up, empty store"),
        ("startup_populated_ms", "start-up, populated store"),
    ] {
        if let Some(ms) = metric(raw, name) {
            rows.push(row(
                label,
                format!("{ms:.0} ms (launch to the listening line)"),
                "≤ 1 s",
                pass(ms <= 1000.0).to_string(),
            ));
        }
    }
    rows
}

fn rounds_rows(raw: &Raw) -> Vec<Row> {
    raw.lines
        .iter()
        .filter(|(k, _)| k == "PHASE")
        .map(|(_, f)| {
            let g = |k: &str| f.get(k).cloned().unwrap_or_default();
            Row {
                cells: vec![
                    g("round"),
                    format!("`{}`", g("phase")),
                    fmt_int(num(f, "rps").unwrap_or(0.0)),
                    fmt_lat(num(f, "p50_us")),
                    fmt_lat(num(f, "p99_us")),
                    g("non2xx"),
                    format!(
                        "{}/{}/{}/{}",
                        g("connect_errors"),
                        g("read_errors"),
                        g("write_errors"),
                        g("timeouts")
                    ),
                    g("cpu_us_per_req"),
                ],
            }
        })
        .collect()
}

fn report(raw: &Raw) -> (String, String) {
    let all: HashMap<&str, PhaseStats> =
        PHASES.iter().map(|d| (d.key, stats(raw, d.key))).collect();
    let m = |k: &str| raw.meta.get(k).cloned().unwrap_or_else(|| "?".into());
    let main = table(
        &[
            "phase",
            "req/s median (min–max)",
            "records/s",
            "p50",
            "p99",
            "server CPU µs/req",
            "baseline",
            "ratio",
            "target",
            "result",
        ],
        &phase_rows(raw, &all),
    );
    let other = table(&["measure", "value", "target", "result"], &other_rows(raw));

    let mut md = String::new();
    let _ = writeln!(md, "# Spoke benchmark results\n");
    let _ = writeln!(
        md,
        "Written by `bash bench/run.sh` (see [README.md](README.md)); do not edit by hand.\n"
    );
    let _ = writeln!(md, "- Commit measured: `{}`", m("commit"));
    let _ = writeln!(md, "- Date: {}", m("date"));
    let _ = writeln!(
        md,
        "- Machine: {} CPUs ({}), {} RAM, Linux {}",
        m("cpus"),
        m("cpu_model"),
        m("mem"),
        m("kernel")
    );
    if let Some(store) = raw.meta.get("store") {
        let _ = writeln!(md, "- Store: {store}");
    }
    if let Some(pg) = raw.meta.get("postgres") {
        let _ = writeln!(md, "- PostgreSQL: {pg}");
    }
    let _ = writeln!(md, "- Tools: {}; {}", m("wrk"), m("rustc"));
    let _ = writeln!(
        md,
        "- Parameters: {} seeded contacts; {} rounds of {} s per phase, interleaved with the echo \
         baseline; `wrk -t1 -c{}`; batch upsert {} % new emails",
        m("records"),
        m("rounds"),
        m("phase_seconds"),
        m("connections"),
        m("upsert_new_percent")
    );
    let _ = writeln!(md, "- Command: `{}`\n", m("command"));
    let _ = writeln!(md, "## Phases\n");
    let _ = writeln!(
        md,
        "Medians over the rounds; the ratio is this phase's median req/s over its baseline's \
         median req/s (same run, interleaved). \"server CPU µs/req\" is the server process's \
         user+system CPU time over the phase divided by its requests (steadier than req/s on a \
         noisy machine). A **flagged** phase had non-2xx responses or socket errors: its numbers \
         do not measure the intended work.\n"
    );
    md.push_str(&main);
    let _ = writeln!(md, "\n## Seeding, list walk, memory, start-up\n");
    md.push_str(&other);

    let notes: Vec<String> = PHASES
        .iter()
        .filter_map(|d| {
            let s = &all[d.key];
            s.probe_error
                .as_ref()
                .filter(|_| !s.not_implemented)
                .map(|e| format!("- `{}`: first non-2xx response in the probe: `{e}`", d.key))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(md, "\n## Errors seen\n");
        for n in &notes {
            let _ = writeln!(md, "{n}");
        }
    }
    let _ = writeln!(md, "\n## Every round\n");
    md.push_str(&table(
        &[
            "round",
            "phase",
            "req/s",
            "p50",
            "p99",
            "non-2xx",
            "errors connect/read/write/timeout",
            "server CPU µs/req",
        ],
        &rounds_rows(raw),
    ));
    let console = format!("{main}\n{other}");
    (md, console)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.raw) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench-report: cannot read {}: {e}", args.raw.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let (mut md, console) = report(&parse(&text));
    if let Some(text) = args
        .analysis
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        // The analysis sits after the tables it explains, before the per-round detail.
        let at = md.find("\n## Every round").unwrap_or(md.len());
        md.insert_str(at, &format!("\n{}\n", text.trim_end()));
    }
    if let Err(e) = std::fs::write(&args.out, md) {
        eprintln!("bench-report: cannot write {}: {e}", args.out.display());
        return std::process::ExitCode::FAILURE;
    }
    print!("{console}");
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ratios_and_not_implemented() {
        let raw = parse(
            "META records=2000\n\
             PHASE phase=echo-get round=1 rps=1000 p50_us=100 p99_us=900 non2xx=0\n\
             PHASE phase=echo-get round=2 rps=3000 p50_us=100 p99_us=900 non2xx=0\n\
             PHASE phase=echo-get round=3 rps=2000 p50_us=100 p99_us=900 non2xx=0\n\
             PHASE phase=get round=1 rps=1500 p50_us=100 p99_us=4000 non2xx=0\n\
             PHASE phase=patch round=1 rps=900 p50_us=100 p99_us=4000 non2xx=7\n\
             NI phase=search-eq\n\
             PROBE phase=patch statuses=400:3 first_error=400 {\"message\": \"bad\"}\n",
        );
        let s = stats(&raw, "echo-get");
        assert_eq!(s.rps, Some(2000.0));
        assert_eq!(s.rounds, 3);
        assert!(stats(&raw, "search-eq").not_implemented);
        assert_eq!(
            stats(&raw, "patch").probe_error.as_deref(),
            Some("400 {\"message\": \"bad\"}")
        );
        let (md, _) = report(&raw);
        assert!(md.contains("0.75×"), "{md}");
        assert!(md.contains("not implemented (501)"));
        assert!(md.contains("**flagged**: 7 non-2xx"), "{md}");
    }

    #[test]
    fn thousands() {
        assert_eq!(fmt_int(1234567.4), "1,234,567");
        assert_eq!(fmt_int(999.0), "999");
    }
}
