//! SDKs generated from the served `/openapi.json` by the real generators, as a client app's
//! developer would make them: openapi-python-client (checked with mypy --strict) and
//! @hey-api/openapi-ts (checked with tsc --strict). Each generator must say nothing but that it
//! generated, and each client then runs the whole flow of `tests/sdk/flow.{py,ts}` against the
//! service. The generators come, pinned, from `scripts/sdk-generators.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{project_tool, Backend, TestApp};

/// Runs `command` off the async runtime; returns whether it succeeded, its stdout and its stderr.
async fn run(mut command: Command) -> (bool, String, String) {
    let shown = format!("{command:?}");
    let output: Output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("{shown}: {error}"));
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// `text` without the terminal colour codes a generator prints.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars
                .by_ref()
                .take_while(|c| !c.is_ascii_alphabetic())
                .for_each(drop);
        } else {
            out.push(c);
        }
    }
    out
}

fn flow(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(file)
}

async fn python_client(tools: &Path, scratch: &Path, app: &TestApp) {
    let python = tools.join("python/bin");
    let config = scratch.join("openapi-python-client.yaml");
    // The default post-hooks run ruff, which a client app may or may not have.
    std::fs::write(&config, "post_hooks: []\n").unwrap();
    let mut generate = Command::new(python.join("openapi-python-client"));
    generate
        .current_dir(scratch)
        .args(["generate", "--path", "openapi.json", "--meta", "none"])
        .args(["--output-path", "orgsvc_client", "--config"])
        .arg(&config);
    let (ok, out, err) = run(generate).await;
    let said: Vec<&str> = out
        .lines()
        .chain(err.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        ok && said == ["Generating orgsvc_client"],
        "openapi-python-client said more than that it generated:\n{out}{err}"
    );

    let mut mypy = Command::new(python.join("mypy"));
    mypy.current_dir(scratch)
        .env("MYPYPATH", scratch)
        .args(["--strict", "--no-color-output", "--cache-dir"])
        .arg(scratch.join(".mypy_cache"))
        .arg(flow("flow.py"));
    let (ok, out, err) = run(mypy).await;
    assert!(ok, "mypy --strict on the Python flow:\n{out}{err}");

    let mut flow_run = Command::new(python.join("python"));
    flow_run
        .current_dir(scratch)
        .env("PYTHONPATH", scratch)
        .arg(flow("flow.py"))
        .arg(&app.address);
    let (ok, out, err) = run(flow_run).await;
    assert!(ok, "the Python client's flow:\n{out}{err}");
    assert!(out.contains("the whole flow passed"), "{out}{err}");
    eprintln!("{out}");
}

async fn typescript_client(tools: &Path, scratch: &Path) {
    let bin = tools.join("node/node_modules/.bin");
    let project = scratch.join("ts");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(flow("flow.ts"), project.join("flow.ts")).unwrap();
    let mut generate = Command::new(bin.join("openapi-ts"));
    generate
        .current_dir(&project)
        .args(["--input", "../openapi.json", "--output", "client"]);
    let (ok, out, err) = run(generate).await;
    let (out, err) = (plain(&out), plain(&err));
    let warned = err.trim() != "" || out.to_lowercase().contains("warn") || !out.contains("Done!");
    assert!(
        ok && !warned,
        "@hey-api/openapi-ts said more than that it generated:\n{out}{err}"
    );

    let types = tools.join("node/node_modules/@types");
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "strict": true, "noEmitOnError": true, "target": "es2022", "module": "commonjs",
            "lib": ["es2022", "dom"], "outDir": "out", "typeRoots": [types], "types": ["node"],
        },
        "files": ["flow.ts"],
    });
    std::fs::write(project.join("tsconfig.json"), tsconfig.to_string()).unwrap();
    let mut tsc = Command::new(bin.join("tsc"));
    tsc.current_dir(&project)
        .args(["--project", "tsconfig.json", "--pretty", "false"]);
    let (ok, out, err) = run(tsc).await;
    assert!(
        ok,
        "tsc --strict on the generated client and the TypeScript flow:\n{out}{err}"
    );

    let mut node = Command::new("node");
    node.current_dir(&project).arg("out/flow.js");
    let (ok, out, err) = run(node).await;
    assert!(ok, "the TypeScript client's flow:\n{out}{err}");
    assert!(out.contains("the whole flow passed"), "{out}{err}");
    eprintln!("{out}");
}

async fn generated_clients_run_the_whole_flow(app: TestApp) {
    let Some(tools) = project_tool("sdk-generators.sh") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let document = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(scratch.path().join("openapi.json"), document).unwrap();
    python_client(&tools, scratch.path(), &app).await;
    typescript_client(&tools, scratch.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_generated_clients_run_the_whole_flow() {
    let app = TestApp::spawn(Backend::Embedded, "sdk").await;
    generated_clients_run_the_whole_flow(app.expect("embedded always runs")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_generated_clients_run_the_whole_flow() {
    if let Some(app) = TestApp::spawn(crate::helpers::MONGODB, "sdk").await {
        generated_clients_run_the_whole_flow(app).await;
    }
}
