//! A report as the ingest service receives it: prost decodes the gRPC body
//! into a `StatusReport` (tonic does exactly this), then the collector's
//! validation runs. Properties: no panic; decoding is a round trip (what is
//! re-encoded decodes to the same report and is at most twice as long as
//! what came in: a negative enum or int32 arrives in as few as 5 bytes and
//! always re-encodes in 10, and nothing else grows, so what the collector
//! stores stays within twice the message limit it enforces on the way in);
//! validation is a pure function of the report, and a refusal names the field.
#![no_main]

use forewarn_collector::ingest::validate;
use forewarn_fuzz::NOW;
use forewarn_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(report) = pb::StatusReport::decode(data) else {
        return;
    };
    let encoded = report.encode_to_vec();
    assert!(
        encoded.len() <= 2 * data.len(),
        "re-encoded {} bytes from {} received",
        encoded.len(),
        data.len()
    );
    let again = pb::StatusReport::decode(encoded.as_slice()).expect("re-encoded report decodes");
    assert_eq!(again, report, "decode(encode(report)) differs");
    let verdict = validate::status_report(&report, NOW);
    assert_eq!(
        validate::status_report(&again, NOW),
        verdict,
        "the re-decoded report is judged differently"
    );
    if let Err(err) = verdict {
        assert!(!err.field.is_empty(), "refusal without a field: {err}");
    }
});
