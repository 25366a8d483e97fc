//! The command line, as an operator meets it: help, version, the operator commands, and
//! startup failures as one line with a hint (never a backtrace).

use std::process::{Command, Output};

pub fn orgsvc(args: &[&str], env: &[(&str, &str)]) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_orgsvc"));
    command
        .args(args)
        .env_remove("ORGSVC_CONFIG")
        .env("RUST_BACKTRACE", "1")
        .env(
            "ORGSVC__STORAGE__EMBEDDED__PATH",
            data.path().join("orgsvc.redb"),
        );
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("orgsvc runs");
    // Checking and printing write nothing to the data directory.
    if args.first() != Some(&"serve") {
        assert_eq!(
            std::fs::read_dir(data.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer_and_exit_0() {
    let help = orgsvc(&["--help"], &[]);
    assert!(help.status.success());
    for command in [
        "serve",
        "check-config",
        "openapi",
        "gen-key",
        "move-org",
        "export",
    ] {
        assert!(text(&help.stdout).contains(command), "{command}");
    }
    let version = orgsvc(&["--version"], &[]);
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("orgsvc {}", env!("CARGO_PKG_VERSION"))
    );
    let wrong = orgsvc(&["no-such-command"], &[]);
    assert!(!wrong.status.success());
    assert!(!text(&wrong.stderr).contains("backtrace"));
}

#[test]
fn openapi_prints_the_served_document() {
    let output = orgsvc(&["openapi"], &[]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout).trim(),
        orgsvc_http::openapi::document()
    );
}

#[test]
fn gen_key_prints_a_usable_hmac_secret_or_ed25519_key() {
    let secret = text(&orgsvc(&["gen-key"], &[]).stdout);
    let secret = secret.trim();
    assert_eq!(secret.len(), 96);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(text(&orgsvc(&["gen-key"], &[]).stdout).trim(), secret);
    let pem = text(&orgsvc(&["gen-key", "--ed25519"], &[]).stdout);
    let public = orgsvc_crypto::ed25519_public_pem(&secrecy::SecretString::from(pem));
    assert!(public.is_ok(), "{public:?}");
}

#[test]
fn check_config_shows_the_settings_without_secrets_and_refuses_bad_ones() {
    let secret = "a-very-secret-value-that-is-long-enough-0123";
    let ok = orgsvc(&["check-config"], &[("ORGSVC__AUTH__JWT_SECRET", secret)]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let shown = text(&ok.stdout);
    assert!(shown.contains("the configuration is valid"), "{shown}");
    assert!(shown.contains("127.0.0.1:8080"), "{shown}");
    assert!(!shown.contains(secret));

    for (key, value) in [
        ("ORGSVC__HTTP__WORKERS", "many"),
        ("ORGSVC__AUTH__JWT_SECRET", "short"),
        ("ORGSVC__AUTH__ARGON2__ITERATIONS", "0"),
        ("ORGSVC__HTTP__LISTEN", "not an address"),
    ] {
        let bad = orgsvc(&["check-config"], &[(key, value)]);
        assert!(!bad.status.success(), "{key}");
        let said = text(&bad.stderr);
        assert!(said.starts_with("orgsvc: "), "{key}: {said}");
        assert!(!said.contains("backtrace"), "{key}: {said}");
        assert!(said.lines().count() <= 2, "{key}: {said}");
    }
}

#[test]
fn a_taken_port_is_one_line_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = orgsvc(&["serve"], &[("ORGSVC__HTTP__LISTEN", &address)]);
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert!(said.contains("cannot listen on"), "{said}");
    assert!(
        said.contains("hint: ") && said.contains("ORGSVC__HTTP__LISTEN"),
        "{said}"
    );
    assert!(!said.contains("backtrace"), "{said}");
}

#[test]
fn move_org_against_an_unreachable_database_is_one_line_with_a_hint() {
    // Nothing listens on port 1 of loopback.
    let output = orgsvc(
        &["move-org", "--org", "Acme", "--to-cluster", "eu"],
        &[
            ("ORGSVC__STORAGE__BACKEND", "mongodb"),
            ("ORGSVC__STORAGE__MONGODB__URI", "mongodb://127.0.0.1:1/"),
            (
                "ORGSVC__STORAGE__MONGODB__SERVER_SELECTION_TIMEOUT_MS",
                "300",
            ),
        ],
    );
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert!(
        said.contains("hint: ") && said.contains("ORGSVC__STORAGE__MONGODB__URI"),
        "{said}"
    );
    assert!(!said.contains("backtrace"), "{said}");
    let lines: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("error") || l.contains("hint"))
        .collect();
    assert!(lines.len() <= 3, "{said}");
}

/// SIGTERM while a request is still sending its body: no new connection is accepted, the one
/// in flight is answered, and the process exits 0.
#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    use std::io::{Read as _, Write as _};
    use std::time::{Duration, Instant};

    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsvc"))
        .env_remove("ORGSVC_CONFIG")
        .env("ORGSVC__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "ORGSVC__STORAGE__EMBEDDED__PATH",
            data.path().join("orgsvc.redb"),
        )
        .env("ORGSVC__LOG__FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match std::net::TcpStream::connect(&address) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("orgsvc did not come up: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let body = br#"{"organization_name": "In Flight", "email": "f@flight.io", "password": "correct horse battery"}"#;
    // `Expect: 100-continue` makes the server say when it has the request in hand (accepted,
    // head parsed, handler waiting for the body): the state to signal in, on a busy machine
    // too, where a connection can sit in the listen backlog for a while before it is accepted.
    let head = format!(
        "POST /org/create HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("100 Continue\r\n\r\n") {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before 100 Continue");
        answer.extend_from_slice(&buffer[..n]);
    }
    answer.clear();
    stream.write_all(&body[..20]).unwrap();

    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    // Stops accepting (soon after the signal; how soon depends on the machine's load).
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    stream.write_all(&body[20..]).unwrap();
    while !String::from_utf8_lossy(&answer).contains("\"slug\"") {
        let n = stream.read(&mut buffer).unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 201"));
    drop(stream);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
