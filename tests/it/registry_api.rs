//! The embedded schema registry over HTTP, in-process on 127.0.0.1:0:
//! every endpoint, Confluent's status and error codes, compatibility per
//! level, delete rules, modes, persistence across restarts and crashes.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;

use binlake::registry::{self, RegistryError};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type R<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

/// A registry running in this process.
struct Running {
    api: Api,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), RegistryError>>,
}

async fn start(dir: &Path) -> Result<Running, RegistryError> {
    let server = registry::bind(SocketAddr::from(([127, 0, 0, 1], 0)), dir).await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    Ok(Running {
        api: Api { client, base },
        stop,
        task,
    })
}

impl Running {
    async fn stop(self) -> R {
        drop(self.api);
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// Sends a request; every answer must carry Confluent's media type.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> R<(u16, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            let ctype = "application/vnd.schemaregistry.v1+json";
            req = req.header("content-type", ctype).body(body.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.as_bytes().to_vec());
        assert_eq!(
            ctype.as_deref(),
            Some(&b"application/vnd.schemaregistry.v1+json"[..])
        );
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
    async fn get(&self, path: &str) -> R<(u16, Value)> {
        self.call(Method::GET, path, None).await
    }
    async fn delete(&self, path: &str) -> R<(u16, Value)> {
        self.call(Method::DELETE, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> R<(u16, Value)> {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> R<(u16, Value)> {
        self.call(Method::PUT, path, Some(body)).await
    }
    /// Registers and returns the id, failing on anything but 200.
    async fn register(&self, subject: &str, schema: &str) -> R<u64> {
        let (status, body) = self
            .post(&format!("/subjects/{subject}/versions"), sch(schema))
            .await?;
        assert_eq!(status, 200, "register {subject}: {body}");
        body["id"]
            .as_u64()
            .ok_or_else(|| format!("no id in {body}").into())
    }
    async fn level(&self, subject: &str, level: &str) -> R {
        let (status, _) = self
            .put(
                &format!("/config/{subject}"),
                json!({"compatibility": level}),
            )
            .await?;
        assert_eq!(status, 200);
        Ok(())
    }
}

/// `answers!(request => status, body)`: the awaited answer is exactly this.
macro_rules! answers {
    ($call:expr => $status:expr, $body:expr) => {
        assert_eq!($call.await?, ($status, $body), "{}", stringify!($call))
    };
}

/// `fails!(request => status, code)`: an error answer with this Confluent code.
macro_rules! fails {
    ($call:expr => $status:expr, $code:expr) => {{
        let (status, body) = $call.await?;
        let code = body["error_code"].as_i64();
        assert_eq!(
            (status, code),
            ($status, Some($code)),
            "{}: {body}",
            stringify!($call)
        );
    }};
}

/// The answer of a compatibility check.
fn compat(is: bool) -> Value {
    json!({ "is_compatible": is })
}

/// The message of an error answer.
fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or("")
}

/// A request body carrying `schema`.
fn sch(schema: &str) -> Value {
    json!({ "schema": schema })
}

fn record(fields: &[(&str, &str, Option<Value>)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, ty, default)| match default {
            Some(d) => json!({"name": name, "type": ty, "default": d}),
            None => json!({"name": name, "type": ty}),
        })
        .collect();
    json!({"type": "record", "name": "Row", "namespace": "t", "fields": fields}).to_string()
}

fn a() -> String {
    record(&[("a", "int", None)])
}
fn a_b_default() -> String {
    record(&[("a", "int", None), ("b", "string", Some(json!("x")))])
}
fn a_b_required() -> String {
    record(&[("a", "int", None), ("b", "string", None)])
}

#[tokio::test]
async fn register_read_and_lookup() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;

    let id1 = api.register("orders-value", &a()).await?;
    assert_eq!(api.register("orders-value", &a()).await?, id1, "idempotent");
    // The same schema with other whitespace, key order and a wrapped primitive.
    let spaced = r#"{ "namespace":"t", "name":"Row", "type":"record",
                     "fields":[ {"type":{"type":"int"}, "name":"a"} ] }"#;
    assert_eq!(api.register("orders-value", spaced).await?, id1);
    answers!(api.get("/subjects/orders-value/versions") => 200, json!([1]));
    // The same schema in another subject reuses the global id.
    assert_eq!(api.register("other-value", &a()).await?, id1);
    let id2 = api.register("orders-value", &a_b_default()).await?;
    assert!(id2 > id1);
    answers!(api.get("/subjects") => 200, json!(["orders-value", "other-value"]));
    answers!(api.get("/subjects/orders-value/versions") => 200, json!([1, 2]));

