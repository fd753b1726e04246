fn main() {
    // Debug builds carry the element information Slint's testing backend
    // needs to find widgets by their accessible labels (app/tests/widgets.rs);
    // release builds, the appliance's, do without.
    let debug = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    let config = slint_build::CompilerConfiguration::new().with_debug_info(debug);
    slint_build::compile_with_config("ui/kiosk.slint", config)
        .expect("the kiosk's .slint files compile");
}
