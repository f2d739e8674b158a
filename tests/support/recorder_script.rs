//! The recorder script for the browser suites. The test runner serves no `dist/`, so the
//! suites load rrweb's recorder (the npm file trunk serves as `/sg-record.js`, installed
//! by `cargo xtask test` into `tools/node_modules`), followed by the guard's recorder
//! bridge as in `/sg-record.js`, from a blob URL; the guard loads it through the same
//! `<script>` path as in production.

/// A `blob:` URL of `@rrweb/record`'s browser build and the bridge, made once per page.
pub fn recorder_url() -> String {
    thread_local! {
        static URL: String = {
            // As `tools/copy-rrweb.sh` serves it: rrweb, then the guard's recorder bridge.
            let source = concat!(
                include_str!("../../tools/node_modules/@rrweb/record/dist/record.umd.min.cjs"),
                "\n",
                include_str!("../../src/browser/record-bridge.js"),
            );
            let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(source));
            let options = web_sys::BlobPropertyBag::new();
            options.set_type("text/javascript");
            let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
                .expect("a blob of the recorder");
            web_sys::Url::create_object_url_with_blob(&blob).expect("a blob URL")
        };
    }
    URL.with(Clone::clone)
}
