//! The only place that turns a `core::Request` into a browser request: [`send`] with gloo-net
//! (`fetch`) for every request that needs no upload progress, [`send_with_progress`] with
//! `XMLHttpRequest` for the bodies that carry file data. Bodies that carry file data are
//! `Blob.slice(...)` views: the bytes never enter wasm memory.

use crate::core::{Body, Method, Outcome, Part, Request, Response, Slice};
use gloo_net::http::{Headers as GlooHeaders, Method as GlooMethod, RequestBuilder};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, FormData, Headers};

fn slice(files: &[Blob], s: &Slice, content_type: Option<&str>) -> Result<Blob, String> {
    let blob = files.get(s.file).ok_or_else(|| format!("no input file #{}", s.file))?;
    // `slice(start, end, "")` is `slice(start, end)` (File API: the type is "" either way): one
    // imported JS function for both.
    blob.slice_with_f64_and_f64_and_content_type(s.start as f64, s.end as f64, content_type.unwrap_or(""))
        .map_err(|e| format!("Blob.slice failed: {}", js_message(&e)))
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

/// Sends one request with gloo-net (`fetch`): session creation, offset queries, commits,
/// callbacks, deletes, the one-request helpers. Never panics; every failure (CORS, connection,
/// abort through `signal`) is an `Outcome::Network` with the error's `String(error)`
/// ("TypeError: Failed to fetch"). The default credentials mode (same-origin) and redirect mode
/// (a 308 without Location comes back as is; 'manual' would make it an opaque status-0 response).
pub async fn send(req: &Request, files: &[Blob], signal: &AbortSignal) -> Outcome {
    match send_inner(req, files, signal).await {
        Ok(r) => Outcome::Response(r),
        Err(e) => Outcome::Network(e),
    }
}

/// What a JS call failed with, as `String(error)` ("TypeError: Failed to fetch").
fn js_text(v: JsValue) -> String {
    match v.dyn_ref::<js_sys::Error>() {
        Some(e) => String::from(e.to_string()),
        None => js_message(&v),
    }
}

fn gloo_method(m: Method) -> GlooMethod {
    match m {
        Method::Get => GlooMethod::GET,
        Method::Post => GlooMethod::POST,
        Method::Put => GlooMethod::PUT,
        Method::Patch => GlooMethod::PATCH,
        Method::Delete => GlooMethod::DELETE,
    }
}

/// The request's headers, plus `Content-Type` for a text body that does not set one. Built on
/// `web_sys::Headers` (whose errors are values) rather than gloo's `Headers::append`, which
/// throws on a header value the browser refuses.
fn request_headers(req: &Request) -> Result<Headers, String> {
    let headers = Headers::new().map_err(js_text)?;
    for (k, v) in &req.headers {
        headers.append(k, v).map_err(js_text)?;
    }
    if let Body::Text { content_type, .. } = &req.body {
        if req.get_header("content-type").is_none() {
            headers.append("Content-Type", content_type).map_err(js_text)?;
        }
    }
    Ok(headers)
}

async fn send_inner(req: &Request, files: &[Blob], signal: &AbortSignal) -> Result<Response, String> {
    let builder = RequestBuilder::new(&req.url)
        .method(gloo_method(req.method))
        .headers(GlooHeaders::from_raw(request_headers(req)?))
        .abort_signal(Some(signal));
    let request = match body_value(files, &req.body)? {
        Some(body) => builder.body(body),
        None => builder.build(),
    }
    .map_err(|e| e.to_string())?;
    // Rejections (network errors, the signal's abort) are `Error`s (our controllers abort with
    // no reason: an AbortError DOMException), which gloo-net keeps as `String(error)`.
    let resp = request.send().await.map_err(|e| e.to_string())?;
    // Names lower-cased; only the CORS-exposed ones are readable.
    let headers = resp.headers().entries().collect();
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    Ok(Response { status, headers, body })
}

/// Sends a request that carries file data with `XMLHttpRequest`, whose `upload.onprogress`
/// reports bytes sent inside one request (fetch cannot): the one request kind that does not go
/// through gloo-net, because the progress bar and the stall watchdog need those upload
/// progress events while a chunk body is on the wire. Same semantics as [`send`]: a 308
/// without `Location` comes back as is; only CORS-exposed headers are readable.
/// `on_progress` is called from the upload progress event with the bytes sent so far, and with
/// -1 on download progress (activity without a byte count).
pub async fn send_with_progress(req: &Request, files: &[Blob], signal: &AbortSignal, on_progress: Box<dyn Fn(f64)>) -> Outcome {
    match xhr_inner(req, files, signal, on_progress).await {
        Ok(r) => Outcome::Response(r),
        Err(e) => Outcome::Network(e),
    }
}

async fn xhr_inner(req: &Request, files: &[Blob], signal: &AbortSignal, on_progress: Box<dyn Fn(f64)>) -> Result<Response, String> {
    use wasm_bindgen::closure::Closure;
    use web_sys::{ProgressEvent, XmlHttpRequest};
    if signal.aborted() {
        return Err("aborted".into());
    }
    let xhr = XmlHttpRequest::new().map_err(|e| js_message(&e))?;
    xhr.open_with_async(req.method.as_str(), &req.url, true).map_err(|e| js_message(&e))?;
    for (k, v) in &req.headers {
        xhr.set_request_header(k, v).map_err(|e| js_message(&e))?;
    }
    if let Body::Text { content_type, .. } = &req.body {
        if req.get_header("content-type").is_none() {
            xhr.set_request_header("Content-Type", content_type).map_err(|e| js_message(&e))?;
        }
    }
    let body = body_value(files, &req.body)?;
    let on_progress = std::rc::Rc::new(on_progress);
    let on_upload = on_progress.clone();
    // Listeners through `EventTarget.addEventListener` (imported anyway) rather than the `on…`
    // setters: the same events, fewer imported JS functions.
    // Closure types the module has anyway (`FnMut(JsValue)` as wasm-bindgen-futures uses,
    // `FnMut()`): no glue of their own.
    let on_prog = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| on_upload(e.unchecked_ref::<ProgressEvent>().loaded()));
    let upload = xhr.upload().ok();
    if let Some(upload) = &upload {
        let _ = upload.add_event_listener_with_callback("progress", on_prog.as_ref().unchecked_ref());
    }
    // Download progress counts as activity for the stall watchdog (reported as -1).
    let on_down = Closure::<dyn FnMut()>::new(move || on_progress(-1.0));
    let _ = xhr.add_event_listener_with_callback("progress", on_down.as_ref().unchecked_ref());
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        let _ = xhr.add_event_listener_with_callback("load", &resolve);
        for ev in ["error", "timeout", "abort"] {
            let _ = xhr.add_event_listener_with_callback(ev, &reject);
        }
    });
    let x2 = xhr.clone();
    let on_abort = Closure::<dyn FnMut()>::new(move || {
        let _ = x2.abort();
    });
    let _ = signal.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
    let sent = match &body {
        None => xhr.send(),
        Some(v) => {
            if let Some(b) = v.dyn_ref::<Blob>() {
                xhr.send_with_opt_blob(Some(b))
            } else if let Some(f) = v.dyn_ref::<FormData>() {
                xhr.send_with_opt_form_data(Some(f))
            } else {
                xhr.send_with_opt_str(v.as_string().as_deref())
            }
        }
    };
    let outcome = match sent {
        Ok(()) => wasm_bindgen_futures::JsFuture::from(done).await.map_err(|_| ()),
        Err(e) => {
            let _ = signal.remove_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
            return Err(js_message(&e));
        }
    };
    let _ = signal.remove_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
    if let Some(upload) = &upload {
        let _ = upload.remove_event_listener_with_callback("progress", on_prog.as_ref().unchecked_ref());
    }
    let _ = xhr.remove_event_listener_with_callback("progress", on_down.as_ref().unchecked_ref());
    drop(on_prog);
    drop(on_down);
    if outcome.is_err() {
        return Err(if signal.aborted() { "aborted".into() } else { "network error".into() });
    }
    let status = xhr.status().map_err(|e| js_message(&e))?;
    if status == 0 {
        return Err("network error (status 0)".into());
    }
    let raw = xhr.get_all_response_headers().unwrap_or_default();
    let headers = raw
        .split(['\r', '\n'])
        .filter_map(|line| line.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    Ok(Response { status, headers, body })
}
