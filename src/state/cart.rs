//! The cart: a line per product, filled by `cart_add`, drained by `cart_remove`, emptied by a
//! purchase.
//!
//! The cart is a sequential fold (a remove can only take away what is there), so its value
//! depends on the order of its events. To stay exact when events arrive late or when two
//! contacts merge, the cart keeps the operations since its latest purchase, sorted by
//! `(time, arrival)`, and refolds them when one lands out of order. Operations before the
//! latest purchase can never matter again and are dropped. In the common case an operation
//! comes last and is applied in place.

use super::Stamp;
use crate::codec::varint::{self, Cursor};
use crate::codec::Small;
use crate::event::Money;
use crate::intern::Sym;
use smallvec::SmallVec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct CartOp {
    at: Stamp,
    product: Sym,
    /// Positive for an add, negative for a remove.
    delta: i64,
    price: Option<Money>,
}

/// One line of the cart. Prices are never negative (events are validated, stored lines
/// checked), so a missing price is a negative number and the line takes 24 bytes, not 32.
/// Stored with the price as an `Option`, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CartLine {
    pub(crate) product: Sym,
    pub(crate) qty: u64,
    /// The unit price in micros, or [`NO_PRICE`].
    price: i64,
}

/// A line's price when none was given.
const NO_PRICE: i64 = -1;

impl CartLine {
    fn new(product: Sym, qty: u64, price: Option<Money>) -> CartLine {
        CartLine {
            product,
            qty,
            price: price.map_or(NO_PRICE, |p| p.0),
        }
    }

    /// The latest price an add gave, if any.
    pub(crate) fn unit_price(&self) -> Option<Money> {
        (self.price >= 0).then_some(Money(self.price))
    }
}

impl bincode::Encode for CartLine {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.product, self.qty, self.unit_price()).encode(e)
    }
}

impl<C> bincode::Decode<C> for CartLine {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (product, qty, price): (Sym, u64, Option<Money>) = bincode::Decode::decode(d)?;
        if price.is_some_and(|p| p.0 < 0) {
            return Err(bincode::error::DecodeError::Other(
                "a negative price in a cart line",
            ));
        }
        Ok(CartLine::new(product, qty, price))
    }
}
bincode::impl_borrow_decode!(CartLine);

/// The cart. Stored as before it packed its operations: the latest purchase (an `Option`),
/// the list of operations, the lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cart {
    /// The latest purchase's stamp, or [`NO_PURCHASE`], which is below every stamp: a
    /// purchase stamped with it (an event at the earliest time, arrived first) could empty
    /// nothing, since no operation comes before it, so the two need not be told apart.
    last_purchase: Stamp,
    ops: OpLog,
    lines: Small<[CartLine; 1]>,
}

/// The lowest stamp: no purchase yet.
const NO_PURCHASE: Stamp = Stamp {
    ts: i64::MIN,
    seq: 0,
};

impl Default for Cart {
    fn default() -> Cart {
        Cart {
            last_purchase: NO_PURCHASE,
            ops: OpLog::default(),
            lines: Small::default(),
        }
    }
}

/// The operations since the latest purchase, in `(time, arrival)` order, packed one after
/// another into one byte buffer. A cart that is never bought keeps every add and remove, and
/// as 48-byte structs they were the biggest part of a profile after the timeline; packed,
/// an operation takes about fifteen bytes:
///
/// ```text
/// varint zigzag(ts − previous ts)   (the first operation: zigzag(ts))
/// varint seq
/// varint product symbol
/// varint zigzag(delta) << 1 | (1 when there is a price)
/// varint zigzag(price micros), when there is one
/// ```
///
/// The usual operation is the newest: it is appended. Anything else (a late operation, a
/// purchase, a merge) unpacks the list, changes it and packs it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct OpLog {
    buf: Vec<u8>,
    /// The newest operation's stamp (meaningless when `buf` is empty).
    last: Stamp,
}

impl OpLog {
    fn last(&self) -> Option<Stamp> {
        (!self.buf.is_empty()).then_some(self.last)
    }

    /// Appends `op`, which must come after every operation held.
    fn push(&mut self, op: &CartOp) {
        let prev = if self.buf.is_empty() { 0 } else { self.last.ts };
        if self.buf.len() + 40 > self.buf.capacity() {
            // Grow by half, not double: most carts stop at a few operations.
            let more = 40 + self.buf.len() / 2;
            crate::grow::reserve_exact(&mut self.buf, more);
        }
        let out = &mut self.buf;
        varint::put_delta(out, op.at.ts, prev);
        varint::put(out, op.at.seq);
        varint::put(out, u64::from(op.product.0));
        // A delta is a quantity (a `u32`) with a sign, so the shift loses nothing.
        varint::put(
            out,
            (varint::zigzag(op.delta) << 1) | u64::from(op.price.is_some()),
        );
        if let Some(p) = op.price {
            varint::put(out, varint::zigzag(p.0));
        }
        self.last = op.at;
    }

