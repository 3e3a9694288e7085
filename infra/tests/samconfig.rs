//! `infra/samconfig.toml`, where `sam deploy --guided` starts, agrees with the template
//! and with `deploy-web.sh`: a newcomer who accepts every default gets the stack the
//! docs describe, under the name the web upload looks for.

mod common;

use std::collections::BTreeMap;

use common::{infra, read, template};
use toml_edit::DocumentMut;

fn samconfig() -> DocumentMut {
    read(&infra().join("samconfig.toml"))
        .parse()
        .expect("samconfig.toml is TOML")
}

#[test]
fn the_stack_name_is_the_one_deploy_web_assumes() {
    let config = samconfig();
    let name = config["default"]["global"]["parameters"]["stack_name"]
        .as_str()
        .expect("a stack_name");
    let script = read(&infra().join("deploy-web.sh"));
    assert!(
        script.contains(&format!("stack=${{1:-{name}}}")),
        "deploy-web.sh defaults to another stack than {name}"
    );
}

#[test]
fn deploy_asks_only_for_the_region() {
    let config = samconfig();
    let deploy = &config["default"]["deploy"]["parameters"];
    assert_eq!(deploy["capabilities"].as_str(), Some("CAPABILITY_IAM"));
    assert_eq!(deploy["confirm_changeset"].as_bool(), Some(true));
    assert_eq!(deploy["resolve_s3"].as_bool(), Some(true));
    // Left for --guided to ask (or the profile to give): no account's region committed.
    for section in ["global", "deploy", "build"] {
        let region = config["default"]
            .get(section)
            .and_then(|s| s.get("parameters"))
            .and_then(|p| p.get("region"));
        assert!(region.is_none(), "{section} sets a region");
    }
}

#[test]
fn the_parameter_overrides_are_the_templates_defaults() {
    let config = samconfig();
    let overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .expect("parameter_overrides as one string");
    let given: BTreeMap<String, String> = overrides
        .split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("Key=\"value\"");
            (key.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect();
    let template = template();
    let defaults: BTreeMap<String, String> = template["Parameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, p)| {
            let value = &p["Default"];
            let value = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or(value.to_string());
            (key.clone(), value)
        })
        .collect();
    assert_eq!(given, defaults);
}
