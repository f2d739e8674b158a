//! `cargo xtask bench`: builds the release console and the bench pages, then measures the
//! guard and react-idle-timer side by side in headless Chromium (`bench/harness/main.js`)
//! and prints the JSON report (also written to `bench/out/report.json`).

use std::path::Path;
use std::process::{Command, ExitCode};

use crate::{run, tools};

/// The two bench pages: (html file, dist folder under `bench/out/site`, public URL).
const BENCH_PAGES: [(&str, &str, &str); 2] = [
    ("bench/pages/plain.html", "bench/out/site/plain", "/plain/"),
    (
        "bench/pages/guarded.html",
        "bench/out/site/guard",
        "/guard/",
    ),
];

/// Runs the benchmark; `--quick` (fewer samples) and `--only WORD,...` go to the harness.
pub fn run(root: &Path, args: &[String]) -> Result<ExitCode, String> {
    let mut harness_args = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => harness_args.push(arg.clone()),
            "--only" => {
                harness_args.push(arg.clone());
                harness_args.push(rest.next().ok_or("--only needs WORD[,WORD...]")?.clone());
            }
            other => return Err(format!("unknown bench option {other}\n{}", crate::USAGE)),
        }
    }
    let toolbox = tools::Toolbox::new(root)?;
    toolbox.ensure_build_tools()?;
    let bench_dir = root.join("bench");
    toolbox.ensure_node_packages(&bench_dir)?;

    crate::build_console(root)?;
    for (html, dist, public_url) in BENCH_PAGES {
        run::status(
            Command::new("trunk")
                .args(["build", html, "--release", "--offline=true", "--dist", dist])
                .args(["--public-url", public_url])
                .current_dir(root),
        )?;
    }
    crate::build_server(root)?;
    // The harness prints the report on stdout and its progress on stderr.
    run::status(
        Command::new("node")
            .arg(bench_dir.join("harness/main.js"))
            .arg("--root")
            .arg(root)
            .args(&harness_args)
            .current_dir(root),
    )?;
    Ok(ExitCode::SUCCESS)
}