    fn iter(&self) -> OpIter<'_> {
        OpIter {
            c: Cursor::new(&self.buf),
            prev_ts: 0,
        }
    }

    fn to_vec(&self) -> Vec<CartOp> {
        self.iter().collect()
    }

    /// Packs `ops` (in order) anew.
    fn from_ops(ops: &[CartOp]) -> OpLog {
        let mut log = OpLog::default();
        for op in ops {
            log.push(op);
        }
        log.buf.shrink_to_fit();
        log
    }

    fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Reads packed operations; the bytes were written by [`OpLog::push`].
struct OpIter<'a> {
    c: Cursor<'a>,
    prev_ts: i64,
}

impl Iterator for OpIter<'_> {
    type Item = CartOp;

    fn next(&mut self) -> Option<CartOp> {
        if self.c.at_end() {
            return None;
        }
        let ts = self.c.delta(self.prev_ts);
        self.prev_ts = ts;
        let seq = self.c.varint();
        let product = Sym(self.c.varint() as u32);
        let d = self.c.varint();
        let delta = varint::unzigzag(d >> 1);
        let price = (d & 1 == 1).then(|| Money(varint::unzigzag(self.c.varint())));
        Some(CartOp {
            at: Stamp { ts, seq },
            product,
            delta,
            price,
        })
    }
}

impl bincode::Encode for Cart {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        let last = (self.last_purchase != NO_PURCHASE).then_some(self.last_purchase);
        (last, self.ops.to_vec(), &self.lines).encode(e)
    }
}

impl<C> bincode::Decode<C> for Cart {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (last_purchase, ops, lines): (Option<Stamp>, Vec<CartOp>, Small<[CartLine; 1]>) =
            bincode::Decode::decode(d)?;
        if !ops.windows(2).all(|w| w[0].at < w[1].at) {
            return Err(bincode::error::DecodeError::Other(
                "cart operations out of order",
            ));
        }
        if ops
            .iter()
            .any(|o| o.delta.unsigned_abs() > u64::from(u32::MAX))
        {
            return Err(bincode::error::DecodeError::Other(
                "a cart quantity beyond its range",
            ));
        }
        if ops.iter().any(|o| o.price.is_some_and(|p| p.0 < 0)) {
            return Err(bincode::error::DecodeError::Other(
                "a negative price in a cart operation",
            ));
        }
        Ok(Cart {
            last_purchase: last_purchase.unwrap_or(NO_PURCHASE),
            ops: OpLog::from_ops(&ops),
            lines,
        })
    }
}
bincode::impl_borrow_decode!(Cart);

impl Cart {
    /// Whether every product it names is below `symbols` (a state read back from disk).
    pub(crate) fn names_below(&self, symbols: u32) -> bool {
        self.ops.iter().all(|o| o.product.0 < symbols)
            && self.lines.iter().all(|l| l.product.0 < symbols)
    }

    pub(crate) fn add(&mut self, at: Stamp, product: Sym, qty: u32, price: Option<Money>) {
        self.push(CartOp {
            at,
            product,
            delta: i64::from(qty),
            price,
        });
    }

    pub(crate) fn remove(&mut self, at: Stamp, product: Sym, qty: u32) {
        self.push(CartOp {
            at,
            product,
            delta: -i64::from(qty),
            price: None,
        });
    }

    pub(crate) fn purchase(&mut self, at: Stamp) {
        if self.last_purchase >= at {
            return;
        }
        self.last_purchase = at;
        if self.ops.last().is_none_or(|l| l <= at) {
            // The usual purchase comes after every operation held: all of them go, unread.
            self.ops = OpLog::default();
            self.lines.clear();
            return;
        }
        let mut ops = self.ops.to_vec();
        ops.retain(|o| o.at > at);
        self.ops = OpLog::from_ops(&ops);
        self.refold();
    }

    /// Combines two carts exactly: the later purchase wins, and the operations after it from
    /// both sides are folded in time order.
    pub(crate) fn absorb(&mut self, other: Cart) {
        self.last_purchase = self.last_purchase.max(other.last_purchase);
        let mut ops = self.ops.to_vec();
        ops.extend(other.ops.iter());
        ops.sort_unstable_by_key(|o| o.at);
        let p = self.last_purchase;
        ops.retain(|o| o.at > p);
        self.ops = OpLog::from_ops(&ops);
        self.refold();
    }

