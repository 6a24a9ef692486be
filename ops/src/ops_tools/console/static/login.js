"use strict";
(function () {
  const params = new URLSearchParams(window.location.search);
  const box = document.getElementById("login-error");
  const error = params.get("error");
  if (error === "token") {
    box.textContent = "That token is not the operator token.";
  } else if (error === "throttled") {
    box.textContent = "Too many failed attempts: wait " + (params.get("wait") || "a few") +
      " seconds and try again.";
  }
  box.hidden = !error;
})();
