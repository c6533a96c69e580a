//! The `SigningCertURL` rules, where signing certificates come from, and the parsed-key cache.
//!
//! SNS names the certificate that signed a message by URL, inside the message itself: an
//! attacker controls that URL. Only certificates served by Amazon SNS may be trusted, so the
//! URL must pass the rules of AWS's own validators (aws-php-sns-message-validator
//! `validateUrl`, aws-js-sns-message-validator `validateUrl`) before anything is looked up, and
//! this library is stricter where they are loose (each rule has a test below):
//!
//! - scheme `https` (a downgrade to `http` lets anyone on the path swap the certificate);
//! - no userinfo (`https://sns.us-east-1.amazonaws.com@evil.com/…` is a request to evil.com);
//! - no explicit port (the JS validator tests the host *with* the port; PHP without);
//! - host exactly `sns.<region>.amazonaws.com`, or `sns.<region>.amazonaws.com.cn` for a `cn-`
//!   region, compared on the parsed host, so `….amazonaws.com.evil.com` and `…evilamazonaws.com`
//!   fail. The validators' pattern `^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$` also
//!   matches S3: a bucket named `sns` is served at `sns.s3.amazonaws.com` and
//!   `sns.s3-ap-southeast-2.amazonaws.com`, where anyone can put a `.pem`. Here `<region>` must
//!   be a region name ([`is_region`]: `us-east-1`, `us-gov-west-1`, `cn-north-1`, …), which no S3
//!   endpoint label (`s3`, `s3-<region>`, `s3-external-1`, `s3-website-…`) is;
//! - that region is the region of the message's `TopicArn` (`arn:aws:sns:<region>:…`, also
//!   `arn:aws-cn:` and `arn:aws-us-gov:`): SNS signs with its own region's certificate and
//!   sends the `SubscribeURL` of its own region, so a URL in another region is not SNS's;
//! - path exactly `/<file>.pem` with `<file>` of `[A-Za-z0-9._-]`, no query, no fragment: the
//!   official validators only look at the suffix, which `/cert?x=.pem`, `/a/b.pem` or
//!   `/%2e%2e%2fx.pem` also have.

use std::fmt;

use http::Uri;

/// A `SigningCertURL` that passed every rule.
///
/// The rules of AWS's own validators (aws-php-sns-message-validator and
/// aws-js-sns-message-validator `validateUrl`), stricter where those are loose:
///
/// - scheme `https`;
/// - no userinfo (`https://sns.us-east-1.amazonaws.com@evil.com/…` is a request to evil.com);
/// - no explicit port;
/// - host `sns.<region>.amazonaws.com` (`.amazonaws.com.cn` exactly for `cn-` regions), on the
///   parsed host, `<region>` a region name (see the module docs: this is what keeps S3 buckets
///   named `sns` out);
/// - path exactly `/<file>.pem`, `<file>` of `[A-Za-z0-9._-]`, no query, no fragment.
///
/// The store also requires [`region`](CertUrl::region) to be the region of the message's
/// `TopicArn`; `parse` alone cannot, as it does not see the message.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertUrl {
    url: String,
    file_start: usize,
}

impl CertUrl {
    /// Checks `url` against the rules; `Err` says which rule failed.
    ///
    /// ```
    /// use store_notifications::amazon::CertUrl;
    ///
    /// let ok = CertUrl::parse("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem").unwrap();
    /// assert_eq!(ok.file_name(), "SimpleNotificationService-abc.pem");
    /// assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com.evil.com/x.pem").is_err());
    /// assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com@evil.com/x.pem").is_err());
    /// // An S3 bucket named `sns`, not SNS:
    /// assert!(CertUrl::parse("https://sns.s3-ap-southeast-2.amazonaws.com/x.pem").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<CertUrl, UrlError> {
        let (host, uri) = parse_sns_https(url)?;
        let path = uri.path();
        let file = path.strip_prefix('/').unwrap_or_default();
        if uri.query().is_some() {
            return Err(UrlError("the certificate URL has a query"));
        }
        if !is_pem_file_name(file) {
            return Err(UrlError(
                "the certificate URL path is not a single `<name>.pem` segment",
            ));
        }
        // Canonical form only: whatever `http::Uri` tolerated and dropped (a fragment, an empty
        // query, odd casing of the scheme) must not survive into the URL we trust.
        let canonical = format!("https://{host}/{file}");
        if canonical != url {
            return Err(UrlError("the certificate URL is not in canonical form"));
        }
        Ok(CertUrl {
            file_start: url.len() - file.len(),
            url: canonical,
        })
    }

    /// The URL, exactly as it was signed.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The file name (`SimpleNotificationService-….pem`): the key of [`PinnedCerts`](super::PinnedCerts).
    pub fn file_name(&self) -> &str {
        self.url.get(self.file_start..).unwrap_or_default()
    }

    /// The region of the host (`us-east-1` in `https://sns.us-east-1.amazonaws.com/…`).
    pub fn region(&self) -> &str {
        canonical_url_region(&self.url)
    }
}

