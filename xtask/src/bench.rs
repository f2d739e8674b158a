//! `cargo xtask bench`: builds the release console and the bench pages, then measures the
//! guard and react-idle-timer side by side in headless Chromium (`bench/harness/main.js`)
//! and prints the JSON report (also written to `bench/out/report.json`). The word
//! `login-flood` in `--only` runs the sign-in flood of [`crate::login_flood`] (needs only
//! the release server; its report goes to `bench/out/login-flood.json`), and the word
//! `server` the load benchmark of [`crate::server_bench`] (`bench/out/server.json`).

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
    let mut login_flood = false;
    let mut server_load = false;
    let mut browser_figures = true;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => harness_args.push(arg.clone()),
            "--only" => {
                let words = rest.next().ok_or("--only needs WORD[,WORD...]")?;
                let others: Vec<&str> = words
                    .split(',')
                    .filter(|w| {
                        let flood = *w == "login-flood";
                        let server = *w == "server";
                        login_flood |= flood;
                        server_load |= server;
                        !flood && !server
                    })
                    .collect();
                browser_figures = !others.is_empty();
                if browser_figures {
                    harness_args.push(arg.clone());
                    harness_args.push(others.join(","));
                }
            }
            other => return Err(format!("unknown bench option {other}\n{}", crate::USAGE)),
        }
    }
    if login_flood {
        crate::build_server(root)?;
        let report = crate::login_flood::run(root)?;
        println!("{report}");
        let out = root.join("bench/out");
        std::fs::create_dir_all(&out).map_err(|e| format!("bench/out: {e}"))?;
        std::fs::write(out.join("login-flood.json"), format!("{report}\n"))
            .map_err(|e| format!("bench/out/login-flood.json: {e}"))?;
        if !browser_figures && !server_load {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let toolbox = tools::Toolbox::new(root)?;
    if server_load {
        crate::build_server(root)?;
        let report = crate::server_bench::run(root, &toolbox)?;
        println!("{report}");
        let out = root.join("bench/out");
        std::fs::create_dir_all(&out).map_err(|e| format!("bench/out: {e}"))?;
        std::fs::write(out.join("server.json"), format!("{report}\n"))
            .map_err(|e| format!("bench/out/server.json: {e}"))?;
        if !browser_figures {
            return Ok(ExitCode::SUCCESS);
        }
    }
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
