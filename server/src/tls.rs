//! TLS for STARTTLS: the configured certificate, or a self-signed development one kept
//! in the data directory (generated on first start).

use crate::config::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;

/// Loads or generates the certificate and builds the acceptor.
pub fn acceptor(config: &Config) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => dev_certificate(&config.data_dir, &config.domain)?,
        _ => anyhow::bail!("tls.cert and tls.key must be set together"),
    };
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&cert).map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&key).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?,
    ))?
    .ok_or_else(|| anyhow::anyhow!("no private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

fn dev_certificate(data_dir: &Path, domain: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = data_dir.join("dev-cert.pem");
    let key = data_dir.join("dev-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(data_dir)?;
    let names = vec![
        domain.to_owned(),
        format!("*.{domain}"),
        "localhost".to_owned(),
    ];
    let ck = rcgen::generate_simple_self_signed(names)?;
    std::fs::write(&cert, ck.cert.pem())?;
    write_private(&key, ck.signing_key.serialize_pem().as_bytes())?;
    tracing::warn!(path = %cert.display(), "generated a self-signed development certificate");
    Ok((cert, key))
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}
