// Vigil console: the only script, loaded same-origin under the page's Content-Security-Policy.
"use strict";
document.addEventListener("click", function (e) {
  var t = e.target.closest("[data-print]");
  if (t) { window.print(); return; }
  var c = e.target.closest("[data-confirm]");
  if (c && !window.confirm(c.getAttribute("data-confirm"))) { e.preventDefault(); }
});
// On narrow screens table rows become cards; label each cell with its column's header.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table").forEach(function (t) {
    var heads = Array.from(t.querySelectorAll("thead th")).map(function (h) { return h.textContent.trim(); });
    if (!heads.length) { return; }
    t.querySelectorAll("tbody tr").forEach(function (r) {
      Array.from(r.cells).forEach(function (c, i) { if (heads[i] && c.colSpan === 1) { c.setAttribute("data-label", heads[i]); } });
    });
  });
});
