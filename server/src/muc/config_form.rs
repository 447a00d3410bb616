//! The room configuration (`muc#roomconfig`), its owner form and the `muc#roominfo` form,
//! as data forms of `xmpp_parsers::data_forms` (through `mucsub_protocol::forms`).

use minidom::Element;
use mucsub_protocol::forms::{self, DataForm, DataFormType, Field, FieldType, Option_};
use serde::{Deserialize, Serialize};

use crate::ns;

const MAX_USERS_OPTIONS: &[u32] = &[5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000];

/// Stored as TOML in `muc_rooms.config`; every field has a default so a config written by an
/// older version still loads after fields are added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    pub name: String,
    pub description: String,
    pub lang: String,
    pub persistent: bool,
    pub public: bool,
    pub public_list: bool,
    pub password_protected: bool,
    pub password: String,
    pub max_users: u32,
    /// `true`: real JIDs visible to anyone (non-anonymous); `false`: to moderators only.
    pub whois_anyone: bool,
    pub members_only: bool,
    pub moderated: bool,
    pub members_by_default: bool,
    pub change_subject: bool,
    pub allow_private_messages: bool,
    pub allow_invites: bool,
    pub allow_subscription: bool,
    pub mam: bool,
    /// Not a form field: a room created by a join stays locked until its owner accepts the
    /// instant room or submits a configuration (XEP-0045 §10.1, docs/protocol.md S22).
    /// Kept with the configuration so a restart or an unload does not open it.
    pub locked: bool,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            name: String::new(),
            description: String::new(),
            lang: "en".into(),
            persistent: true,
            public: true,
            public_list: true,
            password_protected: false,
            password: String::new(),
            max_users: 200,
            whois_anyone: false,
            members_only: false,
            // Not moderated: everyone may speak, as `muc_unmoderated` then says. (A moderated
            // room where everyone gets voice anyway advertised `muc_moderated`, and stock
            // clients told users to request permission to write.)
            moderated: false,
            members_by_default: true,
            change_subject: true,
            allow_private_messages: true,
            allow_invites: false,
            allow_subscription: true,
            mam: true,
            locked: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError(pub String);

fn field(var: &str, kind: FieldType, label: &str, values: &[&str]) -> Field {
    let mut f = Field::new(var, kind);
    f.label = Some(label.to_owned());
    f.values = values.iter().map(|v| (*v).to_owned()).collect();
    f
}

fn boolean(var: &str, label: &str, v: bool) -> Field {
    field(var, FieldType::Boolean, label, &[if v { "1" } else { "0" }])
}

fn text(var: &str, label: &str, v: &str) -> Field {
    let values: &[&str] = if v.is_empty() { &[] } else { &[v] };
    field(var, FieldType::TextSingle, label, values)
}

fn option(label: &str, value: &str) -> Option_ {
    Option_ {
        label: Some(label.to_owned()),
        value: value.to_owned(),
    }
}

fn parse_bool(var: &str, v: &str) -> Result<bool, FormError> {
    match v.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(FormError(format!("Bad value '{other}' for field '{var}'"))),
    }
}

impl RoomConfig {
    /// The owner configuration form (XEP-0045 §10.2), field names and order as ejabberd.
    pub fn to_form(&self, room_jid: &str) -> Element {
        let max_users = self.max_users.to_string();
        let mut max = field(
            "muc#roomconfig_maxusers",
            FieldType::ListSingle,
            "Maximum Number of Occupants",
            &[&max_users],
        );
        for n in MAX_USERS_OPTIONS {
            let s = n.to_string();
            max.options.push(option(&s, &s));
        }
        let whois_value = if self.whois_anyone {
            "anyone"
        } else {
            "moderators"
        };
        let mut whois = field(
            "muc#roomconfig_whois",
            FieldType::ListSingle,
            "Present real Jabber IDs to",
            &[whois_value],
        );
        whois.options = vec![
            option("Moderators Only", "moderators"),
            option("Anyone", "anyone"),
        ];
        let fields = vec![
            text("muc#roomconfig_roomname", "Room title", &self.name),
            text(
                "muc#roomconfig_roomdesc",
                "Room description",
                &self.description,
            ),
            text(
                "muc#roomconfig_lang",
                "Natural Language for Room Discussions",
                &self.lang,
            ),
            boolean(
                "muc#roomconfig_persistentroom",
                "Make room persistent",
                self.persistent,
            ),
            boolean(
                "muc#roomconfig_publicroom",
                "Make room public searchable",
                self.public,
            ),
            boolean(
                "public_list",
                "Make participants list public",
                self.public_list,
            ),
            boolean(
                "muc#roomconfig_passwordprotectedroom",
                "Make room password protected",
                self.password_protected,
            ),
            field(
                "muc#roomconfig_roomsecret",
                FieldType::TextPrivate,
                "Password",
                &[],
            ),
            max,
            whois,
            boolean(
                "muc#roomconfig_membersonly",
                "Make room members-only",
                self.members_only,
            ),
            boolean(
                "muc#roomconfig_moderatedroom",
                "Make room moderated",
                self.moderated,
            ),
            boolean(
                "members_by_default",
                "Default users as participants",
                self.members_by_default,
            ),
            boolean(
                "muc#roomconfig_changesubject",
                "Allow users to change the subject",
                self.change_subject,
            ),
            boolean(
                "allow_private_messages",
                "Allow users to send private messages",
                self.allow_private_messages,
            ),
            boolean(
                "muc#roomconfig_allowinvites",
                "Allow users to send invites",
                self.allow_invites,
            ),
            boolean(
                "allow_subscription",
                "Allow subscription",
                self.allow_subscription,
            ),
            boolean("mam", "Enable message archiving", self.mam),
        ];
        let mut form = forms::with_type(DataFormType::Form, ns::MUC_ROOMCONFIG, fields);
        form.title = Some(format!("Configuration of room {room_jid}"));
        forms::with_explicit_types(form)
    }

