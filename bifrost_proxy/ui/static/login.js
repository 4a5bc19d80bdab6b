// The login form says so when the last try failed (the gateway redirects back with ?failed=1).
"use strict";
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("login-failed").hidden = false;
}
