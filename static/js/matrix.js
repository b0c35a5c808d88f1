// The instructors' matrix: rows arrive over the websocket as out-of-band
// swaps; a "reload" signal (learners joined) refetches the whole table.
(function () {
  "use strict";
  document.body.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "matrix-reload-signal") {
      return;
    }
    htmx.ajax("GET", window.location.href, {
      target: "#matrix-body",
      select: "#matrix-body",
      swap: "outerHTML",
    });
  });
})();
