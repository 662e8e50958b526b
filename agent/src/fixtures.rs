//! Reading captured real outputs from `tests/fixtures/` in unit tests.
//!
//! Every fixture file opens with one line saying where the sample came from;
//! parsers are fed what follows it.

/// The fixture at `tests/fixtures/<relative>`, without its opening source line.
pub fn captured_output(relative: &str) -> String {
    let path = format!("{}/tests/fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    text.split_once('\n')
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}
