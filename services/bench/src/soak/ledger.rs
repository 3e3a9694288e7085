//! What each soak client did, and the exact check of it against the final states.
//!
//! Every edit a client makes puts an icon at a position nobody else ever uses:
//! client `c`'s edit number `s` (add or move) places its icon at
//! `x = -10000 + c`, `y = -10000 + s`. So a final state's icon says by its position
//! alone which client's which edit produced it, and the check needs no icon ids and
//! no trust in the client's own view.
//!
//! A client edits only its own icons, one request at a time, so each icon's edits are
//! ordered (its *chain*: the add, moves, maybe a delete). In the final state an icon
//! is either at the position of exactly one edit `k` of its chain, or absent (then
//! `k` is the chain's delete, if it has one). Every edit up to `k` is **present**
//! (applied, or superseded by a later applied edit of the same icon); every edit after
//! `k` is **absent**. An acked edit that is absent is **lost**. An unacked edit (sent,
//! no answer) may be either; both counts are reported.

use std::collections::{BTreeMap, HashMap};

use roomcast_sdk::{ErrorCode, GameState, Icon, IconId};
use serde::Serialize;

/// Coordinates run over `-10000..=10000`.
const ORIGIN: i32 = -10_000;
/// Most clients (one x column each) and most edits per client (one y row each).
pub const MAX_CLIENTS: u32 = 20_001;
pub const MAX_EDITS: u32 = 20_001;

/// The position client `client`'s edit `seq` puts its icon at.
pub fn position(client: u32, seq: u32) -> (i32, i32) {
    (ORIGIN + client as i32, ORIGIN + seq as i32)
}

/// Which client's which edit put an icon at `(x, y)`.
pub fn decode(x: i32, y: i32) -> Option<(u32, u32)> {
    let (c, s) = (x.checked_sub(ORIGIN)?, y.checked_sub(ORIGIN)?);
    Some((u32::try_from(c).ok()?, u32::try_from(s).ok()?))
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not answered yet.
    Pending,
    /// The server acked it at this room version.
    Acked(u64),
    /// Sent (or maybe sent) and never answered: the connection dropped, the request
    /// timed out, or the client disconnected while it was in flight.
    Unacked(Unacked),
    /// The server answered with an error: nothing changed.
    Rejected(ErrorCode),
}

/// Why an edit has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unacked {
    /// `ConnectionLost`: the connection dropped after it was sent.
    ConnectionLost,
    /// No answer within the SDK's request timeout.
    Timeout,
    /// The client disconnected (churn) while it was in flight.
    Abandoned,
    /// Any other client-side failure.
    Other,
}

/// An edit of one icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add { img: u16 },
    Move { img: u16 },
    Delete,
}

#[derive(Debug, Clone)]
pub struct Edit {
    pub seq: u32,
    pub kind: Kind,
    pub outcome: Outcome,
}

/// One icon's edits, in the order they were made.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// Known once the add's patch (or a later state) showed it.
    pub id: Option<IconId>,
    pub edits: Vec<Edit>,
    /// No more edits: deleted, or an unanswered delete left it unknown.
    pub retired: bool,
}

impl Chain {
    /// The add's sequence number.
    pub fn add_seq(&self) -> u32 {
        self.edits[0].seq
    }
}

/// One client's edits, over all its connections.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub client: u32,
    pub room: usize,
    pub next_seq: u32,
    pub chains: Vec<Chain>,
}

impl Ledger {
    pub fn new(client: u32, room: usize) -> Self {
        assert!(client < MAX_CLIENTS, "at most {MAX_CLIENTS} clients");
        Self {
            client,
            room,
            next_seq: 0,
            chains: Vec::new(),
        }
    }

