//! `core::codec` in the browser: the wasm build decodes with the engine's own `JSON.parse` and
//! serde-wasm-bindgen and encodes with `JSON.stringify`; the native tests (tests/native/core.rs)
//! cover serde_json's side. Same texts, same values, in every engine.
#![cfg(target_arch = "wasm32")]

use chunkup::core::codec::{decode, encode, from_json, to_json, DecodeError};
use chunkup::core::json::{number, object};
use chunkup::core::Json;
use serde::{Deserialize, Serialize};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    part_number: u64,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    sizes: Vec<u32>,
}

#[wasm_bindgen_test]
fn typed_answers_decode_through_json_parse() {
    let p: Part = decode(r#"{"partNumber":3,"etag":"\"e3\"","extra":{"x":[1,2]}}"#).unwrap();
    assert_eq!(p, Part { part_number: 3, etag: Some("\"e3\"".into()), sizes: vec![] }, "unknown fields ignored");
    assert_eq!(decode::<Part>(r#"{"partNumber":9007199254740991}"#).unwrap().part_number, 9_007_199_254_740_991);
    assert_eq!(decode::<Part>(r#"{"partNumber":"3"}"#), Err(DecodeError::Shape), "a string where a number belongs");
    assert_eq!(decode::<Part>(r#"{"partNumber":1.5}"#), Err(DecodeError::Shape), "a fraction where an integer belongs");
    assert_eq!(decode::<Part>(r#"{"partNumber":-1}"#), Err(DecodeError::Shape));
    assert_eq!(decode::<Part>(r#"{"etag":"x"}"#), Err(DecodeError::Shape), "a required field missing");
    assert_eq!(decode::<Part>(r#"{"partNumber":1,"sizes":[1,null]}"#), Err(DecodeError::Shape));
    for bad in ["", "{", "[1,]", "{a:1}", "'a'", "NaN", "<Error/>", "\u{feff}{}x"] {
        assert_eq!(decode::<Json>(bad), Err(DecodeError::Syntax), "{bad:?}");
    }
    // JSON.parse takes any depth; decoding it recursively could exhaust the wasm stack (a trap
    // that kills the module): refused past 128 levels, as serde_json does natively.
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(decode::<Json>(&deep), Err(DecodeError::Syntax));
    let ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    assert!(decode::<Json>(&ok).is_ok());
    assert!(decode::<Json>(r#"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#).is_ok(), "brackets inside strings do not count");
}

#[wasm_bindgen_test]
fn values_encode_as_json_stringify_writes_them() {
    let v = object(vec![
        ("s", Some("a\"b\n\u{1}é".into())),
        ("n", Some(number(1_700_000_000_123.0))),
        ("f", Some(0.5.into())),
        ("nan", Some(number(f64::NAN))),
        ("u", Some(12u64.into())),
    ]);
    assert_eq!(encode(&v), r#"{"s":"a\"b\n\u0001é","n":1700000000123,"f":0.5,"nan":null,"u":12}"#);
    let p = Part { part_number: 2, etag: None, sizes: vec![1, 2] };
    assert_eq!(encode(&p), r#"{"partNumber":2,"etag":null,"sizes":[1,2]}"#);
    assert_eq!(from_json::<Part>(&to_json(&p)), Ok(p), "typed -> open-ended -> typed");
    assert_eq!(decode::<Json>(&encode(&v)).unwrap(), v, "round trip");
}

/// Open-ended values (`core::json::Json`, the crate's own type) read from `JSON.parse` keep
/// every key in its order, every kind of number and nesting, and write back the same text.
#[wasm_bindgen_test]
fn open_ended_values_keep_order_numbers_and_nesting() {
    let text = r#"{"z":1,"a":[true,false,null,"x",{"k":[]}],"neg":-42,"big":9007199254740991,"f":-0.25,"e":1e+300,"o":{"b":{},"a":""}}"#;
    let v: Json = decode(text).unwrap();
    assert_eq!(encode(&v), text);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["z", "a", "neg", "big", "f", "e", "o"]);
    assert_eq!(v["neg"].as_i64(), Some(-42));
    assert_eq!(v["neg"].as_u64(), None);
    assert_eq!(v["big"].as_u64(), Some(9_007_199_254_740_991));
    assert_eq!(v["f"].as_f64(), Some(-0.25));
    assert_eq!(v["a"][4]["k"], Json::Array(vec![]));
    assert_eq!(v["missing"], Json::Null);
    // A key given twice: its first place, its last value (as JSON.parse keeps it).
    let d: Json = decode(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(encode(&d), r#"{"a":3,"b":2}"#);
    // Objects compare as objects: the same fields in any order.
    assert_eq!(decode::<Json>(r#"{"a":1,"b":[2]}"#), decode::<Json>(r#"{"b":[2],"a":1}"#));
    assert_ne!(decode::<Json>(r#"{"a":1}"#), decode::<Json>(r#"{"a":1,"b":null}"#));
    // Numbers past JS's safe integers still encode (as floats: serde-wasm-bindgen refuses a
    // larger integer, and a refused value would make the whole text "null").
    let big = object(vec![("t", Some(number(9_007_199_254_740_992.0))), ("u", Some(number(-1e300))), ("s", Some(number(9_007_199_254_740_991.0)))]);
    assert_eq!(encode(&big), r#"{"t":9007199254740992,"u":-1e+300,"s":9007199254740991}"#);
}

/// The vendored serde-wasm-bindgen (vendor/README.md) drops the field-name cache and formats no
/// error: every decode converts the names afresh and must read the same values as upstream, and a
/// value that does not fit still fails (with the fixed text, which shows the patch is in).
#[wasm_bindgen_test]
fn the_patched_serde_wasm_bindgen_decodes_as_upstream() {
    use wasm_bindgen::JsValue;
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum Kind {
        Plain,
        Sized(u64),
        Named { part_number: u32 },
    }
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Opts {
        chunk_size: Option<u64>,
        offset: i64,
        kind: Kind,
        #[serde(default)]
        note: Option<String>,
    }
    let js = |text: &str| js_sys::JSON::parse(text).unwrap();
    let from = |v: JsValue| serde_wasm_bindgen::from_value::<Opts>(v);
    // Field names every time (the cache used to serve the second and later decodes).
    for i in 0..3u64 {
        let o = from(js(&format!(r#"{{"chunkSize":{i},"offset":-{i},"kind":"plain","note":"n{i}"}}"#))).unwrap();
        assert_eq!(o, Opts { chunk_size: Some(i), offset: -(i as i64), kind: Kind::Plain, note: Some(format!("n{i}")) });
    }
    let o = from(js(r#"{"chunkSize":null,"offset":0,"kind":{"sized":9007199254740991}}"#)).unwrap();
    assert_eq!((o.chunk_size, o.kind, o.note), (None, Kind::Sized(9_007_199_254_740_991), None), "null, a newtype variant, a missing option");
    let o = from(js(r#"{"offset":1,"kind":{"named":{"part_number":7}}}"#)).unwrap();
    assert_eq!(o.kind, Kind::Named { part_number: 7 }, "a struct variant (its fields keep their names: rename_all renames the variants)");
    // A BigInt reads as u64/i64 past 2^53.
    let obj = js(r#"{"offset":0,"kind":"plain"}"#);
    js_sys::Reflect::set(&obj, &"chunkSize".into(), &JsValue::bigint_from_str("18446744073709551615")).unwrap();
    js_sys::Reflect::set(&obj, &"offset".into(), &JsValue::bigint_from_str("-9223372036854775808")).unwrap();
    let o = from(obj).unwrap();
    assert_eq!((o.chunk_size, o.offset), (Some(u64::MAX), i64::MIN));
    // What does not fit still fails.
    for bad in [r#"{"offset":1.5,"kind":"plain"}"#, r#"{"offset":1,"kind":"other"}"#, r#"{"offset":"1","kind":"plain"}"#, r#"{"kind":"plain"}"#, r#"{"offset":1,"kind":"plain","chunkSize":-1}"#] {
        let e = from(js(bad)).expect_err(bad);
        assert_eq!(e.to_string(), "Error: serde-wasm-bindgen: the value does not fit the type (details left out)", "{bad}");
    }
}
