//! MongoDB databases kept as files, so a test can start from exactly what an earlier release
//! wrote. One JSON object per line: `{"db", "collection", "indexes": [...]}` first for each
//! collection (its index specifications as listIndexes gives them), then `{"db",
//! "collection", "document"}` for each document, in canonical extended JSON, so every BSON type
//! comes back as it was.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt as _;
use mongodb::Client;
use serde_json::{json, Value};

/// Every collection of `databases`, in name order, documents in `_id` order.
pub async fn dump(client: &Client, databases: &[&str]) -> String {
    let mut lines = Vec::new();
    for name in databases {
        let database = client.database(name);
        let mut collections = database.list_collection_names().await.unwrap();
        collections.sort();
        for collection in collections {
            let handle = database.collection::<Document>(&collection);
            let indexes: Vec<Value> = handle
                .list_indexes()
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .into_iter()
                .map(|index| {
                    let mut spec = bson::to_document(&index).unwrap();
                    spec.remove("v");
                    spec.remove("ns");
                    Bson::Document(spec).into_canonical_extjson()
                })
                .collect();
            lines.push(json!({"db": name, "collection": &collection, "indexes": indexes}));
            for document in every_document(&handle).await {
                let document = Bson::Document(document).into_canonical_extjson();
                lines.push(json!({"db": name, "collection": &collection, "document": document}));
            }
        }
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Writes a dump back: each database it names is dropped first, then its collections, indexes
/// and documents are created as they were.
pub async fn restore(client: &Client, dump: &str) {
    let lines: Vec<Value> = dump
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut dropped = std::collections::BTreeSet::new();
    for line in &lines {
        let name = line["db"].as_str().unwrap().to_owned();
        if dropped.insert(name.clone()) {
            client.database(&name).drop().await.unwrap();
        }
    }
    for line in lines {
        let database = client.database(line["db"].as_str().unwrap());
        let collection = line["collection"].as_str().unwrap();
        if let Some(indexes) = line.get("indexes") {
            database.create_collection(collection).await.unwrap();
            let specs: Vec<Bson> = indexes
                .as_array()
                .unwrap()
                .iter()
                .map(|spec| Bson::try_from(spec.clone()).unwrap())
                .filter(|spec| {
                    spec.as_document().and_then(|d| d.get_str("name").ok()) != Some("_id_")
                })
                .collect();
            if !specs.is_empty() {
                database
                    .run_command(doc! {"createIndexes": collection, "indexes": specs})
                    .await
                    .unwrap();
            }
        } else {
            let Bson::Document(document) = Bson::try_from(line["document"].clone()).unwrap() else {
                panic!("not a document: {line}");
            };
            database
                .collection::<Document>(collection)
                .insert_one(document)
                .await
                .unwrap();
        }
    }
}

/// Every document of `collection` as stored, by `_id`.
pub async fn every_document(collection: &mongodb::Collection<Document>) -> Vec<Document> {
    collection
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}
