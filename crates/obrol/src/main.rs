//! The `obrol` command: see the library crate.

fn main() -> std::process::ExitCode {
    obrol::main()
}
