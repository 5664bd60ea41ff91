//! The Go engine against `kops toolbox template`. The golden cases restate, with inputs of our
//! own, the facts of kops 1.36.2's tests and docs: pkg/util/templater/templater_test.go
//! (TestRenderGeneralOK, TestRenderMissingValue, TestRenderIndent, TestRenderSnippet,
//! TestRenderContext, TestAllowForMissingVars), pkg/util/templater/integration_tests.yml (snippets
//! with trim markers, `include | indent` in a block scalar, a list printed in text) and
//! docs/operations/cluster_template.md (`toJson` of a list, snippets named by file name).

use serde_json::json;

use super::*;

fn engine(missing: Missing, snippets: &[(&str, &str)]) -> GoRenderer {
    GoRenderer {
        missing,
        snippets: snippets
            .iter()
            .map(|(name, source)| Snippet {
                name: (*name).to_string(),
                path: format!("snippets/{name}"),
                source: (*source).to_string(),
            })
            .collect(),
    }
}

fn render(src: &str, ctx: Value) -> Result<String, String> {
    engine(Missing::Error, &[])
        .render("t.yml", src, &ctx)
        .map_err(|e| e.message)
}

fn with_snippets(src: &str, ctx: Value, snippets: &[(&str, &str)]) -> Result<String, String> {
    engine(Missing::Error, snippets)
        .render("t.yml", src, &ctx)
        .map_err(|e| e.message)
}

fn yaml(src: &str, ctx: Value) -> Result<String, String> {
    yaml_with(src, ctx, &[])
}

fn yaml_with(src: &str, ctx: Value, snippets: &[(&str, &str)]) -> Result<String, String> {
    engine(Missing::Error, snippets)
        .render_yaml("t.yml", src, &ctx, &|c| format!("value {:?}", c.value))
        .map_err(|e| e.message)
}

#[test]
fn kops_general_cases_render_the_same() {
    // templater_test.go, TestRenderGeneralOK
    assert_eq!(render("plain text", json!({})).unwrap(), "plain text");
    assert_eq!(render("{{ lower \"MiXed\" }}", json!({})).unwrap(), "mixed");
    assert_eq!(render("{{ upper \"MiXed\" }}", json!({})).unwrap(), "MIXED");
    assert_eq!(
        render(
            "{{ .zones | join \";\" }}",
            json!({"zones": ["x", "y", "z"]})
        )
        .unwrap(),
        "x;y;z"
    );
}

#[test]
fn kops_context_cases_render_the_same() {
    // templater_test.go, TestRenderContext: strings, numbers, nested maps, range over maps.
    let ctx = json!({
        "who": "team",
        "n": 42,
        "nested": {"id": 7, "name": "inner"},
        "groups": [{"Name": "g0"}, {"Name": "g1"}],
    });
    assert_eq!(
        render("hi {{ .who }} {{.n}}", ctx.clone()).unwrap(),
        "hi team 42"
    );
    assert_eq!(
        render("{{ .nested.name }} {{ .nested.id }}", ctx.clone()).unwrap(),
        "inner 7"
    );
    assert_eq!(
        render("{{ range .groups }}{{ .Name }},{{ end }}", ctx).unwrap(),
        "g0,g1,"
    );
}

#[test]
fn kops_indent_leaves_the_first_line_alone() {
    // templater_test.go, TestRenderIndent: kops replaces Sprig's indent with its own.
    assert_eq!(
        render(
            "{{ .text | indent 3 }}",
            json!({"text": "first\nsecond\n\nfourth"})
        )
        .unwrap(),
        "first\n   second\n\n   fourth"
    );
    // nindent is Sprig's: a newline, then every line indented, empty ones too.
    assert_eq!(
        render("{{ .text | nindent 2 }}", json!({"text": "a\n\nb"})).unwrap(),
        "\n  a\n  \n  b"
    );
}

