//! The last time a contact was seen on each channel.

use crate::codec::Small;
use crate::event::{Channel, Ts};
use smallvec::SmallVec;

/// Per channel seen, its latest time: a bit per channel, and the times in channel order.
/// A list of `(channel, time)` pairs would take 16 bytes a pair (a one-byte channel padded to
/// the time's alignment); this takes 8. Stored as that list of pairs, in channel order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChannelTimes {
    present: u16,
    times: SmallVec<[Ts; 2]>,
}

const _: () = assert!(
    Channel::ALL.len() <= 16,
    "a channel is one bit of `present`"
);

impl ChannelTimes {
    /// Where `c`'s time is (or goes) in `times`.
    fn rank(&self, c: Channel) -> usize {
        (self.present & ((1u16 << c as u16) - 1)).count_ones() as usize
    }

    /// Records that the contact was seen on `c` at `ts`.
    pub(crate) fn see(&mut self, c: Channel, ts: Ts) {
        let bit = 1u16 << c as u16;
        let r = self.rank(c);
        if self.present & bit != 0 {
            self.times[r] = self.times[r].max(ts);
        } else {
            self.present |= bit;
            self.times.insert(r, ts);
        }
    }

    /// The channels seen, in channel order, with their latest times.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Channel, Ts)> + '_ {
        Channel::ALL
            .iter()
            .filter(|c| self.present & (1u16 << **c as u16) != 0)
            .copied()
            .zip(self.times.iter().copied())
    }

    pub(crate) fn absorb(&mut self, o: &ChannelTimes) {
        for (c, t) in o.iter() {
            self.see(c, t);
        }
    }

    /// The times when they are on the heap (a contact seen on more than two channels), for a
    /// prefetch; `None` when they are inline.
    pub(crate) fn spilled_times(&self) -> Option<&[Ts]> {
        self.times.spilled().then_some(&self.times[..])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        if self.times.spilled() {
            self.times.capacity() * std::mem::size_of::<Ts>()
        } else {
            0
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
            if out.present & (1u16 << *c as u16) != 0 {
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
}
