//! `/api/openapi.json`: an OpenAPI 3.0 description generated from the command table, so it
//! cannot drift from what the server accepts.

use serde_json::{json, Map, Value};

use super::table::{ArgType, Returns, Spec, COMMANDS};

fn arg_schema(ty: ArgType) -> Value {
    let pair = |a: &str, b: &str| {
        json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {a: {"type": "string"}, b: {"type": "string"}},
                "required": [a],
            }
        })
    };
    match ty {
        ArgType::String => json!({"type": "string"}),
        ArgType::Options => pair("name", "value"),
        ArgType::Users => pair("jid", "nick"),
    }
}

fn result_schema(r: Returns) -> Value {
    let strings = |names: &[&str]| {
        let props: Map<String, Value> = names
            .iter()
            .map(|n| (n.to_string(), json!({"type": "string"})))
            .collect();
        json!({"type": "array", "items": {"type": "object", "properties": props}})
    };
    match r {
        Returns::Code => json!({"type": "integer", "enum": [0], "description": "Done"}),
        Returns::Text => json!({"type": "string"}),
        Returns::Count => json!({"type": "integer", "minimum": 0}),
        Returns::Strings => json!({"type": "array", "items": {"type": "string"}}),
        Returns::Options => json!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Option name to value, as text",
        }),
        Returns::Affiliations => strings(&["username", "domain", "affiliation", "reason"]),
        Returns::Occupants => strings(&["jid", "nick", "role"]),
        Returns::Subscriptions => json!({
            "type": "array",
            "items": {"type": "object", "properties": {
                "roomjid": {"type": "string"},
                "usernick": {"type": "string"},
                "nodes": {"type": "array", "items": {"type": "string"}},
            }},
        }),
    }
}

fn operation(spec: &Spec) -> Value {
    let props: Map<String, Value> = spec
        .args
        .iter()
        .map(|a| {
            let mut s = arg_schema(a.ty);
            s["description"] = Value::from(a.desc);
            (a.name.to_owned(), s)
        })
        .collect();
    let required: Vec<&str> = spec
        .args
        .iter()
        .filter(|a| a.ty == ArgType::String)
        .map(|a| a.name)
        .collect();
    let example: Value = serde_json::from_str(spec.example).unwrap_or(Value::Null);
    let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "post": {
            "operationId": spec.name,
            "summary": spec.summary,
            "requestBody": {
                "required": true,
                "content": {"application/json": {
                    "schema": {"type": "object", "properties": props, "required": required},
                    "example": example,
                }},
            },
            "responses": {
                "200": {"description": "Done", "content": {"application/json": {"schema": result_schema(spec.returns)}}},
                "400": {"description": "A missing, unknown or invalid argument, or the room's refusal: a JSON string saying which", "content": {"application/json": {"schema": {"type": "string"}}}},
                "401": error("No token, or a token the server does not have"),
                "403": error("The token may not call this command"),
            },
        }
    })
}

/// The whole description.
pub fn document() -> Value {
    let paths: Map<String, Value> = COMMANDS
        .iter()
        .map(|s| (format!("/api/{}", s.name), operation(s)))
        .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "mucsub-server HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "ejabberd's mod_http_api commands: POST a JSON object of arguments \
                            to /api/<command> with Authorization: Bearer <token>. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["error"]},
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                },
            }},
        },
        "security": [{"bearer": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_described_with_its_arguments() {
        let doc = document();
        for spec in COMMANDS {
            let op = &doc["paths"][format!("/api/{}", spec.name)]["post"];
            assert_eq!(op["operationId"], spec.name);
            let props = &op["requestBody"]["content"]["application/json"]["schema"]["properties"];
            for a in spec.args {
                assert!(props.get(a.name).is_some(), "{}: {}", spec.name, a.name);
            }
            assert!(op["requestBody"]["content"]["application/json"]["example"].is_object());
        }
    }
}
