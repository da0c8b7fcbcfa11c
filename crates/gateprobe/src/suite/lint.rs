//! The sensitivity scan: suites and configs must be non-sensitive by construction, so
//! `gateprobe lint` and every run refuse text that looks like real secrets or personal data.
//!
//! Rules work line by line on the raw text (comments included: they reach git too); a reviewed
//! false positive is allowed with `# gateprobe:allow <rule>` on its line. Each finding
//! is an error [`Diagnostic`] named by its rule, whose source line is shown with the finding
//! masked, so the report does not leak what it found.

use std::path::Path;

use regex::Regex;

use super::diagnostic::{Diagnostic, line_breaks, source_lines};
use super::model::Location;

/// Rule names, as shown in `error[rule]`. This one: a PEM private key block.
pub const PRIVATE_KEY: &str = "private-key";
/// Rule: an AWS, GCP or Azure key.
pub const CLOUD_ACCESS_KEY: &str = "cloud-access-key";
/// Rule: a GitHub, GitLab, Slack or Stripe token.
pub const SERVICE_TOKEN: &str = "service-token";
/// Rule: a JWT.
pub const INLINE_JWT: &str = "inline-jwt";
/// Rule: a token after `Bearer`.
pub const INLINE_BEARER_TOKEN: &str = "inline-bearer-token";
/// Rule: a random-looking value of a key like `password`, `api_key` or `token`.
pub const INLINE_SECRET: &str = "inline-secret";
/// Rule: a Luhn-valid payment card number.
pub const CARD_NUMBER: &str = "card-number";
/// Rule: an e-mail address outside the reserved example domains (RFC 2606).
pub const EMAIL: &str = "email-outside-example-domains";
/// Rule: a phone number that is not a fictional one.
pub const PHONE: &str = "phone-number";

const CREDENTIAL_HELP: &str =
    "credentials come only from `credential: { env | file | command }` of an identity, never from a suite or config";

/// One finding inside a line: byte range, rule, message, help.
struct Finding {
    start: usize,
    end: usize,
    rule: &'static str,
    message: &'static str,
    help: &'static str,
    /// Whether the found text itself may be shown (a PEM header is not secret; a key is).
    show: bool,
}

const PEM: &str = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";
const AWS_KEY_ID: &str = r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b";
const AWS_SECRET: &str = r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}"#;
const GCP_SERVICE_ACCOUNT: &str = r#"["']?(?:type["']?\s*:\s*["']?service_account\b|private_key_id["']?\s*:)"#;
const GCP_API_KEY: &str = r"\bAIza[0-9A-Za-z_\-]{35}";
const AZURE_KEY: &str = r"(?i)\bAccountKey=[A-Za-z0-9+/=]{20,}";
const SERVICE_TOKENS: &str = r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{20})";
const JWT: &str = r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*";
const BEARER: &str = r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*";
const SECRET_ASSIGNMENT: &str = r#"(?i)\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|token)["']?\s*[:=]\s*["']?([A-Za-z0-9+/_\-.=]{20,})"#;
const CARD: &str = r"\d(?:[ -]?\d){12,18}";
const EMAIL_ADDRESS: &str = r"[A-Za-z0-9._%+\-]+@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63})\b";
const PHONE_INTL: &str = r"\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,6}";
const PHONE_NANP: &str = r"(?:\(\d{3}\) ?|\b\d{3}[ .\-])\d{3}[ .\-]\d{4}\b";
const PHONE_KEYED: &str =
    r#"(?i)\b(?:phone|telephone|tel|mobile|cell|fax)(?:_?number)?["']?\s*[:=]\s*["']?([+(]?\d[\d ().\-]{5,}\d)"#;
const PATTERNS: [&str; 15] = [
    PEM,
    AWS_KEY_ID,
    AWS_SECRET,
    GCP_SERVICE_ACCOUNT,
    GCP_API_KEY,
    AZURE_KEY,
    SERVICE_TOKENS,
    JWT,
    BEARER,
    SECRET_ASSIGNMENT,
    CARD,
    EMAIL_ADDRESS,
    PHONE_INTL,
    PHONE_NANP,
    PHONE_KEYED,
];

