//! The cases of kops's third_party/forked/helmstrvals/parser_test.go (v1.36.2), the examples of
//! docs/operations/cluster_template.md, and the corners of parser.go kept as kops has them.

use super::apply;
use serde_json::{Map, Value, json};

fn parsed(text: &str, strings: bool) -> Value {
    let mut values = Map::new();
    apply(text, &mut values, strings).unwrap_or_else(|e| panic!("{text}: {e}"));
    Value::Object(values)
}

fn error(text: &str) -> String {
    apply(text, &mut Map::new(), false).unwrap_err()
}

#[test]
fn kops_parser_test_cases() {
    assert_eq!(parsed("foo=bar", false), json!({"foo": "bar"}));
    assert_eq!(parsed("foo=42", false), json!({"foo": 42}));
    assert_eq!(parsed("foo=true", false), json!({"foo": true}));
    assert_eq!(parsed("foo=null", false), json!({"foo": null}));
    assert_eq!(parsed("foo=0123", false), json!({"foo": "0123"}));
    assert_eq!(parsed("a.b.c=v", false), json!({"a": {"b": {"c": "v"}}}));
    assert_eq!(
        parsed("fruits={apple,banana}", false),
        json!({"fruits": ["apple", "banana"]})
    );
    assert_eq!(
        parsed("items[0]=hi,items[1]=lo", false),
        json!({"items": ["hi", "lo"]})
    );
    assert_eq!(parsed("a=1,b=2", false), json!({"a": 1, "b": 2}));
    assert_eq!(parsed(r"foo=a\,b", false), json!({"foo": "a,b"}));
    assert_eq!(parsed("a=42,b=true", true), json!({"a": "42", "b": "true"}));
    assert!(!error("foo").is_empty());
    assert!(!error("foo=v,bar").is_empty());
}

#[test]
fn typed_values_as_typedval_reads_them() {
    // parser.go typedVal: case-insensitive true/false/null, "0", ParseInt without a leading 0.
    assert_eq!(
        parsed(
            "a=TRUE,b=False,c=NULL,d=0,e=-5,f=+7,g=1.5,h=1e3,i=007,j=99999999999999999999,k=",
            false
        ),
        json!({"a": true, "b": false, "c": null, "d": 0, "e": -5, "f": 7, "g": "1.5", "h": "1e3", "i": "007", "j": "99999999999999999999", "k": ""})
    );
}

#[test]
fn the_cluster_template_docs_example() {
    // docs/operations/cluster_template.md: --set version=1.0,foo.bar=baz --set foo.myArray[1]=false
    // --set-string foo.myArray={1,2,3} gives {version: 1.0 (a string: not an integer), foo: {bar:
    // baz, myArray: ["1","2","3"]}}.
    let mut values = Map::new();
    apply("version=1.0,foo.bar=baz", &mut values, false).unwrap();
    apply("foo.myArray[1]=false", &mut values, false).unwrap();
    assert_eq!(
        Value::Object(values.clone()),
        json!({"version": "1.0", "foo": {"bar": "baz", "myArray": [null, false]}})
    );
    apply("foo.myArray={1,2,3}", &mut values, true).unwrap();
    assert_eq!(
        Value::Object(values),
        json!({"version": "1.0", "foo": {"bar": "baz", "myArray": ["1", "2", "3"]}})
    );
}

#[test]
fn paths_merge_into_existing_values() {
    let mut values = json!({"a": {"x": 1}, "l": ["p", "q", "r"]})
        .as_object()
        .cloned()
        .unwrap();
    apply("a.y=2,l[1]=z,m[0][1]=n,o[0].k=v,e=x", &mut values, false).unwrap();
    assert_eq!(
        Value::Object(values),
        json!({"a": {"x": 1, "y": 2}, "l": ["p", "z", "r"], "m": [[null, "n"]], "o": [{"k": "v"}], "e": "x"})
    );
}

#[test]
fn the_quiet_ends_of_kops() {
    // Each ends the text inside parser.go's io.EOF paths, which are not errors.
    assert_eq!(parsed("a=", false), json!({"a": ""}));
    assert_eq!(parsed("a.", false), json!({}));
    assert_eq!(parsed("a[0]", false), json!({"a": []}));
    // A new list item reached through `.` is added only when more text follows.
    assert_eq!(parsed("a[0].b=x", false), json!({"a": []}));
    assert_eq!(
        parsed("a[0].b=x,c=1", false),
        json!({"a": [{"b": "x"}], "c": 1})
    );
    assert_eq!(parsed("=x", false), json!({}));
    assert_eq!(parsed("a={}", false), json!({"a": [""]}));
}

#[test]
fn malformed_assignments_are_errors_that_say_why() {
    assert_eq!(error("foo"), "`foo` has no value; write foo=VALUE");
    assert_eq!(
        error("a,b=1"),
        "`a` has no value (a name cannot end with a comma)"
    );
    assert_eq!(error("a={1,2"), "a list must end with `}`");
    assert_eq!(error("a[x]=1"), "`[x]` is not a list index");
    assert_eq!(error("a[-1]=1"), "the negative index -1 is not allowed");
    assert_eq!(
        error("a[70000]=1"),
        "the index 70000 is greater than the largest allowed, 65536"
    );
    assert_eq!(
        error("a[0]x=1"),
        "`a[0]` is followed by `x`; write a[0]=VALUE"
    );
    let mut values = json!({"a": 3}).as_object().cloned().unwrap();
    assert_eq!(
        apply("a.b=1", &mut values, false).unwrap_err(),
        "`a.`: `a` is a number, not a map"
    );
    assert_eq!(
        apply("a[0]=1", &mut values, false).unwrap_err(),
        "`a[0]`: `a` is a number, not a list"
    );
    assert!(error(&format!("{}b=1", "a.".repeat(31))).contains("more than 30 nested names"));
}
