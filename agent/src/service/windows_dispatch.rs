//! `forewarn-agent service`: what the Windows service manager starts.
//!
//! Speaks the service protocol (a program that does not gets error 1053 and is
//! killed): reports Running, turns Stop and Shutdown into the run loop's
//! graceful shutdown, and "paramchange" (`sc control ForewarnAgent paramchange`)
//! into a config reload, the Windows counterpart of SIGHUP.

// define_windows_service! expands to an `extern "system"` entry point that
// reads raw arguments with `unsafe`.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tracing::{error, info};
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use super::WINDOWS_SERVICE;
use crate::daemon::{ConfigSource, run_daemon};

static SOURCE: OnceLock<ConfigSource> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// Hands this thread to the service manager until the service stops.
pub fn run_dispatcher(source: ConfigSource) -> Result<(), windows_service::Error> {
    let _ = SOURCE.set(source);
    service_dispatcher::start(WINDOWS_SERVICE, ffi_service_main)
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(err) = run_service() {
        error!(error = %err, "the service could not run");
    }
}

fn run_service() -> Result<(), windows_service::Error> {
    let stop = Arc::new(Notify::new());
    let (reload_requests, reloads) = mpsc::unbounded_channel();
    let stop_for_handler = Arc::clone(&stop);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            // Logged: a service that ends without a word looks like a hang or a crash.
            info!(?control, "the service manager asks the agent to stop");
            stop_for_handler.notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::ParamChange => {
            let _ = reload_requests.send(());
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = service_control_handler::register(WINDOWS_SERVICE, handler)?;
    let set = |state, accepted, exit_code| {
        status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accepted,
            exit_code,
            checkpoint: 0,
            wait_hint: Duration::from_secs(10),
            process_id: None,
        })
    };
    set(
        ServiceState::Running,
        ServiceControlAccept::STOP
            | ServiceControlAccept::SHUTDOWN
            | ServiceControlAccept::PARAM_CHANGE,
        ServiceExitCode::Win32(0),
    )?;
    let exit_code = match run_until_stopped(stop, reloads) {
        Ok(()) => {
            info!("agent stopped");
            ServiceExitCode::Win32(0)
        }
        Err(err) => {
            error!(error = %err, "agent stopped");
            ServiceExitCode::ServiceSpecific(1)
        }
    };
    set(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit_code,
    )
}

fn run_until_stopped(
    stop: Arc<Notify>,
    reloads: mpsc::UnboundedReceiver<()>,
) -> anyhow::Result<()> {
    let source = SOURCE
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("service started without its config"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_daemon(
        source,
        reloads,
        async move { stop.notified().await },
    ))?;
    Ok(())
}
