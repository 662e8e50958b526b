// Forewarn console: actions through the REST API (with the CSRF token),
// saved views, keyboard shortcuts and live updates. Hand-written, no build
// step, no dependencies; the pages work for reading without it.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function cookie(name) {
    const hit = document.cookie.split(";").map((c) => c.trim().split("=")).find(([k]) => k === name);
    return hit ? decodeURIComponent(hit.slice(1).join("=")) : "";
  }

  function say(text) {
    const live = $("#live");
    if (live) live.textContent = text;
  }

  function toLogin() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // One call of the API; throws an Error carrying the API's message.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("forewarn_csrf");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      toLogin();
      throw new Error("your session has ended: sign in again");
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      const err = new Error(message);
      err.status = response.status;
      throw err;
    }
    return data;
  }

  // The note dialog; resolves to the text, or null when cancelled.
  function ask(title, label, value) {
    const dialog = $("#prompt");
    if (!dialog || !dialog.showModal) {
      return Promise.resolve(window.prompt(label, value || ""));
    }
    $("#prompt-title").textContent = title;
    $("#prompt-label").textContent = label;
    const text = $("#prompt-text");
    text.value = value || "";
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? text.value.trim() : null),
        { once: true }
      );
      dialog.returnValue = "";
      dialog.showModal();
      text.focus();
    });
  }

  function selected(root) {
    return $$("input.select:checked", root || document).map((box) => box.value);
  }

  function untilSecs(input) {
    if (!input || !input.value) throw new Error("pick a date and time first");
    return Math.floor(new Date(input.value).getTime() / 1000);
  }

  async function each(ids, work) {
    let done = 0;
    const failures = [];
    for (const id of ids) {
      try {
        await work(id);
        done += 1;
      } catch (err) {
        failures.push(id + ": " + err.message);
      }
    }
    if (failures.length) throw new Error(done + " done; failed: " + failures.join("; "));
    return done;
  }

  const actions = {
    async logout() {
      // After single sign-on, the provider ends its session too and sends the browser back to /login.
      const out = await api("DELETE", "/api/v1/session");
      location.href = (out && out.end_session_url) || "/login";
    },
    async ack(el) {
      const note = await ask("Acknowledge", "Why? (for the next person)");
      if (note === null) return;
      await api("POST", "/api/v1/alerts/" + el.dataset.id + "/ack", { note });
      return "Acknowledged.";
    },
    async "silence-alert"(el) {
      await api("POST", "/api/v1/alerts/" + el.dataset.id + "/silence", {
        duration_secs: Number(el.dataset.secs),
        comment: "silenced from the console",
        whole_device: false,
      });
      return "Silenced.";
    },
    async "silence-device"(el) {
      await api("POST", "/ui/silences", {
        device_id: el.dataset.device,
        duration_secs: Number(el.dataset.secs),
        comment: "silenced from the console",
      });
      return "Device silenced.";
    },
    async "silence-device-until"(el) {
      const until = untilSecs($('input[data-until-for="' + el.dataset.device + '"]'));
      await api("POST", "/ui/silences", { device_id: el.dataset.device, until, comment: "silenced from the console" });
      return "Device silenced.";
    },
    async "silence-group"(el) {
      const form = el.closest("form");
      await api("POST", "/ui/silences", {
        group: form.group.value,
        duration_secs: Number(el.dataset.secs),
        comment: form.comment.value,
      });
      return "Group silenced.";
    },
    async "silence-group-until"(el) {
      const form = el.closest("form");
      await api("POST", "/ui/silences", { group: form.group.value, until: untilSecs(form.until), comment: form.comment.value });
      return "Group silenced.";
    },
    async "device-op"(el) {
      await api("POST", "/api/v1/devices/" + el.dataset.device + "/" + el.dataset.op);
      return "Done.";
    },
    async "end-silence"(el) {
      await api("DELETE", "/api/v1/silences/" + el.dataset.id);
      return "Silence ended.";
    },
    "select-all"(el) {
      const table = el.closest("table");
      $$("input.select", table).forEach((box) => (box.checked = el.checked));
    },
    async "bulk-ack"() {
      const ids = selected();
      if (!ids.length) throw new Error("select alerts first");
      const note = await ask("Acknowledge " + ids.length + " alert(s)", "Why? (for the next person)");
      if (note === null) return;
      const n = await each(ids, (id) => api("POST", "/api/v1/alerts/" + id + "/ack", { note }));
      return n + " acknowledged.";
    },
    async "bulk-silence"(el) {
      const ids = selected();
      if (!ids.length) throw new Error("select alerts first");
      const body = { duration_secs: Number(el.dataset.secs), comment: "silenced from the console", whole_device: false };
      const n = await each(ids, (id) => api("POST", "/api/v1/alerts/" + id + "/silence", body));
      return n + " silenced.";
    },
    async "bulk-silence-devices"(el) {
      const ids = selected();
      if (!ids.length) throw new Error("select devices first");
      const secs = Number(el.dataset.secs);
      const n = await each(ids, (id) =>
        api("POST", "/ui/silences", { device_id: id, duration_secs: secs, comment: "silenced from the console" })
      );
      return n + " device(s) silenced.";
    },
    async "bulk-device"(el) {
      const ids = selected();
      if (!ids.length) throw new Error("select devices first");
      const n = await each(ids, (id) => api("POST", "/api/v1/devices/" + id + "/" + el.dataset.op));
      return n + " device(s) changed.";
    },
    async "bulk-move"() {
      const ids = selected();
      if (!ids.length) throw new Error("select devices first");
      const group = await ask("Move " + ids.length + " device(s)", "To which group?");
      if (!group) return;
      const n = await each(ids, (id) => api("POST", "/api/v1/devices/" + id + "/move", { group }));
      return n + " device(s) moved.";
    },
    async "disable-user"(el) {
      await api("PATCH", "/api/v1/users/" + encodeURIComponent(el.dataset.user), { disabled: true });
      return "User disabled.";
    },
    async "test-connector"(el) {
      const name = el.dataset.name;
      connectorResults[name] = { ok: null, text: "Testing " + name + "…" };
      showConnectorResults();
      try {
        const result = await api("POST", "/api/v1/connectors/" + encodeURIComponent(name) + "/test");
        const text = result.ok ? "Ready: " + result.message + "." : "Not ready: " + result.problems.join("; ") + ". To fix: " + result.message + ".";
        connectorResults[name] = { ok: result.ok, text };
      } catch (err) {
        connectorResults[name] = { ok: false, text: "Could not test: " + err.message };
      }
      showConnectorResults();
    },
    async "revoke-token"(el) {
      await api("DELETE", "/api/v1/api-tokens/" + el.dataset.id);
      return "Token revoked.";
    },
    async "save-view"() {
      const name = await ask("Save this view", "Name of the view");
      if (!name) return;
      const views = savedViews();
      views.push({ name, query: location.search });
      localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
      showViews();
      return "View saved.";
    },
    "delete-view"(el) {
      const views = savedViews().filter((_, i) => i !== Number(el.dataset.index));
      localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
      showViews();
    },
  };

  // Saved views of the device list live in this browser, per user.
  const VIEWS_KEY = "forewarn.views.devices." + ((document.body && document.body.dataset.role) || "");
  function savedViews() {
    try {
      return JSON.parse(localStorage.getItem(VIEWS_KEY) || "[]");
    } catch (_) {
      return [];
    }
  }
  function showViews() {
    const holder = $("#saved-views [data-views]");
    if (!holder) return;
    holder.textContent = "";
    savedViews().forEach((view, index) => {
      const link = document.createElement("a");
      link.href = "/devices" + view.query;
      link.textContent = view.name;
      const del = document.createElement("button");
      del.type = "button";
      del.className = "link";
      del.dataset.action = "delete-view";
      del.dataset.index = String(index);
      del.setAttribute("aria-label", "Delete view " + view.name);
      del.textContent = "×";
      holder.append(link, del, " ");
    });
  }

  // Outcomes of "Send test", kept across live updates of the page.
  const connectorResults = {};
  function showConnectorResults() {
    $$("[data-connector-result]").forEach((cell) => {
      const result = connectorResults[cell.dataset.connectorResult];
      if (!result) return;
      cell.textContent = result.text;
      cell.dataset.ok = result.ok === null ? "" : String(result.ok);
    });
  }

  let busy = false;
  document.addEventListener("click", async (event) => {
    const el = event.target.closest("[data-action]");
    if (!el || busy) return;
    const action = actions[el.dataset.action];
    if (!action) return;
    if (el.tagName === "BUTTON") event.preventDefault();
    busy = true;
    try {
      const message = await action(el);
      if (message) {
        say(message);
        await refresh(true);
      }
    } catch (err) {
      say("Could not do that: " + err.message);
    } finally {
      busy = false;
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const result = $("[data-result]", form);
    const groups = (text) => text.split(",").map((g) => g.trim()).filter(Boolean);
    try {
      if (form.id === "login") {
        event.preventDefault();
        const error = $("#login-error");
        error.hidden = true;
        try {
          await api("POST", "/api/v1/session", { username: form.username.value, password: form.password.value });
          location.href = form.dataset.next || "/";
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
        }
      } else if (form.id === "add-user") {
        event.preventDefault();
        const created = await api("POST", "/api/v1/users", {
          username: form.username.value,
          role: form.role.value,
          groups: groups(form.groups.value),
        });
        result.textContent = "One-time password for " + created.user.username + ": " + created.password;
      } else if (form.id === "add-token") {
        event.preventDefault();
        const created = await api("POST", "/api/v1/api-tokens", {
          name: form.name.value,
          role: form.role.value,
          groups: groups(form.groups.value),
          expires_in_secs: Number(form.days.value) * 86400,
        });
        result.textContent = "Token (shown once): " + created.secret;
      } else if (form.id === "weekly-window") {
        event.preventDefault();
        const body = {
          group: form.group.value,
          weekly: {
            days: $$("input[name=days]:checked", form).map((box) => box.value),
            start: form.start.value,
            duration_minutes: Number(form.duration_minutes.value),
          },
          comment: form.comment.value,
        };
        // The series ends at the end of the chosen day, UTC.
        if (form.ends.value) body.ends_at = Math.floor(Date.parse(form.ends.value + "T23:59:59Z") / 1000);
        const created = await api("POST", "/api/v1/maintenance-windows", body);
        // Announce once the list shows the new rows, so "created" is what the reader sees.
        await refresh(true);
        say("Weekly window created: one silence for each of " + created.length + " day(s).");
      }
    } catch (err) {
      if (result) result.textContent = "Could not do that: " + err.message;
    }
  });

  // Keyboard: "/" jumps to the search box; g then o/d/a/s goes to a page.
  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      const search = $("[data-shortcut='/']");
      if (search) {
        event.preventDefault();
        search.focus();
      }
    } else if (pendingG) {
      pendingG = false;
      const target = { o: "/", d: "/devices", a: "/alerts", s: "/silences" }[event.key];
      if (target) location.href = target;
    } else if (event.key === "g") {
      pendingG = true;
      setTimeout(() => (pendingG = false), 1000);
    }
  });

  // Live updates: the server says "change"; the page fetches itself again
  // and swaps its content, unless someone is in the middle of something.
  let refreshes = 0;
  function interacting() {
    const dialog = $("#prompt");
    const active = document.activeElement;
    return (
      (dialog && dialog.open) ||
      $$("input.select:checked").length > 0 ||
      (active && active.closest && active.closest("main form"))
    );
  }
  async function refresh(force) {
    if (!force && interacting()) {
      say("New data is available.");
      const live = $("#live");
      if (live && !$("button", live)) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Show it";
        button.addEventListener("click", () => refresh(true));
        live.append(" ", button);
      }
      return;
    }
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (response.redirected && new URL(response.url).pathname === "/login") {
      location.href = response.url;
      return;
    }
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = $("#main", page);
    const main = $("#main");
    if (!fresh || !main) return;
    const y = window.scrollY;
    main.innerHTML = fresh.innerHTML;
    window.scrollTo(0, y);
    showViews();
    showConnectorResults();
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
  }

  function listen() {
    if (!window.EventSource || !$("#main") || $("#login")) return;
    const source = new EventSource("/events");
    let timer = null;
    source.addEventListener("change", () => {
      clearTimeout(timer);
      timer = setTimeout(() => refresh(false).catch(() => {}), 150);
    });
    source.addEventListener("error", async () => {
      // A stream refused for an ended session: go and sign in again.
      const check = await fetch("/api/v1/session", { credentials: "same-origin" }).catch(() => null);
      if (check && check.status === 401) {
        source.close();
        toLogin();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    showViews();
    listen();
  });
})();