/// The compiled rules. Built once per load (config and suites alike) and dropped after it, not
/// kept in statics: compiled, they take megabytes that `serve` would otherwise hold between runs
/// for nothing.
pub struct Rules {
    pem: Regex,
    aws_key_id: Regex,
    aws_secret: Regex,
    gcp_service_account: Regex,
    gcp_api_key: Regex,
    azure_key: Regex,
    service_tokens: Regex,
    jwt: Regex,
    bearer: Regex,
    secret_assignment: Regex,
    card: Regex,
    email: Regex,
    phone_intl: Regex,
    phone_nanp: Regex,
    phone_keyed: Regex,
    /// Every rule in one regex, run once over a whole file to find the few lines worth
    /// scanning rule by rule (most lines match none; fourteen searches per line made the lint a
    /// sixth of the load time of a large suite).
    any: Regex,
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

impl Rules {
    /// Compiles every rule; built once per load and shared by the config and every suite.
    pub fn new() -> Rules {
        let re = |pattern: &str| Regex::new(pattern).expect("lint patterns are valid");
        Rules {
            pem: re(PEM),
            aws_key_id: re(AWS_KEY_ID),
            aws_secret: re(AWS_SECRET),
            gcp_service_account: re(GCP_SERVICE_ACCOUNT),
            gcp_api_key: re(GCP_API_KEY),
            azure_key: re(AZURE_KEY),
            service_tokens: re(SERVICE_TOKENS),
            jwt: re(JWT),
            bearer: re(BEARER),
            secret_assignment: re(SECRET_ASSIGNMENT),
            card: re(CARD),
            email: re(EMAIL_ADDRESS),
            phone_intl: re(PHONE_INTL),
            phone_nanp: re(PHONE_NANP),
            phone_keyed: re(PHONE_KEYED),
            any: re(&PATTERNS.map(|p| format!("(?:{p})")).join("|")),
        }
    }

    /// The 0-based numbers of the lines on which some rule may match, in order. A superset: the
    /// whole-text search may also match across a line break, and then every line it touches is
    /// included; a match within one line is always found, as these rules use no `^` or `$`.
    fn candidate_lines(&self, text: &str) -> Vec<usize> {
        let mut lines: Vec<usize> = Vec::new();
        let (mut line, mut pos) = (0, 0);
        for m in self.any.find_iter(text) {
            line += line_breaks(&text[pos..m.start()]);
            pos = m.start();
            let last = line + line_breaks(m.as_str());
            let first = lines.last().map_or(line, |&l| line.max(l + 1));
            lines.extend(first..=last);
        }
        lines
    }

    /// Scans `text` (the content of `file`) for what looks like sensitive data.
    pub fn scan(&self, file: &Path, text: &str) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let candidates = self.candidate_lines(text);
        let mut next = candidates.iter().peekable();
        for (i, line) in source_lines(text).enumerate() {
            if next.next_if_eq(&&i).is_none() {
                continue;
            }
            let mut findings = self.scan_line(line);
            // An escape hatch for a reviewed false positive: `# gateprobe:allow <rule> [<rule>...]`
            // on the same line.
            if let Some(i) = line.find("gateprobe:allow") {
                let allowed: Vec<&str> = line[i + "gateprobe:allow".len()..].split_whitespace().collect();
                findings.retain(|f| !allowed.contains(&f.rule));
            }
            findings.sort_by_key(|f| f.start);
            // One finding per stretch of text: the first rule (most specific) wins.
            let mut last_end = 0;
            findings.retain(|f| {
                let keep = f.start >= last_end;
                if keep {
                    last_end = f.end;
                }
                keep
            });
            // Every diagnostic of the line shows it with all its findings masked.
            let mut masked = line.to_owned();
            // (From the end, so that the earlier byte offsets stay valid.)
            for f in findings.iter().rev().filter(|f| !f.show) {
                masked = mask(&masked, f.start, f.end);
            }
            for f in findings {
                let column = line[..f.start].chars().count() + 1;
                let width = line[f.start..f.end].chars().count();
                let mut d = Diagnostic::new(file, text, Location { line: i + 1, column }, f.message)
                    .with_code(f.rule)
                    .with_help(f.help)
                    .with_width(width);
                d.source_line = Some(masked.clone());
                out.push(d);
            }
        }
        out
    }

