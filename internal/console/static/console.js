// Vigil console: the only script, loaded same-origin under the page's Content-Security-Policy.
"use strict";
document.addEventListener("click", function (e) {
  var t = e.target.closest("[data-print]");
  if (t) { window.print(); return; }
  var c = e.target.closest("[data-confirm]");
  if (c && !window.confirm(c.getAttribute("data-confirm"))) { e.preventDefault(); }
});
