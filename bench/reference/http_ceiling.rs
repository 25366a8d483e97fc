//! The HTTP ceiling for `bench/run`: a bare actix-web server answering `GET /org/get` with a
//! fixed JSON body the size of orgsvc's answer, on the same number of workers. Whatever orgsvc
//! does beyond this (validation, storage, auth, middleware) is what the ratio measures.
//!
//!   cargo run --release --example bench-http-ceiling -- 127.0.0.1:18200

use actix_web::{web, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"id":"0193a6f4-7c1e-7d3a-9f4e-2b8c1d0e5f6a","organization_name":"Acme","slug":"acme","collection_name":"org_acme","connection":{"cluster":"embedded","database":"orgsvc"},"admin":{"id":"0193a6f4-7c1e-7d3a-9f4e-2b8c1d0e5f6b"},"created_at":"2026-11-24T16:03:25.067Z","updated_at":"2026-11-24T16:03:25.067Z"}"#;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18200".into());
    HttpServer::new(|| {
        App::new().route(
            "/org/get",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(BODY)
            }),
        )
    })
    .bind(listen)?
    .run()
    .await
}
