"use strict";
(function () {
  var messages = {
    failed: "Wrong e-mail or password, or not an administrator account.",
    locked: "Too many failed sign-ins from this address. Try again in 15 minutes."
  };
  var reason = new URLSearchParams(location.search);
  var message = document.getElementById("message");
  Object.keys(messages).forEach(function (key) {
    if (reason.has(key)) { message.textContent = messages[key]; message.hidden = false; }
  });
  document.getElementById("login").addEventListener("submit", function () {
    var email = document.getElementById("email").value.trim().toLowerCase();
    var password = document.getElementById("password");
    document.getElementById("email").value = email;
    document.getElementById("hash").value = BlynkHash.passwordHash(password.value, email);
    password.disabled = true;   // the plain password never leaves the browser
  });
  // Coming back with the Back button must not leave the field disabled.
  window.addEventListener("pageshow", function () { document.getElementById("password").disabled = false; });
})();
