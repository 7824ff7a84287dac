// The discovery device picker (reference Table 9): search, All / Selected / Unselected / Favorites, select shown.
// Without JavaScript every device is listed with its checkbox, which is enough to choose.
(function () {
  function rows(picker) { return Array.from(picker.querySelectorAll("[data-device-row]")); }
  function checkbox(row) { return row.querySelector("input[type=checkbox][name=devices]"); }
  function apply(picker) {
    const text = (picker.querySelector("[data-picker-search]").value || "").trim().toLowerCase();
    const show = (picker.querySelector("[data-picker-show]:checked") || {}).value || "all";
    let selected = 0;
    rows(picker).forEach((row) => {
      const box = checkbox(row);
      if (box.checked) selected += 1;
      const star = row.querySelector("[data-favourite]");
      const favourite = star && star.dataset.favourite === "1";
      let visible = !text || row.dataset.search.includes(text);
      if (show === "selected") visible = visible && box.checked;
      if (show === "unselected") visible = visible && !box.checked;
      if (show === "favourites") visible = visible && favourite;
      row.hidden = !visible;
    });
    picker.querySelector("[data-picker-count]").textContent = selected;
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-testid=device-picker]").forEach((picker) => {
      picker.addEventListener("input", () => apply(picker));
      picker.addEventListener("change", () => apply(picker));
      picker.querySelectorAll("[data-picker-select]").forEach((button) => {
        button.addEventListener("click", () => {
          const all = button.dataset.pickerSelect === "visible";
          rows(picker).forEach((row) => {
            if (!all) checkbox(row).checked = false;
            else if (!row.hidden) checkbox(row).checked = true;
          });
          apply(picker);
        });
      });
      document.body.addEventListener("htmx:afterSwap", () => apply(picker));
      apply(picker);
    });
  });
})();
