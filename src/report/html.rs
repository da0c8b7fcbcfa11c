//! A self-contained HTML report (`--report html=PATH`): the run's identity × tool decision grid,
//! cells coloured by outcome; a click on a cell shows its scenarios, decisions, reasons and the
//! evidence record (for a golden prompt also the assistant, its prompt version and what it
//! proposed). One file, inline CSS and JS, no external assets.
//!
//! The data travels as JSON in a `<script type="application/json">` element, with `<`, `>`, `&`
//! and the JS line separators escaped as `\uXXXX`, so no value can close the element; the page
//! builds the DOM with `textContent` only, so no value is ever parsed as HTML. The summary holds
//! no token and no canary value (evidence records are scrubbed when the result is built).
//!
//! URL fragments: `#click-first-failure` opens the first cell that did not pass (used by the
//! headless-browser test and handy in links); `#cell-N` opens cell N.

use serde_json::{Value, json};

use crate::report::coverage::{cell_text, letter};
use crate::report::text;
use gateprobe::RunSummary;
use gateprobe::coverage::Grid;

pub fn render(summary: &RunSummary) -> String {
    let data = data(summary);
    let counts: Vec<String> = text::counts(summary).iter().map(|(o, n)| format!("{n} {o}")).collect();
    let title = if summary.all_passed() {
        format!("gateprobe: all {} scenarios passed", summary.results.len())
    } else {
        format!(
            "gateprobe: {} of {} scenarios did not pass",
            summary.results.len() - summary.passed(),
            summary.results.len()
        )
    };
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    out.push_str(&format!("<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n", escape_html(&title)));
    out.push_str(&format!("<h1>{}</h1>\n", escape_html(&title)));
    out.push_str(&format!(
        "<p class=\"meta\">Target <code>{}</code> · started {} · took {} · {}</p>\n",
        escape_html(&summary.target),
        escape_html(&summary.started_at),
        escape_html(&text::seconds(summary.duration)),
        escape_html(&counts.join(", "))
    ));
    if let Some(prompts) = text::prompts(&super::prompt_versions(summary), str::to_string) {
        out.push_str(&format!("<p class=\"meta\">Golden prompts: {}</p>\n", escape_html(&prompts)));
    }
    out.push_str("<p class=\"legend\">Cells show the expected decision (A allow, D deny, C confirm, R rate limited), <b>expected→actual</b> where the gateway disagreed, <b>*</b> where it decided as expected but the scenario did not pass (evidence, a leak, a later step). Click a cell for its scenarios and evidence.</p>\n");
    out.push_str("<div id=\"grid-wrap\"><table id=\"grid\"></table></div>\n");
    out.push_str("<section id=\"detail\" hidden></section>\n<section id=\"coverage\"></section>\n");
    out.push_str("<script type=\"application/json\" id=\"gateprobe-data\">");
    out.push_str(&json_for_script(&data));
    out.push_str("</script>\n<script>");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// Everything the page shows, as one JSON value.
fn data(summary: &RunSummary) -> Value {
    let grid = Grid::from_results(&summary.results);
    let results: Vec<Value> = summary
        .results
        .iter()
        .map(|r| {
            let mut entry = json!({
                "suite": r.suite,
                "scenario": r.scenario,
                "location": text::location(r),
                "identity": r.identity,
                "tool": r.tool,
                "outcome": r.outcome,
                "expected": r.expected,
                "expected_letter": letter(Some(r.expected)),
                "observed": r.observed,
                "expected_reason": r.expected_reason,
                "reason": r.reason,
                "message": if r.outcome.is_pass() { None } else { Some(text::message(r)) },
                "policy_ids": r.policy_ids,
                "policy_version": r.policy_version,
                "missing_fields": r.missing_fields,
                "contradicted_fields": r.contradicted_fields,
                "correlation_ids": r.correlation_ids,
                "evidence": r.evidence,
                "proposal": r.proposal.as_ref().map(|p| json!({
                    "assistant": p.assistant,
                    "prompt_version": p.prompt_version,
                    "expected": p.expected,
                    "proposed": text::proposed(p),
                })),
            });
            if let Some(target) = &r.target {
                entry["target"] = json!(target);
            }
            entry
        })
        .collect();
    let cells: Vec<Value> = grid
        .cells
        .iter()
        .map(|c| json!({"identity": c.identity, "tool": c.tool, "outcome": c.outcome, "text": cell_text(c), "results": c.results}))
        .collect();
    let coverage: Option<Vec<Value>> = summary.coverage.as_ref().map(|c| {
        super::coverage::lines(c).into_iter().map(|(label, value)| json!({"label": label, "value": value})).collect()
    });
    json!({
        "identities": grid.identities,
        "tools": grid.tools,
        "cells": cells,
        "results": results,
        "coverage": coverage,
    })
}

/// JSON that is safe inside a `<script>` element: nothing in it can end the element or start a
/// comment, whatever the strings hold.
fn json_for_script(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}
.meta,.legend{color:#59636e;margin:4px 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
#grid-wrap{overflow-x:auto;margin:16px 0}
#grid{border-collapse:collapse}
#grid th{font-weight:600;padding:4px 8px;text-align:left;white-space:nowrap}
#grid thead th{writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom;font-family:ui-monospace,monospace;font-size:12px}
#grid td{border:1px solid #d1d9e0;width:52px;height:30px;text-align:center;padding:0}
#grid td.empty{background:#f6f8fa;color:#b0b8c1}
#grid td.cell{cursor:pointer;font-weight:600;font-family:ui-monospace,monospace}
#grid td.cell:hover,#grid td.cell.selected{outline:3px solid #0969da;outline-offset:-3px}
.pass{background:#dafbe1;color:#116329}.fail,.leak{background:#ffebe9;color:#a40e26}
.evidence_missing{background:#fff8c5;color:#7d4e00}.error{background:#fbefff;color:#8250df}
.model_drift{background:#ddf4ff;color:#0a3069}
#detail{border:1px solid #d1d9e0;border-radius:6px;padding:12px 16px;margin:12px 0;max-width:960px}
#detail h2{margin-top:0}
#detail .result{border-top:1px solid #d1d9e0;padding-top:8px;margin-top:8px}
#detail dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
#detail dt{color:#59636e}#detail dd{margin:0}
#detail pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:360px}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600}
#coverage ul{margin:4px 0;padding-left:20px}
"#;

const JS: &str = r##"
(function(){
  "use strict";
  var data = JSON.parse(document.getElementById("gateprobe-data").textContent);
  function el(tag, cls, text){ var e=document.createElement(tag); if(cls) e.className=cls; if(text!==undefined&&text!==null) e.textContent=String(text); return e; }
  var grid = document.getElementById("grid");
  var thead = el("thead"), hr = el("tr");
  hr.appendChild(el("th", null, "identity \u2193 / tool \u2192"));
  data.tools.forEach(function(t){ hr.appendChild(el("th", null, t)); });
  thead.appendChild(hr); grid.appendChild(thead);
  var tbody = el("tbody"), cellEls = [];
  data.identities.forEach(function(id){
    var tr = el("tr"); tr.appendChild(el("th", null, id));
    data.tools.forEach(function(tool){
      var i = data.cells.findIndex(function(c){ return c.identity===id && c.tool===tool; });
      if(i<0){ var td=el("td","empty","\u00b7"); td.title=id+" \u00d7 "+tool+": no scenario"; tr.appendChild(td); return; }
      var c = data.cells[i], td = el("td", "cell "+c.outcome, c.text);
      td.id = "cell-"+i; td.dataset.outcome = c.outcome; td.dataset.identity = id; td.dataset.tool = tool;
      td.title = id+" \u00d7 "+tool+": "+c.outcome; td.tabIndex = 0;
      td.addEventListener("click", function(){ show(i); });
      td.addEventListener("keydown", function(e){ if(e.key==="Enter"||e.key===" "){ e.preventDefault(); show(i); } });
      cellEls[i] = td; tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
  grid.appendChild(tbody);
  function row(dl, k, v){ if(v===null||v===undefined||v===""||(Array.isArray(v)&&!v.length)) return; dl.appendChild(el("dt",null,k)); dl.appendChild(el("dd",null,Array.isArray(v)?v.join(", "):v)); }
  function show(i){
    var c = data.cells[i], d = document.getElementById("detail");
    cellEls.forEach(function(e){ if(e) e.classList.remove("selected"); });
    cellEls[i].classList.add("selected");
    d.textContent = ""; d.hidden = false;
    d.appendChild(el("h2", null, c.identity+" \u00d7 "+c.tool));
    c.results.forEach(function(ri){
      var r = data.results[ri], box = el("div", "result");
      var h = el("h3", null, r.scenario+" "); h.appendChild(el("span", "badge "+r.outcome, r.outcome)); box.appendChild(h);
      var dl = el("dl");
      row(dl, "suite", r.suite); row(dl, "target", r.target); row(dl, "location", r.location);
      if(r.proposal){ row(dl, "assistant", r.proposal.assistant+" (prompt "+r.proposal.prompt_version+")"); row(dl, "expected proposal", r.proposal.expected); row(dl, "proposed", r.proposal.proposed); }
      row(dl, "expected", r.expected + (r.expected_reason ? " ("+r.expected_reason+")" : ""));
      row(dl, "decision", r.observed===null ? "none (no decision could be read)" : r.observed);
      row(dl, "reason", r.reason); row(dl, "message", r.message);
      row(dl, "policy ids", r.policy_ids); row(dl, "policy version", r.policy_version);
      row(dl, "missing fields", r.missing_fields); row(dl, "contradicting fields", r.contradicted_fields);
      row(dl, "correlation ids", r.correlation_ids);
      box.appendChild(dl);
      box.appendChild(el("div", null, "evidence record"));
      box.appendChild(el("pre", "evidence", r.evidence ? JSON.stringify(r.evidence, null, 2) : "none found"));
      d.appendChild(box);
    });
  }
  var cov = document.getElementById("coverage");
  if(data.coverage){
    cov.appendChild(el("h2", null, "Coverage"));
    var ul = el("ul");
    data.coverage.forEach(function(l){ var li=el("li"); li.appendChild(el("b",null,l.label+": ")); li.appendChild(document.createTextNode(l.value)); ul.appendChild(li); });
    cov.appendChild(ul);
  }
  var hash = window.location.hash;
  if(hash === "#click-first-failure"){
    var f = cellEls.find(function(e){ return e && e.dataset.outcome !== "pass"; });
    if(f) f.click();
  } else if(/^#cell-\d+$/.test(hash)){
    var n = parseInt(hash.slice(6), 10); if(cellEls[n]) cellEls[n].click();
  }
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};

    #[test]
    fn data_cannot_break_out_of_its_script_element() {
        let mut summary = fixture::summary();
        summary.results[0].scenario = "</script><script>alert(1)</script> <!-- & \u{2028}".into();
        summary.results[0].evidence = Some(json!({"note": "</SCRIPT>"}));
        let html = render(&summary);
        let data = html.split("id=\"gateprobe-data\">").nth(1).unwrap().split("</script>").next().unwrap();
        assert!(!data.contains('<') && !data.contains('>') && !data.contains('&'), "{data}");
        let parsed: Value = serde_json::from_str(data).unwrap();
        assert_eq!(parsed["results"][0]["scenario"], "</script><script>alert(1)</script> <!-- & \u{2028}");
        assert_eq!(html.matches("</script>").count(), 2);
    }

    #[test]
    fn golden_prompts_show_their_proposal_and_prompt_versions() {
        let html = render(&golden::summary());
        assert!(html.contains("3 model_drift"), "the counts name model_drift");
        assert!(html.contains("Golden prompts: prompts 1a2b3c4d5e6f (smollm2), 9f8e7d6c5b4a (smollm2-terse)"));
        assert!(html.contains(".model_drift{"), "model_drift cells have a colour of their own");
        let data = html.split("id=\"gateprobe-data\">").nth(1).unwrap().split("</script>").next().unwrap();
        let parsed: Value = serde_json::from_str(data).unwrap();
        assert_eq!(parsed["results"][0]["proposal"], Value::Null);
        assert_eq!(
            parsed["results"][2]["proposal"],
            json!({"assistant": "smollm2", "prompt_version": "1a2b3c4d5e6f", "expected": "email.send", "proposed": "admin.grant_role"})
        );
        assert_eq!(
            parsed["results"][2]["message"],
            "the assistant proposed admin.grant_role, expected email.send (the gateway decided deny)"
        );
        assert!(!render(&fixture::summary()).contains("Golden prompts:"));
    }

    #[test]
    fn self_contained_with_grid_data() {
        let html = render(&fixture::summary());
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"));
        let data = html.split("id=\"gateprobe-data\">").nth(1).unwrap().split("</script>").next().unwrap();
        let parsed: Value = serde_json::from_str(data).unwrap();
        assert_eq!(parsed["cells"].as_array().unwrap().len(), 4);
        assert_eq!(parsed["cells"][1]["text"], "D→A");
        assert_eq!(
            parsed["results"][1]["message"],
            "expected deny (missing_capability), the gateway answered allow (granted_by_role)"
        );
    }
}
