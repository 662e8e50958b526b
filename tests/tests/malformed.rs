//! Issue 14.2: bytes that are not a StatusReport, from an authenticated
//! device, are INVALID_ARGUMENT (the agent drops them) and not INTERNAL.

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess};
use forewarn_proto::codec::WireCodec;
use forewarn_proto::pb;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;

#[tokio::test]
async fn report_that_is_not_protobuf_of_a_report_is_invalid_argument() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let agent = Agent::new()?;
    agent.enroll_ok(&collector, &token)?;
    let mut grpc = tonic::client::Grpc::new(agent.channel(&collector).await?);
    grpc.ready().await?;
    // Field 1 of a StatusReport is a varint seq; a string there does not decode.
    let not_a_report = pb::RenewRequest {
        csr_pem: "not a report".into(),
    };
    let status = grpc
        .unary(
            tonic::Request::new(not_a_report),
            PathAndQuery::from_static("/forewarn.v1.Ingest/Report"),
            WireCodec::<pb::RenewRequest, pb::ReportAck>::default(),
        )
        .await
        .expect_err("a report that does not decode was accepted");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    Ok(())
}
