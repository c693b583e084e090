//! Which writer schemas a topic's Delta table takes. When a record
//! arrives, its schema's fit is decided and remembered per schema id: a
//! pending record keeps its Kafka message only to send it to the
//! dead-letter topic should the table refuse its schema, so a record whose
//! schema fits drops it, about a third of what a full batch holds. When a
//! batch is flushed, records the table refuses go to the dead-letter topic.

use std::collections::{HashMap, HashSet};

use deltalake::arrow::datatypes::SchemaRef;

use super::batch::TopicState;
use super::decode::RowSchema;
use super::delta::widen::evolve_schema;
use super::delta::TableError;
use super::dlq::DeadLetters;
use super::rows;
use super::SinkError;
use crate::wire;

#[derive(Default)]
pub(super) struct SchemaFit {
    fits: HashSet<u32>,
    refused: HashSet<u32>,
    /// Before the table exists: the table its first commit will create,
    /// the first schema's columns extended and widened by those that fit
    /// after it (as the flush does).
    planned: Option<SchemaRef>,
}

impl SchemaFit {
    /// Whether records of `schema` fit `table` (its schema, `None` while it
    /// does not exist yet). A fit is remembered: binlake's own commits only
    /// add and widen columns, so what fits stays fitting; a table changed
    /// outside binlake is caught when the batch is flushed.
    pub(super) fn fits(
        &mut self,
        schema: &RowSchema,
        table: Option<&SchemaRef>,
        soft_deletes: bool,
    ) -> bool {
        if self.fits.contains(&schema.id) {
            return true;
        }
        if self.refused.contains(&schema.id) {
            return false;
        }
        let fits = match table.or(self.planned.as_ref()) {
            Some(current) => match evolve_schema(current, "", &schema.column_types()) {
                Ok(next) => {
                    if table.is_none() {
                        if let Some(next) = next {
                            self.planned = Some(next);
                        }
                    }
                    true
                }
                Err(_) => false,
            },
            None => {
                self.planned = Some(rows::table_schema(&schema.columns, soft_deletes));
                true
            }
        };
        if fits {
            self.fits.insert(schema.id);
        } else {
            self.refused.insert(schema.id);
        }
        fits
    }
}

/// Records whose schema the table cannot take (a column's type changed)
/// go to the dead-letter topic; the rest of the batch is applied.
pub(super) async fn refuse_incompatible(
    dlq: &DeadLetters,
    state: &mut TopicState,
) -> Result<(), SinkError> {
    let refused = refused_schemas(state)?;
    if refused.is_empty() {
        return Ok(());
    }
    for p in &mut state.pending {
        let reason = p.record.as_ref().and_then(|r| refused.get(&r.schema.id));
        if let (Some(reason), Some(message)) = (reason, p.message.as_deref()) {
            dlq.send(message, wire::DLQ_REASON_INCOMPATIBLE_SCHEMA, reason)
                .await?;
            // The offset still counts as consumed: it is in the dead-letter topic.
            p.record = None;
        }
    }
    state.rows = state.pending.iter().filter(|p| p.record.is_some()).count();
    Ok(())
}

