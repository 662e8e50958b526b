use std::path::Path;
use std::sync::Mutex;

use super::*;
use crate::command::scripted::ScriptedCommandRunner;

const DAY_SECS: i64 = 24 * 3600;

/// A certificate for `names` that expires `days` from now, with its key.
fn certificate(
    names: &[&str],
    days: i64,
    issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(days);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().copied().unwrap_or("test"),
    );
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    (cert, key)
}

fn config(paths: Vec<PathBuf>) -> CertificatesConfig {
    CertificatesConfig {
        paths,
        watch: false,
        keychains: Vec::new(),
        windows_stores: Vec::new(),
        ..CertificatesConfig::default()
    }
}

fn check(config: CertificatesConfig, runner: Arc<dyn CommandRunner>) -> CertificateCheck {
    CertificateCheck::new(config, runner, &ReportTrigger::default())
}

async fn collect(config: CertificatesConfig) -> (pb::CertificateCheck, Vec<pb::CheckError>) {
    check(config, Arc::new(ScriptedCommandRunner::default()))
        .collect()
        .await
        .unwrap()
}

fn by_subject<'a>(status: &'a pb::CertificateCheck, cn: &str) -> &'a pb::CertificateStatus {
    status
        .certificates
        .iter()
        .find(|c| c.subject == format!("CN={cn}"))
        .unwrap_or_else(|| panic!("no certificate CN={cn}"))
}

