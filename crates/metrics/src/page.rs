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
        "/*! cytoscape.js, vendored unmodified. Its licence:\n{}*/\n",
        CYTOSCAPE_LICENSE.replace("*/", "* /")
    );
    let title = html_escape(title);
    let data = script_safe(&data);
    // One pass over the template: each placeholder is filled once, so text
    // put in (a title, a node's name) is never searched for placeholders
    // again, and the 440 KB script is copied once instead of being scanned
    // by every later replacement.
    let mut page = String::with_capacity(
        TEMPLATE.len()
            + licence.len()
            + CYTOSCAPE.len()
            + SCRIPT.len()
            + data.len()
            + 2 * title.len(),
    );
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        page.push_str(&rest[..start]);
        match &rest[start + 2..start + len] {
            "TITLE" => page.push_str(&title),
            "REFRESH" => page.push_str(&refresh),
            "CYTOSCAPE" => {
                page.push_str(&licence);
                page.push_str(CYTOSCAPE);
            }
            "DATA" => page.push_str(&data),
            "SCRIPT" => page.push_str(SCRIPT),
            other => unreachable!("map.html names an unknown placeholder {{{{{other}}}}}"),
        }
        rest = &rest[start + len + 2..];
    }
    page.push_str(rest);
    page
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

    #[test]
    fn names_that_look_like_placeholders_stay_text() {
        let mut map = ServiceMap::default();
        map.nodes.push(crate::map::MapNode {
            id: "n0".into(),
            name: "{{SCRIPT}}{{CYTOSCAPE}}".into(),
            kind: "workload",
            calls_out: 0,
            calls_in: 0,
        });
        let html = render(&map, "{{DATA}}", None);
        assert!(html.contains("<title>{{DATA}}</title>"));
        assert!(html.contains("\"name\":\"{{SCRIPT}}{{CYTOSCAPE}}\""));
        assert_eq!(html.matches(SCRIPT).count(), 1);
        assert_eq!(html.matches("cytoscape.js, vendored unmodified").count(), 1);
        assert!(!html.contains("{{TITLE}}") && !html.contains("{{REFRESH}}"));
    }
}
