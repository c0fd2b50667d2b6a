//! The only place that turns `core::Request` into a browser `fetch`. Bodies that carry file data
//! are `Blob.slice(...)` views: the bytes never enter wasm memory.

use crate::core::{Body, Outcome, Part, Request, Response, Slice};
use gloo_net::http::{Method as GMethod, RequestBuilder};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, FormData};

fn slice(files: &[Blob], s: &Slice, content_type: Option<&str>) -> Result<Blob, String> {
    let blob = files.get(s.file).ok_or_else(|| format!("no input file #{}", s.file))?;
    let r = match content_type {
        Some(ct) => blob.slice_with_f64_and_f64_and_content_type(s.start as f64, s.end as f64, ct),
        None => blob.slice_with_f64_and_f64(s.start as f64, s.end as f64),
    };
    r.map_err(|e| format!("Blob.slice failed: {}", js_message(&e)))
}

fn body_value(files: &[Blob], body: &Body) -> Result<Option<JsValue>, String> {
    Ok(match body {
        Body::Empty => None,
        Body::Slice(s) => Some(slice(files, s, None)?.into()),
        Body::Text { text, .. } => Some(JsValue::from_str(text)),
        Body::Multipart(parts) => {
            let form = FormData::new().map_err(|e| js_message(&e))?;
            for p in parts {
                match p {
                    Part::Field { name, value } => form.append_with_str(name, value),
                    Part::File { name, filename, content_type, slice: s } => {
                        let b = slice(files, s, Some(content_type))?;
                        form.append_with_blob_and_filename(name, &b, filename)
                    }
                }
                .map_err(|e| js_message(&e))?;
            }
            Some(form.into())
        }
    })
}

pub fn js_message(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    v.as_string().unwrap_or_else(|| "unknown error".into())
}

/// Sends one request. Never panics; every failure is an `Outcome::Network`.
pub async fn send(req: &Request, files: &[Blob], signal: &AbortSignal) -> Outcome {
    match send_inner(req, files, signal).await {
        Ok(r) => Outcome::Response(r),
        Err(e) => Outcome::Network(e),
    }
}

async fn send_inner(req: &Request, files: &[Blob], signal: &AbortSignal) -> Result<Response, String> {
    let method = match req.method {
        crate::core::Method::Get => GMethod::GET,
        crate::core::Method::Post => GMethod::POST,
        crate::core::Method::Put => GMethod::PUT,
        crate::core::Method::Patch => GMethod::PATCH,
        crate::core::Method::Delete => GMethod::DELETE,
    };
    let mut b = RequestBuilder::new(&req.url).method(method).abort_signal(Some(signal));
    for (k, v) in &req.headers {
        b = b.header(k, v);
    }
    if let Body::Text { content_type, .. } = &req.body {
        if req.get_header("content-type").is_none() {
            b = b.header("Content-Type", content_type);
        }
    }
    // The default redirect mode: a 308 without Location comes back as is ('manual' would make
    // it an opaque status-0 response).
    let request = match body_value(files, &req.body)? {
        Some(v) => b.body(v),
        None => b.build(),
    }
    .map_err(|e| e.to_string())?;
    let resp = request.send().await.map_err(|e| e.to_string())?;
    let headers = resp.headers().entries().collect();
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    Ok(Response { status, headers, body })
}
