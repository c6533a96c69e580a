//! Outbound HTTP for the demo, `simulate` and the tests, over reqwest: one request per
//! connection, every request bounded by [`TIMEOUT`].

use std::io;
use std::time::Duration;

use http::HeaderMap;

/// The bound on one request, connection to last byte.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

fn failed(e: reqwest::Error) -> io::Error {
    let kind = if e.is_timeout() {
        io::ErrorKind::TimedOut
    } else if e.is_connect() {
        io::ErrorKind::ConnectionRefused
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, e)
}

/// A client for one request. Connections are not pooled: each request has its own, made on
/// the caller's runtime (tests run many runtimes in one process).
fn client() -> io::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(failed)
}

/// `GET url`.
pub async fn get(url: &str) -> io::Result<Reply> {
    send("GET", url, &HeaderMap::new(), b"").await
}

/// `POST url` with a JSON body.
pub async fn post_json(url: &str, body: &serde_json::Value) -> io::Result<Reply> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    send("POST", url, &headers, body.to_string().as_bytes()).await
}

/// Sends one request and reads the whole response.
pub async fn send(method: &str, url: &str, headers: &HeaderMap, body: &[u8]) -> io::Result<Reply> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad method"))?;
    let response = client()?
        .request(method, url)
        .headers(headers.clone())
        .body(body.to_vec())
        .send()
        .await
        .map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().await.map_err(failed)?.to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}