    fn scan_line(&self, line: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut push = |m: regex::Match<'_>, rule, message, help, show| {
            found.push(Finding { start: m.start(), end: m.end(), rule, message, help, show });
        };
        for m in self.pem.find_iter(line) {
            push(m, PRIVATE_KEY, "a private key", CREDENTIAL_HELP, true);
        }
        for m in self.aws_key_id.find_iter(line) {
            // AWS's documented example key ids end in EXAMPLE.
            if !m.as_str().ends_with("EXAMPLE") {
                push(m, CLOUD_ACCESS_KEY, "what looks like an AWS access key id", CREDENTIAL_HELP, false);
            }
        }
        for m in self.aws_secret.find_iter(line) {
            push(m, CLOUD_ACCESS_KEY, "what looks like an AWS secret access key", CREDENTIAL_HELP, false);
        }
        for m in self.gcp_service_account.find_iter(line) {
            push(m, CLOUD_ACCESS_KEY, "what looks like a GCP service-account key", CREDENTIAL_HELP, true);
        }
        for m in self.gcp_api_key.find_iter(line) {
            push(m, CLOUD_ACCESS_KEY, "what looks like a Google API key", CREDENTIAL_HELP, false);
        }
        for m in self.azure_key.find_iter(line) {
            push(m, CLOUD_ACCESS_KEY, "what looks like an Azure storage account key", CREDENTIAL_HELP, false);
        }
        for m in self.service_tokens.find_iter(line) {
            push(
                m,
                SERVICE_TOKEN,
                "what looks like a service token (GitHub, GitLab, Slack, Stripe)",
                CREDENTIAL_HELP,
                false,
            );
        }
        for m in self.jwt.find_iter(line) {
            push(m, INLINE_JWT, "a JWT written inline", CREDENTIAL_HELP, false);
        }
        for m in self.bearer.find_iter(line) {
            push(m, INLINE_BEARER_TOKEN, "a bearer token written inline", CREDENTIAL_HELP, false);
        }
        for c in self.secret_assignment.captures_iter(line) {
            let value = c.get(1).expect("group 1 always takes part");
            let v = value.as_str();
            // Only what looks random: letters and digits mixed, not a word-like slug.
            let random = v.chars().any(|c| c.is_ascii_digit())
                && v.chars().any(|c| c.is_ascii_uppercase())
                && v.chars().any(|c| c.is_ascii_lowercase());
            if random {
                push(value, INLINE_SECRET, "a secret value written inline", CREDENTIAL_HELP, false);
            }
        }
        for m in self.card.find_iter(line) {
            if is_card_number(line, m.start(), m.end()) {
                push(
                    m,
                    CARD_NUMBER,
                    "what looks like a payment card number (Luhn-valid)",
                    "use a value that fails the Luhn check, or `{{canary}}`",
                    false,
                );
            }
        }
        for c in self.email.captures_iter(line) {
            let m = c.get(0).expect("group 0 is the match");
            let domain = c.get(1).expect("group 1 always takes part").as_str();
            if !is_reserved_domain(domain) {
                push(
                    m,
                    EMAIL,
                    "an e-mail address outside the reserved example domains",
                    "use example.com, example.net, example.org or a .test/.example/.invalid/.localhost domain (RFC 2606)",
                    false,
                );
            }
        }
        let phone_help = "use a fictional number (e.g. +1 555 0100 to 0199) or `{{canary}}`";
        for m in self.phone_intl.find_iter(line) {
            let digits = count_digits(m.as_str());
            if (8..=15).contains(&digits) && !glued(line, m.start(), m.end()) && !is_fictional(m.as_str()) {
                push(m, PHONE, "what looks like a phone number", phone_help, false);
            }
        }
        for m in self.phone_nanp.find_iter(line) {
            if !glued(line, m.start(), m.end()) && !is_fictional(m.as_str()) {
                push(m, PHONE, "what looks like a phone number", phone_help, false);
            }
        }
        for c in self.phone_keyed.captures_iter(line) {
            let m = c.get(1).expect("group 1 always takes part");
            if (7..=15).contains(&count_digits(m.as_str())) && !is_fictional(m.as_str()) {
                push(m, PHONE, "what looks like a phone number", phone_help, false);
            }
        }
        found
    }
}

/// Keeps the first four characters of the finding and stars the rest (one `*` per character,
/// so character columns stay put).
fn mask(line: &str, start: usize, end: usize) -> String {
    let found: String = line[start..end].chars().enumerate().map(|(i, c)| if i < 4 { c } else { '*' }).collect();
    format!("{}{found}{}", &line[..start], &line[end..])
}

fn count_digits(s: &str) -> usize {
    s.chars().filter(char::is_ascii_digit).count()
}

/// Whether the match is part of a longer token (a version, an address, an id): preceded or
/// followed by a letter, a digit, or a `.`/`-`/`:`/`/` that continues the token.
fn glued(line: &str, start: usize, end: usize) -> bool {
    let before = line[..start].chars().next_back();
    let after = line[end..].chars().next();
    let after2 = line[end..].chars().nth(1);
    let continues = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    continues(before)
        || continues(after)
        || matches!(before, Some('.' | '-' | ':' | '/'))
        || (matches!(after, Some('.' | '-' | ':' | '/')) && continues(after2))
}

/// North American 555-01xx numbers are reserved for fiction.
fn is_fictional(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits.len() >= 7 && digits[digits.len() - 7..].starts_with("55501")
}

