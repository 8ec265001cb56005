#!/usr/bin/env bash
# Whole-process comparison, side by side on the same files: `kms-alerts render --format text`
# (built as README builds it, `--release`) against ../shared/bench/py_baseline.py (what a
# typical Python notifier does per event), on the 100,000-event corpus from
# ../shared/bench/make-corpus, and kms-alerts alone on a large CloudTrail log file, plain and
# gzipped. Prints wall time, events/s, MB/s and peak RSS, and the ratios. Each program runs RUNS
# times (default 5) and the median run counts, for both alike: these machines are noisy.
# Needs GNU time (/usr/bin/time) and python3.
#   [RUNS=5] bench/compare.sh [SHARED_DIR] [CLOUDTRAIL_RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-../shared}"
records="${2:-1000000}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cargo build --quiet --release --bin kms-alerts
bin=target/release/kms-alerts
"$shared/bench/make-corpus" "$dir" >/dev/null

# The median of $RUNS runs: prints "seconds peak_KiB" (the peak is the largest seen).
measure() {
  local times=() peak=0
  for _ in $(seq "${RUNS:-5}"); do
    /usr/bin/time -f "%e %M" -o "$dir/time" "$@" >/dev/null 2>"$dir/stderr" || {
      cat "$dir/stderr" >&2
      return 1
    }
    read -r s k <"$dir/time"
    times+=("$s")
    [ "$k" -gt "$peak" ] && peak=$k
  done
  echo "$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (${#times[@]} + 1) / 2 ))p") $peak"
}

printf '%-34s %9s %12s %9s %10s\n' input "wall s" "events/s" "MB/s" "peak MiB"
for name in aws ali; do
  file="$dir/$name-100k.json"
  mb=$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$file")
  read -r rs rk < <(measure "$bin" render --format text "$file")
  read -r ps pk < <(measure python3 "$shared/bench/py_baseline.py" "$file")
  python3 - "$name" "$mb" "$rs" "$rk" "$ps" "$pk" <<'PY'
import sys
name, mb, rs, rk, ps, pk = sys.argv[1], float(sys.argv[2]), *map(float, sys.argv[3:])
rs, ps = max(rs, 0.01), max(ps, 0.01)
for who, s, k in (("kms-alerts", rs, rk), ("py_baseline.py", ps, pk)):
    print(f"{name + '-100k ' + who:<34} {s:9.2f} {100000 / s:12,.0f} {mb / s:9.1f} {k / 1024:10.1f}")
print(f"{name + '-100k ratio (Python / Rust)':<34} {ps / rs:9.1f}x {'':12} {'':9} {pk / rk:9.1f}x")
PY
done

# A CloudTrail log file of $records records, most of them routine reads and other services.
python3 - "$dir/trail.json" "$records" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
base = {"eventVersion": "1.08", "userIdentity": {"type": "AssumedRole", "accountId": "111122223333"},
        "eventTime": "2025-01-01T00:00:00Z", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-sdk", "requestID": "r", "eventID": "e", "readOnly": True,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "111122223333"}
calls = [("kms.amazonaws.com", "Decrypt"), ("s3.amazonaws.com", "GetObject"),
         ("kms.amazonaws.com", "GenerateDataKey"), ("kms.amazonaws.com", "DisableKey")]
with open(path, "w") as f:
    f.write('{"Records":[')
    for i in range(n):
        src, name = calls[i % len(calls)]
        r = dict(base, eventSource=src, eventName=name, eventID=f"e-{i}", readOnly=name != "DisableKey",
                 requestParameters={"keyId": f"arn:aws:kms:us-east-1:111122223333:key/{i:08d}-aaaa-bbbb-cccc-dddddddddddd"})
        f.write(("," if i else "") + json.dumps(r))
    f.write("]}\n")
PY
gzip -k -1 "$dir/trail.json"
for file in "$dir/trail.json" "$dir/trail.json.gz"; do
  mb=$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$file")
  read -r s k < <(measure "$bin" render --format text "$file")
  python3 -c "import sys; mb, s, k, n = map(float, sys.argv[1:5]); s = max(s, 0.01); print(f\"{'cloudtrail ' + sys.argv[5] + ' (' + str(round(mb)) + ' MB)':<34} {s:9.2f} {n / s:12,.0f} {mb / s:9.1f} {k / 1024:10.1f}\")" "$mb" "$s" "$k" "$records" "$(basename "$file")"
done
