//! Engine configuration and its builder.

use crate::event::time::{DAY, HOUR};
use crate::identity::IdLimits;
use crate::state::{StageWindows, StateConfig};
use std::fmt;

/// Settings of an [`Engine`](crate::Engine), made with [`EngineBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) shards: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) lateness: i64,
    pub(crate) dedup_window: i64,
    pub(crate) id_limits: IdLimits,
    pub(crate) state: StateConfig,
    pub(crate) plan: Option<crate::rules::Plan>,
    pub(crate) durability: crate::persist::Durability,
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least 1 was 0.
    Zero {
        /// The setting.
        setting: &'static str,
    },
    /// A duration that must not be negative was.
    Negative {
        /// The setting.
        setting: &'static str,
    },
    /// Event ids must be remembered at least as long as events may be late, or a retried late
    /// event could be applied twice.
    DedupShorterThanLateness {
        /// The de-duplication window, ms.
        dedup_window: i64,
        /// The lateness bound, ms.
        lateness: i64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { setting } => write!(f, "{setting} must be at least 1"),
            ConfigError::Negative { setting } => write!(f, "{setting} must not be negative"),
            ConfigError::DedupShorterThanLateness {
                dedup_window,
                lateness,
            } => write!(
                f,
                "dedup window ({dedup_window} ms) must be at least the lateness bound ({lateness} ms)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Builds an [`Engine`](crate::Engine).
///
/// ```
/// use tropa::{Engine, IdLimits, IdType};
/// let engine = Engine::builder()
///     .shards(8)
///     .lateness_ms(30 * 60 * 1000)
///     .id_limits(IdLimits::default().with(IdType::Phone, 2))
///     .build()
///     .unwrap();
/// assert_eq!(engine.now(), None);
/// ```
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    cfg: Config,
}

impl Default for EngineBuilder {
    fn default() -> EngineBuilder {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        EngineBuilder {
            cfg: Config {
                shards: (cores * 4).next_power_of_two(),
                queue_capacity: 256,
                lateness: HOUR,
                dedup_window: DAY,
                id_limits: IdLimits::default(),
                state: StateConfig {
                    timeline_capacity: 10,
                    stage: StageWindows::default(),
                },
                plan: None,
                durability: crate::persist::Durability::Sync,
            },
        }
    }
}

impl EngineBuilder {
    /// Number of state shards (default: 4 × cores, rounded up to a power of two).
    pub fn shards(mut self, n: usize) -> Self {
        self.cfg.shards = n;
        self
    }

    /// Capacity of each shard's hand-over queue (default 256; rounded up to a power of two). A
    /// full queue makes the ingesting thread help drain it, or yield until there is room:
    /// backpressure, never loss.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.cfg.queue_capacity = n;
        self
    }

    /// How far behind engine time an event may be and still be accepted (default 1 hour).
    pub fn lateness_ms(mut self, ms: i64) -> Self {
        self.cfg.lateness = ms;
        self
    }

    /// How long, in event time, event ids are remembered for de-duplication (default 24 hours;
    /// at least the lateness bound).
    pub fn dedup_window_ms(mut self, ms: i64) -> Self {
        self.cfg.dedup_window = ms;
        self
    }

    /// Limits of identifiers per type per contact (default: one `customer`, one `loyalty`).
    pub fn id_limits(mut self, limits: IdLimits) -> Self {
        self.cfg.id_limits = limits;
        self
    }

    /// How many recent events each profile keeps in its timeline (default 10).
    pub fn timeline_len(mut self, n: usize) -> Self {
        self.cfg.state.timeline_capacity = n;
        self
    }

    /// The dormancy window of the lifecycle stage (default 90 days).
    pub fn dormancy_ms(mut self, ms: i64) -> Self {
        self.cfg.state.stage.dormancy = ms;
        self
    }

    /// The post-purchase window of the lifecycle stage (default 30 days).
    pub fn post_purchase_ms(mut self, ms: i64) -> Self {
        self.cfg.state.stage.post_purchase = ms;
        self
    }

    /// The rules to evaluate: segments, tags and scores (see [`crate::rules`]).
    pub fn rules(mut self, plan: crate::rules::Plan) -> Self {
        self.cfg.plan = Some(plan);
        self
    }

    /// When an operation taken by an engine opened on a data directory is on disk (default
    /// [`Durability::Sync`](crate::persist::Durability::Sync)); see [`EngineBuilder::open`].
    pub fn durability(mut self, mode: crate::persist::Durability) -> Self {
        self.cfg.durability = mode;
        self
    }

    /// Checks the settings and makes the engine, in memory only.
    pub fn build(self) -> Result<crate::Engine, ConfigError> {
        Ok(crate::Engine::from_config(self.into_config()?))
    }

    pub(crate) fn into_config(self) -> Result<Config, ConfigError> {
        self.check()?;
        Ok(self.cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let c = &self.cfg;
        if c.shards == 0 {
            return Err(ConfigError::Zero { setting: "shards" });
        }
        if c.queue_capacity == 0 {
            return Err(ConfigError::Zero {
                setting: "queue_capacity",
            });
        }
        for (setting, v) in [
            ("lateness", c.lateness),
            ("dedup_window", c.dedup_window),
            ("dormancy", c.state.stage.dormancy),
            ("post_purchase", c.state.stage.post_purchase),
        ] {
            if v < 0 {
                return Err(ConfigError::Negative { setting });
            }
        }
        if c.dedup_window < c.lateness {
            return Err(ConfigError::DedupShorterThanLateness {
                dedup_window: c.dedup_window,
                lateness: c.lateness,
            });
        }
        Ok(())
    }
}
