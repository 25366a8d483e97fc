//! The Dockerfile and docker-compose.yml, checked as far as a machine without a Docker engine
//! can: the compose file parses and runs the image the Dockerfile builds, wired to its MongoDB;
//! the Dockerfile is multi-stage, runs as a non-root user with a health check, and copies the
//! binary its build stage makes; the configuration both give by environment is valid; and the
//! README documents the same commands.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::cli::{orgsvc, text};

fn read(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The Dockerfile's instructions (continuation lines joined, comments dropped), as
/// (INSTRUCTION, arguments).
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (instruction, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (instruction.to_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

/// `ENV` pairs (`KEY=value` form, several per instruction).
fn env_pairs(arguments: &str) -> Vec<(String, String)> {
    arguments
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_dockerfile_builds_a_small_non_root_image_with_a_health_check() {
    let steps = instructions(&read("Dockerfile"));
    let stages: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, (i, _))| i == "FROM")
        .map(|(n, _)| n)
        .collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    let (build, runtime) = steps.split_at(*stages.last().unwrap());
    let build_stage = build[stages[0]]
        .1
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    assert!(build.iter().any(
        |(i, args)| i == "RUN" && args.contains("cargo build --release --locked --bin orgsvc")
    ));
    assert!(
        runtime[0].1.contains("slim"),
        "runtime base: {}",
        runtime[0].1
    );
    assert!(runtime.iter().any(|(i, args)| i == "COPY"
        && args
            == &format!("--from={build_stage} /src/target/release/orgsvc /usr/local/bin/orgsvc")));
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, user)| user.clone())
        .expect("a USER in the runtime stage");
    assert!(user != "root" && user != "0", "{user}");
    let healthcheck = runtime
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .map(|(_, args)| args.clone())
        .expect("a HEALTHCHECK");
    let exposed = runtime
        .iter()
        .find(|(i, _)| i == "EXPOSE")
        .map(|(_, port)| port.clone())
        .expect("an EXPOSE");
    assert!(
        healthcheck.contains(&format!("http://127.0.0.1:{exposed}/health")),
        "{healthcheck}"
    );
    let env: Vec<(String, String)> = runtime
        .iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, args)| env_pairs(args))
        .collect();
    let listen = env
        .iter()
        .find(|(k, _)| k == "ORGSVC__HTTP__LISTEN")
        .map(|(_, v)| v.clone())
        .expect("the image listens on all interfaces");
    assert_eq!(listen, format!("0.0.0.0:{exposed}"));

    // What the image sets, plus the secret production needs, is a valid configuration.
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("orgsvc.redb");
    vars.retain(|(k, _)| *k != "ORGSVC__STORAGE__EMBEDDED__PATH");
    vars.push(("ORGSVC__STORAGE__EMBEDDED__PATH", path.to_str().unwrap()));
    vars.push((
        "ORGSVC__AUTH__JWT_SECRET",
        "an image secret of at least thirty-two bytes",
    ));
    let checked = orgsvc(&["check-config"], &vars);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
}

fn map(yaml: &Yaml) -> BTreeMap<String, Yaml> {
    yaml.as_hash()
        .unwrap_or_else(|| panic!("a mapping: {yaml:?}"))
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[test]
fn the_compose_file_runs_the_image_the_readme_builds_against_its_mongodb() {
    let compose = YamlLoader::load_from_str(&read("docker-compose.yml")).expect("compose parses");
    let services = map(&map(&compose[0])["services"]);
    let orgsvc_service = map(&services["orgsvc"]);
    assert_eq!(
        orgsvc_service["build"].as_str(),
        Some("."),
        "built from the Dockerfile here"
    );
    let image = orgsvc_service["image"].as_str().unwrap().to_owned();
    let readme = read("README.md");
    for documented in [
        format!("docker build -t {image} ."),
        "docker compose up -d --build".into(),
    ] {
        assert!(readme.contains(&documented), "README lacks `{documented}`");
        assert!(
            read("Dockerfile").contains(&documented)
                || read("docker-compose.yml").contains(&documented),
            "`{documented}` is documented beside the files too"
        );
    }

    // Started after MongoDB is healthy, and pointed at it by its service name.
    let depends = map(&orgsvc_service["depends_on"]);
    assert_eq!(
        map(&depends["mongodb"])["condition"].as_str(),
        Some("service_healthy")
    );
    assert!(services.contains_key("mongodb"));
    let environment = map(&orgsvc_service["environment"]);
    let uri = environment["ORGSVC__STORAGE__MONGODB__URI"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("mongodb://mongodb:27017/"), "{uri}");
    assert!(map(&services["mongodb"])["healthcheck"]["test"]
        .as_str()
        .unwrap()
        .contains("host: 'mongodb:27017'"));

    // The environment it gives is a valid configuration for the image (secret substituted).
    let mut vars: Vec<(String, String)> = environment
        .iter()
        .map(|(k, v)| {
            let value = v.as_str().unwrap().to_owned();
            let value = if value.starts_with("${ORGSVC_JWT_SECRET") {
                "a compose secret of at least thirty-two bytes".to_owned()
            } else {
                value
            };
            (k.clone(), value)
        })
        .collect();
    vars.push(("ORGSVC__PROFILE".into(), "production".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let checked = orgsvc(&["check-config"], &vars);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(
        text(&checked.stdout).contains("Mongodb"),
        "{}",
        text(&checked.stdout)
    );
}
