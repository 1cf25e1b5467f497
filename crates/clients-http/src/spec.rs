//! What poem-openapi's generated spec cannot say by itself, added once at start-up:
//! request bodies are closed (`additionalProperties: false`, as their
//! `deny_unknown_fields` parsers enforce), and the methods each path allows, for the
//! `Allow` header of a 405 (RFC 9110 §15.5.6).

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse as _, Request, Response};
use serde_json::Value;

use crate::patterns;

/// The spec with every schema reachable from a request body closed to unknown fields
/// (free-form maps, which declare their own `additionalProperties`, stay open).
pub(crate) fn refine(spec: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else { return spec.to_owned() };
    let mut pending: Vec<String> = vec![];
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for op in paths.values().filter_map(Value::as_object).flat_map(|item| item.values()) {
            collect_refs(&op["requestBody"], &mut pending);
        }
    }
    let mut closed = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !closed.insert(name.clone()) {
            continue;
        }
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else { continue };
        collect_refs(schema, &mut pending);
        if let Some(obj) = schema.as_object_mut()
            && obj.get("type").and_then(Value::as_str) == Some("object")
            && !obj.contains_key("additionalProperties")
        {
            obj.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
    // The patterns checked by crate::patterns' validators, stated as the framework's
    // own `pattern` validator would have.
    for (operation, name, pattern) in patterns::IN_PARAMETERS {
        for param in parameters_mut(&mut doc, operation).into_iter().flatten() {
            if param["name"] == *name
                && let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut)
            {
                schema.insert("pattern".to_owned(), Value::String(pattern.source().to_owned()));
            }
        }
    }
    for (schema, property, pattern) in patterns::IN_BODIES {
        if let Some(field) = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{property}"))
            .and_then(Value::as_object_mut)
        {
            field.insert("pattern".to_owned(), Value::String(pattern.source().to_owned()));
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
}

fn parameters_mut<'a>(doc: &'a mut Value, operation: &str) -> Option<&'a mut Vec<Value>> {
    let paths = doc.get_mut("paths")?.as_object_mut()?;
    let op = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op["operationId"] == operation)?;
    op.get_mut("parameters")?.as_array_mut()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str)
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                out.push(name.to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Path templates (`/v1/shared-accounts/{id}`) and the methods each allows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowed(Arc<Vec<(Vec<String>, String)>>);

impl Allowed {
    /// Reads the paths of a spec.
    pub(crate) fn from_spec(spec: &str) -> Self {
        let doc: Value = serde_json::from_str(spec).unwrap_or(Value::Null);
        let table = doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let mut methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(m, _)| m.to_uppercase())
                    .filter(|m| ["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&m.as_str()))
                    .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                (path.split('/').map(str::to_owned).collect(), methods.join(", "))
            })
            .collect();
        Self(Arc::new(table))
    }

    /// The methods `path` allows, when it is one of the spec's paths.
    pub(crate) fn methods(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(template, methods)| {
            let matches = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
            matches.then_some(methods.as_str())
        })
    }
}

/// Adds `Allow` to a 405 answer.
pub(crate) async fn allow<E: Endpoint<Output = Response>>(
    ep: Arc<E>,
    req: Request,
    allowed: Allowed,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = ep.call(req).await?;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(value) = allowed.methods(&path).and_then(|m| HeaderValue::from_str(m).ok())
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}

/// Serves the refined spec at `/openapi.json`.
pub(crate) fn endpoint(spec: String) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| {
        Response::builder().content_type("application/json; charset=utf-8").body(spec.clone()).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"{
        "paths": {
            "/v1/things": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}}}, "get": {}},
            "/v1/things/{id}": {"delete": {}}
        },
        "components": {"schemas": {
            "Body": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}},
            "Item": {"type": "object", "properties": {"role": {"$ref": "#/components/schemas/Role"}}},
            "Role": {"type": "string", "enum": ["a"]},
            "Map": {"type": "object", "additionalProperties": {}},
            "Reply": {"type": "object"}
        }}
    }"##;

    #[test]
    fn request_bodies_and_what_they_contain_are_closed_and_nothing_else() {
        let doc: Value = serde_json::from_str(&refine(SPEC)).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Body"]["additionalProperties"], false);
        assert_eq!(schemas["Item"]["additionalProperties"], false);
        assert!(schemas["Role"].get("additionalProperties").is_none());
        assert!(schemas["Reply"].get("additionalProperties").is_none(), "responses stay open");
    }

    #[test]
    fn a_405_lists_the_methods_of_the_matching_template() {
        let allowed = Allowed::from_spec(SPEC);
        assert_eq!(allowed.methods("/v1/things"), Some("GET, POST, HEAD"));
        assert_eq!(allowed.methods("/v1/things/01a2"), Some("DELETE"));
        assert_eq!(allowed.methods("/v1/things/01a2/more"), None);
        assert_eq!(allowed.methods("/elsewhere"), None);
    }
}
