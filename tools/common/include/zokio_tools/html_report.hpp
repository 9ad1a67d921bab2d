#pragma once

// One self-contained HTML page with line charts (ROADMAP.md, "Shared pieces, built once": the
// HTML report helper of `zokio-bench --html` and the soak report). Chart.js comes from Debian's
// libjs-chart.js and is inlined, so the page needs no network and no other file. Once every
// chart is drawn the page sets `data-charts-rendered="N"` on <body>, which a test reads from the
// DOM in headless Chromium (`chromium --headless --dump-dom`).
//
// Header-only; the caller writes the page with the shared output writer.

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace zokio::tools {

/// Where Debian's libjs-chart.js puts Chart.js.
inline constexpr const char* chart_js_path = "/usr/share/javascript/chart.js/chart.min.js";

struct chart_series {
  std::string label;
  std::vector<double> y;
};

struct line_chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x;
  std::vector<chart_series> series;
};

/// `text` escaped for HTML element content and attribute values.
inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// `text` made safe inside a <script> element: every '<' becomes \u003c, which means the same in
/// a JSON or JavaScript string, so nothing in the data can close the element.
inline std::string script_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

/// Chart.js read from `path`; nothing when it is missing, unreadable or empty.
inline std::optional<std::string> read_chart_js(const std::string& path = chart_js_path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (!in || text.empty()) {
    return std::nullopt;
  }
  return text;
}

/// The start of a page: doctype, charset, `title` (escaped) and `style`, up to the end of the
/// style element (the caller closes the head).
inline std::string html_head(std::string_view title, std::string_view style) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
         html_escape(title) + "</title>\n<style>" + std::string(style) + "</style>\n";
}

namespace detail {

inline std::string js_number(double v) {
  if (!(v == v) || v > 1e300 || v < -1e300) {
    return "null";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

inline std::string js_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '<') {
      out += "\\u003c"; // never closes the <script>
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

} // namespace detail

/// The whole page: `title`, then `body_html` (already HTML), then one canvas per chart. Without
/// Chart.js at `chart_js_path` the page says so instead of drawing, and `*missing` is set.
inline std::string render_html_report(const std::string& title, const std::string& body_html,
                                      const std::vector<line_chart>& charts,
                                      bool* missing = nullptr) {
  const std::string chart_js = read_chart_js().value_or(std::string());
  if (missing != nullptr) {
    *missing = chart_js.empty();
  }
  std::string page = html_head(title, "body{font-family:sans-serif;margin:2em;max-width:1100px}"
                                      "table{border-collapse:collapse}td,th{border:1px solid "
                                      "#ccc;padding:.2em .5em;text-align:left}.fail{color:#b00;"
                                      "font-weight:bold}.pass{color:#070}.chart{height:320px;"
                                      "margin:1.5em 0}") +
                     "</head>\n<body>\n<h1>" + html_escape(title) + "</h1>\n" + body_html + "\n";
  for (std::size_t i = 0; i < charts.size(); ++i) {
    page += "<h2>" + html_escape(charts[i].title) +
            "</h2>\n<div class=\"chart\"><canvas id=\"chart" + std::to_string(i) +
            "\"></canvas></div>\n";
  }
  if (chart_js.empty()) {
    page += "<p class=\"fail\">Chart.js was not found at " + html_escape(chart_js_path) +
            " (Debian: libjs-chart.js): no charts drawn.</p>\n</body></html>\n";
    return page;
  }
  page += "<script>\n" + chart_js + "\n</script>\n<script>\n(function(){\nconst charts=[";
  for (std::size_t i = 0; i < charts.size(); ++i) {
    const line_chart& c = charts[i];
    page += i == 0 ? "{" : ",{";
    page += "title:" + detail::js_string(c.title) + ",xl:" + detail::js_string(c.x_label) +
            ",yl:" + detail::js_string(c.y_label) + ",x:[";
    for (std::size_t k = 0; k < c.x.size(); ++k) {
      page += (k == 0 ? "" : ",") + detail::js_number(c.x[k]);
    }
    page += "],series:[";
    for (std::size_t s = 0; s < c.series.size(); ++s) {
      page += (s == 0 ? "{label:" : ",{label:") + detail::js_string(c.series[s].label) + ",y:[";
      for (std::size_t k = 0; k < c.series[s].y.size(); ++k) {
        page += (k == 0 ? "" : ",") + detail::js_number(c.series[s].y[k]);
      }
      page += "]}";
    }
    page += "]}";
  }
  page +=
      "];\nconst colors=['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b'];\n"
      "let drawn=0;\n"
      "charts.forEach((c,i)=>{\n"
      "  new Chart(document.getElementById('chart'+i),{type:'line',\n"
      "    data:{labels:c.x,datasets:c.series.map((s,k)=>({label:s.label,data:s.y,\n"
      "      borderColor:colors[k%colors.length],pointRadius:0,borderWidth:1.5}))},\n"
      "    options:{animation:false,responsive:true,maintainAspectRatio:false,\n"
      "      scales:{x:{title:{display:true,text:c.xl}},y:{title:{display:true,text:c.yl}}}}});\n"
      "  drawn++;\n"
      "});\n"
      "document.body.setAttribute('data-charts-rendered',String(drawn));\n"
      "})();\n</script>\n</body></html>\n";
  return page;
}

} // namespace zokio::tools
