//! The in-memory metric model collectors fill and encoders read: families of
//! samples with a name, help text and type, exactly as the exposition formats
//! describe them. Nothing here does I/O.
//!
//! A scrape adds about a thousand samples, so a family keeps its samples'
//! labels in two arenas (label names with value ranges, and one string of
//! all values) instead of a vector and strings per sample: adding a sample
//! then allocates nothing once the arenas have grown, and dropping the
//! scrape frees three blocks per family rather than thousands.
//!
//! Decisions:
//! - A scrape fills one [`Metrics`]; each collector writes its own *part*
//!   of it ([`Metrics::begin_part`]), where lookups by name see only that
//!   collector's families and a failed collector's families are dropped.
//!   A set per collector, merged afterwards, cost a vector per collector
//!   and the copies of the families as the scrape's vector grew.
//! - Sorting first checks whether the labels and samples are in order
//!   already (most are added in order): one pass, and no scratch buffer
//!   for the stable sort. The families themselves are sorted by checking
//!   the previous scrape's order first ([`SortOrder`]): sorting ~600
//!   families by name was ~1.2% of a scrape's CPU on this host (the sort
//!   and its `memcmp`s).
//! - A family's arenas are allocated at the size the family that was added
//!   at the same place in the last scrape ended with ([`SortOrder`] keeps
//!   the sizes, three numbers per family, not the buffers): one allocation
//!   per arena instead of growing each by doubling, which was ~1,400 of the
//!   ~7,000 allocations of a scrape of the fixture tree, and the copies
//!   that go with growing. A wrong guess only costs spare capacity.
//! - The scrape thread hands a scrape's families back once the text is
//!   written ([`Metrics::recycle`]), and the next scrape fills the same
//!   arenas again, family by family in the order they were added: no
//!   allocation per family at all in a steady scrape (DHAT: ~1,100 fewer
//!   of a fixture-tree scrape's ~4,000 allocations and frees,
//!   and their churn interleaved with long-lived caches fragmented the
//!   heap). The vectors of families circulate the same way. The arenas
//!   are held between scrapes (~100 KB on the fixture tree), and so is
//!   the scrape thread's text buffer (`scrape.rs`). Measured against
//!   freeing both after each scrape (BENCHMARKS.md, "Eleventh session"):
//!   CPU per back-to-back scrape of the fixture tree −3%, resident memory
//!   after back-to-back scrapes −0.2 to −0.3 MB, but 0.1 to 0.2 MB more
//!   when idle. Freeing them once idle, with or without `malloc_trim`,
//!   was tried: without, idle memory stayed the same (the holes stay
//!   resident); with, spaced scrapes cost ~18% more CPU to fault the heap
//!   back in.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    /// Only from the textfile collector: samples are `_bucket` (with `le`
    /// as their last label), `_sum` and `_count` per series.
    Histogram,
    /// Only from the textfile collector: quantile samples (with `quantile`
    /// as their last label), `_sum` and `_count` per series.
    Summary,
}

impl Kind {
    /// The label a histogram's or summary's samples end with.
    pub fn bound_label(self) -> Option<&'static str> {
        match self {
            Kind::Histogram => Some("le"),
            Kind::Summary => Some("quantile"),
            _ => None,
        }
    }
}

/// What a sample's name adds to its family's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    None,
    Bucket,
    Sum,
    Count,
}

impl Suffix {
    pub fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::Bucket => "_bucket",
            Suffix::Sum => "_sum",
            Suffix::Count => "_count",
        }
    }
}

/// A label name. Almost always a `&'static str`; owned only where names come
/// from data (the textfile collector).
pub type LabelName = Cow<'static, str>;

/// One label of one sample: its name and where its value is in the
/// family's value string.
#[derive(Debug, Clone, PartialEq)]
struct Label {
    name: LabelName,
    value: Range<u32>,
}

/// One sample in the family's arenas.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    labels: (u32, u32),
    suffix: Suffix,
    value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    slots: Vec<Slot>,
    labels: Vec<Label>,
    values: String,
}

