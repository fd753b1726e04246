fn main() {
    // Debug builds carry the element information Slint's testing backend
    // needs to find widgets by their accessible labels (app/tests/widgets.rs);
    // release builds, the appliance's, do without.
    let debug = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    // The screens are written in Vietnamese; other languages come from
    // translations/<lang>/LC_MESSAGES/kiosk-ui.po, bundled into the binary.
    // One message id per wording, with no per-component context, so the
    // texts Rust builds share the catalogue (src/i18n.rs).
    let config = slint_build::CompilerConfiguration::new()
        .with_debug_info(debug)
        .with_bundled_translations("translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    println!("cargo:rerun-if-changed=translations");
    slint_build::compile_with_config("ui/kiosk.slint", config)
        .expect("the kiosk's .slint files compile");
}
