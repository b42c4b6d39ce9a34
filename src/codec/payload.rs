//! An event payload packed by hand, byte for byte as bincode packs it.
//!
//! Every accepted event's payload is packed into its contact's timeline. Through bincode's
//! generic encoder that took about 480 instructions for a product view (each field passes its
//! encoder, its limit check and its writer); written here directly it takes a fraction of
//! that. The bytes are the same as `codec::pack`'s (bincode's standard configuration:
//! variant indices and lengths as bincode varints, signed integers zigzagged, floats as eight
//! little-endian bytes, options as a tag byte), so nothing stored changes, and
//! [`super::unpack`] reads them back; a test holds the two encoders to the same bytes.

use crate::event::{Item, Money, Payload, Value};
use crate::Text;
/// Where packed bytes go: a vector, or a count of them.
pub(crate) trait Out {
    fn push(&mut self, b: u8);
    fn extend_from_slice(&mut self, b: &[u8]);
}

impl Out for Vec<u8> {
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }

    fn extend_from_slice(&mut self, b: &[u8]) {
        Vec::extend_from_slice(self, b);
    }
}

/// Something the timeline packs: a payload, or (in tests) bytes as they are.
pub(crate) trait Pack {
    fn pack_into<O: Out>(&self, out: &mut O);
}

impl Pack for Payload {
    fn pack_into<O: Out>(&self, out: &mut O) {
        pack_payload(self, out);
    }
}

impl Pack for [u8] {
    fn pack_into<O: Out>(&self, out: &mut O) {
        out.extend_from_slice(self);
    }
}

/// Packed bytes on the stack, for a payload small enough (the usual one); past [`STACK`]
/// bytes it only counts them, so that one pass gives either the bytes or their length.
/// (Until the twenty-fourth session the timeline packed every payload twice, counting the
/// bytes for its length and then writing them into its buffer: a second pass of about
/// ninety instructions an event, where copying the bytes from here takes a third of that.)
pub(crate) struct Stack {
    bytes: [u8; STACK],
    len: usize,
}

/// The bytes a [`Stack`] holds (a power of two: see its `push`).
pub(crate) const STACK: usize = 128;
const _: () = assert!(STACK.is_power_of_two());

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            bytes: [0; STACK],
            len: 0,
        }
    }
}

impl Stack {
    /// The packed bytes, when they fit ([`None`] past [`STACK`]).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.bytes.get(..self.len)
    }

    /// How many bytes were packed, whether they fit or not.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends the bytes of `what`, packed into this: copied when they fit, else packed
    /// again straight into `out`.
    pub(crate) fn write_to<P: Pack + ?Sized>(&self, what: &P, out: &mut Vec<u8>) {
        match self.bytes() {
            Some(b) => out.extend_from_slice(b),
            None => what.pack_into(out),
        }
    }
}

impl Out for Stack {
    fn push(&mut self, b: u8) {
        // Past the end the index wraps: those bytes are never read ([`Stack::bytes`] gives
        // nothing then), and with `STACK` a power of two the wrap is a mask, not a branch
        // on every byte.
        self.bytes[self.len % STACK] = b;
        self.len += 1;
    }

    fn extend_from_slice(&mut self, b: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
        }
        self.len += b.len();
    }
}

