// The department's page: the filters apply as they change, and the table refreshes itself when
// answers arrive (a light poll of a version number), keeping the filters of the address bar.
"use strict";

(function () {
  // The login link's page: spend the link at once (a messenger's link preview, which runs no
  // script, only loads the page and leaves the link unspent).
  const login = document.getElementById("login-form");
  if (login) {
    login.submit();
    return;
  }

  const filters = document.getElementById("filters");
  if (filters) {
    filters.addEventListener("change", function (event) {
      if (event.target && event.target.tagName === "SELECT") {
        filters.submit();
      }
    });
  }

  const live = document.getElementById("live");
  if (!live) {
    return;
  }
  let version = live.dataset.version;
  const every = Math.max(500, parseInt(live.dataset.poll, 10) || 10000);
  let busy = false;

  async function check() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    try {
      const answer = await fetch(live.dataset.versionUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (answer.status === 401 || answer.status === 403) {
        window.location.reload();
        return;
      }
      if (!answer.ok) {
        return;
      }
      const body = await answer.json();
      if (body.version === version) {
        return;
      }
      const table = await fetch(live.dataset.tableUrl + window.location.search, {
        credentials: "same-origin",
        cache: "no-store",
      });
      if (table.ok) {
        live.innerHTML = await table.text();
        version = body.version;
        live.dataset.version = version;
      }
    } catch (error) {
      // The bot is restarting or the network dropped: the next poll tries again.
    } finally {
      busy = false;
    }
  }

  window.setInterval(check, every);
})();
