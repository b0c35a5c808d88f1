// Instructor pages: a read-only view of a learner's live terminal, and
// replay of recorded terminals with asciinema-player.
//
// The live view never sends anything to the server. Its terminal is built
// so that what the learner's programs print cannot act on the instructor's
// browser. It has no clipboard access (no OSC 52 handler is loaded), no
// window operations, and links (OSC 8) that do nothing.
(function () {
  "use strict";

  function wsUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  function startWatch() {
    const panel = document.getElementById("watch-panel");
    if (!panel) {
      return;
    }
    const state = document.getElementById("watch-state");
    const term = new Terminal({
      disableStdin: true,
      cursorBlink: false,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 13,
      scrollback: 5000,
      windowOptions: {},
      linkHandler: { activate: function () {}, allowNonHttpProtocols: false },
    });
    term.open(document.getElementById("watch-terminal"));
    const socket = new WebSocket(wsUrl(panel.dataset.socket));
    socket.binaryType = "arraybuffer";
    window.labWatch = { term: term, socket: socket };

    socket.addEventListener("open", function () {
      state.textContent = "Watching (read-only)";
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "start") {
        term.reset();
        term.resize(message.width, message.height);
        state.textContent = "Watching (read-only)";
      } else if (message.type === "resize") {
        term.resize(message.cols, message.rows);
      } else if (message.type === "waiting") {
        state.textContent = "The learner has no terminal open right now.";
      } else if (message.type === "ended") {
        state.textContent = "Stopped: " + message.message + ".";
      }
    });
    socket.addEventListener("close", function () {
      if (!state.textContent.startsWith("Stopped")) {
        state.textContent = "Disconnected. Reload the page to watch again.";
      }
    });
  }

  function startPlayers() {
    const target = document.getElementById("player");
    document.querySelectorAll(".play-recording").forEach(function (button) {
      button.addEventListener("click", function () {
        target.replaceChildren();
        AsciinemaPlayer.create(button.dataset.src, target, {
          fit: "width",
          idleTimeLimit: 2,
          autoPlay: true,
        });
        target.scrollIntoView({ behavior: "smooth" });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startWatch();
    startPlayers();
  });
})();
