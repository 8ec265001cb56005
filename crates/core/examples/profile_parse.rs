//! Runs parse + render in a loop over one sample, for profilers (`perf record`, callgrind).
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "events/alibaba/secret-rotation-failure.json".into());
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let bytes = std::fs::read(&path).unwrap();
    let mut total = 0;
    for _ in 0..n {
        for r in kms_alerts_core::parse(&bytes).unwrap() {
            total +=
                kms_alerts_core::render(&r.result.unwrap(), kms_alerts_core::Format::Text).len();
        }
    }
    println!("{total}");
}
