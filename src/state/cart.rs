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

/// One line of the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub(crate) struct CartLine {
    pub(crate) product: Sym,
    pub(crate) qty: u64,
    pub(crate) unit_price: Option<Money>,
}

#[derive(Debug, Clone, Default, bincode::Encode, bincode::Decode)]
pub(crate) struct Cart {
    last_purchase: Option<Stamp>,
    ops: Vec<CartOp>,
    lines: Small<[CartLine; 1]>,
}

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
        if self.last_purchase.is_some_and(|p| p >= at) {
            return;
        }
        self.last_purchase = Some(at);
        let before = self.ops.len();
        self.ops.retain(|o| o.at > at);
        if self.ops.len() != before || !self.lines.is_empty() {
            self.refold();
        }
    }

    /// Combines two carts exactly: the later purchase wins, and the operations after it from
    /// both sides are folded in time order.
    pub(crate) fn absorb(&mut self, other: Cart) {
        self.last_purchase = self.last_purchase.max(other.last_purchase);
        self.ops.extend(other.ops);
        self.ops.sort_unstable_by_key(|o| o.at);
        if let Some(p) = self.last_purchase {
            self.ops.retain(|o| o.at > p);
        }
        self.refold();
    }

    fn push(&mut self, op: CartOp) {
        if self.last_purchase.is_some_and(|p| op.at <= p) {
            return;
        }
        if self.ops.last().is_none_or(|l| l.at < op.at) {
            self.ops.push(op);
            apply(&mut self.lines, &op);
        } else {
            let pos = self.ops.partition_point(|o| o.at < op.at);
            self.ops.insert(pos, op);
            self.refold();
        }
    }

    fn refold(&mut self) {
        self.lines.clear();
        for op in &self.ops {
            apply(&mut self.lines, op);
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
            .map(|l| i128::from(l.unit_price.map_or(0, |p| p.0)) * i128::from(l.qty))
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
        self.ops.capacity() * std::mem::size_of::<CartOp>() + lines
    }
}

fn apply(lines: &mut SmallVec<[CartLine; 1]>, op: &CartOp) {
    let pos = lines.iter().position(|l| l.product == op.product);
    if op.delta > 0 {
        match pos {
            Some(i) => {
                lines[i].qty += op.delta as u64;
                if op.price.is_some() {
                    lines[i].unit_price = op.price;
                }
            }
            None => lines.push(CartLine {
                product: op.product,
                qty: op.delta as u64,
                unit_price: op.price,
            }),
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
