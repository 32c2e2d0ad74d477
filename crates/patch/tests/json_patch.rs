//! JSON Patch (RFC 6902): the RFC's Appendix A examples, every operation's error cases, and
//! atomicity.

use patch::{apply_json_patch, OpFailure, PatchError};
use serde_json::{json, Value};

/// (name, document, patch, expected result).
fn rfc_6902_appendix_a() -> Vec<(&'static str, Value, Value, Value)> {
    vec![
        (
            "A.1 adding an object member",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        (
            "A.2 adding an array element",
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            json!({"foo": ["bar", "qux", "baz"]}),
        ),
        (
            "A.3 removing an object member",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            json!({"foo": "bar"}),
        ),
        (
            "A.4 removing an array element",
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
            json!({"foo": ["bar", "baz"]}),
        ),
        (
            "A.5 replacing a value",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            json!({"baz": "boo", "foo": "bar"}),
        ),
        (
            "A.6 moving a value",
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ),
        (
            "A.7 moving an array element",
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
            json!({"foo": ["all", "cows", "eat", "grass"]}),
        ),
        (
            "A.8 testing a value: success",
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
        ),
        (
            "A.10 adding a nested member object",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
            json!({"foo": "bar", "child": {"grandchild": {}}}),
        ),
        (
            "A.11 ignoring unrecognized elements",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        (
            "A.14 ~ escape ordering",
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
            json!({"/": 9, "~1": 10}),
        ),
        (
            "A.16 adding an array value",
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
            json!({"foo": ["bar", ["abc", "def"]]}),
        ),
        (
            "copy",
            json!({"a": {"b": [1]}}),
            json!([{"op": "copy", "from": "/a/b", "path": "/c"}, {"op": "add", "path": "/c/-", "value": 2}]),
            json!({"a": {"b": [1]}, "c": [1, 2]}),
        ),
        (
            "slash and tilde in member names",
            json!({"a/b": 1, "m~n": 2}),
            json!([{"op": "replace", "path": "/a~1b", "value": 3}, {"op": "remove", "path": "/m~0n"}]),
            json!({"a/b": 3}),
        ),
        (
            "test compares numbers by value and objects regardless of order",
            json!({"n": 1, "o": {"x": 1, "y": [1.0]}}),
            json!([{"op": "test", "path": "/n", "value": 1.0}, {"op": "test", "path": "/o", "value": {"y": [1], "x": 1}}]),
            json!({"n": 1, "o": {"x": 1, "y": [1.0]}}),
        ),
        (
            "the empty pointer replaces the whole document",
            json!({"a": 1}),
            json!([{"op": "add", "path": "", "value": {"b": 2}}]),
            json!({"b": 2}),
        ),
        (
            "moving onto itself changes nothing",
            json!({"a": 1}),
            json!([{"op": "move", "from": "/a", "path": "/a"}]),
            json!({"a": 1}),
        ),
        (
            "a FHIR edit: replace a given name, append a telecom",
            json!({"resourceType": "Practitioner", "name": [{"given": ["A", "B"]}]}),
            json!([
                {"op": "test", "path": "/name/0/given/1", "value": "B"},
                {"op": "replace", "path": "/name/0/given/1", "value": "C"},
                {"op": "add", "path": "/telecom", "value": []},
                {"op": "add", "path": "/telecom/-", "value": {"system": "phone", "value": "1"}}
            ]),
            json!({"resourceType": "Practitioner", "name": [{"given": ["A", "C"]}], "telecom": [{"system": "phone", "value": "1"}]}),
        ),
    ]
}

#[test]
fn rfc_6902_examples_apply() {
    for (name, mut doc, patch, expected) in rfc_6902_appendix_a() {
        apply_json_patch(&mut doc, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc, expected, "{name}");
    }
}

/// (name, document, patch, failing operation index, expected text in the error).
fn failures() -> Vec<(&'static str, Value, Value, usize, &'static str)> {
    let doc = json!({"foo": "bar", "arr": [1, 2], "obj": {"k": "v"}});
    vec![
        (
            "A.9 test error",
            json!({"baz": "qux"}),
            json!([{"op": "test", "path": "/baz", "value": "bar"}]),
            0,
            "test failed at \"/baz\": expected \"bar\", found \"qux\"",
        ),
        (
            "A.12 adding to a nonexistent target",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
            0,
            "no member \"baz\"",
        ),
        (
            "A.15 comparing strings and numbers",
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": "10"}]),
            0,
            "test failed",
        ),
        (
            "pointer without leading slash",
            doc.clone(),
            json!([{"op": "remove", "path": "foo"}]),
            0,
            "must be empty or start with '/'",
        ),
        (
            "bad tilde escape",
            doc.clone(),
            json!([{"op": "remove", "path": "/f~2"}]),
            0,
            "'~' must be followed by",
        ),
        (
            "remove missing member",
            doc.clone(),
            json!([{"op": "remove", "path": "/nope"}]),
            0,
            "no member \"nope\"",
        ),
        (
            "remove past the end",
            doc.clone(),
            json!([{"op": "remove", "path": "/arr/2"}]),
            0,
            "index 2 is out of range for a list of 2",
        ),
        (
            "remove with '-'",
            doc.clone(),
            json!([{"op": "remove", "path": "/arr/-"}]),
            0,
            "past the end",
        ),
        (
            "leading zero index",
            doc.clone(),
            json!([{"op": "replace", "path": "/arr/01", "value": 0}]),
            0,
            "not an array index",
        ),
        (
            "add past the end",
            doc.clone(),
            json!([{"op": "add", "path": "/arr/3", "value": 0}]),
            0,
            "index 3 is out of range",
        ),
        (
            "add under a primitive",
            doc.clone(),
            json!([{"op": "add", "path": "/foo/x", "value": 0}]),
            0,
            "/foo is not an object or array",
        ),
        (
            "replace missing",
            doc.clone(),
            json!([{"op": "replace", "path": "/obj/none", "value": 0}]),
            0,
            "no member \"none\"",
        ),
        (
            "move from missing",
            doc.clone(),
            json!([{"op": "move", "from": "/none", "path": "/x"}]),
            0,
            "no member \"none\"",
        ),
        (
            "move into own child",
            doc.clone(),
            json!([{"op": "move", "from": "/obj", "path": "/obj/k2"}]),
            0,
            "cannot move \"/obj\" into its own child",
        ),
        (
            "copy from missing",
            doc.clone(),
            json!([{"op": "copy", "from": "/arr/9", "path": "/x"}]),
            0,
            "past the end",
        ),
        (
            "test missing",
            doc.clone(),
            json!([{"op": "test", "path": "/none", "value": 1}]),
            0,
            "no member",
        ),
        (
            "remove the whole document",
            doc.clone(),
            json!([{"op": "remove", "path": ""}]),
            0,
            "cannot be removed",
        ),
        (
            "unknown op",
            doc.clone(),
            json!([{"op": "frobnicate", "path": "/foo"}]),
            0,
            "unknown operation \"frobnicate\"",
        ),
        (
            "missing op",
            doc.clone(),
            json!([{"path": "/foo"}]),
            0,
            "missing \"op\"",
        ),
        (
            "missing path",
            doc.clone(),
            json!([{"op": "remove"}]),
            0,
            "missing \"path\"",
        ),
        (
            "path not a string",
            doc.clone(),
            json!([{"op": "remove", "path": 3}]),
            0,
            "\"path\" must be a string",
        ),
        (
            "missing value",
            doc.clone(),
            json!([{"op": "add", "path": "/x"}]),
            0,
            "missing \"value\"",
        ),
        (
            "missing from",
            doc.clone(),
            json!([{"op": "copy", "path": "/x"}]),
            0,
            "missing \"from\"",
        ),
        (
            "operation not an object",
            doc.clone(),
            json!(["add"]),
            0,
            "must be a JSON object",
        ),
        (
            "the second operation fails",
            doc.clone(),
            json!([{"op": "remove", "path": "/foo"}, {"op": "remove", "path": "/foo"}]),
            1,
            "operation 1 (remove)",
        ),
        (
            "a later test fails",
            doc.clone(),
            json!([{"op": "replace", "path": "/foo", "value": "x"}, {"op": "add", "path": "/y", "value": 1}, {"op": "test", "path": "/foo", "value": "bar"}]),
            2,
            "test failed",
        ),
    ]
}

#[test]
fn failing_operations_are_reported_and_change_nothing() {
    for (name, doc, patch, index, expected) in failures() {
        let mut patched = doc.clone();
        let err = apply_json_patch(&mut patched, &patch).expect_err(name);
        match &err {
            PatchError::Operation { index: i, .. } => assert_eq!(*i, index, "{name}: {err}"),
            other => panic!("{name}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(expected), "{name}: {err}");
        assert_eq!(patched, doc, "{name}: the document must be unchanged");
    }
}

#[test]
fn a_patch_must_be_an_array() {
    let mut doc = json!({"a": 1});
    for bad in [json!({"op": "add"}), json!("x"), json!(null)] {
        let err = apply_json_patch(&mut doc, &bad).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDocument(_)), "{err}");
    }
    apply_json_patch(&mut doc, &json!([])).unwrap();
    assert_eq!(doc, json!({"a": 1}));
}

#[test]
fn errors_carry_data() {
    let mut doc = json!({"a": 1});
    let err =
        apply_json_patch(&mut doc, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
    assert_eq!(
        err,
        PatchError::Operation {
            index: 0,
            op: "test".into(),
            failure: Box::new(OpFailure::TestFailed {
                pointer: "/a".into(),
                expected: Box::new(json!(2)),
                actual: Box::new(json!(1))
            })
        }
    );
}
