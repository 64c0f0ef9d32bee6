/// The page's stylesheet: a readable column of cards, responsive chart grids (charts scale
/// with their viewBox), tabular numbers, and a print layout without navigation or shadows.
let reportStyleSheet = """
:root { --fg: #1d1d1f; --muted: #5b6068; --border: #dadce0; --best: #dff0e3; --best-edge: #2e7d4f; --bg: #f6f7f9; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1440px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 6px; }
h3 { font-size: 16px; margin: 22px 0 8px; }
h3 .desc { font-weight: 400; color: var(--muted); font-size: 14px; }
p { margin: 4px 0 10px; }
.meta, .note, footer { color: var(--muted); font-size: 13.5px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 10px 0 4px; font-size: 14px; }
nav a { color: #0b57d0; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { background: #fff; border: 1px solid var(--border); border-radius: 10px; padding: 16px 22px 20px; margin: 18px 0; }
.panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px 22px; align-items: start; }
.panels.wide { grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); }
/* Bottom-aligned: plots line up across a row even when a long method name wraps its caption. */
.panels.multiples { grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px 16px; align-items: end; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figure > figcaption { font-weight: 600; font-size: 14px; line-height: 1.3; margin: 0 0 4px 4px; }
svg.chart { width: 100%; height: auto; display: block; overflow: visible; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 4px 0 10px; font-size: 13.5px; }
.legend span.item { display: inline-flex; align-items: center; gap: 6px; }
.legend svg.swatch-line { width: 30px; height: 14px; }
.key-box { display: inline-block; width: 13px; height: 13px; border-radius: 2px; }
.key-gap { border: 1px solid #b0103f; background: repeating-linear-gradient(45deg, #c8103f 0 2px, #fff 2px 5px); }
.key-diagonal { display: inline-block; width: 24px; border-top: 2px dashed #555; }
.table-wrap { overflow-x: auto; margin-bottom: 8px; }
table.summary { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
table.summary caption { text-align: left; color: var(--muted); font-size: 13px; padding: 2px 0 6px; caption-side: top; }
table.summary th, table.summary td { padding: 5px 10px; border-bottom: 1px solid #ececec; text-align: right; white-space: nowrap; }
table.summary thead th { font-weight: 600; border-bottom: 2px solid #c8c8c8; vertical-align: bottom; background: #fafafa;
  white-space: normal; min-width: 4.2em; max-width: 8.5em; line-height: 1.25; }
table.summary th.method { text-align: left; font-weight: 500; white-space: normal; min-width: 10em; }
table.summary td.method { text-align: left; white-space: normal; }
table.summary td.warn { color: #b3261e; white-space: normal; text-align: left; }
/* The method column stays in view while a wide table scrolls sideways. */
table.summary tbody th.method { position: sticky; left: 0; background: #fff; z-index: 1; }
table.summary thead th.method { font-weight: 600; }
table.summary .dir { color: var(--muted); font-weight: 400; }
table.summary td.best { font-weight: 700; background: var(--best); box-shadow: inset 3px 0 0 var(--best-edge); }
table.summary td.na { color: #aaa; }
table.summary .sd { display: block; color: var(--muted); font-weight: 400; font-size: 11.5px; line-height: 1.1; }
table.summary tbody tr:hover { background: #f5f8ff; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 7px; vertical-align: -1px; }
.empty { padding: 14px 16px; background: #f8f9fb; border: 1px dashed #c4c8cf; border-radius: 8px; color: var(--muted); }
.empty code, p code { background: #eef0f3; padding: 1px 5px; border-radius: 4px; color: var(--fg); }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 8px 28px; }
.gallery-row { display: flex; align-items: center; gap: 10px; }
.gallery-row.long { grid-column: 1 / -1; }
.gallery-name { width: 105px; flex: none; font-size: 13px; text-align: right; color: var(--fg); }
.gallery-cells { display: flex; flex-wrap: wrap; gap: 6px; }
.gallery figure, .gallery-clean { text-align: center; font-size: 11.5px; color: var(--muted); }
.gallery-clean { display: inline-block; margin-bottom: 10px; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #ddd; background: #000; }
@media (max-width: 700px) { header, main, footer { padding: 0 10px; } section { padding: 12px; }
  .panels, .panels.wide, .gallery { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; font-size: 12px; }
  nav { display: none; }
  section { border: none; padding: 0; margin: 12px 0; }
  section h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .panels, .panels.wide { grid-template-columns: repeat(2, 1fr); }
  .panels.multiples { grid-template-columns: repeat(3, 1fr); }
}
"""
