//! Serializers that print prost enum fields (stored as `i32`) by their proto name.
//!
//! A value this build does not know (a newer peer) prints as its number, so
//! nothing is lost when an old agent relays a new collector's data.

use serde::Serializer;

use crate::pb;

macro_rules! enum_name_serializer {
    ($fn_name:ident, $enum:ty) => {
        pub(crate) fn $fn_name<S: Serializer>(
            value: &i32,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match <$enum>::try_from(*value) {
                Ok(known) => serializer.serialize_str(known.as_str_name()),
                Err(_) => serializer.serialize_i32(*value),
            }
        }
    };
}

enum_name_serializer!(check_error_kind, pb::CheckErrorKind);
enum_name_serializer!(certificate_source, pb::CertificateSource);
enum_name_serializer!(scan_state, pb::ScanState);
enum_name_serializer!(backup_result, pb::BackupResult);
