// Copy buttons on every code block of the course text.
(function () {
  "use strict";

  function addButtons(root) {
    root.querySelectorAll(".prose pre").forEach(function (pre) {
      if (pre.querySelector(".copy-button")) {
        return;
      }
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.addEventListener("click", function () {
        const code = pre.querySelector("code") || pre;
        navigator.clipboard.writeText(code.innerText).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
      pre.appendChild(button);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { addButtons(document); });
})();
