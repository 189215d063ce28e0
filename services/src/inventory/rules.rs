//! The stock rules as pure functions, so that they are tested without a database: which
//! quantities an order may ask for, how an order's items are merged, what each stock move
//! does to a product's figures, and when a product's stock raises an alert.
//!
//! Every unit is `available`, `reserved` (held for an order whose payment is pending) or
//! `sold`; a move is a [`Change`] of those three figures. The statement in `stock` applies a
//! change only while `available` stays at zero or above, in one atomic UPDATE, which is what
//! keeps concurrent orders from overselling; the figures here are what it adds.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use common::ApiError;
use common::events::{Ref, notification_kind};
use serde_json::json;

/// How many units one order line may ask for.
pub(super) const QUANTITIES: RangeInclusive<i32> = 1..=1_000_000;

/// An alert when a product has this many units or fewer left.
pub(super) const LOW_STOCK: i32 = 10;

/// A line's quantity, or the 422 that names the allowed range.
pub(super) fn valid_quantity(quantity: i32) -> Result<i32, ApiError> {
    if QUANTITIES.contains(&quantity) {
        Ok(quantity)
    } else {
        Err(ApiError::unprocessable(json!([{
            "type": "greater_than", "loc": ["body", "quantity"],
            "msg": "quantity must be within 1..=1000000",
        }])))
    }
}

/// An order's items with their product ids resolved, merged per product (quantities added,
/// saturating) and in id order: one reservation row per product and order, and concurrent
/// multi-item orders lock rows in the same order (no deadlock). The first spelling of each
/// product is kept, for error messages.
pub(super) fn merge_items(
    items: impl IntoIterator<Item = (i64, Ref, i32)>,
) -> BTreeMap<i64, (Ref, i32)> {
    let mut merged: BTreeMap<i64, (Ref, i32)> = BTreeMap::new();
    for (id, product, quantity) in items {
        let entry = merged.entry(id).or_insert((product, 0));
        entry.1 = entry.1.saturating_add(quantity);
    }
    merged
}

/// What happens to a reservation when the order's payment is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Settle {
    /// Payment failed: the units go back to `available`.
    Release,
    /// Payment succeeded: the units are sold.
    Commit,
}

impl Settle {
    /// The reservation's status afterwards.
    pub(super) fn status(self) -> &'static str {
        match self {
            Settle::Release => "released",
            Settle::Commit => "committed",
        }
    }
}

/// The reservation's status after taking stock: held, or sold at once.
pub(super) fn taken_status(sell: bool) -> &'static str {
    if sell { "committed" } else { "reserved" }
}

/// How much one move adds to each of a product's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Change {
    pub(super) available: i32,
    pub(super) reserved: i32,
    pub(super) sold: i32,
}

impl Change {
    /// Taking `quantity` units for an order: held as reserved, or sold at once (`sell`).
    pub(super) fn take(quantity: i32, sell: bool) -> Change {
        Change {
            available: -quantity,
            reserved: if sell { 0 } else { quantity },
            sold: if sell { quantity } else { 0 },
        }
    }

    /// Settling a reservation of `quantity` units.
    pub(super) fn settle(quantity: i32, how: Settle) -> Change {
        Change {
            available: match how {
                Settle::Release => quantity,
                Settle::Commit => 0,
            },
            reserved: -quantity,
            sold: match how {
                Settle::Release => 0,
                Settle::Commit => quantity,
            },
        }
    }
}

/// A low-stock or out-of-stock alert: its notification type and message.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Alert {
    pub(super) kind: &'static str,
    pub(super) message: String,
}