    let v1 = json!({"subject": "orders-value", "version": 1, "id": id1, "schema": a()});
    answers!(api.get("/subjects/orders-value/versions/1") => 200, v1);
    let v2 = json!({"subject": "orders-value", "version": 2, "id": id2, "schema": a_b_default()});
    answers!(api.get("/subjects/orders-value/versions/latest") => 200, v2.clone());
    answers!(api.get("/subjects/orders-value/versions/-1") => 200, v2);
    let raw: Value = serde_json::from_str(&a())?;
    answers!(api.get("/subjects/orders-value/versions/1/schema") => 200, raw.clone());
    answers!(api.get(&format!("/schemas/ids/{id1}")) => 200, json!({"schema": a()}));
    answers!(api.get(&format!("/schemas/ids/{id1}?subject=x")) => 200, json!({"schema": a()}));
    answers!(api.get(&format!("/schemas/ids/{id1}/schema")) => 200, raw);
    let subjects = json!(["orders-value", "other-value"]);
    answers!(api.get(&format!("/schemas/ids/{id1}/subjects")) => 200, subjects);
    let versions = json!([
        {"subject": "orders-value", "version": 1},
        {"subject": "other-value", "version": 1}
    ]);
    answers!(api.get(&format!("/schemas/ids/{id1}/versions")) => 200, versions);
    answers!(api.get("/schemas/types") => 200, json!(["AVRO"]));

    // Lookup finds the version; unknown schema 40403, unknown subject 40401.
    let found = json!({"subject": "orders-value", "id": id1, "version": 1, "schema": a()});
    answers!(api.post("/subjects/orders-value", sch(spaced)) => 200, found);
    fails!(api.post("/subjects/orders-value", sch(&a_b_required())) => 404, 40403);
    fails!(api.post("/subjects/nope", sch(&a())) => 404, 40401);
    reg.stop().await
}