fn file_locations(cert: &pb::CertificateStatus, root: &Path) -> Vec<String> {
    let mut locations: Vec<String> = cert
        .locations
        .iter()
        .map(|l| {
            assert_eq!(l.source, pb::CertificateSource::File as i32);
            Path::new(&l.location)
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    locations.sort();
    locations
}

#[tokio::test]
async fn expiries_bundle_of_200_and_one_certificate_in_three_places() {
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for days in [-1, 3, 20, 400] {
        let (cert, key) = certificate(&[&format!("expires-{days}.test")], days, None);
        // A key next to its certificate, as servers keep them: never reported.
        let pem = format!("{}{}", key.serialize_pem(), cert.pem());
        std::fs::write(dir.path().join(format!("{days}.pem")), pem).unwrap();
    }
    let (shared, _) = certificate(&["shared.test"], 90, None);
    std::fs::write(dir.path().join("shared.der"), shared.der()).unwrap();
    std::fs::create_dir(dir.path().join("copies")).unwrap();
    std::fs::write(dir.path().join("copies/shared.cer"), shared.pem()).unwrap();
    let mut bundle = shared.pem();
    for i in 0..199 {
        bundle.push_str(
            &certificate(&[&format!("bundle-{i}.test")], 200, None)
                .0
                .pem(),
        );
    }
    std::fs::write(dir.path().join("bundle.crt"), bundle).unwrap();

    let (status, errors) = collect(config(vec![dir.path().into()])).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(status.certificates.len(), 4 + 1 + 199);
    for days in [-1, 3, 20, 400] {
        let cert = by_subject(&status, &format!("expires-{days}.test"));
        let expected = now + days * DAY_SECS;
        assert!(
            (cert.not_after_unix_secs - expected).abs() < 60,
            "{days}: {cert:?}"
        );
        assert_eq!(file_locations(cert, dir.path()), [format!("{days}.pem")]);
    }
    let shared = by_subject(&status, "shared.test");
    assert_eq!(
        file_locations(shared, dir.path()),
        ["bundle.crt", "copies/shared.cer", "shared.der"]
    );
    let in_bundle = status
        .certificates
        .iter()
        .filter(|c| {
            c.locations
                .iter()
                .any(|l| l.location.ends_with("bundle.crt"))
        })
        .count();
    assert_eq!(in_bundle, 200);
}

#[tokio::test]
async fn each_bad_input_is_an_item_error_and_the_good_file_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = certificate(&["good.test"], 30, None);
    std::fs::write(dir.path().join("good.pem"), good.pem()).unwrap();
    std::fs::write(
        dir.path().join("corrupt.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB%%%%\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("truncated.der"), &good.der()[..100]).unwrap();
    let junk: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
        .collect();
    std::fs::write(dir.path().join("junk.cer"), junk).unwrap();
    let huge = std::fs::File::create(dir.path().join("huge.pem")).unwrap();
    huge.set_len(50 * 1024 * 1024).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.pem"), dir.path().join("dangling.pem"))
        .unwrap();

    let (status, errors) = collect(config(vec![dir.path().into()])).await;
    assert_eq!(status.certificates.len(), 1);
    assert_eq!(status.certificates[0].subject, "CN=good.test");
    let mut items: Vec<(String, i32)> = errors
        .iter()
        .map(|e| {
            assert_eq!(e.check, CHECK_NAME);
            let name = Path::new(&e.item)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, e.kind)
        })
        .collect();
    items.sort();
    let invalid = pb::CheckErrorKind::InvalidData as i32;
    assert_eq!(
        items,
        [
            ("corrupt.pem".to_owned(), invalid),
            ("dangling.pem".to_owned(), invalid),
            ("huge.pem".to_owned(), invalid),
            ("junk.cer".to_owned(), invalid),
            ("truncated.der".to_owned(), invalid),
        ]
    );
    let huge_error = errors
        .iter()
        .find(|e| e.item.ends_with("huge.pem"))
        .unwrap();
    assert!(
        huge_error.message.contains("52428800 bytes"),
        "{}",
        huge_error.message
    );
}

#[tokio::test]
async fn bundles_in_a_folder_are_read_and_a_named_key_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certificates/openssl");
    std::fs::copy(fixtures.join("bundle.p7b"), dir.path().join("chain.p7b")).unwrap();
    std::fs::copy(fixtures.join("request.der"), dir.path().join("request.der")).unwrap();
    let (_, key) = certificate(&["key.test"], 30, None);
    // Beside certificates, as certbot's privkey.pem: passed over in silence.
    std::fs::write(dir.path().join("privkey.pem"), key.serialize_pem()).unwrap();
    let named_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(named_key.path(), key.serialize_pem()).unwrap();

    let (status, errors) = collect(config(vec![dir.path().into(), named_key.path().into()])).await;
    let mut subjects: Vec<&str> = status
        .certificates
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["CN=Forewarn Fixture CA", "CN=www.example.test"]);
    let messages: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.item.clone(), e.message.clone()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                dir.path().join("request.der").display().to_string(),
                "unexpected data: a certificate signing request (PKCS#10), not a certificate"
                    .to_owned()
            ),
            (
                named_key.path().display().to_string(),
                "unexpected data: no certificate in this PEM file; it holds PRIVATE KEY".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn unreadable_file_is_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(&["secret.test"], 30, None);
    let path = dir.path().join("locked.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let (status, errors) = collect(config(vec![dir.path().into()])).await;
    if std::fs::read(&path).is_ok() {
        // Root (CAP_DAC_OVERRIDE) reads any file: the certificate is simply read.
        assert_eq!(status.certificates.len(), 1);
        assert!(errors.is_empty());
    } else {
        assert!(status.certificates.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, pb::CheckErrorKind::PermissionDenied as i32);
    }
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/certificates")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[tokio::test]
async fn keychain_output_is_read_as_an_os_store() {
    let keychain = "/Library/Keychains/System.keychain";
    let runner = ScriptedCommandRunner::default();
    runner.answer(
        &["security", "find-certificate", "-a", "-p", keychain],
        0,
        &fixture("macos/security-find-certificate-system-roots.txt"),
        "",
    );
    runner.missing(&[
        "security",
        "find-certificate",
        "-a",
        "-p",
        "/missing.keychain",
    ]);
    let config = CertificatesConfig {
        keychains: vec![keychain.to_owned(), "/missing.keychain".to_owned()],
        ..config(Vec::new())
    };
    let (status, errors) = check(config, Arc::new(runner)).collect().await.unwrap();
    let fingerprints: Vec<&str> = status
        .certificates
        .iter()
        .map(|c| c.sha256_fingerprint.as_str())
        .collect();
    // The fingerprints `openssl x509 -fingerprint -sha256` prints for the two roots.
    assert_eq!(
        fingerprints,
        [
            "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
            "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
        ]
    );
    let isrg = &status.certificates[0];
    assert_eq!(
        isrg.subject,
        "C=US, O=Internet Security Research Group, CN=ISRG Root X1"
    );
    assert_eq!(isrg.serial, "8210cfb0d240e3594463e0bb63828b00");
    assert_eq!((isrg.key_type.as_str(), isrg.key_bits), ("rsa", 4096));
    assert_eq!(isrg.signature_algorithm, "sha256WithRSAEncryption");
    assert!(isrg.self_signed && isrg.is_ca);
    assert_eq!(
        isrg.locations,
        [pb::CertificateLocation {
            source: pb::CertificateSource::OsStore as i32,
            location: keychain.to_owned(),
        }]
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].item, "/missing.keychain");
    assert_eq!(errors[0].kind, pb::CheckErrorKind::ToolMissing as i32);
}

#[test]
fn config_problems_name_their_keys() {
    let config = CertificatesConfig {
        endpoints: vec!["no-port".into()],
        endpoint_timeout_secs: 0,
        max_files: 0,
        windows_stores: vec!["My".into()],
        ..CertificatesConfig::default()
    };
    let problems = config.problems("checks.certificates");
    assert_eq!(problems.len(), 4, "{problems:?}");
    for key in [
        "endpoints",
        "endpoint_timeout_secs",
        "max_files",
        "windows_stores",
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("checks.certificates.{key}:"))),
            "{key}: {problems:?}"
        );
    }
    assert!(CertificatesConfig::default().problems("k").is_empty());
}