#[test]
fn kops_snippet_cases_render_the_same() {
    // templater_test.go, TestRenderSnippet
    assert_eq!(
        with_snippets(
            "say {{ include \"greeting\" . }}",
            json!({}),
            &[("greeting", "good morning")]
        )
        .unwrap(),
        "say good morning"
    );
    assert_eq!(
        with_snippets(
            "{{ include \"a\" . }} and {{ include \"b\" . }}",
            json!({"x": "X"}),
            &[("a", "first {{ .x }}"), ("b", "second")]
        )
        .unwrap(),
        "first X and second"
    );
}

#[test]
fn kops_integration_snippets_with_trim_markers() {
    // integration_tests.yml: a snippet that ranges with trim markers, included after a key.
    let ctx = json!({"stores": [
        {"name": "alpha", "peers": ["p1", "p2"]},
        {"name": "beta", "peers": ["p3"]},
    ]});
    let snippet = "{{- range .stores -}}\n- name: {{ .name }}\n  peers: {{ .peers | join \",\" }}\n{{ end -}}\n";
    let out = with_snippets(
        "stores:\n{{ include \"stores\" . -}}\n",
        ctx.clone(),
        &[("stores", snippet)],
    )
    .unwrap();
    assert_eq!(
        out,
        "stores:\n- name: alpha\n  peers: p1,p2\n- name: beta\n  peers: p3\n"
    );
    // The same through the YAML checks.
    assert_eq!(
        yaml_with(
            "stores:\n{{ include \"stores\" . -}}\n",
            ctx,
            &[("stores", snippet)]
        )
        .unwrap(),
        out
    );
}

#[test]
fn kops_integration_include_indented_into_a_block_scalar() {
    // integration_tests.yml: `include "unit" . | indent 4` inside a `|` block.
    let unit = "[Unit]\nDescription: a unit\n\n[Service]\nExecStart=/bin/true\n";
    let template =
        "hooks:\n  name: x.service\n  manifest: |\n    {{ include \"unit\" . | indent 4 -}}\n";
    let want = "hooks:\n  name: x.service\n  manifest: |\n    [Unit]\n    Description: a unit\n\n    [Service]\n    ExecStart=/bin/true\n";
    assert_eq!(
        with_snippets(template, json!({}), &[("unit", unit)]).unwrap(),
        want
    );
    assert_eq!(
        yaml_with(template, json!({}), &[("unit", unit)]).unwrap(),
        want
    );
}

#[test]
fn a_list_prints_as_go_prints_it_in_text_and_is_refused_in_yaml() {
    // integration_tests.yml prints a list with `{{ .members }}`: Go writes `[a b]`.
    let ctx = json!({"members": ["m1", "m2"]});
    assert_eq!(
        render("members: {{ .members }}", ctx.clone()).unwrap(),
        "members: [m1 m2]"
    );
    let err = yaml("members: {{ .members }}\n", ctx.clone()).unwrap_err();
    assert!(err.contains("the value is a list"), "{err}");
    assert!(err.contains("toJson"), "{err}");
    // docs/operations/cluster_template.md: toJson writes a list on one line.
    assert_eq!(
        yaml("spec:\n  access: {{ .members | toJson }}\n", ctx).unwrap(),
        "spec:\n  access: [\"m1\",\"m2\"]\n"
    );
}

