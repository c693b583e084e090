//! An embedded, Confluent-compatible Schema Registry (Avro only) for
//! single-node and test setups: the REST API Confluent clients and
//! serializers call, with Confluent's status and error codes.
//!
//! State lives in a data directory as an append-only log of mutations, each
//! fsync'ed before the request is answered; ids and versions survive
//! restarts and a kill -9.
//!
//! - [`schema`]: request bodies, Avro validation, schema identity
//! - [`compat`]: compatibility levels on Avro schema resolution
//! - `state`: the in-memory state and its mutations; `log`: their file
//! - [`store`]: the operations (validate, log, apply)
//! - `api`: HTTP routes

mod api;
pub mod compat;
mod error;
mod log;
pub mod schema;
mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use compat::Level;
pub use error::{ApiError, RegistryError, CONTENT_TYPE};
pub use state::{Mode, VersionSpec};
pub use store::Store;

/// A registry bound to its address with its data directory opened and
/// locked, not yet serving. Lets callers (tests) learn the port of `:0`.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    store: Arc<Store>,
    addr: SocketAddr,
}

/// Opens (creating if needed) and locks `data_dir`, replays its log, and
/// binds `listen`. Fails with [`RegistryError::Locked`] when another
/// registry holds the directory.
pub async fn bind(listen: SocketAddr, data_dir: &Path) -> Result<Server, RegistryError> {
    let dir = data_dir.to_owned();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .map_err(|e| {
            RegistryError::io("cannot open the registry store", std::io::Error::other(e))
        })??;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| RegistryError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RegistryError::Bind {
            addr: listen,
            source,
        })?;
    Ok(Server {
        listener,
        store: Arc::new(store),
        addr,
    })
}

impl Server {
    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets open requests finish.
    /// The data directory stays locked until this returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RegistryError> {
        tracing::info!("schema registry listening on {}", self.addr);
        axum::serve(self.listener, api::router(self.store))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(RegistryError::Serve)?;
        tracing::info!("schema registry stopped");
        Ok(())
    }
}

/// `binlake registry`: binds, serves until `shutdown`, stops gracefully.
pub async fn serve(
    listen: SocketAddr,
    data_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    bind(listen, data_dir).await?.run(shutdown).await
}

/// The HTTP routes over an opened store, for embedding in another server.
pub fn router(store: Arc<Store>) -> axum::Router {
    api::router(store)
}