#[test]
fn toml_section_parses_with_defaults_and_refuses_unknown_keys_and_bad_endpoints() {
    use crate::config::{AgentConfig, ConfigError};
    let config = AgentConfig::from_toml(
        "[checks.certificates]\npaths = [\"/etc/nginx/tls\"]\nendpoints = [\"db.example.test:5432\"]\nmax_file_bytes = 2048\n",
        Path::new("agent.toml"),
    )
    .unwrap();
    let certs = &config.checks.certificates;
    assert_eq!(certs.paths, [PathBuf::from("/etc/nginx/tls")]);
    assert_eq!(certs.endpoints, ["db.example.test:5432"]);
    assert_eq!(certs.max_file_bytes, 2048);
    assert!(certs.watch);
    assert_eq!(certs.max_depth, 8);
    // Trust anchors are never read unless configured.
    assert!(AgentConfig::default().checks.certificates.paths.is_empty());

    let err = AgentConfig::from_toml("[checks.certificates]\npath = []\n", Path::new("a.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `path`"), "{err}");
    let err = AgentConfig::from_toml(
        "[checks.certificates]\nendpoints = [\"nope\"]\n",
        Path::new("a.toml"),
    )
    .unwrap_err();
    let ConfigError::Invalid { problems, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(
        problems,
        ["checks.certificates.endpoints: \"nope\" is not host:port"]
    );
}

/// Serves TLS with `chain` and `key` on a loopback port until the test ends.
async fn tls_server(chain: &[&rcgen::Certificate], key: &rcgen::KeyPair) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = chain.iter().map(|c| c.der().clone()).collect();
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    port
}

async fn probe_endpoints(endpoints: Vec<String>) -> pb::CertificateCheck {
    let config = CertificatesConfig {
        endpoints,
        endpoint_timeout_secs: 3,
        ..config(Vec::new())
    };
    let (status, errors) = collect(config).await;
    assert!(errors.is_empty(), "{errors:?}");
    status
}

#[tokio::test]
async fn valid_endpoint_reports_leaf_and_earliest_expiry_in_chain() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    ca_params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let (leaf, key) = certificate(&["localhost"], 400, Some(&issuer));
    let port = tls_server(&[&leaf, &ca], &key).await;

    let endpoint = format!("localhost:{port}");
    let status = probe_endpoints(vec![endpoint.clone()]).await;
    let probe = &status.endpoints[0];
    assert!(probe.handshake_ok && probe.hostname_matches, "{probe:?}");
    assert_eq!(probe.server_name, "localhost");
    assert!(probe.error.is_empty());
    assert_eq!(
        probe.leaf_sha256_fingerprint,
        parse::fingerprint(leaf.der())
    );
    let ca_status = by_subject(&status, "Test CA");
    assert_eq!(
        probe.earliest_chain_expiry_unix_secs,
        Some(ca_status.not_after_unix_secs)
    );
    assert!(by_subject(&status, "localhost").not_after_unix_secs > ca_status.not_after_unix_secs);
    assert_eq!(
        ca_status.locations[0].source,
        pb::CertificateSource::TlsEndpoint as i32
    );
    assert_eq!(ca_status.locations[0].location, endpoint);
}

