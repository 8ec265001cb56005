//! Parse + normalize + render throughput over the sample events.
//! `cargo bench -p kms-alerts-core --bench pipeline`; figures are events per second per core.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kms_alerts_core::{parse, parse_piece, render, render_to, Format, Options, Pieces};

fn samples() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    for cloud in ["aws", "alibaba"] {
        for entry in std::fs::read_dir(root.join(cloud)).unwrap() {
            let path = entry.unwrap().path();
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn pipeline(input: &[u8], format: Format) -> usize {
    let mut n = 0;
    for record in parse(input).unwrap() {
        let alert = record.result.unwrap();
        n += render(&alert, format).len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let all = samples();
    let mut g = c.benchmark_group("pipeline");
    let events: usize = all.iter().map(|(_, b)| parse(b).unwrap().len()).sum();
    let bytes: usize = all.iter().map(|(_, b)| b.len()).sum();
    g.throughput(Throughput::Elements(events as u64));
    for (name, format) in [
        ("all-samples/text", Format::Text),
        ("all-samples/markdown", Format::Markdown),
        ("all-samples/json", Format::Json),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                all.iter()
                    .map(|(_, s)| pipeline(black_box(s), format))
                    .sum::<usize>()
            })
        });
    }
    eprintln!(
        "{events} events, {bytes} bytes, {} bytes/event on average",
        bytes / events
    );

    // A typical ~1 KB event: the documented secret rotation failure.
    let one_kb = &all
        .iter()
        .find(|(n, _)| n == "secret-rotation-failure.json")
        .unwrap()
        .1;
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("1kb-event/{}B/text", one_kb.len()), |b| {
        b.iter(|| pipeline(black_box(one_kb), Format::Text))
    });
    g.bench_function(format!("1kb-event/{}B/parse-only", one_kb.len()), |b| {
        b.iter(|| parse(black_box(one_kb)).unwrap().len())
    });
    g.finish();

    // The CLI's per-core path over a streamed JSON array (what `kms-alerts render` does on
    // each worker thread): split into pieces, parse, normalize, render text. Reported per event
    // and per byte.
    let mut g = c.benchmark_group("stream");
    for name in ["kms-cmk-deletion.json", "secret-rotation-failure.json"] {
        let event = &all.iter().find(|(n, _)| n == name).unwrap().1;
        let one: serde_json::Value = serde_json::from_slice(event).unwrap();
        let n = 2000;
        let array = format!("[{}]", vec![one.to_string(); n].join(",\n"));
        for (unit, throughput) in [
            ("events", Throughput::Elements(n as u64)),
            ("bytes", Throughput::Bytes(array.len() as u64)),
        ] {
            g.throughput(throughput);
            g.bench_function(format!("{name}/x{n}/{unit}"), |b| {
                b.iter(|| stream_text(black_box(array.as_bytes())))
            });
        }
    }
    g.finish();
}

fn stream_text(input: &[u8]) -> usize {
    // As the CLI renders text: only what text shows is built, into one reused buffer.
    let options = Options {
        display_only: true,
        ..Options::default()
    };
    let mut out = String::new();
    let mut n = 0;
    for piece in Pieces::new(input, "bench") {
        let parsed = parse_piece(&piece.unwrap(), "bench", options).unwrap();
        for record in parsed.records {
            out.clear();
            render_to(&record.result.unwrap(), Format::Text, &mut out);
            n += out.len();
        }
    }
    n
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
