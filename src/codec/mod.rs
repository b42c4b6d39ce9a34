//! The one place where tropa turns values into bytes and back.
//!
//! Every byte tropa makes of its own values goes through this module: the packed in-memory
//! buffers ([`tagged`] field groups: a contact's timeline; [`varint`]: its cart operations), the packed
//! event payloads of the timeline (kept so that a rule loaded later can be backfilled from them),
//! and the files of a data directory ([`frame`]: file headers and checksummed records;
//! [`wire`]: what a log record holds). The encoding is bincode 2.0 (pinned to 2.0.x: the
//! crate is unmaintained upstream, RUSTSEC-2025-0141) in its standard configuration: varint
//! integers, little-endian floats, length-prefixed strings. Types derive `bincode::Encode` and
//! `bincode::Decode`; nothing outside this module calls bincode, so replacing it means
//! changing this module and the derives, and raising [`FORMAT_VERSION`]. One encoder is
//! written by hand, for speed: a timeline's event payload, packed on every event in the same
//! bytes as bincode's (`payload`; a property test holds the two to the same bytes).

pub(crate) mod frame;
mod payload;
mod small;
pub(crate) mod tagged;
pub(crate) mod varint;
pub(crate) mod wire;

/// The version of every persisted byte: file headers, record framing and the encoding of
/// every type stored. Raised whenever any of them changes; a file with a newer version is
/// refused rather than misread.
pub(crate) const FORMAT_VERSION: u32 = 1;

use bincode::de::Decode;
use bincode::error::DecodeError;
use std::fmt;

pub(crate) use payload::{Pack, Stack};
pub(crate) use small::{Bytes, Small};

/// Decoding never allocates more than this for one value, whatever a corrupt length says.
const LIMIT: usize = 16 << 20;

/// Packed bytes, inline up to 40 bytes (most payloads: a product id and category, a price, a
/// discount; an order id and amount).
pub(crate) type Packed = Bytes<[u8; 40]>;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// Encoding through bincode, for tests: they hold the values tropa packs by hand (a
/// timeline's payloads, see [`Pack`]) and the types it stores to what bincode makes of them.
#[cfg(test)]
mod by_bincode {
    use super::{config, Packed};
    use bincode::enc::write::Writer;
    use bincode::enc::Encode;
    use bincode::error::EncodeError;
    use smallvec::SmallVec;

    type Scratch = SmallVec<[u8; 256]>;

    struct Into<'a>(&'a mut Scratch);

    impl Writer for Into<'_> {
        fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// Encodes `value` into inline-first bytes.
    pub(crate) fn pack<T: Encode>(value: &T) -> Packed {
        let mut scratch = Scratch::new();
        // Writing into memory cannot fail, and the derived encoders of tropa's types never
        // fail.
        bincode::encode_into_writer(value, Into(&mut scratch), config())
            .expect("encoding into memory cannot fail");
        super::Bytes(SmallVec::from_slice(&scratch))
    }
}
#[cfg(test)]
pub(crate) use by_bincode::pack;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodecError(String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable bytes: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<DecodeError> for CodecError {
    fn from(e: DecodeError) -> Self {
        CodecError(e.to_string())
    }
}

/// Decodes a value that must fill `bytes` exactly.
pub(crate) fn unpack<T: Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    let (v, used) = bincode::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(CodecError(format!(
            "{} bytes left over after the value",
            bytes.len() - used
        )));
    }
    Ok(v)
}

/// Whether two of `items` have the same key: a stored map that names a key twice is a
/// damaged one (a lookup would only ever see the first). Maps read back are small, so this
/// compares each key with those before it.
pub(crate) fn repeats_a_key<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> &K) -> bool {
    (1..items.len()).any(|i| items[..i].iter().any(|x| key(x) == key(&items[i])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Item, Kind, Money, Payload, Value};

    #[test]
    fn a_repeated_key_is_found_wherever_it_is() {
        fn first(p: &(u8, char)) -> &u8 {
            &p.0
        }
        assert!(!repeats_a_key(&[], first));
        assert!(!repeats_a_key(&[(1, 'a')], first));
        assert!(!repeats_a_key(&[(1, 'a'), (2, 'a'), (3, 'b')], first));
        assert!(repeats_a_key(&[(1, 'a'), (2, 'b'), (1, 'c')], first));
        assert!(repeats_a_key(&[(3, 'a'), (2, 'b'), (2, 'c')], first));
    }

    #[test]
    fn payloads_round_trip() {
        let payloads = [
            Payload::ProductView {
                product: "p-1".into(),
                category: Some("shoes".into()),
                brand_name: None,
                price: Some(Money(129_990_000)),
                color: None,
                discount: Some(0.3),
            },
            Payload::Purchase {
                order: "o-1".into(),
                amount: Money(10),
                currency: Some("PLN".into()),
                items: vec![Item {
                    product: Some("p".into()),
                    category: None,
                    qty: 2,
                    price: None,
                }],
            },
            Payload::Campaign {
                kind: Kind::EmailClick,
                campaign: Some("spring".into()),
            },
            Payload::Custom {
                name: "quiz".into(),
                props: vec![
                    ("score".into(), Value::Num(7.5)),
                    ("ok".into(), Value::Bool(true)),
                ],
            },
            Payload::AppOpen,
        ];
        for p in payloads {
            let bytes = pack(&p);
            assert_eq!(unpack::<Payload>(&bytes).unwrap(), p);
        }
        let small = pack(&Payload::CartAdd {
            product: "p-123".into(),
            qty: 1,
            price: Some(Money(49_000_000)),
            category: None,
        });
        assert!(!small.spilled(), "{} bytes", small.len());
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        assert!(unpack::<Payload>(&[]).is_err());
        assert!(unpack::<Payload>(&[200, 1, 2]).is_err());
        // A string length far beyond the bytes present.
        assert!(unpack::<Payload>(&[0, 1, 0xfc, 0xff, 0xff, 0xff, 0x7f]).is_err());
        let mut bytes = pack(&Payload::AppOpen).to_vec();
        bytes.push(0);
        assert!(unpack::<Payload>(&bytes)
            .unwrap_err()
            .to_string()
            .contains("left over"));
    }
}
