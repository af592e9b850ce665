// englog: offer to switch the account's time zone to the browser's when their clocks
// differ. A file, not inline script, so the Content-Security-Policy stays strict.
// The offer is a form the server rendered hidden (see _macros.html zone_offer); this
// only fills in the browser's zone and shows it. "Keep" hides it for this tab.
(function () {
  "use strict";

  // Same clock: same UTC offset at a few instants over a year (aliases such as
  // Asia/Calcutta and Asia/Kolkata, or UTC and Etc/UTC, are then not "different").
  function sameClock(a, b) {
    if (a === b) return true;
    try {
      const fmt = (zone) =>
        new Intl.DateTimeFormat("en-US", {
          timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", hourCycle: "h23",
        });
      const fa = fmt(a), fb = fmt(b);
      const now = Date.now();
      for (let i = 0; i < 12; i++) {
        const when = new Date(now + i * 30.5 * 24 * 3600 * 1000);
        if (fa.format(when) !== fb.format(when)) return false;
      }
      return true;
    } catch (e) {
      return false; // a zone this browser does not know: let the server judge it
    }
  }

  function offer() {
    let browserZone = "";
    try {
      browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return;
    }
    document.querySelectorAll("form[data-account-zone]").forEach(function (form) {
      const account = form.dataset.accountZone;
      const kept = "englog-zone-kept:" + browserZone + ">" + account;
      if (!browserZone || sameClock(browserZone, account)) return;
      if (window.sessionStorage && sessionStorage.getItem(kept)) return;
      form.elements.timezone.value = browserZone;
      form.querySelectorAll("[data-browser-zone]").forEach(function (el) {
        el.textContent = browserZone;
      });
      form.hidden = false;
      const keep = form.querySelector("[data-keep]");
      if (keep) {
        keep.addEventListener("click", function () {
          if (window.sessionStorage) sessionStorage.setItem(kept, "1");
          form.hidden = true;
        });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", offer);
  } else {
    offer();
  }
})();
