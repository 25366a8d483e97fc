//! Swagger UI in a real browser: headless Chromium, driven by Playwright, does what a new user
//! does at /docs (tests/browser/swagger-ui.mjs): create an organization with "Try it out", log
//! in, Authorize with the token, read the organization and store a document, reading each answer
//! off the page. Chromium and playwright-core come from `scripts/browser.sh`.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{project_tool, Backend, TestApp};

#[tokio::test]
async fn a_new_user_gets_through_swagger_ui_in_chromium() {
    let Some(modules) = project_tool("browser.sh") else {
        return;
    };
    let app = TestApp::spawn(Backend::Embedded, "swagger_ui_in_chromium")
        .await
        .expect("embedded always runs");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/swagger-ui.mjs");
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("swagger-ui.png");
    let _ = std::fs::remove_file(&screenshot);
    let url = app.url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("ORGSVC_URL", url.trim_end_matches('/'))
            .env("PLAYWRIGHT_MODULES", modules)
            .env("SCREENSHOT", &screenshot)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    eprintln!("{said}");
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("swagger-ui.png");
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {}: {size} bytes",
        screenshot.display()
    );
}
