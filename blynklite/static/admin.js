"use strict";
(function () {
  var ROOT = location.pathname.replace(/\/+$/, "") || "/admin";
  var REFRESH_MS = 3000;
  var USERS_PER_PAGE = 100;
  var settings = {};
  var edited = {};          // settings keys changed in the form since the last load
  var editing = null;
  var userQuery = 0;        // answers to older searches are dropped
  var searchTimer = null;
  var SEARCH_DELAY_MS = 250;

  function $(id) { return document.getElementById(id); }

  function say(text, isError) {
    var status = $("status");
    status.textContent = text;
    status.className = isError ? "error" : "ok";
  }

  // Resolves to {data, headers}; a non-2xx answer rejects with the server's text.
  function request(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(ROOT + path, options).then(function (response) {
      // Lists answer 404 only when the session is gone: back to the sign-in page.
      if (response.status === 404 && method === "GET") { location.href = ROOT; }
      return response.text().then(function (text) {
        if (!response.ok) { throw new Error(text || ("HTTP " + response.status)); }
        return { data: text ? JSON.parse(text) : null, headers: response.headers };
      });
    });
  }

  function api(method, path, body) {
    return request(method, path, body).then(function (answer) { return answer.data; });
  }

  function when(ms) { return ms ? new Date(ms).toLocaleString() : ""; }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      if (cell instanceof Node) { td.appendChild(cell); } else { td.textContent = cell === undefined || cell === null ? "" : String(cell); }
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(tableId, rows) {
    var body = $(tableId).tBodies[0];
    body.replaceChildren.apply(body, rows);
  }

  // -- overview ------------------------------------------------------------------------------------
  function refreshOverview() {
    if (document.hidden) { return; }
    api("GET", "/stats/realtime").then(function (stats) {
      var s = stats[0];
      $("rate").textContent = s.oneMinRate;
      $("registrations").textContent = s.registrations;
      $("hards").textContent = s.totalOnlineHards;
      $("apps").textContent = s.totalOnlineApps;
      var commands = Object.keys(s.commands).sort(function (a, b) { return s.commands[b] - s.commands[a]; });
      fill("commands", commands.map(function (name) { return row([name, s.commands[name]]); }));
    }).catch(function (e) { say(e.message, true); });
    api("GET", "/stats/connections").then(function (rows) {
      fill("connections", rows.map(function (c) { return row([c.type, c.email, c.name, c.ip, when(c.since)]); }));
    }).catch(function (e) { say(e.message, true); });
  }

  // -- users ---------------------------------------------------------------------------------------
  function loadUsers() {
    var part = $("user-search").value.trim().toLowerCase();
    var query = "?_page=1&_perPage=" + USERS_PER_PAGE + "&_sortField=email&_sortDir=ASC";
    if (part) { query += "&_filters=" + encodeURIComponent(JSON.stringify({ name: part })); }
    var mine = ++userQuery;
    return request("GET", "/users" + query).then(function (answer) {
      if (mine !== userQuery) { return; }
      $("user-table").setAttribute("aria-busy", "false");
      var list = answer.data;
      var total = answer.headers.get("X-Total-Count") || list.length;
      $("user-count").textContent = list.length < total ? "Showing " + list.length + " of " + total + "; search to narrow." : total + " shown.";
      fill("user-table", list.map(function (u) {
        var edit = document.createElement("button");
        edit.type = "button";
        edit.textContent = "Edit";
        edit.addEventListener("click", function () { openUser(u); });
        var projects = ((u.profile || {}).dashBoards || []).length;
        var last = when(u.lastLoggedAt) || "never";
        return row([u.email, u.appName, projects, u.energy, last, edit]);
      }));
    }).catch(function (e) { say(e.message, true); });
  }

  function userId(u) { return encodeURIComponent(u.email + "-" + u.appName); }

  function openUser(u) {
    editing = u;
    $("user-title").textContent = u.email + " (" + u.appName + ")";
    $("user-name").value = u.name || "";
    $("user-energy").value = u.energy;
    $("user-admin").checked = !!u.isSuperAdmin;
    $("user-password").value = "";
    $("user-form").hidden = false;
  }

  function saveUser(event) {
    event.preventDefault();
    // Only the fields this form edits: a stale copy of the stored hash sent back as `pass` would be
    // taken for a new plain password.
    var changed = {
      name: $("user-name").value,
      energy: parseInt($("user-energy").value, 10) || 0,
      isSuperAdmin: $("user-admin").checked
    };
    if ($("user-password").value) { changed.pass = $("user-password").value; }
    api("PUT", "/users/" + userId(editing), changed).then(function (saved) {
      editing = saved;
      say("Saved " + saved.email + ".");
      $("user-form").hidden = true;
      loadUsers();
    }).catch(function (e) { say(e.message, true); });
  }

  function deleteUser() {
    if (!confirm("Delete " + editing.email + " and all its projects?")) { return; }
    api("DELETE", "/users/" + userId(editing)).then(function () {
      say("Deleted " + editing.email + ".");
      $("user-form").hidden = true;
      loadUsers();
    }).catch(function (e) { say(e.message, true); });
  }

  // -- settings ------------------------------------------------------------------------------------
  function parseProperties(text) {
    var values = {};
    text.split("\n").forEach(function (line) {
      var at = line.indexOf("=");   // keys are plain; values are escaped as in a .properties file
      if (at > 0) { values[line.slice(0, at)] = unescapeProperty(line.slice(at + 1)); }
    });
    return values;
  }

  function loadSettings() {
    return api("GET", "/config/server.properties").then(function (config) {
      settings = parseProperties(config.body);
      edited = {};
      showSettings();
    }).catch(function (e) { say(e.message, true); });
  }

  function unescapeProperty(text) {
    var named = { n: "\n", r: "\r", t: "\t", f: "\f" };
    return text.replace(/\\(.)/g, function (_, c) { return named[c] || c; });
  }

  function escapeProperty(text, isKey) {
    var escaped = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
    if (isKey) { return escaped.replace(/([=: #!])/g, "\\$1"); }
    return escaped.replace(/^([ \f])/, "\\$1");   // keep a leading space
  }

  function showSettings() {
    var filter = $("settings-filter").value.trim().toLowerCase();
    fill("settings-table", Object.keys(settings).filter(function (key) {
      return !filter || key.toLowerCase().indexOf(filter) >= 0;
    }).map(function (key) {
      var input = document.createElement("input");
      input.value = settings[key];
      input.name = key;
      input.setAttribute("aria-label", key);
      input.addEventListener("input", function () { settings[key] = input.value; edited[key] = true; });
      return row([key, input]);
    }));
  }

  function saveSettings(event) {
    event.preventDefault();
    // Only the edited keys, escaped as in a .properties file, so keys nobody touched stay as they are.
    var keys = Object.keys(edited);
    if (!keys.length) { say("Nothing to save: no setting was changed."); return; }
    var body = keys.map(function (key) { return escapeProperty(key, true) + "=" + escapeProperty(settings[key]); }).join("\n");
    api("PUT", "/config/server.properties", { name: "server.properties", body: body }).then(function (result) {
      $("settings-file").textContent = result.file;
      var text = result.changed.length ? "Saved: " + result.changed.join(", ") + "." : "Nothing changed.";
      if (result.warnings.length) { text += " " + result.warnings.join(" "); }
      say(text);
      loadSettings();
    }).catch(function (e) { say(e.message, true); });
  }

  // -- account -------------------------------------------------------------------------------------
  function changePassword(event) {
    event.preventDefault();
    api("POST", "/changePassword", { current: $("current-password").value, "new": $("new-password").value })
      .then(function () {
        say("The administrator password was changed.");
        $("password-form").reset();
      }).catch(function (e) { say(e.message, true); });
  }

  // -- firmware updates ---------------------------------------------------------------------------
  function showOtaScope() {
    var scope = $("ota-scope").value;
    Array.prototype.forEach.call(document.querySelectorAll("#ota-form [data-scope]"), function (label) {
      label.hidden = label.getAttribute("data-scope") !== scope;
    });
  }

  function otaRequest(method, path, body) {
    return fetch(ROOT + path, { method: method, credentials: "same-origin", body: body }).then(function (response) {
      return response.text().then(function (text) {
        if (!response.ok) { throw new Error(text || ("HTTP " + response.status)); }
        return text;
      });
    });
  }

  function startOta(event) {
    event.preventDefault();
    var scope = $("ota-scope").value;
    var query = new URLSearchParams();
    if (scope === "user") {
      query.set("user", $("ota-user").value.trim());
      query.set("appName", "Blynk");
      if ($("ota-project").value.trim()) { query.set("project", $("ota-project").value.trim()); }
    } else if (scope === "token") {
      query.set("token", $("ota-token").value.trim());
    }
    var form = new FormData();
    form.append("upfile", $("ota-file").files[0]);
    otaRequest("POST", "/ota/start" + (query.toString() ? "?" + query.toString() : ""), form).then(function (path) {
      $("ota-result").textContent = "Stored as " + path + (scope === "token" ? "; the device was told." : "; pending.");
      say("Firmware update started.");
    }).catch(function (e) { say(e.message, true); });
  }

  function stopOta() {
    otaRequest("GET", "/ota/stop").then(function () {
      $("ota-result").textContent = "";
      say("Pending firmware updates stopped.");
    }).catch(function (e) { say(e.message, true); });
  }

  // Search once typing pauses; the table is marked busy until the answer for the last text is shown.
  $("user-search").addEventListener("input", function () {
    $("user-table").setAttribute("aria-busy", "true");
    userQuery++;              // an answer still on its way is for older text
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadUsers, SEARCH_DELAY_MS);
  });
  $("user-form").addEventListener("submit", saveUser);
  $("user-delete").addEventListener("click", deleteUser);
  $("user-cancel").addEventListener("click", function () { $("user-form").hidden = true; });
  $("settings-filter").addEventListener("input", showSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("password-form").addEventListener("submit", changePassword);
  $("ota-scope").addEventListener("change", showOtaScope);
  $("ota-form").addEventListener("submit", startOta);
  $("ota-stop").addEventListener("click", stopOta);

  refreshOverview();
  loadUsers();
  loadSettings();
  setInterval(refreshOverview, REFRESH_MS);
})();
