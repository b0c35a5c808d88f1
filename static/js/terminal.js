// The lab terminal: xterm.js on a websocket to the learner's shell.
// Input and resize go up as JSON text frames; output comes down as binary
// frames that xterm.js decodes as UTF-8 across frame boundaries.
(function () {
  "use strict";

  let started = false;

  function wsUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  function startTerminal() {
    const panel = document.getElementById("terminal-panel");
    const status = document.getElementById("session-status");
    if (started || !panel || !status || status.dataset.status !== "ready") {
      return;
    }
    started = true;
    panel.hidden = false;
    const state = document.getElementById("terminal-state");

    const term = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 14,
      scrollback: 5000,
      // Hyperlinks printed by programs (OSC 8) do nothing when clicked.
      linkHandler: { activate: function () {}, allowNonHttpProtocols: false },
    });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(document.getElementById("terminal"));
    fit.fit();

    const socket = new WebSocket(wsUrl(panel.dataset.socket));
    socket.binaryType = "arraybuffer";
    window.labTerminal = { term: term, socket: socket };

    function send(message) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
      }
    }

    socket.addEventListener("open", function () {
      state.textContent = "Connected";
      send({ type: "resize", cols: term.cols, rows: term.rows });
      term.focus();
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.type === "error") {
          term.write("\r\n\x1b[31m" + message.message + "\x1b[0m\r\n");
        } else if (message.type === "exit") {
          term.write("\r\n[shell exited; reload the page for a new one]\r\n");
        } else if (message.type === "mark") {
          // Acknowledge the mark once xterm.js has drawn the output before
          // it, which the write callback signals because writes run in order.
          // The server pauses the shell while too much output is
          // unacknowledged.
          term.write("", function () { send({ type: "ack", mark: message.id }); });
        }
        return;
      }
      term.write(new Uint8Array(event.data));
    });
    socket.addEventListener("close", function (event) {
      state.textContent = "Disconnected (" + event.code + "). Reload the page to reconnect.";
    });

    // xterm.js wraps a paste in ESC[200~ ... ESC[201~ but keeps escape
    // characters inside it, so a pasted ESC[201~ could end the paste early
    // and run what follows. Pasted text loses its escape characters first.
    // NOTE: Ctrl+V stays ^V (quoted insert, which vim and readline use), so
    // a paste right after it has its start marker quoted and its lines run.
    term.element.addEventListener("paste", function (event) {
      event.preventDefault();
      event.stopImmediatePropagation();
      const text = (event.clipboardData || window.clipboardData).getData("text/plain");
      term.paste(text.replace(/[\x1b\x9b]/g, ""));
    }, true);

    term.onData(function (data) { send({ type: "input", data: data }); });
    term.onResize(function (size) { send({ type: "resize", cols: size.cols, rows: size.rows }); });
    window.addEventListener("resize", function () { fit.fit(); });
  }

  // When the session ends or fails, reload so the page offers a new start.
  function reloadWhenFinished() {
    const status = document.getElementById("session-status");
    if (status && (status.dataset.status === "ended" || status.dataset.status === "failed")) {
      window.location.reload();
    }
  }

  document.addEventListener("htmx:oobAfterSwap", reloadWhenFinished);
  document.addEventListener("DOMContentLoaded", startTerminal);
  document.addEventListener("htmx:afterSettle", startTerminal);
  document.addEventListener("htmx:oobAfterSwap", startTerminal);
})();