fn is_card_number(line: &str, start: usize, end: usize) -> bool {
    if glued(line, start, end) {
        return false;
    }
    let text = &line[start..end];
    let separators: Vec<char> = text.chars().filter(|c| !c.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    // Issuer ranges start with 2–6 (Mastercard, Amex/Diners, Visa, Mastercard, Discover/UnionPay).
    (13..=19).contains(&digits.len()) && (2..=6).contains(&digits[0]) && luhn(&digits)
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum % 10 == 0
}

/// RFC 2606 (and 6761) names: example.com/.net/.org and their subdomains, and the `.test`,
/// `.example`, `.invalid`, `.localhost` top-level domains.
fn is_reserved_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    if matches!(tld, "test" | "example" | "invalid" | "localhost") {
        return true;
    }
    labels.len() >= 2 && labels[labels.len() - 2] == "example" && matches!(tld, "com" | "net" | "org")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<String> {
        Rules::new()
            .scan(Path::new("t.yaml"), text)
            .into_iter()
            .map(|d| d.code.expect("lint findings name their rule"))
            .collect()
    }

    fn clean(text: &str) {
        assert_eq!(rules(text), Vec::<String>::new(), "false positive in {text:?}");
    }

    // Key-like literals in these tests are split with `concat!` so that secret scanners do not
    // flag this file.

    #[test]
    fn private_keys() {
        assert_eq!(rules("key: |\n  -----BEGIN RSA PRIVATE KEY-----\n"), [PRIVATE_KEY]);
        assert_eq!(rules("-----BEGIN OPENSSH PRIVATE KEY-----"), [PRIVATE_KEY]);
        assert_eq!(rules("-----BEGIN PRIVATE KEY-----"), [PRIVATE_KEY]);
        clean("-----BEGIN PUBLIC KEY-----");
        clean("-----BEGIN CERTIFICATE-----");
    }

    #[test]
    fn cloud_keys() {
        assert_eq!(rules(concat!("aws: AKIA", "Z7VQ3LMN4PQRS2TU")), [CLOUD_ACCESS_KEY]);
        assert_eq!(
            rules(concat!("aws_secret_access_key: ", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")),
            [CLOUD_ACCESS_KEY]
        );
        assert_eq!(rules(r#"{"type": "service_account", "project_id": "p"}"#), [CLOUD_ACCESS_KEY]);
        assert_eq!(rules(concat!("key: AI", "zaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW")), [CLOUD_ACCESS_KEY]);
        assert_eq!(
            rules("conn: DefaultEndpointsProtocol=https;AccountKey=abcdEFGH1234ijklMNOP5678=="),
            [CLOUD_ACCESS_KEY]
        );
        // The documented example key id, and words that merely start like a key id.
        clean("aws: AKIAIOSFODNN7EXAMPLE");
        clean("tool: AKIA.lookup");
        clean("kind: service_accounts_list");
    }

    #[test]
    fn service_tokens() {
        assert_eq!(rules(concat!("t: gh", "p_abcdefghijklmnopqrstuvwxyz0123456789")), [SERVICE_TOKEN]);
        assert_eq!(rules(concat!("t: xo", "xb-1234567890-abcdefghij")), [SERVICE_TOKEN]);
        clean("tool: ghp_short");
    }

    #[test]
    fn jwts_and_bearer_tokens() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
        assert_eq!(rules(&format!("token: {jwt}")), [INLINE_JWT]);
        // A bearer JWT is reported once (the header text comes first, as bearer).
        assert_eq!(rules(&format!("authorization: Bearer {jwt}")), [INLINE_BEARER_TOKEN]);
        assert_eq!(rules("header: 'Authorization: Bearer 3f9a8b7c6d5e4f3a2b1c0d9e'"), [INLINE_BEARER_TOKEN]);
        clean("prompt: the bearer of bad news");
        clean("authorization: Bearer {{canary}}");
        clean("credential: { env: ALICE_TOKEN }");
    }

    #[test]
    fn inline_secrets() {
        assert_eq!(rules("api_key: Zk3q9Lm2Xp7Rt5Vb8Nc4Hd6J"), [INLINE_SECRET]);
        clean("api_key: \"{{canary}}\"");
        clean("token: quarterly-report-summary-document");
        clean("password: hunter2");
    }

    #[test]
    fn card_numbers() {
        assert_eq!(rules("card: 4111 1111 1111 1111"), [CARD_NUMBER]);
        assert_eq!(rules("card: 5555-5555-5555-4444"), [CARD_NUMBER]);
        assert_eq!(rules("card: 378282246310005"), [CARD_NUMBER]);
        clean("card: 4111 1111 1111 1112"); // fails Luhn
        clean("id: 1234567890123"); // starts with 1
        clean("mixed: 4111 1111-1111 1111"); // inconsistent separators
        clean("ts: 1700000000.4111111111111111"); // part of a decimal
        clean("repeat: 30");
    }

    #[test]
    fn emails() {
        assert_eq!(rules("to: jane.doe@gmail.com"), [EMAIL]);
        assert_eq!(rules("to: ops@corp.example.co.uk"), [EMAIL]);
        assert_eq!(rules("to: someone@examples.com"), [EMAIL]);
        clean("to: someone@example.org");
        clean("subject: alice@example.com");
        clean("to: x@mail.EXAMPLE.net");
        clean("to: bob@acme.test, eve@foo.example, x@y.invalid, root@host.localhost");
        clean("path: /docs/handbook.md");
        clean("dep: left-pad@1.3.0");
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(rules("phone: +44 20 7946 1234"), [PHONE]);
        assert_eq!(rules("text: call +33612345678 now"), [PHONE]);
        assert_eq!(rules("text: call (415) 867-5309"), [PHONE]);
        assert_eq!(rules("text: 415-867-5309"), [PHONE]);
        assert_eq!(rules("mobile: 06 12 34 56 78"), [PHONE]);
        clean("text: +1 555 0123"); // fictional 555-01xx
        clean("text: call 555-0150 or (212) 555-0199");
        clean("version: 1.2.3");
        clean("version: 10.20.3000");
        clean("url: http://127.0.0.1:8080/mcp");
        clean("ip: 192.168.100.1234");
        clean("date: 2024-01-15");
        clean("at: 2024-01-15T10:30:00+01:00");
        clean("timeout_ms: 5000");
        clean("concurrency: 8");
        clean("id: 0190a6f2-7c1b-7d3e-8f00-123456789abc");
        clean("tel: 80");
    }

    #[test]
    fn findings_are_positioned_and_masked() {
        let text = "suite: s\nscenarios:\n  - call: { arguments: { to: jane.doe@gmail.com } }\n";
        let d = &Rules::new().scan(Path::new("s.yaml"), text)[0];
        assert_eq!((d.line, d.column, d.width), (3, 30, 18));
        assert_eq!(d.source_line.as_deref(), Some("  - call: { arguments: { to: jane************** } }"));
        assert!(!d.render(false).contains("gmail"));
        assert!(d.render(false).starts_with("error[email-outside-example-domains]: "));
    }

    #[test]
    fn every_finding_of_a_line_is_masked_in_each_diagnostic() {
        let text = "to: jane.doe@gmail.com, phone: +44 20 7946 1234\n";
        let ds = Rules::new().scan(Path::new("s.yaml"), text);
        assert_eq!(ds.len(), 2);
        for d in ds {
            let shown = d.source_line.unwrap();
            assert!(!shown.contains("gmail") && !shown.contains("7946"), "{shown}");
        }
    }

    #[test]
    fn a_reviewed_line_can_allow_a_rule() {
        clean("text: call 415-867-5309  # gateprobe:allow phone-number");
        // Only the named rule.
        assert_eq!(rules("text: 415-867-5309 jane@gmail.com  # gateprobe:allow phone-number"), [EMAIL]);
    }

    /// The one whole-file search finds every line that a rule matches on its own, even where a
    /// match across a line break (`phone:` then a number on the next line) comes first, and
    /// counts lines as YAML does (a lone CR breaks one).
    #[test]
    fn candidate_lines_cover_every_line_with_a_finding() {
        let text = concat!(
            "password:\n",
            "  Zk3q9Lm2Xp7Rt5Vb8Nc4Hd6J to: jane.doe@gmail.com\n",
            "phone:\n",
            "  +44 20 7946 1234\r\n",
            "x: 1\r",
            "card: 4111 1111 1111 1111 and 415-867-5309\n",
            "-----BEGIN RSA PRIVATE KEY-----",
        );
        let rules = Rules::new();
        let candidates = rules.candidate_lines(text);
        for (i, line) in source_lines(text).enumerate() {
            if !rules.scan_line(line).is_empty() {
                assert!(candidates.contains(&i), "line {i} {line:?} is not a candidate: {candidates:?}");
            }
        }
        assert!(!candidates.contains(&4), "{candidates:?}");
        assert_eq!(Rules::new().scan(Path::new("s.yaml"), text).len(), 5);
    }

    #[test]
    fn bundled_config_is_clean() {
        clean(include_str!("../../../../gateprobe.yaml"));
    }
}
