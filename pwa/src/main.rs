//! The Hearth app's entry point: mounts the Dioxus UI on `#main`.

fn main() {
    hearth_pwa::launch();
}
