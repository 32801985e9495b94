//! The one form of HTTP `Range` that audio and video players send (RFC 9110 §14), for voice
//! messages served by this node: a single byte range, or the whole body when the header asks
//! for anything else.

pub(crate) enum RangeProblem {
    /// A form this server does not serve (several ranges, another unit): the whole body.
    Ignored,
    /// A range wholly past the end.
    Unsatisfiable,
}

/// The inclusive byte range a `Range` header asks of a body of `total` bytes, for the one
/// form players use: `bytes=first-`, `bytes=first-last` or `bytes=-suffix`.
pub(crate) fn byte_range(
    header: &str,
    total: u64,
) -> std::result::Result<(u64, u64), RangeProblem> {
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .filter(|spec| !spec.contains(','))
        .ok_or(RangeProblem::Ignored)?;
    let (first, last) = spec.split_once('-').ok_or(RangeProblem::Ignored)?;
    let number = |text: &str| {
        text.trim()
            .parse::<u64>()
            .map_err(|_| RangeProblem::Ignored)
    };
    let (first, last) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let suffix = number(last)?;
            if suffix == 0 {
                return Err(RangeProblem::Unsatisfiable);
            }
            (total.saturating_sub(suffix), total.saturating_sub(1))
        }
        (false, true) => (number(first)?, total.saturating_sub(1)),
        (false, false) => (number(first)?, number(last)?.min(total.saturating_sub(1))),
        (true, true) => return Err(RangeProblem::Ignored),
    };
    if total == 0 || first >= total {
        return Err(RangeProblem::Unsatisfiable);
    }
    if first > last {
        return Err(RangeProblem::Ignored);
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_in_the_forms_players_send() {
        let range = |header| byte_range(header, 1000).ok();
        assert_eq!(range("bytes=0-"), Some((0, 999)));
        assert_eq!(range("bytes=100-199"), Some((100, 199)));
        assert_eq!(range("bytes=900-5000"), Some((900, 999)));
        assert_eq!(range("bytes=-100"), Some((900, 999)));
        assert_eq!(range("bytes=-5000"), Some((0, 999)));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
        ] {
            assert!(
                matches!(byte_range(ignored, 1000), Err(RangeProblem::Ignored)),
                "{ignored}"
            );
        }
        for past in ["bytes=1000-", "bytes=-0"] {
            assert!(
                matches!(byte_range(past, 1000), Err(RangeProblem::Unsatisfiable)),
                "{past}"
            );
        }
    }
}
