//! The baseline for Rally's intake benchmark: a bare poem server answering
//! "hello" on one route, built with the same poem, tokio and allocator as
//! Rally.
//!
//! `cargo run --release --example hello -- 127.0.0.1:9000`

use poem::{Route, Server, get, handler, listener::TcpListener};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[handler]
fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    Server::new(TcpListener::bind(addr))
        .run(Route::new().at("/hello", get(hello)))
        .await
}
