//! The last time a contact was seen on each channel.

use crate::codec::Small;
use crate::event::{Channel, Ts};

/// Per channel seen, its latest time: a bit per channel, and the times in channel order.
/// A list of `(channel, time)` pairs would take 16 bytes a pair (a one-byte channel padded to
/// the time's alignment); this takes 8. Stored as that list of pairs, in channel order.
///
/// Two times are held inline (most contacts use one or two channels), more in a boxed slice
/// of four places, then eight, then sixteen. The bits say how many of the places are used,
/// so the whole takes 24 bytes of the contact's slot; a `SmallVec` of two took 32.
#[derive(Debug, Clone)]
pub(crate) struct ChannelTimes(Times);

#[derive(Debug, Clone)]
enum Times {
    /// Up to two channels; the places after the last of them hold 0.
    Inline { present: u16, times: [Ts; 2] },
    /// Three channels or more, in the first places of `times`.
    Heap { present: u16, times: Box<[Ts]> },
}

const _: () = assert!(
    Channel::ALL.len() <= 16,
    "a channel is one bit of `present`"
);

impl Default for ChannelTimes {
    fn default() -> ChannelTimes {
        ChannelTimes(Times::Inline {
            present: 0,
            times: [0; 2],
        })
    }
}

/// Equal when the same channels were seen at the same times.
impl PartialEq for ChannelTimes {
    fn eq(&self, other: &ChannelTimes) -> bool {
        self.present() == other.present() && self.times() == other.times()
    }
}

impl Eq for ChannelTimes {}

impl ChannelTimes {
    fn present(&self) -> u16 {
        match &self.0 {
            Times::Inline { present, .. } | Times::Heap { present, .. } => *present,
        }
    }

    /// The times, in channel order.
    fn times(&self) -> &[Ts] {
        match &self.0 {
            Times::Inline { present, times } => &times[..present.count_ones() as usize],
            Times::Heap { present, times } => &times[..present.count_ones() as usize],
        }
    }

    /// The channel bits and the places for times, used or not (the used ones first).
    fn parts_mut(&mut self) -> (&mut u16, &mut [Ts]) {
        match &mut self.0 {
            Times::Inline { present, times } => (present, times),
            Times::Heap { present, times } => (present, times),
        }
    }

    /// Records that the contact was seen on `c` at `ts`.
    pub(crate) fn see(&mut self, c: Channel, ts: Ts) {
        let bit = 1u16 << c as u16;
        let present = self.present();
        // Where `c`'s time is (or goes): after the times of the channels before it.
        let r = (present & (bit - 1)).count_ones() as usize;
        let (bits, places) = self.parts_mut();
        if present & bit != 0 {
            places[r] = places[r].max(ts);
            return;
        }
        let n = present.count_ones() as usize;
        if n < places.len() {
            places.copy_within(r..n, r + 1);
            places[r] = ts;
            *bits |= bit;
            return;
        }
        let mut grown = vec![0; (2 * n).max(4)];
        grown[..r].copy_from_slice(&places[..r]);
        grown[r] = ts;
        grown[r + 1..=n].copy_from_slice(&places[r..n]);
        self.0 = Times::Heap {
            present: present | bit,
            times: grown.into_boxed_slice(),
        };
    }

    /// The channels seen, in channel order, with their latest times.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Channel, Ts)> + '_ {
        let present = self.present();
        Channel::ALL
            .iter()
            .filter(move |c| present & (1u16 << **c as u16) != 0)
            .copied()
            .zip(self.times().iter().copied())
    }

    pub(crate) fn absorb(&mut self, o: &ChannelTimes) {
        for (c, t) in o.iter() {
            self.see(c, t);
        }
    }

    /// The times when they are on the heap (a contact seen on more than two channels), for a
    /// prefetch; `None` when they are inline.
    pub(crate) fn spilled_times(&self) -> Option<&[Ts]> {
        match &self.0 {
            Times::Inline { .. } => None,
            Times::Heap { .. } => Some(self.times()),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            Times::Inline { .. } => 0,
            Times::Heap { times, .. } => std::mem::size_of_val(&**times),
        }
    }
}

