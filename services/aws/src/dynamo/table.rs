//! The table's definition, for tests and local experiments. On AWS the SAM template
//! creates the same table (infra/template.yaml); the infra tests keep the two in step.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use roomcast_core::ports::BackendError;

use super::BY_MEMBERS_INDEX;

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BackendError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| BackendError::new("building the key schema", e))
}

fn attr(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, BackendError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| BackendError::new("building the attribute definitions", e))
}

/// Create the table (on-demand, `pk`/`sk`, the `byMembers` index, TTL on `exp`).
pub async fn create_table(client: &Client, table: &str) -> Result<(), BackendError> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(BY_MEMBERS_INDEX)
        .key_schema(key("lpk", KeyType::Hash)?)
        .key_schema(key("members", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| BackendError::new("building the byMembers index", e))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("sk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("lpk", ScalarAttributeType::S)?)
        .attribute_definitions(attr("members", ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|e| BackendError::new(format!("creating table {table}"), e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("exp")
                .enabled(true)
                .build()
                .map_err(|e| BackendError::new("building the TTL specification", e))?,
        )
        .send()
        .await
        .map_err(|e| BackendError::new(format!("enabling TTL on {table}"), e))?;
    Ok(())
}
