// voicepipe pages: asking before an action, and "select all" checkboxes.
//
// A form (or its submit button) with data-confirm asks that question with the browser's own
// dialog; yes sends the form with confirmed=yes, no sends nothing. Without this script the server
// asks on a page of its own (web/pages/actions.py), so every action is confirmed either way.
"use strict";

(() => {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (!question) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    let field = form.querySelector('input[name="confirmed"]');
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "confirmed";
      form.append(field);
    }
    field.value = "yes";
  });

  // <input type="checkbox" data-select-all="job_id">: ticks or unticks every checkbox named
  // job_id of its form (or of the form its `form` attribute names).
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll) return;
    const form = box.form;
    if (!form) return;
    for (const other of form.elements) {
      if (other instanceof HTMLInputElement && other.type === "checkbox"
          && other.name === box.dataset.selectAll && !other.disabled) {
        other.checked = box.checked;
      }
    }
  });
})();
