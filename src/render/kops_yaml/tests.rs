//! Expected texts derived from sigs.k8s.io/yaml v1.6.0 (`Marshal`: encoding/json, then
//! go-yaml v2's encode.go and emitterc.go), as cmd/kops/toolbox_template.go (kops 1.36.2) calls
//! them for `--format-yaml`.

use super::{format_document, go_g, key_order};
use std::cmp::Ordering;

fn formatted(doc: &str) -> String {
    format_document(doc).unwrap().unwrap()
}

#[test]
fn a_cluster_spec_is_sorted_and_lists_sit_under_their_key() {
    let doc = "kind: Cluster\napiVersion: kops.k8s.io/v1alpha2\nmetadata:\n  name: a.example.com\nspec:\n  subnets:\n  - name: a\n    zone: eu-west-1a\n    cidr: 10.0.0.0/24\n  kubernetesVersion: 1.30.2\n  count: 3\n  ratio: 1.5\n  big: 1000000\n  huge: 1e21\n  small: 0.00001\n  on: true\n  empty: {}\n  none: []\n  nothing: null\n  quoted: \"true\"\n  version: \"1.0\"\n  blank: \"\"\n";
    assert_eq!(
        formatted(doc),
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: a.example.com\nspec:\n  big: 1000000\n  blank: \"\"\n  count: 3\n  empty: {}\n  huge: 1e+21\n  kubernetesVersion: 1.30.2\n  none: []\n  nothing: null\n  \"on\": true\n  quoted: \"true\"\n  ratio: 1.5\n  small: 1e-05\n  subnets:\n  - cidr: 10.0.0.0/24\n    name: a\n    zone: eu-west-1a\n  version: \"1.0\"\n"
    );
}

#[test]
fn block_strings_lists_of_lists_and_quoting() {
    let doc = "a: |\n  line one\n  line two\nb: |-\n  no newline\nc:\n- - x\n  - y\nd: '*star'\ne: 'it''s: here'\nf: \"tab\\there\"\ng: 2001-12-14\nh: '0755'\n";
    assert_eq!(
        formatted(doc),
        "a: |\n  line one\n  line two\nb: no newline\nc:\n- - x\n  - \"y\"\nd: '*star'\ne: 'it''s: here'\nf: \"tab\\there\"\ng: \"2001-12-14\"\nh: \"0755\"\n"
    );
}

#[test]
fn long_plain_lines_fold_at_80_columns() {
    let words = vec!["word"; 30].join(" ");
    let out = formatted(&format!("description: {words}\n"));
    let lines: Vec<&str> = out.lines().collect();
    // The fold comes at the first space past column 80.
    assert_eq!(lines[0].len(), 13 + 5 * 14 - 1);
    assert!(lines[1].starts_with("  word"));
}

#[test]
fn empty_documents_are_left_out_and_others_refused() {
    assert_eq!(format_document("").unwrap(), None);
    assert_eq!(format_document("# only a comment\n").unwrap(), None);
    assert_eq!(format_document("null\n").unwrap(), None);
    assert_eq!(format_document("{}\n").unwrap(), None);
    assert!(
        format_document("- a\n")
            .unwrap_err()
            .contains("a list, not a mapping")
    );
    assert!(
        format_document("just text\n")
            .unwrap_err()
            .contains("a string, not a mapping")
    );
}

#[test]
fn floats_print_as_go_g() {
    assert_eq!(go_g(1.5), "1.5");
    assert_eq!(go_g(1e6), "1e+06");
    assert_eq!(go_g(1234567.5), "1.2345675e+06");
    assert_eq!(go_g(123456.5), "123456.5");
    assert_eq!(go_g(0.0001), "0.0001");
    assert_eq!(go_g(0.00001), "1e-05");
    assert_eq!(go_g(-2.5e-7), "-2.5e-07");
    assert_eq!(go_g(1e21), "1e+21");
}

#[test]
fn keys_sort_as_go_yaml_v2_sorts_them() {
    assert_eq!(key_order("a2", "a10"), Ordering::Less);
    assert_eq!(key_order("Zeta", "alpha"), Ordering::Less);
    assert_eq!(key_order("a_b", "ab"), Ordering::Less);
    assert_eq!(key_order("a", "ab"), Ordering::Less);
    assert_eq!(key_order("a1", "ab"), Ordering::Less);
}
