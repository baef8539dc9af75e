//! Pushed XML (spec/wechat.md §1.2–§1.3, §6): the encrypted envelope, the decrypted component
//! pushes (verify ticket, authorized, updateauthorized, unauthorized) and audit result events,
//! parsed once at the boundary with quick-xml (text and CDATA alike).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The fixed push `token` of the sandbox, used when the fleet sets none and `api_base` is
/// `sandbox` (shared by the simulator and minifleet; not a secret).
pub const SANDBOX_TOKEN: &str = "minifleet-sandbox-token";

/// The fixed `encoding_aes_key` of the sandbox (43 characters), used like [`SANDBOX_TOKEN`].
pub const SANDBOX_AES_KEY: &str = "minifleetSandboxEncodingAesKey0123456789abc";

/// Why pushed XML could not be read. Messages never carry the XML itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not well-formed XML, or not the flat `<xml>…</xml>` shape of pushes.
    #[error("push is not well-formed `<xml>`: {0}")]
    Malformed(String),
    /// A field the push type needs is absent.
    #[error("push has no `{0}` field")]
    Missing(&'static str),
}

/// The outer envelope of a push: whom it is for and the base64 `Encrypt` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `AppId` (component pushes) or `ToUserName` (authorizer pushes), if present.
    pub to: Option<String>,
    /// The `Encrypt` text.
    pub encrypt: String,
}

/// A decrypted push to the authorization-event URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentPush {
    /// A new `component_verify_ticket`.
    VerifyTicket {
        /// The component the ticket is for.
        component_appid: String,
        /// The ticket.
        ticket: String,
    },
    /// A merchant authorized (or changed the authorization of) a mini program.
    Authorized {
        /// The mini program.
        authorizer_appid: String,
        /// The authorization code for `api_query_auth`.
        code: String,
        /// Whether this was `updateauthorized`.
        update: bool,
    },
    /// A merchant revoked the authorization of a mini program.
    Unauthorized {
        /// The mini program.
        authorizer_appid: String,
    },
    /// Another `InfoType`: ignored, but still answered `success`.
    Other {
        /// The `InfoType`.
        info_type: String,
    },
}

impl ComponentPush {
    /// The mini program an authorization event is about (none for a ticket).
    pub fn authorizer_appid(&self) -> Option<&str> {
        match self {
            ComponentPush::Authorized {
                authorizer_appid, ..
            }
            | ComponentPush::Unauthorized { authorizer_appid } => Some(authorizer_appid),
            ComponentPush::VerifyTicket { .. } | ComponentPush::Other { .. } => None,
        }
    }
}

/// A decrypted audit result event from the message-and-event URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// `weapp_audit_success`.
    Success,
    /// `weapp_audit_fail`, with the reviewer's reason.
    Fail {
        /// The reason (HTML-ish text).
        reason: String,
    },
    /// `weapp_audit_delay`, with the reason.
    Delay {
        /// The reason.
        reason: String,
    },
    /// Any other message or event: ignored, but answered `success`.
    Other {
        /// The `Event` (or `MsgType` when there is no event).
        kind: String,
    },
}

impl AuditEvent {
    /// The event's stable short name (`success`, `fail`, `delay`, or the other kind).
    pub fn name(&self) -> &str {
        match self {
            AuditEvent::Success => "success",
            AuditEvent::Fail { .. } => "fail",
            AuditEvent::Delay { .. } => "delay",
            AuditEvent::Other { kind } => kind,
        }
    }
}

