//! The deployments orgsvc runs on: replica sets and sharded clusters (and Atlas, which is
//! either), because their transactions are what keep its multi-document invariants. A
//! standalone `mongod` has no transactions, so it is refused at startup rather than found out
//! by the first create.

use bson::{doc, Document as BsonDocument};
use orgsvc_domain::errors::StoreError;

use super::errors::timed;
use super::MongoStore;

impl MongoStore {
    /// Refuses any configured cluster that is a standalone server.
    pub(super) async fn refuse_standalone(&self) -> Result<(), StoreError> {
        for (name, client) in &self.inner.clients {
            let hello = timed(
                self.op_timeout(),
                client.database("admin").run_command(doc! {"hello": 1}),
            )
            .await?;
            if !has_transactions(&hello) {
                return Err(StoreError::Unknown(anyhow::anyhow!(
                    "storage.mongodb cluster {name:?} is a standalone mongod, which has no \
                     transactions; run it as a single-node replica set instead (start mongod \
                     with --replSet rs0, then run rs.initiate() once in mongosh)"
                )));
            }
        }
        Ok(())
    }
}

/// A replica set member names its set; a sharded cluster's router (mongos, and DocumentDB's
/// gateway, which answers as one) says `isdbgrid`. Anything else is a standalone server.
fn has_transactions(hello: &BsonDocument) -> bool {
    hello.get_str("setName").is_ok() || hello.get_str("msg") == Ok("isdbgrid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_sets_and_routers_have_transactions_and_a_standalone_server_has_none() {
        let member = doc! {"isWritablePrimary": true, "setName": "rs0", "maxWireVersion": 21};
        let router = doc! {"isWritablePrimary": true, "msg": "isdbgrid", "maxWireVersion": 21};
        let standalone = doc! {"isWritablePrimary": true, "maxWireVersion": 21};
        assert!(has_transactions(&member));
        assert!(has_transactions(&router));
        assert!(!has_transactions(&standalone));
    }
}
