//! What the records of a data directory hold, and their bytes.

use super::{config, CodecError};
use crate::event::{Event, Identifier, Ts};
use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};

/// One entry of the write-ahead log, as read back: everything that changes engine state, in
/// the order the engine took it.
// Nearly every record is an event, read once and handed on by value: boxing it would cost an
// allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LogRecord {
    /// An accepted event (erasures included).
    Event(Event),
    /// [`Engine::advance_to`](crate::Engine::advance_to).
    Advance(Ts),
    /// Rules put in force, as canonical text ([`crate::rules::Plan::text`]).
    Rules(Box<str>),
}

/// A log entry to write, borrowing what it holds (so that an event is encoded without a
/// copy). Its bytes decode as the [`LogRecord`] of the same variant.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry<'a> {
    Event(&'a Event),
    Advance(Ts),
    Rules(&'a str),
}

const EVENT: u8 = 0;
const ADVANCE: u8 = 1;
const RULES: u8 = 2;

impl Encode for Entry<'_> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        match *self {
            Entry::Event(ev) => {
                EVENT.encode(e)?;
                ev.id.encode(e)?;
                ev.ts.encode(e)?;
                ev.ids.as_slice().encode(e)?;
                ev.brand.encode(e)?;
                ev.channel.encode(e)?;
                ev.payload.encode(e)
            }
            Entry::Advance(t) => {
                ADVANCE.encode(e)?;
                t.encode(e)
            }
            Entry::Rules(text) => {
                RULES.encode(e)?;
                text.encode(e)
            }
        }
    }
}

impl<C> Decode<C> for LogRecord {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        match u8::decode(d)? {
            EVENT => {
                let id = Option::<crate::Text>::decode(d)?;
                let ts = Ts::decode(d)?;
                let ids = Vec::<Identifier>::decode(d)?;
                // Identifiers are stored normalised; anything else did not come from tropa.
                for i in &ids {
                    match Identifier::new(i.kind.clone(), &i.value) {
                        Ok(n) if n == *i => {}
                        _ => {
                            return Err(DecodeError::OtherString(format!(
                                "identifier {}:{} is not normalised",
                                i.kind.as_str(),
                                i.value
                            )))
                        }
                    }
                }
                Ok(LogRecord::Event(Event {
                    id,
                    ts,
                    ids: ids.into(),
                    brand: Decode::decode(d)?,
                    channel: Decode::decode(d)?,
                    payload: Decode::decode(d)?,
                }))
            }
            ADVANCE => Ok(LogRecord::Advance(Ts::decode(d)?)),
            RULES => Ok(LogRecord::Rules(Decode::decode(d)?)),
            tag => Err(DecodeError::OtherString(format!(
                "unknown log record tag {tag}"
            ))),
        }
    }
}

/// Encodes a log entry, appending its bytes to `out`.
pub(crate) fn encode_log(entry: Entry<'_>, out: &mut Vec<u8>) {
    // Encoding into memory cannot fail, and these encoders never fail.
    bincode::encode_into_std_write(entry, out, config()).expect("encoding into memory");
}

/// Decodes one log record's payload.
pub(crate) fn decode_log(bytes: &[u8]) -> Result<LogRecord, CodecError> {
    super::unpack(bytes)
}

/// Encodes a snapshot record: a tag saying what it holds, then `value`.
pub(crate) fn encode_tagged<T: Encode>(tag: u8, value: &T, out: &mut Vec<u8>) {
    out.push(tag);
    // Encoding into memory cannot fail, and the derived encoders never fail.
    bincode::encode_into_std_write(value, out, config()).expect("encoding into memory");
}

/// The tag of a snapshot record and the bytes of its value (`None` for an empty record).
pub(crate) fn split_tagged(bytes: &[u8]) -> Option<(u8, &[u8])> {
    bytes.split_first().map(|(t, rest)| (*t, rest))
}

/// Decodes the value of a snapshot record (the bytes after its tag).
pub(crate) fn decode_tagged<T: Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    super::unpack(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, IdType, Money, Payload};

    #[test]
    fn log_records_round_trip() {
        let event = Event::new(
            1_772_359_200_000,
            Payload::Refund {
                order: "o-1".into(),
                amount: Money(5),
            },
        )
        .with_id(IdType::Email, "Ana@Example.com")
        .unwrap()
        .with_id(IdType::Custom("crm".into()), "x-1")
        .unwrap()
        .with_event_id("e-1")
        .with_brand("shop-a")
        .with_channel(Channel::Pos);
        let rules = "segment a = count(purchase) >= 1\n";
        for (entry, record) in [
            (Entry::Event(&event), LogRecord::Event(event.clone())),
            (Entry::Advance(-5), LogRecord::Advance(-5)),
            (Entry::Rules(rules), LogRecord::Rules(rules.into())),
        ] {
            let mut bytes = Vec::new();
            encode_log(entry, &mut bytes);
            assert_eq!(decode_log(&bytes).unwrap(), record);
        }
        assert!(decode_log(&[9]).unwrap_err().to_string().contains("tag 9"));
    }

    #[test]
    fn identifiers_not_normalised_are_refused() {
        let mut e = Event::new(1, Payload::AppOpen);
        e.ids.push(Identifier {
            kind: IdType::Email,
            value: "Ana@Example.com".into(),
        });
        let mut bytes = Vec::new();
        encode_log(Entry::Event(&e), &mut bytes);
        assert!(decode_log(&bytes)
            .unwrap_err()
            .to_string()
            .contains("not normalised"));
    }
}
