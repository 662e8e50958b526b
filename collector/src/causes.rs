//! An error with its causes, in one line a person can act on: "error
//! sending request" alone says nothing, "error sending request: client
//! error (Connect): tcp connect error: Connection refused (os error 111)"
//! says the receiver is not listening.

/// `err`'s message followed by each of its sources', separated by `: `; a
/// source whose text the message already holds is not repeated.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("tcp connect error: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn each_cause_is_named_once() {
        let err = Outer(Middle(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        )));
        assert_eq!(
            with_causes(&err),
            "error sending request: tcp connect error: Connection refused (os error 111)"
        );
    }
}