#[tokio::test]
async fn error_codes() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    let id = api.register("s", &a()).await?;

    fails!(api.post("/subjects/s/versions", sch(r#"{"type":"nope"}"#)) => 422, 42201);
    fails!(api.post("/subjects/s/versions", sch("not json")) => 422, 42201);
    for kind in ["JSON", "PROTOBUF"] {
        let body = json!({"schema": "{}", "schemaType": kind});
        let (status, e) = api.post("/subjects/s/versions", body).await?;
        assert_eq!((status, e["error_code"].as_i64()), (422, Some(42201)));
        assert!(
            e["message"].as_str().unwrap_or("").contains("only AVRO"),
            "{e}"
        );
    }
    let refs = json!({"schema": a(), "references": [{"name": "x", "subject": "y", "version": 1}]});
    let (status, e) = api.post("/subjects/s/versions", refs).await?;
    assert_eq!((status, e["error_code"].as_i64()), (422, Some(42201)));
    assert!(message(&e).contains("references"), "{e}");
    // An empty reference list and an explicit AVRO type are fine.
    let plain = json!({"schema": a(), "schemaType": "AVRO", "references": []});
    answers!(api.post("/subjects/s/versions", plain) => 200, json!({"id": id}));

    for bad in ["0", "-2", "abc", "2147483648"] {
        fails!(api.get(&format!("/subjects/s/versions/{bad}")) => 422, 42202);
    }
    fails!(api.get("/subjects/nope/versions") => 404, 40401);
    fails!(api.get("/subjects/nope/versions/1") => 404, 40401);
    fails!(api.get("/subjects/s/versions/9") => 404, 40402);
    fails!(api.get("/schemas/ids/999") => 404, 40403);
    fails!(api.get("/schemas/ids/999/versions") => 404, 40403);
    fails!(api.put("/config", json!({"compatibility": "SIDEWAYS"})) => 422, 42203);
    fails!(api.put("/mode", json!({"mode": "WRITEONLY"})) => 422, 42204);
    fails!(api.get("/no/such/route") => 404, 404);
    fails!(api.call(Method::PATCH, "/config", None) => 405, 405);

    // Bodies are parsed whatever their content type says.
    for ctype in ["application/json", "application/octet-stream", "text/plain"] {
        let url = format!("{}/subjects/s/versions", api.base);
        let req = api
            .client
            .post(url)
            .header("content-type", ctype)
            .body(sch(&a()).to_string());
        let body: Value = req.send().await?.json().await?;
        assert_eq!(body, json!({"id": id}), "{ctype}");
    }
    reg.stop().await
}

#[tokio::test]
async fn compatibility_per_level() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    api.register("s", &a()).await?;
    let (yes, no) = (compat(true), compat(false));

    // BACKWARD (the default): a new field needs a default.
    let latest = "/compatibility/subjects/s/versions/latest";
    answers!(api.post(latest, sch(&a_b_required())) => 200, no.clone());
    let (_, r) = api
        .post(&format!("{latest}?verbose=true"), sch(&a_b_required()))
        .await?;
    assert!(!r["messages"].as_array().is_none_or(Vec::is_empty), "{r}");
    let all = "/compatibility/subjects/s/versions";
    answers!(api.post(&format!("{all}/1"), sch(&a_b_default())) => 200, yes.clone());
    answers!(api.post(all, sch(&a_b_default())) => 200, yes.clone());
    fails!(api.post("/subjects/s/versions", sch(&a_b_required())) => 409, 409);
    api.register("s", &a_b_default()).await?;

    // FORWARD: removing a field without default fails, adding one passes.
    let forward = json!({"compatibility": "FORWARD"});
    answers!(api.put("/config/f", forward.clone()) => 200, forward);
    api.register("f", &a_b_required()).await?;
    fails!(api.post("/subjects/f/versions", sch(&a())) => 409, 409);
    let wider = record(&[
        ("a", "int", None),
        ("b", "string", None),
        ("c", "long", None),
    ]);
    api.register("f", &wider).await?;

    // FULL: both directions; NONE: anything.
    api.level("full", "FULL").await?;
    api.register("full", &a()).await?;
    fails!(api.post("/subjects/full/versions", sch(&a_b_required())) => 409, 409);
    api.register("full", &a_b_default()).await?;
    let full = "/compatibility/subjects/full/versions/latest";
    answers!(api.post(full, sch(&a())) => 200, yes.clone());
    api.level("none", "NONE").await?;
    api.register("none", &a()).await?;
    api.register("none", &record(&[("z", "bytes", None)]))
        .await?;

    // Checking an unknown subject or version.
    fails!(api.post("/compatibility/subjects/nope/versions/latest", sch(&a())) => 404, 40401);
    fails!(api.post("/compatibility/subjects/s/versions/7", sch(&a())) => 404, 40402);
    answers!(api.post("/compatibility/subjects/nope/versions", sch(&a())) => 200, yes);
    reg.stop().await
}

#[tokio::test]
async fn transitive_levels_check_every_live_version() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    let (yes, no) = (compat(true), compat(false));
    let b = record(&[("b", "string", None)]);
    // Compatible with `b` but not with `a` (it has no `b`).
    let v3 = record(&[("b", "string", None), ("c", "int", Some(json!(0)))]);
    let all = "/compatibility/subjects/s/versions";
    api.level("s", "NONE").await?;
    api.register("s", &a()).await?;
    api.register("s", &b).await?;

    api.level("s", "BACKWARD_TRANSITIVE").await?;
    answers!(api.post(all, sch(&v3)) => 200, no);
    // A named version is checked alone.
    answers!(api.post(&format!("{all}/latest"), sch(&v3)) => 200, yes.clone());
    fails!(api.post("/subjects/s/versions", sch(&v3)) => 409, 409);

    api.level("s", "BACKWARD").await?;
    answers!(api.post(all, sch(&v3)) => 200, yes);
    api.register("s", &v3).await?;

    // Soft-deleted versions no longer count for transitive checks.
    api.level("t", "NONE").await?;
    api.register("t", &a()).await?;
    api.register("t", &b).await?;
    api.level("t", "FULL_TRANSITIVE").await?;
    fails!(api.post("/subjects/t/versions", sch(&v3)) => 409, 409);
    answers!(api.delete("/subjects/t/versions/1") => 200, json!(1));
    api.register("t", &v3).await?;
    reg.stop().await
}

