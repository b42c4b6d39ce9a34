//! The export of one contact's data (right of access, SPEC 7).

use super::Engine;
use crate::event::{encode_value, Identifier, Ts};
use crate::identity::ContactId;
use crate::state::Profile;
use serde::Serialize;

/// Everything the engine holds about one contact, for a right-of-access request: serialise
/// it with `serde_json` (see [`Engine::export`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactExport {
    /// Engine time of the export.
    pub at: Option<Ts>,
    /// The profile: identifiers, counters, RFM, score, tags, segments, consents, attributes,
    /// stage, cart and a summary of the last events.
    pub profile: Profile,
    /// The events the contact's timeline keeps, in full and oldest first, in the wire format
    /// (SPEC 1) without identifiers (those are in the profile).
    pub events: Vec<serde_json::Value>,
    /// Ids of the contact's events remembered for de-duplication, sorted.
    pub event_ids: Vec<String>,
}

impl Engine {
    /// Everything held about the contact that owns `id`, or `None` when nobody does. Call
    /// [`Engine::flush`] first for everything ingested so far to be in it.
    ///
    /// ```
    /// use tropa::{decode_line, Engine, IdType, Identifier};
    /// let engine = Engine::builder().build().unwrap();
    /// let line = r#"{"ts":7,"id":"e-1","ids":{"email":"ana@x.pl"},"type":"purchase","order":"o-9","amount":20}"#;
    /// engine.ingest(decode_line(line).unwrap()).unwrap();
    /// engine.flush();
    /// let ana = Identifier::new(IdType::Email, "ana@x.pl").unwrap();
    /// let export = engine.export(&ana).unwrap();
    /// assert_eq!(export.events[0]["order"], "o-9");
    /// assert_eq!(export.event_ids, ["e-1"]);
    /// let json = serde_json::to_string(&export).unwrap();
    /// assert!(json.contains("ana@x.pl"));
    /// ```
    pub fn export(&self, id: &Identifier) -> Option<ContactExport> {
        let c = self.contact_of(id)?;
        let profile = self.profile_of(c)?;
        let record = self.identity.record(c)?;
        let events = {
            let st = self.shards[self.shard_of(c)].state.lock();
            let contact = st.get(c, self.shards.len())?;
            contact
                .state
                .timeline
                .entries()
                .map(|e| {
                    let mut v = encode_value(&e.event(&self.syms));
                    if let Some(m) = v.as_object_mut() {
                        m.remove("ids");
                    }
                    v
                })
                .collect()
        };
        let mine: Vec<ContactId> = std::iter::once(c).chain(record.absorbed).collect();
        Some(ContactExport {
            at: self.now(),
            profile,
            events,
            event_ids: self.dedup.ids_of(&mine),
        })
    }
}
