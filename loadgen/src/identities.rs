//! Enrolled identities of the simulated devices, cached between runs.
//!
//! Each device keeps an agent state directory under the cache
//! (`CACHE/load-00042/`, the agent's own layout: `enrollment.toml`,
//! `device.pem`, `ca.pem`, `policy.pb`), so a repeat run against the same
//! collector skips enrollment. A device whose cached CA or collector URL is
//! not the one of this run enrolls again, as an agent would.
//!
//! Enrollment is the agent's: a key pair made here, a CSR, the token, and the
//! collector's answer checked against the CA given on the command line. All
//! enrollments share one connection (they carry no client certificate) and run
//! a few at a time, staying inside the collector's caps for unauthenticated
//! connections.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use forewarn_agent::enroll::{EnrollError, certificate_request};
use forewarn_agent::state::{DeviceIdentity, EnrolledState, Enrollment, StateDir, StateError};
use forewarn_agent::transport::{self, CollectorAddress, TransportError};
use forewarn_proto::pb;

use crate::synth;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    #[error(
        "{missing} of {devices} devices are not enrolled in {cache}; pass --token with a token \
         from `forewarn-collector token create --uses {missing}`"
    )]
    TokenNeeded {
        missing: usize,
        devices: usize,
        cache: String,
    },
    #[error("the collector refused to enroll {hostname}: {code:?} {message}")]
    Refused {
        hostname: String,
        code: tonic::Code,
        message: String,
    },
    #[error(
        "the collector answered {hostname}'s enrollment with a CA other than --ca-cert \
         (SHA-256 {presented}); check that --ca-cert is the CA of the collector at --url"
    )]
    OtherCa { hostname: String, presented: String },
}

/// A device ready to report: its index, identity and policy version.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub index: u32,
    pub state: EnrolledState,
    pub policy_version: String,
}

/// Where to enroll and with what.
#[derive(Debug, Clone)]
pub struct Collector {
    pub address: CollectorAddress,
    pub ca_pem: String,
    pub token: Option<String>,
}

/// Devices `0..devices`, loaded from `cache` or enrolled now (`concurrency`
/// at a time). Returns them with how many were enrolled by this call.
pub async fn load_or_enroll(
    collector: &Collector,
    cache: &Path,
    devices: u32,
    concurrency: usize,
) -> Result<(Vec<Enrolled>, usize), IdentityError> {
    load_or_enroll_range(collector, cache, 0..devices, concurrency).await
}

/// Devices numbered `indices`, as [`load_or_enroll`]: several load
/// generators can share one collector (and one cache) with disjoint ranges,
/// each device keeping its own hostname and hardware id.
pub async fn load_or_enroll_range(
    collector: &Collector,
    cache: &Path,
    indices: std::ops::Range<u32>,
    concurrency: usize,
) -> Result<(Vec<Enrolled>, usize), IdentityError> {
    let devices = indices.len();
    let mut ready = Vec::with_capacity(devices);
    let mut missing = Vec::new();
    for index in indices {
        let dir = StateDir::new(cache.join(synth::hostname(index)));
        match cached(&dir, collector) {
            Some(state) => ready.push(Enrolled {
                index,
                policy_version: dir.load_policy().version,
                state,
            }),
            None => missing.push((index, dir)),
        }
    }
    let enrolled_now = missing.len();
    if missing.is_empty() {
        return Ok((ready, 0));
    }
    let token = collector
        .token
        .clone()
        .ok_or_else(|| IdentityError::TokenNeeded {
            missing: missing.len(),
            devices,
            cache: cache.display().to_string(),
        })?;
    let channel = transport::channel(
        &collector.address.url,
        &collector.address.host,
        &collector.ca_pem,
        None,
    )?;
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, dir) in missing {
        let permit = Arc::clone(&permits);
        let (channel, collector, token) = (channel.clone(), collector.clone(), token.clone());
        tasks.spawn(async move {
            let _permit = permit.acquire_owned().await;
            enroll(channel, &collector, &token, index, &dir).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        ready.push(joined.expect("an enrollment task panicked")?);
    }
    ready.sort_by_key(|device| device.index);
    Ok((ready, enrolled_now))
}

/// The cached identity of a device, if it belongs to this collector.
fn cached(dir: &StateDir, collector: &Collector) -> Option<EnrolledState> {
    let state = dir.load().ok()?;
    let same_ca = state.ca_pem.trim() == collector.ca_pem.trim();
    (same_ca && state.enrollment.collector_url == collector.address.url).then_some(state)
}

async fn enroll(
    channel: Channel,
    collector: &Collector,
    token: &str,
    index: u32,
    dir: &StateDir,
) -> Result<Enrolled, IdentityError> {
    let hostname = synth::hostname(index);
    let key = rcgen::KeyPair::generate().map_err(EnrollError::KeyGeneration)?;
    let host = synth::Device::new(index, forewarn_agent::clock::now_unix())
        .host_facts()
        .clone();
    let response = transport::enrollment_client(channel)
        .enroll(pb::EnrollRequest {
            token: token.to_owned(),
            csr_pem: certificate_request(&key)?,
            host: Some(host),
        })
        .await
        .map_err(|status| IdentityError::Refused {
            hostname: hostname.clone(),
            code: status.code(),
            message: status.message().to_owned(),
        })?
        .into_inner();
    let presented = forewarn_agent::enroll::ca_fingerprint(&response.ca_certificate_pem)?;
    let expected = forewarn_agent::enroll::ca_fingerprint(&collector.ca_pem)?;
    if presented != expected {
        return Err(IdentityError::OtherCa {
            hostname,
            presented,
        });
    }
    let enrollment = Enrollment {
        collector_url: collector.address.url.clone(),
        server_name: collector.address.host.clone(),
        device_id: response.device_id,
        group: response.group,
    };
    let identity = DeviceIdentity {
        cert_pem: response.certificate_pem,
        key_pem: key.serialize_pem(),
    };
    let policy = response
        .policy
        .unwrap_or_else(forewarn_agent::state::default_policy);
    dir.save_enrollment(&enrollment, &identity, &collector.ca_pem, &policy)?;
    Ok(Enrolled {
        index,
        policy_version: policy.version,
        state: EnrolledState {
            enrollment,
            identity,
            ca_pem: collector.ca_pem.clone(),
        },
    })
}