#[tokio::test]
async fn config_endpoints() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    let level = |l: &str| json!({"compatibilityLevel": l});
    answers!(api.get("/config") => 200, level("BACKWARD"));
    let full = json!({"compatibility": "FULL"});
    answers!(api.put("/config", full.clone()) => 200, full);
    answers!(api.get("/config") => 200, level("FULL"));
    fails!(api.get("/config/s") => 404, 40408);
    answers!(api.get("/config/s?defaultToGlobal=true") => 200, level("FULL"));
    // Some clients send the key they read back.
    let none = json!({"compatibility": "NONE"});
    answers!(api.put("/config/s", level("NONE")) => 200, none);
    answers!(api.get("/config/s") => 200, level("NONE"));
    answers!(api.delete("/config/s") => 200, level("NONE"));
    fails!(api.get("/config/s") => 404, 40408);
    fails!(api.delete("/config/s") => 404, 40408);
    answers!(api.delete("/config") => 200, level("FULL"));
    answers!(api.get("/config") => 200, level("BACKWARD"));
    reg.stop().await
}

#[tokio::test]
async fn soft_and_permanent_delete_rules() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    let id1 = api.register("s", &a()).await?;
    api.register("s", &a_b_default()).await?;
    api.register("keep", &a()).await?;

    // Subject: permanent needs a soft delete first; soft twice is refused.
    fails!(api.delete("/subjects/s?permanent=true") => 404, 40405);
    answers!(api.delete("/subjects/s") => 200, json!([1, 2]));
    answers!(api.get("/subjects") => 200, json!(["keep"]));
    answers!(api.get("/subjects?deleted=true") => 200, json!(["keep", "s"]));
    fails!(api.get("/subjects/s/versions") => 404, 40401);
    fails!(api.get("/subjects/s/versions/1") => 404, 40401);
    answers!(api.get("/subjects/s/versions?deleted=true") => 200, json!([1, 2]));
    let v1 = json!({"subject": "s", "version": 1, "id": id1, "schema": a()});
    answers!(api.get("/subjects/s/versions/1?deleted=true") => 200, v1);
    fails!(api.delete("/subjects/s") => 404, 40404);
    // Decoders can still read soft-deleted ids.
    answers!(api.get(&format!("/schemas/ids/{id1}")) => 200, json!({"schema": a()}));
    answers!(api.delete("/subjects/s?permanent=true") => 200, json!([1, 2]));
    fails!(api.get("/subjects/s/versions?deleted=true") => 404, 40401);
    fails!(api.delete("/subjects/s") => 404, 40401);

    // Versions: the same rules one level down.
    api.register("v", &a()).await?;
    api.register("v", &a_b_default()).await?;
    answers!(api.delete("/subjects/v/versions/1") => 200, json!(1));
    fails!(api.delete("/subjects/v/versions/1") => 404, 40406);
    fails!(api.delete("/subjects/v/versions/2?permanent=true") => 404, 40407);
    answers!(api.delete("/subjects/v/versions/1?permanent=true") => 200, json!(1));
    answers!(api.get("/subjects/v/versions?deleted=true") => 200, json!([2]));
    fails!(api.delete("/subjects/v/versions/5") => 404, 40402);
    fails!(api.delete("/subjects/v/versions/x") => 422, 42202);

    // Re-registering a soft-deleted schema makes a new version, same id.
    assert_eq!(api.register("w", &a()).await?, id1);
    answers!(api.delete("/subjects/w/versions/latest") => 200, json!(1));
    assert_eq!(api.register("w", &a()).await?, id1);
    answers!(api.get("/subjects/w/versions") => 200, json!([2]));
    let keep1 = json!({"subject": "keep", "version": 1});
    let w1 = json!({"subject": "w", "version": 1});
    let w2 = json!({"subject": "w", "version": 2});
    let ids = format!("/schemas/ids/{id1}/versions");
    answers!(api.get(&ids) => 200, json!([keep1.clone(), w2.clone()]));
    answers!(api.get(&format!("{ids}?deleted=true")) => 200, json!([keep1, w1, w2]));
    reg.stop().await
}

