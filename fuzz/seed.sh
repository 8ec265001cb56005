#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ for cargo-fuzz: every sample of events/ for the targets that
# read bodies, and the committed seeds and regression inputs of fuzz/seeds/<target>/ (the
# http_head target reads request heads, so it takes only its own seeds). The corpus grows
# as the fuzzer runs; fuzz/corpus/ is not committed. The test suite reads the same files
# (crates/fuzz-targets/tests/corpus.rs).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
events="$fuzz/../events"
for target in stream_splitter whole_input fast_reader form_callback s3_notices http_head; do
  corpus="$fuzz/corpus/$target"
  mkdir -p "$corpus"
  if [ "$target" != http_head ]; then
    for f in "$events"/*/*; do
      cp "$f" "$corpus/event-$(basename "$(dirname "$f")")-$(basename "$f")"
    done
  fi
  if [ -d "$fuzz/seeds/$target" ]; then
    find "$fuzz/seeds/$target" -type f -exec cp {} "$corpus/" \;
  fi
  echo "$target: $(find "$corpus" -type f | wc -l) inputs in fuzz/corpus/$target"
done
