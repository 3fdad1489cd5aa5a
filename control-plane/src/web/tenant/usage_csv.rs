//! The usage export (`/t/{slug}/usage.csv?range=`): the same [`TenantStats`] the dashboard shows,
//! one line per total, hour bucket, member, caller token, route class, repository and identity.

use crate::tenants::stats::TenantStats;
use std::fmt::Write as _;

/// The header line.
pub const HEADER: &str = "section,key,requests,from_cache,upstream_calls,units";

/// One CSV field: quoted when it holds a comma, quote or line break, and a leading `=`, `+`, `-`
/// or `@` defused so a spreadsheet does not read a name as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn line(out: &mut String, section: &str, key: &str, values: [Option<i64>; 4]) {
    let _ = write!(out, "{section},{}", field(key));
    for v in values {
        out.push(',');
        if let Some(v) = v {
            let _ = write!(out, "{v}");
        }
    }
    out.push_str("\r\n");
}

/// The CSV of `s`.
pub fn render(s: &TenantStats) -> String {
    let mut out = format!("{HEADER}\r\n");
    line(
        &mut out,
        "total",
        s.range.as_str(),
        [
            Some(s.requests),
            Some(s.from_cache),
            Some(s.upstream_calls),
            Some(s.units),
        ],
    );
    let statuses = [
        ("HIT", s.by_status.hit),
        ("REVALIDATED", s.by_status.revalidated),
        ("MISS", s.by_status.miss),
        ("STALE", s.by_status.stale),
        ("BYPASS", s.by_status.bypass),
        ("errors", s.errors),
    ];
    for (name, n) in statuses {
        line(&mut out, "status", name, [Some(n), None, None, None]);
    }
    for b in &s.series {
        let start = b
            .start
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line(
            &mut out,
            "bucket",
            &start,
            [
                Some(b.requests.total()),
                Some(b.requests.from_cache()),
                Some(b.upstream_calls),
                Some(b.units),
            ],
        );
    }
    for m in &s.members {
        line(
            &mut out,
            "member",
            &m.login,
            [Some(m.requests), Some(m.from_cache), None, None],
        );
    }
    for t in &s.caller_tokens {
        line(
            &mut out,
            "caller_token",
            &format!("{} ({})", t.name, t.prefix),
            [Some(t.requests), Some(t.from_cache), None, None],
        );
    }
    for r in &s.routes {
        line(
            &mut out,
            "route",
            &r.route_class,
            [Some(r.requests), Some(r.from_cache), None, None],
        );
    }
    for r in &s.repositories {
        line(
            &mut out,
            "repository",
            &r.repository,
            [Some(r.requests), None, None, None],
        );
    }
    for i in &s.identities {
        line(
            &mut out,
            "identity",
            &i.name,
            [None, None, Some(i.calls), Some(i.units)],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("laptop"), "laptop");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=cmd()"), "'=cmd()");
    }
}