    /// Whether another edit still gets a fresh position.
    pub fn has_room_for_edits(&self) -> bool {
        self.next_seq < MAX_EDITS
    }

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Record a new icon's add as pending; returns (chain index, seq).
    pub fn begin_add(&mut self, img: u16) -> (usize, u32) {
        let seq = self.take_seq();
        self.chains.push(Chain {
            id: None,
            edits: vec![Edit {
                seq,
                kind: Kind::Add { img },
                outcome: Outcome::Pending,
            }],
            retired: false,
        });
        (self.chains.len() - 1, seq)
    }

    /// Record an edit of chain `chain` as pending; returns its seq.
    pub fn begin(&mut self, chain: usize, kind: Kind) -> u32 {
        let seq = self.take_seq();
        self.chains[chain].edits.push(Edit {
            seq,
            kind,
            outcome: Outcome::Pending,
        });
        seq
    }

    /// The answer to chain `chain`'s last edit.
    pub fn finish(&mut self, chain: usize, outcome: Outcome) {
        let c = &mut self.chains[chain];
        let edit = c.edits.last_mut().expect("an edit was begun");
        edit.outcome = outcome;
        match (edit.kind, outcome) {
            // Deleted, or maybe deleted: no further edits either way.
            (Kind::Delete, Outcome::Acked(_) | Outcome::Unacked(_)) => c.retired = true,
            // A rejected add never made an icon.
            (Kind::Add { .. }, Outcome::Rejected(_)) => c.retired = true,
            _ => {}
        }
    }
}

/// The check's counts (over one room, or summed over all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Edits the server acked.
    pub acked: u64,
    /// Acked edits present in the final state (applied or superseded).
    pub present: u64,
    /// Acked edits absent from the final state: must be 0.
    pub lost: u64,
    /// Edits sent without an answer.
    pub unacked: u64,
    /// ... of which present in the final state (applied or superseded).
    pub unacked_present: u64,
    /// ... of which absent.
    pub unacked_absent: u64,
    /// Edits the server refused with an error code.
    pub rejected: u64,
    /// Final-state icons no client's edit explains, icons present twice, or icons
    /// whose id or image differ from the edit that placed them: must be 0.
    pub anomalies: u64,
    /// Acked versions above the room's final version: must be 0.
    pub versions_ahead: u64,
    /// Human-readable details of the first few lost edits and anomalies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Verdict {
    pub fn add(&mut self, other: Verdict) {
        self.acked += other.acked;
        self.present += other.present;
        self.lost += other.lost;
        self.unacked += other.unacked;
        self.unacked_present += other.unacked_present;
        self.unacked_absent += other.unacked_absent;
        self.rejected += other.rejected;
        self.anomalies += other.anomalies;
        self.versions_ahead += other.versions_ahead;
        let room = 20usize.saturating_sub(self.details.len());
        self.details.extend(other.details.into_iter().take(room));
    }

    fn note(&mut self, detail: String) {
        if self.details.len() < 20 {
            self.details.push(detail);
        }
    }
}