impl fmt::Debug for CertUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.url, f)
    }
}

impl fmt::Display for CertUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Why a `SigningCertURL` or `SubscribeURL` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlError(pub(crate) &'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UrlError {}

/// The scheme, userinfo, port and host rules shared by `SigningCertURL` and `SubscribeURL`.
/// Returns the host and the parsed URI.
pub(crate) fn parse_sns_https(url: &str) -> Result<(String, Uri), UrlError> {
    let uri: Uri = url.parse().map_err(|_| UrlError("not a valid URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(UrlError("the URL is not https"));
    }
    let authority = uri.authority().ok_or(UrlError("the URL has no host"))?;
    if authority.as_str().contains('@') {
        return Err(UrlError("the URL has userinfo"));
    }
    if authority.port().is_some() || authority.as_str().contains(':') {
        return Err(UrlError("the URL names a port"));
    }
    let host = authority.host();
    if sns_host_region(host).is_none() {
        return Err(UrlError(
            "the URL's host is not an Amazon SNS host (sns.<region>.amazonaws.com)",
        ));
    }
    Ok((host.to_owned(), uri))
}

/// The region of an Amazon SNS host: `sns.<region>.amazonaws.com` for a region outside China,
/// `sns.<region>.amazonaws.com.cn` for a `cn-` region (case-sensitive, as AWS's validators).
///
/// Stricter than the validators' `^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$`, which
/// S3 bucket hosts (`sns.s3.amazonaws.com`, `sns.s3-ap-southeast-2.amazonaws.com`) also match.
pub(crate) fn sns_host_region(host: &str) -> Option<&str> {
    let rest = host.strip_prefix("sns.")?;
    let (region, china) = match rest.strip_suffix(".amazonaws.com.cn") {
        Some(region) => (region, true),
        None => (rest.strip_suffix(".amazonaws.com")?, false),
    };
    (is_region(region) && region.starts_with("cn-") == china).then_some(region)
}

/// Whether `label` is an AWS region name: two or more words of lower-case ASCII letters, each
/// at least two long, then a number from 1 to 99, all joined by `-`
/// (`word ("-" word)+ "-" [1-9][0-9]?`): `us-east-1`, `eu-central-1`, `ap-southeast-2`,
/// `us-gov-west-1`, `cn-north-1`, `il-central-1`, `mx-central-1`.
///
/// No S3 endpoint label has that shape (`s3`, `s3-ap-southeast-2`, `s3-external-1` and
/// `s3-website-us-east-1` all start with `s3`, which has a digit), nor has EC2's `compute-1`
/// (one word).
pub(crate) fn is_region(label: &str) -> bool {
    let mut parts = label.split('-');
    let Some(number) = parts.next_back() else {
        return false;
    };
    let number_ok = matches!(
        number.as_bytes(),
        [b'1'..=b'9'] | [b'1'..=b'9', b'0'..=b'9']
    );
    let mut words = 0;
    for word in parts {
        if word.len() < 2 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
            return false;
        }
        words += 1;
    }
    number_ok && words >= 2
}

/// The region of an SNS topic ARN, `arn:<partition>:sns:<region>:<account>:<topic>`, with the
/// partition that region belongs to: `aws-cn` for `cn-` regions, `aws-us-gov` for `us-gov-`
/// regions, `aws` for the others. Other partitions (ISO, sovereign clouds) do not serve SNS
/// under `amazonaws.com`, so no URL could match them anyway.
pub(crate) fn topic_arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sns"), Some(region), Some(account), Some(topic)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expected_partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    (is_region(region)
        && partition == expected_partition
        && !account.is_empty()
        && !topic.is_empty())
    .then_some(region)
}

