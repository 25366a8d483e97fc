//! A TCP proxy between the service and its database that a test can freeze (hold every byte
//! where it is) and cut (close every connection and refuse new ones), to make an outage happen
//! at an exact point of an operation.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Open,
    Frozen,
    Cut,
}

pub struct Proxy {
    pub port: u16,
    link: Arc<watch::Sender<Link>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards a local port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(watch::Sender::new(Link::Open));
        let accepting = {
            let link = link.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if *link.borrow() == Link::Cut {
                        continue; // dropped: closed at once
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pipe(client_read, server_write, link.subscribe()));
                    tokio::spawn(pipe(server_read, client_write, link.subscribe()));
                }
            })
        };
        Self {
            port,
            link,
            accepting,
        }
    }

    /// `uri` (a `mongodb://[user:password@]host:port/...` URI) pointed at this proxy instead,
    /// with the same credentials and options.
    pub fn uri_for(&self, uri: &str) -> String {
        let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// URI");
        let (credentials, rest) = rest
            .rsplit_once('@')
            .map_or(("", rest), |(user, host)| (user, host));
        let at = if credentials.is_empty() { "" } else { "@" };
        let path = rest.find(['/', '?']).map_or("/", |at| &rest[at..]);
        format!("mongodb://{credentials}{at}127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.set(Link::Cut);
    }
}

/// The `host:port` of a `mongodb://` URI with a single host.
pub fn host_of(uri: &str) -> String {
    let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// URI");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?']).next().unwrap().to_owned()
}

/// Copies bytes one way, holding them while frozen, until either end closes or the link is cut.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut link: watch::Receiver<Link>) {
    let mut cut = link.clone();
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = cut.wait_for(|l| *l == Link::Cut) => return,
        };
        let Ok(n @ 1..) = read else {
            return;
        };
        match link.wait_for(|l| *l != Link::Frozen).await.map(|l| *l) {
            Ok(Link::Open) => {}
            _ => return,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