/// Check the ledgers of one room's clients against its final state at `version`.
pub fn verify(room: &str, version: u64, state: &GameState, ledgers: &[&Ledger]) -> Verdict {
    let mut v = Verdict::default();
    // Final icons by the (client, seq) their position names.
    let mut placed: HashMap<(u32, u32), (&IconId, &Icon)> = HashMap::new();
    for (id, icon) in &state.icons {
        match decode(icon.x.get(), icon.y.get()) {
            Some(key) => {
                if placed.insert(key, (id, icon)).is_some() {
                    v.anomalies += 1;
                    v.note(format!("{room}: two icons at the position of edit {key:?}"));
                }
            }
            None => {
                v.anomalies += 1;
                v.note(format!("{room}: icon {id} at a position no edit uses"));
            }
        }
    }
    let mut claimed = 0usize;
    for ledger in ledgers {
        for chain in &ledger.chains {
            // Edits of this chain whose position is in the final state.
            let found: Vec<(usize, &IconId, &Icon)> = chain
                .edits
                .iter()
                .enumerate()
                .filter(|(_, e)| !matches!(e.kind, Kind::Delete))
                .filter_map(|(i, e)| {
                    placed
                        .get(&(ledger.client, e.seq))
                        .map(|(id, icon)| (i, *id, *icon))
                })
                .collect();
            claimed += found.len();
            if found.len() > 1 {
                v.anomalies += found.len() as u64 - 1;
                v.note(format!(
                    "{room}: client {} icon added at edit {} appears {} times",
                    ledger.client,
                    chain.add_seq(),
                    found.len()
                ));
            }
            let k = match found.first() {
                Some(&(i, id, icon)) => {
                    let edit = &chain.edits[i];
                    let img = match edit.kind {
                        Kind::Add { img } | Kind::Move { img } => img,
                        Kind::Delete => unreachable!("filtered"),
                    };
                    let wrong_id = chain.id.as_ref().is_some_and(|known| known != id);
                    if wrong_id
                        || icon.img.get() != img
                        || matches!(edit.outcome, Outcome::Rejected(_))
                    {
                        v.anomalies += 1;
                        v.note(format!(
                            "{room}: client {} edit {} is in the final state as {id} {icon:?}, \
                             but it was {:?} (known id {:?})",
                            ledger.client, edit.seq, edit, chain.id
                        ));
                    }
                    Some(i)
                }
                None => chain.edits.iter().position(|e| {
                    matches!(e.kind, Kind::Delete) && !matches!(e.outcome, Outcome::Rejected(_))
                }),
            };
            for (i, edit) in chain.edits.iter().enumerate() {
                let here = k.is_some_and(|k| i <= k);
                match edit.outcome {
                    Outcome::Acked(at) => {
                        v.acked += 1;
                        if at > version {
                            v.versions_ahead += 1;
                            v.note(format!(
                                "{room}: client {} edit {} acked at version {at}, \
                                 the final state is version {version}",
                                ledger.client, edit.seq
                            ));
                        }
                        if here {
                            v.present += 1;
                        } else {
                            v.lost += 1;
                            v.note(format!(
                                "{room}: LOST client {} edit {} {:?} acked at version {at} \
                                 (icon added at edit {}, final position at edit {:?})",
                                ledger.client,
                                edit.seq,
                                edit.kind,
                                chain.add_seq(),
                                k.map(|k| chain.edits[k].seq)
                            ));
                        }
                    }
                    Outcome::Unacked(_) => {
                        v.unacked += 1;
                        if here {
                            v.unacked_present += 1;
                        } else {
                            v.unacked_absent += 1;
                        }
                    }
                    Outcome::Rejected(_) => v.rejected += 1,
                    // Every request is answered or given up before the check.
                    Outcome::Pending => {
                        v.anomalies += 1;
                        v.note(format!(
                            "{room}: client {} edit {} still pending at the check",
                            ledger.client, edit.seq
                        ));
                    }
                }
            }
        }
    }
    // Final icons that no chain of this room's clients claimed.
    let unclaimed = placed.len().saturating_sub(claimed);
    if unclaimed > 0 {
        v.anomalies += unclaimed as u64;
        v.note(format!(
            "{room}: {unclaimed} icon(s) placed by no edit of this room's clients"
        ));
    }
    v
}

/// The rooms' final states by index, for [`verify_all`].
pub type Finals = BTreeMap<usize, (String, u64, GameState)>;

