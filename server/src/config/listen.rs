//! A listener's address as the operator writes it: `host:port`, where the host is an IP
//! address (`127.0.0.1`, `[::1]`, `0.0.0.0`) or a name (`localhost`, `chat.example.org`)
//! resolved when the listener binds. Binding errors name the listener and the address.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use tokio::net::TcpListener;

/// `host:port` for a listener (`[listeners] c2s`, `[listeners] http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    host: String,
    port: u16,
}

impl ListenAddr {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether every address the host names is a loopback one (a name is resolved).
    pub async fn is_loopback(&self) -> bool {
        match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
            }
            Err(_) => false,
        }
    }

    /// Binds the listener called `name`, on the first address the host resolves to that
    /// can be bound. The error says which listener, which address and why.
    pub async fn bind(&self, name: &str) -> anyhow::Result<TcpListener> {
        TcpListener::bind((self.host.as_str(), self.port))
            .await
            .map_err(|e| anyhow::anyhow!("listener {name} ({self}): cannot bind: {e}"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> Self {
        ListenAddr {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || {
            format!("{s:?} is not host:port (e.g. \"127.0.0.1:5222\", \"localhost:5280\", \"[::]:5222\")")
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            // [v6]:port
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (h, p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
            if h.contains(':') {
                // A bare IPv6 address needs brackets to be told from its port.
                return Err(bad());
            }
            (h, p)
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && (host.contains(':')
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
        if !host_ok {
            return Err(bad());
        }
        Ok(ListenAddr {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_host_names() {
        for (text, host, port) in [
            ("127.0.0.1:5222", "127.0.0.1", 5222),
            ("localhost:5280", "localhost", 5280),
            ("Chat.Example.org:443", "chat.example.org", 443),
            ("[::1]:5222", "::1", 5222),
            ("0.0.0.0:0", "0.0.0.0", 0),
        ] {
            let a: ListenAddr = text.parse().unwrap();
            assert_eq!((a.host(), a.port()), (host, port), "{text}");
        }
        assert_eq!(
            "[::1]:5222".parse::<ListenAddr>().unwrap().to_string(),
            "[::1]:5222"
        );
        for bad in [
            "localhost",
            "::1:5222",
            "host:port",
            ":5222",
            "a b:1",
            "[nope]:1",
            "x:70000",
        ] {
            let e = bad.parse::<ListenAddr>().unwrap_err();
            assert!(e.contains("host:port"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn binds_a_host_name_and_names_the_listener_when_it_cannot() {
        let a: ListenAddr = "localhost:0".parse().unwrap();
        assert!(a.is_loopback().await);
        let l = a.bind("c2s").await.unwrap();
        let taken = ListenAddr::from(l.local_addr().unwrap());
        let e = taken.bind("http").await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("listener http ({taken}): cannot bind:")),
            "{e}"
        );
    }
}
