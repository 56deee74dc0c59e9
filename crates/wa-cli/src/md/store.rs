//! Where an MD session's state lives: `<data dir>/<name>.md.sqlite` by default, a PostgreSQL
//! database when `--store postgres://...` (or `WA_STORE_URL`) is given. Opening takes the
//! device's lease; a second process on the same device gets [`CliError::Lease`].

use std::path::PathBuf;
use std::sync::Arc;

use wa_store::Store;

use crate::error::CliError;
use crate::sessions::Sessions;

/// `--store` / `WA_STORE_URL` as given: Debug hides its password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(pub String);

impl std::str::FromStr for StoreUrl {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<StoreUrl, Self::Err> {
        Ok(StoreUrl(text.to_owned()))
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({:?})", redact_url(&self.0))
    }
}

/// The backend of one MD session.
#[derive(Clone, PartialEq, Eq)]
pub enum MdStore {
    /// One SQLite file (created 0600).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by many devices; `device` names this one in it.
    Postgres {
        /// The connection URL (may hold a password: never printed as is).
        url: String,
        /// The device's id in the database (its lease key).
        device: String,
    },
}

// The URL may carry a password: Debug shows the redacted form.
impl std::fmt::Debug for MdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl MdStore {
    /// The store of MD session `name`: PostgreSQL when `url` is given, else its SQLite file.
    pub fn choose(sessions: &Sessions, name: &str, url: Option<&str>) -> Result<MdStore, CliError> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                sessions.path(name)?;
                Ok(MdStore::Postgres {
                    url: url.to_owned(),
                    device: format!("wa-cli/{name}"),
                })
            }
            Some(other) => Err(CliError::usage(
                format!("--store {:?} is not a PostgreSQL URL", redact_url(other)),
                "use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or leave it out for the \
                 SQLite file in the data directory",
            )),
            None => Ok(MdStore::Sqlite(sessions.md_sqlite_path(name)?)),
        }
    }

    /// What to show: the SQLite path, or the URL with its password hidden.
    pub fn describe(&self) -> String {
        match self {
            MdStore::Sqlite(path) => path.display().to_string(),
            MdStore::Postgres { url, device } => format!("{} ({device})", redact_url(url)),
        }
    }

    /// Opens the store and takes the device's lease. It blocks for the connect, migrations and
    /// lease (short); any thread may call it, a tokio worker included.
    pub fn open(&self, sessions: &Sessions, session: &str) -> Result<Arc<Store>, CliError> {
        let opened = match self {
            MdStore::Sqlite(path) => {
                sessions.ensure_dir()?;
                Store::open_sqlite(path)
            }
            MdStore::Postgres { url, device } => Store::open_postgres(url, device),
        };
        opened.map(Arc::new).map_err(|e| self.error(session, e))
    }

    /// A store error as the command reports it.
    pub fn error(&self, session: &str, error: wa_store::Error) -> CliError {
        match error {
            wa_store::Error::LeaseHeld { holder, .. } => CliError::Lease {
                session: session.to_owned(),
                store: self.describe(),
                holder,
            },
            other => CliError::Store {
                store: self.describe(),
                // A driver error may quote the URL it was given.
                message: match self {
                    MdStore::Postgres { url, .. } => {
                        other.to_string().replace(url.as_str(), &redact_url(url))
                    }
                    MdStore::Sqlite(_) => other.to_string(),
                },
            },
        }
    }
}

/// `scheme://user:secret@host/db?password=secret` → `scheme://user:***@host/db?password=***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://wa:s3cret@db:5432/wa"),
            "postgres://wa:***@db:5432/wa"
        );
        assert_eq!(
            redact_url("postgres://wa@db/wa?sslmode=disable&password=s3cret"),
            "postgres://wa@db/wa?sslmode=disable&password=***"
        );
        assert_eq!(
            redact_url("postgresql://db/wa"),
            "postgresql://db/wa",
            "nothing to hide"
        );
        let store = MdStore::Postgres {
            url: "postgres://wa:s3cret@db/wa".into(),
            device: "wa-cli/x".into(),
        };
        assert!(!format!("{store:?}").contains("s3cret"));
        assert!(!store.describe().contains("s3cret"));
        let given: StoreUrl = "postgres://wa:s3cret@db/wa".parse().unwrap();
        assert!(!format!("{given:?}").contains("s3cret"));
    }

    #[test]
    fn the_default_is_a_sqlite_file_per_session_in_the_data_dir() {
        let sessions = Sessions::locate(Some(std::path::Path::new("/data/wa"))).unwrap();
        assert_eq!(
            MdStore::choose(&sessions, "work", None).unwrap(),
            MdStore::Sqlite(PathBuf::from("/data/wa/work.md.sqlite"))
        );
        assert_eq!(
            MdStore::choose(&sessions, "work", Some("postgres://h/db")).unwrap(),
            MdStore::Postgres {
                url: "postgres://h/db".into(),
                device: "wa-cli/work".into()
            }
        );
        assert!(MdStore::choose(&sessions, "work", Some("mysql://h/db")).is_err());
        assert!(MdStore::choose(&sessions, "../x", None).is_err());
    }
}