#[tokio::test]
async fn read_only_and_import_modes() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let api = &reg.api;
    let mode = |m: &str| json!({"mode": m});
    let id = api.register("s", &a()).await?;
    answers!(api.get("/mode") => 200, mode("READWRITE"));
    answers!(api.put("/mode", mode("READONLY")) => 200, mode("READONLY"));
    fails!(api.post("/subjects/s/versions", sch(&a_b_default())) => 422, 42205);
    fails!(api.post("/subjects/s/versions", sch(&a())) => 422, 42205);
    fails!(api.delete("/subjects/s") => 422, 42205);
    fails!(api.delete("/subjects/s/versions/1") => 422, 42205);
    answers!(api.get("/subjects/s/versions") => 200, json!([1]));
    api.put("/mode", mode("READWRITE")).await?;

    // A subject-level mode wins over the global one.
    answers!(api.put("/mode/s", mode("READONLY")) => 200, mode("READONLY"));
    answers!(api.get("/mode/s") => 200, mode("READONLY"));
    fails!(api.post("/subjects/s/versions", sch(&a_b_default())) => 422, 42205);
    assert_eq!(api.register("other", &a()).await?, id);
    fails!(api.get("/mode/other") => 404, 40409);
    answers!(api.get("/mode/other?defaultToGlobal=true") => 200, mode("READWRITE"));
    answers!(api.delete("/mode/s") => 200, mode("READONLY"));
    fails!(api.delete("/mode/s") => 404, 40409);
    api.register("s", &a_b_default()).await?;

    // IMPORT keeps given ids; entering it needs force while subjects exist.
    fails!(api.put("/mode", mode("IMPORT")) => 422, 42205);
    let with_id = json!({"schema": a(), "id": 100});
    fails!(api.post("/subjects/i/versions", with_id.clone()) => 422, 42205);
    answers!(api.put("/mode?force=true", mode("IMPORT")) => 200, mode("IMPORT"));
    let import = json!({"schema": record(&[("q", "int", None)]), "id": 100, "version": 7});
    answers!(api.post("/subjects/i/versions", import) => 200, json!({"id": 100}));
    answers!(api.get("/subjects/i/versions") => 200, json!([7]));
    // Id 100 is taken by another schema.
    fails!(api.post("/subjects/j/versions", with_id) => 422, 42205);
    api.put("/mode", mode("READWRITE")).await?;
    assert_eq!(
        api.register("n", &record(&[("n", "int", None)])).await?,
        101
    );
    reg.stop().await
}

