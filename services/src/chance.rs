//! The few random draws the services make (a saga payment that fails, an injected error, a
//! fault's jitter), from the random bits of a v4 UUID, which spares a dependency for them.

/// A uniform draw in [0, 1) from the 53 low random bits of a v4 UUID (its version and
/// variant bits sit higher).
fn unit_random() -> f64 {
    let bits = (uuid::Uuid::new_v4().as_u128() as u64) & ((1u64 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

/// `true` with probability `rate`: 1.0 always, 0.0 (or less) never.
pub fn happens(rate: f64) -> bool {
    rate >= 1.0 || (rate > 0.0 && unit_random() < rate)
}

/// A uniform draw in `0..=max`.
pub fn up_to(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    // 128 random bits folded onto 0..=max: the modulo bias is below 2^-64, far under notice.
    (uuid::Uuid::new_v4().as_u128() % (u128::from(max) + 1)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_and_impossible_rates_need_no_draw() {
        assert!((0..100).all(|_| happens(1.0)));
        assert!((0..100).all(|_| !happens(0.0)));
    }

    #[test]
    fn up_to_stays_within_its_bound() {
        assert_eq!(up_to(0), 0);
        assert!((0..1000).all(|_| up_to(7) <= 7));
    }
}
