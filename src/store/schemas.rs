//! `schema/schema-N` files: the latest schema and the one each data file was written with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::io::{FileIO, IoError};
use crate::spec::paths::{schema_path, SCHEMA_DIR};
use crate::spec::TableSchema;

#[derive(Clone, Debug)]
pub struct SchemaManager {
    io: FileIO,
    cache: Arc<Mutex<HashMap<i64, Arc<TableSchema>>>>,
}

impl SchemaManager {
    pub fn new(io: FileIO) -> Self {
        SchemaManager { io, cache: Default::default() }
    }

    pub async fn schema_ids(&self) -> Result<Vec<i64>> {
        super::numbered_ids(&self.io, SCHEMA_DIR, "schema-").await
    }

    pub async fn latest(&self) -> Result<Option<Arc<TableSchema>>> {
        match self.schema_ids().await?.last() {
            None => Ok(None),
            Some(&id) => Ok(Some(self.schema(id).await?)),
        }
    }

    pub async fn schema(&self, id: i64) -> Result<Arc<TableSchema>> {
        if let Some(s) = self.cache.lock().expect("schema cache lock").get(&id) {
            return Ok(s.clone());
        }
        let path = schema_path(id);
        let text = match self.io.read_string(&path).await {
            Ok(t) => t,
            Err(IoError::NotFound { path }) => {
                return Err(Error::InvalidInput(format!("schema {id} does not exist ({path})")))
            }
            Err(e) => return Err(e.into()),
        };
        let schema = Arc::new(TableSchema::from_json_str(&text, &format!("{}/{path}", self.io.uri()))?);
        self.cache.lock().expect("schema cache lock").insert(id, schema.clone());
        Ok(schema)
    }

    /// Writes a new schema file; fails if that id exists already.
    pub async fn commit(&self, schema: &TableSchema) -> Result<bool> {
        Ok(self.io.create_new(&schema_path(schema.id), schema.to_json_string()).await?)
    }
}