/// The alert a product's figures call for, if any: out of stock at zero, low at
/// [`LOW_STOCK`] units or fewer.
pub(super) fn stock_alert(name: &str, available: i32) -> Option<Alert> {
    if available > LOW_STOCK {
        return None;
    }
    Some(if available == 0 {
        Alert {
            kind: notification_kind::OUT_OF_STOCK_ALERT,
            message: format!("Out of stock alert: {name} is out of stock"),
        }
    } else {
        Alert {
            kind: notification_kind::LOW_STOCK_ALERT,
            message: format!("Low stock alert: {name} has only {available} units left"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product's figures, to apply changes to as the stock statement does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Figures {
        available: i32,
        reserved: i32,
        sold: i32,
    }

    impl Figures {
        fn total(self) -> i32 {
            self.available + self.reserved + self.sold
        }

        /// The statement's rule: the change applies only while `available` stays ≥ 0.
        fn after(self, change: Change) -> Option<Figures> {
            let available = self.available + change.available;
            (available >= 0).then_some(Figures {
                available,
                reserved: self.reserved + change.reserved,
                sold: self.sold + change.sold,
            })
        }
    }

    const FRESH: Figures = Figures {
        available: 50,
        reserved: 0,
        sold: 0,
    };

    #[test]
    fn quantities_outside_one_to_a_million_are_refused() {
        assert_eq!(valid_quantity(1).ok(), Some(1));
        assert_eq!(valid_quantity(1_000_000).ok(), Some(1_000_000));
        for bad in [0, -1, 1_000_001, i32::MIN, i32::MAX] {
            let err = valid_quantity(bad).unwrap_err();
            assert_eq!(
                err.status,
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_reservation_moves_units_from_available_to_reserved() {
        let change = Change::take(5, false);
        assert_eq!(
            change,
            Change {
                available: -5,
                reserved: 5,
                sold: 0
            }
        );
        let after = FRESH.after(change).unwrap();
        assert_eq!((after.available, after.reserved, after.sold), (45, 5, 0));
    }

    #[test]
    fn a_sale_at_once_skips_the_reserved_state() {
        let after = FRESH.after(Change::take(5, true)).unwrap();
        assert_eq!((after.available, after.reserved, after.sold), (45, 0, 5));
        assert_eq!(taken_status(true), "committed");
        assert_eq!(taken_status(false), "reserved");
    }

    #[test]
    fn stock_can_be_taken_down_to_zero_and_not_below() {
        let last = Figures {
            available: 3,
            ..FRESH
        };
        assert_eq!(last.after(Change::take(3, false)).unwrap().available, 0);
        assert_eq!(last.after(Change::take(4, false)), None);
        assert_eq!(last.after(Change::take(4, true)), None);
    }

    #[test]
    fn settling_releases_or_sells_what_was_reserved() {
        let held = FRESH.after(Change::take(5, false)).unwrap();
        let released = held.after(Change::settle(5, Settle::Release)).unwrap();
        assert_eq!(released, FRESH);
        let sold = held.after(Change::settle(5, Settle::Commit)).unwrap();
        assert_eq!((sold.available, sold.reserved, sold.sold), (45, 0, 5));
        assert_eq!(Settle::Release.status(), "released");
        assert_eq!(Settle::Commit.status(), "committed");
    }

    #[test]
    fn order_moves_never_change_the_number_of_units() {
        for quantity in [1, 7, 50] {
            for change in [
                Change::take(quantity, false),
                Change::take(quantity, true),
                Change::settle(quantity, Settle::Release),
                Change::settle(quantity, Settle::Commit),
            ] {
                assert_eq!(change.available + change.reserved + change.sold, 0);
            }
            let held = FRESH.after(Change::take(quantity, false)).unwrap();
            assert_eq!(held.total(), FRESH.total());
        }
    }

    #[test]
    fn items_of_one_product_are_merged_in_id_order() {
        let merged = merge_items([
            (3, Ref::Text("prod003".into()), 1),
            (1, Ref::Number(1), 2),
            (3, Ref::Number(3), 4),
        ]);
        let lines: Vec<(i64, String, i32)> = merged
            .into_iter()
            .map(|(id, (product, quantity))| (id, product.key(), quantity))
            .collect();
        assert_eq!(
            lines,
            vec![(1, "1".to_owned(), 2), (3, "prod003".to_owned(), 5)]
        );
    }

    #[test]
    fn merged_quantities_saturate_instead_of_overflowing() {
        let merged = merge_items([(1, Ref::Number(1), i32::MAX), (1, Ref::Number(1), 5)]);
        assert_eq!(merged[&1].1, i32::MAX);
    }

    #[test]
    fn alerts_start_at_ten_units_left() {
        assert_eq!(stock_alert("Mouse", 11), None);
        let low = stock_alert("Mouse", 10).unwrap();
        assert_eq!(low.kind, notification_kind::LOW_STOCK_ALERT);
        assert_eq!(low.message, "Low stock alert: Mouse has only 10 units left");
        assert_eq!(
            stock_alert("Mouse", 1).unwrap().kind,
            notification_kind::LOW_STOCK_ALERT
        );
    }

    #[test]
    fn no_units_left_is_an_out_of_stock_alert() {
        let out = stock_alert("NoteBook", 0).unwrap();
        assert_eq!(out.kind, notification_kind::OUT_OF_STOCK_ALERT);
        assert_eq!(out.message, "Out of stock alert: NoteBook is out of stock");
    }
}
