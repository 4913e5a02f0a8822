#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the server-written fixtures in testdata/
# (plus any files or directories given as arguments, e.g. ../shared/corpus).
# The corpus is generated, not committed (fuzz/corpus is in .gitignore).
#
#   bash fuzz/seed.sh [MORE_INPUTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --manifest-path fuzz/Cargo.toml --example seed_corpus -- \
    fuzz/corpus testdata/rdb testdata/aof "$@"
