// The Print button (a script file, not an onclick attribute: the CSP refuses inline code).
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
