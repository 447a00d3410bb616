use thiserror::Error;

/// Why an element could not be turned into one of the typed MucSub structures.
///
/// Every variant names the element and, where relevant, the attribute or child at fault so
/// a server can put it in an error `<text/>` and a client can log something useful.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The element is not the one this type parses (wrong name or namespace).
    #[error("expected <{expected} xmlns='{expected_ns}'/>, got <{got} xmlns='{got_ns}'/>")]
    WrongElement {
        /// Expected local name.
        expected: &'static str,
        /// Expected namespace.
        expected_ns: &'static str,
        /// Actual local name.
        got: String,
        /// Actual namespace.
        got_ns: String,
    },
    /// A required attribute is absent.
    #[error("missing attribute '{attribute}' on <{element}/>")]
    MissingAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
    },
    /// An attribute is present but its value is unusable.
    #[error("invalid attribute '{attribute}' on <{element}/>: {reason}")]
    BadAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A required child element is absent.
    #[error("missing child <{child}/> in <{element}/>")]
    MissingChild {
        /// Parent element name.
        element: &'static str,
        /// Child element name.
        child: &'static str,
    },
    /// A child is present but malformed.
    #[error("invalid child <{child}/> in <{element}/>: {reason}")]
    BadChild {
        /// Parent element name.
        element: &'static str,
        /// Child element name.
        child: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A data form field is missing, unknown or unusable.
    #[error("invalid field '{var}' in the form of <{element}/>: {reason}")]
    BadField {
        /// The element carrying the form.
        element: &'static str,
        /// The field's `var`.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
}