    /// Applies a submitted form; fields not present keep their value.
    pub fn apply_submit(&self, x: &Element) -> Result<RoomConfig, FormError> {
        let form: DataForm =
            forms::parse(x, "query").map_err(|e| FormError(format!("Malformed form: {e}")))?;
        if let Some(t) = form.form_type().filter(|t| *t != ns::MUC_ROOMCONFIG) {
            return Err(FormError(format!("Unknown FORM_TYPE '{t}'")));
        }
        let mut c = self.clone();
        let mut secret_given = false;
        for f in forms::fields(&form) {
            let Some(var) = f.var.as_deref() else {
                continue;
            };
            let first = f.values.first().cloned().unwrap_or_default();
            let b = || parse_bool(var, &first);
            match var {
                "muc#roomconfig_roomname" => c.name = first,
                "muc#roomconfig_roomdesc" => c.description = first,
                "muc#roomconfig_lang" => c.lang = first,
                "muc#roomconfig_persistentroom" => c.persistent = b()?,
                "muc#roomconfig_publicroom" => c.public = b()?,
                "public_list" => c.public_list = b()?,
                "muc#roomconfig_passwordprotectedroom" => c.password_protected = b()?,
                "muc#roomconfig_roomsecret" => {
                    secret_given = true;
                    c.password = first
                }
                "muc#roomconfig_maxusers" => {
                    c.max_users = match first.trim() {
                        "none" | "" => 5000,
                        n => n
                            .parse()
                            .map_err(|_| FormError(format!("Bad value '{n}' for field '{var}'")))?,
                    }
                }
                "muc#roomconfig_whois" => {
                    c.whois_anyone = match first.as_str() {
                        "anyone" => true,
                        "moderators" => false,
                        other => {
                            return Err(FormError(format!("Bad value '{other}' for field '{var}'")))
                        }
                    }
                }
                "muc#roomconfig_membersonly" => c.members_only = b()?,
                "muc#roomconfig_moderatedroom" => c.moderated = b()?,
                "members_by_default" => c.members_by_default = b()?,
                "muc#roomconfig_changesubject" => c.change_subject = b()?,
                "allow_private_messages" => c.allow_private_messages = b()?,
                "muc#roomconfig_allowinvites" => c.allow_invites = b()?,
                "allow_subscription" | "muc#roomconfig_allow_subscription" => {
                    c.allow_subscription = b()?
                }
                "mam" | "muc#roomconfig_mam" | "muc#roomconfig_enablearchiving" => c.mam = b()?,
                // Fields we show nothing for (ejabberd extras, hats, pubsub…) are accepted
                // and ignored so forms filled by other clients still submit.
                _ => {}
            }
        }
        if c.password_protected && c.password.is_empty() && !secret_given {
            // Turning protection on without a secret would lock everyone out.
            return Err(FormError("A password is required".into()));
        }
        Ok(c)
    }

    /// The status codes a configuration change announces (XEP-0045 §10.2.1).
    pub fn change_codes(&self, new: &RoomConfig) -> Vec<u16> {
        let mut codes = vec![104];
        if self.mam != new.mam {
            codes.push(if new.mam { 170 } else { 171 });
        }
        if self.whois_anyone != new.whois_anyone {
            codes.push(if new.whois_anyone { 172 } else { 173 });
        }
        codes
    }

