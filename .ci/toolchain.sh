# Sourced by .ci/run and .ci/test. rust-toolchain.toml pins the Rust version; rustup
# installs it on first use unless auto-install is off (RUSTUP_AUTO_INSTALL=0), so
# install it here when it is missing. Where it cannot be fetched (CI's machines reach
# only the package registries, not the Rust release servers), use the installed stable
# instead: the workspace's `rust-version` still refuses one that is too old, clearly.
pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$pinned-"; then
  if curl -fsI --max-time 5 "https://static.rust-lang.org/dist/channel-rust-$pinned.toml.sha256" > /dev/null 2>&1; then
    echo "== rustup toolchain install $pinned (rust-toolchain.toml)"
    rustup toolchain install "$pinned" --profile minimal --component clippy,rustfmt
  else
    export RUSTUP_TOOLCHAIN=stable
    echo "== toolchain: $pinned is not installed and cannot be fetched; using $(rustc --version)"
  fi
fi
