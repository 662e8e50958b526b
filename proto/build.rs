//! Generates the forewarn.v1 messages and tonic services.
//!
//! `protoc` comes from the protoc-bin-vendored crate, so a fresh machine needs
//! nothing installed by hand. Every message derives `serde::Serialize` so the
//! agent can print exactly what it would report (`check --once --json`).

use std::io;

/// Enum-typed fields: prost stores them as `i32`, so they get a serializer that
/// writes the enum's name instead of its number.
const ENUM_FIELDS: &[(&str, &str)] = &[
    ("forewarn.v1.CheckError.kind", "check_error_kind"),
    (
        "forewarn.v1.CertificateLocation.source",
        "certificate_source",
    ),
    ("forewarn.v1.PatchCheck.scan_state", "scan_state"),
    ("forewarn.v1.BackupJobStatus.result", "backup_result"),
];

fn main() -> io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(io::Error::other)?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    let mut builder = tonic_prost_build::configure()
        .codec_path("crate::codec::WireCodec")
        .message_attribute(".forewarn.v1", "#[derive(serde::Serialize)]");
    for (field, serializer) in ENUM_FIELDS {
        builder = builder.field_attribute(
            field,
            format!("#[serde(serialize_with = \"crate::enum_names::{serializer}\")]"),
        );
    }
    builder.compile_with_config(
        config,
        &[
            "forewarn/v1/status.proto",
            "forewarn/v1/enrollment.proto",
            "forewarn/v1/ingest.proto",
        ],
        &["."],
    )?;
    println!("cargo:rerun-if-changed=forewarn");
    Ok(())
}
