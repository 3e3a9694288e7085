//! The real `aws-sdk-apigatewaymanagement` client against the gateway's `@connections`.

use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::{Client as ManagementClient, Config};
use roomcast_testkit::TestGateway;

fn management(gw: &TestGateway, stage: &str) -> ManagementClient {
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(format!("http://127.0.0.1:{}/{stage}", gw.port))
        .build();
    ManagementClient::from_conf(config)
}

#[tokio::test]
async fn the_aws_sdk_posts_inspects_and_deletes_a_connection() {
    let gw = TestGateway::start(&[]).await;
    let api = management(&gw, "dev");
    let mut client = gw.v1(Some("alpha")).await;
    let id = client.id().await;

    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(
            r#"{"type":"event","room":"alpha","event":"hello","data":1,"from":null}"#,
        ))
        .send()
        .await
        .expect("post succeeds");
    let got = client.recv_type("event").await;
    assert_eq!(got["event"], "hello");

    let info = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("get succeeds");
    assert!(info.connected_at().is_some());
    assert!(info.last_active_at().is_some());
    assert_eq!(info.identity().unwrap().source_ip(), Some("127.0.0.1"));

    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("delete succeeds");
    let close = client.closed().await;
    assert_eq!(close.map(|c| c.0), Some(1000));

    // Once gone, every call answers 410 GoneException.
    let mut gone = false;
    for _ in 0..50 {
        match api
            .post_to_connection()
            .connection_id(&id)
            .data(Blob::new("x"))
            .send()
            .await
        {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                gone = true;
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(gone, "post after delete answers GoneException");
    let err = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_gone_exception(),
        "{err:?}"
    );
    let err = api
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_gone_exception(),
        "{err:?}"
    );
    gw.stop().await;
}