impl bincode::Encode for ChannelTimes {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        let pairs: Small<[(Channel, Ts); 4]> = Small(self.iter().collect());
        pairs.encode(e)
    }
}

impl<C> bincode::Decode<C> for ChannelTimes {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let pairs: Small<[(Channel, Ts); 4]> = bincode::Decode::decode(d)?;
        let mut out = ChannelTimes::default();
        for (c, t) in pairs.iter() {
            if out.present() & (1u16 << *c as u16) != 0 {
                return Err(bincode::error::DecodeError::Other("a channel listed twice"));
            }
            out.see(*c, *t);
        }
        Ok(out)
    }
}
bincode::impl_borrow_decode!(ChannelTimes);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};

    #[test]
    fn keeps_the_latest_time_per_channel_and_is_stored_as_pairs() {
        let mut c = ChannelTimes::default();
        for (ch, t) in [
            (Channel::Pos, 5),
            (Channel::Web, 9),
            (Channel::Other, -3),
            (Channel::Web, 2),
            (Channel::Email, 7),
            (Channel::Pos, 11),
        ] {
            c.see(ch, t);
        }
        let want = vec![
            (Channel::Web, 9),
            (Channel::Email, 7),
            (Channel::Pos, 11),
            (Channel::Other, -3),
        ];
        assert_eq!(c.iter().collect::<Vec<_>>(), want);
        assert_eq!(pack(&c), pack(&want));
        assert_eq!(unpack::<ChannelTimes>(&pack(&want)).unwrap(), c);
        let mut shuffled = want.clone();
        shuffled.reverse();
        assert_eq!(unpack::<ChannelTimes>(&pack(&shuffled)).unwrap(), c);
        shuffled.push((Channel::Web, 1));
        assert!(unpack::<ChannelTimes>(&pack(&shuffled)).is_err());
        let mut other = ChannelTimes::default();
        other.see(Channel::Web, 20);
        other.see(Channel::App, 1);
        c.absorb(&other);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [
                (Channel::Web, 20),
                (Channel::App, 1),
                (Channel::Email, 7),
                (Channel::Pos, 11),
                (Channel::Other, -3)
            ]
        );
    }

    #[test]
    fn takes_24_bytes_and_holds_two_times_inline() {
        assert_eq!(std::mem::size_of::<ChannelTimes>(), 24);
        let mut c = ChannelTimes::default();
        c.see(Channel::Pos, 1);
        c.see(Channel::Web, 2);
        assert_eq!((c.spilled_times(), c.heap_bytes()), (None, 0));
        c.see(Channel::App, 3);
        assert_eq!(c.spilled_times(), Some(&[2, 3, 1][..]));
        assert_eq!(c.heap_bytes(), 32);
        c.see(Channel::Email, 4);
        c.see(Channel::Other, 5);
        assert_eq!(c.spilled_times(), Some(&[2, 3, 4, 1, 5][..]));
        assert_eq!(c.heap_bytes(), 64);
    }

    proptest::proptest! {
        /// Against a map from channel to its latest time.
        #[test]
        fn agrees_with_a_map(seen in proptest::collection::vec(
            (0..Channel::ALL.len(), -5i64..5), 0..40)
        ) {
            let mut c = ChannelTimes::default();
            let mut model = std::collections::BTreeMap::new();
            for (i, ts) in seen {
                let ch = Channel::ALL[i];
                c.see(ch, ts);
                let t = model.entry(ch as u8).or_insert(ts);
                *t = (*t).max(ts);
                let got: Vec<(u8, Ts)> = c.iter().map(|(ch, t)| (ch as u8, t)).collect();
                let want: Vec<(u8, Ts)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(c.spilled_times().is_some(), model.len() > 2);
            }
        }
    }
}