/// A view of one sample of a family.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    labels: &'a [Label],
    values: &'a str,
    pub suffix: Suffix,
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// The labels as (name, value), in the order they are stored (sorted by
    /// name once the family went through [`Metrics::into_sorted`]).
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let values = self.values;
        self.labels.iter().map(move |l| {
            (
                &*l.name,
                &values[l.value.start as usize..l.value.end as usize],
            )
        })
    }

    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&'a str> {
        self.labels().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl Family {
    /// An empty family that allocates nothing, to move a family out of a
    /// vector.
    fn placeholder() -> Self {
        Family::new(Cow::Borrowed(""), Cow::Borrowed(""), Kind::Untyped)
    }

    fn new(name: Cow<'static, str>, help: Cow<'static, str>, kind: Kind) -> Self {
        Self::with_sizes(name, help, kind, Sizes::default())
    }

    /// An empty family whose arenas have room for `sizes`.
    fn with_sizes(
        name: Cow<'static, str>,
        help: Cow<'static, str>,
        kind: Kind,
        sizes: Sizes,
    ) -> Self {
        Family {
            name,
            help,
            kind,
            slots: Vec::with_capacity(sizes.slots as usize),
            labels: Vec::with_capacity(sizes.labels as usize),
            values: String::with_capacity(sizes.values as usize),
        }
    }

    /// This family emptied, its arenas kept, owning no text.
    fn emptied(mut self) -> Self {
        self.name = Cow::Borrowed("");
        self.help = Cow::Borrowed("");
        self.slots.clear();
        self.labels.clear();
        self.values.clear();
        self
    }

    /// An emptied family made `name`, with room for `sizes`.
    fn refill(
        &mut self,
        name: Cow<'static, str>,
        help: Cow<'static, str>,
        kind: Kind,
        sizes: Sizes,
    ) {
        self.name = name;
        self.help = help;
        self.kind = kind;
        self.slots.reserve(sizes.slots as usize);
        self.labels.reserve(sizes.labels as usize);
        self.values.reserve(sizes.values as usize);
    }

    fn sizes(&self) -> Sizes {
        let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        Sizes {
            slots: n(self.slots.len()),
            labels: n(self.labels.len()),
            values: n(self.values.len()),
        }
    }

    fn push_label(&mut self, name: LabelName, value: &str) {
        let start = self.values.len() as u32;
        self.values.push_str(value);
        self.labels.push(Label {
            name,
            value: start..self.values.len() as u32,
        });
    }

    fn push_slot(&mut self, first_label: usize, suffix: Suffix, value: f64) {
        self.slots.push(Slot {
            labels: (first_label as u32, self.labels.len() as u32),
            suffix,
            value,
        });
    }

    /// Adds one sample. Label order does not matter: the encoder sorts.
    pub fn add(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        let first = self.labels.len();
        for (k, v) in labels {
            self.push_label(Cow::Borrowed(*k), v);
        }
        self.push_slot(first, Suffix::None, value);
        self
    }

    /// Adds one sample whose label names are only known at run time.
    pub fn add_owned(&mut self, labels: Vec<(LabelName, String)>, value: f64) -> &mut Self {
        self.add_part(labels, Suffix::None, value)
    }

    /// Adds one sample of a histogram or summary series: a bucket or
    /// quantile (its `le`/`quantile` label last), the sum or the count.
    /// Parts of one series must be added together, in exposition order.
    pub fn add_part(
        &mut self,
        labels: Vec<(LabelName, String)>,
        suffix: Suffix,
        value: f64,
    ) -> &mut Self {
        let first = self.labels.len();
        for (k, v) in labels {
            self.push_label(k, &v);
        }
        self.push_slot(first, suffix, value);
        self
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn view(&self, slot: &Slot) -> Sample<'_> {
        Sample {
            labels: &self.labels[slot.labels.0 as usize..slot.labels.1 as usize],
            values: &self.values,
            suffix: slot.suffix,
            value: slot.value,
        }
    }

    /// Sample `i`, in the order added (or sorted).
    pub fn sample(&self, i: usize) -> Sample<'_> {
        self.view(&self.slots[i])
    }

    pub fn samples(&self) -> impl ExactSizeIterator<Item = Sample<'_>> {
        self.slots.iter().map(|s| self.view(s))
    }

    /// Moves the samples of `other` after this family's.
    fn append(&mut self, other: &mut Family) {
        let label_base = self.labels.len() as u32;
        let value_base = self.values.len() as u32;
        self.values.push_str(&other.values);
        self.labels.extend(other.labels.drain(..).map(|mut l| {
            l.value = l.value.start + value_base..l.value.end + value_base;
            l
        }));
        self.slots.extend(other.slots.drain(..).map(|mut s| {
            s.labels = (s.labels.0 + label_base, s.labels.1 + label_base);
            s
        }));
        other.values.clear();
    }

    /// Sorts each sample's labels by name, then the samples by their label
    /// values. A histogram's or summary's `le`/`quantile` label stays last
    /// and its series keep their parts in the order added (buckets or
    /// quantiles, sum, count), as client_golang writes them.
    fn sort(&mut self) {
        let bound = self.kind.bound_label();
        for s in &self.slots {
            let run = &mut self.labels[s.labels.0 as usize..s.labels.1 as usize];
            let run = match (bound, run.last()) {
                (Some(b), Some(last)) if last.name == b => {
                    let n = run.len() - 1;
                    &mut run[..n]
                }
                _ => run,
            };
            if !run.is_sorted_by(|a, b| a.name <= b.name) {
                run.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            }
        }
        let (labels, values) = (&self.labels, &self.values);
        let key = |s: &Slot| {
            labels[s.labels.0 as usize..s.labels.1 as usize]
                .iter()
                .filter(move |l| Some(&*l.name) != bound)
                .map(move |l| &values[l.value.start as usize..l.value.end as usize])
        };
        // Most families are added in order already; checking costs one
        // pass and spares the sort its scratch buffer.
        if !self.slots.is_sorted_by(|a, b| key(a).le(key(b))) {
            self.slots.sort_by(|a, b| key(a).cmp(key(b)));
        }
    }
}

