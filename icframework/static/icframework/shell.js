// The app shell's behaviour: the colour theme (the system's, or the one the user picked, kept in localStorage) and toasts.
(function () {
  "use strict";
  const KEY = "icframework-theme";
  const root = document.documentElement;
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  const saved = stored();
  if (saved === "dark" || saved === "light") root.dataset.theme = saved;

  function theme() {
    return root.dataset.theme || (systemDark.matches ? "dark" : "light");
  }

  function toast(text, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "toast" + (kind ? " toast-" + kind : "");
    item.textContent = text;
    box.append(item);
    window.setTimeout(() => item.remove(), 5000);
  }
  window.icframeworkShell = { toast, theme };

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const sync = () => {
      const dark = theme() === "dark";
      button.setAttribute("aria-pressed", String(dark));
      button.title = dark ? "Switch to light mode" : "Switch to dark mode";
    };
    button.hidden = false;
    sync();
    systemDark.addEventListener("change", sync);
    button.addEventListener("click", () => {
      const next = theme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { window.localStorage.setItem(KEY, next); } catch (e) { /* private mode: this page only */ }
      sync();
    });
  });
})();