    /// The `muc_*` disco features describing this configuration.
    pub fn features(&self) -> Vec<&'static str> {
        vec![
            if self.public {
                "muc_public"
            } else {
                "muc_hidden"
            },
            if self.persistent {
                "muc_persistent"
            } else {
                "muc_temporary"
            },
            if self.members_only {
                "muc_membersonly"
            } else {
                "muc_open"
            },
            if self.whois_anyone {
                "muc_nonanonymous"
            } else {
                "muc_semianonymous"
            },
            if self.moderated {
                "muc_moderated"
            } else {
                "muc_unmoderated"
            },
            if self.password_protected {
                "muc_passwordprotected"
            } else {
                "muc_unsecured"
            },
        ]
    }

    /// The `muc#roominfo` extended disco form.
    pub fn roominfo_form(&self, occupants: usize) -> Element {
        let fields = vec![
            text(
                "muc#roominfo_occupants",
                "Number of occupants",
                &occupants.to_string(),
            ),
            text(
                "muc#roomconfig_roomname",
                "Natural-Language Room Name",
                &self.name,
            ),
            text(
                "muc#roominfo_description",
                "Room description",
                &self.description,
            ),
            boolean(
                "muc#roominfo_changesubject",
                "Occupants May Change the Subject",
                self.change_subject,
            ),
            boolean(
                "muc#roomconfig_allowinvites",
                "Occupants are allowed to invite others",
                self.allow_invites,
            ),
            text(
                "muc#roominfo_lang",
                "Natural Language for Room Discussions",
                &self.lang,
            ),
        ];
        forms::with_explicit_types(forms::with_type(
            DataFormType::Result_,
            ns::MUC_ROOMINFO,
            fields,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(fields: &[(&str, &str)]) -> Element {
        let fields = fields
            .iter()
            .map(|(var, v)| forms::field(var, [*v]))
            .collect();
        DataForm {
            type_: DataFormType::Submit,
            title: None,
            instructions: None,
            fields,
        }
        .into()
    }

    #[test]
    fn submit_updates_only_given_fields_and_accepts_both_subscription_names() {
        let c = RoomConfig::default();
        let n = c
            .apply_submit(&submit(&[
                ("FORM_TYPE", ns::MUC_ROOMCONFIG),
                ("muc#roomconfig_membersonly", "1"),
                ("muc#roomconfig_allow_subscription", "0"),
            ]))
            .unwrap();
        assert!(n.members_only && !n.allow_subscription);
        assert_eq!(n.name, c.name);
        let n2 = n
            .apply_submit(&submit(&[("allow_subscription", "true")]))
            .unwrap();
        assert!(n2.allow_subscription);
    }

    #[test]
    fn bad_values_are_rejected() {
        let c = RoomConfig::default();
        assert!(c
            .apply_submit(&submit(&[("muc#roomconfig_moderatedroom", "maybe")]))
            .is_err());
        assert!(c
            .apply_submit(&submit(&[("muc#roomconfig_maxusers", "lots")]))
            .is_err());
        assert!(c
            .apply_submit(&submit(&[("muc#roomconfig_passwordprotectedroom", "1")]))
            .is_err());
    }

    #[test]
    fn the_owner_form_submits_back_unchanged() {
        let c = RoomConfig {
            name: "Lab".into(),
            whois_anyone: true,
            max_users: 50,
            ..RoomConfig::default()
        };
        let mut form = forms::parse(&c.to_form("lab@conference.localhost"), "query").unwrap();
        assert_eq!(form.form_type(), Some(ns::MUC_ROOMCONFIG));
        form.type_ = DataFormType::Submit;
        let back = RoomConfig::default().apply_submit(&form.into()).unwrap();
        assert_eq!(back, c);
        let info = forms::parse(&c.roominfo_form(3), "query").unwrap();
        assert_eq!(forms::value(&info, "muc#roominfo_occupants"), Some("3"));
    }

    #[test]
    fn a_form_of_another_kind_is_refused() {
        let other = submit(&[("FORM_TYPE", "urn:x"), ("mam", "1")]);
        assert!(RoomConfig::default().apply_submit(&other).is_err());
    }

    #[test]
    fn config_round_trips_through_toml() {
        let c = RoomConfig {
            name: "Lab".into(),
            members_only: true,
            ..RoomConfig::default()
        };
        let s = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<RoomConfig>(&s).unwrap(), c);
        assert_eq!(
            toml::from_str::<RoomConfig>("").unwrap(),
            RoomConfig::default()
        );
    }
}