/// [`verify`] every room; the sum of the verdicts.
pub fn verify_all(finals: &Finals, ledgers: &[Ledger]) -> Verdict {
    let mut total = Verdict::default();
    for (index, (name, version, state)) in finals {
        let mine: Vec<&Ledger> = ledgers.iter().filter(|l| l.room == *index).collect();
        total.add(verify(name, *version, state, &mine));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icon(client: u32, seq: u32, img: u16) -> Icon {
        let (x, y) = position(client, seq);
        roomcast_sdk::icon(img.into(), x.into(), y.into()).unwrap()
    }

    fn state(icons: &[(&IconId, Icon)]) -> GameState {
        GameState {
            bg: Default::default(),
            icons: icons.iter().map(|(id, i)| ((*id).clone(), *i)).collect(),
        }
    }

    #[test]
    fn positions_round_trip() {
        for (c, s) in [(0, 0), (1999, 150), (20_000, 20_000)] {
            let (x, y) = position(c, s);
            assert!((-10_000..=10_000).contains(&x) && (-10_000..=10_000).contains(&y));
            assert_eq!(decode(x, y), Some((c, s)));
        }
        assert_eq!(decode(-10_001, 0), None);
    }

    #[test]
    fn acked_moves_and_deletes_are_present_and_a_reverted_move_is_lost() {
        let mut l = Ledger::new(3, 0);
        let a = IconId::generate();
        let b = IconId::generate();
        let (ca, _) = l.begin_add(1);
        l.finish(ca, Outcome::Acked(1));
        l.chains[ca].id = Some(a.clone());
        l.begin(ca, Kind::Move { img: 2 });
        l.finish(ca, Outcome::Acked(3));
        let (cb, _) = l.begin_add(4);
        l.finish(cb, Outcome::Acked(2));
        l.chains[cb].id = Some(b.clone());
        l.begin(cb, Kind::Delete);
        l.finish(cb, Outcome::Acked(4));
        assert!(l.chains[cb].retired);

        // a at its move (edit 1), b deleted: all four present.
        let good = state(&[(&a, icon(3, 1, 2))]);
        let v = verify("r", 4, &good, &[&l]);
        assert_eq!((v.acked, v.present, v.lost, v.anomalies), (4, 4, 0, 0));

        // a back at its add position: the acked move is lost; b still there: the
        // acked delete is lost.
        let bad = state(&[(&a, icon(3, 0, 1)), (&b, icon(3, 2, 4))]);
        let v = verify("r", 4, &bad, &[&l]);
        assert_eq!((v.acked, v.present, v.lost, v.anomalies), (4, 2, 2, 0));
        assert_eq!(v.details.len(), 2);
        // An ack beyond the final version is flagged too.
        assert_eq!(verify("r", 3, &good, &[&l]).versions_ahead, 1);
    }

    #[test]
    fn unacked_edits_may_be_either_and_strangers_are_anomalies() {
        let mut l = Ledger::new(7, 0);
        let (c0, _) = l.begin_add(1);
        l.finish(c0, Outcome::Unacked(Unacked::ConnectionLost));
        let (c1, _) = l.begin_add(1);
        l.finish(c1, Outcome::Unacked(Unacked::Timeout));
        let (c2, _) = l.begin_add(5);
        l.finish(c2, Outcome::Rejected(ErrorCode::IconLimit));
        let id = IconId::generate();
        // The first unacked add was applied (id unknown to the client), the second not.
        let s = state(&[(&id, icon(7, 0, 1))]);
        let v = verify("r", 9, &s, &[&l]);
        assert_eq!(
            (
                v.acked,
                v.unacked,
                v.unacked_present,
                v.unacked_absent,
                v.rejected
            ),
            (0, 2, 1, 1, 1)
        );
        assert_eq!(v.anomalies, 0);

        // An icon of another client, a wrong image, a position nobody used.
        let other = IconId::generate();
        let s = state(&[(&id, icon(7, 0, 9)), (&other, icon(8, 0, 1))]);
        let v = verify("r", 9, &s, &[&l]);
        assert_eq!(v.anomalies, 2);
        let nowhere = roomcast_sdk::icon(1, 10_000.0, -10_000.0).unwrap();
        let s = state(&[(&id, nowhere)]);
        assert_eq!(verify("r", 9, &s, &[&l]).anomalies, 1);
    }
}