#[tokio::test]
async fn restart_keeps_ids_versions_and_config() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let id1 = reg.api.register("s", &a()).await?;
    let id2 = reg.api.register("s", &a_b_default()).await?;
    reg.api.register("t", &a()).await?;
    reg.api.delete("/subjects/t").await?;
    reg.api.level("s", "FULL").await?;
    reg.stop().await?;

    let reg = start(dir.path()).await?;
    let api = &reg.api;
    answers!(api.get("/subjects") => 200, json!(["s"]));
    answers!(api.get("/subjects?deleted=true") => 200, json!(["s", "t"]));
    let v1 = json!({"subject": "s", "version": 1, "id": id1, "schema": a()});
    answers!(api.get("/subjects/s/versions/1") => 200, v1);
    let v2 = json!({"subject": "s", "version": 2, "id": id2, "schema": a_b_default()});
    answers!(api.get("/subjects/s/versions/2") => 200, v2);
    answers!(api.get("/config/s") => 200, json!({"compatibilityLevel": "FULL"}));
    assert_eq!(api.register("s", &a_b_default()).await?, id2);
    let id3 = api.register("u", &record(&[("u", "int", None)])).await?;
    assert_eq!(id3, id2 + 1, "ids continue after a restart");
    reg.stop().await
}

#[tokio::test]
async fn a_torn_last_log_line_is_dropped() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let id1 = reg.api.register("s", &a()).await?;
    reg.stop().await?;
    // What a kill -9 in the middle of a write leaves behind.
    let log = dir.path().join("registry.log");
    let mut text = std::fs::read(&log)?;
    text.extend_from_slice(br#"{"op":"register","subject":"s","vers"#);
    std::fs::write(&log, text)?;

    let reg = start(dir.path()).await?;
    answers!(reg.api.get("/subjects/s/versions") => 200, json!([1]));
    let id2 = reg.api.register("s", &a_b_default()).await?;
    reg.stop().await?;
    // The next line was not glued onto the torn one.
    let reg = start(dir.path()).await?;
    let v1 = json!({"subject": "s", "version": 1, "id": id1, "schema": a()});
    answers!(reg.api.get("/subjects/s/versions/1") => 200, v1);
    let v2 = json!({"subject": "s", "version": 2, "id": id2, "schema": a_b_default()});
    answers!(reg.api.get("/subjects/s/versions/2") => 200, v2);
    reg.stop().await
}

#[tokio::test]
async fn a_second_registry_on_the_same_dir_is_refused() -> R {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("created/on/demand");
    let reg = start(&data).await?;
    let second = start(&data).await;
    assert!(
        matches!(second, Err(RegistryError::Locked { .. })),
        "second start must fail"
    );
    reg.stop().await?;
    // Released on stop.
    start(&data).await?.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_get_consistent_ids() -> R {
    let dir = tempfile::tempdir()?;
    let reg = start(dir.path()).await?;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let base = reg.api.base.clone();
        tasks.push(tokio::spawn(async move {
            let api = Api {
                client: reqwest::Client::new(),
                base,
            };
            // Half register one shared schema, half their own.
            let (subject, schema) = if i % 2 == 0 {
                ("shared".to_owned(), a())
            } else {
                (
                    format!("own{i}"),
                    record(&[(&format!("f{i}"), "int", None)]),
                )
            };
            let id = api
                .register(&subject, &schema)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((subject, schema, id))
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await??);
    }
    let shared: Vec<u64> = results
        .iter()
        .filter(|r| r.0 == "shared")
        .map(|r| r.2)
        .collect();
    assert!(
        shared.windows(2).all(|w| w[0] == w[1]),
        "one id for one schema: {shared:?}"
    );
    answers!(reg.api.get("/subjects/shared/versions") => 200, json!([1]));
    let mut own: Vec<u64> = results
        .iter()
        .filter(|r| r.0 != "shared")
        .map(|r| r.2)
        .collect();
    own.sort_unstable();
    own.dedup();
    assert_eq!(own.len(), 20, "distinct schemas get distinct ids");
    assert!(!own.contains(&shared[0]));
    for (_, schema, id) in &results {
        answers!(reg.api.get(&format!("/schemas/ids/{id}")) => 200, json!({"schema": schema}));
    }
    reg.stop().await
}
