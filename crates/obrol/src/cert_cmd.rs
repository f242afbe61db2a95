//! `obrol cert`: a self-signed certificate and key for trying TLS out (not for the internet:
//! clients must be told to trust it, with `obrol connect --ca` or their own setting).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::UsageError;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Names and addresses the certificate is for (repeatable).
    #[arg(long = "name", default_values = ["localhost", "127.0.0.1", "::1"])]
    names: Vec<String>,
    /// Folder to write cert.pem and key.pem into (created if missing; existing files are not
    /// overwritten).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cert_path = args.out.join("cert.pem");
    let key_path = args.out.join("key.pem");
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(
                UsageError(format!("{} exists; not overwriting it", path.display())).into(),
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let certified = rcgen::generate_simple_self_signed(args.names.clone()).map_err(|e| {
        UsageError(format!(
            "cannot make a certificate for {:?}: {e}",
            args.names
        ))
    })?;
    write(&cert_path, certified.cert.pem().as_bytes(), 0o644)?;
    write(
        &key_path,
        certified.key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    println!(
        "wrote {} and {} (self-signed, for {})",
        cert_path.display(),
        key_path.display(),
        args.names.join(", ")
    );
    println!(
        "serve with:   obrol serve --tls-cert {} --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    println!(
        "connect with: obrol connect --tls --ca {} HOST:6697",
        cert_path.display()
    );
    Ok(())
}

/// Writes a new file with `mode` (the key is readable by its owner only).
fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `obrol hash-password`: reads a password (one line) from stdin and prints its Argon2id hash,
/// for `--oper NAME:HASH` and `password_hash` in the config file.
pub fn hash_password() -> anyhow::Result<()> {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(UsageError("no password on stdin".into()).into());
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    println!("{hash}");
    Ok(())
}
