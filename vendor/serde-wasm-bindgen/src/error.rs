use wasm_bindgen::prelude::*;

/// A newtype that represents Serde errors as JavaScript exceptions.
#[derive(Debug)]
pub struct Error(JsValue);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        #[wasm_bindgen]
        extern "C" {
            #[wasm_bindgen(js_name = String)]
            pub fn to_string(value: &JsValue) -> String;
        }

        to_string(&self.0).fmt(f)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Creates a JavaScript `Error` with a given message.
    ///
    /// chunkup patch (vendor/README.md): the message is not formatted. Formatting it links every
    /// visitor's `expecting` text and `Display` code into the module, and chunkup never shows these
    /// messages (`core::codec` maps every failure to its own error); the JS `Error` says so.
    pub fn new<T: std::fmt::Display>(msg: T) -> Self {
        let _ = msg;
        Error(JsError::new("serde-wasm-bindgen: the value does not fit the type (details left out)").into())
    }
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }

    // chunkup patch (vendor/README.md): serde's default bodies format the value that did not fit
    // (`Unexpected`), which links float formatting (`<f64 as Display>`, ~10 KiB gzip) into every
    // module that decodes anything. Nothing is formatted (see `Error::new`).
    fn invalid_type(_unexp: serde::de::Unexpected, _exp: &dyn serde::de::Expected) -> Self {
        Error::new("")
    }

    fn invalid_value(_unexp: serde::de::Unexpected, _exp: &dyn serde::de::Expected) -> Self {
        Error::new("")
    }
}

/// This conversion is needed for `?` to just work when using wasm-bindgen
/// imports that return JavaScript exceptions as `Result<T, JsValue>`.
impl From<JsValue> for Error {
    fn from(error: JsValue) -> Error {
        Error(error)
    }
}

// This conversion is needed for `?` to just work in wasm-bindgen exports
// that return `Result<T, JsValue>` to throw JavaScript exceptions.
impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        error.0
    }
}