#[test]
fn missing_values_are_errors_naming_the_line_and_the_values() {
    // templater_test.go, TestRenderMissingValue: missing keys fail, in snippets too.
    let err = render(
        "a: 1\nb: {{ .vpc_idd }}\n",
        json!({"vpc_id": "v", "zone": "z"}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "t.yml:2:7: missing value `vpc_idd`; did you mean `vpc_id`?; the values that exist: vpc_id, zone. Outputs that are null are left out by `terraform output -json`: use `default` on a value that may be missing, or `missing = \"no-value\"` for Go's `<no value>`"
    );
    let err = with_snippets(
        "{{ .present }}{{ include \"s\" . }}",
        json!({"present": "yes"}),
        &[("s", "\n\n{{ .absent }}")],
    )
    .unwrap_err();
    assert!(err.starts_with("snippets/s:3:4: "), "{err}");
    assert!(err.contains("missing value `absent`"), "{err}");
    // Inside a range, a nested key: no suggestion of the name that is missing itself.
    let err = render(
        "{{ range .subnets }}\n{{ .cluster_name }}\n{{ end }}",
        json!({"cluster_name": "c", "subnets": [{"id": "s"}]}),
    )
    .unwrap_err();
    assert!(
        err.starts_with("t.yml:2:4: missing value `cluster_name`"),
        "{err}"
    );
    assert!(!err.contains("did you mean `cluster_name`"), "{err}");
}

#[test]
fn the_compatibility_switch_restores_no_value() {
    // templater_test.go, TestAllowForMissingVars (`--fail-on-missing=false`).
    let go = engine(Missing::NoValue, &[]);
    assert_eq!(
        go.render("t", "{{ default \"fallback\" .name }}", &json!({}))
            .unwrap(),
        "fallback"
    );
    assert_eq!(
        go.render("t", "x={{ .name }}", &json!({})).unwrap(),
        "x=<no value>"
    );
}

#[test]
fn go_syntax_literals_and_sorted_maps() {
    assert_eq!(
        render("{{\"{{\"}} x {{\"}}\"}}", json!({})).unwrap(),
        "{{ x }}"
    );
    assert_eq!(
        render(
            "{{ range $k, $v := .m }}{{ $k }}={{ $v }} {{ end }}",
            json!({"m": {"zeta": 1, "alpha": 2, "mid": 3}})
        )
        .unwrap(),
        "alpha=2 mid=3 zeta=1 "
    );
    // A comment that trims before it only: Go keeps the line break after it.
    assert_eq!(
        render("a\n  {{- /* note */}}\nb", json!({})).unwrap(),
        "a\nb"
    );
    assert_eq!(
        render("a\n  {{- /* note */ -}}\nb", json!({})).unwrap(),
        "ab"
    );
    assert_eq!(
        render("{{ \"}}\" }}{{- /* x */}}\n{{ \"/*\" }}", json!({})).unwrap(),
        "}}\n/*"
    );
}

#[test]
fn sprig_functions_follow_sprig() {
    let ctx = json!({
        "s": "subnet-1", "e": "", "l": ["a", "b", "c"], "m": {"k": "v", "a": 1},
        "n": 7, "f": 2.5, "t": true, "csv": "x,y",
    });
    let cases = [
        ("{{ default \"d\" .e }}", "d"),
        ("{{ .s | default \"d\" }}", "subnet-1"),
        ("{{ quote .s }}", "\"subnet-1\""),
        ("{{ quote \"a\\\"b\" }}", "\"a\\\"b\""),
        ("{{ squote .s }}", "'subnet-1'"),
        ("{{ .s | upper }}", "SUBNET-1"),
        ("{{ \"  x \" | trim }}", "x"),
        ("{{ .s | replace \"-\" \"_\" }}", "subnet_1"),
        ("{{ .l | join \"+\" }}", "a+b+c"),
        ("{{ (split \",\" .csv)._1 }}", "y"),
        ("{{ splitList \",\" .csv | last }}", "y"),
        ("{{ list 1 \"x\" | toJson }}", "[1,\"x\"]"),
        ("{{ (dict \"a\" 1 \"b\" \"z\").b }}", "z"),
        ("{{ hasKey .m \"k\" }} {{ hasKey .m \"no\" }}", "true false"),
        ("{{ keys .m | join \",\" }}", "a,k"),
        ("{{ index .l 1 }} {{ index .m \"k\" }}", "b v"),
        ("{{ len .l }} {{ len .s }}", "3 8"),
        (
            "{{ if and (eq .n 7) (ne .s \"x\") (not .e) (lt 1 2) (gt 3 2) }}ok{{ end }}",
            "ok",
        ),
        ("{{ or .e \"fallback\" }}", "fallback"),
        ("{{ printf \"%s-%d-%v\" .s .n .t }}", "subnet-1-7-true"),
        ("{{ .m | toYaml }}", "a: 1\nk: v"),
        ("{{ .m | toJson }}", "{\"a\":1,\"k\":\"v\"}"),
        ("{{ \"<&>\" | toJson }}", "\"\\u003c\\u0026\\u003e\""),
        ("{{ .s | b64enc }}", "c3VibmV0LTE="),
        (
            "{{ contains \"net\" .s }} {{ hasPrefix \"sub\" .s }} {{ hasSuffix \"-1\" .s }}",
            "true true true",
        ),
        (
            "{{ trimPrefix \"subnet-\" .s }} {{ trimSuffix \"-1\" .s }}",
            "1 subnet",
        ),
        ("{{ ternary \"yes\" \"no\" .t }}", "yes"),
        ("{{ empty .e }} {{ empty .s }}", "true false"),
        ("{{ coalesce .e .s }}", "subnet-1"),
        ("{{ first .l }}{{ last .l }}", "ac"),
        ("{{ range until 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }}",
            "6 3 6 3",
        ),
        ("{{ int \"12\" }} {{ atoi \"x\" }} {{ int .f }}", "12 0 2"),
        ("{{ .f }}", "2.5"),
    ];
    for (src, want) in cases {
        assert_eq!(render(src, ctx.clone()).unwrap(), want, "{src}");
    }
}

#[test]
fn outputs_read_as_dot_value_get_terraform_s_shape() {
    // What `terraform output -json > values.json; kops toolbox template --values values.json`
    // gave the template, from kopsform's unwrapped outputs.
    let ctx = json!({
        "vpc_id": "vpc-1", "zones": ["a", "b"], "flat": "f",
        "outputs": {"vpc_id": "vpc-1", "zones": ["a", "b"], "flat": "f"},
        "cluster": {"name": "c.example.com"},
    });
    assert_eq!(
        render(
            "{{ .vpc_id.value }} {{ range $.zones.value }}{{ . }}{{ end }} {{ .flat }} {{ .vpc_id.type }} {{ .clusterName }}",
            ctx
        )
        .unwrap(),
        "vpc-1 ab f string c.example.com"
    );
}

#[test]
fn a_value_cannot_change_the_structure() {
    let err = yaml(
        "spec:\n  networkID: {{ .vpc }}\n  topology: x\n",
        json!({"vpc": "vpc-1\n  additionalPolicies: {node: '*'}"}),
    )
    .unwrap_err();
    assert!(
        err.starts_with("t.yml:2:17: the value of `{{.vpc}}` would change the YAML structure"),
        "{err}"
    );
    // Through a pipe, a variable, a snippet: the same.
    let hostile = json!({"x": "a\nevil: 1"});
    assert!(yaml("{{ $v := .x }}k: {{ $v | lower }}\n", hostile.clone()).is_err());
    assert!(
        yaml_with(
            "k: {{ include \"s\" . }}\n",
            hostile.clone(),
            &[("s", "{{ .x }}")]
        )
        .is_err()
    );
    // Quoted by `quote` any string is one scalar.
    assert_eq!(
        yaml("k: {{ .x | quote }}\n", hostile).unwrap(),
        "k: \"a\\nevil: 1\"\n"
    );
    // Typed values stay typed; a string that YAML reads as a number is refused unquoted.
    assert_eq!(yaml("n: {{ .n }}\n", json!({"n": 3})).unwrap(), "n: 3\n");
    assert!(yaml("n: {{ .n }}\n", json!({"n": "3"})).is_err());
}

#[test]
fn syntax_errors_have_a_position_and_unknown_functions_a_line() {
    // gotmpl alone accepts both of these; Go (and kopsform) refuse them.
    let err = render("a\n{{ range .x }}\n", json!({"x": []})).unwrap_err();
    assert!(
        err.starts_with("t.yml:2:1: Go template syntax error: this `range` is never closed"),
        "{err}"
    );
    let err = render(
        "a\n{{ if .x }}b{{ end }}\n{{- end }}\nlost",
        json!({"x": 1}),
    )
    .unwrap_err();
    assert!(
        err.starts_with("t.yml:3:1: Go template syntax error: unexpected {{end}}"),
        "{err}"
    );
    let err = render("{{ .x | }}", json!({"x": 1})).unwrap_err();
    assert!(err.starts_with("t.yml:1:"), "{err}");
    assert!(err.contains("Go template syntax error"), "{err}");
    // Keywords inside strings and comments are not blocks.
    assert_eq!(
        render("{{ \"{{ end }}\" }}{{/* {{ if */}}", json!({})).unwrap(),
        "{{ end }}"
    );
    let err = render("a\n{{ nosuch .x }}", json!({"x": 1})).unwrap_err();
    assert!(err.starts_with("t.yml:2:"), "{err}");
    let err = render("{{ ChannelRecommendedKopsKubernetesVersion }}", json!({})).unwrap_err();
    assert!(err.contains("does not provide"), "{err}");
}

#[test]
fn a_go_template_given_to_handlebars_suggests_the_go_engine() {
    let hb = crate::render::template::Renderer::new();
    for src in [
        "{{ range .zones }}\n- {{ . }}\n{{ end }}\n",
        "name: {{ .cluster_name.value }}\n",
        "x: {{ $.a }}\n",
    ] {
        let err = hb.render("t.yml", src, &json!({"zones": []})).unwrap_err();
        assert!(
            err.message.contains("engine = \"go\""),
            "{src}: {}",
            err.message
        );
    }
    let err = hb
        .render("t.yml", "{{nope}}", &json!({"a": 1}))
        .unwrap_err();
    assert!(!err.message.contains("engine"), "{}", err.message);
}

#[test]
fn hostile_values_land_as_one_scalar_or_are_refused() {
    // The handlebars engine's cases (template.rs), through Go actions.
    let template = "a:\n  q: \"{{ .v }}\"\n  p: {{ .v }}\n  s: '{{ .v }}'\n  l:\n  - {{ .v }}\n  k: x-{{ .v }}\n  z: {{ .v | quote }}\n";
    for v in ["plain", "ami-0abc", "1.30.2", "a b", "t3.medium"] {
        let out = yaml(template, json!({"v": v})).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let back: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(back["a"]["p"].as_str(), Some(v), "{v:?}");
        assert_eq!(back["a"]["z"].as_str(), Some(v), "{v:?}");
    }
    for v in [
        "a\nb: c",
        "x\"\n  evil: 1",
        "#x",
        "&x",
        "|",
        ">",
        "yes",
        "null",
        "~",
        "0x1F",
        "---\nkind: X",
        "a: b",
        "- x",
        "[a]",
        "{a: 1}",
        "*x",
        "!!str x",
        "",
        "010",
        "a #b",
        "on",
        "'",
        "\"",
        "x\u{2028}y: 1",
        "x\u{85}y",
    ] {
        let err = yaml(template, json!({"v": v})).expect_err(&format!("{v:?} was accepted"));
        assert!(err.starts_with("t.yml:"), "{v:?}: {err}");
    }
    // Through `quote` alone, every one of them is the string it is.
    for v in [
        "a\nb: c",
        "x\"\n  evil: 1",
        "#x",
        "yes",
        "",
        "'",
        "\"",
        "x\u{2028}y: 1",
        "\u{1}\u{7f}",
    ] {
        let out =
            yaml("z: {{ .v | quote }}\n", json!({"v": v})).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let back: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(back["z"].as_str(), Some(v), "{v:?} gave {out:?}");
    }
}

#[test]
fn kops_docs_cluster_template_example_renders() {
    // docs/operations/cluster_template.md: a value-driven InstanceGroup (`{{.clusterName}}.{{.dnsZone}}`,
    // `{{.awsRegion}}a`), an array through `toJson`, and snippets named by their file name
    // included with `indent` into block scalars. Our own values and snippets.
    let template = "\
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  labels:
    kops.k8s.io/cluster: {{.clusterName}}.{{.dnsZone}}
  name: nodes
spec:
  machineType: m5.large
  maxSize: {{ default \"10\" .node.max_size }}
  subnets:
  - {{.awsRegion}}a
  - {{.awsRegion}}b
  kubernetesApiAccess: {{.allowedIPs | toJson }}
  additionalPolicies:
    node: |
      {{ include \"nodes.json\" . | indent 6 }}
";
    let ctx = json!({
        "clusterName": "dev1", "dnsZone": "k8s.example.org", "awsRegion": "us-east-2",
        "node": {"max_size": 4},
        "allowedIPs": ["192.0.2.1/32", "198.51.100.0/24"],
    });
    let snippets = [(
        "nodes.json",
        "[\n  {\"Effect\": \"Allow\", \"Action\": [\"s3:Get*\"], \"Resource\": [\"arn:aws:s3:::{{ .clusterName }}-assets/*\"]}\n]",
    )];
    let want = "\
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  labels:
    kops.k8s.io/cluster: dev1.k8s.example.org
  name: nodes
spec:
  machineType: m5.large
  maxSize: 4
  subnets:
  - us-east-2a
  - us-east-2b
  kubernetesApiAccess: [\"192.0.2.1/32\",\"198.51.100.0/24\"]
  additionalPolicies:
    node: |
      [
        {\"Effect\": \"Allow\", \"Action\": [\"s3:Get*\"], \"Resource\": [\"arn:aws:s3:::dev1-assets/*\"]}
      ]
";
    assert_eq!(
        with_snippets(template, ctx.clone(), &snippets).unwrap(),
        want
    );
    assert_eq!(yaml_with(template, ctx, &snippets).unwrap(), want);
}

#[test]
fn snippets_are_read_from_folders_by_file_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("snippets/components")).unwrap();
    std::fs::write(dir.path().join("snippets/a.txt"), "top").unwrap();
    std::fs::write(
        dir.path().join("snippets/components/docker.options"),
        "deep",
    )
    .unwrap();
    std::fs::write(dir.path().join("extra.txt"), "file").unwrap();
    let snippets = load_snippets(
        dir.path(),
        &["snippets".to_string(), "extra.txt".to_string()],
    )
    .unwrap();
    let names: Vec<(&str, &str)> = snippets
        .iter()
        .map(|s| (s.name.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a.txt", "snippets/a.txt"),
            ("docker.options", "snippets/components/docker.options"),
            ("extra.txt", "extra.txt"),
        ]
    );
    let go = GoRenderer {
        missing: Missing::Error,
        snippets,
    };
    assert_eq!(
        go.render(
            "t",
            "{{ include \"docker.options\" . }} {{ template \"a.txt\" . }}",
            &json!({})
        )
        .unwrap(),
        "deep top"
    );
    let err = load_snippets(dir.path(), &["../outside".to_string()]).unwrap_err();
    assert!(
        err.message.contains("keep snippets inside the project"),
        "{}",
        err.message
    );
    let err = load_snippets(dir.path(), &["missing".to_string()]).unwrap_err();
    assert!(
        err.message.starts_with("missing: cannot read the snippets"),
        "{}",
        err.message
    );
}

#[test]
fn deep_nesting_is_refused_at_the_block_that_goes_too_deep() {
    // gotmpl alone stops at 100 levels without a position; kopsform refuses at the limits of its
    // handlebars templates and names the action, before gotmpl recurses.
    let deep = format!(
        "a\n{}x{}",
        "{{ if true }}".repeat(20000),
        "{{ end }}".repeat(20000)
    );
    assert_eq!(
        render(&deep, json!({})).unwrap_err(),
        "t.yml:2:833: Go template syntax error: blocks are nested more than 64 deep; kopsform refuses deeper templates"
    );
    let ok = format!("{}x{}", "{{ if true }}".repeat(64), "{{ end }}".repeat(64));
    assert_eq!(render(&ok, json!({})).unwrap(), "x");
    let parens = format!(
        "a\n{{{{ {}1{} }}}}",
        "(print ".repeat(20000),
        ")".repeat(20000)
    );
    assert_eq!(
        render(&parens, json!({})).unwrap_err(),
        "t.yml:2:1: Go template syntax error: parentheses are nested more than 32 deep; kopsform refuses deeper templates"
    );
    // Parentheses inside a string are text.
    let quoted = format!("{{{{ \"{}\" }}}}", "(".repeat(100));
    assert_eq!(render(&quoted, json!({})).unwrap(), "(".repeat(100));
}