/// Writes `v` as bincode's varint: below 251 one byte; else a marker (251, 252, 253) and the
/// value in two, four or eight little-endian bytes.
fn varint(out: &mut impl Out, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v <= u64::from(u16::MAX) {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn signed(out: &mut impl Out, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn text(out: &mut impl Out, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn opt_text(out: &mut impl Out, s: &Option<Text>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            text(out, s);
        }
    }
}

fn money(out: &mut impl Out, m: Money) {
    signed(out, m.0);
}

fn opt_money(out: &mut impl Out, m: &Option<Money>) {
    match m {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            money(out, *m);
        }
    }
}

fn opt_ms(out: &mut impl Out, ms: &Option<i64>) {
    match ms {
        None => out.push(0),
        Some(ms) => {
            out.push(1);
            signed(out, *ms);
        }
    }
}

fn value(out: &mut impl Out, v: &Value) {
    match v {
        Value::Bool(b) => {
            out.push(0);
            out.push(u8::from(*b));
        }
        Value::Num(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(2);
            text(out, s);
        }
    }
}

fn item(out: &mut impl Out, i: &Item) {
    opt_text(out, &i.product);
    opt_text(out, &i.category);
    varint(out, u64::from(i.qty));
    opt_money(out, &i.price);
}

/// Appends `p` as bincode would encode it.
pub(crate) fn pack_payload<O: Out>(p: &Payload, out: &mut O) {
    // Each arm starts with the variant's index in `Payload`'s declaration (one byte: there
    // are fewer than 251).
    match p {
        Payload::PageView { url, category } => {
            out.push(0);
            opt_text(out, url);
            opt_text(out, category);
        }
        Payload::ProductView {
            product,
            category,
            brand_name,
            price,
            color,
            discount,
        } => {
            out.push(1);
            text(out, product);
            opt_text(out, category);
            opt_text(out, brand_name);
            opt_money(out, price);
            opt_text(out, color);
            match discount {
                None => out.push(0),
                Some(d) => {
                    out.push(1);
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
        }
        Payload::CartAdd {
            product,
            qty,
            price,
            category,
        }
        | Payload::CartRemove {
            product,
            qty,
            price,
            category,
        } => {
            out.push(if matches!(p, Payload::CartAdd { .. }) {
                2
            } else {
                3
            });
            text(out, product);
            varint(out, u64::from(*qty));
            opt_money(out, price);
            opt_text(out, category);
        }
        Payload::Purchase {
            order,
            amount,
            currency,
            items,
        } => {
            out.push(4);
            text(out, order);
            money(out, *amount);
            opt_text(out, currency);
            varint(out, items.len() as u64);
            items.iter().for_each(|i| item(out, i));
        }
        Payload::Refund { order, amount } => {
            out.push(5);
            text(out, order);
            money(out, *amount);
        }
        Payload::Campaign { kind, campaign } => {
            out.push(6);
            varint(out, *kind as u64);
            opt_text(out, campaign);
        }
        Payload::AppOpen => out.push(7),
        Payload::AppSession { duration } => {
            out.push(8);
            opt_ms(out, duration);
        }
        Payload::Beacon { zone, duration } => {
            out.push(9);
            text(out, zone);
            opt_ms(out, duration);
        }
        Payload::Geo { place } => {
            out.push(10);
            text(out, place);
        }
        Payload::FormSubmit { form } => {
            out.push(11);
            opt_text(out, form);
        }
        Payload::Consent { topic, granted } => {
            out.push(12);
            text(out, topic);
            out.push(u8::from(*granted));
        }
        Payload::Attribute { set } => {
            out.push(13);
            varint(out, set.len() as u64);
            for (k, v) in set {
                text(out, k);
                match v {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        value(out, v);
                    }
                }
            }
        }
        Payload::Tag { add, remove } => {
            out.push(14);
            for list in [add, remove] {
                varint(out, list.len() as u64);
                list.iter().for_each(|t| text(out, t));
            }
        }
        Payload::Identify => out.push(15),
        Payload::Erase => out.push(16),
        Payload::Custom { name, props } => {
            out.push(17);
            text(out, name);
            varint(out, props.len() as u64);
            for (k, v) in props {
                text(out, k);
                value(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use proptest::prelude::*;

    fn by_bincode(p: &Payload) -> Vec<u8> {
        super::super::pack(p).to_vec()
    }

    fn by_hand(p: &Payload) -> Vec<u8> {
        let mut out = Vec::new();
        pack_payload(p, &mut out);
        out
    }

    fn opt_str() -> impl Strategy<Value = Option<Text>> {
        proptest::option::of("[a-zé-]{0,300}".prop_map(Text::from))
    }

    fn text() -> impl Strategy<Value = Text> {
        "[a-z0-9ł]{0,20}".prop_map(Text::from)
    }

    /// Integers that reach every size of bincode's varint, and both signs.
    fn int() -> impl Strategy<Value = i64> {
        prop_oneof![
            -300i64..300,
            Just(i64::MIN),
            Just(i64::MAX),
            -70_000i64..70_000,
            any::<i32>().prop_map(i64::from),
            any::<i64>(),
        ]
    }

    fn money() -> impl Strategy<Value = Option<Money>> {
        proptest::option::of(int().prop_map(Money))
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::Num),
            text().prop_map(Value::Str),
        ]
    }

    fn qty() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..300, any::<u32>()]
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            (opt_str(), opt_str()).prop_map(|(url, category)| Payload::PageView { url, category }),
            (
                text(),
                opt_str(),
                opt_str(),
                money(),
                opt_str(),
                proptest::option::of(any::<f64>())
            )
                .prop_map(|(product, category, brand_name, price, color, discount)| {
                    Payload::ProductView {
                        product,
                        category,
                        brand_name,
                        price,
                        color,
                        discount,
                    }
                }),
            (text(), qty(), money(), opt_str(), any::<bool>()).prop_map(
                |(product, qty, price, category, add)| if add {
                    Payload::CartAdd {
                        product,
                        qty,
                        price,
                        category,
                    }
                } else {
                    Payload::CartRemove {
                        product,
                        qty,
                        price,
                        category,
                    }
                }
            ),
            (
                text(),
                int(),
                opt_str(),
                proptest::collection::vec((opt_str(), opt_str(), qty(), money()), 0..4)
            )
                .prop_map(|(order, amount, currency, items)| Payload::Purchase {
                    order,
                    amount: Money(amount),
                    currency,
                    items: items
                        .into_iter()
                        .map(|(product, category, qty, price)| Item {
                            product,
                            category,
                            qty,
                            price,
                        })
                        .collect(),
                }),
            (text(), int()).prop_map(|(order, a)| Payload::Refund {
                order,
                amount: Money(a)
            }),
            (0..Kind::ALL.len(), opt_str()).prop_map(|(k, campaign)| Payload::Campaign {
                kind: Kind::ALL[k],
                campaign
            }),
            Just(Payload::AppOpen),
            proptest::option::of(int()).prop_map(|duration| Payload::AppSession { duration }),
            (text(), proptest::option::of(int()))
                .prop_map(|(zone, duration)| Payload::Beacon { zone, duration }),
            text().prop_map(|place| Payload::Geo { place }),
            opt_str().prop_map(|form| Payload::FormSubmit { form }),
            (text(), any::<bool>())
                .prop_map(|(topic, granted)| Payload::Consent { topic, granted }),
            proptest::collection::vec((text(), proptest::option::of(scalar())), 0..4)
                .prop_map(|set| Payload::Attribute { set }),
            (
                proptest::collection::vec(text(), 0..4),
                proptest::collection::vec(text(), 0..4)
            )
                .prop_map(|(add, remove)| Payload::Tag { add, remove }),
            Just(Payload::Identify),
            Just(Payload::Erase),
            (text(), proptest::collection::vec((text(), scalar()), 0..4))
                .prop_map(|(name, props)| Payload::Custom { name, props }),
        ]
    }

    /// A stack buffer holds exactly [`STACK`] bytes, written byte by byte or as slices, and
    /// past that gives only their count; what it writes out is the bytes either way.
    #[test]
    fn a_stack_buffer_holds_its_size_and_counts_past_it() {
        let long: Vec<u8> = (0..=255u8).cycle().take(3 * STACK).collect();
        for n in [0, 1, STACK - 1, STACK, STACK + 1, 3 * STACK] {
            let (mut bytewise, mut sliced) = (Stack::default(), Stack::default());
            long[..n].iter().for_each(|b| bytewise.push(*b));
            sliced.extend_from_slice(&long[..n / 2]);
            sliced.extend_from_slice(&long[n / 2..n]);
            for st in [&bytewise, &sliced] {
                assert_eq!(st.len(), n);
                assert_eq!(st.bytes(), (n <= STACK).then_some(&long[..n]), "{n} bytes");
                let mut out = vec![7u8];
                st.write_to(&long[..n], &mut out);
                assert_eq!(&out[1..], &long[..n], "{n} bytes written out");
            }
        }
    }

    proptest! {
        #[test]
        fn packs_as_bincode_does(p in payload()) {
            let bytes = by_hand(&p);
            prop_assert_eq!(&bytes, &by_bincode(&p));
            // Appended, not written over.
            let mut out = vec![9u8];
            pack_payload(&p, &mut out);
            prop_assert_eq!(&out[1..], &bytes[..]);
            let mut st = Stack::default();
            pack_payload(&p, &mut st);
            prop_assert_eq!(st.len(), bytes.len());
            prop_assert_eq!(st.bytes(), (bytes.len() <= STACK).then_some(&bytes[..]));
            let mut out = vec![9u8];
            st.write_to(&p, &mut out);
            prop_assert_eq!(&out[1..], &bytes[..]);
        }
    }
}
