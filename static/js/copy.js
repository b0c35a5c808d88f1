// Buttons on the code blocks of the course text: "Copy" on every block,
// and "Run in terminal" on command blocks of a lab page with a terminal.
(function () {
  "use strict";

  function codeText(pre) {
    const code = pre.querySelector("code") || pre;
    return code.innerText.replace(/\n+$/, "");
  }

  function flash(button, text) {
    const original = button.textContent;
    button.textContent = text;
    setTimeout(function () { button.textContent = original; }, 1500);
  }

  function addButton(pre, label, className, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "code-button " + className;
    button.textContent = label;
    button.addEventListener("click", function () { onClick(button); });
    pre.appendChild(button);
  }

  function sendToTerminal(button, text) {
    const terminal = window.labTerminal;
    if (!terminal || terminal.socket.readyState !== WebSocket.OPEN) {
      flash(button, "Start the lab first");
      return;
    }
    // Each line goes as if typed and ended with Enter, heredocs included.
    const typed = text.split("\n").join("\r") + "\r";
    terminal.socket.send(JSON.stringify({ type: "input", data: typed }));
    terminal.term.focus();
    flash(button, "Sent");
  }

  function addButtons(root) {
    root.querySelectorAll(".prose pre").forEach(function (pre) {
      if (pre.querySelector(".code-button")) {
        return;
      }
      addButton(pre, "Copy", "copy-button", function (button) {
        navigator.clipboard.writeText(codeText(pre)).then(function () {
          flash(button, "Copied");
        });
      });
      const runnable = pre.parentElement && pre.parentElement.classList.contains("runnable");
      if (runnable && document.getElementById("terminal-panel")) {
        addButton(pre, "Run in terminal", "run-button", function (button) {
          sendToTerminal(button, codeText(pre));
        });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { addButtons(document); });
  // Solutions arrive later through htmx and need their buttons too.
  document.addEventListener("htmx:afterSwap", function (event) { addButtons(event.target); });
})();
