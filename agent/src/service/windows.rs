//! The agent as a Windows service (`ForewarnAgent`, LocalSystem, automatic start).
//!
//! The MSI registers the service itself (ServiceInstall) and then runs
//! `install`, which finds it and only sets what wixl cannot express: the
//! restart-on-failure actions and the description. Run by hand, `install`
//! creates the service too.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::{Duration, Instant};

use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType,
    ServiceState as WinState, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{ServiceError, ServiceState, WINDOWS_SERVICE};

const DISPLAY_NAME: &str = "Forewarn agent";
const DESCRIPTION: &str = "Reports disk space, patch status, certificate expiry and backup results to the Forewarn collector.";
/// ERROR_SERVICE_DOES_NOT_EXIST.
const NO_SUCH_SERVICE: i32 = 1060;
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn failed(action: &str, err: windows_service::Error) -> ServiceError {
    let detail = match &err {
        windows_service::Error::Winapi(io) => io.to_string(),
        other => other.to_string(),
    };
    ServiceError::Failed {
        action: action.to_owned(),
        detail,
    }
}

fn is_missing(err: &windows_service::Error) -> bool {
    matches!(err, windows_service::Error::Winapi(io) if io.raw_os_error() == Some(NO_SUCH_SERVICE))
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ServiceError> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|err| failed("opening the service manager (run as Administrator)", err))
}

const ACCESS: ServiceAccess = ServiceAccess::QUERY_STATUS
    .union(ServiceAccess::START)
    .union(ServiceAccess::STOP)
    .union(ServiceAccess::DELETE)
    .union(ServiceAccess::CHANGE_CONFIG);

pub fn install(exe: &Path, start: bool) -> Result<Vec<String>, ServiceError> {
    let mut done = Vec::new();
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let service = match manager.open_service(WINDOWS_SERVICE, ACCESS) {
        Ok(service) => service,
        Err(err) if is_missing(&err) => {
            let info = ServiceInfo {
                name: OsString::from(WINDOWS_SERVICE),
                display_name: OsString::from(DISPLAY_NAME),
                service_type: ServiceType::OWN_PROCESS,
                start_type: ServiceStartType::AutoStart,
                error_control: ServiceErrorControl::Normal,
                executable_path: exe.to_path_buf(),
                launch_arguments: vec![OsString::from("service")],
                dependencies: vec![],
                account_name: None,
                account_password: None,
            };
            let service = manager
                .create_service(&info, ACCESS)
                .map_err(|err| failed("registering the service", err))?;
            done.push(format!("registered service {WINDOWS_SERVICE}"));
            service
        }
        Err(err) => return Err(failed("opening the service", err)),
    };
    service
        .set_description(DESCRIPTION)
        .map_err(|err| failed("setting the service description", err))?;
    service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![
                restart_after(10),
                restart_after(10),
                restart_after(60),
            ]),
        })
        .map_err(|err| failed("setting restart on failure", err))?;
    done.push("set restart on failure (10 s, 10 s, then 60 s)".to_owned());
    // Also after a stop with an error exit code, not only after a crash. Wine's
    // service manager refuses this setting (ERROR_INVALID_LEVEL): the restart on
    // a crash is set either way, so say so and go on rather than fail the install.
    if let Err(err) = service.set_failure_actions_on_non_crash_failures(true) {
        done.push(format!(
            "restart after a stop with an error exit code is not set: {}",
            failed("setting restart on non-crash failures", err)
        ));
    }
    if start {
        if current_state(&service)? != WinState::Stopped {
            stop_and_wait(&service)?;
        }
        service
            .start::<&OsStr>(&[])
            .map_err(|err| failed("starting the service", err))?;
        done.push(format!("started service {WINDOWS_SERVICE}"));
    }
    Ok(done)
}

fn restart_after(secs: u64) -> ServiceAction {
    ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    }
}

fn current_state(service: &Service) -> Result<WinState, ServiceError> {
    service
        .query_status()
        .map(|status| status.current_state)
        .map_err(|err| failed("querying the service", err))
}

fn stop_and_wait(service: &Service) -> Result<(), ServiceError> {
    if current_state(service)? == WinState::Stopped {
        return Ok(());
    }
    service
        .stop()
        .map_err(|err| failed("stopping the service", err))?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while current_state(service)? != WinState::Stopped {
        if Instant::now() > deadline {
            return Err(ServiceError::Failed {
                action: "stopping the service".into(),
                detail: format!("still running after {} s", STOP_TIMEOUT.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

pub fn uninstall() -> Result<Vec<String>, ServiceError> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let service = match manager.open_service(WINDOWS_SERVICE, ACCESS) {
        Ok(service) => service,
        Err(err) if is_missing(&err) => return Ok(Vec::new()),
        Err(err) => return Err(failed("opening the service", err)),
    };
    stop_and_wait(&service)?;
    service
        .delete()
        .map_err(|err| failed("removing the service", err))?;
    Ok(vec![format!(
        "stopped and removed service {WINDOWS_SERVICE}"
    )])
}

pub fn state() -> ServiceState {
    let manager = match ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
    {
        Ok(manager) => manager,
        Err(err) => {
            return ServiceState::Unknown(failed("opening the service manager", err).to_string());
        }
    };
    match manager.open_service(WINDOWS_SERVICE, ServiceAccess::QUERY_STATUS) {
        Ok(service) => match current_state(&service) {
            Ok(WinState::Running) => ServiceState::Running,
            Ok(other) => ServiceState::NotRunning(format!("{other:?}")),
            Err(err) => ServiceState::Unknown(err.to_string()),
        },
        Err(err) if is_missing(&err) => ServiceState::NotInstalled,
        Err(err) => ServiceState::Unknown(failed("opening the service", err).to_string()),
    }
}
