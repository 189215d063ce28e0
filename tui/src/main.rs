//! `ms-tui`: see the crate documentation of `ms_tui` and `ms-tui --help`.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    anyhow::bail!("ms-tui is not built yet")
}
