//! The in-memory metric model collectors fill and encoders read: families of
//! samples with a name, help text and type, exactly as the exposition formats
//! describe them. Nothing here does I/O.

use std::borrow::Cow;

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
}

/// A label name. Almost always a `&'static str`; owned only where names come
/// from data (the textfile collector).
pub type LabelName = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(LabelName, String)>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    /// Adds one sample. Label order does not matter: the encoder sorts.
    pub fn add(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
                .collect(),
            value,
        });
        self
    }

    /// Adds one sample whose label names are only known at run time.
    pub fn add_owned(&mut self, labels: Vec<(LabelName, String)>, value: f64) -> &mut Self {
        self.samples.push(Sample { labels, value });
        self
    }
}

/// A set of metric families, looked up by name so a collector can add to
/// the same family from several places.
///
/// Lookup is a linear scan from the newest family: a collector fills its own
/// small scratch set, usually adding to the family it created last, and
/// [`Metrics::merge`] appends without lookups; [`Metrics::into_sorted`]
/// joins same-named families. This beats hashing every name on each scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    families: Vec<Family>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The family `name`, created with `help` and `kind` when it is new.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> &mut Family {
        let name = name.into();
        let at = match self.families.iter().rposition(|f| f.name == name) {
            Some(at) => at,
            None => {
                self.families.push(Family {
                    name,
                    help: help.into(),
                    kind,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[at]
    }

    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Counter)
    }

    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Gauge)
    }

    pub fn untyped(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Untyped)
    }

    /// Moves every family of `other` into `self`. Same-named families are
    /// joined by [`Metrics::into_sorted`].
    pub fn merge(&mut self, other: Metrics) {
        self.families.extend(other.families);
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The families sorted by name, each with labels sorted by name and
    /// samples sorted by label values: the order node_exporter serves.
    pub fn into_sorted(self) -> Vec<Family> {
        let mut families = self.families;
        // Stable, so joined families keep the order samples were added in.
        families.sort_by(|a, b| a.name.cmp(&b.name));
        families.dedup_by(|later, first| {
            if later.name == first.name {
                first.samples.append(&mut later.samples);
                true
            } else {
                false
            }
        });
        for fam in &mut families {
            for s in &mut fam.samples {
                s.labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            fam.samples.sort_by(|a, b| {
                a.labels
                    .iter()
                    .map(|l| l.1.as_str())
                    .cmp(b.labels.iter().map(|l| l.1.as_str()))
            });
        }
        families
    }
}