#[tokio::test]
async fn expired_wrong_name_plain_tcp_and_closed_port_are_reported_as_such() {
    let (expired, expired_key) = certificate(&["localhost"], -1, None);
    let expired_port = tls_server(&[&expired], &expired_key).await;
    let (other, other_key) = certificate(&["other.test"], 400, None);
    let other_port = tls_server(&[&other], &other_key).await;
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = plain.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let status = probe_endpoints(vec![
        format!("localhost:{expired_port}"),
        format!("localhost:{other_port}"),
        format!("localhost:{plain_port}"),
        format!("localhost:{closed_port}"),
    ])
    .await;
    let [expired_probe, other_probe, plain_probe, closed_probe] = &status.endpoints[..] else {
        panic!("{:?}", status.endpoints)
    };
    // Expired but for the right name: the handshake completes, expiry is in the past.
    assert!(
        expired_probe.handshake_ok && expired_probe.hostname_matches,
        "{expired_probe:?}"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(expired_probe.earliest_chain_expiry_unix_secs.unwrap() < now);

    assert!(
        other_probe.handshake_ok && !other_probe.hostname_matches,
        "{other_probe:?}"
    );
    assert!(
        other_probe.error.starts_with("hostname mismatch"),
        "{}",
        other_probe.error
    );
    assert_eq!(
        other_probe.leaf_sha256_fingerprint,
        parse::fingerprint(other.der())
    );

    assert!(!plain_probe.handshake_ok && !plain_probe.hostname_matches);
    assert!(
        plain_probe.error.starts_with("tls handshake failed"),
        "{}",
        plain_probe.error
    );
    assert!(plain_probe.earliest_chain_expiry_unix_secs.is_none());

    assert!(!closed_probe.handshake_ok);
    assert!(
        closed_probe.error.starts_with("cannot connect"),
        "{}",
        closed_probe.error
    );
    assert_eq!(status.certificates.len(), 2);
}
#[tokio::test]
async fn a_certificate_replaced_on_the_server_is_seen_by_the_next_probe() {
    // One listener whose certificate can be swapped between handshakes:
    // the chain described last cycle must not stand in for the new one.
    let config_for = |name: &str| {
        let (cert, key) = certificate(&[name], 90, None);
        let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        (Arc::new(config), parse::fingerprint(cert.der()))
    };
    let (first, first_fingerprint) = config_for("localhost");
    let (second, second_fingerprint) = config_for("localhost");
    let current = Arc::new(Mutex::new(first));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = Arc::clone(&current);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = Arc::clone(&serving.lock().unwrap());
            tokio::spawn(async move {
                let _ = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await;
            });
        }
    });
    let mut check = check(
        CertificatesConfig {
            endpoints: vec![format!("localhost:{port}")],
            endpoint_timeout_secs: 3,
            ..config(Vec::new())
        },
        Arc::new(ScriptedCommandRunner::default()),
    );
    let leaf = |status: &pb::CertificateCheck| status.endpoints[0].leaf_sha256_fingerprint.clone();
    let (status, _) = check.collect().await.unwrap();
    assert_eq!(leaf(&status), first_fingerprint);
    let (status, _) = check.collect().await.unwrap();
    assert_eq!(
        leaf(&status),
        first_fingerprint,
        "unchanged chain, same answer"
    );
    *current.lock().unwrap() = second;
    let (status, _) = check.collect().await.unwrap();
    assert_eq!(leaf(&status), second_fingerprint);
    assert_eq!(status.certificates.len(), 1, "the old certificate is gone");
    assert!(
        status.endpoints[0]
            .earliest_chain_expiry_unix_secs
            .is_some()
    );
}

#[tokio::test]
async fn a_watched_folder_is_not_walked_while_quiet_and_a_renewal_is_seen_after_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.pem");
    let (old, _) = certificate(&["site.test"], 10, None);
    std::fs::write(&path, old.pem()).unwrap();
    let trigger = ReportTrigger::default();
    let mut check = CertificateCheck::new(
        CertificatesConfig {
            watch: true,
            ..config(vec![dir.path().into()])
        },
        Arc::new(ScriptedCommandRunner::default()),
        &trigger,
    );
    let (first, _) = check.collect().await.unwrap();
    assert_eq!(first.certificates.len(), 1);

    // Nothing changed: the cycle answers from the last walk, the same.
    let (quiet, _) = check.collect().await.unwrap();
    assert_eq!(quiet, first);

    let (renewed, _) = certificate(&["site.test"], 90, None);
    std::fs::write(&path, renewed.pem()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), trigger.fired())
        .await
        .expect("the renewal is seen by the watch");
    let (after, _) = check.collect().await.unwrap();
    assert_eq!(after.certificates.len(), 1);
    assert_ne!(
        after.certificates[0].sha256_fingerprint, first.certificates[0].sha256_fingerprint,
        "the renewed certificate is reported"
    );
}