/// The rule binding a URL to its message: the URL's `region` is the region of `topic_arn`.
pub(crate) fn check_region_matches_topic(region: &str, topic_arn: &str) -> Result<(), UrlError> {
    match topic_arn_region(topic_arn) {
        Some(topic_region) if topic_region == region => Ok(()),
        Some(_) => Err(UrlError(
            "the URL's region is not the region of the TopicArn",
        )),
        None => Err(UrlError(
            "the TopicArn is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>), \
             so the URL's region cannot be checked",
        )),
    }
}

/// The region of a URL that already passed the host rule, so starts `https://sns.<region>.`
/// (a [`CertUrl`], a [`SubscribeUrl`](crate::amazon::SubscribeUrl), or a key of the
/// [`KeyCache`], which holds only those).
pub(crate) fn canonical_url_region(url: &str) -> &str {
    url.strip_prefix("https://sns.")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_default()
}

pub(super) fn is_pem_file_name(file: &str) -> bool {
    file.strip_suffix(".pem")
        .is_some_and(|stem| !stem.is_empty())
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem";

    #[test]
    fn cert_url_accepts_the_sns_form() {
        let url = CertUrl::parse(GOOD).expect("valid");
        assert_eq!(url.as_str(), GOOD);
        assert_eq!(url.file_name(), "SimpleNotificationService-abc.pem");
    }

    #[test]
    fn cert_url_accepts_the_china_partition() {
        assert!(CertUrl::parse("https://sns.cn-north-1.amazonaws.com.cn/x.pem").is_ok());
    }

    #[test]
    fn cert_url_must_be_https() {
        assert!(CertUrl::parse("http://sns.us-east-1.amazonaws.com/x.pem").is_err());
        assert!(CertUrl::parse("HTTPS://sns.us-east-1.amazonaws.com/x.pem").is_err());
        assert!(CertUrl::parse("ftp://sns.us-east-1.amazonaws.com/x.pem").is_err());
    }

    #[test]
    fn cert_url_must_have_no_userinfo() {
        for url in [
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
            "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
        ] {
            assert!(CertUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn cert_url_must_use_the_default_port() {
        assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com:8443/x.pem").is_err());
        assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com:443/x.pem").is_err());
        assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com:/x.pem").is_err());
    }

    #[test]
    fn cert_url_host_must_match_the_sns_pattern() {
        for url in [
            "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
            "https://sns.us-east-1.evilamazonaws.com/x.pem",
            "https://sns.x.amazonaws.com/x.pem",
            "https://s3.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sns.us.east.amazonaws.com/x.pem",
            "https://evil.com/sns.us-east-1.amazonaws.com/x.pem",
            "https://SNS.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com./x.pem",
            "https://sns.us_east.amazonaws.com/x.pem",
        ] {
            assert!(CertUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn cert_url_path_must_be_one_pem_file() {
        for url in [
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://sns.us-east-1.amazonaws.com/cert?x=y.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem?",
            "https://sns.us-east-1.amazonaws.com/x.pem#frag",
            "https://sns.us-east-1.amazonaws.com/a/x.pem",
            "https://sns.us-east-1.amazonaws.com/%2e%2e%2fx.pem",
            "https://sns.us-east-1.amazonaws.com/.pem",
            "https://sns.us-east-1.amazonaws.com/",
            "https://sns.us-east-1.amazonaws.com",
        ] {
            assert!(CertUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn cert_url_must_be_canonical() {
        assert!(CertUrl::parse(" https://sns.us-east-1.amazonaws.com/x.pem").is_err());
        assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com//x.pem").is_err());
    }

    #[test]
    fn sns_host_is_sns_dot_region_dot_amazonaws_com() {
        assert_eq!(
            sns_host_region("sns.us-east-1.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(
            sns_host_region("sns.cn-north-1.amazonaws.com.cn"),
            Some("cn-north-1")
        );
        for host in [
            "sns.abc.amazonaws.com",
            "sns.ab.amazonaws.com",
            "sns.us-east-1.amazonaws.com.cn.evil",
            "xsns.us-east-1.amazonaws.com",
            "sns.us-east-1.amazonaws.co",
        ] {
            assert_eq!(sns_host_region(host), None, "{host}");
        }
    }

    #[test]
    fn sns_host_must_name_a_region_not_an_s3_bucket() {
        // A bucket named `sns` is served at these hosts, and they match AWS's validators' regex.
        for url in [
            "https://sns.s3.amazonaws.com/x.pem",
            "https://sns.s3-ap-southeast-2.amazonaws.com/x.pem",
            "https://sns.s3-us-west-2.amazonaws.com/x.pem",
            "https://sns.s3-external-1.amazonaws.com/x.pem",
            "https://sns.s3-website-us-east-1.amazonaws.com/x.pem",
            "https://sns.s3-fips-us-gov-west-1.amazonaws.com/x.pem",
            "https://sns.s3-accelerate.amazonaws.com/x.pem",
            "https://sns.compute-1.amazonaws.com/x.pem",
        ] {
            assert!(CertUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn region_is_words_of_letters_then_a_number() {
        for region in [
            "us-east-1",
            "eu-central-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "cn-north-1",
            "cn-northwest-1",
            "il-central-1",
            "mx-central-1",
            "ap-southeast-7",
            "us-west-10",
        ] {
            assert!(is_region(region), "{region}");
        }
        for label in [
            "",
            "s3",
            "s3-ap-southeast-2",
            "us-east",
            "east-1",
            "us-east-01",
            "us-east-0",
            "us-east-100",
            "US-EAST-1",
            "u-east-1",
            "us--east-1",
            "us-east-1-",
            "-us-east-1",
            "us_east-1",
            "us-east1",
        ] {
            assert!(!is_region(label), "{label}");
        }
    }

    #[test]
    fn amazonaws_com_cn_is_only_for_china_regions() {
        assert!(CertUrl::parse("https://sns.cn-north-1.amazonaws.com.cn/x.pem").is_ok());
        assert!(CertUrl::parse("https://sns.cn-north-1.amazonaws.com/x.pem").is_err());
        assert!(CertUrl::parse("https://sns.us-east-1.amazonaws.com.cn/x.pem").is_err());
    }

    #[test]
    fn topic_arn_region_is_read_in_its_partition() {
        for (arn, region) in [
            ("arn:aws:sns:us-east-1:123456789012:t", Some("us-east-1")),
            (
                "arn:aws-cn:sns:cn-north-1:123456789012:t",
                Some("cn-north-1"),
            ),
            (
                "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
                Some("us-gov-west-1"),
            ),
            ("arn:aws:sns:cn-north-1:123456789012:t", None),
            ("arn:aws-cn:sns:us-east-1:123456789012:t", None),
            ("arn:aws:sns:us-gov-west-1:123456789012:t", None),
            ("arn:aws:sqs:us-east-1:123456789012:t", None),
            ("arn:aws:sns:s3:123456789012:t", None),
            ("arn:aws:sns:us-east-1::t", None),
            ("arn:aws:sns:us-east-1:123456789012:", None),
            ("arn:aws:sns:us-east-1:123456789012", None),
            ("arn:t", None),
        ] {
            assert_eq!(topic_arn_region(arn), region, "{arn}");
        }
    }

    #[test]
    fn cert_url_region_is_the_host_region() {
        let url = CertUrl::parse("https://sns.ap-southeast-2.amazonaws.com/x.pem").expect("url");
        assert_eq!(url.region(), "ap-southeast-2");
        assert!(check_region_matches_topic(url.region(), "arn:aws:sns:ap-southeast-2:1:t").is_ok());
        assert!(check_region_matches_topic(url.region(), "arn:aws:sns:us-east-1:1:t").is_err());
        assert!(check_region_matches_topic(url.region(), "not an arn").is_err());
    }
}
