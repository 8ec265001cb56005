//! Plain text for email and SMS, and the SNS subject line.

use std::borrow::Cow;

use super::context_facts;
use super::escape::{neutralize_cow, VALUE_MAX};
use crate::alert::Alert;

/// SNS allows at most 100 printable ASCII characters in a subject.
pub const SUBJECT_MAX: usize = 100;

/// `[CRITICAL] Secret rotation failed: name`, made inert like every other channel (the subject
/// is also the SMS text and the email subject: no links, no mentions, no markup), then safe
/// for SNS: printable ASCII only (other characters become `?`), one line, at most 100
/// characters, never empty.
pub fn subject(alert: &Alert) -> String {
    let full = format!(
        "[{}] {}",
        alert.severity.upper(),
        neutralize_cow(&alert.title, 200)
    );
    let mut out = String::with_capacity(SUBJECT_MAX);
    let mut last_space = true;
    for c in full.chars() {
        let c = match c {
            ' '..='~' => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    if out.len() > SUBJECT_MAX {
        out.truncate(SUBJECT_MAX - 3);
        out.truncate(out.trim_end().len());
        out.push_str("...");
    }
    if out.is_empty() {
        out.push_str("KMS alert");
    }
    out
}

/// The alert as plain text: headline, summary, aligned facts, console link.
pub fn text(alert: &Alert) -> String {
    let mut out = String::with_capacity(1024);
    text_to(alert, &mut out);
    out
}

/// [`text`], appended to `out`.
pub(super) fn text_to(alert: &Alert, out: &mut String) {
    out.push('[');
    out.push_str(alert.severity.upper());
    out.push_str("] ");
    out.push_str(&neutralize_cow(&alert.title, 200));
    out.push_str("\n\n");
    out.push_str(&neutralize_cow(&alert.summary, 2 * VALUE_MAX));
    out.push_str("\n\n");
    let context = context_facts(alert);
    // Each label with its width in characters, counted once.
    let labels: Vec<(Cow<'_, str>, usize)> = alert
        .facts
        .iter()
        .map(|f| {
            let label = neutralize_cow(&f.label, 64);
            let width = label.chars().count();
            (label, width)
        })
        .collect();
    let width = labels
        .iter()
        .map(|(_, w)| *w)
        .chain(context.iter().map(|(l, _)| l.len()))
        .max()
        .unwrap_or(0)
        + 1;
    let rows = labels
        .iter()
        .map(|(l, w)| (l.as_ref(), *w))
        .zip(alert.facts.iter().map(|f| f.value.as_str()))
        .chain(context.iter().map(|(l, v)| ((*l, l.len()), *v)));
    for ((label, label_width), value) in rows {
        out.push_str(label);
        out.push(':');
        pad(out, width - label_width + 1);
        out.push_str(&neutralize_cow(value, VALUE_MAX));
        out.push('\n');
    }
    if let Some(url) = &alert.console_url {
        out.push_str("\nOpen in console: ");
        out.push_str(url);
        out.push('\n');
    }
}

/// Appends `n` spaces.
fn pad(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = n;
    while left > 0 {
        let step = left.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        left -= step;
    }
}
