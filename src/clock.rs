//! The wall clock binlake stamps and measures with: milliseconds since the
//! Unix epoch, as MySQL's commit times and Kafka's timestamps are.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Exponential backoff between retries: `first`, doubled after each wait
/// up to `max`, back to `first` on progress.
#[derive(Debug, Clone)]
pub struct Backoff {
    delay: std::time::Duration,
    first: std::time::Duration,
    max: std::time::Duration,
}

impl Backoff {
    pub fn new(first: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            delay: first,
            first,
            max,
        }
    }

    /// The wait the next retry takes.
    pub fn current(&self) -> std::time::Duration {
        self.delay
    }

    /// The wait for this retry; the next one waits twice as long.
    pub fn next_delay(&mut self) -> std::time::Duration {
        let d = self.delay;
        self.delay = (self.delay * 2).min(self.max);
        d
    }

    /// Sleeps the next delay, unless shutdown comes first (then true).
    pub async fn wait(&mut self, shutdown: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        let d = self.next_delay();
        tokio::select! {
            _ = shutdown.changed() => true,
            _ = tokio::time::sleep(d) => *shutdown.borrow(),
        }
    }

    pub fn reset(&mut self) {
        self.delay = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_millis(700));
        let waits: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(waits, vec![200, 400, 700, 700]);
        b.reset();
        assert_eq!(b.current(), Duration::from_millis(200));
    }
}