    fn push(&mut self, op: CartOp) {
        if op.at <= self.last_purchase {
            return;
        }
        if self.ops.last().is_none_or(|l| l < op.at) {
            self.ops.push(&op);
            apply(&mut self.lines, &op);
        } else {
            let mut ops = self.ops.to_vec();
            let pos = ops.partition_point(|o| o.at < op.at);
            ops.insert(pos, op);
            self.ops = OpLog::from_ops(&ops);
            self.refold();
        }
    }

    fn refold(&mut self) {
        self.lines.clear();
        for op in self.ops.iter() {
            apply(&mut self.lines, &op);
        }
    }

    pub(crate) fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    pub(crate) fn items(&self) -> u64 {
        self.lines.iter().map(|l| l.qty).sum()
    }

    pub(crate) fn value(&self) -> Money {
        let micros: i128 = self
            .lines
            .iter()
            .map(|l| i128::from(l.unit_price().map_or(0, |p| p.0)) * i128::from(l.qty))
            .sum();
        Money(micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let lines = if self.lines.spilled() {
            self.lines.capacity() * std::mem::size_of::<CartLine>()
        } else {
            0
        };
        self.ops.heap_bytes() + lines
    }
}

fn apply(lines: &mut SmallVec<[CartLine; 1]>, op: &CartOp) {
    let pos = lines.iter().position(|l| l.product == op.product);
    if op.delta > 0 {
        match pos {
            Some(i) => {
                lines[i].qty += op.delta as u64;
                if let Some(p) = op.price {
                    lines[i].price = p.0;
                }
            }
            None => lines.push(CartLine::new(op.product, op.delta as u64, op.price)),
        }
    } else if let Some(i) = pos {
        let take = op.delta.unsigned_abs();
        if lines[i].qty <= take {
            lines.remove(i);
        } else {
            lines[i].qty -= take;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(ts: i64, seq: u64) -> Stamp {
        Stamp { ts, seq }
    }

    #[test]
    fn fold_in_time_order_even_when_late() {
        let p = Sym(1);
        let mut in_order = Cart::default();
        in_order.add(st(1, 1), p, 1, Some(Money(10)));
        in_order.remove(st(2, 2), p, 5);
        in_order.add(st(3, 3), p, 2, None);
        let mut late = Cart::default();
        late.add(st(3, 3), p, 2, None);
        late.add(st(1, 1), p, 1, Some(Money(10)));
        late.remove(st(2, 2), p, 5);
        assert_eq!(in_order.lines(), late.lines());
        assert_eq!(late.items(), 2);
        assert_eq!(
            late.value(),
            Money(0),
            "the price was dropped with the line"
        );
    }

    #[test]
    fn purchase_empties_and_ignores_older_ops() {
        let p = Sym(1);
        let mut c = Cart::default();
        c.add(st(1, 1), p, 1, Some(Money(5)));
        c.purchase(st(2, 2));
        assert!(c.is_empty());
        c.add(st(1, 3), p, 1, None);
        assert!(c.is_empty());
        c.add(st(3, 4), p, 3, Some(Money(7)));
        assert_eq!(c.value(), Money(21));
        // A late purchase between operations keeps the later ones and refolds them.
        let mut late = Cart::default();
        late.add(st(1, 1), p, 2, Some(Money(5)));
        late.add(st(5, 5), p, 1, Some(Money(6)));
        late.purchase(st(3, 3));
        assert_eq!((late.items(), late.value()), (1, Money(6)));
        assert_eq!(late.ops.to_vec().len(), 1);
        // One after every operation drops them all.
        late.purchase(st(9, 9));
        assert!(late.is_empty());
        assert_eq!(late.ops, OpLog::default());
    }

    /// Operations come back from the packed log as they went in, and a cart is stored as it
    /// was when it kept them as a list.
    #[test]
    fn packed_operations_read_back_and_are_stored_as_a_list() {
        let ops: Vec<CartOp> = [
            (-5_000_000_000_000, 0, 0, -(u32::MAX as i64), None),
            (-3, 7, 1, 1, Some(0)),
            (0, u64::MAX, u32::MAX, u32::MAX as i64, Some(i64::MAX)),
            (12, 3, 2, 0, Some(i64::MIN)),
            (12, 4, 2, -2, Some(-7)),
            (i64::MAX, 1, 9, 3, None),
        ]
        .into_iter()
        .map(|(ts, seq, product, delta, price)| CartOp {
            at: st(ts, seq),
            product: Sym(product),
            delta,
            price: price.map(Money),
        })
        .collect();
        let log = OpLog::from_ops(&ops);
        assert_eq!(log.to_vec(), ops);
        assert_eq!(log.last(), Some(ops[5].at));
        // A stored cart holds no negative price (events are validated): those go.
        let ops: Vec<CartOp> = ops
            .into_iter()
            .filter(|o| o.price.is_none_or(|p| p.0 >= 0))
            .collect();
        let cart = Cart {
            last_purchase: st(-9, 1),
            ops: OpLog::from_ops(&ops),
            lines: Small::new(),
        };
        type Stored = (Option<Stamp>, Vec<CartOp>, Vec<CartLine>);
        let want: Stored = (Some(st(-9, 1)), ops.clone(), vec![]);
        assert_eq!(crate::codec::pack(&cart), crate::codec::pack(&want));
        let back: Cart = crate::codec::unpack(&crate::codec::pack(&want)).unwrap();
        assert_eq!(back, cart);
        let mut swapped = ops.clone();
        swapped.swap(1, 2);
        let bad: Stored = (None, swapped, vec![]);
        assert!(crate::codec::unpack::<Cart>(&crate::codec::pack(&bad)).is_err());
        let mut huge = ops.clone();
        huge[1].delta = i64::from(u32::MAX) + 1;
        let bad: Stored = (None, huge, vec![]);
        assert!(crate::codec::unpack::<Cart>(&crate::codec::pack(&bad)).is_err());
        let mut negative = ops;
        negative[1].price = Some(Money(-1));
        let bad: Stored = (None, negative, vec![]);
        assert!(crate::codec::unpack::<Cart>(&crate::codec::pack(&bad)).is_err());
    }

    /// No purchase is stored as `None`, as when the field was an `Option`, and a line without
    /// a price as a line whose price is `None`; a negative price in a stored line is refused.
    /// A line takes 24 bytes and the cart 88.
    #[test]
    fn lines_and_the_latest_purchase_are_stored_as_options() {
        assert_eq!(std::mem::size_of::<CartLine>(), 24);
        assert_eq!(std::mem::size_of::<Cart>(), 88);
        let (p, q) = (Sym(1), Sym(2));
        let mut cart = Cart::default();
        cart.add(st(1, 1), p, 2, None);
        cart.add(st(2, 2), q, 1, Some(Money(0)));
        assert_eq!(cart.lines()[0].unit_price(), None);
        assert_eq!(cart.lines()[1].unit_price(), Some(Money(0)));
        type Line = (Sym, u64, Option<Money>);
        type Stored = (Option<Stamp>, Vec<CartOp>, Vec<Line>);
        let stored: Stored = crate::codec::unpack(&crate::codec::pack(&cart)).unwrap();
        assert_eq!(stored.0, None);
        assert_eq!(stored.2, vec![(p, 2, None), (q, 1, Some(Money(0)))]);
        let back: Cart = crate::codec::unpack(&crate::codec::pack(&stored)).unwrap();
        assert_eq!(back, cart);
        cart.purchase(st(3, 3));
        let stored: Stored = crate::codec::unpack(&crate::codec::pack(&cart)).unwrap();
        assert_eq!((stored.0, stored.2.len()), (Some(st(3, 3)), 0));
        let bad: Stored = (None, vec![], vec![(p, 1, Some(Money(-5)))]);
        assert!(crate::codec::unpack::<Cart>(&crate::codec::pack(&bad)).is_err());
    }

    /// A purchase at the lowest stamp (taken for "none") changes nothing, as it did when no
    /// purchase was an `Option`: no operation comes before it.
    #[test]
    fn a_purchase_at_the_lowest_stamp_changes_nothing() {
        let mut cart = Cart::default();
        cart.add(st(i64::MIN, 1), Sym(1), 1, None);
        let before = cart.clone();
        cart.purchase(NO_PURCHASE);
        assert_eq!(cart, before);
        assert_eq!(cart.items(), 1);
    }

    #[test]
    fn absorb_equals_one_stream() {
        let (p, q) = (Sym(1), Sym(2));
        let mut a = Cart::default();
        a.add(st(1, 1), p, 2, Some(Money(3)));
        a.purchase(st(5, 5));
        a.add(st(6, 6), q, 1, Some(Money(4)));
        let mut b = Cart::default();
        b.add(st(3, 3), q, 4, None);
        b.remove(st(7, 7), q, 1);
        a.absorb(b);
        let mut one = Cart::default();
        for (s, f) in [(1, 0), (3, 1), (5, 2), (6, 3), (7, 4)] {
            match f {
                0 => one.add(st(s, s as u64), p, 2, Some(Money(3))),
                1 => one.add(st(s, s as u64), q, 4, None),
                2 => one.purchase(st(s, s as u64)),
                3 => one.add(st(s, s as u64), q, 1, Some(Money(4))),
                _ => one.remove(st(s, s as u64), q, 1),
            }
        }
        assert_eq!(a.lines(), one.lines());
        assert!(a.is_empty());
    }
}
