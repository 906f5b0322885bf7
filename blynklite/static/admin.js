"use strict";
(function () {
  var ROOT = location.pathname.replace(/\/+$/, "") || "/admin";
  var REFRESH_MS = 3000;
  var users = [];
  var settings = {};
  var editing = null;

  function $(id) { return document.getElementById(id); }

  function say(text, isError) {
    var status = $("status");
    status.textContent = text;
    status.className = isError ? "error" : "ok";
  }

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(ROOT + path, options).then(function (response) {
      if (response.status === 404 && method === "GET") { location.href = ROOT; }
      return response.text().then(function (text) {
        if (!response.ok) { throw new Error(text || ("HTTP " + response.status)); }
        return text ? JSON.parse(text) : null;
      });
    });
  }

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
      fill("connections", rows.map(function (c) { return row([c.type, c.email, c.name, c.ip]); }));
    }).catch(function (e) { say(e.message, true); });
  }

  // -- users ---------------------------------------------------------------------------------------
  function loadUsers() {
    var part = $("user-search").value.trim().toLowerCase();
    var query = part ? "?_filters=" + encodeURIComponent(JSON.stringify({ name: part })) : "";
    return api("GET", "/users" + query).then(function (list) {
      users = list;
      fill("user-table", list.map(function (u) {
        var edit = document.createElement("button");
        edit.type = "button";
        edit.textContent = "Edit";
        edit.addEventListener("click", function () { openUser(u); });
        var projects = ((u.profile || {}).dashBoards || []).length;
        var last = u.lastLoggedAt ? new Date(u.lastLoggedAt).toLocaleString() : "never";
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
    var changed = Object.assign({}, editing, {
      name: $("user-name").value,
      energy: parseInt($("user-energy").value, 10) || 0,
      isSuperAdmin: $("user-admin").checked
    });
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
      var at = line.indexOf("=");
      if (at > 0) { values[line.slice(0, at)] = line.slice(at + 1); }
    });
    return values;
  }

  function loadSettings() {
    return api("GET", "/config/server.properties").then(function (config) {
      settings = parseProperties(config.body);
      showSettings();
    }).catch(function (e) { say(e.message, true); });
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
      input.addEventListener("change", function () { settings[key] = input.value; });
      return row([key, input]);
    }));
  }

  function saveSettings(event) {
    event.preventDefault();
    var body = Object.keys(settings).map(function (key) { return key + "=" + settings[key]; }).join("\n");
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

  $("user-search").addEventListener("input", loadUsers);
  $("user-form").addEventListener("submit", saveUser);
  $("user-delete").addEventListener("click", deleteUser);
  $("user-cancel").addEventListener("click", function () { $("user-form").hidden = true; });
  $("settings-filter").addEventListener("input", showSettings);
  $("settings-form").addEventListener("submit", saveSettings);
  $("password-form").addEventListener("submit", changePassword);

  refreshOverview();
  loadUsers();
  loadSettings();
  setInterval(refreshOverview, REFRESH_MS);
})();
