//! [`ConnectionId`]: an API Gateway style connection id, cheap to clone, and able to
//! carry the process's own handle for the connection it names.

use serde::Deserialize;
use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, Weak};

use super::names::{InvalidValue, is_token, string_newtype_impls};

/// An API Gateway style connection id. Generated ids are KSUIDs whose 128-bit payload
/// comes from a CSPRNG, so they cannot be guessed; ids from AWS (base64-ish) parse too.
///
/// Equality, order and hash are the text's. The text is shared: a fan-out copies each
/// member's id from the membership store into a shard job, so a clone must not
/// allocate. Clones also share a slot for the connection's local handle
/// ([`Self::attach_local`]): the process that accepted the connection sets it once,
/// and a post to an id it minted reaches the socket without looking the id up in a
/// map. An id parsed from outside (a URL, an SQS job) has an empty slot.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ConnectionId(Arc<Inner>);

///
/// A fan-out touches each member's id several times per delivery (the clone into its
/// shard, the comparison with the sender, the handle, the drop), so what it reads
/// follows the `Arc`'s reference counts in this order, the text's pointer last: in a
/// room of 10,000 these reads were a cache miss each (`perf annotate`: the handle
/// slot's state), and together they are 64 bytes, a cache line when the allocator
/// aligns them so.
#[repr(C)]
struct Inner {
    local: OnceLock<Weak<dyn Any + Send + Sync>>,
    /// The text's last 8 bytes: two ids that differ almost always differ there (a
    /// KSUID's random half), so comparing them first spares a fan-out that skips its
    /// sender a read of every member's text from another allocation.
    tail: u64,
    text: Box<str>,
}

fn tail(text: &str) -> u64 {
    let (bytes, mut tail) = (text.as_bytes(), [0u8; 8]);
    let n = bytes.len().min(8);
    tail[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_ne_bytes(tail)
}

impl ConnectionId {
    /// The rule for ids accepted from outside.
    pub const RULE: &'static str = "connection id must match [A-Za-z0-9=+/_-]{1,128}";

    fn new(text: String) -> Self {
        Self(Arc::new(Inner {
            tail: tail(&text),
            text: text.into_boxed_str(),
            local: OnceLock::new(),
        }))
    }

    /// A fresh, unguessable id.
    pub fn generate() -> Self {
        Self::new(ksuid::Ksuid::with_payload(rand::random()).to_base62())
    }

    /// Validate an id received from outside (a URL path, a job).
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if is_token(&s, 128, b"=+/_-") {
            Ok(Self::new(s))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// 64 well-mixed bits of the id, read from its first cache line (the text's last 8
    /// bytes, through splitmix64's finalizer): for sketches that count distinct
    /// connections per delivery, where hashing the text would read a second allocation.
    pub fn hash64(&self) -> u64 {
        let mut z = self.0.tail;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Attach this process's handle for the connection to this id and all its clones,
    /// past and future. Weak, so the id never keeps a closed connection alive; once
    /// only: false if a handle was attached before.
    pub fn attach_local(&self, handle: Weak<dyn Any + Send + Sync>) -> bool {
        self.0.local.set(handle).is_ok()
    }

    /// The handle attached with [`Self::attach_local`], if it is a `T` and still alive.
    pub fn local<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.local.get()?.upgrade()?.downcast().ok()
    }

    /// Start loading this id into the CPU's cache, without waiting for it. A fan-out
    /// calls it for the member after next, so that by then [`Self::prefetch_local`] and
    /// [`Self::local`] find it there: between two members a gateway's `send(2)` runs,
    /// whose kernel work evicts what the previous ones read (in a room of 1,000 the two
    /// loads of each member's id and handle were a third of the gateway's own time).
    pub fn prefetch(&self) {
        prefetch_from_counts(Arc::as_ptr(&self.0).cast());
    }

    /// Start loading the first 64 bytes of the attached handle's allocation (its
    /// reference counts, then the handle's first fields). Reads this id, which should
    /// be cached ([`Self::prefetch`]).
    pub fn prefetch_local(&self) {
        if let Some(handle) = self.0.local.get() {
            prefetch_from_counts(handle.as_ptr().cast());
        }
    }
}

/// Prefetch the 64 bytes of an `Arc` allocation that begin with its two reference
/// counts, given the pointer to its value: both lines, when they straddle one.
fn prefetch_from_counts(value: *const u8) {
    let counts = value.wrapping_sub(2 * size_of::<usize>());
    prefetch(counts);
    prefetch(counts.wrapping_add(63));
}

/// A hint to load the cache line holding `p`; nothing elsewhere than on x86-64.
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is in the x86-64 baseline, and a prefetch is only a hint: it never
    // faults and has no effect the program can observe, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl PartialEq for ConnectionId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.tail == other.0.tail && self.as_str() == other.as_str())
    }
}

impl Eq for ConnectionId {}

impl Hash for ConnectionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for ConnectionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConnectionId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionId").field(&self.as_str()).finish()
    }
}

string_newtype_impls!(ConnectionId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_connection_ids_are_distinct_and_parse_back() {
        let a = ConnectionId::generate();
        let b = ConnectionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 27);
        assert_eq!(ConnectionId::parse(a.as_str()).unwrap(), a);
        assert!(
            ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok(),
            "AWS-style ids parse"
        );
        assert!(ConnectionId::parse("a b").is_err());
    }

    #[test]
    fn an_id_with_its_reference_counts_is_one_cache_line_long() {
        // Two `usize` counts precede `Inner` in its `Arc`.
        assert_eq!(2 * size_of::<usize>() + size_of::<Inner>(), 64);
    }

    #[test]
    fn ids_are_equal_by_their_whole_text() {
        let parse = |s: &str| ConnectionId::parse(s).unwrap();
        assert_eq!(parse("abc"), parse("abc"));
        assert_ne!(parse("abc"), parse("xbc"), "same short tail, other text");
        assert_ne!(parse("Aa12345678"), parse("Bb12345678"), "same 8-byte tail");
        assert_ne!(parse("12345678"), parse("12345679"));
        assert_ne!(parse("bc"), parse("abc"));
    }

    #[test]
    fn clones_share_the_local_handle_and_parsed_ids_have_none() {
        let id = ConnectionId::generate();
        let earlier = id.clone();
        let handle = Arc::new(String::from("socket"));
        let weak: Weak<String> = Arc::downgrade(&handle);
        assert!(id.attach_local(weak));
        assert!(!id.attach_local(Weak::<String>::new()), "attached once");
        assert_eq!(earlier.local::<String>().as_deref(), Some(&*handle));
        assert_eq!(id.clone().local::<String>().as_deref(), Some(&*handle));
        assert!(id.local::<u32>().is_none(), "another type is not it");
        let parsed = ConnectionId::parse(id.as_str()).unwrap();
        assert_eq!(parsed, id);
        assert!(parsed.local::<String>().is_none());
        // Hints only, whether attached, dropped or never attached.
        id.prefetch();
        id.prefetch_local();
        drop(handle);
        id.prefetch_local();
        parsed.prefetch_local();
        assert!(id.local::<String>().is_none(), "the id keeps nothing alive");
    }

    #[test]
    fn serde_and_order_go_by_the_text() {
        let id = ConnectionId::parse("abc").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""abc""#);
        assert_eq!(
            serde_json::from_str::<ConnectionId>(r#""abc""#).unwrap(),
            id
        );
        assert!(serde_json::from_str::<ConnectionId>(r#""a b""#).is_err());
        assert!(ConnectionId::parse("abd").unwrap() > id);
    }
}
