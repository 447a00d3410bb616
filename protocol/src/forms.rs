//! Data forms (XEP-0004) through `xmpp_parsers::data_forms`, with the few helpers the
//! form-carrying elements of this crate and the server share: read a form out of its parent
//! with an error that names the parent, look a field's values up by `var`, and build a
//! submitted or result form with a `FORM_TYPE`.
//!
//! The SDK builds its two submitted forms (the MAM query, push `<enable/>`) by hand over
//! minidom instead (see `mam::query` and `push`): xmpp-parsers' generated serialisers
//! weigh on the browser package, and those two are all the browser sends.

use minidom::Element;
pub use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType, Option_};

use crate::{ns, ParseError};

/// The `<x xmlns='jabber:x:data'/>` child of `parent` (named `element` in errors), parsed;
/// `Ok(None)` when there is none.
pub fn child(parent: &Element, element: &'static str) -> Result<Option<DataForm>, ParseError> {
    let Some(x) = parent.get_child("x", ns::DATA_FORMS) else {
        return Ok(None);
    };
    parse(x, element).map(Some)
}

/// Parses a form (`element` names its parent in errors).
pub fn parse(x: &Element, element: &'static str) -> Result<DataForm, ParseError> {
    DataForm::try_from(x.clone()).map_err(|e| ParseError::BadChild {
        element,
        child: "x",
        reason: e.to_string(),
    })
}

/// The values of the first field named `var`, skipping the FORM_TYPE.
pub fn values<'a>(form: &'a DataForm, var: &str) -> Option<&'a [String]> {
    fields(form)
        .find(|f| f.var.as_deref() == Some(var))
        .map(|f| f.values.as_slice())
}

/// The first value of the first field named `var`.
pub fn value<'a>(form: &'a DataForm, var: &str) -> Option<&'a str> {
    values(form, var)?.first().map(String::as_str)
}

/// The fields other than the FORM_TYPE, in form order.
pub fn fields(form: &DataForm) -> impl Iterator<Item = &Field> {
    form.fields
        .iter()
        .filter(move |f| !f.is_form_type(&form.type_))
}

/// A form of `kind` with a hidden `FORM_TYPE` and these fields.
pub fn with_type(kind: DataFormType, form_type: &str, fields: Vec<Field>) -> DataForm {
    DataForm::new(kind, form_type, fields)
}

/// `form` as an element with every field's type written out, `text-single` included:
/// xmpp-parsers leaves the default out, while ejabberd (and the forms this server always
/// sent) write it, and some clients read a field without one as something else.
pub fn with_explicit_types(form: DataForm) -> Element {
    let mut el = Element::from(form);
    for f in el.children_mut().filter(|c| c.is("field", ns::DATA_FORMS)) {
        if f.attr("type").is_none() {
            f.set_attr(
                minidom::rxml::Namespace::NONE,
                crate::xml::ncname("type"),
                "text-single".to_owned(),
            );
        }
    }
    el
}

/// A field with one value per item of `values` (type left to the form's context).
pub fn field<S: Into<String>>(var: &str, values: impl IntoIterator<Item = S>) -> Field {
    let mut f = Field::new(var, FieldType::TextSingle);
    f.values = values.into_iter().map(Into::into).collect();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_by_var_and_names_the_parent_on_errors() {
        let e: Element = "<query xmlns='urn:x'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>urn:x</value></field>\
            <field var='a'><value>1</value><value>2</value></field></x></query>"
            .parse()
            .unwrap();
        let form = child(&e, "query").unwrap().unwrap();
        assert_eq!(form.form_type(), Some("urn:x"));
        assert_eq!(value(&form, "a"), Some("1"));
        assert_eq!(values(&form, "a").unwrap().len(), 2);
        assert_eq!(value(&form, "FORM_TYPE"), None);
        assert_eq!(fields(&form).count(), 1);
        let bad: Element = "<query xmlns='urn:x'><x xmlns='jabber:x:data'/></query>"
            .parse()
            .unwrap();
        assert!(matches!(
            child(&bad, "query"),
            Err(ParseError::BadChild {
                element: "query",
                child: "x",
                ..
            })
        ));
        // A field other than `fixed` needs a `var`.
        let nameless: Element = "<query xmlns='urn:x'><x xmlns='jabber:x:data' type='submit'>\
            <field><value>1</value></field></x></query>"
            .parse()
            .unwrap();
        assert!(matches!(
            child(&nameless, "query"),
            Err(ParseError::BadChild { child: "x", .. })
        ));
        let none: Element = "<query xmlns='urn:x'/>".parse().unwrap();
        assert_eq!(child(&none, "query"), Ok(None));
    }

    #[test]
    fn built_forms_read_back() {
        let form = with_type(
            DataFormType::Submit,
            "urn:x",
            vec![field("a", ["1"]), field::<String>("b", [])],
        );
        let back = parse(&Element::from(form.clone()), "q").unwrap();
        assert_eq!(back, form);
        assert_eq!(value(&back, "a"), Some("1"));
        let explicit = with_explicit_types(form.clone());
        assert!(explicit.children().all(|f| f.attr("type").is_some()));
        assert_eq!(parse(&explicit, "q").unwrap(), form);
    }
}