/// Reads a flat `<xml><Name>text or CDATA</Name>…</xml>` document into its fields.
pub fn fields(xml: &str) -> Result<BTreeMap<String, String>, PushError> {
    let mut reader = Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut text = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| PushError::Malformed(e.to_string()))?;
        match event {
            Event::Start(start) => {
                depth += 1;
                if depth == 2 {
                    current = Some(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                    text.clear();
                } else if depth > 2 {
                    return Err(PushError::Malformed("nested elements".into()));
                }
            }
            Event::End(_) => {
                if depth == 2 {
                    if let Some(name) = current.take() {
                        out.insert(name, std::mem::take(&mut text));
                    }
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Event::Empty(empty) if depth == 1 => {
                let name = String::from_utf8_lossy(empty.name().as_ref()).into_owned();
                out.insert(name, String::new());
            }
            Event::Text(t) if depth == 2 => text.push_str(&decoded(t.decode())?),
            Event::CData(c) if depth == 2 => text.push_str(&decoded(c.decode())?),
            Event::GeneralRef(r) if depth == 2 => {
                let name = decoded(r.decode())?;
                let entity = format!("&{name};");
                let resolved = quick_xml::escape::unescape(&entity)
                    .map_err(|e| PushError::Malformed(e.to_string()))?;
                text.push_str(&resolved);
            }
            Event::Eof => return Err(PushError::Malformed("unexpected end".into())),
            _ => {}
        }
    }
    Ok(out)
}

fn decoded<E: std::fmt::Display>(
    text: Result<std::borrow::Cow<'_, str>, E>,
) -> Result<String, PushError> {
    text.map(|t| t.into_owned())
        .map_err(|e| PushError::Malformed(e.to_string()))
}

fn take(fields: &mut BTreeMap<String, String>, name: &'static str) -> Result<String, PushError> {
    fields
        .remove(name)
        .filter(|v| !v.is_empty())
        .ok_or(PushError::Missing(name))
}

/// Parses the outer envelope of a push.
pub fn parse_envelope(xml: &str) -> Result<Envelope, PushError> {
    let mut f = fields(xml)?;
    let encrypt = take(&mut f, "Encrypt")?;
    let to = f.remove("AppId").or_else(|| f.remove("ToUserName"));
    Ok(Envelope { to, encrypt })
}

/// Parses a decrypted push to the authorization-event URL.
pub fn parse_component_push(xml: &str) -> Result<ComponentPush, PushError> {
    let mut f = fields(xml)?;
    let info_type = take(&mut f, "InfoType")?;
    Ok(match info_type.as_str() {
        "component_verify_ticket" => ComponentPush::VerifyTicket {
            component_appid: take(&mut f, "AppId")?,
            ticket: take(&mut f, "ComponentVerifyTicket")?,
        },
        "authorized" | "updateauthorized" => ComponentPush::Authorized {
            authorizer_appid: take(&mut f, "AuthorizerAppid")?,
            code: take(&mut f, "AuthorizationCode")?,
            update: info_type == "updateauthorized",
        },
        "unauthorized" => ComponentPush::Unauthorized {
            authorizer_appid: take(&mut f, "AuthorizerAppid")?,
        },
        _ => ComponentPush::Other { info_type },
    })
}

/// Parses a decrypted message-and-event push into an audit event.
pub fn parse_audit_event(xml: &str) -> Result<AuditEvent, PushError> {
    let mut f = fields(xml)?;
    let event = f.remove("Event").unwrap_or_default();
    let reason = f.remove("Reason").unwrap_or_default();
    Ok(match event.as_str() {
        "weapp_audit_success" => AuditEvent::Success,
        "weapp_audit_fail" => AuditEvent::Fail { reason },
        "weapp_audit_delay" => AuditEvent::Delay { reason },
        "" => AuditEvent::Other {
            kind: f.remove("MsgType").unwrap_or_default(),
        },
        _ => AuditEvent::Other { kind: event },
    })
}

/// Wraps text in CDATA, splitting any `]]>` inside it.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// Builds a flat `<xml>` document from `(name, text)` pairs, each text in CDATA (for the sandbox
/// and tests).
pub fn build_xml(pairs: &[(&str, &str)]) -> String {
    let body: String = pairs
        .iter()
        .map(|(name, value)| format!("<{name}>{}</{name}>", cdata(value)))
        .collect();
    format!("<xml>{body}</xml>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cdata_text_and_entities() {
        let xml = "<xml><AppId><![CDATA[wx1]]></AppId><CreateTime>17</CreateTime>\
                   <Reason>a &amp; b<![CDATA[ <br> c]]></Reason><Empty/></xml>";
        let f = fields(xml).unwrap();
        assert_eq!(f["AppId"], "wx1");
        assert_eq!(f["CreateTime"], "17");
        assert_eq!(f["Reason"], "a & b <br> c");
        assert_eq!(f["Empty"], "");
    }

    #[test]
    fn rejects_malformed_xml() {
        for bad in [
            "",
            "<xml><a>1</b></xml>",
            "<xml><a><b>1</b></a></xml>",
            "not xml",
            "<xml><Encrypt>x",
        ] {
            assert!(
                matches!(fields(bad), Err(PushError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn envelope_needs_encrypt() {
        let env = parse_envelope(&build_xml(&[("AppId", "wxc"), ("Encrypt", "QUJD")])).unwrap();
        assert_eq!(
            env,
            Envelope {
                to: Some("wxc".into()),
                encrypt: "QUJD".into()
            }
        );
        assert_eq!(
            parse_envelope("<xml><AppId>wxc</AppId></xml>"),
            Err(PushError::Missing("Encrypt"))
        );
    }

    #[test]
    fn component_pushes_by_info_type() {
        let ticket = build_xml(&[
            ("AppId", "wxc"),
            ("InfoType", "component_verify_ticket"),
            ("ComponentVerifyTicket", "ticket@@@x"),
        ]);
        assert_eq!(
            parse_component_push(&ticket).unwrap(),
            ComponentPush::VerifyTicket {
                component_appid: "wxc".into(),
                ticket: "ticket@@@x".into()
            }
        );
        let auth = build_xml(&[
            ("InfoType", "updateauthorized"),
            ("AuthorizerAppid", "wxa"),
            ("AuthorizationCode", "code"),
        ]);
        assert_eq!(
            parse_component_push(&auth).unwrap(),
            ComponentPush::Authorized {
                authorizer_appid: "wxa".into(),
                code: "code".into(),
                update: true
            }
        );
        let gone = build_xml(&[("InfoType", "unauthorized"), ("AuthorizerAppid", "wxa")]);
        assert_eq!(
            parse_component_push(&gone).unwrap(),
            ComponentPush::Unauthorized {
                authorizer_appid: "wxa".into()
            }
        );
        let other = build_xml(&[("InfoType", "notify_third_fasteregister")]);
        assert!(matches!(
            parse_component_push(&other).unwrap(),
            ComponentPush::Other { .. }
        ));
        let broken = build_xml(&[("InfoType", "component_verify_ticket")]);
        assert_eq!(
            parse_component_push(&broken),
            Err(PushError::Missing("AppId"))
        );
    }

    #[test]
    fn audit_events_by_event() {
        let fail = build_xml(&[
            ("MsgType", "event"),
            ("Event", "weapp_audit_fail"),
            ("Reason", "bad <br> logo"),
        ]);
        assert_eq!(
            parse_audit_event(&fail).unwrap(),
            AuditEvent::Fail {
                reason: "bad <br> logo".into()
            }
        );
        let ok = build_xml(&[("Event", "weapp_audit_success"), ("SuccTime", "1")]);
        assert_eq!(parse_audit_event(&ok).unwrap().name(), "success");
        let text = build_xml(&[("MsgType", "text")]);
        assert_eq!(parse_audit_event(&text).unwrap().name(), "text");
    }

    #[test]
    fn cdata_survives_its_terminator() {
        let xml = build_xml(&[("Reason", "a]]>b")]);
        assert_eq!(fields(&xml).unwrap()["Reason"], "a]]>b");
    }
}
