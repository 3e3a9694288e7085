//! The game's values: icon ids, image and background indexes, coordinates.

use serde::{Deserialize, Deserializer, Serialize};

use super::names::{InvalidValue, string_newtype_impls};

/// How many planet backgrounds a client may choose from (`bg` is `0..BACKGROUNDS`).
pub const BACKGROUNDS: u8 = 32;
/// How many module images a client may place (`img` is `0..IMAGES`).
pub const IMAGES: u16 = 64;
/// Coordinates are whole pixels in `-COORD_LIMIT..=COORD_LIMIT`.
pub const COORD_LIMIT: i32 = 10_000;

/// An icon id: `icon` + a 27-character base62 KSUID, assigned by the server on `addIcon`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct IconId(String);

impl IconId {
    /// The rule, as clients see it in `invalid_icon_id` errors.
    pub const RULE: &'static str = "icon id must be \"icon\" followed by 27 base62 characters";

    /// A fresh id for a new icon.
    pub fn generate() -> Self {
        Self(format!("icon{}", ksuid::Ksuid::generate().to_base62()))
    }

    /// Validate an id sent by a client.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        match s.strip_prefix("icon") {
            Some(k) if k.len() == 27 && k.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(Self(s)),
            _ => Err(InvalidValue(Self::RULE)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_impls!(IconId);

/// A background (planet) index, `0..BACKGROUNDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Background(u8);

impl Background {
    /// The rule, as clients see it in `invalid_background` errors.
    pub const RULE: &'static str = "bg must be an integer in 0..32";

    /// Validate an index.
    pub fn parse(n: i64) -> Result<Self, InvalidValue> {
        u8::try_from(n)
            .ok()
            .filter(|n| *n < BACKGROUNDS)
            .map(Self)
            .ok_or(InvalidValue(Self::RULE))
    }

    /// The index.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Background {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::parse(n)
    }
}

impl From<Background> for u8 {
    fn from(v: Background) -> u8 {
        v.0
    }
}

/// A module image index, `0..IMAGES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct Image(u16);

impl Image {
    /// The rule, as clients see it in `invalid_image` errors.
    pub const RULE: &'static str = "img must be an integer in 0..64";

    /// Validate an index.
    pub fn parse(n: i64) -> Result<Self, InvalidValue> {
        u16::try_from(n)
            .ok()
            .filter(|n| *n < IMAGES)
            .map(Self)
            .ok_or(InvalidValue(Self::RULE))
    }

    /// The index.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for Image {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::parse(n)
    }
}

impl From<Image> for u16 {
    fn from(v: Image) -> u16 {
        v.0
    }
}

/// A coordinate in whole pixels. Clients may send fractions (pointer events do); they
/// are rounded, so every client sees the same integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coord(i32);

impl Coord {
    /// The rule, as clients see it in `invalid_coordinate` errors.
    pub const RULE: &'static str = "x and y must be finite numbers in -10000..=10000";

    /// Validate and round a coordinate.
    pub fn parse(v: f64) -> Result<Self, InvalidValue> {
        if v.is_finite() && v.abs() <= f64::from(COORD_LIMIT) {
            Ok(Self(v.round() as i32))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    /// The value in pixels.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Self::parse(v).map_err(serde::de::Error::custom)
    }
}

/// An icon's content: which module image and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icon {
    /// Module image index.
    pub img: Image,
    /// Horizontal position in pixels.
    pub x: Coord,
    /// Vertical position in pixels.
    pub y: Coord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icon_ids_are_icon_plus_ksuid() {
        let id = IconId::generate();
        assert!(id.as_str().starts_with("icon"));
        assert_eq!(id.as_str().len(), 31);
        assert_eq!(IconId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "icon",
            "nope2JgQqxxxxxxxxxxxxxxxxxxxxxxx",
            "icon2JgQq",
            "icon!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(IconId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn indexes_and_coordinates_are_bounded() {
        assert_eq!(Background::parse(31).unwrap().get(), 31);
        assert!(Background::parse(32).is_err());
        assert!(Background::parse(-1).is_err());
        assert_eq!(Image::parse(63).unwrap().get(), 63);
        assert!(Image::parse(64).is_err());
        assert_eq!(Coord::parse(399.6).unwrap().get(), 400);
        assert_eq!(Coord::parse(-10_000.0).unwrap().get(), -10_000);
        assert!(Coord::parse(10_000.5).is_err());
        assert!(Coord::parse(f64::NAN).is_err());
        assert!(Coord::parse(f64::INFINITY).is_err());
    }
}