/// The schemas of pending records the table refuses, with the reason.
/// Every such record must still hold its message: one that let it go had
/// a schema that fit the table when it arrived, which only a change made
/// outside binlake undoes; the sink then stops before sending anything.
fn refused_schemas(state: &TopicState) -> Result<HashMap<u32, String>, SinkError> {
    let mut refused: HashMap<u32, String> = HashMap::new();
    let Some(target) = state.target.as_ref() else {
        return Ok(refused);
    };
    let mut checked = HashSet::new();
    for p in &state.pending {
        let Some(r) = &p.record else { continue };
        if !checked.insert(r.schema.id) {
            continue;
        }
        if let Err(e @ TableError::Incompatible { .. }) = target.evolve(&r.schema.column_types()) {
            refused.insert(r.schema.id, e.to_string());
        }
    }
    let let_go = state.pending.iter().find_map(|p| {
        let r = p.record.as_ref().filter(|_| p.message.is_none())?;
        refused.get(&r.schema.id)
    });
    if let Some(reason) = let_go {
        return Err(SinkError::Refit(format!(
            "{}: the Delta table no longer takes records it took when they were read ({reason}); it was changed outside binlake. Restart the sink: it reads them again from Kafka and sends those the table refuses to the dead-letter topic",
            state.table_label
        )));
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Op;
    use crate::sink::batch::Pending;
    use crate::sink::decode::{ColumnSpec, SinkRecord};
    use crate::sink::delta::TableTarget;
    use apache_avro::types::Value as Avro;
    use deltalake::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use rdkafka::message::OwnedMessage;
    use rdkafka::Timestamp;
    use std::sync::Arc;

    fn schema(id: u32, cols: &[(&str, DataType)]) -> RowSchema {
        let columns: Vec<ColumnSpec> = cols
            .iter()
            .map(|(n, t)| ColumnSpec {
                name: n.to_string(),
                data_type: t.clone(),
                default: None,
            })
            .collect();
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect::<HashMap<_, _>>();
        RowSchema { id, columns, index }
    }

    #[test]
    fn before_the_table_exists_later_schemas_are_checked_against_the_first() {
        let mut fit = SchemaFit::default();
        let a = schema(1, &[("id", DataType::Int64), ("c", DataType::Int32)]);
        let added = schema(
            2,
            &[
                ("id", DataType::Int64),
                ("c", DataType::Int32),
                ("d", DataType::Utf8),
            ],
        );
        let retyped = schema(3, &[("id", DataType::Int64), ("c", DataType::Utf8)]);
        assert!(fit.fits(&a, None, false));
        assert!(fit.fits(&added, None, false));
        assert!(!fit.fits(&retyped, None, false));
        let widened = schema(4, &[("id", DataType::Int64), ("c", DataType::Int64)]);
        assert!(fit.fits(&widened, None, false));
        // Remembered both ways.
        assert!(fit.fits(&a, None, false));
        assert!(!fit.fits(&retyped, None, false));
    }

    #[test]
    fn an_existing_table_decides() {
        let mut fit = SchemaFit::default();
        let table = rows::table_schema(
            &schema(9, &[("id", DataType::Int64), ("c", DataType::Utf8)]).columns,
            false,
        );
        let a = schema(1, &[("id", DataType::Int64), ("c", DataType::Int32)]);
        let b = schema(
            2,
            &[
                ("id", DataType::Int64),
                ("c", DataType::Utf8),
                ("e", DataType::Float64),
            ],
        );
        assert!(!fit.fits(&a, Some(&table), false));
        assert!(fit.fits(&b, Some(&table), false));
    }

    fn record(schema: &Arc<RowSchema>) -> SinkRecord {
        SinkRecord {
            op: Op::Create,
            schema: schema.clone(),
            row: vec![Avro::Long(1), Avro::Int(2)],
            key_fields: Arc::from(vec!["id".to_string()]),
            ts_ms: 0,
            pos: "f.000001:4".into(),
            db: "d".into(),
            table: "t".into(),
        }
    }

    /// A record that let its message go cannot be dead-lettered: if the
    /// table refuses it after all, the sink stops instead of skipping it.
    #[tokio::test]
    async fn a_refused_record_without_its_message_stops_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("t");
        let mut target = TableTarget::open(loc.to_str().unwrap()).await.unwrap();
        let table = Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]));
        target.create(table, false).await.unwrap();
        let schema = Arc::new(schema(
            7,
            &[("id", DataType::Int64), ("v", DataType::Int32)],
        ));

        let message =
            OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 1, None);
        let mut s = TopicState::new("t");
        s.pending.push(Pending {
            partition: 0,
            offset: 1,
            message: Some(Box::new(message)),
            record: Some(record(&schema)),
            marker: None,
        });
        s.target = Some(target);
        let refused = refused_schemas(&s).unwrap();
        assert!(refused[&7].contains("`v`"), "{refused:?}");

        s.pending.push(Pending {
            partition: 0,
            offset: 2,
            message: None,
            record: Some(record(&schema)),
            marker: None,
        });
        match refused_schemas(&s) {
            Err(SinkError::Refit(m)) => assert!(m.contains("changed outside binlake"), "{m}"),
            other => panic!("expected a refit error, got {other:?}"),
        }
    }
}
