use serde_json::json;

use super::*;

fn go() -> GoRenderer {
    GoRenderer {
        missing: Missing::Error,
        snippets: Vec::new(),
    }
}

fn render(src: &str, ctx: Value) -> Result<String, String> {
    go().render("t.yml", src, &ctx).map_err(|e| e.message)
}

fn yaml(src: &str, ctx: Value) -> Result<String, String> {
    go().render_yaml("t.yml", src, &ctx, &|c| format!("value {:?}", c.value))
        .map_err(|e| e.message)
}

#[test]
fn smoke() {
    let ctx = json!({"a": "x", "l": ["b", "c"], "m": {"z": 1, "a": 2}});
    assert_eq!(
        render("{{ .a }}-{{ range .l }}{{ . }}{{ end }}", ctx.clone()).unwrap(),
        "x-bc"
    );
    assert_eq!(
        render(
            "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
            ctx.clone()
        )
        .unwrap(),
        "a=2;z=1;"
    );
    assert_eq!(render("{{\"{{\"}}", ctx.clone()).unwrap(), "{{");
    assert_eq!(
        yaml("a: {{ .a }}\nl: {{ toJson .l }}\n", ctx.clone()).unwrap(),
        "a: x\nl: [\"b\",\"c\"]\n"
    );
    let e = render("a\n{{ .nope }}", ctx.clone()).unwrap_err();
    assert!(e.starts_with("t.yml:2:4: missing value `nope`"), "{e}");
}
