//! A serde deserializer over JavaScript values, for what the package reads from JS objects:
//! stored records (`idb_records::decode`, every stored event among them) and the app's
//! string lists (`react`'s emojis, `subscribe`'s nodes).
//!
//! It replaces serde-wasm-bindgen's deserializer, which reads an object through one of two
//! map accesses (a JS iterable's pairs, or the object's entries) and a list through one of
//! two sequence accesses (an array, or any iterable), so that every visitor of the read path
//! — the stored event's, its kind's, every derived struct's, every list's — was compiled
//! twice, besides its deserializer's own code (issue 24, package size). Here an iterable is
//! first made an array (`Array.from`), and an object's entries are read as such pairs: one
//! map access, one sequence access.
//!
//! What it takes is serde-wasm-bindgen's as the stored records and the app's lists use it
//! (browser test `tests/wasm/js_de.rs` compares both on every stored type): `null` and
//! `undefined` are `None` and `()`; numbers are integers when they are safe integers (and
//! not negative for an unsigned field); strings, booleans as such; a map or struct is an
//! object's own entries or an iterable of `[key, value]` pairs (a JS `Map`); a list is an
//! array or any iterable object; a unit enum variant is its name. Not taken, as nothing
//! the SDK writes has them: `BigInt` integers (serde-wasm-bindgen took those within range),
//! byte arrays, `char`s, and enum variants with data.

use std::fmt;

use js_sys::{Array, Number, Object};
use serde::de::{self, DeserializeOwned, Visitor};
use wasm_bindgen::{JsCast, JsValue};

/// Why a value could not be read: serde's message.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }

    // serde's own messages, with the value found written by `Found` rather than by
    // `Unexpected`'s `Display`, which alone brought Rust's float printing into the package.
    #[cold]
    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error(format!("invalid type: {}, expected {exp}", Found(unexp)))
    }

    #[cold]
    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error(format!("invalid value: {}, expected {exp}", Found(unexp)))
    }
}

/// serde's words for a value found (`Unexpected`'s `Display`), but a float written by
/// JavaScript (`Number.prototype.toString`, plus serde's `.0` when it has no decimal
/// point): the same text as Rust's float printing for every finite number from 1e-6 to
/// 1e21, which is all the package reads; beyond those JavaScript writes an exponent
/// (`1e+21`), an infinity as `Infinity` (Rust: `inf`) and −0 as `0.0` (Rust: `-0.0`).
/// Rust's float printing (~22 KB raw, 10 KB gzipped with its tables) is left out of the
/// package.
struct Found<'a>(de::Unexpected<'a>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use de::Unexpected::*;
        match self.0 {
            Bool(b) => write!(f, "boolean `{b}`"),
            Unsigned(i) => write!(f, "integer `{i}`"),
            Signed(i) => write!(f, "integer `{i}`"),
            Float(n) => {
                let mut text =
                    String::from(Number::from(n).to_string_with_radix(10).unwrap_or_default());
                if n.is_finite() && !text.contains(['.', 'e']) {
                    text.push_str(".0");
                }
                write!(f, "floating point `{text}`")
            }
            Char(c) => write!(f, "character `{c}`"),
            Str(s) => write!(f, "string {s:?}"),
            Bytes(_) => f.write_str("byte array"),
            Unit => f.write_str("unit value"),
            Option => f.write_str("Option value"),
            NewtypeStruct => f.write_str("newtype struct"),
            Seq => f.write_str("sequence"),
            Map => f.write_str("map"),
            Enum => f.write_str("enum"),
            UnitVariant => f.write_str("unit variant"),
            NewtypeVariant => f.write_str("newtype variant"),
            TupleVariant => f.write_str("tuple variant"),
            StructVariant => f.write_str("struct variant"),
            Other(other) => f.write_str(other),
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// `value` read as a `T`.
pub fn from_value<T: DeserializeOwned>(value: JsValue) -> Result<T> {
    T::deserialize(Js(value))
}

/// One JS value being read.
pub struct Js(JsValue);

impl Js {
    fn nullish(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    /// What serde's error names as the value found.
    #[cold]
    #[inline(never)]
    fn unexpected(&self, expected: &dyn de::Expected) -> Error {
        let s;
        let found = if self.nullish() {
            de::Unexpected::Unit
        } else if let Some(b) = self.0.as_bool() {
            de::Unexpected::Bool(b)
        } else if let Some(n) = self.0.as_f64() {
            de::Unexpected::Float(n)
        } else if let Some(v) = self.0.as_string() {
            s = v;
            de::Unexpected::Str(&s)
        } else {
            de::Unexpected::Other("a JavaScript object")
        };
        de::Error::invalid_type(found, expected)
    }

    /// A safe integer (≥ 0 when `unsigned`).
    fn integer(&self, unsigned: bool) -> Option<i64> {
        let n = self.0.as_f64()?;
        (Number::is_safe_integer(&self.0) && !(unsigned && n < 0.0)).then_some(n as i64)
    }

    /// The items of an array or of any iterable object.
    fn items(&self) -> Option<Array> {
        if let Some(a) = self.0.dyn_ref::<Array>() {
            return Some(a.clone());
        }
        if !self.0.is_object() {
            return None;
        }
        let iterable = js_sys::try_iter(&self.0).ok().flatten().is_some();
        iterable.then(|| Array::from(&self.0))
    }
}

/// A list's items.
struct Items {
    items: Array,
    next: u32,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>> {
        if self.next >= self.items.length() {
            return Ok(None);
        }
        let v = self.items.get(self.next);
        self.next += 1;
        seed.deserialize(Js(v)).map(Some)
    }
}

/// A map's `[key, value]` pairs.
struct Pairs {
    pairs: Items,
    value: JsValue,
}

impl<'de> de::MapAccess<'de> for Pairs {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.pairs.next >= self.pairs.items.length() {
            return Ok(None);
        }
        let pair: Array = self.pairs.items.get(self.pairs.next).unchecked_into();
        self.pairs.next += 1;
        self.value = pair.get(1);
        seed.deserialize(Js(pair.get(0))).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(Js(std::mem::take(&mut self.value)))
    }
}

/// A unit variant by name.
struct Variant(Js);

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let name = seed.deserialize(Js(self.0 .0.clone()))?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, _: T) -> Result<T::Value> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