/// Marks every certificate of `section`, so a section handed out again shows.
fn marked(mut section: pb::CertificateCheck) -> pb::CertificateCheck {
    for certificate in &mut section.certificates {
        certificate.issuer = "kept".into();
    }
    section
}

fn subjects(section: &pb::CertificateCheck) -> Vec<&str> {
    let mut subjects: Vec<&str> = section
        .certificates
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    subjects.sort_unstable();
    subjects
}

#[tokio::test]
async fn a_section_given_back_serves_while_quiet_and_changed_added_and_removed_files_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.pem");
    std::fs::write(&site, certificate(&["site.test"], 10, None).0.pem()).unwrap();
    let trigger = ReportTrigger::default();
    let mut check = CertificateCheck::new(
        CertificatesConfig {
            watch: true,
            ..config(vec![dir.path().into()])
        },
        Arc::new(ScriptedCommandRunner::default()),
        &trigger,
    );
    let (first, _) = check.collect().await.unwrap();
    check.reclaim(marked(first.clone()));
    let (quiet, _) = check.collect().await.unwrap();
    assert_eq!(
        quiet,
        marked(first.clone()),
        "the section given back, moved"
    );

    let renew = || std::fs::write(&site, certificate(&["site.test"], 90, None).0.pem()).unwrap();
    let add = || {
        let other = certificate(&["other.test"], 30, None).0.pem();
        std::fs::write(dir.path().join("other.crt"), other).unwrap();
    };
    let remove = || std::fs::remove_file(&site).unwrap();
    // What is done to the folder, and the subjects found after it.
    type Change<'a> = (&'a str, &'a dyn Fn(), &'a [&'a str]);
    let changes: [Change<'_>; 3] = [
        ("renewed", &renew, &["CN=site.test"]),
        ("added", &add, &["CN=other.test", "CN=site.test"]),
        ("removed", &remove, &["CN=other.test"]),
    ];
    let mut before = quiet;
    for (change, make, expected) in changes {
        check.reclaim(marked(before.clone()));
        make();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .unwrap_or_else(|_| panic!("{change}: seen by the watch"));
        let (after, _) = check.collect().await.unwrap();
        assert!(
            after.certificates.iter().all(|c| c.issuer != "kept"),
            "{change}: built again, not the section given back"
        );
        assert_eq!(subjects(&after), expected, "{change}");
        let fingerprints = |s: &pb::CertificateCheck| {
            let mut all: Vec<String> = s
                .certificates
                .iter()
                .map(|c| c.sha256_fingerprint.clone())
                .collect();
            all.sort();
            all
        };
        assert_ne!(fingerprints(&after), fingerprints(&before), "{change}");
        before = after;
    }
}

#[tokio::test]
async fn a_section_given_back_is_not_used_when_a_keychain_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.pem"),
        certificate(&["site.test"], 10, None).0.pem(),
    )
    .unwrap();
    let runner = ScriptedCommandRunner::default();
    let keychain = "/Library/Keychains/System.keychain";
    runner.answer(
        &["security", "find-certificate", "-a", "-p", keychain],
        0,
        &certificate(&["store.test"], 10, None).0.pem(),
        "",
    );
    let mut check = CertificateCheck::new(
        CertificatesConfig {
            keychains: vec![keychain.into()],
            ..config(vec![dir.path().into()])
        },
        Arc::new(runner),
        &ReportTrigger::default(),
    );
    let (first, _) = check.collect().await.unwrap();
    assert_eq!(first.certificates.len(), 2);
    check.reclaim(marked(first));
    let (second, _) = check.collect().await.unwrap();
    assert_eq!(second.certificates.len(), 2);
    assert!(second.certificates.iter().all(|c| c.issuer != "kept"));
}
