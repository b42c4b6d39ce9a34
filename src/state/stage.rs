//! The built-in lifecycle stage (SPEC 5).

use super::ContactState;
use crate::event::time::DAY;
use crate::event::Ts;
use std::fmt;

/// Where a contact stands in the customer journey; the first that matches wins, in the order
/// of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Has purchased, and the last purchase is at least the dormancy window old.
    Dormant,
    /// The cart is not empty.
    InPurchase,
    /// The last purchase is younger than the post-purchase window.
    PostPurchase,
    /// Identified (owns a customer, email, phone or loyalty identifier).
    Monitored,
    /// None of the above.
    Anonymous,
}

impl Stage {
    /// The stage's name as used in rules and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dormant => "dormant",
            Stage::InPurchase => "in_purchase",
            Stage::PostPurchase => "post_purchase",
            Stage::Monitored => "monitored",
            Stage::Anonymous => "anonymous",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two windows that define the stages; defaults 90 and 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StageWindows {
    pub(crate) dormancy: i64,
    pub(crate) post_purchase: i64,
}

impl Default for StageWindows {
    fn default() -> StageWindows {
        StageWindows {
            dormancy: 90 * DAY,
            post_purchase: 30 * DAY,
        }
    }
}

impl ContactState {
    /// The stage at engine time `now`.
    pub(crate) fn stage(&self, identified: bool, now: Ts, w: StageWindows) -> Stage {
        let last = self.totals.last_purchase();
        match last {
            Some(lp) if now.saturating_sub(lp) >= w.dormancy => Stage::Dormant,
            _ if self.has_cart() => Stage::InPurchase,
            Some(lp) if now.saturating_sub(lp) < w.post_purchase => Stage::PostPurchase,
            _ if identified => Stage::Monitored,
            _ => Stage::Anonymous,
        }
    }
}