/// A set of metric families, looked up by name so a collector can add to
/// the same family from several places.
///
/// Lookup is a linear scan from the newest family: a collector fills its own
/// part ([`Metrics::begin_part`]), usually adding to the family it created
/// last, and [`Metrics::into_sorted`] joins same-named families of different
/// parts. This beats hashing every name on each scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    families: Vec<Family>,
    /// Where the current part begins (see [`Metrics::begin_part`]): lookups
    /// by name see only the families from here on.
    part: usize,
    /// The order the previous set from the same source sorted into, tried
    /// first by [`Metrics::into_sorted`].
    order: Option<Arc<Mutex<SortOrder>>>,
    /// The sizes the previous set's families ended with, in the order they
    /// were added (taken from `order`).
    hints: Vec<Sizes>,
    /// The previous set's families, emptied, in the order they were added
    /// (taken from `order`): [`Metrics::new_family`] refills them.
    spare: Vec<Family>,
}

/// How much one family's arenas held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sizes {
    slots: u32,
    labels: u32,
    values: u32,
}

/// The order a set of families sorted into: for each place in name order,
/// the index the family was added at. A registry keeps one across scrapes
/// (see [`Metrics::with_order`]): the families of a scrape come in the
/// same order every time, so checking that the last order still sorts them
/// (one comparison per family) replaces sorting them (a dozen per family,
/// and moving each large family as many times).
///
/// It also keeps each family's size, in the order the families were added,
/// so the next set allocates each family's arenas once (see the module's
/// decisions).
#[derive(Debug, Default)]
pub struct SortOrder {
    order: Vec<u32>,
    sizes: Vec<Sizes>,
    /// Emptied families for the next set (see [`Metrics::recycle`]).
    spare: Vec<Family>,
    /// Empty vectors of families, kept for their allocations.
    vecs: Vec<Vec<Family>>,
}

impl SortOrder {
    /// An empty vector of families, with the room a previous one had.
    fn vec(&mut self) -> Vec<Family> {
        self.vecs.pop().unwrap_or_default()
    }

