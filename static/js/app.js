// Small progressive enhancements. Every page works without JavaScript for reading.
// Elements with data-dialog-url load that URL into the shared <dialog> (status logs, timelines, comment forms).
document.addEventListener("click", (event) => {
  const trigger = event.target.closest("[data-dialog-url]");
  if (!trigger) return;
  event.preventDefault();
  const dialog = document.getElementById("dialog");
  fetch(trigger.dataset.dialogUrl, { headers: { "HX-Request": "true" } })
    .then((r) => r.text())
    .then((html) => {
      document.getElementById("dialog-body").innerHTML = html;
      if (window.htmx) window.htmx.process(document.getElementById("dialog-body"));
      dialog.showModal();
    });
});
// Conditional form fields: <div data-show-when="field_name=value1,value2"> is shown only when the named input has
// one of those values (checkboxes: "on"/"off"). The server validates the same rules.
function applyConditions(form) {
  form.querySelectorAll("[data-show-when]").forEach((el) => {
    const [name, values] = el.dataset.showWhen.split("=");
    const wanted = values.split(",");
    const inputs = form.querySelectorAll(`[name="${name}"]`);
    let current = "";
    inputs.forEach((input) => {
      if (input.type === "checkbox") current = input.checked ? "on" : "off";
      else if (input.type === "radio") { if (input.checked) current = input.value; }
      else current = input.value;
    });
    const show = wanted.includes(current);
    el.hidden = !show;
    el.querySelectorAll("input, select, textarea").forEach((i) => { i.disabled = !show; });
  });
}
document.addEventListener("change", (event) => {
  const form = event.target.closest("form");
  if (form) applyConditions(form);
});
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("form").forEach(applyConditions));
document.addEventListener("htmx:afterSwap", (event) => {
  event.target.querySelectorAll("form").forEach(applyConditions);
});
