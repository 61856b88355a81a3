// A button's answer shows as a notice, as Telegram shows it under the chat's title.
document.addEventListener("nextup-inbox-notice", (event) => window.nextupToast(event.detail.value, "ok"));
