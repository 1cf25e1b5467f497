// Pop-ups for the Clients pages. The pages work without this script (pop-ups then
// render in place); with it, a pop-up is a modal <dialog>: focus moves into it, Tab
// stays inside, Esc closes it, and focus returns to the button that opened it.
(function () {
  "use strict";

  function focusFirst(dialog) {
    var target = dialog.querySelector("[autofocus]") ||
      dialog.querySelector("input:not([type=hidden]), select, textarea, button, a[href]");
    if (target) { target.focus(); }
  }

  function openModal(dialog, opener) {
    if (dialog.open) { dialog.close(); }
    dialog.opener = opener || null;
    dialog.showModal();
    focusFirst(dialog);
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open"));
      if (dialog && dialog.showModal) {
        event.preventDefault();
        openModal(dialog, opener);
      }
      return;
    }
    var closer = event.target.closest("[data-close]");
    if (closer) {
      var owner = closer.closest("dialog");
      if (owner) {
        event.preventDefault();
        owner.close();
      }
    }
  });

  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      // A pop-up the server opened from the address (?invite=1, ?websites=…) leaves
      // the address clean, so reloading does not open it again.
      var back = dialog.getAttribute("data-return");
      if (back && dialog.hasAttribute("data-autoopen")) {
        history.replaceState(null, "", back);
        dialog.removeAttribute("data-autoopen");
      }
      if (dialog.opener && document.contains(dialog.opener)) { dialog.opener.focus(); }
    });
    if (dialog.hasAttribute("data-autoopen") && dialog.showModal) {
      openModal(dialog, null);
    }
  });

  // Live filtering of website lists as one types (the Search button asks the server).
  document.querySelectorAll("[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter"));
    if (!list) { return; }
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      list.querySelectorAll("li[data-domain]").forEach(function (item) {
        item.hidden = q !== "" && item.getAttribute("data-domain").toLowerCase().indexOf(q) < 0;
      });
    });
  });

  // One click per form: a double click must not send an action twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method.toLowerCase() !== "post") { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
})();