    /// Keeps `v`'s allocation for [`SortOrder::vec`].
    fn keep(&mut self, mut v: Vec<Family>) {
        v.clear();
        if v.capacity() > 0 && self.vecs.len() < 4 {
            self.vecs.push(v);
        }
    }
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
        let at = match self.families[self.part..]
            .iter()
            .rposition(|f| f.name == name)
        {
            Some(at) => self.part + at,
            None => return self.new_family(name, help, kind),
        };
        &mut self.families[at]
    }

    /// A new family `name`, added without looking for one of that name in
    /// this part: for a collector whose names are distinct by construction
    /// (one per key of a kernel table), where the lookup compared each new
    /// name with every family before it (meminfo: ~1,200 comparisons a
    /// scrape). Should a name repeat after all (a malformed table),
    /// [`Metrics::into_sorted`] joins the two families as it joins those of
    /// different parts.
    pub fn new_family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> &mut Family {
        let at = self.families.len();
        let sizes = self.hints.get(at).copied().unwrap_or_default();
        let family = match self.spare.get_mut(at) {
            Some(spare) => {
                let mut f = std::mem::replace(spare, Family::placeholder());
                f.refill(name.into(), help.into(), kind, sizes);
                f
            }
            None => Family::with_sizes(name.into(), help.into(), kind, sizes),
        };
        self.families.push(family);
        self.families.last_mut().expect("just pushed")
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

    /// An empty set with room for `families` families.
    pub fn with_capacity(families: usize) -> Self {
        Metrics {
            families: Vec::with_capacity(families),
            part: 0,
            order: None,
            hints: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// An empty set like [`Metrics::with_capacity`] that
    /// [`Metrics::into_sorted`] sorts by trying `order` first (and records
    /// its order there).
    pub fn with_order(families: usize, order: Arc<Mutex<SortOrder>>) -> Self {
        let mut kept = order.lock().unwrap_or_else(|e| e.into_inner());
        let hints = std::mem::take(&mut kept.sizes);
        let spare = std::mem::take(&mut kept.spare);
        let mut vec = kept.vec();
        drop(kept);
        vec.reserve(families);
        Metrics {
            families: vec,
            part: 0,
            order: Some(order),
            hints,
            spare,
        }
    }

    /// Starts a new part: families added from now on are found by name
    /// only among each other, as if added to a fresh set (same-named
    /// families of two parts are joined by [`Metrics::into_sorted`]), and
    /// [`Metrics::discard_part`] drops them.
    /// The registry gives each collector a part of one set instead of a
    /// set of its own, so a scrape builds one vector of families.
    pub fn begin_part(&mut self) {
        self.part = self.families.len();
    }

    /// Drops every family added since [`Metrics::begin_part`].
    pub fn discard_part(&mut self) {
        self.families.truncate(self.part);
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// How many families (before same-named ones are joined).
    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The families sorted by name, each with labels sorted by name and
    /// samples sorted by label values: the order node_exporter serves.
    pub fn into_sorted(self) -> Vec<Family> {
        let mut families = self.families;
        // Stable, so joined families keep the order samples were added in.
        match &self.order {
            Some(order) => {
                let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
                let mut sizes = self.hints;
                sizes.clear();
                sizes.extend(families.iter().map(Family::sizes));
                order.sizes = sizes;
                order.keep(self.spare);
                let sorted = order.vec();
                families = sort_by_order(families, sorted, &mut order);
            }
            None => families.sort_by(|a, b| a.name.cmp(&b.name)),
        }
        families.dedup_by(|later, first| {
            if later.name == first.name {
                first.append(later);
                true
            } else {
                false
            }
        });
        for fam in &mut families {
            fam.sort();
        }
        families
    }

    /// Hands the families of a set made with [`Metrics::with_order`] back
    /// for the next such set to fill again (see the module's decisions).
    /// `families` is what [`Metrics::into_sorted`] returned.
    pub fn recycle(order: &Mutex<SortOrder>, mut families: Vec<Family>) {
        let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
        let mut spare = order.vec();
        if families.len() == order.order.len() {
            // Back in the order they were added, where the same family
            // will be added again.
            spare.resize_with(families.len(), Family::placeholder);
            for (&at, f) in order.order.iter().zip(families.drain(..)) {
                spare[at as usize] = f.emptied();
            }
        } else {
            // Some were joined (a name repeated): their arenas go in the
            // order they come.
            spare.extend(families.drain(..).map(Family::emptied));
        }
        order.spare = spare;
        order.keep(families);
    }
}

/// `families` sorted by name, stably: in `order` when it still sorts them,
/// else sorted afresh, and `order` records the new order.
fn sort_by_order(
    mut families: Vec<Family>,
    mut sorted: Vec<Family>,
    order: &mut SortOrder,
) -> Vec<Family> {
    let before = |a: u32, b: u32| {
        let (fa, fb) = (&families[a as usize], &families[b as usize]);
        match fa.name.cmp(&fb.name) {
            std::cmp::Ordering::Equal => a < b,
            o => o.is_lt(),
        }
    };
    let fits =
        order.order.len() == families.len() && order.order.windows(2).all(|w| before(w[0], w[1]));
    if !fits {
        order.order.clear();
        order.order.extend(0..families.len() as u32);
        order.order.sort_unstable_by(|&a, &b| {
            let (fa, fb) = (&families[a as usize], &families[b as usize]);
            fa.name.cmp(&fb.name).then(a.cmp(&b))
        });
    }
    sorted.extend(
        order
            .order
            .iter()
            .map(|&i| std::mem::replace(&mut families[i as usize], Family::placeholder())),
    );
    order.keep(families);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_order_sorts_like_a_fresh_sort() {
        let order = Arc::new(Mutex::new(SortOrder::default()));
        let build = |names: &[&'static str]| {
            let mut plain = Metrics::new();
            let mut hinted = Metrics::with_order(0, order.clone());
            for (i, n) in names.iter().enumerate() {
                for m in [&mut plain, &mut hinted] {
                    m.begin_part();
                    m.gauge(*n, "h").add(&[], i as f64);
                }
            }
            let (plain, hinted) = (plain.into_sorted(), hinted.into_sorted());
            assert_eq!(plain, hinted, "{names:?}");
            hinted
        };
        build(&["b", "a", "c", "a"]);
        assert_eq!(order.lock().unwrap().order, [1, 3, 0, 2]);
        // The same names again: the remembered order is used, and a joined
        // family keeps its samples in the order added.
        let again = build(&["b", "a", "c", "a"]);
        let a: Vec<f64> = again[0].samples().map(|s| s.value).collect();
        assert_eq!(a, [1.0, 3.0]);
        // Other names, or as many in another order: sorted afresh.
        build(&["c", "a", "b", "a"]);
        assert_eq!(order.lock().unwrap().order, [1, 3, 2, 0]);
        build(&["a", "b"]);
        build(&["b", "a"]);
        assert_eq!(order.lock().unwrap().order, [1, 0]);
    }

    #[test]
    fn a_family_gets_room_for_what_the_last_set_put_at_its_place() {
        let order = Arc::new(Mutex::new(SortOrder::default()));
        let fill = |m: &mut Metrics, n: usize| {
            let f = m.gauge("b", "h");
            for i in 0..n {
                f.add(&[("device", &format!("sd{i}"))], 1.0);
            }
            m.gauge("a", "h").add(&[], 2.0);
        };
        let mut first = Metrics::with_order(0, order.clone());
        fill(&mut first, 37);
        let sorted = first.into_sorted();
        assert_eq!(sorted[1].len(), 37);
        let mut second = Metrics::with_order(0, order.clone());
        let b = second.gauge("b", "h");
        assert!(b.slots.capacity() >= 37 && b.labels.capacity() >= 37);
        assert!(b.values.capacity() >= "sd0".len() * 10 + "sd10".len() * 27);
        let a = second.gauge("a", "h");
        assert!(a.slots.capacity() >= 1);
        assert_eq!(a.labels.capacity(), 0);
        // A set without a remembered order starts empty.
        assert_eq!(Metrics::new().gauge("b", "h").slots.capacity(), 0);
    }

    #[test]
    fn recycled_families_are_filled_again_in_place_and_encode_the_same() {
        let order = Arc::new(Mutex::new(SortOrder::default()));
        let fill = |m: &mut Metrics, round: usize| {
            m.begin_part();
            let b = m.gauge("b", "h");
            for i in 0..20 {
                b.add(&[("device", &format!("sd{i}"))], (round * i) as f64);
            }
            m.gauge("a", "h").add(&[], round as f64);
            m.begin_part();
            // A name only known at run time, and one a second part repeats.
            m.gauge(format!("t_{round}"), "text").add(&[], 1.0);
            m.gauge("b", "h").add(&[("device", "sda")], 9.0);
        };
        let mut first = Metrics::with_order(0, order.clone());
        fill(&mut first, 1);
        let sorted = first.into_sorted();
        let b_slots = sorted
            .iter()
            .find(|f| f.name == "b")
            .unwrap()
            .slots
            .as_ptr();
        Metrics::recycle(&order, sorted);
        {
            let kept = order.lock().unwrap();
            // "b" was joined, so the arenas came back in sorted order; none
            // keeps text it owned.
            assert_eq!(kept.spare.len(), 3);
            assert!(kept.spare.iter().all(|f| f.name.is_empty() && f.is_empty()));
        }
        for round in 2..5 {
            let mut plain = Metrics::new();
            fill(&mut plain, round);
            let mut again = Metrics::with_order(0, order.clone());
            fill(&mut again, round);
            let sorted = again.into_sorted();
            assert_eq!(sorted, plain.into_sorted(), "round {round}");
            if round == 2 {
                let reused = sorted.iter().any(|f| f.slots.as_ptr() == b_slots);
                assert!(reused, "the first set's arenas were filled again");
            }
            Metrics::recycle(&order, sorted);
        }
    }

    #[test]
    fn a_new_family_that_repeats_a_name_is_joined_when_sorted() {
        let mut m = Metrics::new();
        m.new_family("a", "h", Kind::Gauge).add(&[("k", "2")], 2.0);
        m.new_family("b", "h", Kind::Gauge).add(&[], 3.0);
        m.new_family("a", "h", Kind::Gauge).add(&[("k", "1")], 1.0);
        assert_eq!(m.len(), 3);
        let sorted = m.into_sorted();
        assert_eq!(sorted.len(), 2);
        let a: Vec<f64> = sorted[0].samples().map(|s| s.value).collect();
        assert_eq!(a, [1.0, 2.0]);
    }

    #[test]
    fn joined_families_keep_every_sample_with_its_own_labels() {
        let mut a = Metrics::new();
        a.gauge("m", "h").add(&[("z", "1"), ("a", "x")], 1.0);
        // A second part, as the next collector gets: its "m" is a family of
        // its own until into_sorted joins them.
        a.begin_part();
        a.gauge("m", "h")
            .add(&[("a", "w"), ("z", "2")], 2.0)
            .add_owned(vec![(LabelName::Owned("a".into()), "y".into())], 3.0);
        a.gauge("k", "h").add(&[], 4.0);
        let sorted = a.into_sorted();
        assert_eq!(sorted.len(), 2);
        assert_eq!(sorted[0].name, "k");
        let m = &sorted[1];
        let got: Vec<(Vec<(&str, &str)>, f64)> = m
            .samples()
            .map(|s| (s.labels().collect(), s.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![("a", "w"), ("z", "2")], 2.0),
                (vec![("a", "x"), ("z", "1")], 1.0),
                (vec![("a", "y")], 3.0),
            ]
        );
        assert_eq!(m.sample(2).label("a"), Some("y"));
        assert_eq!(m.sample(2).label("z"), None);
    }

    #[test]
    fn a_part_sees_only_its_own_families_and_can_be_dropped() {
        let mut m = Metrics::new();
        m.gauge("a", "h").add(&[("x", "1")], 1.0);
        m.begin_part();
        // Not joined with the first part's "a" by lookup...
        m.gauge("a", "h").add(&[("x", "2")], 2.0);
        m.gauge("b", "h").add(&[], 3.0);
        assert_eq!(m.len(), 3);
        m.discard_part();
        assert_eq!(m.len(), 1);
        m.begin_part();
        m.gauge("a", "h").add(&[("x", "0")], 0.0);
        // ...but joined, in label order, when sorted.
        let sorted = m.into_sorted();
        assert_eq!(sorted.len(), 1);
        let values: Vec<f64> = sorted[0].samples().map(|s| s.value).collect();
        assert_eq!(values, [0.0, 1.0]);
    }
}
