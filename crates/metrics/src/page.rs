//! The service map's HTML page: cytoscape.js (vendored from npm by
//! `scripts/vendor-cytoscape.sh`, licence beside it) lays the graph out;
//! the page also lists every node and edge with its figures in the DOM,
//! where tests and screen readers find them.

use crate::map::ServiceMap;

const CYTOSCAPE: &str = include_str!("../assets/cytoscape.min.js");
const CYTOSCAPE_LICENSE: &str = include_str!("../assets/cytoscape.LICENSE");
const TEMPLATE: &str = include_str!("../assets/map.html");
const SCRIPT: &str = include_str!("../assets/map.js");

/// Text safe inside a `<script>` element: no `</` can end it early.
fn script_safe(s: &str) -> String {
    s.replace("</", "<\\/").replace("<!--", "<\\!--")
}

/// Text safe in HTML content.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn render(map: &ServiceMap, title: &str, refresh_secs: Option<u32>) -> String {
    let data = serde_json::to_string(map).unwrap_or_else(|_| String::from("{}"));
    let refresh = refresh_secs
        .map(|s| format!(" data-refresh=\"{s}\""))
        .unwrap_or_default();
    let licence = format!(
        "/*! cytoscape.js, vendored unmodified. Its licence:\n{}*/",
        CYTOSCAPE_LICENSE.replace("*/", "* /")
    );
    TEMPLATE
        .replace("{{TITLE}}", &html_escape(title))
        .replace("{{REFRESH}}", &refresh)
        .replace("{{CYTOSCAPE}}", &format!("{licence}\n{CYTOSCAPE}"))
        .replace("{{DATA}}", &script_safe(&data))
        .replace("{{SCRIPT}}", SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script() {
        let mut map = ServiceMap::default();
        map.nodes.push(crate::map::MapNode {
            id: "n0".into(),
            name: "</script><script>alert(1)</script>".into(),
            kind: "workload",
            calls_out: 0,
            calls_in: 0,
        });
        let html = render(&map, "<t>", None);
        assert_eq!(
            html.matches("</script>").count(),
            3,
            "only the page's own three scripts end"
        );
        assert!(html.contains("&lt;t&gt;"));
        assert!(
            !html.contains("<script src=") && !html.contains("<link"),
            "nothing is loaded from elsewhere"
        );
    }
}
