// CodeMirror on the lab page's editor textarea. The textarea stays the
// form field: every change is copied back so htmx posts the current text.
(function () {
  "use strict";

  function attach(root) {
    root.querySelectorAll("textarea.editor-text").forEach(function (textarea) {
      if (textarea.dataset.attached) {
        return;
      }
      textarea.dataset.attached = "true";
      const editor = CodeMirror.fromTextArea(textarea, {
        mode: textarea.dataset.mode,
        lineNumbers: true,
        indentUnit: 2,
        tabSize: 2,
        indentWithTabs: false,
        extraKeys: { Tab: function (cm) { cm.replaceSelection("  "); } },
      });
      editor.on("change", function () { editor.save(); });
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) { attach(event.target); });
})();