impl<'de> de::Deserializer<'de> for Js {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.nullish() {
            v.visit_unit()
        } else if let Some(b) = self.0.as_bool() {
            v.visit_bool(b)
        } else if let Some(i) = self.integer(false) {
            v.visit_i64(i)
        } else if let Some(n) = self.0.as_f64() {
            v.visit_f64(n)
        } else if let Some(s) = self.0.as_string() {
            v.visit_string(s)
        } else if Array::is_array(&self.0) {
            self.deserialize_seq(v)
        } else {
            self.deserialize_map(v)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0.as_bool() {
            Some(b) => v.visit_bool(b),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.integer(false) {
            Some(i) => v.visit_i64(i),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.integer(true) {
            Some(i) => v.visit_u64(i as u64),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0.as_f64() {
            Some(n) => v.visit_f64(n),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0.as_string() {
            Some(s) => v.visit_string(s),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_string(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_string(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.nullish() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.nullish() {
            v.visit_unit()
        } else {
            Err(self.unexpected(&v))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.items() {
            Some(items) => v.visit_seq(Items { items, next: 0 }),
            None => Err(self.unexpected(&v)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        // An iterable (a JS `Map`) gives its pairs; a plain object its own entries.
        let pairs = match self.items() {
            Some(items) => items,
            None if self.0.is_object() => Object::entries(self.0.unchecked_ref()),
            None => return Err(self.unexpected(&v)),
        };
        visit_pairs(pairs, v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        // A struct is read from an object's properties (any object: serde-wasm-bindgen
        // asked it for each field by name), never from an iterable's pairs.
        if !self.0.is_object() {
            return Err(self.unexpected(&v));
        }
        visit_pairs(Object::entries(self.0.unchecked_ref()), v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        if self.0.is_string() {
            v.visit_enum(Variant(self))
        } else {
            Err(self.unexpected(&v))
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        Err(self.unexpected(&v))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        Err(self.unexpected(&v))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        Err(self.unexpected(&v))
    }
}

fn visit_pairs<'de, V: Visitor<'de>>(pairs: Array, v: V) -> Result<V::Value> {
    v.visit_map(Pairs {
        pairs: Items {
            items: pairs,
            next: 0,
        },
        value: JsValue::UNDEFINED,
    })
}
