//! A bounded in-memory TTL set: which (target, alert) pairs this warm container already
//! delivered, so a redelivered event (or a platform retry after a partial failure) does not
//! notify twice.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Remembers keys for `ttl`, at most `capacity` of them (oldest evicted first).
#[derive(Debug)]
pub struct DedupCache {
    ttl: Duration,
    capacity: usize,
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl DedupCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        DedupCache {
            ttl,
            capacity: capacity.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether deduplication is on (a TTL of zero turns it off).
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Whether `key` was recorded less than `ttl` ago.
    pub fn contains(&mut self, key: &str, now: Instant) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        self.expire(now);
        self.seen.contains_key(key)
    }

    /// Records `key` as delivered at `now`.
    pub fn insert(&mut self, key: String, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        self.expire(now);
        while self.seen.len() >= self.capacity {
            match self.order.pop_front() {
                Some((at, k)) => {
                    if self.seen.get(&k) == Some(&at) {
                        self.seen.remove(&k);
                    }
                }
                None => break,
            }
        }
        self.seen.insert(key.clone(), now);
        self.order.push_back((now, key));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.ttl {
                break;
            }
            let (at, k) = self.order.pop_front().expect("front exists");
            if self.seen.get(&k) == Some(&at) {
                self.seen.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_ttl_and_stays_bounded() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(10), 3);
        c.insert("a".into(), t0);
        assert!(c.contains("a", t0 + Duration::from_secs(9)));
        assert!(!c.contains("a", t0 + Duration::from_secs(10)));
        for k in ["b", "c", "d", "e"] {
            c.insert(k.into(), t0 + Duration::from_secs(11));
        }
        assert_eq!(c.len(), 3);
        assert!(
            !c.contains("b", t0 + Duration::from_secs(11)),
            "oldest evicted"
        );
        assert!(c.contains("e", t0 + Duration::from_secs(11)));
        let mut off = DedupCache::new(Duration::ZERO, 3);
        off.insert("a".into(), t0);
        assert!(!off.contains("a", t0));
    }
}
